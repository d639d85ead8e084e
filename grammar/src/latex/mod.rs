//! Reads the display math of a Markdown lecture note into the DSL's syntax tree, so that the
//! same checks run on hand derivations written in LaTeX.
//!
//! Every span points into the Markdown file. The mapping from LaTeX to DSL names:
//!
//! | LaTeX | DSL |
//! |---|---|
//! | `h_j`, `x_k` | `h[j]`, `x[k]` |
//! | `W^{(1)}_{jk}`, `b^{(2)}_i` | `W1[j, k]`, `b2[i]` (the layer number joins the name) |
//! | `\hat y_i`, `\hat{y}_i` | `yhat[i]` |
//! | `_{jk}`, `_{i, \ell}` | one index per letter, or per comma-separated item |
//! | `\ell`, `\alpha` as indices | `l`, `alpha` (`\ell` and `l` in one block are rejected) |
//! | `\sum_i`, `\sum_{i, \ell}` | `sum_i`, `sum_{i, l}` |
//! | `\delta_{\ell j}` | `delta[l, j]` |
//! | `\frac{\partial L}{\partial \hat y_i}` | `∂L/∂yhat[i]` |
//! | `\frac{\partial \sigma}{\partial x}\bigg\vert_{x = a_\ell}` | `sigma'(a[l])` |
//! | `\sigma(a_i)`, `\sigma'(a_i)` | `sigma(a[i])`, `sigma'(a[i])` |
//! | `\operatorname{ReLU}(x)`, `\tanh(x)` | `relu(x)`, `tanh(x)` |
//! | `\lVert v \rVert_2^2` | `sum_i (v)^2` over the one free index `i` of `v` |
//! | `\frac{a}{b}`, `\cdot`, `\times`, juxtaposition | `/`, `*` |
//!
//! Only display math (`$$ ... $$`) is read. The declarations that notes leave implicit are
//! inferred as described in the `infer` module: parameters, targets, inputs, abstract functions,
//! dimensions and the loss.

mod block;
mod expr;
mod infer;
mod lexer;

pub use block::BlockKind;

use crate::ast::{Derivation, Expr, Program, Relation, Statement};
use crate::check::check;
use crate::diagnostic::Diagnostic;
use crate::markdown::display_math;
use crate::model::CheckedModel;
use crate::span::Span;

/// A display-math block of the document and what it contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MathBlock {
    /// The block with its `$$` delimiters.
    pub span: Span,
    /// The math between the delimiters.
    pub content: Span,
    /// Relations, derivations, skipped or invalid.
    pub kind: BlockKind,
}

/// The model and derivations of a Markdown file.
#[derive(Debug, Clone, Default)]
pub struct MarkdownDocument {
    /// Every display block, in order.
    pub blocks: Vec<MathBlock>,
    /// Declarations inferred from the relations and derivations (`dim`, `fn`, `input`,
    /// `target`, `param`, `loss`); their spans point at a use of each name.
    pub declarations: Vec<Statement>,
    /// The relations, in document order.
    pub relations: Vec<Relation>,
    /// The derivations, in document order.
    pub derivations: Vec<Derivation>,
    /// Derivation steps whose LaTeX could not be read, left out of their derivations.
    pub unread_steps: Vec<UnreadStep>,
}

/// A derivation step whose LaTeX could not be read, such as one using an unsupported command.
/// It is left out of its derivation, so the next step is compared with the one before it.
#[derive(Debug, Clone)]
pub struct UnreadStep {
    /// The start of its derivation.
    pub start: Expr,
    /// The step, from its `=` to the end of its LaTeX.
    pub span: Span,
    /// The error that stopped the reading.
    pub diagnostic: Diagnostic,
}

impl MarkdownDocument {
    /// Returns whether `diagnostics` has an error other than an unread derivation step, which
    /// leaves the model and the other steps checkable.
    pub fn has_blocking_errors(&self, diagnostics: &[Diagnostic]) -> bool {
        diagnostics.iter().any(|diagnostic| {
            diagnostic.is_error()
                && !self.unread_steps.iter().any(|unread| {
                    unread.diagnostic.span == diagnostic.span
                        && unread.diagnostic.code == diagnostic.code
                })
        })
    }

    /// Builds the DSL program: declarations, then relations, then derivations.
    pub fn to_program(&self) -> Program {
        let statements = self
            .declarations
            .iter()
            .cloned()
            .chain(self.relations.iter().cloned().map(Statement::Relation))
            .chain(self.derivations.iter().cloned().map(Statement::Derivation))
            .collect();
        Program { statements }
    }
}

/// Reads the display math of a Markdown file into relations and derivations, and infers the
/// model's declarations.
///
/// Returns the document and every problem found: errors for malformed or unsupported LaTeX in
/// relation and derivation blocks, warnings for blocks that are skipped.
pub fn read_markdown(source: &str) -> (MarkdownDocument, Vec<Diagnostic>) {
    let (found, mut diagnostics) = display_math(source);
    let mut context = expr::Context::default();
    let mut document = MarkdownDocument::default();
    for math in found {
        context.index_spellings.clear();
        let content = block::read_block(source, math, &mut context, &mut diagnostics);
        document.blocks.push(MathBlock {
            span: math.span,
            content: math.content,
            kind: content.kind,
        });
        document.relations.extend(content.relations);
        document.derivations.extend(content.derivations);
        document.unread_steps.extend(content.unread_steps);
    }
    document.declarations =
        infer::infer_declarations(&document.relations, &document.derivations, &context.layered);
    diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    (document, diagnostics)
}

/// Reads a Markdown file and checks its model and derivations.
///
/// Returns the checked model when there are no errors, and every diagnostic. The checks do not
/// run when reading the LaTeX failed, because missing relations would cause follow-up errors.
pub fn check_markdown(source: &str) -> (Option<CheckedModel>, Vec<Diagnostic>) {
    let (document, mut diagnostics) = read_markdown(source);
    if document.has_blocking_errors(&diagnostics) {
        return (None, diagnostics);
    }
    if document.relations.is_empty() {
        diagnostics.push(
            Diagnostic::error(
                "mlp::markdown::empty",
                "the file contains no relations in display math",
                Span::new(0, 0),
            )
            .with_label("no model")
            .with_help("define the model in `$$\\begin{align*} ... \\end{align*}$$` blocks, for example `L &= \\sum_i (\\hat y_i - y_i)^2`"),
        );
        diagnostics.sort_by_key(|d| (d.span.start, d.severity));
        return (None, diagnostics);
    }
    let (model, checked) = check(document.to_program());
    diagnostics.extend(checked);
    diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    (model, diagnostics)
}
