//! Finds the display math of a Markdown file: `$$ ... $$`, `\[ ... \]`, and the environments
//! `equation`, `align`, `gather` and `displaymath` (starred or not) outside `$$`.
//!
//! Fenced code blocks, inline code spans and inline math (`$ ... $`) are skipped, and `\$` is a
//! literal dollar sign. A display block may span lines and several may share a line.
//! NOTE: indented code blocks (four spaces) and HTML blocks are not recognized, so a `$$` inside
//! them is read as math. Blockquote markers (`> `) on the lines of a display block stay in its
//! content, where the LaTeX reader rejects them.

use crate::diagnostic::Diagnostic;
use crate::span::Span;

/// A display-math block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayMath {
    /// The math between the delimiters.
    pub content: Span,
    /// The block with both delimiters.
    pub span: Span,
}

/// Finds every display-math block of a Markdown file, in order.
///
/// Returns the blocks and a diagnostic for a `$$` that is never closed.
pub fn display_math(source: &str) -> (Vec<DisplayMath>, Vec<Diagnostic>) {
    let mut blocks = Vec::new();
    let mut diagnostics = Vec::new();
    let bytes = source.as_bytes();
    let mut at = 0usize;
    let mut line_start = true;
    while at < bytes.len() {
        if line_start {
            if let Some(end) = fenced_code_end(source, at) {
                at = end;
                continue;
            }
        }
        let byte = bytes[at];
        line_start = byte == b'\n';
        match byte {
            b'\\' => match latex_display(source, at) {
                Some(Ok(block)) => {
                    at = block.span.end;
                    blocks.push(block);
                }
                Some(Err(diagnostic)) => {
                    diagnostics.push(diagnostic);
                    break;
                }
                None => at += 2,
            },
            b'`' => at = code_span_end(source, at),
            b'$' if bytes.get(at + 1) == Some(&b'$') => {
                let content_start = at + 2;
                match find_closing_display(source, content_start) {
                    Some(close) => {
                        blocks.push(DisplayMath {
                            content: Span::new(content_start, close),
                            span: Span::new(at, close + 2),
                        });
                        at = close + 2;
                    }
                    None => {
                        diagnostics.push(
                            Diagnostic::error(
                                "mlp::markdown::unclosed_display",
                                "this display math is never closed",
                                Span::new(at, content_start),
                            )
                            .with_label("`$$` without a closing `$$`")
                            .with_help("close the formula with `$$`"),
                        );
                        break;
                    }
                }
            }
            b'$' => at = inline_math_end(source, at),
            _ => at += 1,
        }
    }
    (blocks, diagnostics)
}

/// Environments read as display math when they stand outside `$$`, as LaTeX allows.
const DISPLAY_ENVIRONMENTS: &[&str] = &[
    "equation",
    "equation*",
    "align",
    "align*",
    "gather",
    "gather*",
    "displaymath",
];

/// Reads the LaTeX display math that starts at the backslash at `at`: `\[ ... \]`, or a
/// display environment such as `\begin{equation} ... \end{equation}`, whose content keeps the
/// environment for the block reader to unwrap. Returns `None` when no display math starts there,
/// and a diagnostic when it is never closed.
fn latex_display(source: &str, at: usize) -> Option<Result<DisplayMath, Diagnostic>> {
    let rest = &source[at..];
    if rest.starts_with("\\[") {
        let content_start = at + 2;
        return Some(match source[content_start..].find("\\]") {
            Some(found) => {
                let close = content_start + found;
                Ok(DisplayMath {
                    content: Span::new(content_start, close),
                    span: Span::new(at, close + 2),
                })
            }
            None => Err(Diagnostic::error(
                "mlp::markdown::unclosed_display",
                "this display math is never closed",
                Span::new(at, content_start),
            )
            .with_label("`\\[` without a closing `\\]`")
            .with_help("close the formula with `\\]`")),
        });
    }
    let name = rest.strip_prefix("\\begin{")?.split('}').next()?;
    if !DISPLAY_ENVIRONMENTS.contains(&name) {
        return None;
    }
    let opening = format!("\\begin{{{name}}}");
    let closing = format!("\\end{{{name}}}");
    Some(match source[at..].find(&closing) {
        Some(found) => {
            let end = at + found + closing.len();
            Ok(DisplayMath {
                content: Span::new(at, end),
                span: Span::new(at, end),
            })
        }
        None => Err(Diagnostic::error(
            "mlp::markdown::unclosed_display",
            format!("the environment `{name}` is never closed"),
            Span::new(at, at + opening.len()),
        )
        .with_label(format!("`{opening}` without `{closing}`"))
        .with_help(format!("close the environment with `{closing}`"))),
    })
}

/// Returns the offset after a fenced code block that starts at the line beginning at `at`, or
/// `None` if no fence starts there. An unclosed fence runs to the end of the file, as in
/// CommonMark.
fn fenced_code_end(source: &str, at: usize) -> Option<usize> {
    let line = &source[at..];
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let fence_char = line[indent..].chars().next()?;
    if fence_char != '`' && fence_char != '~' {
        return None;
    }
    let fence_length = line[indent..]
        .chars()
        .take_while(|&c| c == fence_char)
        .count();
    if fence_length < 3 {
        return None;
    }
    let mut offset = at + line.find('\n').map_or(line.len(), |end| end + 1);
    while offset < source.len() {
        let rest = &source[offset..];
        let line_end = rest.find('\n').map_or(rest.len(), |end| end + 1);
        let trimmed = rest[..line_end].trim();
        let closes = trimmed.len() >= fence_length && trimmed.chars().all(|c| c == fence_char);
        offset += line_end;
        if closes {
            return Some(offset);
        }
    }
    Some(source.len())
}

/// Returns the offset after an inline code span that opens at `at`, or after its backticks if
/// it never closes.
fn code_span_end(source: &str, at: usize) -> usize {
    let run = source[at..].bytes().take_while(|&b| b == b'`').count();
    let mut offset = at + run;
    while let Some(found) = source[offset..].find('`') {
        let start = offset + found;
        let length = source[start..].bytes().take_while(|&b| b == b'`').count();
        if length == run {
            return start + length;
        }
        offset = start + length;
    }
    at + run
}

/// Returns the offset of the `$$` that closes a display block whose content starts at `from`.
fn find_closing_display(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut at = from;
    while at + 1 < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'$' if bytes[at + 1] == b'$' => return Some(at),
            _ => at += 1,
        }
    }
    None
}

/// Returns the offset after inline math that opens at `at`. A `$` with no closing `$` before
/// the paragraph ends is a literal dollar sign.
fn inline_math_end(source: &str, at: usize) -> usize {
    let bytes = source.as_bytes();
    let mut offset = at + 1;
    while offset < bytes.len() {
        match bytes[offset] {
            b'\\' => offset += 2,
            b'$' => return offset + 1,
            b'\n' if bytes.get(offset + 1) == Some(&b'\n') => break,
            _ => offset += 1,
        }
    }
    at + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(source: &str) -> Vec<&str> {
        let (blocks, diagnostics) = display_math(source);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        blocks
            .iter()
            .map(|block| &source[block.content.start..block.content.end])
            .collect()
    }

    #[test]
    fn blocks_on_one_line() {
        assert_eq!(contents("a $$x$$ b $$y$$\n"), ["x", "y"]);
    }

    #[test]
    fn block_across_lines() {
        assert_eq!(contents("$$\na &= b\n$$\n"), ["\na &= b\n"]);
    }

    #[test]
    fn inline_math_skipped() {
        assert_eq!(contents("cost $L = 1$ and $$y$$"), ["y"]);
        assert_eq!(contents("price \\$5 and $$y$$"), ["y"]);
        assert_eq!(contents("a lone $ sign\n\nthen $$y$$"), ["y"]);
    }

    #[test]
    fn code_skipped() {
        assert_eq!(contents("```\n$$x$$\n```\n$$y$$"), ["y"]);
        assert_eq!(contents("~~~~md\n$$x$$\n~~~~\n$$y$$"), ["y"]);
        assert_eq!(contents("use `$$x$$` or ``a`$$`` then $$y$$"), ["y"]);
        assert!(contents("```\n$$x$$\n").is_empty());
    }

    #[test]
    fn unclosed_display_reported() {
        let source = "text\n$$ a = b\nmore\n";
        let (blocks, diagnostics) = display_math(source);
        assert!(blocks.is_empty());
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, "mlp::markdown::unclosed_display");
        assert_eq!(diagnostics[0].span, Span::new(5, 7));
    }

    #[test]
    fn multibyte_text_is_safe() {
        assert_eq!(contents("é ∂ `ü` $$∂$$ ß"), ["∂"]);
    }
}
