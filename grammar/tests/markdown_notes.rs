//! A lecture note in Markdown: the relations and four gradient derivations of a two-layer
//! perceptron, read into the DSL's syntax tree and checked.

use mlp_grammar::{
    check_markdown, line_column, parse, parse_and_check, read_markdown, BlockKind, Severity,
    Statement,
};

const NOTES: &str = include_str!("fixtures/two_layer_notes.md");

/// The note's relation block writes `b^{(1)}_j` where `b^{(1)}_i` is meant.
const SLIP: &str = "b^{(1)}_j\\end{align*}";
const FIXED: &str = "b^{(1)}_i\\end{align*}";

fn fixed_notes() -> String {
    assert_eq!(NOTES.matches(SLIP).count(), 1);
    NOTES.replace(SLIP, FIXED)
}

const EXPECTED_PROGRAM: &str = "\
dim n_yhat, n_h, n_x, n_b1
fn sigma
input x[n_x]
target y[n_yhat]
param W2[n_yhat, n_h], b2[n_yhat], W1[n_h, n_x], b1[n_b1]
loss L
L = sum_i (yhat[i] - y[i])^2
yhat[i] = sum_j W2[i, j] * h[j] + b2[i]
h[i] = sigma(a[i])
a[i] = sum_j W1[i, j] * x[j] + b1[j]
derive ∂L/∂W2[j, k]
  = sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂W2[j, k]
  = sum_i 2 * (yhat[i] - y[i]) * delta[i, j] * h[k]
  = 2 * (yhat[j] - y[j]) * h[k]
derive ∂L/∂b2[j]
  = sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂b2[j]
  = sum_i 2 * (yhat[i] - y[i]) * delta[i, j]
  = 2 * (yhat[j] - y[j])
derive ∂L/∂W1[j, k]
  = sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂W1[j, k]
  = sum_{i, l} ∂L/∂yhat[i] * ∂yhat[i]/∂h[l] * ∂h[l]/∂W1[j, k]
  = sum_{i, l} (2 * (yhat[i] - y[i])) * (W2[i, l]) * (sigma'(a[l])) * (delta[l, j] * x[k])
  = (sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * (sigma'(a[j])) * x[k]
derive ∂L/∂b1[j]
  = sum_{i, l} ∂L/∂yhat[i] * ∂yhat[i]/∂h[l] * ∂h[l]/∂b1[j]
  = sum_{i, l} 2 * (yhat[i] - y[i]) * W2[i, l] * (sigma'(a[l])) * delta[l, j]
  = (sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * (sigma'(a[j]))
";

#[test]
fn notes_read_into_expected_program() {
    let (document, diagnostics) = read_markdown(NOTES);
    assert_eq!(document.to_program().to_string(), EXPECTED_PROGRAM);
    assert!(
        diagnostics.iter().all(|d| d.severity == Severity::Warning),
        "{diagnostics:#?}"
    );
    assert_eq!(document.relations.len(), 4);
    assert_eq!(document.derivations.len(), 4);
}

#[test]
fn notes_block_kinds() {
    let (document, _) = read_markdown(NOTES);
    let kinds: Vec<BlockKind> = document.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BlockKind::Skipped,
            BlockKind::Skipped,
            BlockKind::Relations,
            BlockKind::Derivations,
            BlockKind::Derivations,
            BlockKind::Derivations,
        ]
    );
}

#[test]
fn notes_prose_blocks_skipped_with_warnings() {
    let (_, diagnostics) = read_markdown(NOTES);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    for (diagnostic, line) in diagnostics.iter().zip([7, 11]) {
        assert_eq!(diagnostic.code, "mlp::latex::skipped");
        assert_eq!(diagnostic.severity, Severity::Warning);
        assert_eq!(line_column(NOTES, diagnostic.span.start), (line, 1));
    }
}

#[test]
fn notes_slip_found_at_markdown_position() {
    let (model, diagnostics) = check_markdown(NOTES);
    assert!(model.is_none());
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{diagnostics:#?}");
    let slip = errors[0];
    assert_eq!(slip.code, "mlp::index::unbound");
    let expected_start = NOTES.find(SLIP).unwrap();
    assert_eq!(slip.span.start, expected_start);
    assert_eq!(&NOTES[slip.span.start..slip.span.end], "b^{(1)}_j");
    assert_eq!(line_column(NOTES, slip.span.start), (17, 151));
    let help = slip.help.as_deref().unwrap_or_default();
    assert!(help.contains("did you mean `b1[i]`?"), "{help}");
}

#[test]
fn fixed_notes_check_cleanly() {
    let notes = fixed_notes();
    let (model, diagnostics) = check_markdown(&notes);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let model = model.unwrap();
    assert_eq!(model.loss().name(), "L");
    assert_eq!(model.derivations.len(), 4);
    let params: Vec<&str> = model.params().map(|p| p.name.name.as_str()).collect();
    assert_eq!(params, ["W2", "b2", "W1", "b1"]);
    assert_eq!(
        model.tensor("y").map(|t| t.role),
        Some(mlp_grammar::TensorRole::Target)
    );
    assert_eq!(
        model.tensor("x").map(|t| t.role),
        Some(mlp_grammar::TensorRole::Input)
    );
    let functions: Vec<&str> = model.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(functions, ["sigma"]);
    let dims: Vec<&str> = model.dims.iter().map(|d| d.name.name.as_str()).collect();
    assert_eq!(dims, ["n_yhat", "n_h", "n_x"]);
}

#[test]
fn fixed_notes_free_index_ranges() {
    let notes = fixed_notes();
    let (model, _) = check_markdown(&notes);
    let model = model.unwrap();
    let w1 = &model.derivations[2];
    let free: Vec<(&str, String)> = w1
        .free_indices
        .iter()
        .map(|(index, dim)| (index.name.as_str(), dim.to_string()))
        .collect();
    assert_eq!(free, [("j", "n_h".to_string()), ("k", "n_x".to_string())]);
    // Every `\ell` of the W1 derivation ranges over the hidden size.
    let ell_ranges: Vec<String> = w1
        .index_ranges
        .iter()
        .filter(|(span, _)| &notes[span.start..span.end] == "\\ell")
        .map(|(_, dim)| dim.to_string())
        .collect();
    assert_eq!(ell_ranges.len(), 7);
    assert!(ell_ranges.iter().all(|dim| dim == "n_h"), "{ell_ranges:?}");
}

#[test]
fn wrong_step_reported_in_markdown() {
    // A transposed W2 in the last step of the W1 derivation indexes the hidden axis with `i`.
    let notes = fixed_notes().replace(
        "2(\\hat y_i - y_i)W^{(2)}_{ij}\\right)\\left(\\frac{\\partial \\sigma}{\\partial x} \\bigg",
        "2(\\hat y_i - y_i)W^{(2)}_{ji}\\right)\\left(\\frac{\\partial \\sigma}{\\partial x} \\bigg",
    );
    assert_ne!(notes, fixed_notes());
    let (_, diagnostics) = check_markdown(&notes);
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(!errors.is_empty());
    assert!(errors
        .iter()
        .all(|d| d.code == "mlp::index::range_mismatch"));
    let (line, _) = line_column(&notes, errors[0].span.start);
    assert_eq!(line, 45);
}

#[test]
fn notes_program_round_trips_through_dsl() {
    let notes = fixed_notes();
    let (document, _) = read_markdown(&notes);
    let rendered = document.to_program().to_string();
    let reparsed = parse(&rendered).unwrap();
    assert_eq!(reparsed.to_string(), rendered);
    let derivations = reparsed
        .statements
        .iter()
        .filter(|s| matches!(s, Statement::Derivation(_)))
        .count();
    assert_eq!(derivations, 4);
    let (model, diagnostics) = parse_and_check(&rendered);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(model.unwrap().derivations.len(), 4);
}

#[test]
fn truncated_notes_never_panic() {
    for end in (0..=NOTES.len()).filter(|&end| NOTES.is_char_boundary(end)) {
        let prefix = &NOTES[..end];
        let (_, diagnostics) = check_markdown(prefix);
        for diagnostic in diagnostics {
            assert!(diagnostic.span.end <= prefix.len(), "{diagnostic:?}");
        }
    }
}
