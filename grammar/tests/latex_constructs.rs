//! Each LaTeX construct the Markdown reader understands, and each malformed or unsupported input
//! it reports, with its position in the Markdown file.

use mlp_grammar::{
    check_markdown, line_column, read_markdown, BlockKind, Diagnostic, ExprKind, Severity,
};

/// Reads `$$r = latex$$` and renders the relation's body as DSL, or returns the first error.
fn formula(latex: &str) -> Result<String, Diagnostic> {
    let source = format!("$$r = {latex}$$\n");
    let (document, diagnostics) = read_markdown(&source);
    if let Some(error) = diagnostics.into_iter().find(Diagnostic::is_error) {
        return Err(error);
    }
    match document.relations.as_slice() {
        [relation] => Ok(relation.body.to_string()),
        other => panic!("expected one relation from {latex:?}, got {other:?}"),
    }
}

/// Returns the code and the Markdown text at the span of the first error in `source`.
fn first_error(source: &str) -> (&'static str, &str) {
    let (_, diagnostics) = read_markdown(source);
    let error = diagnostics
        .iter()
        .find(|d| d.is_error())
        .unwrap_or_else(|| panic!("no error for {source:?}: {diagnostics:#?}"));
    (error.code, &source[error.span.start..error.span.end])
}

#[test]
fn constructs_render_as_dsl() {
    let cases = [
        (r"\sum_i x_i", "sum_i x[i]"),
        (r"\sum_{i, \ell} W_{i\ell}", "sum_{i, l} W[i, l]"),
        (r"\sum_{ij} A_{ij}", "sum_{i, j} A[i, j]"),
        (r"\sum_j W_{ij} x_j + b_i", "sum_j W[i, j] * x[j] + b[i]"),
        (r"W^{(1)}_{jk}", "W1[j, k]"),
        (r"W_{jk}^{(1)}", "W1[j, k]"),
        (r"b^{(2)}_i", "b2[i]"),
        (r"\hat y_i", "yhat[i]"),
        (r"\hat{y}_i", "yhat[i]"),
        (r"h_j x_k", "h[j] * x[k]"),
        (r"\theta_j", "theta[j]"),
        (r"\frac{\partial L}{\partial \hat y_i}", "∂L/∂yhat[i]"),
        (
            r"\frac{\partial \hat y_i}{\partial W^{(2)}_{jk}}",
            "∂yhat[i]/∂W2[j, k]",
        ),
        (r"\frac{a_i}{b_i}", "a[i] / b[i]"),
        (r"\frac{a_i + b_i}{2}", "(a[i] + b[i]) / 2"),
        (
            r"\frac{\partial \sigma}{\partial x} \bigg\vert_{x = a_\ell}",
            "sigma'(a[l])",
        ),
        (
            r"\frac{\partial \sigma}{\partial x}|_{x=a_j}",
            "sigma'(a[j])",
        ),
        (
            r"\left.\frac{\partial \sigma}{\partial x}\right|_{x = a_j}",
            "sigma'(a[j])",
        ),
        (r"\delta_{ij}", "delta[i, j]"),
        (r"\delta_{\ell j}", "delta[l, j]"),
        (r"\sigma(a_i)", "sigma(a[i])"),
        (r"\sigma'(a_i)", "sigma'(a[i])"),
        (r"\sigma\left(a_i\right)", "sigma(a[i])"),
        (r"\operatorname{ReLU}(x_i)", "relu(x[i])"),
        (r"\tanh(x_i) + \exp(x_i)", "tanh(x[i]) + exp(x[i])"),
        (
            r"\left(a_i + b_i\right)\big(c_i\big)",
            "(a[i] + b[i]) * (c[i])",
        ),
        (r"\Big(a_i\Big) \bigg[b_i\bigg]", "(a[i]) * (b[i])"),
        (
            r"\Big\lVert \hat y_i - y_i \Big\rVert_2^2",
            "sum_i (yhat[i] - y[i])^2",
        ),
        (r"\lVert v_i \rVert_{2}^{2}", "sum_i (v[i])^2"),
        (r"\lVert v_i \rVert", "sqrt(sum_i (v[i])^2)"),
        (r"\|v_i\|^2", "sum_i (v[i])^2"),
        (r"2(\hat y_i - y_i)h_k", "2 * (yhat[i] - y[i]) * h[k]"),
        (r"a_i \cdot b_i \times c_i", "a[i] * b[i] * c[i]"),
        (r"a_i / b_i", "a[i] / b[i]"),
        (r"x_i^2", "x[i]^2"),
        (r"(a_i + b_i)^{2}", "(a[i] + b[i])^2"),
        (r"-a_i b_i", "-a[i] * b[i]"),
        (r"0.5 x_i", "(1 / 2) * x[i]"),
        (r"2\sum_i x_i y_i + 1", "2 * (sum_i x[i] * y[i]) + 1"),
        (r"{a_i + b_i} c_i", "(a[i] + b[i]) * c[i]"),
        (r"\, a_i \quad + \; b_i", "a[i] + b[i]"),
    ];
    for (latex, expected) in cases {
        match formula(latex) {
            Ok(rendered) => assert_eq!(rendered, expected, "{latex}"),
            Err(error) => panic!("{latex}: {error:?}"),
        }
    }
}

#[test]
fn partial_keeps_markdown_spans() {
    let source = r"$$\frac{\partial L}{\partial W^{(2)}_{jk}} = 0$$";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let start = &document.derivations[0].start;
    let ExprKind::Partial { of, wrt } = &start.kind else {
        panic!("expected a partial derivative, got {start:?}");
    };
    assert_eq!(&source[of.span.start..of.span.end], "L");
    assert_eq!(&source[wrt.name.span.start..wrt.name.span.end], "W^{(2)}");
    assert_eq!(&source[wrt.span.start..wrt.span.end], "W^{(2)}_{jk}");
    let k = &wrt.indices[1];
    assert_eq!(&source[k.span.start..k.span.end], "k");
}

#[test]
fn single_line_chain_becomes_derivation() {
    let source = r"$$\frac{\partial L}{\partial b_j} = \frac{\partial L}{\partial \hat y_j} = 2(\hat y_j - y_j)$$";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(document.derivations.len(), 1);
    let steps = &document.derivations[0].steps;
    assert_eq!(steps.len(), 2);
    assert_eq!(
        &source[steps[1].span.start..steps[1].span.end],
        r"= 2(\hat y_j - y_j)"
    );
}

#[test]
fn several_derivations_in_one_block() {
    let source = "$$\\begin{align*}\n\\frac{\\partial L}{\\partial b_j} &= 2 y_j \\\\\n&= y_j + y_j \\\\\n\\frac{\\partial L}{\\partial c_j} &= y_j\n\\end{align*}$$\n";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(document.blocks[0].kind, BlockKind::Derivations);
    let steps: Vec<usize> = document.derivations.iter().map(|d| d.steps.len()).collect();
    assert_eq!(steps, [2, 1]);
}

#[test]
fn environments_unwrap() {
    for wrapper in ["align", "align*", "aligned", "equation", "split"] {
        let source = format!("$$\\begin{{{wrapper}}} h_i &= x_i \\end{{{wrapper}}}$$");
        let source = if wrapper.starts_with("equation") {
            source.replace('&', "")
        } else {
            source
        };
        let (document, diagnostics) = read_markdown(&source);
        assert!(diagnostics.is_empty(), "{wrapper}: {diagnostics:#?}");
        assert_eq!(document.relations.len(), 1, "{wrapper}");
    }
    let nested =
        r"$$\begin{equation}\begin{aligned} h_i &= x_i \\ g_i &= h_i \end{aligned}\end{equation}$$";
    let (document, diagnostics) = read_markdown(nested);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(document.relations.len(), 2);
}

#[test]
fn text_labels_are_ignored() {
    let source = r"$$\begin{align*}\text{hidden: } h_i &= \sigma(a_i) && \text{(activation)} \\ g_i &= h_i \quad \text{by definition}\end{align*}$$";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(document.relations.len(), 2);
    assert_eq!(document.relations[0].to_string(), "h[i] = sigma(a[i])");
}

#[test]
fn text_inside_formula_rejected() {
    assert_eq!(
        first_error(r"$$h_i = a_i \text{ plus } b_i$$"),
        ("mlp::latex::unsupported", r"\text{ plus }")
    );
}

#[test]
fn unsupported_constructs_rejected() {
    let cases = [
        (r"\vec x", "mlp::latex::unknown_command", r"\vec"),
        (r"\mathbf{x}", "mlp::latex::unknown_command", r"\mathbf"),
        (r"\max(a_i, b_i)", "mlp::latex::unknown_command", r"\max"),
        (r"\sum x_i", "mlp::latex::unsupported", r"\sum"),
        (r"\sum_{i=1}^{n} x_i", "mlp::latex::unsupported", "="),
        (r"\sum_i^n x_i", "mlp::latex::unsupported", "^"),
        (r"\delta_{i}", "mlp::latex::unsupported", r"\delta_{i}"),
        (r"\delta", "mlp::latex::unsupported", r"\delta"),
        (r"x_1", "mlp::latex::unsupported", "1"),
        (r"f(x_i)", "mlp::latex::unsupported", "f"),
        (r"\lVert W_{ij} \rVert", "mlp::latex::unsupported", "W_{ij}"),
        (r"\lVert v_i \rVert_1", "mlp::latex::unsupported", "1"),
        (r"\partial x", "mlp::latex::unsupported", r"\partial"),
        (
            r"\frac{\partial^2 L}{\partial x^2}",
            "mlp::latex::unsupported",
            "^",
        ),
        (
            r"\frac{\partial L}{\partial x_i + y_i}",
            "mlp::latex::syntax",
            "+",
        ),
        (r"\frac{\partial L}{x_i}", "mlp::latex::syntax", "x"),
        (
            r"\frac{\partial \sigma}{\partial x}\bigg\vert_{y = a_j}",
            "mlp::latex::unsupported",
            "y",
        ),
        (
            r"\frac{\partial h_i}{\partial x}\bigg\vert_{x = a_j}",
            "mlp::latex::unsupported",
            r"\frac{\partial h_i}{\partial x}",
        ),
        (r"x^23", "mlp::latex::unsupported", "23"),
        (r"W^{(\ell)}_{ij}", "mlp::latex::syntax", r"\ell"),
        (
            r"\sum_{\ell} W_{\ell l}",
            "mlp::latex::index_collision",
            "l",
        ),
        (r"a_i +", "mlp::latex::syntax", ""),
        (r"(a_i", "mlp::latex::syntax", ""),
        (r"\sigma(a_i", "mlp::latex::syntax", ""),
        (r"a_i ]", "mlp::latex::syntax", "]"),
        (r"x_i ∂ y_i", "mlp::latex::syntax", "∂"),
        (
            r"\begin{cases} x \end{cases}",
            "mlp::latex::unsupported",
            r"\begin{cases}",
        ),
    ];
    for (latex, code, at) in cases {
        match formula(latex) {
            Ok(rendered) => panic!("{latex} was accepted as {rendered}"),
            Err(error) => {
                let source = format!("$$r = {latex}$$\n");
                assert_eq!(error.code, code, "{latex}: {error:?}");
                assert_eq!(&source[error.span.start..error.span.end], at, "{latex}");
            }
        }
    }
}

#[test]
fn ell_collision_points_at_both() {
    let source = r"$$\begin{align*}g_\ell &= h_\ell \\ k_l &= h_l\end{align*}$$";
    let (_, diagnostics) = read_markdown(source);
    let collision = diagnostics
        .iter()
        .find(|d| d.code == "mlp::latex::index_collision")
        .expect("a collision diagnostic");
    assert_eq!(&source[collision.span.start..collision.span.end], "l");
    let (related, _) = collision.related[0];
    assert_eq!(&source[related.start..related.end], r"\ell");
}

#[test]
fn ell_and_l_in_separate_blocks() {
    let source = "$$g_\\ell = h_\\ell$$\n\n$$k_l = h_l$$\n";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(document.relations.len(), 2);
}

#[test]
fn malformed_blocks_reported_with_positions() {
    let cases = [
        (
            "intro\n$$\\begin{align*} h_i &= x_i $$\n",
            "mlp::latex::unclosed_environment",
            "\\begin{align*}",
            (2, 3),
        ),
        (
            "$$\\begin{align*} h_i &= x_i \\end{aligned}$$",
            "mlp::latex::mismatched_environment",
            "\\end{aligned}",
            (1, 29),
        ),
        (
            "$$ h_i = x_i \\end{align*}$$",
            "mlp::latex::mismatched_environment",
            "\\end{align*}",
            (1, 14),
        ),
        (
            "$$h_i = x_i}$$",
            "mlp::latex::unbalanced_brace",
            "}",
            (1, 12),
        ),
        (
            "text\n\n$$h_i = {x_i$$",
            "mlp::latex::unclosed_brace",
            "{",
            (3, 9),
        ),
        (
            "$$\\begin{align*} h_i &= {x_i \\end{align*}$$",
            "mlp::latex::unclosed_brace",
            "{",
            (1, 25),
        ),
        (
            "$$h_i & = x_i$$",
            "mlp::latex::stray_ampersand",
            "&",
            (1, 7),
        ),
        (
            "$$\\begin{align*} h_i &= x_i & y_i \\end{align*}$$",
            "mlp::latex::stray_ampersand",
            "&",
            (1, 29),
        ),
        (
            "$$h_i = x_i \\\\ g_i = h_i$$",
            "mlp::latex::row_break_outside_environment",
            "\\\\",
            (1, 13),
        ),
        (
            "# notes\n\nsee $$h_i = x_i\n\nmore prose\n",
            "mlp::markdown::unclosed_display",
            "$$",
            (3, 5),
        ),
        (
            "$$\\begin{align*} &= x_i \\end{align*}$$",
            "mlp::latex::continuation",
            "=",
            (1, 19),
        ),
        (
            "$$\\begin{align*} h_i &= x_i \\\\ &= y_i \\end{align*}$$",
            "mlp::latex::continuation",
            "=",
            (1, 33),
        ),
        (
            "$$h_i = x_i = y_i$$",
            "mlp::latex::relation",
            "=",
            (1, 13),
        ),
        (
            "$$\\begin {align*} h_i &= x_i \\end{align*}$$",
            "mlp::latex::relation",
            "",
            (0, 0),
        ),
        (
            "$$\\begin align h_i = x_i$$",
            "mlp::latex::syntax",
            "\\begin",
            (1, 3),
        ),
        (
            "$$h_i = \\text{unclosed$$",
            "mlp::latex::unclosed_brace",
            "{",
            (1, 14),
        ),
        (
            "$$\\begin{align*}\\frac{\\partial L}{\\partial b_j} &= y_j \\\\ f(x) &= x\\end{align*}$$",
            "mlp::latex::left_side",
            "f(x)",
            (1, 59),
        ),
        (
            "$$\\begin{align*}\\frac{\\partial L}{\\partial b_j} &= \\vec y\\end{align*}$$",
            "mlp::latex::unknown_command",
            "\\vec",
            (1, 52),
        ),
    ];
    for (source, code, at, position) in cases {
        if position == (0, 0) {
            // A spaced `\begin {align*}` is accepted: this case only guards the tokenizer.
            let (document, diagnostics) = read_markdown(source);
            assert!(diagnostics.is_empty(), "{source}: {diagnostics:#?}");
            assert_eq!(document.relations.len(), 1, "{source}");
            continue;
        }
        let (_, diagnostics) = read_markdown(source);
        let error = diagnostics
            .iter()
            .find(|d| d.is_error())
            .unwrap_or_else(|| panic!("no error for {source:?}"));
        assert_eq!(error.code, code, "{source}: {error:?}");
        assert_eq!(&source[error.span.start..error.span.end], at, "{source}");
        assert_eq!(line_column(source, error.span.start), position, "{source}");
    }
}

#[test]
fn unrecognized_chain_start_reported_once() {
    let source = r"$$\begin{align*} f(x) &= x_i \\ &= y_i \\ &= z_i \end{align*}$$";
    let (_, diagnostics) = read_markdown(source);
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["mlp::latex::left_side"]);
}

#[test]
fn prose_blocks_warn_not_fail() {
    for source in [
        r"$$\vec y = W\vec x$$",
        r"$$\operatorname{ReLU}(x) = \begin{cases} x & x > 0 \\ 0 & \text{otherwise}\end{cases}$$",
        r"$$a + b$$",
        r"$$L(\hat y, \vec y) = \Big\lVert\vec f_\theta(\vec x) - \vec y\Big\rVert_2^2$$",
    ] {
        let (document, diagnostics) = read_markdown(source);
        assert_eq!(diagnostics.len(), 1, "{source}: {diagnostics:#?}");
        assert_eq!(diagnostics[0].code, "mlp::latex::skipped", "{source}");
        assert_eq!(diagnostics[0].severity, Severity::Warning, "{source}");
        assert_eq!(document.blocks[0].kind, BlockKind::Skipped, "{source}");
        assert!(document.relations.is_empty(), "{source}");
    }
}

#[test]
fn inline_math_not_read() {
    let source = r"The loss $L = \sum_i \vec q$ is inline, and $$h_i = x_i$$ is not.";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(document.blocks.len(), 1);
    assert_eq!(document.relations.len(), 1);
}

#[test]
fn declarations_inferred() {
    let source = "$$\\begin{align*}\nJ &= \\sum_k (o_k - t_k)^2 \\\\\no_k &= \\sum_m V_{km} u_m + c_k\n\\end{align*}$$\n\n$$\\frac{\\partial J}{\\partial c_k} = 2(o_k - t_k)$$\n";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let declarations: Vec<String> = document
        .declarations
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        declarations,
        [
            "dim n_o, n_u",
            "input V[n_o, n_u], u[n_u]",
            "target t[n_o]",
            "param c[n_o]",
            "loss J",
        ]
    );
    let (model, diagnostics) = check_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(model.unwrap().derivations.len(), 1);
}

#[test]
fn differentiated_name_becomes_param() {
    // `t` is differentiated by, so it is inferred as a parameter rather than a target.
    let source = "$$\\begin{align*}J &= \\sum_k (o_k - t_k)^2 \\\\ o_k &= \\sum_m W^{(1)}_{km} u_m\\end{align*}$$\n$$\\frac{\\partial J}{\\partial t_k} = 0$$\n";
    let (document, diagnostics) = read_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let declarations: Vec<String> = document
        .declarations
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        declarations,
        [
            "dim n_o, n_u",
            "input u[n_u]",
            "param t[n_o], W1[n_o, n_u]",
            "loss J",
        ]
    );
    let (model, diagnostics) = check_markdown(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert!(model.is_some());
}

#[test]
fn derivation_unknown_name_rejected() {
    // Only the relations declare names, so `q`, which appears only in a derivation, is unknown.
    let source = "$$\\begin{align*}J &= \\sum_k (o_k - t_k)^2 \\\\ o_k &= \\sum_m W^{(1)}_{km} u_m\\end{align*}$$\n$$\\frac{\\partial J}{\\partial W^{(1)}_{km}} = 2(o_k - t_k) q_m$$\n";
    let (_, diagnostics) = check_markdown(source);
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["mlp::name::undefined"]);
    let error = &diagnostics[0];
    assert_eq!(&source[error.span.start..error.span.end], "q");
}

#[test]
fn empty_notes_rejected() {
    let (model, diagnostics) = check_markdown("# nothing here\n\n$$\\vec y = W \\vec x$$\n");
    assert!(model.is_none());
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["mlp::markdown::empty", "mlp::latex::skipped"]);
}

#[test]
fn deep_nesting_rejected() {
    let latex = format!("{}x_i{}", "(".repeat(200), ")".repeat(200));
    let error = formula(&latex).unwrap_err();
    assert_eq!(error.code, "mlp::syntax::too_deep");
    let sums = format!("{} x_i", r"\sum_j ".repeat(200));
    let error = formula(&sums).unwrap_err();
    assert_eq!(error.code, "mlp::syntax::too_deep");
}

#[test]
fn garbage_never_panics() {
    let pieces = [
        "$$",
        "$",
        "\\",
        "{",
        "}",
        "&",
        "=",
        "\\\\",
        "\\begin{align*}",
        "\\end{align*}",
        "_",
        "^",
        "\\frac",
        "\\partial",
        "\\sum",
        "\\hat",
        "x",
        "2",
        "(",
        ")",
        "\\left",
        "\\right",
        "|",
        "\\lVert",
        "\\rVert",
        "\\delta",
        "\\sigma",
        "'",
        "\\text{a}",
        "`",
        "\n",
        "é",
        "∂",
        "\\bigg\\vert",
        "\\ell",
    ];
    // A fixed linear congruential sequence keeps the inputs reproducible without a dependency.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..3000 {
        let mut source = String::new();
        for _ in 0..(state % 24) {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            source.push_str(pieces[(state >> 33) as usize % pieces.len()]);
        }
        state = state.wrapping_add(1);
        let (_, diagnostics) = check_markdown(&source);
        for diagnostic in diagnostics {
            assert!(
                diagnostic.span.end <= source.len(),
                "{source:?}: {diagnostic:?}"
            );
            assert!(source.is_char_boundary(diagnostic.span.start), "{source:?}");
        }
    }
}

#[test]
fn stray_brace_in_environment_reported() {
    let source = "$$\\begin{align*}\nr_j &= 2(\\hat y_j} - y_j)\n\\end{align*}$$\n";
    let (code, text) = first_error(source);
    assert_eq!(code, "mlp::latex::unbalanced_brace");
    assert_eq!(text, "}");
}

#[test]
fn power_on_function_name_has_help() {
    let error = formula(r"\tanh^2(z_j)").unwrap_err();
    assert_eq!(error.message, "expected `(`, found `^`");
    let help = error.help.as_deref().unwrap();
    assert!(help.contains(r"`\tanh(x)^2`"), "{help}");
}
