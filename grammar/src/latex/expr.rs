//! A recursive-descent parser from LaTeX math tokens to the DSL's [`Expr`].
//!
//! Precedence follows the DSL. `+` and `-` bind loosest, and `\sum_i` takes the product that
//! follows it up to the next `+` or `-` at the same level. Products are written with `\cdot`,
//! `\times`, `*`, `/` or by juxtaposition. A leading `-` negates the first factor, and `^` binds
//! tightest.

use std::collections::HashMap;

use num_bigint::BigInt;
use num_rational::BigRational;

use crate::ast::{BinaryOp, Expr, ExprKind, Ident, TensorRef};
use crate::diagnostic::Diagnostic;
use crate::latex::lexer::{Token, TokenKind};
use crate::parser::{parse_number, MAX_NESTING};
use crate::span::Span;

/// Greek letters usable as tensor names, index names or abstract functions. `\delta` is the
/// Kronecker delta and `\partial` marks derivatives, so neither is listed.
const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Theta",
    "Lambda",
    "Xi",
    "Pi",
    "Sigma",
    "Upsilon",
    "Phi",
    "Psi",
    "Omega",
];

/// LaTeX function commands and the built-in DSL function each one means.
const FUNCTION_COMMANDS: &[(&str, &str)] = &[
    ("tanh", "tanh"),
    ("exp", "exp"),
    ("log", "log"),
    ("ln", "log"),
    ("sin", "sin"),
    ("cos", "cos"),
];

/// Delimiter size commands; they change only how a bracket is drawn.
const SIZE_COMMANDS: &[&str] = &[
    "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl",
    "biggr", "Biggl", "Biggr", "bigm", "Bigm", "biggm", "Biggm",
];

/// State shared by the formulas of one Markdown file.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// Tensor names written with a layer superscript such as `W^{(1)}`, with their first span.
    pub layered: HashMap<String, Span>,
    /// For each index name of the current block, its LaTeX spelling and first span. Cleared at
    /// the start of every block.
    pub index_spellings: HashMap<String, (String, Span)>,
}

/// A tensor element as written on the left of a relation: its name, indices and whole span.
pub(crate) type Element = TensorRef;

pub(crate) struct ExprParser<'a> {
    tokens: &'a [Token],
    at: usize,
    /// The position reported when an error finds the end of the tokens.
    end: Span,
    depth: usize,
    context: &'a mut Context,
}

type Parsed<T> = Result<T, Diagnostic>;

/// Parses all of `tokens` as one expression. `end` is the position reported when the tokens run
/// out.
pub(crate) fn parse_expression(tokens: &[Token], end: Span, context: &mut Context) -> Parsed<Expr> {
    let mut parser = ExprParser::new(tokens, end, context);
    let expr = parser.expression()?;
    parser.expect_end()?;
    Ok(expr)
}

/// Parses all of `tokens` as one tensor element such as `\hat y_i` or `W^{(2)}_{jk}`.
pub(crate) fn parse_element(tokens: &[Token], end: Span, context: &mut Context) -> Parsed<Element> {
    let mut parser = ExprParser::new(tokens, end, context);
    let element = parser.element()?;
    parser.expect_end()?;
    Ok(element)
}

/// Returns whether the tokens start with `\frac{\partial`.
pub(crate) fn starts_with_partial(tokens: &[Token]) -> bool {
    matches!(tokens, [frac, open, partial, ..]
        if is_fraction(frac) && open.is_symbol('{') && partial.is_command("partial"))
}

fn is_fraction(token: &Token) -> bool {
    token.is_command("frac") || token.is_command("dfrac") || token.is_command("tfrac")
}

fn is_size(token: &Token) -> bool {
    matches!(&token.kind, TokenKind::Command(name) if SIZE_COMMANDS.contains(&name.as_str()))
}

fn is_greek(name: &str) -> bool {
    GREEK.contains(&name)
}

/// Describes a token for an error message.
fn describe(token: &Token) -> String {
    match &token.kind {
        TokenKind::Command(name) => format!("`\\{name}`"),
        TokenKind::RowBreak => "`\\\\`".to_string(),
        TokenKind::Begin(name) => format!("`\\begin{{{name}}}`"),
        TokenKind::End(name) => format!("`\\end{{{name}}}`"),
        TokenKind::Letter(letter) => format!("`{letter}`"),
        TokenKind::Number(text) => format!("`{text}`"),
        TokenKind::Symbol(symbol) => format!("`{symbol}`"),
        TokenKind::Text(_) => "`\\text{...}`".to_string(),
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.join(rhs.span);
    Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    }
}

fn number(value: i64, span: Span) -> Expr {
    Expr {
        kind: ExprKind::Number(BigRational::from_integer(BigInt::from(value))),
        span,
    }
}

impl<'a> ExprParser<'a> {
    fn new(tokens: &'a [Token], end: Span, context: &'a mut Context) -> Self {
        ExprParser {
            tokens,
            at: 0,
            end,
            depth: 0,
            context,
        }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.at)
    }

    fn peek_nth(&self, offset: usize) -> Option<&'a Token> {
        self.tokens.get(self.at + offset)
    }

    fn bump(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.at);
        if token.is_some() {
            self.at += 1;
        }
        token
    }

    fn here(&self) -> Span {
        self.peek().map_or(self.end, |token| token.span)
    }

    /// Returns the span from `start` to the end of the last consumed token.
    fn since(&self, start: Span) -> Span {
        match self
            .at
            .checked_sub(1)
            .and_then(|last| self.tokens.get(last))
        {
            Some(last) => start.join(last.span),
            None => start,
        }
    }

    fn unexpected(&self, expected: &str) -> Diagnostic {
        let (found, span) = match self.peek() {
            Some(token) => (describe(token), token.span),
            None => ("the end of the formula".to_string(), self.end),
        };
        Diagnostic::error(
            "mlp::latex::syntax",
            format!("expected {expected}, found {found}"),
            span,
        )
        .with_label(format!("expected {expected}"))
    }

    fn expect_symbol(&mut self, symbol: char) -> Parsed<Span> {
        match self.peek() {
            Some(token) if token.is_symbol(symbol) => {
                self.at += 1;
                Ok(token.span)
            }
            _ => Err(self.unexpected(&format!("`{symbol}`"))),
        }
    }

    fn expect_end(&self) -> Parsed<()> {
        match self.peek() {
            None => Ok(()),
            Some(token) => Err(self.unsupported_token(token)),
        }
    }

    fn skip_size(&mut self) {
        if self.peek().is_some_and(is_size) {
            self.at += 1;
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Diagnostic::error(
                "mlp::syntax::too_deep",
                format!("the formula is nested more than {MAX_NESTING} deep"),
                self.here(),
            )
            .with_label("nested too deep")
            .with_help("split the formula into several relations"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `term (('+' | '-') term)*`.
    pub(crate) fn expression(&mut self) -> Parsed<Expr> {
        self.enter()?;
        let mut lhs = self.term()?;
        while let Some(token) = self.peek() {
            let op = if token.is_symbol('+') {
                BinaryOp::Add
            } else if token.is_symbol('-') {
                BinaryOp::Sub
            } else {
                break;
            };
            self.at += 1;
            let rhs = self.term()?;
            lhs = binary(op, lhs, rhs);
        }
        self.leave();
        Ok(lhs)
    }

    /// Parses a product with an optional leading sign. As in the DSL, `-` negates the first
    /// factor.
    fn term(&mut self) -> Parsed<Expr> {
        let sign = match self.peek() {
            Some(token) if token.is_symbol('-') => {
                self.at += 1;
                Some(token.span)
            }
            Some(token) if token.is_symbol('+') => {
                self.at += 1;
                None
            }
            _ => None,
        };
        self.product(sign)
    }

    fn product(&mut self, negate: Option<Span>) -> Parsed<Expr> {
        let (mut lhs, mut ended) = self.factor_or_sum()?;
        if let Some(sign) = negate {
            let span = sign.join(lhs.span);
            lhs = Expr {
                kind: ExprKind::Neg(Box::new(lhs)),
                span,
            };
        }
        while !ended {
            let Some(token) = self.peek() else { break };
            let op =
                if token.is_command("cdot") || token.is_command("times") || token.is_symbol('*') {
                    self.at += 1;
                    BinaryOp::Mul
                } else if token.is_symbol('/') {
                    self.at += 1;
                    BinaryOp::Div
                } else if self.starts_factor() {
                    BinaryOp::Mul
                } else {
                    break;
                };
            let (rhs, was_sum) = self.factor_or_sum()?;
            ended = was_sum;
            lhs = binary(op, lhs, rhs);
        }
        Ok(lhs)
    }

    /// Returns a factor, and whether it was a sum that took the rest of the product.
    fn factor_or_sum(&mut self) -> Parsed<(Expr, bool)> {
        if self.peek().is_some_and(|token| token.is_command("sum")) {
            Ok((self.sum()?, true))
        } else {
            Ok((self.power()?, false))
        }
    }

    /// Returns whether the next token can begin a factor written by juxtaposition.
    fn starts_factor(&self) -> bool {
        let Some(token) = self.peek() else {
            return false;
        };
        match &token.kind {
            TokenKind::Number(_) | TokenKind::Letter(_) => true,
            TokenKind::Symbol(symbol) => matches!(symbol, '(' | '[' | '{'),
            TokenKind::Command(name) => {
                if SIZE_COMMANDS.contains(&name.as_str()) {
                    return name != "right"
                        && self.peek_nth(1).is_some_and(|next| {
                            next.is_symbol('(') || next.is_symbol('[') || next.is_command("lVert")
                        });
                }
                // Closing delimiters, operators and `\|` (which also closes a norm) end a
                // product. Every other command starts a factor, so that an unknown command is
                // reported by name.
                !matches!(
                    name.as_str(),
                    "cdot" | "times" | "rVert" | "vert" | "|" | "}" | "rangle"
                )
            }
            _ => false,
        }
    }

    /// `\sum_i body`, `\sum_{i, \ell} body` or `\sum_{ij} body`.
    fn sum(&mut self) -> Parsed<Expr> {
        self.enter()?;
        let start = self.bump().map_or(self.end, |token| token.span);
        if self.peek().is_some_and(|token| token.is_command("limits")) {
            self.at += 1;
        }
        if !self.peek().is_some_and(|token| token.is_symbol('_')) {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "a sum must name its index in a subscript",
                start,
            )
            .with_label("no summation index")
            .with_help("write the summed index, for example `\\sum_j`"));
        }
        self.at += 1;
        let indices = self.subscript_indices("a summation index")?;
        if self.peek().is_some_and(|token| token.is_symbol('^')) {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "summation bounds are not supported",
                self.here(),
            )
            .with_label("upper bound")
            .with_help("write `\\sum_j`: the range of `j` follows from the tensors it indexes"));
        }
        let body = self.product(None)?;
        self.leave();
        let span = start.join(body.span);
        Ok(Expr {
            kind: ExprKind::Sum {
                indices,
                body: Box::new(body),
            },
            span,
        })
    }

    /// Parses an atom with an optional `^exponent`.
    fn power(&mut self) -> Parsed<Expr> {
        let base = self.atom()?;
        if !self.peek().is_some_and(|token| token.is_symbol('^')) {
            return Ok(base);
        }
        self.at += 1;
        self.enter()?;
        let exponent = self.script_argument()?;
        self.leave();
        Ok(binary(BinaryOp::Pow, base, exponent))
    }

    /// Parses the argument of `^`: a braced group, one digit, or one symbol.
    fn script_argument(&mut self) -> Parsed<Expr> {
        let Some(token) = self.peek() else {
            return Err(self.unexpected("an exponent"));
        };
        match &token.kind {
            TokenKind::Symbol('{') => {
                self.at += 1;
                let inner = self.expression()?;
                self.expect_symbol('}')?;
                Ok(inner)
            }
            TokenKind::Number(text) if text.len() == 1 => self.atom(),
            TokenKind::Number(text) => Err(Diagnostic::error(
                "mlp::latex::unsupported",
                format!("`^{text}` raises to the power {} in LaTeX", &text[..1]),
                token.span,
            )
            .with_label("ambiguous exponent")
            .with_help(format!("write `^{{{text}}}`"))),
            TokenKind::Letter(_) => {
                let element = self.element()?;
                Ok(element_expr(element))
            }
            _ => Err(self.unexpected("an exponent")),
        }
    }

    fn atom(&mut self) -> Parsed<Expr> {
        let Some(token) = self.peek() else {
            return Err(self.unexpected("an expression"));
        };
        match &token.kind {
            TokenKind::Number(text) => {
                self.at += 1;
                let value = parse_number(text, token.span)?;
                Ok(Expr {
                    kind: ExprKind::Number(value),
                    span: token.span,
                })
            }
            TokenKind::Symbol('(') | TokenKind::Symbol('[') => self.bracketed(),
            TokenKind::Symbol('{') => {
                self.at += 1;
                let inner = self.expression()?;
                self.expect_symbol('}')?;
                Ok(inner)
            }
            TokenKind::Letter(letter) => {
                let element = self.element()?;
                let directly_applied = element.indices.is_empty()
                    && self
                        .peek()
                        .is_some_and(|next| next.is_symbol('(') || next.is_symbol('\''));
                if directly_applied {
                    return Err(Diagnostic::error(
                        "mlp::latex::unsupported",
                        format!("`{letter}(...)` could be a function or a product"),
                        element.span,
                    )
                    .with_label("ambiguous")
                    .with_help(format!(
                        "write `\\operatorname{{{letter}}}(...)` for a function, or `{letter} \\cdot (...)` for a product"
                    )));
                }
                Ok(element_expr(element))
            }
            TokenKind::Command(name) => self.command_atom(token, name),
            _ => Err(self.unsupported_token(token)),
        }
    }

    fn command_atom(&mut self, token: &'a Token, name: &str) -> Parsed<Expr> {
        match name {
            "frac" | "dfrac" | "tfrac" => self.fraction(),
            "sum" => self.sum(),
            "hat" | "widehat" | "ell" => Ok(element_expr(self.element()?)),
            "delta" => self.delta(),
            "lVert" | "|" => self.norm(),
            "operatorname" => {
                self.at += 1;
                let function = self.operator_name(token.span)?;
                self.call(function)
            }
            "partial" => Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "`\\partial` is supported only in `\\frac{\\partial ...}{\\partial ...}`",
                token.span,
            )
            .with_label("partial derivative outside a fraction")
            .with_help("write the derivative as `\\frac{\\partial L}{\\partial W_{jk}}`")),
            _ if SIZE_COMMANDS.contains(&name) => self.sized_atom(token),
            _ if is_greek(name) => {
                if self.is_call_ahead(1) {
                    self.at += 1;
                    let function = Ident::new(name, token.span);
                    self.call(function)
                } else {
                    Ok(element_expr(self.element()?))
                }
            }
            _ => {
                if let Some((_, builtin)) = FUNCTION_COMMANDS.iter().find(|(c, _)| *c == name) {
                    self.at += 1;
                    return self.call(Ident::new(*builtin, token.span));
                }
                Err(self.unsupported_token(token))
            }
        }
    }

    /// Parses a bracket opened with a size command: `\left(`, `\Big\lVert`, or `\left.` before
    /// an evaluation bar.
    fn sized_atom(&mut self, size: &Token) -> Parsed<Expr> {
        match self.peek_nth(1) {
            Some(next) if next.is_symbol('(') || next.is_symbol('[') => {
                self.at += 1;
                self.bracketed()
            }
            Some(next) if next.is_command("lVert") || next.is_command("|") => self.norm(),
            Some(next) if size.is_command("left") && next.is_symbol('.') => {
                self.at += 2;
                let inner = self.expression()?;
                if !self.peek().is_some_and(|token| token.is_command("right")) {
                    return Err(self.unexpected("`\\right|`"));
                }
                self.at += 1;
                self.evaluation_bar(inner, size.span)
            }
            _ => Err(self.unsupported_token(size)),
        }
    }

    fn unsupported_token(&self, token: &Token) -> Diagnostic {
        match &token.kind {
            TokenKind::Command(name) => Diagnostic::error(
                "mlp::latex::unknown_command",
                format!("unsupported LaTeX command `\\{name}`"),
                token.span,
            )
            .with_label("not understood here")
            .with_help(
                "formulas may use letters with sub- and superscripts, `\\hat`, `\\frac`, `\\sum`, \
                 `\\delta`, Greek letters, `\\operatorname`, `\\cdot`, `\\left(`, `\\right)` and \
                 `\\lVert ... \\rVert`",
            ),
            TokenKind::Text(_) => Diagnostic::error(
                "mlp::latex::unsupported",
                "`\\text{...}` inside a formula is not supported",
                token.span,
            )
            .with_label("text here")
            .with_help("put labels at the start of a line or after a final `&`"),
            TokenKind::Begin(name) => Diagnostic::error(
                "mlp::latex::unsupported",
                format!("the environment `{name}` is not supported inside a formula"),
                token.span,
            )
            .with_label("environment here"),
            TokenKind::Symbol('&') => Diagnostic::error(
                "mlp::latex::stray_ampersand",
                "`&` may only mark the alignment point before `=`",
                token.span,
            )
            .with_label("stray `&`")
            .with_help("remove it, or move it directly before the `=`"),
            _ => Diagnostic::error(
                "mlp::latex::syntax",
                format!("unexpected {}", describe(token)),
                token.span,
            )
            .with_label("not expected here"),
        }
    }

    /// `( expression )` or `[ expression ]`, each bracket optionally sized.
    fn bracketed(&mut self) -> Parsed<Expr> {
        let open = self.bump().map_or(self.end, |token| token.span);
        let closing = if self.tokens[self.at - 1].is_symbol('[') {
            ']'
        } else {
            ')'
        };
        let inner = self.expression()?;
        self.skip_size();
        self.expect_symbol(closing)?;
        let span = self.since(open);
        Ok(Expr {
            kind: ExprKind::Paren(Box::new(inner)),
            span,
        })
    }

    /// Returns whether a function application starts `offset` tokens ahead: primes or an opening
    /// bracket, optionally sized.
    fn is_call_ahead(&self, offset: usize) -> bool {
        match self.peek_nth(offset) {
            Some(next) if next.is_symbol('(') || next.is_symbol('\'') => true,
            Some(next) if is_size(next) => {
                self.peek_nth(offset + 1).is_some_and(|t| t.is_symbol('('))
            }
            _ => false,
        }
    }

    /// `f(x)` or `f''(x)`, with `f` already consumed.
    fn call(&mut self, function: Ident) -> Parsed<Expr> {
        let mut derivative = 0u32;
        while self.peek().is_some_and(|token| token.is_symbol('\'')) {
            self.at += 1;
            derivative += 1;
        }
        self.skip_size();
        if self.peek().is_some_and(|token| token.is_symbol('^')) {
            // `\tanh^2(x)` puts a power on the function name, which LaTeX allows but the reader does not.
            return Err(self.unexpected("`(`").with_help(format!(
                "write a power after the argument, as in `\\{0}(x)^2`, and a derivative with primes, as in `\\{0}'(x)`",
                function.name
            )));
        }
        self.expect_symbol('(')?;
        let argument = self.expression()?;
        self.skip_size();
        self.expect_symbol(')')?;
        let span = self.since(function.span);
        Ok(Expr {
            kind: ExprKind::Call {
                function,
                derivative,
                argument: Box::new(argument),
            },
            span,
        })
    }

    /// Reads the `{Name}` of `\operatorname{Name}`, lowercased so that `ReLU` names `relu`.
    fn operator_name(&mut self, command: Span) -> Parsed<Ident> {
        self.expect_symbol('{')?;
        let mut name = String::new();
        while let Some(token) = self.peek() {
            match &token.kind {
                TokenKind::Letter(letter) => name.push(letter.to_ascii_lowercase()),
                TokenKind::Symbol('}') => break,
                _ => return Err(self.unexpected("a letter")),
            }
            self.at += 1;
        }
        if name.is_empty() {
            return Err(self.unexpected("a function name"));
        }
        self.expect_symbol('}')?;
        Ok(Ident::new(name, self.since(command)))
    }

    /// Parses a tensor element: a letter, `\hat` letter or Greek letter, then an optional layer
    /// superscript `^{(n)}` and an optional subscript of indices, in either order.
    pub(crate) fn element(&mut self) -> Parsed<Element> {
        let start = self.here();
        let Some(token) = self.bump() else {
            return Err(self.unexpected("a symbol"));
        };
        let mut name = match &token.kind {
            TokenKind::Letter(letter) => letter.to_string(),
            TokenKind::Command(command) if command == "ell" => "l".to_string(),
            TokenKind::Command(command) if is_greek(command) => command.clone(),
            TokenKind::Command(command) if command == "hat" || command == "widehat" => {
                let braced = self.peek().is_some_and(|t| t.is_symbol('{'));
                if braced {
                    self.at += 1;
                }
                let base = match self.peek().map(|t| &t.kind) {
                    Some(TokenKind::Letter(letter)) => letter.to_string(),
                    Some(TokenKind::Command(command)) if is_greek(command) => command.clone(),
                    _ => return Err(self.unexpected("a letter under `\\hat`")),
                };
                self.at += 1;
                if braced {
                    self.expect_symbol('}')?;
                }
                format!("{base}hat")
            }
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a symbol"));
            }
        };
        let mut name_span = self.since(start);
        let mut indices: Option<Vec<Ident>> = None;
        let mut layered = false;
        loop {
            match self.peek() {
                Some(token) if token.is_symbol('_') && indices.is_none() => {
                    self.at += 1;
                    indices = Some(self.subscript_indices("an index")?);
                }
                Some(token) if token.is_symbol('^') && !layered && self.layer_ahead() => {
                    let layer_start = token.span;
                    self.at += 3; // `^`, `{`, `(`
                    let Some(TokenKind::Number(digits)) = self.peek().map(|t| &t.kind) else {
                        return Err(self
                            .unexpected("a layer number")
                            .with_help("layer superscripts such as `W^{(1)}` must be integers"));
                    };
                    if digits.contains('.') {
                        return Err(self.unexpected("an integer layer number"));
                    }
                    name.push_str(digits);
                    self.at += 1;
                    self.expect_symbol(')')?;
                    self.expect_symbol('}')?;
                    layered = true;
                    name_span = name_span.join(self.since(layer_start));
                }
                _ => break,
            }
        }
        if layered {
            self.context
                .layered
                .entry(name.clone())
                .or_insert(name_span);
        }
        Ok(TensorRef {
            name: Ident::new(name, name_span),
            indices: indices.unwrap_or_default(),
            span: self.since(start),
        })
    }

    /// Returns whether the tokens ahead are `^{(`, the start of a layer superscript.
    fn layer_ahead(&self) -> bool {
        self.peek_nth(1).is_some_and(|t| t.is_symbol('{'))
            && self.peek_nth(2).is_some_and(|t| t.is_symbol('('))
    }

    /// Reads the indices of a subscript, after the `_`: one letter, or a braced list split at commas
    /// and between letters, so `_{jk}` and `_{j, k}` both give `j` and `k`.
    fn subscript_indices(&mut self, what: &str) -> Parsed<Vec<Ident>> {
        let braced = self.peek().is_some_and(|t| t.is_symbol('{'));
        if !braced {
            let Some(token) = self.bump() else {
                return Err(self.unexpected(what));
            };
            return Ok(vec![self.index(token)?]);
        }
        let open = self.bump().map_or(self.end, |t| t.span);
        let mut indices = Vec::new();
        while let Some(token) = self.bump() {
            match &token.kind {
                TokenKind::Symbol('}') => {
                    if indices.is_empty() {
                        return Err(Diagnostic::error(
                            "mlp::latex::syntax",
                            "the subscript is empty",
                            self.since(open),
                        )
                        .with_label("no index"));
                    }
                    return Ok(indices);
                }
                TokenKind::Symbol(',') => {}
                _ => indices.push(self.index(token)?),
            }
        }
        Err(self.unexpected("`}`"))
    }

    /// Reads one index token and maps its spelling to a DSL index name: a letter stays itself,
    /// `\ell` becomes `l` and a Greek letter its name. Rejects two spellings of one name in the
    /// same block, such as `\ell` and `l`.
    fn index(&mut self, token: &Token) -> Parsed<Ident> {
        let (name, spelling) = match &token.kind {
            TokenKind::Letter(letter) => (letter.to_string(), letter.to_string()),
            TokenKind::Command(command) if command == "ell" => ("l".to_string(), "\\ell".into()),
            TokenKind::Command(command) if is_greek(command) => {
                (command.clone(), format!("\\{command}"))
            }
            TokenKind::Number(text) => {
                return Err(Diagnostic::error(
                    "mlp::latex::unsupported",
                    format!("the numeric index `{text}` is not supported"),
                    token.span,
                )
                .with_label("number as an index")
                .with_help(
                    "index with a letter such as `i`; the checker works with index variables",
                ));
            }
            _ => {
                return Err(Diagnostic::error(
                    "mlp::latex::unsupported",
                    format!("{} cannot be an index", describe(token)),
                    token.span,
                )
                .with_label("not an index")
                .with_help("indices are single letters, `\\ell` or Greek letters, separated by commas or written together as in `_{jk}`"));
            }
        };
        match self.context.index_spellings.get(&name) {
            Some((first, first_span)) if *first != spelling => {
                return Err(Diagnostic::error(
                    "mlp::latex::index_collision",
                    format!("`{spelling}` and `{first}` both become the index `{name}`"),
                    token.span,
                )
                .with_label(format!("read as `{name}`"))
                .with_related(*first_span, format!("also read as `{name}`"))
                .with_help(
                    "use one spelling for the index in this formula block, or rename one of them",
                ));
            }
            Some(_) => {}
            None => {
                self.context
                    .index_spellings
                    .insert(name.clone(), (spelling, token.span));
            }
        }
        Ok(Ident::new(name, token.span))
    }

    /// `\delta_{ij}`: the Kronecker delta of exactly two indices.
    fn delta(&mut self) -> Parsed<Expr> {
        let start = self.bump().map_or(self.end, |t| t.span);
        if !self.peek().is_some_and(|t| t.is_symbol('_')) {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "`\\delta` is read as the Kronecker delta and needs two indices",
                start,
            )
            .with_label("no indices")
            .with_help("write `\\delta_{ij}`"));
        }
        self.at += 1;
        let indices = self.subscript_indices("two indices")?;
        let span = self.since(start);
        match <[Ident; 2]>::try_from(indices) {
            Ok([a, b]) => Ok(Expr {
                kind: ExprKind::Delta(a, b),
                span,
            }),
            Err(indices) => Err(Diagnostic::error(
                "mlp::latex::unsupported",
                format!(
                    "the Kronecker delta needs two indices, not {}",
                    indices.len()
                ),
                span,
            )
            .with_label("wrong number of indices")
            .with_help("write `\\delta_{ij}`")),
        }
    }

    /// `\frac{a}{b}`: a partial derivative when both parts start with `\partial`, otherwise a
    /// quotient.
    fn fraction(&mut self) -> Parsed<Expr> {
        let start = self.bump().map_or(self.end, |t| t.span);
        let is_partial = self.peek_nth(1).is_some_and(|t| t.is_command("partial"));
        self.expect_symbol('{')?;
        if !is_partial {
            let numerator = self.expression()?;
            self.expect_symbol('}')?;
            self.expect_symbol('{')?;
            let denominator = self.expression()?;
            self.expect_symbol('}')?;
            let mut quotient = binary(BinaryOp::Div, numerator, denominator);
            quotient.span = self.since(start);
            return Ok(quotient);
        }
        let of = self.partial_part()?;
        self.expect_symbol('{')?;
        if !self.peek().is_some_and(|t| t.is_command("partial")) {
            return Err(self
                .unexpected("`\\partial`")
                .with_help("write the denominator as `{\\partial W_{jk}}`"));
        }
        let wrt = self.partial_part()?;
        let partial = Expr {
            kind: ExprKind::Partial { of, wrt },
            span: self.since(start),
        };
        // `\bigg\vert_{x = a}` right after the fraction evaluates it at a point.
        // `\right|` belongs to an enclosing `\left.`, which reads the bar itself.
        let bar_at = usize::from(
            self.peek()
                .is_some_and(|t| is_size(t) && !t.is_command("right")),
        );
        let bar = self
            .peek_nth(bar_at)
            .is_some_and(|t| t.is_command("vert") || t.is_symbol('|'));
        if bar {
            self.at += bar_at;
            return self.evaluation_bar(partial, start);
        }
        Ok(partial)
    }

    /// `\partial element }`, the inside of one part of a partial-derivative fraction.
    fn partial_part(&mut self) -> Parsed<TensorRef> {
        self.at += 1; // `\partial`
        if self.peek().is_some_and(|t| t.is_symbol('^')) {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "higher partial derivatives are not supported",
                self.here(),
            )
            .with_label("order of the derivative")
            .with_help("write a first derivative, or apply `'` twice: `\\sigma''(a_i)`"));
        }
        let element = self.element()?;
        if !self.peek().is_some_and(|t| t.is_symbol('}')) {
            return Err(self
                .unexpected("`}`")
                .with_help("each part of `\\frac{\\partial ...}{\\partial ...}` holds one symbol with its indices"));
        }
        self.at += 1;
        Ok(element)
    }

    /// Reads `|_{x = value}` (the bar token is next) after the derivative `derivative` of an
    /// abstract function, and returns the function's derivative applied to `value`:
    /// `\frac{\partial \sigma}{\partial x}\big\vert_{x = a_j}` becomes `sigma'(a[j])`.
    fn evaluation_bar(&mut self, derivative: Expr, start: Span) -> Parsed<Expr> {
        let bar = self.bump().map_or(self.end, |t| t.span);
        let ExprKind::Partial { of, wrt } = &derivative.kind else {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "an evaluation bar must follow a derivative `\\frac{\\partial f}{\\partial x}`",
                bar,
            )
            .with_label("evaluation bar"));
        };
        if !of.indices.is_empty() || !wrt.indices.is_empty() {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                "an evaluated derivative must be of a function by its plain argument",
                derivative.span,
            )
            .with_label("indexed symbols here")
            .with_help("write `\\frac{\\partial \\sigma}{\\partial x}\\bigg\\vert_{x = a_j}`"));
        }
        self.expect_symbol('_')?;
        self.expect_symbol('{')?;
        let variable = self.element()?;
        if variable.name.name != wrt.name.name || !variable.indices.is_empty() {
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                format!(
                    "the evaluation point names `{}`, but the derivative is by `{}`",
                    variable.name.name, wrt.name.name
                ),
                variable.span,
            )
            .with_label("different variable")
            .with_related(wrt.span, "differentiated by this")
            .with_help(format!("write `_{{{} = ...}}`", wrt.name.name)));
        }
        self.expect_symbol('=')?;
        let value = self.expression()?;
        self.expect_symbol('}')?;
        Ok(Expr {
            kind: ExprKind::Call {
                function: of.name.clone(),
                derivative: 1,
                argument: Box::new(value),
            },
            span: self.since(start),
        })
    }

    /// `\lVert v \rVert_2^2` (sizes allowed): the sum of squares of `v` over its one free index,
    /// or the square root of that sum without `^2`.
    fn norm(&mut self) -> Parsed<Expr> {
        self.skip_size();
        let open = self.bump().map_or(self.end, |t| t.span);
        let inner = self.expression()?;
        self.skip_size();
        if !self
            .peek()
            .is_some_and(|t| t.is_command("rVert") || t.is_command("|"))
        {
            return Err(self.unexpected("`\\rVert`"));
        }
        self.at += 1;
        if self.peek().is_some_and(|t| t.is_symbol('_')) {
            self.at += 1;
            if !self.script_is_two() {
                return Err(Diagnostic::error(
                    "mlp::latex::unsupported",
                    "only the Euclidean norm `_2` is supported",
                    self.here(),
                )
                .with_label("norm subscript")
                .with_help("write `\\lVert v \\rVert_2^2` for the sum of squares"));
            }
        }
        let squared = self.peek().is_some_and(|t| t.is_symbol('^')) && {
            let save = self.at;
            self.at += 1;
            let two = self.script_is_two();
            if !two {
                self.at = save;
            }
            two
        };
        let free = free_indices(&inner);
        let [index] = free.as_slice() else {
            let found = if free.is_empty() {
                "none".to_string()
            } else {
                free.join(", ")
            };
            return Err(Diagnostic::error(
                "mlp::latex::unsupported",
                format!("the norm's argument must have exactly one free index, found {found}"),
                inner.span,
            )
            .with_label("vector inside the norm")
            .with_help("write the vector by its elements, for example `\\lVert \\hat y_i - y_i \\rVert_2^2`"));
        };
        let span = self.since(open);
        let body = binary(
            BinaryOp::Pow,
            Expr {
                span: inner.span,
                kind: ExprKind::Paren(Box::new(inner)),
            },
            number(2, span),
        );
        // The binder's span is the opening bar, which no index occurrence shares.
        let sum = Expr {
            kind: ExprKind::Sum {
                indices: vec![Ident::new(index.clone(), open)],
                body: Box::new(body),
            },
            span,
        };
        if squared {
            return Ok(sum);
        }
        Ok(Expr {
            kind: ExprKind::Call {
                function: Ident::new("sqrt", open),
                derivative: 0,
                argument: Box::new(sum),
            },
            span,
        })
    }

    /// Consumes `2` or `{2}` and returns whether it was there.
    fn script_is_two(&mut self) -> bool {
        let is_two = |token: Option<&Token>| {
            token.is_some_and(|t| t.kind == TokenKind::Number("2".to_string()))
        };
        if is_two(self.peek()) {
            self.at += 1;
            return true;
        }
        let braced = self.peek().is_some_and(|t| t.is_symbol('{'))
            && is_two(self.peek_nth(1))
            && self.peek_nth(2).is_some_and(|t| t.is_symbol('}'));
        if braced {
            self.at += 3;
        }
        braced
    }
}

fn element_expr(element: Element) -> Expr {
    Expr {
        kind: ExprKind::Tensor {
            name: element.name,
            indices: element.indices,
        },
        span: element.span,
    }
}

/// Returns the index names used in `expr` and not summed inside it, in order of appearance.
fn free_indices(expr: &Expr) -> Vec<String> {
    fn visit(expr: &Expr, bound: &mut Vec<String>, free: &mut Vec<String>) {
        let mut note = |index: &Ident, bound: &Vec<String>| {
            if !bound.contains(&index.name) && !free.contains(&index.name) {
                free.push(index.name.clone());
            }
        };
        match &expr.kind {
            ExprKind::Tensor { indices, .. } => indices.iter().for_each(|i| note(i, bound)),
            ExprKind::Delta(a, b) => {
                note(a, bound);
                note(b, bound);
            }
            ExprKind::Partial { of, wrt } => {
                of.indices
                    .iter()
                    .chain(&wrt.indices)
                    .for_each(|i| note(i, bound));
            }
            ExprKind::Number(_) => {}
            ExprKind::Call { argument, .. } => visit(argument, bound, free),
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => visit(inner, bound, free),
            ExprKind::Binary { lhs, rhs, .. } => {
                visit(lhs, bound, free);
                visit(rhs, bound, free);
            }
            ExprKind::Sum { indices, body } => {
                let depth = bound.len();
                bound.extend(indices.iter().map(|i| i.name.clone()));
                visit(body, bound, free);
                bound.truncate(depth);
            }
        }
    }
    let mut free = Vec::new();
    visit(expr, &mut Vec::new(), &mut free);
    free
}
