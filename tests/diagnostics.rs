//! Each semantic check, seen as a user sees it: the message, a caret under the span, and help.

fn diagnose(source: &str) -> String {
    let (model, diagnostics) = mlp::grammar::parse_and_check(source);
    assert!(
        !diagnostics.is_empty(),
        "expected a diagnostic for:\n{source}"
    );
    if diagnostics.iter().any(|d| d.is_error()) {
        assert!(model.is_none(), "a model with errors must not be returned");
    }
    mlp::diagnostics::render("model.mlp", source, &diagnostics, false)
}

const HEADER: &str = "dim I, N\ninput x[I]\nparam W1[N, I], b1[N]\n";

#[test]
fn bias_with_summed_index() {
    let source = format!("{HEADER}a[i] = sum_j W1[i, j] * x[j] + b1[j]\nL = sum_i a[i]^2\n");
    let rendered = diagnose(&source);
    assert!(rendered.contains("mlp::index::unbound"), "{rendered}");
    assert!(rendered.contains("did you mean `b1[i]`?"), "{rendered}");
    insta::assert_snapshot!(rendered);
}

#[test]
fn einstein_convention_needs_sum() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = W1[i, j] * x[j]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn terms_with_different_free_indices() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sum_j (W1[i, j] * x[j] + b1[i])\nL = sum_i a[i]\n"
    )));
}

#[test]
fn right_side_free_indices_differ_from_left() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[k] = sum_j W1[i, j] * x[j]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn index_range_disagreement() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sum_j W1[j, i] * x[j]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn undefined_name_with_suggestion() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sum_j W2[i, j] * x[j]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn duplicate_definition() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = b1[i]\na[i] = 2 * b1[i]\nL = sum_i a[i] * W1[i, i]\n"
    )));
}

#[test]
fn wrong_arity() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sum_j W1[i] * x[j, j]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn summed_index_also_free() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sum_i W1[i, i] * x[i]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn cyclic_relations() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = b1[i] * c[i]\nc[i] = a[i] + 1\nL = sum_i a[i] + sum_j W1[j, j] * x[j]\n"
    )));
}

#[test]
fn unknown_function() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sigmoid(sum_j W1[i, j] * x[j]) + b1[i]\nL = sum_i a[i]\n"
    )));
}

#[test]
fn unused_parameter_is_a_warning() {
    let source =
        format!("{HEADER}param W2[N, N]\na[i] = sum_j W1[i, j] * x[j] + b1[i]\nL = sum_i a[i]\n");
    let (model, diagnostics) = mlp::grammar::parse_and_check(&source);
    assert!(model.is_some(), "a warning must not reject the model");
    assert_eq!(diagnostics.len(), 1);
    assert!(!diagnostics[0].is_error());
    insta::assert_snapshot!(mlp::diagnostics::render(
        "model.mlp",
        &source,
        &diagnostics,
        false
    ));
}

#[test]
fn non_constant_exponent() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = b1[i] ^ b1[i]\nL = sum_i a[i] * W1[i, i] * x[i]\n"
    )));
}

#[test]
fn undefined_dimension() {
    insta::assert_snapshot!(diagnose("input x[K]\nL = sum_i x[i]\n"));
}

#[test]
fn loss_must_be_scalar() {
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = sum_j W1[i, j] * x[j] + b1[i]\nloss a\n"
    )));
}

#[test]
fn caret_after_multibyte_characters() {
    // `Σ` and `δ` are two bytes each in UTF-8; the caret must still land under `b1[j]`.
    insta::assert_snapshot!(diagnose(&format!(
        "{HEADER}a[i] = Σ_j W1[i, j] * x[j] * δ[i, i] + b1[j]\nL = Σ_i a[i]\n"
    )));
}

#[test]
fn syntax_error_names_what_was_expected() {
    insta::assert_snapshot!(diagnose("dim I\ninput x[I]\nL = sum_i x[i] *\n"));
}
