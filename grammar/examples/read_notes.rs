//! Prints the DSL program read from a Markdown file and the diagnostics, one per line.
//!
//! `cargo run -p mlp-grammar --example read_notes -- notes.md`

use mlp_grammar::{check_markdown, line_column, read_markdown};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: read_notes FILE.md");
        std::process::exit(2);
    };
    let source = match std::fs::read_to_string(&path) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("cannot read {path}: {error}");
            std::process::exit(2);
        }
    };
    let (document, _) = read_markdown(&source);
    print!("{}", document.to_program());
    let (_, diagnostics) = check_markdown(&source);
    for diagnostic in diagnostics {
        let (line, column) = line_column(&source, diagnostic.span.start);
        println!(
            "{path}:{line}:{column}: {:?} {}: {} ({})",
            diagnostic.severity,
            diagnostic.code,
            diagnostic.message,
            diagnostic.help.unwrap_or_default()
        );
    }
}
