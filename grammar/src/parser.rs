//! The pest parser and the lowering of its pairs to the syntax tree.

use std::sync::OnceLock;

use num_bigint::BigInt;
use num_rational::BigRational;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;

use crate::ast::{
    BinaryOp, Claim, Derivation, DimDecl, DimRef, Expr, ExprKind, Ident, Program, Relation,
    Statement, Step, TensorDecl, TensorRef, TensorRole,
};
use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// Expressions with more binary operators than this are rejected: the syntax tree nests one
/// level per operator, and every pass over it recurses.
pub const MAX_OPERATORS: usize = 2000;

/// Nesting deeper than this (parentheses, brackets, chains of prefix operators or powers) is
/// rejected before parsing, because the parser and every later pass recurse once per level.
pub const MAX_NESTING: usize = 64;

#[derive(pest_derive::Parser)]
#[grammar = "mlp.pest"]
struct MlpParser;

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        // Lowest precedence first. A sum binds tighter than `+` and looser than `*`, so
        // `sum_j a * b + c` is `(sum_j (a * b)) + c`, as in written mathematics.
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::prefix(Rule::sum))
            .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
            .op(Op::prefix(Rule::neg))
            .op(Op::infix(Rule::pow, Assoc::Right))
    })
}

/// Parses a model file into its syntax tree.
///
/// # Errors
///
/// Returns a diagnostic for a syntax error, or for nesting deeper than [`MAX_NESTING`].
pub fn parse(source: &str) -> Result<Program, Diagnostic> {
    check_nesting(source)?;
    let mut pairs = MlpParser::parse(Rule::program, source)
        .map_err(|error| with_keyword_hint(syntax_error(error), source))?;
    let program = pairs
        .next()
        .expect("the program rule always produces one pair");
    let mut statements = Vec::new();
    for pair in program.into_inner() {
        if pair.as_rule() == Rule::EOI {
            break;
        }
        statements.push(lower_statement(pair)?);
    }
    Ok(Program { statements })
}

/// Parses a single expression, as written on the right of a relation.
///
/// # Errors
///
/// Returns a diagnostic for a syntax error or for nesting deeper than [`MAX_NESTING`].
pub fn parse_expr(source: &str) -> Result<Expr, Diagnostic> {
    check_nesting(source)?;
    let mut pairs = MlpParser::parse(Rule::standalone_expr, source).map_err(syntax_error)?;
    let standalone = pairs
        .next()
        .expect("the standalone_expr rule always produces one pair");
    let expr = standalone
        .into_inner()
        .next()
        .expect("standalone_expr contains an expr");
    lower_expr(expr)
}

/// Rejects input nested deeper than [`MAX_NESTING`] before pest sees it, so that no recursive
/// pass can overflow the stack.
fn check_nesting(source: &str) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut in_comment = false;
    for (offset, ch) in source.char_indices() {
        match ch {
            '\n' => in_comment = false,
            '#' => in_comment = true,
            _ if in_comment => {}
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let span = Span::new(offset, offset + 1);
                    return Err(Diagnostic::error(
                        "mlp::syntax::too_deep",
                        format!("brackets are nested more than {MAX_NESTING} deep"),
                        span,
                    )
                    .with_label("this bracket is too deep")
                    .with_help("split the expression into several relations"));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Declaration keywords, for suggesting a fix when a statement starts with a misspelled one.
const KEYWORDS: &[&str] = &[
    "dim", "input", "target", "param", "fn", "loss", "claim", "derive",
];

/// Replaces the help of a syntax error on a line that starts with a misspelled keyword, such as
/// `imput x[N]`, by a suggestion.
fn with_keyword_hint(diagnostic: Diagnostic, source: &str) -> Diagnostic {
    let at = diagnostic.span.start.min(source.len());
    let line_start = source[..at].rfind('\n').map_or(0, |newline| newline + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    let (Some(first), Some(second)) = (words.next(), words.next()) else {
        return diagnostic;
    };
    let starts_name = second
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    if KEYWORDS.contains(&first) || !starts_name {
        return diagnostic;
    }
    match crate::check::closest(first, KEYWORDS.iter().copied()) {
        Some(keyword) => diagnostic.with_help(format!("did you mean `{keyword}`?")),
        None => diagnostic,
    }
}

fn syntax_error(error: pest::error::Error<Rule>) -> Diagnostic {
    let span = match error.location {
        pest::error::InputLocation::Pos(at) => Span::new(at, at),
        pest::error::InputLocation::Span((start, end)) => Span::new(start, end),
    };
    let expected = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives
                .iter()
                .filter_map(|rule| describe(*rule))
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let message = match expected.as_slice() {
        [] => "invalid syntax".to_string(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    };
    Diagnostic::error("mlp::syntax", message, span)
        .with_label("unexpected input here")
        .with_help(
            "each line is a declaration (`dim`, `input`, `target`, `param`, `fn`, `loss`), \
             a relation such as `a[i] = sum_j W[i, j] * x[j]`, a `claim` or a `derive` chain \
             whose continuation lines start with `=`",
        )
}

/// Names a grammar rule as the user would write it, or `None` for rules that would only add
/// noise to an error message.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of input",
        Rule::line_end => "end of line",
        Rule::ident | Rule::tensor_decl | Rule::dim_item | Rule::tensor_ref => "a name",
        Rule::index | Rule::index_list => "an index",
        Rule::integer => "an integer",
        Rule::number => "a number",
        Rule::expr | Rule::call_arg | Rule::call | Rule::paren | Rule::delta | Rule::partial => {
            "an expression"
        }
        Rule::step => "`=`",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::pow => "an operator",
        Rule::neg => "`-`",
        Rule::sum => "`sum_`",
        Rule::shape | Rule::opening_bracket => "`[`",
        Rule::closing_bracket => "`]`",
        Rule::opening_paren => "`(`",
        Rule::closing_paren => "`)`",
        Rule::equals => "`=`",
        Rule::dim_ref => "a dimension",
        Rule::primes => "`'`",
        Rule::relation
        | Rule::dim_decl
        | Rule::input_decl
        | Rule::target_decl
        | Rule::param_decl
        | Rule::fn_decl
        | Rule::loss_decl
        | Rule::claim
        | Rule::derivation => "a statement",
        _ => return None,
    })
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident::new(pair.as_str(), pair.as_span().into())
}

fn lower_statement(pair: Pair<'_, Rule>) -> Result<Statement, Diagnostic> {
    let rule = pair.as_rule();
    let span: Span = pair.as_span().into();
    let mut inner = pair.into_inner();
    Ok(match rule {
        Rule::dim_decl => {
            inner.next(); // the keyword
            Statement::Dim(inner.map(lower_dim_item).collect::<Result<_, _>>()?)
        }
        Rule::input_decl | Rule::target_decl | Rule::param_decl => {
            inner.next();
            let role = match rule {
                Rule::input_decl => TensorRole::Input,
                Rule::target_decl => TensorRole::Target,
                _ => TensorRole::Param,
            };
            Statement::Tensor(
                role,
                inner.map(lower_tensor_decl).collect::<Result<_, _>>()?,
            )
        }
        Rule::fn_decl => {
            inner.next();
            Statement::Function(inner.map(ident).collect())
        }
        Rule::loss_decl => {
            inner.next();
            Statement::Loss(ident(inner.next().expect("loss names a relation")))
        }
        Rule::relation => {
            let name = ident(inner.next().expect("a relation starts with a name"));
            let mut indices = Vec::new();
            let mut next = inner.next().expect("a relation has `=`");
            if next.as_rule() == Rule::index_list {
                indices = lower_index_list(next);
                next = inner.next().expect("a relation has `=`");
            }
            debug_assert_eq!(next.as_rule(), Rule::equals);
            let body = lower_expr(inner.next().expect("a relation has a body"))?;
            Statement::Relation(Relation {
                name,
                indices,
                body,
                span,
            })
        }
        Rule::claim => {
            inner.next(); // the keyword
            let lhs = lower_expr(inner.next().expect("a claim has a left side"))?;
            inner.next(); // `=`
            let rhs = lower_expr(inner.next().expect("a claim has a right side"))?;
            Statement::Claim(Claim { lhs, rhs, span })
        }
        Rule::derivation => {
            inner.next();
            let start = lower_expr(inner.next().expect("a derivation has a start"))?;
            let mut steps = Vec::new();
            for step in inner.filter(|pair| pair.as_rule() == Rule::step) {
                let step_span: Span = step.as_span().into();
                let expr = step
                    .into_inner()
                    .find(|pair| pair.as_rule() == Rule::expr)
                    .expect("a step has an expression");
                steps.push(Step {
                    expr: lower_expr(expr)?,
                    span: step_span,
                });
            }
            Statement::Derivation(Derivation { start, steps, span })
        }
        other => unreachable!("unexpected statement rule {other:?}"),
    })
}

fn lower_tensor_ref(pair: Pair<'_, Rule>) -> TensorRef {
    let span: Span = pair.as_span().into();
    let mut inner = pair.into_inner();
    let name = ident(inner.next().expect("a tensor reference has a name"));
    let indices = inner.next().map(lower_index_list).unwrap_or_default();
    TensorRef {
        name,
        indices,
        span,
    }
}

fn lower_dim_item(pair: Pair<'_, Rule>) -> Result<DimDecl, Diagnostic> {
    let mut inner = pair.into_inner();
    let name = ident(inner.next().expect("a dim item has a name"));
    let value = match inner.next() {
        Some(integer) => Some((parse_size(&integer)?, integer.as_span().into())),
        None => None,
    };
    Ok(DimDecl { name, value })
}

fn parse_size(pair: &Pair<'_, Rule>) -> Result<u64, Diagnostic> {
    let span: Span = pair.as_span().into();
    match pair.as_str().parse::<u64>() {
        Ok(0) => Err(
            Diagnostic::error("mlp::dim::zero", "a dimension must be at least 1", span)
                .with_label("zero size"),
        ),
        Ok(size) => Ok(size),
        Err(_) => Err(Diagnostic::error(
            "mlp::dim::too_large",
            format!("the size `{}` does not fit in 64 bits", pair.as_str()),
            span,
        )
        .with_label("too large")),
    }
}

fn lower_tensor_decl(pair: Pair<'_, Rule>) -> Result<TensorDecl, Diagnostic> {
    let mut inner = pair.into_inner();
    let name = ident(inner.next().expect("a tensor declaration has a name"));
    let mut shape = Vec::new();
    if let Some(shape_pair) = inner.next() {
        for item in shape_pair.into_inner() {
            if item.as_rule() != Rule::dim_ref {
                continue;
            }
            let dim = item.into_inner().next().expect("a dim_ref has one child");
            shape.push(match dim.as_rule() {
                Rule::integer => DimRef::Literal(parse_size(&dim)?, dim.as_span().into()),
                _ => DimRef::Named(ident(dim)),
            });
        }
    }
    Ok(TensorDecl { name, shape })
}

fn lower_index_list(pair: Pair<'_, Rule>) -> Vec<Ident> {
    pair.into_inner()
        .filter(|item| item.as_rule() == Rule::index)
        .map(ident)
        .collect()
}

/// Walks the flat operator sequence of an `expr` pair and rejects chains of prefix operators or
/// powers that would make the Pratt parser recurse too deeply.
fn check_operator_chains(pairs: &Pairs<'_, Rule>) -> Result<(), Diagnostic> {
    let mut prefix_run = 0usize;
    let mut power_run = 0usize;
    let mut operators = 0usize;
    for pair in pairs.clone() {
        if matches!(
            pair.as_rule(),
            Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::pow
        ) {
            operators += 1;
            if operators > MAX_OPERATORS {
                return Err(Diagnostic::error(
                    "mlp::syntax::too_long",
                    format!("the expression has more than {MAX_OPERATORS} operators"),
                    pair.as_span().into(),
                )
                .with_label("the limit is reached here")
                .with_help("split the expression into several relations"));
            }
        }
        match pair.as_rule() {
            Rule::neg | Rule::sum => prefix_run += 1,
            Rule::pow => power_run += 1,
            Rule::add | Rule::sub | Rule::mul | Rule::div => power_run = 0,
            _ => prefix_run = 0,
        }
        if prefix_run > MAX_NESTING || power_run > MAX_NESTING {
            return Err(Diagnostic::error(
                "mlp::syntax::too_deep",
                format!("more than {MAX_NESTING} operators are chained here"),
                pair.as_span().into(),
            )
            .with_label("this operator is too deep")
            .with_help("split the expression into several relations"));
        }
    }
    Ok(())
}

fn lower_expr(pair: Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
    debug_assert_eq!(pair.as_rule(), Rule::expr);
    let pairs = pair.into_inner();
    check_operator_chains(&pairs)?;
    pratt()
        .map_primary(lower_primary)
        .map_prefix(|op, operand| {
            let operand = operand?;
            let op_span: Span = op.as_span().into();
            let span = op_span.join(operand.span);
            Ok(match op.as_rule() {
                Rule::neg => Expr {
                    kind: ExprKind::Neg(Box::new(operand)),
                    span,
                },
                Rule::sum => Expr {
                    kind: ExprKind::Sum {
                        indices: op.into_inner().map(ident).collect(),
                        body: Box::new(operand),
                    },
                    span,
                },
                other => unreachable!("unexpected prefix {other:?}"),
            })
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let op = match op.as_rule() {
                Rule::add => BinaryOp::Add,
                Rule::sub => BinaryOp::Sub,
                Rule::mul => BinaryOp::Mul,
                Rule::div => BinaryOp::Div,
                Rule::pow => BinaryOp::Pow,
                other => unreachable!("unexpected infix {other:?}"),
            };
            let span = lhs.span.join(rhs.span);
            Ok(Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            })
        })
        .parse(pairs)
}

fn lower_primary(pair: Pair<'_, Rule>) -> Result<Expr, Diagnostic> {
    let span: Span = pair.as_span().into();
    let kind = match pair.as_rule() {
        Rule::number => ExprKind::Number(parse_number(pair.as_str(), span)?),
        Rule::paren => {
            let inner = pair.into_inner().find(|p| p.as_rule() == Rule::expr);
            ExprKind::Paren(Box::new(lower_expr(
                inner.expect("parentheses contain an expr"),
            )?))
        }
        Rule::call => {
            let mut function = None;
            let mut derivative = 0;
            let mut argument = None;
            for item in pair.into_inner() {
                match item.as_rule() {
                    Rule::ident => function = Some(ident(item)),
                    Rule::primes => derivative = item.as_str().len() as u32,
                    Rule::call_arg => {
                        let inner = item
                            .into_inner()
                            .next()
                            .expect("a call argument is an expr");
                        argument = Some(lower_expr(inner)?);
                    }
                    _ => {}
                }
            }
            ExprKind::Call {
                function: function.expect("a call has a name"),
                derivative,
                argument: Box::new(argument.expect("a call has an argument")),
            }
        }
        Rule::delta => {
            let mut indices = pair
                .into_inner()
                .filter(|p| p.as_rule() == Rule::index)
                .map(ident);
            let first = indices.next().expect("delta has two indices");
            let second = indices.next().expect("delta has two indices");
            ExprKind::Delta(first, second)
        }
        Rule::tensor_ref => {
            let TensorRef { name, indices, .. } = lower_tensor_ref(pair);
            ExprKind::Tensor { name, indices }
        }
        Rule::partial => {
            let mut operands = pair
                .into_inner()
                .filter(|p| p.as_rule() == Rule::tensor_ref)
                .map(lower_tensor_ref);
            let of = operands
                .next()
                .expect("a partial derivative has a numerator");
            let wrt = operands
                .next()
                .expect("a partial derivative has a denominator");
            ExprKind::Partial { of, wrt }
        }
        other => unreachable!("unexpected primary {other:?}"),
    };
    Ok(Expr { kind, span })
}

/// Reads a decimal literal as an exact rational: `0.1` is exactly 1/10.
pub(crate) fn parse_number(text: &str, span: Span) -> Result<BigRational, Diagnostic> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: BigInt = format!("{whole}{fraction}")
        .parse()
        .expect("the grammar admits digits only");
    let mut exponent10: i64 = -(fraction.len() as i64);
    if let Some(exponent) = exponent {
        let parsed: i64 = exponent
            .parse()
            .ok()
            .filter(|e: &i64| e.abs() <= 1000)
            .ok_or_else(|| {
                Diagnostic::error(
                    "mlp::number::exponent",
                    format!("the exponent of `{text}` is out of range"),
                    span,
                )
                .with_label("exponents from -1000 to 1000 are supported")
            })?;
        exponent10 += parsed;
    }
    let ten = BigInt::from(10);
    let scale = num_traits::pow(ten, exponent10.unsigned_abs() as usize);
    let value = if exponent10 >= 0 {
        BigRational::from_integer(digits * scale)
    } else {
        BigRational::new(digits, scale)
    };
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_exact() {
        let span = Span::default();
        assert_eq!(
            parse_number("0.1", span).unwrap(),
            BigRational::new(1.into(), 10.into())
        );
        assert_eq!(
            parse_number("2.50", span).unwrap(),
            BigRational::new(5.into(), 2.into())
        );
        assert_eq!(
            parse_number("1e3", span).unwrap(),
            BigRational::from_integer(1000.into())
        );
        assert_eq!(
            parse_number("15e-1", span).unwrap(),
            BigRational::new(3.into(), 2.into())
        );
    }
}
