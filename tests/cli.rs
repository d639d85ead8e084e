//! The `mlp` binary on good and bad input: output, exit status, and no panics.

use std::path::PathBuf;
use std::process::{Command, Output};

fn mlp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlp"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn write_temp(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mlp-cli-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("temp file");
    path
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `mlp derive` on bad input and checks it fails cleanly with the given exit code.
fn assert_rejected(name: &str, contents: &[u8], code: i32, expected: &str) {
    let path = write_temp(name, contents);
    let output = mlp(&["derive", path.to_str().expect("utf-8 path")]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(code), "{name}: {message}");
    assert!(!message.contains("panicked"), "{name} panicked: {message}");
    assert!(
        message.contains(expected),
        "{name}: expected `{expected}` in:\n{message}"
    );
}

#[test]
fn derive_prints_every_gradient() {
    let output = mlp(&["derive", "examples/perceptron.mlp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 4);
    assert!(text.contains("∂L/∂W2[j,k] = 2 (yhat[j] − y[j]) h[k]"));
}

#[test]
fn derive_one_parameter() {
    let output = mlp(&[
        "derive",
        "examples/perceptron.mlp",
        "--wrt",
        "b2",
        "--format",
        "latex",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "\\frac{\\partial L}{\\partial b^{(2)}_{j}} = 2 \\left(\\hat{y}_{j} - y_{j}\\right)\n"
    );
}

#[test]
fn derive_unknown_parameter_lists_the_parameters() {
    let output = mlp(&["derive", "examples/perceptron.mlp", "--wrt", "W3"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("`W1`, `b1`, `W2`, `b2`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn derive_adjoints_and_steps() {
    let adjoints = mlp(&["derive", "examples/perceptron.mlp", "--adjoints"]);
    assert!(adjoints.status.success());
    assert!(stdout(&adjoints).contains("∂L/∂a[j] = ∂L/∂h[j] σ'(a[j])"));
    let steps = mlp(&["derive", "examples/perceptron.mlp", "--steps"]);
    assert!(steps.status.success());
    assert!(stdout(&steps).contains("delta-contraction"));
}

#[test]
fn check_accepts_the_example() {
    let output = mlp(&["check", "examples/perceptron.mlp"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("ok (4 relations, 4 parameters, loss `L`)"));
}

#[test]
fn check_reports_the_bias_slip() {
    let path = write_temp(
        "slip.mlp",
        b"dim I, N\ninput x[I]\nparam W1[N, I], b1[N]\na[i] = sum_j W1[i, j] * x[j] + b1[j]\nL = sum_i a[i]^2\n",
    );
    let output = mlp(&["check", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("slip.mlp:4:32"), "{message}");
    assert!(message.contains("did you mean `b1[i]`?"), "{message}");
}

#[test]
fn missing_file_exits_2() {
    let output = mlp(&["derive", "no/such/file.mlp"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read `no/such/file.mlp`"));
}

#[test]
fn empty_file_is_rejected() {
    assert_rejected("empty.mlp", b"", 1, "the file contains no statements");
    assert_rejected(
        "blank.mlp",
        b"\n\n   # only a comment\n",
        1,
        "the file contains no statements",
    );
}

#[test]
fn invalid_utf8_is_rejected() {
    assert_rejected(
        "latin1.mlp",
        b"dim I\ninput x[I]\nL = sum_i x[i] \xe9\n",
        2,
        "not valid UTF-8: invalid byte at line 3, column 16",
    );
}

#[test]
fn deep_parentheses_are_rejected() {
    let depth = 5000;
    let source = format!(
        "dim I\ninput x[I]\nL = sum_i {}x[i]{}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    assert_rejected("deep.mlp", source.as_bytes(), 1, "nested more than 64 deep");
}

#[test]
fn long_operator_chains_are_rejected() {
    let source = format!("dim I\ninput x[I]\nL = sum_i {}x[i]\n", "-".repeat(10_000));
    assert_rejected("minus.mlp", source.as_bytes(), 1, "operators are chained");
    let source = format!("input t\nL = t{}\n", "^2".repeat(10_000));
    assert_rejected("powers.mlp", source.as_bytes(), 1, "operators are chained");
    let source = format!("dim I\ninput x[I]\nL = {}x[i]\n", "sum_i ".repeat(10_000));
    assert_rejected("sums.mlp", source.as_bytes(), 1, "operators are chained");
}

#[test]
fn very_long_line_is_handled() {
    // 600 terms on one line: accepted, and the coefficients 0 + 1 + ... + 599 collect exactly.
    let terms: Vec<String> = (0..600).map(|k| format!("{k} * w[i] * x[i]")).collect();
    let source = format!(
        "dim I\ninput x[I]\nparam w[I]\nL = sum_i ({})\n",
        terms.join(" + ")
    );
    let path = write_temp("long.mlp", source.as_bytes());
    let output = mlp(&["derive", path.to_str().expect("utf-8 path")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "∂L/∂w[j] = 179700 x[j]\n");

    let comment = format!(
        "dim I\ninput x[I]\n# {}\nL = sum_i x[i]^2\n",
        "x".repeat(1_000_000)
    );
    let path = write_temp("comment.mlp", comment.as_bytes());
    assert!(mlp(&["check", path.to_str().expect("utf-8 path")])
        .status
        .success());
}

#[test]
fn too_many_operators_are_rejected() {
    let terms: Vec<String> = (0..25_000).map(|k| format!("{k} * x[i]")).collect();
    let source = format!("dim I\ninput x[I]\nL = sum_i ({})\n", terms.join(" + "));
    assert_rejected("huge.mlp", source.as_bytes(), 1, "more than 2000 operators");
}

#[test]
fn unknown_tokens_are_rejected() {
    assert_rejected(
        "token.mlp",
        b"dim I\ninput x[I]\nL = sum_i x[i] @ 2\n",
        1,
        "token.mlp:3:16",
    );
    assert_rejected("keyword.mlp", b"dim I\ninputs x[I]\n", 1, "expected");
}

#[test]
fn zero_division_is_rejected() {
    assert_rejected(
        "zero.mlp",
        b"input t\nL = t / (2 - 2)\n",
        1,
        "division by zero",
    );
}

#[test]
fn codegen_prints_model_impl() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/relu_net.mlp");
    let output = mlp(&["codegen", model, "--name", "ReluNet"]);
    let code = stdout(&output);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        code.contains("pub struct ReluNet<const I: usize, const N: usize, const O: usize>"),
        "{code}"
    );
    assert!(code.contains("::mlp_runtime::Model"), "{code}");
    assert!(code.contains("fn backward(&self"), "{code}");
}

#[test]
fn codegen_rejects_model_without_target() {
    let path = write_temp(
        "no_target.mlp",
        b"dim I\ninput x[I]\nparam w[I]\nL = sum_i w[i] * x[i]\n",
    );
    let output = mlp(&["codegen", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no target tensor"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn zero_divisors_are_rejected() {
    assert_rejected(
        "zero_power.mlp",
        b"param w\nL = 0^-1 * w\n",
        1,
        "zero raised to a negative power",
    );
    assert_rejected(
        "zero_base.mlp",
        b"param w\nL = (1 - 1)^-1 * w\n",
        1,
        "zero raised to a negative power",
    );
    assert_rejected(
        "symbolic_zero.mlp",
        b"param w\nL = 1 / (w - w)\n",
        1,
        "simplifies to 0",
    );
}

#[test]
fn byte_order_mark_is_accepted() {
    let path = write_temp("bom.mlp", b"\xef\xbb\xbfparam w\nL = w^2\n");
    let output = mlp(&["derive", path.to_str().expect("utf-8 path")]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "∂L/∂w = 2 w\n");
}

#[test]
fn repeated_index_and_loss_are_named() {
    assert_rejected(
        "twice.mlp",
        b"dim N\ninput x[N]\nL = sum_{i, i} x[i]\n",
        1,
        "appears twice in one sum",
    );
    assert_rejected(
        "losses.mlp",
        b"dim N\ninput x[N]\nparam w[N]\nL = sum_i w[i] * x[i]\nM = L^2\nloss L\nloss M\n",
        1,
        "the loss is named twice",
    );
}

#[test]
fn misspelled_keyword_gets_a_suggestion() {
    assert_rejected(
        "typo.mlp",
        b"dim N\nimput x[N]\n",
        1,
        "did you mean `input`?",
    );
}

#[test]
fn derive_points_markdown_to_check() {
    let output = mlp(&["derive", "tests/fixtures/two_layer_notes.md"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("run `mlp check tests/fixtures/two_layer_notes.md`"),
        "{}",
        stderr(&output)
    );
}
