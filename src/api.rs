//! A small API to load a model and print its derivation, for tools and for snapshot tests.

use std::fmt;

use mlp_grammar::Diagnostic;
use mlp_symbolic::render::{render, render_derivative_of};
use mlp_symbolic::{derive, Derivation, Derivative, Format, Model};

/// Why a model could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The source has errors; every diagnostic is included, warnings too.
    #[error("the model has {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
}

/// Parses, checks and differentiates a model given as DSL source.
///
/// # Errors
///
/// Returns every diagnostic if the model has an error.
pub fn load(source: &str) -> Result<DerivationReport, LoadError> {
    let (checked, diagnostics) = mlp_grammar::parse_and_check(source);
    let Some(checked) = checked else {
        return Err(LoadError::Invalid(diagnostics));
    };
    let model = Model::from_checked(&checked).map_err(|error| {
        LoadError::Invalid(vec![Diagnostic::error(
            "mlp::lower",
            error.message,
            error.span,
        )])
    })?;
    Ok(DerivationReport {
        derivation: derive(&model),
        warnings: diagnostics,
    })
}

/// A model's derivation, printable in each format.
#[derive(Debug, Clone)]
pub struct DerivationReport {
    /// The adjoints and gradients.
    pub derivation: Derivation,
    /// Warnings found while checking the model.
    pub warnings: Vec<Diagnostic>,
}

impl DerivationReport {
    /// Returns the gradient with respect to one parameter.
    pub fn gradient(&self, param: &str) -> Option<GradientView<'_>> {
        self.derivation
            .gradient(param)
            .map(|derivative| GradientView {
                derivative,
                format: Format::Unicode,
                form: Form::Expanded,
            })
    }

    /// Returns every parameter gradient, in declaration order.
    pub fn gradients(&self) -> impl Iterator<Item = GradientView<'_>> {
        self.derivation
            .gradients
            .iter()
            .map(|derivative| GradientView {
                derivative,
                format: Format::Unicode,
                form: Form::Expanded,
            })
    }

    /// Returns every adjoint, from the loss backwards, in recurrence form.
    pub fn adjoints(&self) -> impl Iterator<Item = GradientView<'_>> {
        self.derivation
            .adjoints
            .iter()
            .map(|derivative| GradientView {
                derivative,
                format: Format::Unicode,
                form: Form::Recurrence,
            })
    }

    /// Renders every gradient, one per line.
    pub fn render(&self, format: Format) -> String {
        self.gradients()
            .map(|g| format!("{}\n", g.format(format)))
            .collect()
    }

    /// Renders the backprop recurrence: each adjoint, then each gradient in terms of them.
    pub fn render_recurrence(&self, format: Format) -> String {
        let mut out = String::new();
        for adjoint in self.adjoints() {
            out.push_str(&format!("{}\n", adjoint.format(format)));
        }
        for gradient in self.gradients() {
            out.push_str(&format!("{}\n", gradient.recurrence().format(format)));
        }
        out
    }

    /// Renders the steps of every adjoint and gradient.
    pub fn render_steps(&self, format: Format) -> String {
        let mut out = String::new();
        let all = self
            .derivation
            .adjoints
            .iter()
            .chain(&self.derivation.gradients);
        for derivative in all {
            let lhs = render_derivative_of(&derivative.loss, &derivative.wrt, format);
            out.push_str(&format!("{lhs}\n"));
            for step in &derivative.steps {
                out.push_str(&format!(
                    "  = {}    [{}: {}]\n",
                    render(&step.expr, format),
                    step.rule,
                    step.description
                ));
            }
            out.push('\n');
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Expanded,
    Recurrence,
}

/// One derivative, displayed as `∂L/∂X[..] = formula`.
#[derive(Debug, Clone, Copy)]
pub struct GradientView<'a> {
    derivative: &'a Derivative,
    format: Format,
    form: Form,
}

impl<'a> GradientView<'a> {
    /// Returns the same derivative in another format.
    pub fn format(self, format: Format) -> GradientView<'a> {
        GradientView { format, ..self }
    }

    /// Returns the same derivative in terms of adjoints.
    pub fn recurrence(self) -> GradientView<'a> {
        GradientView {
            form: Form::Recurrence,
            ..self
        }
    }

    /// Returns the derivative itself.
    pub fn derivative(self) -> &'a Derivative {
        self.derivative
    }
}

impl fmt::Display for GradientView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lhs = render_derivative_of(&self.derivative.loss, &self.derivative.wrt, self.format);
        let rhs = match self.form {
            Form::Expanded => &self.derivative.expanded,
            Form::Recurrence => &self.derivative.recurrence,
        };
        write!(f, "{lhs} = {}", render(rhs, self.format))
    }
}
