//! One display-math block: its environments, its rows, and what each row states.
//!
//! A block is unwrapped from `equation`, `align`, `align*`, `aligned`, `split`, `gather` and
//! their starred forms, then split into rows at `\\`. Each row is split at its top-level `=`
//! signs, and its left side decides what the row is:
//!
//! - `\frac{\partial L}{\partial W^{(2)}_{jk}} &= a = b`: the start of a derivation with steps
//!   `a` and `b`;
//! - `&= a`: more steps of the derivation above it;
//! - `\hat y_i &= a`: a relation, when the left side is a single symbol with its indices;
//! - anything else, such as `\operatorname{ReLU}(x) = ...` or a row with no `=`: unrecognized.
//!
//! A block with derivation rows reports every problem as an error. A block without them but with
//! an unrecognized row is skipped with a warning, because notes often hold formulas that are not
//! part of the model. Any other block is a relation block, and its problems are errors.

use crate::ast::{Derivation, Expr, Relation, Step};
use crate::diagnostic::Diagnostic;
use crate::latex::expr::{parse_element, parse_expression, starts_with_partial, Context, Element};
use crate::latex::lexer::{tokenize, Token, TokenKind};
use crate::latex::UnreadStep;
use crate::markdown::DisplayMath;
use crate::span::Span;

/// Environments whose rows are separated by `\\` and aligned with `&`.
const ALIGNMENT_ENVIRONMENTS: &[&str] = &[
    "align", "align*", "aligned", "split", "gather", "gather*", "gathered", "flalign", "flalign*",
];

/// Environments that hold a single formula.
const EQUATION_ENVIRONMENTS: &[&str] = &["equation", "equation*", "displaymath"];

/// The contribution of a display block to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Relations only.
    Relations,
    /// At least one derivation, possibly with relations.
    Derivations,
    /// Neither a relation nor a derivation block, so skipped with a warning.
    Skipped,
    /// Malformed, reported with errors.
    Invalid,
}

/// The relations and derivations read from one block.
pub(crate) struct BlockContent {
    pub kind: BlockKind,
    pub relations: Vec<Relation>,
    pub derivations: Vec<Derivation>,
    pub unread_steps: Vec<UnreadStep>,
}

impl BlockContent {
    fn empty(kind: BlockKind) -> Self {
        BlockContent {
            kind,
            relations: Vec::new(),
            derivations: Vec::new(),
            unread_steps: Vec::new(),
        }
    }
}

/// The tokens between two top-level `=` signs of a row, with the `=` before them.
struct Part<'t> {
    tokens: &'t [Token],
    equals: Option<Span>,
}

enum RowKind<'t> {
    Relation(Element),
    Start,
    Continuation,
    Unrecognized(&'t [Token], String),
    /// A left side that is a symbol with indices but has an error, such as an index collision.
    Invalid(Diagnostic),
}

/// Reads one display block. Problems are appended to `diagnostics`.
pub(crate) fn read_block(
    source: &str,
    math: DisplayMath,
    context: &mut Context,
    diagnostics: &mut Vec<Diagnostic>,
) -> BlockContent {
    let tokens = match tokenize(source, math.content) {
        Ok(tokens) => tokens,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return BlockContent::empty(BlockKind::Invalid);
        }
    };
    if let Err(diagnostic) = check_nesting(&tokens, math) {
        diagnostics.push(diagnostic);
        return BlockContent::empty(BlockKind::Invalid);
    }
    let (body, aligned) = unwrap_environments(&tokens);
    let rows = match split_rows(body, aligned) {
        Ok(rows) => rows,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return BlockContent::empty(BlockKind::Invalid);
        }
    };
    let mut parts_of_rows = Vec::new();
    for row in rows {
        match split_parts(row) {
            Ok(Some(parts)) => parts_of_rows.push(parts),
            Ok(None) => {}
            Err(diagnostic) => {
                diagnostics.push(diagnostic);
                return BlockContent::empty(BlockKind::Invalid);
            }
        }
    }
    if parts_of_rows.is_empty() {
        return BlockContent::empty(BlockKind::Skipped);
    }
    let end = Span::new(math.content.end, math.content.end);
    let kinds: Vec<RowKind> = parts_of_rows
        .iter()
        .map(|parts| classify(parts, end, context))
        .collect();
    let has_chain = kinds
        .iter()
        .any(|kind| matches!(kind, RowKind::Start | RowKind::Continuation));
    if !has_chain {
        if let Some((tokens, reason)) = kinds.iter().find_map(|kind| match kind {
            RowKind::Unrecognized(tokens, reason) => Some((tokens, reason)),
            _ => None,
        }) {
            let span = tokens_span(tokens).unwrap_or(math.content);
            diagnostics.push(
                Diagnostic::warning(
                    "mlp::latex::skipped",
                    "this display math is neither a relation nor a derivation, so it is not checked",
                    math.span,
                )
                .with_label("skipped")
                .with_related(span, reason.clone())
                .with_help(
                    "relations are lines `name_{indices} &= expression`; derivations start with \
                     `\\frac{\\partial L}{\\partial ...} &= ...`",
                ),
            );
            return BlockContent::empty(BlockKind::Skipped);
        }
    }
    build(&parts_of_rows, kinds, has_chain, end, context, diagnostics)
}

/// Builds the relations and derivations of a block whose rows are classified.
fn build(
    rows: &[Vec<Part>],
    kinds: Vec<RowKind>,
    has_chain: bool,
    end: Span,
    context: &mut Context,
    diagnostics: &mut Vec<Diagnostic>,
) -> BlockContent {
    let errors_before = diagnostics.len();
    let mut content = BlockContent::empty(if has_chain {
        BlockKind::Derivations
    } else {
        BlockKind::Relations
    });
    // The derivation that `&=` rows extend: `Some(None)` after a start row that failed to parse,
    // so that its continuation rows are skipped without more errors.
    let mut current: Option<Option<usize>> = None;
    for (parts, kind) in rows.iter().zip(kinds) {
        match kind {
            RowKind::Relation(element) => {
                current = None;
                if let Some(extra) = parts.get(2) {
                    diagnostics.push(
                        Diagnostic::error(
                            "mlp::latex::relation",
                            format!("a relation has one `=`, but `{}` has more", element.name.name),
                            extra.equals.unwrap_or(element.span),
                        )
                        .with_label("second `=`")
                        .with_help("write a chain of equal expressions as a derivation, starting with `\\frac{\\partial L}{\\partial ...}`"),
                    );
                    continue;
                }
                match parse_part(&parts[1], end, context) {
                    Ok(body) => content.relations.push(Relation {
                        span: element.span.join(body.span),
                        name: element.name,
                        indices: element.indices,
                        body,
                    }),
                    Err(diagnostic) => diagnostics.push(diagnostic),
                }
            }
            RowKind::Start => {
                current = Some(None);
                let start = match parse_expression(parts[0].tokens, end, context) {
                    Ok(start) => start,
                    Err(diagnostic) => {
                        diagnostics.push(diagnostic);
                        continue;
                    }
                };
                let steps = parse_steps(&parts[1..], &start, end, context, &mut content);
                let span = steps
                    .iter()
                    .fold(start.span, |span, step| span.join(step.span));
                content.derivations.push(Derivation { start, steps, span });
                current = Some(Some(content.derivations.len() - 1));
            }
            RowKind::Continuation => match current {
                Some(Some(at)) => {
                    let start = content.derivations[at].start.clone();
                    let steps = parse_steps(&parts[1..], &start, end, context, &mut content);
                    let derivation = &mut content.derivations[at];
                    for step in steps {
                        derivation.span = derivation.span.join(step.span);
                        derivation.steps.push(step);
                    }
                }
                Some(None) => {}
                None => {
                    let span = parts[1].equals.unwrap_or(end);
                    diagnostics.push(
                        Diagnostic::error(
                            "mlp::latex::continuation",
                            "this `&=` line continues no derivation",
                            span,
                        )
                        .with_label("no derivation above")
                        .with_help("start the chain with `\\frac{\\partial L}{\\partial ...} &= ...` on the line before"),
                    );
                }
            },
            RowKind::Invalid(diagnostic) => {
                current = None;
                diagnostics.push(diagnostic);
            }
            RowKind::Unrecognized(tokens, reason) => {
                // The `&=` rows below continue this line, which is already reported.
                current = Some(None);
                let span = tokens_span(tokens).unwrap_or(end);
                diagnostics.push(
                    Diagnostic::error(
                        "mlp::latex::left_side",
                        "the left side is neither a symbol with indices nor `\\frac{\\partial L}{\\partial ...}`",
                        span,
                    )
                    .with_label(reason)
                    .with_help("a block with derivations may hold only relations `h_i &= ...`, derivation starts and `&= ...` steps"),
                );
            }
        }
    }
    if diagnostics.len() > errors_before {
        content.kind = BlockKind::Invalid;
    }
    // A derivation whose every step is unread has nothing left to check.
    content
        .derivations
        .retain(|derivation| !derivation.steps.is_empty());
    diagnostics.extend(
        content
            .unread_steps
            .iter()
            .map(|unread| unread.diagnostic.clone()),
    );
    content
}

fn parse_part(part: &Part, end: Span, context: &mut Context) -> Result<Expr, Diagnostic> {
    if part.tokens.is_empty() {
        let at = part.equals.unwrap_or(end);
        return Err(Diagnostic::error(
            "mlp::latex::syntax",
            "expected an expression after `=`",
            at,
        )
        .with_label("nothing after this `=`"));
    }
    parse_expression(part.tokens, end, context)
}

/// Parses the steps of a row of the derivation of `start`. A step that cannot be read is
/// recorded in `content.unread_steps` and left out, so the steps after it still get parsed.
fn parse_steps(
    parts: &[Part],
    start: &Expr,
    end: Span,
    context: &mut Context,
    content: &mut BlockContent,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in parts {
        match parse_part(part, end, context) {
            Ok(expr) => {
                let span = part
                    .equals
                    .map_or(expr.span, |equals| equals.join(expr.span));
                steps.push(Step { expr, span });
            }
            Err(diagnostic) => {
                let written = tokens_span(part.tokens).unwrap_or(diagnostic.span);
                let span = part.equals.map_or(written, |equals| equals.join(written));
                content.unread_steps.push(UnreadStep {
                    start: start.clone(),
                    span,
                    diagnostic,
                });
            }
        }
    }
    steps
}

fn classify<'t>(parts: &[Part<'t>], end: Span, context: &mut Context) -> RowKind<'t> {
    let lhs = parts[0].tokens;
    if parts.len() == 1 {
        return RowKind::Unrecognized(lhs, "no `=` on this line".to_string());
    }
    if lhs.is_empty() {
        return RowKind::Continuation;
    }
    if starts_with_partial(lhs) {
        return RowKind::Start;
    }
    match parse_element(lhs, end, context) {
        Ok(element) => RowKind::Relation(element),
        Err(diagnostic) if diagnostic.code == "mlp::latex::index_collision" => {
            RowKind::Invalid(diagnostic)
        }
        Err(diagnostic) => RowKind::Unrecognized(lhs, diagnostic.message),
    }
}

fn tokens_span(tokens: &[Token]) -> Option<Span> {
    Some(tokens.first()?.span.join(tokens.last()?.span))
}

/// Checks that braces and environments are balanced and properly nested.
fn check_nesting(tokens: &[Token], math: DisplayMath) -> Result<(), Diagnostic> {
    let mut open: Vec<&Token> = Vec::new();
    for token in tokens {
        match &token.kind {
            TokenKind::Symbol('{') | TokenKind::Begin(_) => open.push(token),
            TokenKind::Symbol('}') => match open.last() {
                Some(top) if top.is_symbol('{') => {
                    open.pop();
                }
                // A `}` directly inside an environment is stray: the environment itself may
                // be closed properly further on.
                Some(top) => {
                    return Err(Diagnostic::error(
                        "mlp::latex::unbalanced_brace",
                        "this `}` closes no `{`",
                        token.span,
                    )
                    .with_label("unmatched `}`")
                    .with_related(top.span, "inside this environment")
                    .with_help("remove it, or add the missing `{` before it"))
                }
                None => {
                    return Err(Diagnostic::error(
                        "mlp::latex::unbalanced_brace",
                        "this `}` closes no `{`",
                        token.span,
                    )
                    .with_label("unmatched `}`")
                    .with_help("remove it, or add the missing `{` before it"))
                }
            },
            TokenKind::End(name) => match open.last().map(|top| (top, &top.kind)) {
                Some((_, TokenKind::Begin(begun))) if begun == name => {
                    open.pop();
                }
                Some((top, TokenKind::Begin(begun))) => {
                    return Err(Diagnostic::error(
                        "mlp::latex::mismatched_environment",
                        format!("`\\end{{{name}}}` closes `\\begin{{{begun}}}`"),
                        token.span,
                    )
                    .with_label("wrong environment")
                    .with_related(top.span, "opened here")
                    .with_help(format!("write `\\end{{{begun}}}`")))
                }
                Some((top, _)) => return Err(unclosed(top)),
                None => {
                    return Err(Diagnostic::error(
                        "mlp::latex::mismatched_environment",
                        format!("`\\end{{{name}}}` has no matching `\\begin{{{name}}}`"),
                        token.span,
                    )
                    .with_label("nothing to close")
                    .with_help(format!("add `\\begin{{{name}}}` or remove this line")))
                }
            },
            _ => {}
        }
    }
    match open.first() {
        Some(first) => Err(unclosed(first).with_related(
            Span::new(math.content.end, math.span.end),
            "the formula ends here",
        )),
        None => Ok(()),
    }
}

fn unclosed(token: &Token) -> Diagnostic {
    match &token.kind {
        TokenKind::Begin(name) => Diagnostic::error(
            "mlp::latex::unclosed_environment",
            format!("the environment `{name}` is not closed"),
            token.span,
        )
        .with_label("opened here")
        .with_help(format!("add `\\end{{{name}}}` before the closing `$$`")),
        _ => Diagnostic::error(
            "mlp::latex::unclosed_brace",
            "this `{` is not closed",
            token.span,
        )
        .with_label("unmatched `{`")
        .with_help("add the missing `}`"),
    }
}

/// Strips environments that wrap the whole block. Returns the body and whether it is an
/// alignment, whose rows end at `\\`.
fn unwrap_environments(tokens: &[Token]) -> (&[Token], bool) {
    let mut body = tokens;
    let mut aligned = false;
    while let (Some(first), Some(last)) = (body.first(), body.last()) {
        let (TokenKind::Begin(name), TokenKind::End(_)) = (&first.kind, &last.kind) else {
            break;
        };
        let is_wrapper = ALIGNMENT_ENVIRONMENTS.contains(&name.as_str())
            || EQUATION_ENVIRONMENTS.contains(&name.as_str());
        if !is_wrapper || matching_end(body) != Some(body.len() - 1) {
            break;
        }
        aligned |= ALIGNMENT_ENVIRONMENTS.contains(&name.as_str());
        body = &body[1..body.len() - 1];
    }
    (body, aligned)
}

/// Returns the position of the `\end` that closes the `\begin` at position 0.
fn matching_end(tokens: &[Token]) -> Option<usize> {
    let mut depth = 0usize;
    for (at, token) in tokens.iter().enumerate() {
        match token.kind {
            TokenKind::Begin(_) => depth += 1,
            TokenKind::End(_) => {
                depth -= 1;
                if depth == 0 {
                    return Some(at);
                }
            }
            _ => {}
        }
    }
    None
}

/// Returns, for each token, whether it is outside every brace group and nested environment.
fn top_level(tokens: &[Token]) -> Vec<bool> {
    let mut depth = 0usize;
    tokens
        .iter()
        .map(|token| match token.kind {
            TokenKind::Symbol('{') | TokenKind::Begin(_) => {
                depth += 1;
                false
            }
            TokenKind::Symbol('}') | TokenKind::End(_) => {
                depth = depth.saturating_sub(1);
                false
            }
            _ => depth == 0,
        })
        .collect()
}

fn split_rows(body: &[Token], aligned: bool) -> Result<Vec<&[Token]>, Diagnostic> {
    let levels = top_level(body);
    let mut rows = Vec::new();
    let mut row_start = 0;
    for (at, token) in body.iter().enumerate() {
        if !levels[at] {
            continue;
        }
        match token.kind {
            TokenKind::RowBreak if aligned => {
                rows.push(&body[row_start..at]);
                row_start = at + 1;
            }
            TokenKind::RowBreak => {
                return Err(Diagnostic::error(
                    "mlp::latex::row_break_outside_environment",
                    "`\\\\` outside an alignment environment",
                    token.span,
                )
                .with_label("line break here")
                .with_help("wrap the lines in `\\begin{align*} ... \\end{align*}`, or write one formula per `$$` block"));
            }
            TokenKind::Symbol('&') if !aligned => {
                return Err(Diagnostic::error(
                    "mlp::latex::stray_ampersand",
                    "`&` outside an alignment environment",
                    token.span,
                )
                .with_label("stray `&`")
                .with_help("remove it, or wrap the lines in `\\begin{align*} ... \\end{align*}`"));
            }
            _ => {}
        }
    }
    rows.push(&body[row_start..]);
    Ok(rows)
}

/// Splits a row at its top-level `=` signs after dropping labels: `\text{...}` at the start of
/// the row, and `&` with `\text{...}` at its end. Returns `None` for an empty row.
fn split_parts(row: &[Token]) -> Result<Option<Vec<Part<'_>>>, Diagnostic> {
    let mut row = row;
    while row
        .first()
        .is_some_and(|token| matches!(token.kind, TokenKind::Text(_)))
    {
        row = &row[1..];
    }
    let mut kept = row.len();
    while kept > 0
        && (matches!(row[kept - 1].kind, TokenKind::Text(_)) || row[kept - 1].is_symbol('&'))
    {
        kept -= 1;
    }
    if row[kept..]
        .iter()
        .any(|token| matches!(token.kind, TokenKind::Text(_)))
    {
        row = &row[..kept];
    }
    if row.is_empty() {
        return Ok(None);
    }
    let levels = top_level(row);
    let mut parts = Vec::new();
    let mut part_start = 0;
    let mut equals = None;
    for (at, token) in row.iter().enumerate() {
        if levels[at] && token.is_symbol('=') {
            parts.push(Part {
                tokens: &row[part_start..at],
                equals,
            });
            part_start = at + 1;
            equals = Some(token.span);
        }
    }
    parts.push(Part {
        tokens: &row[part_start..],
        equals,
    });
    // An `&` may sit right before or right after an `=`; any other is stray.
    let last = parts.len() - 1;
    for (position, part) in parts.iter_mut().enumerate() {
        if position < last && part.tokens.last().is_some_and(|t| t.is_symbol('&')) {
            part.tokens = &part.tokens[..part.tokens.len() - 1];
        }
        if part.equals.is_some() && part.tokens.first().is_some_and(|t| t.is_symbol('&')) {
            part.tokens = &part.tokens[1..];
        }
        let levels = top_level(part.tokens);
        if let Some(stray) = part
            .tokens
            .iter()
            .zip(levels)
            .find(|(token, top)| *top && token.is_symbol('&'))
        {
            return Err(Diagnostic::error(
                "mlp::latex::stray_ampersand",
                "`&` may only mark the alignment point next to `=`",
                stray.0.span,
            )
            .with_label("stray `&`")
            .with_help("remove it, or move it directly before the `=`"));
        }
    }
    Ok(Some(parts))
}
