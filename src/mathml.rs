//! Presentation MathML for the syntax tree of claims and steps, so that a report shows the math
//! as written (parentheses included) without scripts or fonts from the network.
//!
//! Names follow the notes' conventions: a trailing layer number becomes a superscript
//! (`W2` → W⁽²⁾), a `hat` suffix a circumflex (`yhat` → ŷ), Greek names their letter.

use mlp_grammar::ast::{BinaryOp, Expr, ExprKind, Ident, TensorRef};
use num_traits::{One, Signed};

/// The expression as a `<math display="block">` element.
pub fn block(expr: &Expr) -> String {
    format!(
        "<math xmlns=\"http://www.w3.org/1998/Math/MathML\" display=\"block\">{}</math>",
        row(expr)
    )
}

/// `lhs = rhs` as a `<math display="block">` element; `lhs` may be absent for a continued step.
pub fn equation(lhs: Option<&Expr>, rhs: &Expr) -> String {
    let left = lhs.map(row).unwrap_or_default();
    format!(
        "<math xmlns=\"http://www.w3.org/1998/Math/MathML\" display=\"block\"><mrow>{left}<mo>=</mo>{}</mrow></math>",
        row(rhs)
    )
}

/// Escapes text for HTML and XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Number(value) => {
            if value.is_integer() {
                format!("<mn>{}</mn>", value.to_integer())
            } else {
                let sign = if value.is_negative() {
                    "<mo>−</mo>"
                } else {
                    ""
                };
                let value = value.abs();
                if value.denom().is_one() {
                    format!("{sign}<mn>{}</mn>", value.numer())
                } else {
                    format!(
                        "{sign}<mfrac><mn>{}</mn><mn>{}</mn></mfrac>",
                        value.numer(),
                        value.denom()
                    )
                }
            }
        }
        ExprKind::Tensor { name, indices } => tensor(name, indices),
        ExprKind::Delta(a, b) => format!("<msub><mi>δ</mi>{}</msub>", index_row(&[a, b])),
        ExprKind::Call {
            function,
            derivative,
            argument,
        } => {
            let primes = "′".repeat(*derivative as usize);
            format!(
                "<mrow><mi>{}{primes}</mi><mo>&#x2061;</mo><mo>(</mo>{}<mo>)</mo></mrow>",
                escape(&display_name(&function.name)),
                row(argument)
            )
        }
        ExprKind::Sum { indices, body } => {
            let refs: Vec<&Ident> = indices.iter().collect();
            format!(
                "<mrow><munder><mo>∑</mo>{}</munder>{}</mrow>",
                index_row(&refs),
                row(body)
            )
        }
        ExprKind::Neg(inner) => format!("<mrow><mo>−</mo>{}</mrow>", row(inner)),
        ExprKind::Paren(inner) => format!("<mrow><mo>(</mo>{}<mo>)</mo></mrow>", row(inner)),
        ExprKind::Binary { op, lhs, rhs } => match op {
            BinaryOp::Add => format!("<mrow>{}<mo>+</mo>{}</mrow>", row(lhs), row(rhs)),
            BinaryOp::Sub => format!("<mrow>{}<mo>−</mo>{}</mrow>", row(lhs), row(rhs)),
            BinaryOp::Mul => {
                // Juxtaposition, except before a number, where it would read as digits.
                let times = if matches!(rhs.kind, ExprKind::Number(_)) {
                    "<mo>·</mo>"
                } else {
                    "<mo>&#x2062;</mo>"
                };
                format!("<mrow>{}{times}{}</mrow>", row(lhs), row(rhs))
            }
            BinaryOp::Div => format!("<mfrac>{}{}</mfrac>", row(lhs), row(rhs)),
            BinaryOp::Pow => format!("<msup>{}{}</msup>", row(lhs), row(rhs)),
        },
        ExprKind::Partial { of, wrt } => format!(
            "<mfrac><mrow><mo>∂</mo>{}</mrow><mrow><mo>∂</mo>{}</mrow></mfrac>",
            tensor_ref(of),
            tensor_ref(wrt)
        ),
    }
}

fn tensor_ref(reference: &TensorRef) -> String {
    tensor(&reference.name, &reference.indices)
}

fn tensor(name: &Ident, indices: &[Ident]) -> String {
    let (base, layer) = split_layer(&name.name);
    let base = match base.strip_suffix("hat").filter(|b| !b.is_empty()) {
        Some(stem) => format!(
            "<mover accent=\"true\"><mi>{}</mi><mo>^</mo></mover>",
            escape(&display_name(stem))
        ),
        None => format!("<mi>{}</mi>", escape(&display_name(base))),
    };
    let refs: Vec<&Ident> = indices.iter().collect();
    match (layer, indices.is_empty()) {
        (None, true) => base,
        (None, false) => format!("<msub>{base}{}</msub>", index_row(&refs)),
        (Some(layer), true) => {
            format!("<msup>{base}<mrow><mo>(</mo><mn>{layer}</mn><mo>)</mo></mrow></msup>")
        }
        (Some(layer), false) => format!(
            "<msubsup>{base}{}<mrow><mo>(</mo><mn>{layer}</mn><mo>)</mo></mrow></msubsup>",
            index_row(&refs)
        ),
    }
}

/// Splits a trailing layer number off a name: `W2` → (`W`, 2). A name that is all digits
/// after its first letter keeps them only if nothing else remains.
fn split_layer(name: &str) -> (&str, Option<&str>) {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if stem.is_empty() || stem.len() == name.len() || stem.ends_with('_') {
        (name, None)
    } else {
        (stem, Some(&name[stem.len()..]))
    }
}

/// Indices side by side, or separated by commas when one has more than one letter.
fn index_row(indices: &[&Ident]) -> String {
    let long = indices
        .iter()
        .any(|i| display_name(&i.name).chars().count() > 1);
    let items: Vec<String> = indices
        .iter()
        .map(|i| format!("<mi>{}</mi>", escape(&display_name(&i.name))))
        .collect();
    let separator = if long {
        "<mo separator=\"true\">,</mo>"
    } else {
        ""
    };
    format!("<mrow>{}</mrow>", items.join(separator))
}

/// Greek letters spelled out in ASCII become the letter; `l` as an index stays `l`.
fn display_name(name: &str) -> String {
    const GREEK: &[(&str, &str)] = &[
        ("alpha", "α"),
        ("beta", "β"),
        ("gamma", "γ"),
        ("delta", "δ"),
        ("epsilon", "ε"),
        ("eta", "η"),
        ("theta", "θ"),
        ("lambda", "λ"),
        ("mu", "μ"),
        ("nu", "ν"),
        ("xi", "ξ"),
        ("pi", "π"),
        ("rho", "ρ"),
        ("sigma", "σ"),
        ("tau", "τ"),
        ("phi", "φ"),
        ("chi", "χ"),
        ("psi", "ψ"),
        ("omega", "ω"),
        ("ell", "ℓ"),
    ];
    GREEK
        .iter()
        .find(|(ascii, _)| *ascii == name)
        .map_or_else(|| name.to_string(), |(_, letter)| (*letter).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_notes_notation() {
        let expr = mlp_grammar::parse_expr("sum_i 2 * (yhat[i] - y[i]) * W2[i, j] * sigma'(a[j])")
            .unwrap();
        let math = block(&expr);
        assert!(math.contains("<munder><mo>∑</mo><mrow><mi>i</mi></mrow></munder>"));
        assert!(math.contains("<mover accent=\"true\"><mi>y</mi><mo>^</mo></mover>"));
        assert!(math.contains("<msubsup><mi>W</mi><mrow><mi>i</mi><mi>j</mi></mrow><mrow><mo>(</mo><mn>2</mn><mo>)</mo></mrow></msubsup>"));
        assert!(math.contains("<mi>σ′</mi>"));
    }

    #[test]
    fn renders_partials_as_fractions() {
        let expr = mlp_grammar::parse_expr("∂L/∂W1[j, k]").unwrap();
        assert!(block(&expr).contains("<mfrac><mrow><mo>∂</mo><mi>L</mi></mrow>"));
    }
}
