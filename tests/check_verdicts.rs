//! `mlp check` on DSL files: one verdict per claim and step, each kind of slip, exit status.

use std::process::Command;

use mlp::verdicts::{check_source, CheckReport, ItemReport, SourceKind};

const SLIPS: &str = include_str!("fixtures/slips.mlp");
const CHAIN: &str = include_str!("fixtures/chain.mlp");

fn report(source: &str) -> CheckReport {
    check_source("model.mlp", source, SourceKind::Dsl)
}

/// The claim or step written on `line`.
fn at_line(report: &CheckReport, line: usize) -> &ItemReport {
    report
        .items
        .iter()
        .find(|item| item.line == line)
        .unwrap_or_else(|| panic!("nothing checked on line {line}: {:#?}", report.items))
}

fn slip_kind(item: &ItemReport) -> Option<&'static str> {
    item.slip.as_ref().map(|slip| slip.kind)
}

#[test]
fn every_claim_gets_a_verdict() {
    let report = report(SLIPS);
    assert_eq!(report.items.len(), 8, "{:#?}", report.items);
    assert!(report.items.iter().all(|item| item.kind == "claim"));
    assert!(!report.all_equal());
}

#[test]
fn canonical_verdict() {
    let report = report(SLIPS);
    let item = at_line(&report, 12);
    assert_eq!(item.verdict, "canonical");
    assert_eq!(item.verdict_text(), "equal (canonical form)");
}

#[test]
fn numeric_verdict_when_no_normal_form_proves_it() {
    // The normal form cannot prove sin² + cos² = 1, but every random point satisfies it.
    let report = report(SLIPS);
    let item = at_line(&report, 13);
    assert_eq!(item.verdict, "numeric");
    assert_eq!(item.trials, Some(20));
    assert_eq!(item.verdict_text(), "equal (numeric, 20 trials)");
}

#[test]
fn missing_constant_factor() {
    let report = report(SLIPS);
    let item = at_line(&report, 14);
    assert_eq!(item.verdict, "not-equal");
    assert_eq!(slip_kind(item), Some("constant-factor"));
    let description = &item.slip.as_ref().unwrap().description;
    assert!(description.starts_with("missing factor 2"), "{description}");
    let counterexample = item.counterexample.as_ref().unwrap();
    assert!((counterexample.expected - 2.0 * counterexample.claimed).abs() < 1e-4);
    assert!(counterexample.tensors.contains_key("yhat"));
    assert!(counterexample.tensors.contains_key("y"));
}

#[test]
fn sign_slip() {
    let report = report(SLIPS);
    let item = at_line(&report, 15);
    assert_eq!(slip_kind(item), Some("sign"));
    let counterexample = item.counterexample.as_ref().unwrap();
    assert!((counterexample.expected + counterexample.claimed).abs() < 1e-4);
}

#[test]
fn swapped_free_indices() {
    let report = report(SLIPS);
    let item = at_line(&report, 16);
    assert_eq!(slip_kind(item), Some("swapped-indices"));
    assert_eq!(
        item.slip.as_ref().unwrap().description,
        "indices `j` and `k` swapped"
    );
    // Swapped indices differ only where they take different values.
    let indices = &item.counterexample.as_ref().unwrap().indices;
    assert_ne!(indices["j"], indices["k"]);
}

#[test]
fn transposed_tensor() {
    let report = report(SLIPS);
    let item = at_line(&report, 17);
    assert_eq!(slip_kind(item), Some("transposed-tensor"));
    assert!(item
        .slip
        .as_ref()
        .unwrap()
        .description
        .starts_with("`V` transposed"));
}

#[test]
fn missing_derivative_factor() {
    let report = report(SLIPS);
    let item = at_line(&report, 18);
    assert_eq!(slip_kind(item), Some("missing-derivative-factor"));
    let description = &item.slip.as_ref().unwrap().description;
    assert!(description.contains("σ'("), "{description}");
    // The counterexample names the stand-in used for the abstract function.
    assert!(item
        .counterexample
        .as_ref()
        .unwrap()
        .functions
        .contains_key("sigma"));
}

#[test]
fn missing_free_index_is_missing_factor() {
    // The claim leaves out `k`, so it is broadcast over `k` and lacks the factor `h[k]`.
    let report = report(SLIPS);
    let item = at_line(&report, 19);
    assert_eq!(item.verdict, "not-equal");
    assert_eq!(slip_kind(item), Some("missing-factor"));
    let description = &item.slip.as_ref().unwrap().description;
    assert_eq!(description, "missing factor h[k]");
    assert!(item.counterexample.is_some());
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
}

#[test]
fn one_slip_in_a_chain_is_reported_once() {
    let report = report(CHAIN);
    let verdicts: Vec<(usize, Option<usize>, &str)> = report
        .items
        .iter()
        .map(|item| (item.line, item.step, item.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            (13, None, "canonical"),
            (16, Some(1), "canonical"),
            (17, Some(2), "not-equal"),
            // Compared with step 2 as written, which already lacks the 2.
            (18, Some(3), "canonical"),
            (21, Some(1), "canonical"),
            (22, Some(2), "canonical"),
            (23, Some(3), "canonical"),
        ]
    );
    assert_eq!(slip_kind(at_line(&report, 17)), Some("constant-factor"));
    assert_eq!(report.items[2].column, 3);
}

#[test]
fn correct_chain_is_all_equal() {
    let fixed = CHAIN
        .replace(
            "sum_i (yhat[i] - y[i]) * delta",
            "sum_i 2 * (yhat[i] - y[i]) * delta",
        )
        .replace("= (yhat[j] - y[j]) * h[k]", "= 2 * (yhat[j] - y[j]) * h[k]");
    let report = report(&fixed);
    assert!(report.all_equal(), "{:#?}", report.items);
}

fn mlp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mlp"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mlp")
}

#[test]
fn cli_slip_exits_1() {
    let output = mlp(&["check", "tests/fixtures/chain.mlp"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("derive ∂L/∂W2[j, k]\n"), "{stdout}");
    assert!(
        stdout.contains("  16:3     step 1  equal (canonical form)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  17:3     step 2  NOT EQUAL: likely slip: missing factor 2"),
        "{stdout}"
    );
    assert!(stdout.contains("; counterexample: sizes "), "{stdout}");
}

#[test]
fn cli_all_equal_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.mlp");
    std::fs::write(
        &path,
        "dim I\ninput x[I]\nparam w[I]\nL = sum_i w[i] * x[i]\nderive ∂L/∂w[k]\n  = sum_i delta[i, k] * x[i]\n  = x[k]\n",
    )
    .unwrap();
    let output = mlp(&["check", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.ends_with(
            ": ok (1 relations, 1 parameters, loss `L`): 2 equal, 0 not equal or unchecked\n"
        ),
        "{stdout}"
    );
}

#[test]
fn cli_unreadable_exits_2() {
    let output = mlp(&["check", "tests/fixtures/no_such_file.mlp"]);
    assert_eq!(output.status.code(), Some(2));
}

/// A model of one bias with a squared error, and a claim of `∂L/∂b[j]` written as `claimed`.
fn bias_claim(claimed: &str) -> String {
    format!(
        "dim N\nparam b[N]\ninput y[N]\nL = sum_i (b[i] - y[i])^2\nclaim ∂L/∂b[j] = {claimed}\n"
    )
}

#[test]
fn infinite_claim_is_not_equal() {
    let claims = [
        "exp(1000) * (b[j] - y[j])",
        "10^400 * (b[j] - y[j])",
        "2^1000000 * (b[j] - y[j])",
        "2 * (b[j] - y[j]) + log(0)",
    ];
    for claimed in claims {
        let report = report(&bias_claim(claimed));
        let item = at_line(&report, 5);
        assert_eq!(item.verdict, "not-equal", "{claimed}: {item:#?}");
        assert_eq!(slip_kind(item), Some("not-finite"), "{claimed}");
        let counterexample = item.counterexample.as_ref().unwrap();
        assert!(counterexample.expected.is_finite(), "{claimed}");
        assert!(!counterexample.claimed.is_finite(), "{claimed}");
    }
}

#[test]
fn tiny_constant_term_is_not_equal() {
    let report = report(&bias_claim("2 * (b[j] - y[j]) + 0.0000000001"));
    let item = at_line(&report, 5);
    assert_eq!(item.verdict, "not-equal", "{item:#?}");
    assert_eq!(slip_kind(item), Some("constant-term"));
    let description = &item.slip.as_ref().unwrap().description;
    assert!(description.contains("1/10000000000"), "{description}");
    assert!(item.counterexample.is_some());
}

#[test]
fn nan_claim_is_not_equal() {
    // `log(-1)` is NaN, so the claimed side is NaN at every point where the gradient is finite.
    let report = report(&bias_claim("2 * (b[j] - y[j]) + log(-1) * b[j]"));
    let item = at_line(&report, 5);
    assert_eq!(item.verdict, "not-equal", "{item:#?}");
    assert_eq!(slip_kind(item), Some("not-finite"));
}

#[test]
fn nan_on_both_sides_is_unchecked() {
    // The gradient `log(-1)` is NaN everywhere, so the points give no evidence either way.
    let source =
        "dim N\nparam b[N]\nL = sum_i log(-1) * b[i]\nclaim ∂L/∂b[j] = log(-2) + b[j] - b[j]\n";
    let report = report(source);
    let item = at_line(&report, 4);
    assert_eq!(item.verdict, "unchecked", "{item:#?}");
    let reason = item.reason.as_deref().unwrap();
    assert!(reason.contains("NaN at every random point"), "{reason}");
}

#[test]
fn constant_claim_is_broadcast() {
    let source = "dim N\nparam b[N]\nL = sum_i b[i]\nclaim ∂L/∂b[j] = 1\nderive ∂L/∂b[j]\n  = sum_i delta[i, j]\n  = 1\n";
    let report = report(source);
    assert_eq!(report.items.len(), 3, "{:#?}", report.items);
    for item in &report.items {
        assert!(item.is_equal(), "{item:#?}");
    }
}

#[test]
fn term_with_some_free_indices_is_broadcast() {
    // `x[k]` is the same for every `j`, and `delta[j, k]` carries both indices.
    let source = "dim N\ninput x[N]\nparam W[N, N]\nL = sum_{j, k} W[j, k] * x[k] * (1 + sum_i x[i]) + sum_{j, k} W[j, k] * delta[j, k] * (1 + sum_i x[i])\nclaim ∂L/∂W[j, k] = (1 + sum_i x[i]) * x[k] + (1 + sum_i x[i]) * delta[j, k]\n";
    let report = report(source);
    let item = at_line(&report, 5);
    assert!(item.is_equal(), "{item:#?}");
}

#[test]
fn broadcast_claim_can_be_not_equal() {
    // Leaving out `k` is allowed, so the missing factor is found by the numeric test.
    let source =
        "dim N\ninput x[N]\nparam W[N, N]\nL = sum_{j, k} W[j, k] * x[k]\nclaim ∂L/∂W[j, k] = 1\n";
    let report = report(source);
    let item = at_line(&report, 5);
    assert_eq!(item.verdict, "not-equal", "{item:#?}");
    assert!(item.counterexample.is_some());
}

/// The two-layer perceptron of `chain.mlp`, without its claims and derivations.
const PERCEPTRON: &str = "\
dim I, N, O
input  x[I]
target y[O]
param  W1[N, I], b1[N], W2[O, N], b2[O]
fn sigma
a[i]    = sum_j W1[i, j] * x[j] + b1[i]
h[i]    = sigma(a[i])
yhat[i] = sum_j W2[i, j] * h[j] + b2[i]
L       = sum_i (yhat[i] - y[i])^2
";

/// A derivation of `∂L/∂W1[j, k]` on lines 10 to 15, with `third` as its third step.
fn w1_chain(third: &str) -> String {
    format!(
        "{PERCEPTRON}derive ∂L/∂W1[j, k]
  = sum_{{i, l}} ∂L/∂yhat[i] * ∂yhat[i]/∂h[l] * ∂h[l]/∂W1[j, k]
  = sum_{{i, l}} 2 * (yhat[i] - y[i]) * W2[i, l] * sigma'(a[l]) * delta[l, j] * x[k]
  = {third}
  = (sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * sigma'(a[j]) * x[k]
  = sum_i 2 * (yhat[i] - y[i]) * W2[i, j] * sigma'(a[j]) * x[k]
"
    )
}

fn step_verdicts(report: &CheckReport) -> Vec<(Option<usize>, &'static str)> {
    report
        .items
        .iter()
        .map(|item| (item.step, item.verdict))
        .collect()
}

#[test]
fn invalid_step_keeps_other_steps() {
    let thirds = [
        // `q` is not bound.
        "(sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * sigma'(a[j]) * W1[q, q]",
        // `j` ranges over the hidden size, but `x` has the input size.
        "(sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * sigma'(a[j]) * x[j]",
    ];
    for third in thirds {
        let report = report(&w1_chain(third));
        assert_eq!(
            step_verdicts(&report),
            [
                (Some(1), "canonical"),
                (Some(2), "canonical"),
                (Some(3), "unchecked"),
                (Some(4), "canonical"),
                (Some(5), "canonical"),
            ],
            "{third}"
        );
        let reason = report.items[2].reason.as_deref().unwrap();
        assert!(reason.contains("index"), "{reason}");
    }
}

#[test]
fn invalid_step_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.mlp");
    std::fs::write(
        &path,
        w1_chain("(sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * sigma'(a[j]) * W1[q, q]"),
    )
    .unwrap();
    let output = mlp(&["check", "--format", "json", path.to_str().unwrap()]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let items = value["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[2]["verdict"], "unchecked");
    assert_eq!(items[4]["verdict"], "canonical");
    let output = mlp(&["check", path.to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("step 5  equal (canonical form)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(": 4 equal, 1 not equal or unchecked"),
        "{stdout}"
    );
    let page = dir.path().join("chain.html");
    mlp(&[
        "check",
        "--report",
        page.to_str().unwrap(),
        path.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    for step in 1..=5 {
        assert!(
            html.contains(&format!("<br>step {step}</td>")),
            "step {step}: {html}"
        );
    }
    assert!(html.contains("index `q` is neither a free index"), "{html}");
}

#[test]
fn uncheckable_claims_are_unchecked() {
    let claims = [
        ("claim ∂L/∂x[j] = 0\n", "cannot differentiate by `x`"),
        (
            "claim ∂L/∂W1[j] = 0\n",
            "`W1` has 2 axes but is used with 1",
        ),
        (
            "claim ∂L/∂W2[j,k] = 2 * (yhat[j] - y[j]) * y[k]\n",
            "ranges over",
        ),
    ];
    for (claim, expected) in claims {
        let report = report(&format!("{PERCEPTRON}{claim}"));
        let item = at_line(&report, 10);
        assert_eq!(item.verdict, "unchecked", "{claim}");
        assert!(item.slip.is_none(), "{claim}");
        let reason = item.reason.as_deref().unwrap();
        assert!(reason.contains(expected), "{claim}: {reason}");
    }
}

#[test]
fn model_errors_list_every_item() {
    // `zz` is undefined, so there is no model to check the claim and the steps against.
    let source = PERCEPTRON.replace("+ b2[i]", "+ zz[i]")
        + "claim ∂L/∂b2[j] = 2 * (yhat[j] - y[j])\nderive ∂L/∂b2[j]\n  = ∂L/∂yhat[j]\n  = 2 * (yhat[j] - y[j])\n";
    let report = report(&source);
    assert!(report.model_errors);
    assert_eq!(
        step_verdicts(&report),
        [
            (None, "unchecked"),
            (Some(1), "unchecked"),
            (Some(2), "unchecked")
        ]
    );
    for item in &report.items {
        assert_eq!(item.reason.as_deref(), Some("the model has errors"));
    }
}

#[test]
fn summary_says_checked_on_failure() {
    let output = mlp(&["check", "tests/fixtures/chain.mlp"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains(": ok ("), "{stdout}");
    assert!(
        stdout.contains("tests/fixtures/chain.mlp: checked (4 relations"),
        "{stdout}"
    );
}

#[test]
fn zero_to_negative_power_claim_is_unchecked() {
    // The semantic checks reject `0^-1` as a division by zero, so the claim gets no verdict.
    let report = report(&bias_claim("2 * (b[j] - y[j]) + 0^-1"));
    let item = at_line(&report, 5);
    assert_eq!(item.verdict, "unchecked", "{item:#?}");
    let reason = item.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("zero raised to a negative power"),
        "{reason}"
    );
}
