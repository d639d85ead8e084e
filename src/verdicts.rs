//! `mlp check`: the semantic checks, then a verdict on every claim and derivation step, for a
//! DSL file or a Markdown note.
//!
//! When the model's relations have a slip whose diagnostic suggests one replacement (an unbound
//! index where the left side has a single free index), the suggestion is applied. The steps are
//! then checked under the fixed model, and the report lists every fix applied. A claim or step
//! that the semantic checks reject is left out of the model, so that the others still get a
//! verdict: it is not equal for a free-index mismatch, and unchecked with the diagnostic as the
//! reason otherwise. The step after a rejected step is compared with the last valid expression
//! before it. When the model itself has errors, every claim and step is listed as unchecked.

use mlp_grammar::ast::{Derivation, Expr, ExprKind, Ident, Program, Statement};
use mlp_grammar::{check, check_markdown, line_column, parse, read_markdown};
use mlp_grammar::{CheckedModel, Diagnostic, Span, UnreadStep};
use mlp_symbolic::equivalence::NumericOptions;
use mlp_symbolic::eval::Array;
use mlp_symbolic::verdict::{check_model, Item, Slip, Verdict};
use serde::Serialize;

/// The kind of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The DSL.
    Dsl,
    /// LaTeX display math in Markdown.
    Markdown,
}

impl SourceKind {
    /// Markdown for `.md` and `.markdown` files, the DSL otherwise.
    pub fn from_path(path: &std::path::Path) -> SourceKind {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("md" | "markdown") => SourceKind::Markdown,
            _ => SourceKind::Dsl,
        }
    }
}

/// A suggested fix that was applied before checking the steps.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedFix {
    /// The diagnostic's code.
    pub code: &'static str,
    /// 1-based line of the fixed text.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text as written, in DSL notation.
    pub from: String,
    /// The replacement, in DSL notation.
    pub to: String,
    /// The byte range of the fixed text.
    #[serde(skip)]
    pub span: Span,
}

/// A diagnostic of the semantic checks, positioned.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticEntry {
    /// `error` or `warning`.
    pub severity: &'static str,
    /// The stable code.
    pub code: &'static str,
    /// The problem, in one line.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// How to fix it.
    pub help: Option<String>,
}

/// The verdict on one claim or step, positioned in the file.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    /// The file checked, as given.
    pub file: String,
    /// `claim` or `step`.
    pub kind: &'static str,
    /// The derivative a derivation computes (`∂L/∂W2[j, k]`), or the claim's left side.
    pub of: String,
    /// The step's number in its derivation, from 1; absent for a claim.
    pub step: Option<usize>,
    /// 1-based line of the claim, or of the step's `=`.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The claimed expression, in DSL notation.
    pub expression: String,
    /// `canonical`, `numeric`, `not-equal` or `unchecked`.
    pub verdict: &'static str,
    /// Random points tried, for a numeric verdict.
    pub trials: Option<usize>,
    /// The likely slip, when not equal.
    pub slip: Option<SlipReport>,
    /// A point where the sides differ, when not equal.
    pub counterexample: Option<CounterexampleReport>,
    /// The reason no verdict was reached, when unchecked.
    pub reason: Option<String>,
    /// The index into the model's derivations, or `None` for a claim.
    #[serde(skip)]
    pub derivation: Option<usize>,
    /// The AST of the claimed expression, for rendering.
    #[serde(skip)]
    pub ast: Option<Expr>,
    /// The AST of the derivation's start or the claim's left side.
    #[serde(skip)]
    pub start: Option<Expr>,
}

impl ItemReport {
    /// Returns the group it is listed under: its derivation's start, or empty for a claim.
    pub fn group(&self) -> &str {
        match self.kind {
            "claim" => "",
            _ => &self.of,
        }
    }

    /// Whether the claim or step was shown equal.
    pub fn is_equal(&self) -> bool {
        matches!(self.verdict, "canonical" | "numeric")
    }
}

/// A slip in machine-readable form.
#[derive(Debug, Clone, Serialize)]
pub struct SlipReport {
    /// A kebab-case kind such as `constant-factor`.
    pub kind: &'static str,
    /// The slip in words.
    pub description: String,
}

/// A counterexample in machine-readable form.
#[derive(Debug, Clone, Serialize)]
pub struct CounterexampleReport {
    /// Size of every named dimension.
    pub sizes: std::collections::BTreeMap<String, usize>,
    /// Value of every free index, counted from 1.
    pub indices: std::collections::BTreeMap<String, usize>,
    /// The previous step's (or the derived gradient's) value.
    pub expected: f64,
    /// The checked step's value.
    pub claimed: f64,
    /// Values of the tensors either side reads, nested by axis.
    pub tensors: std::collections::BTreeMap<String, serde_json::Value>,
    /// Stand-ins used for abstract functions.
    pub functions: std::collections::BTreeMap<String, String>,
}

/// Everything `mlp check` found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The file, as given.
    pub file: String,
    /// Diagnostics of the semantic checks on the file as written.
    pub diagnostics: Vec<DiagnosticEntry>,
    /// Fixes applied before the steps were checked.
    pub fixes: Vec<AppliedFix>,
    /// One entry per claim and derivation step, in source order.
    pub items: Vec<ItemReport>,
    /// Diagnostics as given by the checks, for rendering with source context.
    #[serde(skip)]
    pub raw_diagnostics: Vec<Diagnostic>,
    /// Whether the relations as written have errors, fixed or not.
    pub model_errors: bool,
    /// The checked model's size, such as "4 relations, 4 parameters, loss `L`".
    pub model: Option<String>,
}

impl CheckReport {
    /// Whether every claim and step is equal and the model has no errors left unfixed.
    pub fn all_equal(&self) -> bool {
        !self.model_errors && self.fixes.is_empty() && self.items.iter().all(ItemReport::is_equal)
    }
}

/// Checks a file's model, claims and derivations.
pub fn check_source(file: &str, source: &str, kind: SourceKind) -> CheckReport {
    let (first_model, diagnostics) = first_check(source, kind);
    let mut report = CheckReport {
        file: file.to_string(),
        diagnostics: diagnostics
            .iter()
            .map(|d| diagnostic_entry(source, d))
            .collect(),
        fixes: Vec::new(),
        items: Vec::new(),
        raw_diagnostics: diagnostics.clone(),
        model_errors: first_model.is_none(),
        model: None,
    };
    let mut working = source.to_string();
    let model = match first_model {
        Some(model) => Some(model),
        None => recover(source, kind, &diagnostics, &mut report).and_then(|fixed| {
            working = fixed;
            let (model, diagnostics) = first_check(&working, kind);
            model.or_else(|| set_aside_chains(&working, kind, &diagnostics, &mut report))
        }),
    };
    let unread = match kind {
        SourceKind::Dsl => Vec::new(),
        SourceKind::Markdown => read_markdown(&working).0.unread_steps,
    };
    list_unread_steps(&working, &unread, &mut report);
    let Some(model) = model else {
        list_unchecked(&working, kind, "the model has errors", &mut report);
        renumber_steps(&working, kind, &unread, &mut report.items);
        report.items.sort_by_key(|item| (item.line, item.column));
        return report;
    };
    // Errors in claims and derivations alone leave a model to check the rest with.
    report.model_errors = !report.fixes.is_empty();
    report.model = Some(format!(
        "{} relations, {} parameters, loss `{}`",
        model.relations.len(),
        model.params().count(),
        model.loss().name()
    ));
    match check_model(&model, NumericOptions::default()) {
        Ok(result) => {
            for item in result.items {
                report
                    .items
                    .push(item_report(file, &working, &model, &item));
            }
        }
        Err(error) => {
            report.model_errors = true;
            let reason = format!("the model cannot be lowered: {}", error.message);
            list_unchecked(&working, kind, &reason, &mut report);
            let diagnostic = Diagnostic::error("mlp::lower", error.message, error.span);
            report
                .diagnostics
                .push(diagnostic_entry(source, &diagnostic));
            report.raw_diagnostics.push(diagnostic);
        }
    }
    renumber_steps(&working, kind, &unread, &mut report.items);
    report.items.sort_by_key(|item| (item.line, item.column));
    report
}

fn first_check(source: &str, kind: SourceKind) -> (Option<CheckedModel>, Vec<Diagnostic>) {
    match kind {
        SourceKind::Dsl => mlp_grammar::parse_and_check(source),
        SourceKind::Markdown => check_markdown(source),
    }
}

fn program_of(source: &str, kind: SourceKind) -> Option<Program> {
    match kind {
        SourceKind::Dsl => parse(source).ok(),
        SourceKind::Markdown => {
            let (document, diagnostics) = read_markdown(source);
            (!document.has_blocking_errors(&diagnostics) && !document.relations.is_empty())
                .then(|| document.to_program())
        }
    }
}

/// Applies the suggested fix of every error in a relation to the source text. Returns the fixed
/// source, or `None` when an error outside claims and derivations has no fix to apply. The
/// fixes replace index names only, so lines stay where they were.
fn recover(
    source: &str,
    kind: SourceKind,
    diagnostics: &[Diagnostic],
    report: &mut CheckReport,
) -> Option<String> {
    let mut program = program_of(source, kind)?;
    let mut edits: Vec<(Span, String)> = Vec::new();
    for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
        if in_chain(&program, diagnostic.span).is_some() {
            continue;
        }
        let (from, to, mut changed) = apply_fix(&mut program, diagnostic)?;
        let (line, column) = line_column(source, diagnostic.span.start);
        report.fixes.push(AppliedFix {
            code: diagnostic.code,
            line,
            column,
            from,
            to,
            span: diagnostic.span,
        });
        edits.append(&mut changed);
    }
    edits.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut fixed = source.to_string();
    for (span, text) in edits {
        if span.end <= fixed.len()
            && fixed.is_char_boundary(span.start)
            && fixed.is_char_boundary(span.end)
        {
            fixed.replace_range(span.start..span.end, &text);
        }
    }
    Some(fixed)
}

/// Sets aside what fails its own checks and returns the model of what remains, if it checks
/// cleanly. A step with an error is reported with its diagnostic and left out of its derivation,
/// so the step after it is compared with the last valid expression before it. A claim, or a
/// derivation whose start has an error, is set aside whole, with each of its steps reported.
fn set_aside_chains(
    source: &str,
    kind: SourceKind,
    diagnostics: &[Diagnostic],
    report: &mut CheckReport,
) -> Option<CheckedModel> {
    let mut program = program_of(source, kind)?;
    let mut diagnostics = diagnostics.to_vec();
    // Setting a chain or step aside can only remove errors, so a few rounds reach a clean model
    // or an error outside the chains.
    for _ in 0..4 {
        let errors: Vec<&Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).collect();
        let mut located = Vec::new();
        for diagnostic in errors {
            let at = in_chain(&program, diagnostic.span)?;
            located.push((
                at,
                step_at(&program.statements[at], diagnostic.span),
                diagnostic,
            ));
        }
        let mut whole: Vec<usize> = Vec::new();
        for (at, step, diagnostic) in &located {
            if step.is_none() && !whole.contains(at) {
                whole.push(*at);
                report.items.extend(rejected_items(
                    &report.file,
                    source,
                    &program.statements[*at],
                    diagnostic,
                ));
            }
        }
        let mut steps: Vec<(usize, usize)> = Vec::new();
        for (at, step, diagnostic) in &located {
            let Some(step) = *step else { continue };
            if whole.contains(at) || steps.contains(&(*at, step)) {
                continue;
            }
            steps.push((*at, step));
            if let Statement::Derivation(derivation) = &program.statements[*at] {
                report.items.push(rejected_step(
                    &report.file,
                    source,
                    derivation,
                    step,
                    diagnostic,
                ));
            }
        }
        steps.sort_unstable();
        for &(at, step) in steps.iter().rev() {
            if let Statement::Derivation(derivation) = &mut program.statements[at] {
                derivation.steps.remove(step);
                if derivation.steps.is_empty() && !whole.contains(&at) {
                    whole.push(at);
                }
            }
        }
        whole.sort_unstable();
        for at in whole.into_iter().rev() {
            program.statements.remove(at);
        }
        let (model, next) = check(program.clone());
        if model.is_some() {
            return model;
        }
        diagnostics = next;
    }
    None
}

/// The position of the derivation step of `statement` that contains `span`.
fn step_at(statement: &Statement, span: Span) -> Option<usize> {
    let Statement::Derivation(derivation) = statement else {
        return None;
    };
    derivation
        .steps
        .iter()
        .position(|step| step.span.start <= span.start && span.end <= step.span.end)
}

/// A fix: the DSL text before and after, and the source edits (span, replacement).
type Fix = (String, String, Vec<(Span, String)>);

/// The position in `program` of the claim or derivation that contains `span`.
fn in_chain(program: &Program, span: Span) -> Option<usize> {
    program.statements.iter().position(|statement| {
        let whole = match statement {
            Statement::Claim(claim) => claim.span,
            Statement::Derivation(derivation) => derivation.span,
            _ => return false,
        };
        whole.start <= span.start && span.end <= whole.end
    })
}

/// Applies a diagnostic's single suggested replacement (`did you mean `b1[i]`?`) to the tensor
/// or delta at its span. Returns the DSL text before and after, and the source edits: each
/// renamed index occurrence with its new name.
fn apply_fix(program: &mut Program, diagnostic: &Diagnostic) -> Option<Fix> {
    if diagnostic.code != "mlp::index::unbound" {
        return None;
    }
    let help = diagnostic.help.as_deref()?;
    let start = help.find("did you mean `")? + "did you mean `".len();
    let end = start + help[start..].find('`')?;
    let suggestion = mlp_grammar::parse_expr(&help[start..end]).ok()?;
    let replacement: Vec<String> = match &suggestion.kind {
        ExprKind::Tensor { indices, .. } => indices.iter().map(|i| i.name.clone()).collect(),
        ExprKind::Delta(a, b) => vec![a.name.clone(), b.name.clone()],
        _ => return None,
    };
    for statement in &mut program.statements {
        if let Statement::Relation(relation) = statement {
            if let Some(change) = replace_at(&mut relation.body, diagnostic.span, &replacement) {
                return Some(change);
            }
        }
    }
    None
}

fn replace_at(expr: &mut Expr, span: Span, names: &[String]) -> Option<Fix> {
    if expr.span == span {
        let before = expr.to_string();
        let mut edits = Vec::new();
        let mut rename = |idents: &mut [&mut Ident]| {
            if idents.len() != names.len() {
                return false;
            }
            for (ident, name) in idents.iter_mut().zip(names) {
                if &ident.name != name {
                    edits.push((ident.span, name.clone()));
                    ident.name.clone_from(name);
                }
            }
            true
        };
        let renamed = match &mut expr.kind {
            ExprKind::Tensor { indices, .. } => rename(&mut indices.iter_mut().collect::<Vec<_>>()),
            ExprKind::Delta(a, b) => rename(&mut [a, b]),
            _ => false,
        };
        return renamed.then(|| (before, expr.to_string(), edits));
    }
    match &mut expr.kind {
        ExprKind::Call { argument, .. } => replace_at(argument, span, names),
        ExprKind::Sum { body, .. } => replace_at(body, span, names),
        ExprKind::Neg(inner) | ExprKind::Paren(inner) => replace_at(inner, span, names),
        ExprKind::Binary { lhs, rhs, .. } => {
            replace_at(lhs, span, names).or_else(|| replace_at(rhs, span, names))
        }
        _ => None,
    }
}

/// The verdicts on a claim, or on every step of a derivation, that the semantic checks reject
/// as a whole because of `diagnostic`.
fn rejected_items(
    file: &str,
    source: &str,
    statement: &Statement,
    diagnostic: &Diagnostic,
) -> Vec<ItemReport> {
    match statement {
        Statement::Claim(claim) => {
            let mut item =
                unchecked_item(file, source, "claim", &claim.lhs, claim.span, &claim.rhs);
            set_rejected_verdict(&mut item, diagnostic);
            vec![item]
        }
        Statement::Derivation(derivation) => (0..derivation.steps.len())
            .map(|step| rejected_step(file, source, derivation, step, diagnostic))
            .collect(),
        _ => Vec::new(),
    }
}

/// The verdict on step `step` (counted from 0) of a derivation, rejected because of
/// `diagnostic`.
fn rejected_step(
    file: &str,
    source: &str,
    derivation: &Derivation,
    step: usize,
    diagnostic: &Diagnostic,
) -> ItemReport {
    let written = &derivation.steps[step];
    let mut item = unchecked_item(
        file,
        source,
        "step",
        &derivation.start,
        written.span,
        &written.expr,
    );
    item.step = Some(step + 1);
    set_rejected_verdict(&mut item, diagnostic);
    item
}

/// A claim or step without a verdict yet: `unchecked`, with no reason.
fn unchecked_item(
    file: &str,
    source: &str,
    kind: &'static str,
    start: &Expr,
    span: Span,
    expression: &Expr,
) -> ItemReport {
    let (line, column) = line_column(source, span.start);
    ItemReport {
        file: file.to_string(),
        kind,
        of: start.to_string(),
        step: None,
        line,
        column,
        expression: expression.to_string(),
        verdict: "unchecked",
        trials: None,
        slip: None,
        counterexample: None,
        reason: None,
        derivation: None,
        ast: Some(expression.clone()),
        start: Some(start.clone()),
    }
}

/// A free-index mismatch is a verdict: the sides differ in shape. Any other error leaves the
/// item unchecked, with the diagnostic as the reason.
fn set_rejected_verdict(item: &mut ItemReport, diagnostic: &Diagnostic) {
    if diagnostic.code == "mlp::index::free_mismatch" {
        item.verdict = "not-equal";
        item.slip = Some(SlipReport {
            kind: "free-index-mismatch",
            description: diagnostic.message.clone(),
        });
    } else {
        item.verdict = "unchecked";
        item.reason = Some(diagnostic.message.clone());
    }
}

/// Lists every claim and step of `source` that has no verdict yet as unchecked with `reason`,
/// so that every claim and step has an entry even when nothing could be checked.
fn list_unchecked(source: &str, kind: SourceKind, reason: &str, report: &mut CheckReport) {
    let Some(program) = program_of(source, kind) else {
        return;
    };
    let mut pending = Vec::new();
    for statement in &program.statements {
        match statement {
            Statement::Claim(claim) => pending.push(unchecked_item(
                &report.file,
                source,
                "claim",
                &claim.lhs,
                claim.span,
                &claim.rhs,
            )),
            Statement::Derivation(derivation) => {
                for (number, step) in derivation.steps.iter().enumerate() {
                    let mut item = unchecked_item(
                        &report.file,
                        source,
                        "step",
                        &derivation.start,
                        step.span,
                        &step.expr,
                    );
                    item.step = Some(number + 1);
                    pending.push(item);
                }
            }
            _ => {}
        }
    }
    for mut item in pending {
        let listed = report
            .items
            .iter()
            .any(|other| (other.line, other.column) == (item.line, item.column));
        if !listed {
            item.reason = Some(reason.to_string());
            report.items.push(item);
        }
    }
}

/// Lists every derivation step whose LaTeX could not be read as unchecked, with the error as
/// the reason.
fn list_unread_steps(source: &str, unread: &[UnreadStep], report: &mut CheckReport) {
    for step in unread {
        let (line, column) = line_column(source, step.span.start);
        let written = source.get(step.span.start..step.span.end).unwrap_or("");
        let expression = written.trim_start_matches('=').trim().to_string();
        report.items.push(ItemReport {
            file: report.file.clone(),
            kind: "step",
            of: step.start.to_string(),
            step: None,
            line,
            column,
            expression,
            verdict: "unchecked",
            trials: None,
            slip: None,
            counterexample: None,
            reason: Some(step.diagnostic.message.clone()),
            derivation: None,
            ast: None,
            start: Some(step.start.clone()),
        });
    }
}

/// Numbers every step as written in `source`, so that a step after one set aside or unread keeps
/// its number.
fn renumber_steps(source: &str, kind: SourceKind, unread: &[UnreadStep], items: &mut [ItemReport]) {
    let Some(program) = program_of(source, kind) else {
        return;
    };
    let mut numbers = std::collections::HashMap::new();
    for statement in &program.statements {
        if let Statement::Derivation(derivation) = statement {
            let mut starts: Vec<usize> = derivation.steps.iter().map(|s| s.span.start).collect();
            starts.extend(
                unread
                    .iter()
                    .filter(|step| step.start.span == derivation.start.span)
                    .map(|step| step.span.start),
            );
            starts.sort_unstable();
            for (number, start) in starts.into_iter().enumerate() {
                numbers.insert(line_column(source, start), number + 1);
            }
        }
    }
    for item in items.iter_mut().filter(|item| item.kind == "step") {
        if let Some(&number) = numbers.get(&(item.line, item.column)) {
            item.step = Some(number);
        }
    }
}

fn item_report(
    file: &str,
    source: &str,
    model: &CheckedModel,
    item: &mlp_symbolic::ItemCheck,
) -> ItemReport {
    let (kind, of, step, ast, start, derivation) = match item.item {
        Item::Claim(at) => {
            let claim = &model.claims[at].claim;
            (
                "claim",
                claim.lhs.to_string(),
                None,
                claim.rhs.clone(),
                claim.lhs.clone(),
                None,
            )
        }
        Item::Step { derivation, step } => {
            let chain = &model.derivations[derivation].derivation;
            (
                "step",
                chain.start.to_string(),
                Some(step),
                chain.steps[step - 1].expr.clone(),
                chain.start.clone(),
                Some(derivation),
            )
        }
    };
    let (line, column) = line_column(source, item.span.start);
    let mut report = ItemReport {
        file: file.to_string(),
        kind,
        of,
        step,
        line,
        column,
        expression: ast.to_string(),
        verdict: "unchecked",
        trials: None,
        slip: None,
        counterexample: None,
        reason: None,
        derivation,
        ast: Some(ast),
        start: Some(start),
    };
    match &item.comparison.verdict {
        Verdict::Canonical => report.verdict = "canonical",
        Verdict::Numeric { trials } => {
            report.verdict = "numeric";
            report.trials = Some(*trials);
        }
        Verdict::NotEqual {
            slip,
            counterexample,
        } => {
            report.verdict = "not-equal";
            report.slip = slip.as_ref().map(slip_report);
            report.counterexample = counterexample.as_ref().map(|c| CounterexampleReport {
                sizes: c.sizes.clone(),
                indices: c.indices.iter().cloned().collect(),
                expected: round(c.expected),
                claimed: round(c.claimed),
                tensors: c
                    .tensors
                    .iter()
                    .map(|(name, array)| (name.clone(), nested(array)))
                    .collect(),
                functions: c.functions.clone(),
            });
        }
        Verdict::Unchecked { reason } => report.reason = Some(reason.clone()),
    }
    report
}

fn slip_report(slip: &Slip) -> SlipReport {
    SlipReport {
        kind: slip.kind(),
        description: slip.to_string(),
    }
}

/// Rounds to 6 significant digits: enough to see a difference, short enough to read.
fn round(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let digits = 6 - 1 - value.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// An array as nested JSON lists, one level per axis; a scalar as a number.
fn nested(array: &Array) -> serde_json::Value {
    fn level(data: &[f64], shape: &[usize]) -> serde_json::Value {
        match shape.split_first() {
            None => serde_json::json!(round(data[0])),
            Some((&n, rest)) => {
                let stride: usize = rest.iter().product();
                serde_json::Value::Array(
                    (0..n)
                        .map(|i| level(&data[i * stride..(i + 1) * stride], rest))
                        .collect(),
                )
            }
        }
    }
    if array.data.is_empty() {
        return serde_json::Value::Array(Vec::new());
    }
    level(&array.data, &array.shape)
}

fn diagnostic_entry(source: &str, diagnostic: &Diagnostic) -> DiagnosticEntry {
    let (line, column) = line_column(source, diagnostic.span.start);
    DiagnosticEntry {
        severity: if diagnostic.is_error() {
            "error"
        } else {
            "warning"
        },
        code: diagnostic.code,
        message: diagnostic.message.clone(),
        line,
        column,
        help: diagnostic.help.clone(),
    }
}

/// Renders a value array compactly: `[0.5, -1.2]`, nested by axis.
pub fn array_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(array_text).collect::<Vec<_>>().join(", ")
        ),
        serde_json::Value::Number(n) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            format!("{}", (v * 1e4).round() / 1e4)
        }
        other => other.to_string(),
    }
}

impl CounterexampleReport {
    /// One line: sizes, indices, both values and the tensors read.
    pub fn summary(&self) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|(d, n)| format!("{d}={n}")).collect();
        let indices: Vec<String> = self
            .indices
            .iter()
            .map(|(i, v)| format!("{i}={v}"))
            .collect();
        let tensors: Vec<String> = self
            .tensors
            .iter()
            .map(|(name, value)| format!("{name}={}", array_text(value)))
            .collect();
        let mut out = format!(
            "sizes {}; at {}: expected {}, written {}",
            if sizes.is_empty() {
                "fixed".into()
            } else {
                sizes.join(", ")
            },
            if indices.is_empty() {
                "the scalar".into()
            } else {
                indices.join(", ")
            },
            self.expected,
            self.claimed
        );
        if !tensors.is_empty() {
            out.push_str(&format!("; with {}", tensors.join(", ")));
        }
        for (name, formula) in &self.functions {
            out.push_str(&format!("; {name}(x) = {formula}"));
        }
        out
    }
}

impl ItemReport {
    /// The verdict in words: `equal (canonical form)`, `NOT EQUAL: likely slip: ...`.
    pub fn verdict_text(&self) -> String {
        match self.verdict {
            "canonical" => "equal (canonical form)".into(),
            "numeric" => format!("equal (numeric, {} trials)", self.trials.unwrap_or(0)),
            "not-equal" => {
                let mut out = String::from("NOT EQUAL");
                match &self.slip {
                    Some(slip) => out.push_str(&format!(": likely slip: {}", slip.description)),
                    None => out.push_str(": no simple slip explains the difference"),
                }
                if let Some(counterexample) = &self.counterexample {
                    out.push_str(&format!("; counterexample: {}", counterexample.summary()));
                }
                out
            }
            _ => format!(
                "UNCHECKED: {}",
                self.reason.as_deref().unwrap_or("no verdict")
            ),
        }
    }
}

impl CheckReport {
    /// The per-step verdict list, after the fixes applied; diagnostics are rendered apart.
    pub fn render_verdicts(&self) -> String {
        let mut out = String::new();
        for fix in &self.fixes {
            out.push_str(&format!(
                "applied the suggested fix at {}:{}:{}: `{}` → `{}`; every step below is checked under the fixed model\n",
                self.file, fix.line, fix.column, fix.from, fix.to
            ));
        }
        if !self.fixes.is_empty() {
            out.push('\n');
        }
        let mut heading: Option<&str> = None;
        for item in &self.items {
            let this = item.group();
            if heading != Some(this) {
                if heading.is_some() {
                    out.push('\n');
                }
                match item.kind {
                    "claim" => out.push_str("claims\n"),
                    _ => out.push_str(&format!("derive {}\n", item.of)),
                }
                heading = Some(this);
            }
            let position = format!("{}:{}", item.line, item.column);
            let (label, shown) = match item.step {
                Some(step) => (format!("step {step}"), format!("= {}", item.expression)),
                None => (
                    "claim".to_string(),
                    format!("{} = {}", item.of, item.expression),
                ),
            };
            out.push_str(&format!(
                "  {position:<8} {label:<7} {}\n  {:<8} {shown}\n",
                item.verdict_text(),
                ""
            ));
        }
        let equal = self.items.iter().filter(|i| i.is_equal()).count();
        let unequal = self.items.len() - equal;
        if !self.items.is_empty() {
            out.push('\n');
        }
        out.push_str(&self.file);
        if let (Some(model), false) = (&self.model, self.model_errors) {
            // `ok` only on a run that exits 0: every claim and step equal.
            let outcome = if self.all_equal() { "ok" } else { "checked" };
            out.push_str(&format!(": {outcome} ({model})"));
        }
        out.push_str(&format!(
            ": {equal} equal, {unequal} not equal or unchecked"
        ));
        if self.model_errors && self.fixes.is_empty() {
            out.push_str("; the model has errors, so no step was checked");
        } else if !self.fixes.is_empty() {
            out.push_str(&format!(
                "; {} fix(es) applied to the model",
                self.fixes.len()
            ));
        }
        out.push('\n');
        out
    }
}
