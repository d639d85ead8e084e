//! Property: any sequence of model-language tokens is parsed, checked and (when valid) derived
//! without a panic; invalid input yields at least one error diagnostic.

use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "dim", "input", "target", "param", "fn", "loss", "I", "N", "x", "y", "W", "b", "a", "h", "L",
    "sigma", "relu", "tanh", "delta", "sum_i", "sum_j", "Σ_{i,j}", "i", "j", "k", "[", "]", "(",
    ")", ",", "=", "+", "-", "*", "/", "^", "2", "0", "1/2", "0.5", "'", "\n", "\n", "#", ";", " ",
    "δ", "−", "∂", "@",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|tokens| tokens.join(" "))
}

/// A valid header, so that more of the generated relations reach the later checks.
const HEADER: &str = "dim I, N\ninput x[I]\ntarget y\nparam W[N, I], b[N]\nfn sigma\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn token_soup_never_panics(body in soup()) {
        for source in [body.clone(), format!("{HEADER}{body}")] {
            match mlp::load(&source) {
                Ok(report) => {
                    // A valid model renders in every format.
                    for format in [mlp::symbolic::Format::Unicode, mlp::symbolic::Format::Latex, mlp::symbolic::Format::Ascii] {
                        let _ = report.render(format);
                    }
                }
                Err(mlp::LoadError::Invalid(diagnostics)) => {
                    prop_assert!(diagnostics.iter().any(|d| d.is_error()), "rejected without an error: {source:?}");
                }
            }
        }
    }
}
