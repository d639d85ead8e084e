//! The LaTeX tokenizer. It reads the math of one display block and keeps byte offsets into the
//! whole Markdown file, so that every later diagnostic points at the Markdown line and column.

use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// One LaTeX token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// `\name`, stored without the backslash; `\{`, `\}` and `\|` are stored as `{`, `}`, `|`.
    Command(String),
    /// `\\`, the end of a row.
    RowBreak,
    /// `\begin{name}`.
    Begin(String),
    /// `\end{name}`.
    End(String),
    /// A Latin letter; in math mode every letter is its own symbol.
    Letter(char),
    /// An unsigned integer or decimal.
    Number(String),
    /// Any other single character, such as `{`, `_`, `&` or `=`.
    Symbol(char),
    /// The content of `\text{...}` and its relatives, kept verbatim.
    Text(String),
}

/// A token with its span in the Markdown file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

impl Token {
    pub fn is_symbol(&self, symbol: char) -> bool {
        self.kind == TokenKind::Symbol(symbol)
    }

    pub fn is_command(&self, name: &str) -> bool {
        matches!(&self.kind, TokenKind::Command(command) if command == name)
    }
}

/// Commands that only change spacing or numbering, so the tokenizer drops them.
const IGNORED_COMMANDS: &[&str] = &[
    "quad",
    "qquad",
    "enspace",
    "thinspace",
    "medspace",
    "thickspace",
    "negthinspace",
    "displaystyle",
    "textstyle",
    "nonumber",
    "notag",
];

/// Commands whose braced argument is prose, kept as one [`TokenKind::Text`].
const TEXT_COMMANDS: &[&str] = &["text", "textrm", "textit", "textbf", "mbox"];

/// Commands whose braced argument is a label for cross-references, dropped with it.
const LABEL_COMMANDS: &[&str] = &["label", "tag"];

/// Splits `source[content]` into tokens whose spans are offsets into `source`.
///
/// # Errors
///
/// Returns a diagnostic for a backslash at the end of the block, a `\begin` or `\end` without a
/// `{name}`, or a `\text` argument whose braces do not close.
pub(crate) fn tokenize(source: &str, content: Span) -> Result<Vec<Token>, Diagnostic> {
    let mut lexer = Lexer {
        source,
        at: content.start,
        end: content.end,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    source: &'a str,
    at: usize,
    end: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.source[self.at..self.end].chars().next()
    }

    fn push(&mut self, kind: TokenKind, start: usize) {
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.at),
        });
    }

    fn run(&mut self) -> Result<(), Diagnostic> {
        while let Some(ch) = self.peek() {
            let start = self.at;
            self.at += ch.len_utf8();
            match ch {
                ' ' | '\t' | '\n' | '\r' | '~' => {}
                '%' => {
                    while let Some(next) = self.peek() {
                        if next == '\n' {
                            break;
                        }
                        self.at += next.len_utf8();
                    }
                }
                '\\' => self.command(start)?,
                'a'..='z' | 'A'..='Z' => self.push(TokenKind::Letter(ch), start),
                '0'..='9' => {
                    self.digits();
                    let rest = &self.source[self.at..self.end];
                    if rest.starts_with('.') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
                    {
                        self.at += 1;
                        self.digits();
                    }
                    let text = self.source[start..self.at].to_string();
                    self.push(TokenKind::Number(text), start);
                }
                _ => self.push(TokenKind::Symbol(ch), start),
            }
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn command(&mut self, start: usize) -> Result<(), Diagnostic> {
        let Some(next) = self.peek() else {
            return Err(Diagnostic::error(
                "mlp::latex::syntax",
                "the math ends with a lone backslash",
                Span::new(start, self.at),
            )
            .with_label("backslash without a command")
            .with_help("remove the backslash, or complete the command"));
        };
        if !next.is_ascii_alphabetic() {
            self.at += next.len_utf8();
            match next {
                '\\' => self.push(TokenKind::RowBreak, start),
                ',' | ';' | ':' | '!' | ' ' | '>' => {}
                _ => self.push(TokenKind::Command(next.to_string()), start),
            }
            return Ok(());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.at += 1;
        }
        let name = &self.source[start + 1..self.at];
        match name {
            "begin" | "end" => {
                let environment = self.environment_name(start, name)?;
                let kind = if name == "begin" {
                    TokenKind::Begin(environment)
                } else {
                    TokenKind::End(environment)
                };
                self.push(kind, start);
            }
            _ if IGNORED_COMMANDS.contains(&name) => {}
            _ if TEXT_COMMANDS.contains(&name) || LABEL_COMMANDS.contains(&name) => {
                let is_text = TEXT_COMMANDS.contains(&name);
                let argument = self.braced_verbatim(start, name)?;
                if is_text {
                    self.push(TokenKind::Text(argument), start);
                }
            }
            _ => {
                let name = name.to_string();
                self.push(TokenKind::Command(name), start);
            }
        }
        Ok(())
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// Reads the `{name}` after `\begin` or `\end`.
    fn environment_name(&mut self, start: usize, command: &str) -> Result<String, Diagnostic> {
        self.skip_spaces();
        let rest = &self.source[self.at..self.end];
        let name_length = rest
            .strip_prefix('{')
            .and_then(|inner| inner.find('}'))
            .filter(|&length| {
                let name = &rest[1..1 + length];
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '*')
            });
        let Some(length) = name_length else {
            return Err(Diagnostic::error(
                "mlp::latex::syntax",
                format!("`\\{command}` must be followed by an environment name in braces"),
                Span::new(start, start + 1 + command.len()),
            )
            .with_label("missing `{name}`")
            .with_help(format!("write `\\{command}{{align*}}`")));
        };
        let name = rest[1..1 + length].to_string();
        self.at += length + 2;
        Ok(name)
    }

    /// Reads a braced argument verbatim, nested braces included.
    fn braced_verbatim(&mut self, start: usize, command: &str) -> Result<String, Diagnostic> {
        self.skip_spaces();
        if self.peek() != Some('{') {
            return Err(Diagnostic::error(
                "mlp::latex::syntax",
                format!("`\\{command}` must be followed by a braced argument"),
                Span::new(start, start + 1 + command.len()),
            )
            .with_label("missing `{...}`")
            .with_help(format!("write `\\{command}{{...}}`")));
        }
        let open = self.at;
        self.at += 1;
        let mut depth = 1usize;
        while let Some(ch) = self.peek() {
            self.at += ch.len_utf8();
            match ch {
                '\\' => {
                    // An escaped brace does not count.
                    if let Some(escaped) = self.peek() {
                        self.at += escaped.len_utf8();
                    }
                }
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.source[open + 1..self.at - 1].to_string());
                    }
                }
                _ => {}
            }
        }
        Err(Diagnostic::error(
            "mlp::latex::unclosed_brace",
            format!("the argument of `\\{command}` is not closed"),
            Span::new(open, open + 1),
        )
        .with_label("this `{` has no matching `}`")
        .with_help("add the missing `}`"))
    }
}
