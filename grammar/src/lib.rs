//! The mlp model language: a pest grammar for relations in index notation, a syntax tree that
//! keeps source spans, and the semantic checks that turn a parsed file into a [`CheckedModel`].
//!
//! ```
//! let source = "dim I\ninput x[I]\nparam w[I]\nL = sum_i w[i] * x[i]\n";
//! let (model, diagnostics) = mlp_grammar::parse_and_check(source);
//! assert!(diagnostics.is_empty());
//! assert_eq!(model.unwrap().loss().name(), "L");
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
pub use latex::{check_markdown, read_markdown, BlockKind, MarkdownDocument, MathBlock};
pub use model::{CheckedModel, ClaimInfo, DerivationInfo, Dim, DimInfo, RelationInfo, TensorInfo};
pub use parser::{parse, parse_expr, MAX_NESTING};
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
