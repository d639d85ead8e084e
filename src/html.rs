//! A self-contained HTML page of a check: every derivation with each step's verdict, the math
//! as MathML. No scripts, no fonts or styles from the network.

use crate::mathml::{equation, escape};
use crate::verdicts::{CheckReport, ItemReport};

const STYLE: &str = "
body { font-family: Georgia, 'Times New Roman', serif; margin: 2em auto; max-width: 60em; color: #222; background: #fff; }
h1 { font-size: 1.5em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; }
td { padding: 0.4em 0.6em; vertical-align: middle; border-bottom: 1px solid #eee; }
td.where { font-family: monospace; color: #666; white-space: nowrap; }
td.math { font-size: 1.15em; }
.verdict { font-family: sans-serif; font-size: 0.9em; padding: 0.15em 0.5em; border-radius: 0.3em; white-space: nowrap; }
.equal { background: #d8f0d8; color: #145214; }
.unequal { background: #f8d4d4; color: #7a1010; }
.unchecked { background: #f4ecc8; color: #5a4a00; }
.detail { font-family: sans-serif; font-size: 0.85em; color: #7a1010; }
.fix, .diagnostic { font-family: sans-serif; background: #f4ecc8; padding: 0.6em 1em; border-radius: 0.3em; margin: 0.5em 0; }
.summary { font-family: sans-serif; }
";

/// Renders the report as an HTML page.
pub fn render(report: &CheckReport) -> String {
    let mut body = String::new();
    let equal = report.items.iter().filter(|i| i.is_equal()).count();
    body.push_str(&format!(
        "<h1>Derivation check: {}</h1>\n<p class=\"summary\">{equal} of {} claims and steps equal.</p>\n",
        escape(&report.file),
        report.items.len()
    ));
    for diagnostic in report.diagnostics.iter().filter(|d| d.severity == "error") {
        body.push_str(&format!(
            "<div class=\"diagnostic\"><strong>{}:{}</strong> {} <code>[{}]</code>{}</div>\n",
            diagnostic.line,
            diagnostic.column,
            escape(&diagnostic.message),
            diagnostic.code,
            diagnostic
                .help
                .as_ref()
                .map(|h| format!("<br>help: {}", escape(h)))
                .unwrap_or_default()
        ));
    }
    for fix in &report.fixes {
        body.push_str(&format!(
            "<div class=\"fix\">Applied the suggested fix at line {}, column {}: <code>{}</code> → <code>{}</code>. Every step below is checked under the fixed model.</div>\n",
            fix.line,
            fix.column,
            escape(&fix.from),
            escape(&fix.to)
        ));
    }
    let mut open: Option<&str> = None;
    for item in &report.items {
        let group = item.group();
        if open != Some(group) {
            if open.is_some() {
                body.push_str("</table>\n");
            }
            let title = match (item.kind, &item.start) {
                ("step", Some(start)) => format!(
                    "Derivation of {}",
                    crate::mathml::block(start).replace("display=\"block\"", "display=\"inline\"")
                ),
                _ => "Claims".to_string(),
            };
            body.push_str(&format!("<h2>{title}</h2>\n<table>\n"));
            open = Some(group);
        }
        body.push_str(&row(item));
    }
    if open.is_some() {
        body.push_str("</table>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Derivation check: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(&report.file)
    )
}

fn row(item: &ItemReport) -> String {
    let lhs = if item.kind == "claim" {
        item.start.as_ref()
    } else {
        None
    };
    let math = item
        .ast
        .as_ref()
        .map(|ast| equation(lhs, ast))
        .unwrap_or_else(|| format!("<code>{}</code>", escape(&item.expression)));
    let (class, label) = match item.verdict {
        "canonical" => ("equal", "equal (canonical form)".to_string()),
        "numeric" => (
            "equal",
            format!("equal (numeric, {} trials)", item.trials.unwrap_or(0)),
        ),
        "not-equal" => ("unequal", "NOT EQUAL".to_string()),
        _ => ("unchecked", "unchecked".to_string()),
    };
    let mut detail = String::new();
    if let Some(slip) = &item.slip {
        detail.push_str(&format!("likely slip: {}", escape(&slip.description)));
    }
    if let Some(counterexample) = &item.counterexample {
        if !detail.is_empty() {
            detail.push_str("<br>");
        }
        detail.push_str(&format!(
            "counterexample: {}",
            escape(&counterexample.summary())
        ));
    }
    if let Some(reason) = &item.reason {
        detail.push_str(&escape(reason));
    }
    let step = item
        .step
        .map_or_else(|| "claim".to_string(), |s| format!("step {s}"));
    format!(
        "<tr><td class=\"where\">{}:{}<br>{step}</td><td class=\"math\">{math}{}</td><td><span class=\"verdict {class}\">{label}</span></td></tr>\n",
        item.line,
        item.column,
        if detail.is_empty() {
            String::new()
        } else {
            format!("<div class=\"detail\">{detail}</div>")
        }
    )
}
