//! `mlp check` on the lecture note: the slip in the relations is found at its Markdown position,
//! the suggested fix is applied, and every step of the four gradient derivations is equal under
//! the fixed model.

use std::process::Command;

use mlp::verdicts::{check_source, SourceKind};

const NOTES: &str = include_str!("fixtures/two_layer_notes.md");

#[test]
fn slip_found_at_markdown_line_and_column() {
    let report = check_source("notes.md", NOTES, SourceKind::Markdown);
    let errors: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].code, "mlp::index::unbound");
    assert_eq!((errors[0].line, errors[0].column), (17, 151));
    assert_eq!(report.fixes.len(), 1);
    let fix = &report.fixes[0];
    assert_eq!((fix.line, fix.column), (17, 151));
    assert_eq!((fix.from.as_str(), fix.to.as_str()), ("b1[j]", "b1[i]"));
}

#[test]
fn every_step_equal_under_the_fix() {
    let report = check_source("notes.md", NOTES, SourceKind::Markdown);
    let derivations: Vec<(&str, usize)> =
        ["∂L/∂W2[j, k]", "∂L/∂b2[j]", "∂L/∂W1[j, k]", "∂L/∂b1[j]"]
            .into_iter()
            .map(|of| (of, report.items.iter().filter(|i| i.of == of).count()))
            .collect();
    assert_eq!(
        derivations,
        [
            ("∂L/∂W2[j, k]", 3),
            ("∂L/∂b2[j]", 3),
            ("∂L/∂W1[j, k]", 4),
            ("∂L/∂b1[j]", 3)
        ]
    );
    assert_eq!(report.items.len(), 13);
    for item in &report.items {
        assert!(item.is_equal(), "{item:#?}");
    }
    // Equal steps under a fixed model are still not a clean file.
    assert!(!report.all_equal());
}

#[test]
fn a_dropped_derivative_factor_is_found_in_latex() {
    let last_b1_step = "&= \\left(\\sum_i 2(\\hat y_i - y_i)W^{(2)}_{ij}\\right)\\left(\\frac{\\partial \\sigma}{\\partial x}\\bigg\\vert_{x=a_j}\\right)";
    assert_eq!(NOTES.matches(last_b1_step).count(), 1);
    let notes = NOTES.replace(
        last_b1_step,
        "&= \\left(\\sum_i 2(\\hat y_i - y_i)W^{(2)}_{ij}\\right)",
    );
    let report = check_source("notes.md", &notes, SourceKind::Markdown);
    let wrong: Vec<_> = report.items.iter().filter(|i| !i.is_equal()).collect();
    assert_eq!(wrong.len(), 1, "{:#?}", report.items);
    assert_eq!((wrong[0].line, wrong[0].column), (48, 2));
    assert_eq!(wrong[0].of, "∂L/∂b1[j]");
    assert_eq!(wrong[0].step, Some(3));
    let slip = wrong[0].slip.as_ref().unwrap();
    assert_eq!(slip.kind, "missing-derivative-factor");
    assert_eq!(slip.description, "missing derivative factor σ'(a[j])");
}

#[test]
fn cli_says_it_applied_the_fix() {
    let output = Command::new(env!("CARGO_BIN_EXE_mlp"))
        .args(["check", "tests/fixtures/two_layer_notes.md"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("did you mean `b1[i]`?"), "{stderr}");
    assert!(
        stderr.contains("╭─[tests/fixtures/two_layer_notes.md:17:151]"),
        "{stderr}"
    );
    assert!(stdout.contains(
        "applied the suggested fix at tests/fixtures/two_layer_notes.md:17:151: `b1[j]` → `b1[i]`; every step below is checked under the fixed model"
    ));
    assert!(stdout.contains("13 equal, 0 not equal or unchecked; 1 fix(es) applied to the model"));
}

#[test]
fn notes_verdicts_snapshot() {
    let report = check_source("notes.md", NOTES, SourceKind::Markdown);
    insta::assert_snapshot!(report.render_verdicts());
}

#[test]
fn invalid_align_step_keeps_other_steps() {
    let notes = NOTES.replace(
        r"&= \sum_i 2(\hat y_i - y_i) \delta_{ij} h_k \\",
        r"&= \sum_i 2(\hat y_i - y_i) \delta_{ij} h_q \\",
    );
    let report = check_source("notes.md", &notes, SourceKind::Markdown);
    let steps: Vec<(Option<usize>, &str)> = report
        .items
        .iter()
        .filter(|item| item.of == "∂L/∂W2[j, k]")
        .map(|item| (item.step, item.verdict))
        .collect();
    assert_eq!(
        steps,
        [
            (Some(1), "canonical"),
            (Some(2), "unchecked"),
            (Some(3), "canonical")
        ]
    );
    assert_eq!(report.items.len(), 13);
}

#[test]
fn bracket_and_equation_display_math_read() {
    let notes = format!(
        "{NOTES}\n\\[ \\frac{{\\partial L}}{{\\partial b^{{(2)}}_{{j}}}} = 3(\\hat y_j - y_j) \\]\n\n\\begin{{equation}}\n\\frac{{\\partial L}}{{\\partial b^{{(2)}}_{{j}}}} = 2(\\hat y_j - y_j)\n\\end{{equation}}\n"
    );
    let report = check_source("notes.md", &notes, SourceKind::Markdown);
    assert_eq!(report.items.len(), 15, "{:#?}", report.items);
    let wrong = &report.items[13];
    assert_eq!(wrong.expression, "3 * (yhat[j] - y[j])");
    assert_eq!(wrong.verdict, "not-equal");
    let right = &report.items[14];
    assert_eq!(right.expression, "2 * (yhat[j] - y[j])");
    assert_eq!(right.verdict, "canonical");
}

#[test]
fn unclosed_bracket_display_math_reported() {
    let notes = format!("{NOTES}\n\\[ \\frac{{\\partial L}}{{\\partial b^{{(2)}}_{{j}}}} = 0\n");
    let report = check_source("notes.md", &notes, SourceKind::Markdown);
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.code == "mlp::markdown::unclosed_display"),
        "{:#?}",
        report.diagnostics
    );
}

#[test]
fn unreadable_step_keeps_other_steps() {
    let constructs = [r"\tanh^2(h_k)", r"\sigma^\prime(h_k)", r"\foo h_k"];
    for construct in constructs {
        let notes = NOTES.replace(
            r"&= \sum_i 2(\hat y_i - y_i) \delta_{ij} h_k \\",
            &format!(
                "&= \\sum_i 2(\\hat y_i - y_i) \\delta_{{ij}} h_k \\\\\n&= \\sum_i 2(\\hat y_i - y_i) \\delta_{{ij}} {construct} \\\\"
            ),
        );
        let report = check_source("notes.md", &notes, SourceKind::Markdown);
        let steps: Vec<(Option<usize>, &str)> = report
            .items
            .iter()
            .filter(|item| item.of == "∂L/∂W2[j, k]")
            .map(|item| (item.step, item.verdict))
            .collect();
        assert_eq!(
            steps,
            [
                (Some(1), "canonical"),
                (Some(2), "canonical"),
                (Some(3), "unchecked"),
                (Some(4), "canonical")
            ],
            "{construct}"
        );
        assert_eq!(report.items.len(), 14, "{construct}");
        let unread = report
            .items
            .iter()
            .find(|item| item.step == Some(3))
            .unwrap();
        assert!(
            unread.expression.contains(construct),
            "{}",
            unread.expression
        );
        assert!(unread.reason.is_some(), "{construct}");
        assert!(report
            .items
            .iter()
            .filter(|item| item.step != Some(3) || item.of != "∂L/∂W2[j, k]")
            .all(|item| item.is_equal()));
    }
}
