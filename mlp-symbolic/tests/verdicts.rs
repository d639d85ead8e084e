//! Verdicts on claims and derivation steps, through the DSL.

use mlp_symbolic::equivalence::NumericOptions;
use mlp_symbolic::{check_model, Slip, Verdict};

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

fn verdicts(extra: &str) -> Vec<Verdict> {
    let source = format!("{MODEL}{extra}");
    let (checked, diagnostics) = mlp_grammar::parse_and_check(&source);
    let checked = checked.unwrap_or_else(|| panic!("{diagnostics:#?}"));
    let result = check_model(&checked, NumericOptions::default()).unwrap();
    result
        .items
        .into_iter()
        .map(|i| i.comparison.verdict)
        .collect()
}

fn slip(verdict: &Verdict) -> Option<&Slip> {
    match verdict {
        Verdict::NotEqual { slip, .. } => slip.as_ref(),
        _ => None,
    }
}

#[test]
fn w2_chain_is_equal() {
    let v = verdicts(
        "derive ∂L/∂W2[j,k]\n  = sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂W2[j,k]\n  = sum_i 2 * (yhat[i] - y[i]) * delta[i,j] * h[k]\n  = 2 * (yhat[j] - y[j]) * h[k]\n",
    );
    assert!(v.iter().all(Verdict::is_equal), "{v:#?}");
}

#[test]
fn w1_chain_is_equal() {
    let v = verdicts(
        "derive ∂L/∂W1[j, k]
  = sum_i ∂L/∂yhat[i] * ∂yhat[i]/∂W1[j, k]
  = sum_{i, l} ∂L/∂yhat[i] * ∂yhat[i]/∂h[l] * ∂h[l]/∂W1[j, k]
  = sum_{i, l} (2 * (yhat[i] - y[i])) * (W2[i, l]) * (sigma'(a[l])) * (delta[l, j] * x[k])
  = (sum_i 2 * (yhat[i] - y[i]) * W2[i, j]) * (sigma'(a[j])) * x[k]
",
    );
    assert!(v.iter().all(Verdict::is_equal), "{v:#?}");
    eprintln!("{v:?}");
}

#[test]
fn constant_factor_slip() {
    let v = verdicts("claim ∂L/∂b2[j] = yhat[j] - y[j]\n");
    assert_eq!(
        slip(&v[0]),
        Some(&Slip::ConstantFactor {
            ratio: "1/2".into()
        }),
        "{v:#?}"
    );
}

#[test]
fn sign_slip() {
    let v = verdicts("claim ∂L/∂b2[j] = 2 * (y[j] - yhat[j])\n");
    assert_eq!(slip(&v[0]), Some(&Slip::Sign), "{v:#?}");
}

#[test]
fn missing_derivative_factor() {
    let v = verdicts("claim ∂L/∂b1[j] = sum_i 2 * (yhat[i] - y[i]) * W2[i, j]\n");
    assert!(
        matches!(
            slip(&v[0]),
            Some(Slip::MissingFactor {
                derivative: true,
                ..
            })
        ),
        "{v:#?}"
    );
}
