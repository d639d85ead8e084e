//! `mlp check --report`: the HTML page is self-contained and renders in headless Chromium.
//!
//! The browser test fails when `chromium` is missing; set `MLP_SKIP_BROWSER_TESTS=1` to skip it
//! on a machine without one.

use std::path::Path;
use std::process::Command;

fn write_report(dir: &Path, fixture: &str) -> std::path::PathBuf {
    let report = dir.join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_mlp"))
        .args(["check", fixture, "--report"])
        .arg(&report)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mlp");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    report
}

#[test]
fn report_is_self_contained_mathml() {
    let dir = tempfile::tempdir().unwrap();
    let html =
        std::fs::read_to_string(write_report(dir.path(), "tests/fixtures/chain.mlp")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<math xmlns=\"http://www.w3.org/1998/Math/MathML\" display=\"block\">"));
    assert!(html.contains("<munder><mo>∑</mo>"));
    assert!(html.contains("<mfrac><mrow><mo>∂</mo><mi>L</mi></mrow>"));
    assert!(html.contains("equal (canonical form)"));
    assert!(html.contains("NOT EQUAL"));
    assert!(html.contains("likely slip: missing factor 2"));
    for forbidden in [
        "<script",
        "http://www.w3.org/1999",
        "https://",
        "src=",
        "@import",
    ] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
    // The MathML namespace is an identifier, not a resource: the only `http` in the page.
    assert_eq!(
        html.matches("http").count(),
        html.matches("<math xmlns").count()
    );
}

#[test]
fn report_renders_in_headless_chromium() {
    if std::env::var_os("MLP_SKIP_BROWSER_TESTS").is_some_and(|v| v == "1") {
        eprintln!("skipped: MLP_SKIP_BROWSER_TESTS=1");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let report = write_report(dir.path(), "tests/fixtures/two_layer_notes.md");
    let screenshot = dir.path().join("report.png");
    let profile = dir.path().join("profile");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1200,1600")
        .arg(format!("file://{}", report.display()))
        .output()
        .expect("chromium is needed for this test; install it, or set MLP_SKIP_BROWSER_TESTS=1");
    assert!(output.status.success(), "{output:?}");
    let png = std::fs::read(&screenshot).expect("chromium wrote no screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1200×1600 page compresses to a few kilobytes; text and math take far more.
    assert!(png.len() > 30_000, "screenshot is {} bytes", png.len());
    if let Ok(keep) = std::env::var("MLP_KEEP_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }
}
