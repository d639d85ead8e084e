//! Rendering of diagnostics with the source line and a caret under the span.

use mlp_grammar::Diagnostic;

/// Renders diagnostics as text, without color, for files named `name`.
pub fn render(name: &str, source: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = miette::Report::new(diagnostic.clone())
            .with_source_code(miette::NamedSource::new(name, source.to_string()));
        // Rendering into a String cannot fail for want of space.
        let _ = handler.render_report(&mut out, report.as_ref());
        out.push('\n');
    }
    out
}
