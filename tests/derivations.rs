//! Snapshots of derivations, reviewed by reading: the perceptron's gradients must match the
//! forms a careful person derives by hand.

use mlp::symbolic::Format;

fn perceptron() -> mlp::DerivationReport {
    mlp::load(include_str!("../examples/perceptron.mlp")).expect("the example model loads")
}

#[test]
fn perceptron_gradients_unicode() {
    let report = perceptron();
    let gradient = |name: &str| report.gradient(name).expect("a parameter").to_string();
    // The hand-derived forms: the output layer's gradients are the residual times the input of
    // the layer, and the hidden layer's gradients carry the residual back through W2 and σ'.
    assert_eq!(gradient("W2"), "∂L/∂W2[j,k] = 2 (yhat[j] − y[j]) h[k]");
    assert_eq!(gradient("b2"), "∂L/∂b2[j] = 2 (yhat[j] − y[j])");
    assert_eq!(
        gradient("W1"),
        "∂L/∂W1[j,k] = (Σ_i 2 (yhat[i] − y[i]) W2[i,j]) σ'(a[j]) x[k]"
    );
    assert_eq!(
        gradient("b1"),
        "∂L/∂b1[j] = (Σ_i 2 (yhat[i] − y[i]) W2[i,j]) σ'(a[j])"
    );
    insta::assert_snapshot!(report.render(Format::Unicode));
}

#[test]
fn perceptron_gradients_latex() {
    insta::assert_snapshot!(perceptron().render(Format::Latex));
}

#[test]
fn perceptron_gradients_ascii() {
    insta::assert_snapshot!(perceptron().render(Format::Ascii));
}

#[test]
fn perceptron_recurrence() {
    insta::assert_snapshot!(perceptron().render_recurrence(Format::Unicode));
}

#[test]
fn perceptron_steps() {
    insta::assert_snapshot!(perceptron().render_steps(Format::Unicode));
}

#[test]
fn ascii_output_parses_as_dsl() {
    // The ASCII form of each closed-form gradient is valid DSL, so it can be pasted back.
    let report = perceptron();
    for gradient in &report.derivation.gradients {
        let text = mlp::symbolic::render(&gradient.expanded, Format::Ascii);
        let parsed = mlp::grammar::parse_expr(&text);
        assert!(parsed.is_ok(), "{text} does not parse: {parsed:?}");
    }
}

#[test]
fn example_models_snapshots() {
    insta::glob!("models/*.mlp", |path| {
        let source = std::fs::read_to_string(path).expect("fixture is readable");
        let report = mlp::load(&source).expect("fixture loads");
        insta::assert_snapshot!(report.render(Format::Unicode));
    });
}

#[test]
fn nested_power_keeps_parentheses() {
    // `^` groups to the right, so the base `s^2` of `(s^2)^(-1/2)` must stay parenthesized.
    let report = mlp::load("param s\nL = (s^2)^(1/2)\n").expect("model loads");
    let gradient = report.gradient("s").expect("a parameter");
    assert_eq!(gradient.to_string(), "∂L/∂s = (s^2)^(−1/2) s");
    assert_eq!(
        gradient.format(Format::Latex).to_string(),
        "\\frac{\\partial L}{\\partial s} = \\left(s^{2}\\right)^{-\\frac{1}{2}} s"
    );
    let ascii = mlp::symbolic::render(&gradient.derivative().expanded, Format::Ascii);
    assert!(
        mlp::grammar::parse_expr(&ascii).is_ok(),
        "{ascii} does not parse"
    );
}
