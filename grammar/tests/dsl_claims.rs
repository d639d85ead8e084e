//! Claims and derivations in the DSL: parsing, rendering and the semantic checks against the
//! model.

use mlp_grammar::{parse, parse_and_check, parse_expr, Dim, ExprKind, Statement};

const MODEL: &str = "\
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

const W2_DERIVATION: &str = "\
derive ∂L/∂W2[j,k]
  = sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂W2[j,k]
  = 2 * sum_i (yhat[i] - y[i]) * ∂yhat[i]/∂W2[j,k]
  # the delta picks i = j
  = 2 * sum_i (yhat[i] - y[i]) * delta[i,j] * h[k]

  = 2 * (yhat[j] - y[j]) * h[k]
";

fn with_model(extra: &str) -> String {
    format!("{MODEL}{extra}")
}

fn error_codes(source: &str) -> Vec<&'static str> {
    let (_, diagnostics) = parse_and_check(source);
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect()
}

#[test]
fn claim_parses_and_renders() {
    let program = parse("claim ∂L/∂W2[j,k] = 2 * (yhat[j] - y[j]) * h[k]\n").unwrap();
    assert_eq!(program.statements.len(), 1);
    let Statement::Claim(claim) = &program.statements[0] else {
        panic!("expected a claim, got {:?}", program.statements[0]);
    };
    assert!(matches!(claim.lhs.kind, ExprKind::Partial { .. }));
    assert_eq!(
        program.to_string(),
        "claim ∂L/∂W2[j, k] = 2 * (yhat[j] - y[j]) * h[k]\n"
    );
}

#[test]
fn derivation_collects_continuation_lines() {
    let program = parse(W2_DERIVATION).unwrap();
    assert_eq!(program.statements.len(), 1);
    let Statement::Derivation(derivation) = &program.statements[0] else {
        panic!("expected a derivation");
    };
    assert_eq!(derivation.steps.len(), 4);
    assert_eq!(derivation.start.to_string(), "∂L/∂W2[j, k]");
    assert_eq!(
        derivation.steps[0].expr.to_string(),
        "sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂W2[j, k]"
    );
    assert_eq!(
        derivation.steps[3].expr.to_string(),
        "2 * (yhat[j] - y[j]) * h[k]"
    );
    // A step's span runs from its `=` to the end of its expression.
    let last = &W2_DERIVATION[derivation.steps[3].span.start..derivation.steps[3].span.end];
    assert_eq!(last, "= 2 * (yhat[j] - y[j]) * h[k]");
}

#[test]
fn derivation_step_on_start_line() {
    let program = parse("derive ∂L/∂b2[j] = ∂L/∂yhat[j]\n  = 2 * (yhat[j] - y[j])\n").unwrap();
    let Statement::Derivation(derivation) = &program.statements[0] else {
        panic!("expected a derivation");
    };
    assert_eq!(derivation.steps.len(), 2);
}

#[test]
fn derivation_followed_by_statement() {
    let program = parse("derive ∂L/∂b2[j]\n  = 2 * (yhat[j] - y[j])\nloss L\n").unwrap();
    assert_eq!(program.statements.len(), 2);
    assert!(matches!(program.statements[1], Statement::Loss(_)));
}

#[test]
fn partial_spellings_agree() {
    for source in [
        "∂L/∂W2[j,k]",
        "∂(L)/∂(W2[j, k])",
        "d(L)/d(W2[j,k])",
        "d( L ) / d( W2[j, k] )",
    ] {
        let expr = parse_expr(source).unwrap();
        assert!(
            matches!(expr.kind, ExprKind::Partial { .. }),
            "{source} is not a partial derivative: {expr:?}"
        );
        assert_eq!(expr.to_string(), "∂L/∂W2[j, k]", "{source}");
    }
}

#[test]
fn partial_spans_cover_operands() {
    let source = "∂yhat[i]/∂W2[j, k]";
    let expr = parse_expr(source).unwrap();
    let ExprKind::Partial { of, wrt } = &expr.kind else {
        panic!("expected a partial derivative");
    };
    assert_eq!(&source[of.span.start..of.span.end], "yhat[i]");
    assert_eq!(&source[wrt.span.start..wrt.span.end], "W2[j, k]");
    assert_eq!(
        &source[wrt.indices[1].span.start..wrt.indices[1].span.end],
        "k"
    );
}

#[test]
fn partial_in_product_binds_tightly() {
    let expr = parse_expr("∂L/∂yhat[i] * ∂yhat[i]/∂W2[j,k]").unwrap();
    let ExprKind::Binary { lhs, rhs, .. } = &expr.kind else {
        panic!("expected a product, got {expr:?}");
    };
    assert!(matches!(lhs.kind, ExprKind::Partial { .. }));
    assert!(matches!(rhs.kind, ExprKind::Partial { .. }));
}

#[test]
fn ascii_without_parentheses_is_a_quotient() {
    // `dL/dW2[j,k]` reads as the tensors `dL` and `dW2`, as documented in the grammar.
    let expr = parse_expr("dL/dW2[j,k]").unwrap();
    assert!(matches!(expr.kind, ExprKind::Binary { .. }));
}

#[test]
fn malformed_claims_are_rejected() {
    for source in [
        "derive ∂L/∂W2[j,k]\n",
        "derive ∂L/∂W2[j,k]\n\nL = 1\n",
        "claim ∂L/∂W2[j,k]\n",
        "claim ∂L/∂W2[j,k] = \n",
        "claim ∂L/ = 1\n",
        "claim ∂L/∂ = 1\n",
        "claim ∂L/∂(W2[j,k] = 1\n",
        "derive ∂L/∂b2[j]\n  = 1\n  + 2\n",
    ] {
        assert!(parse(source).is_err(), "accepted {source:?}");
    }
}

#[test]
fn keywords_remain_relation_names() {
    let program = parse("claim = 1\nderive[i] = x[i]\n").unwrap();
    assert!(matches!(program.statements[0], Statement::Relation(_)));
    assert!(matches!(program.statements[1], Statement::Relation(_)));
}

#[test]
fn checked_model_keeps_claims() {
    let source = with_model(&format!(
        "claim ∂L/∂W2[j,k] = 2 * (yhat[j] - y[j]) * h[k]\n{W2_DERIVATION}\
         derive ∂L/∂W1[j,k]\n  = sum_{{i, l}} ∂L/∂yhat[i] * ∂yhat[i]/∂h[l] * ∂h[l]/∂W1[j,k]\n\
           = sum_{{i, l}} 2 * (yhat[i] - y[i]) * W2[i, l] * sigma'(a[l]) * delta[l, j] * x[k]\n"
    ));
    let (model, diagnostics) = parse_and_check(&source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let model = model.unwrap();
    assert_eq!(model.claims.len(), 1);
    assert_eq!(model.derivations.len(), 2);

    let claim = &model.claims[0];
    let free: Vec<(&str, &Dim)> = claim
        .free_indices
        .iter()
        .map(|(index, dim)| (index.name.as_str(), dim))
        .collect();
    assert_eq!(
        free,
        [
            ("j", &Dim::Named("O".into())),
            ("k", &Dim::Named("N".into()))
        ]
    );

    // The summed `l` of the W1 derivation ranges over the hidden size at every occurrence.
    let w1 = &model.derivations[1];
    let l_ranges: Vec<&Dim> = w1
        .index_ranges
        .iter()
        .filter(|(span, _)| &source[span.start..span.end] == "l")
        .map(|(_, dim)| dim)
        .collect();
    assert_eq!(l_ranges.len(), 7);
    assert!(l_ranges.iter().all(|dim| **dim == Dim::Named("N".into())));
    let k_range = w1.free_indices[1].1.clone();
    assert_eq!(k_range, Dim::Named("I".into()));
}

#[test]
fn claim_undefined_name() {
    let codes = error_codes(&with_model(
        "claim ∂L/∂W2[j,k] = 2 * (yhat[j] - t[j]) * h[k]\n",
    ));
    assert_eq!(codes, ["mlp::name::undefined"]);
}

#[test]
fn claim_partial_of_undefined_name() {
    let codes = error_codes(&with_model("claim ∂L/∂W3[j,k] = h[k]\n"));
    assert_eq!(codes, ["mlp::name::undefined"]);
}

#[test]
fn claim_partial_arity() {
    let codes = error_codes(&with_model("claim ∂L/∂W2[j] = h[j]\n"));
    assert_eq!(codes, ["mlp::index::arity"]);
    let codes = error_codes(&with_model("claim ∂L/∂b2[j] = ∂L/∂yhat[j, j]\n"));
    assert_eq!(codes, ["mlp::index::arity"]);
}

#[test]
fn claim_by_input_rejected() {
    let codes = error_codes(&with_model("claim ∂L/∂x[k] = 0\n"));
    assert_eq!(codes, ["mlp::partial::wrt"]);
    let codes = error_codes(&with_model("claim ∂L/∂sigma = 0\n"));
    assert_eq!(codes, ["mlp::name::not_a_tensor"]);
}

#[test]
fn claim_by_relation_accepted() {
    let (model, diagnostics) = parse_and_check(&with_model(
        "claim ∂L/∂h[k] = sum_i 2 * (yhat[i] - y[i]) * W2[i, k]\n",
    ));
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(model.unwrap().claims.len(), 1);
}

#[test]
fn claim_must_start_with_partial() {
    let codes = error_codes(&with_model(
        "claim yhat[i] = sum_j W2[i, j] * h[j] + b2[i]\n",
    ));
    assert_eq!(codes, ["mlp::claim::start"]);
}

#[test]
fn step_with_unbound_index() {
    let source = with_model("derive ∂L/∂b2[j]\n  = ∂L/∂yhat[j]\n  = 2 * (yhat[i] - y[j])\n");
    let (_, diagnostics) = parse_and_check(&source);
    let unbound: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.code == "mlp::index::unbound")
        .collect();
    assert_eq!(unbound.len(), 1, "{diagnostics:#?}");
    let span = unbound[0].span;
    assert_eq!(&source[span.start..span.end], "yhat[i]");
    assert_eq!(
        unbound[0].help.as_deref(),
        Some("the left side has the free index `j`: did you mean `yhat[j]`? To sum over `i`, write `sum_i` before the product")
    );
}

#[test]
fn claim_missing_free_index_is_broadcast() {
    // A right side without `k` is the same value for every `k`: a claim the verdicts can refute,
    // not an invalid one.
    let codes = error_codes(&with_model("claim ∂L/∂W2[j,k] = 2 * (yhat[j] - y[j])\n"));
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn claim_constant_is_broadcast() {
    let codes = error_codes(&with_model(
        "claim ∂L/∂b2[j] = 1\nderive ∂L/∂b2[j]\n  = 2\n  = 1\n",
    ));
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn claim_terms_with_some_free_indices() {
    // `x[k]` carries only `k` and `W1[j, k]` both: the first term is broadcast over `j`.
    let codes = error_codes(&with_model("claim ∂L/∂W1[j,k] = x[k] + W1[j, k] * x[k]\n"));
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn relation_terms_with_different_indices() {
    // Relations keep the strict rule: every term carries the left side's free indices.
    let source =
        "dim N\ninput x[N]\nparam b[N]\nh[i, j] = x[i] * b[j] + x[j]\nL = sum_{i, j} h[i, j]\n";
    let codes = error_codes(source);
    assert_eq!(codes, ["mlp::index::free_mismatch"], "{codes:?}");
}

#[test]
fn step_with_range_mismatch() {
    // `k` indexes the hidden axis of W2 on the left and the output axis of y on the right.
    let codes = error_codes(&with_model(
        "claim ∂L/∂W2[j,k] = 2 * (yhat[j] - y[j]) * y[k]\n",
    ));
    assert_eq!(codes, ["mlp::index::range_mismatch"]);
}

#[test]
fn step_summed_index_unused() {
    // As in a relation, the unused summed index is also reported as having no range.
    let codes = error_codes(&with_model(
        "claim ∂L/∂b2[j] = sum_i 2 * (yhat[j] - y[j])\n",
    ));
    assert_eq!(codes, ["mlp::index::unused_sum", "mlp::index::unused"]);
}

#[test]
fn step_unknown_function() {
    let codes = error_codes(&with_model("claim ∂L/∂b1[j] = tau'(a[j])\n"));
    assert_eq!(codes, ["mlp::function::unknown"]);
}

#[test]
fn partial_in_relation_rejected() {
    let codes = error_codes(&with_model("g[j] = ∂L/∂b2[j]\nloss L\n"));
    assert_eq!(codes, ["mlp::partial::in_relation"]);
}

#[test]
fn claim_skipped_after_failed_relation() {
    // The relation error is the one to report; the claim reading `yhat` is not checked.
    let source =
        MODEL.replace("+ b2[i]", "+ b2[k]") + "claim ∂L/∂b2[j] = 2 * (yhat[j] - y[j]) * h[i]\n";
    let codes = error_codes(&source);
    assert_eq!(codes, ["mlp::index::unbound"]);
}

#[test]
fn program_round_trips_through_rendering() {
    let source = with_model(&format!(
        "claim ∂L/∂b2[j] = 2 * (yhat[j] - y[j])\n{W2_DERIVATION}"
    ));
    let program = parse(&source).unwrap();
    let rendered = program.to_string();
    let reparsed = parse(&rendered).unwrap();
    assert_eq!(reparsed.to_string(), rendered);
    let (model, diagnostics) = parse_and_check(&rendered);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(model.unwrap().derivations.len(), 1);
}

#[test]
fn example_model_still_checks() {
    let source = include_str!("../../examples/perceptron.mlp");
    let (model, diagnostics) = parse_and_check(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let model = model.unwrap();
    assert!(model.claims.is_empty());
    assert_eq!(model.loss().name(), "L");
}
