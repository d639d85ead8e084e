//! The mlp model language: a pest grammar for relations in index notation, a syntax tree that
//! keeps source spans, and the semantic checks that turn a parsed file into a [`CheckedModel`].
//!
//! ```
//! let source = "dim I\ninput x[I]\nparam w[I]\nL = sum_i w[i] * x[i]\n";
//! let (model, diagnostics) = mlp_grammar::parse_and_check(source);
//! assert!(diagnostics.is_empty());
//! assert_eq!(model.unwrap().loss().name(), "L");
//! ```
//!
//! A file may also state gradients to verify: `claim` for one equality, and `derive` for a chain
//! whose continuation lines start with `=`. The checker resolves their names and index ranges
//! against the model; whether the steps are equal is left to the symbolic engine.
//!
//! ```
//! let source = "dim I\ninput x[I]\nparam w[I]\nL = sum_i w[i] * x[i]\n\
//!               derive ∂L/∂w[k]\n  = sum_i delta[i, k] * x[i]\n  = x[k]\n";
//! let (model, diagnostics) = mlp_grammar::parse_and_check(source);
//! assert!(diagnostics.is_empty());
//! assert_eq!(model.unwrap().derivations[0].derivation.steps.len(), 2);
//! ```
//!
//! [`read_markdown`] reads the same model and derivations from the LaTeX display math of a
//! Markdown lecture note, with spans into the Markdown file; [`check_markdown`] also checks them.
//!
//! ```
//! let note = "$$\\begin{align*} L &= \\sum_i w_i x_i \\end{align*}$$\n\
//!             $$\\frac{\\partial L}{\\partial w_k} = x_k$$\n";
//! let (model, diagnostics) = mlp_grammar::check_markdown(note);
//! assert!(diagnostics.is_empty(), "{diagnostics:?}");
//! assert_eq!(model.unwrap().derivations.len(), 1);
//! ```

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod latex;
pub mod markdown;
pub mod model;
pub mod parser;
pub mod render;
pub mod span;

pub use ast::{
    BinaryOp, Claim, Derivation, Expr, ExprKind, Ident, Program, Relation, Statement, Step,
    TensorRef, TensorRole,
};
pub use check::{check, constant_value, BUILTIN_FUNCTIONS};
pub use diagnostic::{has_errors, Diagnostic, Severity};
pub use latex::{
    check_markdown, read_markdown, BlockKind, MarkdownDocument, MathBlock, UnreadStep,
};
pub use model::{CheckedModel, ClaimInfo, DerivationInfo, Dim, DimInfo, RelationInfo, TensorInfo};
pub use parser::{parse, parse_expr, MAX_NESTING, MAX_OPERATORS};
pub use span::{line_column, Span};

/// Parses and checks a model file.
///
/// Returns the model if there are no errors, and all diagnostics (errors and warnings).
pub fn parse_and_check(source: &str) -> (Option<CheckedModel>, Vec<Diagnostic>) {
    match parse(source) {
        Ok(program) if program.statements.is_empty() => (
            None,
            vec![Diagnostic::error("mlp::empty", "the file contains no statements", Span::new(0, 0))
                .with_label("empty")
                .with_help("declare the model's tensors and write its relations, for example `dim I`, `input x[I]`, `param w[I]`, `L = sum_i w[i] * x[i]`")],
        ),
        Ok(program) => check(program),
        Err(diagnostic) => (None, vec![diagnostic]),
    }
}
