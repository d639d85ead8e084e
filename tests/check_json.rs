//! `mlp check --format json`: one object per claim and step, snapshotted.

use std::process::Command;

fn json(file: &str) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mlp"))
        .args(["check", "--format", "json", file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mlp");
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn chain_json_snapshot() {
    let (code, stdout) = json("tests/fixtures/chain.mlp");
    assert_eq!(code, Some(1));
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(value["items"].as_array().unwrap().len(), 7);
    insta::assert_snapshot!(stdout);
}

#[test]
fn notes_json_snapshot() {
    let (code, stdout) = json("tests/fixtures/two_layer_notes.md");
    assert_eq!(code, Some(1));
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let items = value["items"].as_array().unwrap();
    assert_eq!(items.len(), 13);
    assert!(items.iter().all(|item| item["verdict"] == "canonical"));
    assert_eq!(value["fixes"][0]["to"], "b1[i]");
    insta::assert_snapshot!(stdout);
}

#[test]
fn slips_json_snapshot() {
    let (code, stdout) = json("tests/fixtures/slips.mlp");
    assert_eq!(code, Some(1));
    let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let kinds: Vec<&str> = value["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["slip"]["kind"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(
        kinds,
        [
            "-",
            "-",
            "constant-factor",
            "sign",
            "swapped-indices",
            "transposed-tensor",
            "missing-derivative-factor",
            "missing-factor"
        ]
    );
    insta::assert_snapshot!(stdout);
}
