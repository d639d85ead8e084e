//! Semantic checks: names, arity, index scoping and ranges, free-index agreement, cycles and the
//! choice of loss. Every problem is reported, not only the first.

use std::collections::{BTreeSet, HashMap, HashSet};

use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};

use crate::ast::{
    BinaryOp, DimRef, Expr, ExprKind, Ident, Program, Relation, Statement, TensorRef, TensorRole,
};
use crate::diagnostic::{has_errors, Diagnostic};
use crate::model::{
    CheckedModel, ClaimInfo, DerivationInfo, Dim, DimInfo, RelationInfo, TensorInfo,
};
use crate::span::Span;

/// The element-wise functions every model can call without declaring them.
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "relu", "tanh", "logistic", "exp", "log", "sqrt", "softplus", "abs", "sin", "cos", "step",
    "sign",
];

/// Checks a parsed program and resolves it into a model.
///
/// Returns the model when there are no errors, and every diagnostic (errors and warnings) found.
pub fn check(program: Program) -> (Option<CheckedModel>, Vec<Diagnostic>) {
    let mut checker = Checker::default();
    checker.collect_declarations(&program);
    let relations: Vec<&Relation> = program
        .statements
        .iter()
        .filter_map(|statement| match statement {
            Statement::Relation(relation) => Some(relation),
            _ => None,
        })
        .collect();

    let infos = checker.resolve_relations(&relations);
    let (claims, derivations) = checker.check_claims(&program, &relations, &infos);

    let loss = if infos.len() == relations.len() {
        checker.choose_loss(&program, &infos)
    } else {
        None
    };
    if let Some(loss) = loss {
        checker.warn_unused(&infos, loss);
    }

    let Checker {
        mut diagnostics,
        dims,
        tensors,
        functions,
        ..
    } = checker;
    diagnostics.sort_by_key(|d| (d.span.start, d.severity));
    let model = match loss {
        Some(loss) if !has_errors(&diagnostics) => Some(CheckedModel {
            program,
            dims,
            tensors,
            functions,
            relations: infos,
            loss,
            claims,
            derivations,
        }),
        _ => None,
    };
    (model, diagnostics)
}

/// The kind of thing a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Symbol {
    Dim,
    Tensor(TensorRole),
    Function,
    Relation,
}

impl Symbol {
    fn describe(self) -> &'static str {
        match self {
            Symbol::Dim => "a dimension",
            Symbol::Tensor(TensorRole::Input) => "an input",
            Symbol::Tensor(TensorRole::Target) => "a target",
            Symbol::Tensor(TensorRole::Param) => "a parameter",
            Symbol::Function => "a function",
            Symbol::Relation => "a relation",
        }
    }
}

#[derive(Default)]
struct Checker {
    diagnostics: Vec<Diagnostic>,
    symbols: HashMap<String, (Symbol, Span)>,
    dims: Vec<DimInfo>,
    tensors: Vec<TensorInfo>,
    functions: Vec<Ident>,
    /// Relations that refer to an undefined name or use a wrong number of indices.
    named_wrongly: HashSet<String>,
}

impl Checker {
    /// Checks names and indices of every relation, in an order where each follows those it
    /// reads, and returns the relations that passed.
    fn resolve_relations(&mut self, relations: &[&Relation]) -> Vec<RelationInfo> {
        for relation in relations {
            self.check_relation_names(relation);
        }
        let mut infos: Vec<RelationInfo> = Vec::new();
        if let Some(order) = self.order_relations(relations) {
            for position in order {
                if let Some(info) = self.resolve_relation(relations[position], &infos) {
                    infos.push(info);
                }
            }
        }
        for relation in relations {
            self.reject_partials(relation);
        }
        infos
    }

    /// Checks every claim and derivation chain against the resolved relations.
    fn check_claims(
        &mut self,
        program: &Program,
        relations: &[&Relation],
        infos: &[RelationInfo],
    ) -> (Vec<ClaimInfo>, Vec<DerivationInfo>) {
        let mut claims = Vec::new();
        let mut derivations = Vec::new();
        for statement in &program.statements {
            match statement {
                Statement::Claim(claim) => {
                    if let Some((free_indices, index_ranges)) =
                        self.check_chain(&claim.lhs, &[&claim.rhs], relations, infos)
                    {
                        claims.push(ClaimInfo {
                            claim: claim.clone(),
                            free_indices,
                            index_ranges,
                        });
                    }
                }
                Statement::Derivation(derivation) => {
                    let steps: Vec<&Expr> =
                        derivation.steps.iter().map(|step| &step.expr).collect();
                    if let Some((free_indices, index_ranges)) =
                        self.check_chain(&derivation.start, &steps, relations, infos)
                    {
                        derivations.push(DerivationInfo {
                            derivation: derivation.clone(),
                            free_indices,
                            index_ranges,
                        });
                    }
                }
                _ => {}
            }
        }
        (claims, derivations)
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn declare(&mut self, name: &Ident, symbol: Symbol) -> bool {
        if BUILTIN_FUNCTIONS.contains(&name.name.as_str()) || name.name == "delta" {
            self.error(
                Diagnostic::error(
                    "mlp::name::reserved",
                    format!(
                        "`{}` is a built-in function and cannot be redefined",
                        name.name
                    ),
                    name.span,
                )
                .with_label("reserved name")
                .with_help("choose another name"),
            );
            return false;
        }
        if let Some((previous, previous_span)) = self.symbols.get(&name.name) {
            let message = if *previous == symbol {
                format!("`{}` is defined twice", name.name)
            } else {
                format!(
                    "`{}` is already {} and cannot also be {}",
                    name.name,
                    previous.describe(),
                    symbol.describe()
                )
            };
            let previous_span = *previous_span;
            self.error(
                Diagnostic::error("mlp::name::duplicate", message, name.span)
                    .with_label("second definition")
                    .with_related(previous_span, "first defined here")
                    .with_help("rename one of them, or delete the duplicate"),
            );
            return false;
        }
        self.symbols.insert(name.name.clone(), (symbol, name.span));
        true
    }

    fn collect_declarations(&mut self, program: &Program) {
        // Dimensions first, so that shapes may refer to dimensions declared further down.
        for statement in &program.statements {
            if let Statement::Dim(items) = statement {
                for item in items {
                    if self.declare(&item.name, Symbol::Dim) {
                        self.dims.push(DimInfo {
                            name: item.name.clone(),
                            value: item.value.map(|(value, _)| value),
                        });
                    }
                }
            }
        }
        for statement in &program.statements {
            match statement {
                Statement::Tensor(role, decls) => {
                    for decl in decls {
                        let shape = self.resolve_shape(&decl.shape);
                        if self.declare(&decl.name, Symbol::Tensor(*role)) {
                            if let Some(shape) = shape {
                                self.tensors.push(TensorInfo {
                                    name: decl.name.clone(),
                                    role: *role,
                                    shape,
                                });
                            }
                        }
                    }
                }
                Statement::Function(names) => {
                    for name in names {
                        if self.declare(name, Symbol::Function) {
                            self.functions.push(name.clone());
                        }
                    }
                }
                Statement::Relation(relation) => {
                    if let Some((Symbol::Tensor(role), span)) =
                        self.symbols.get(&relation.name.name)
                    {
                        let (role, span) = (*role, *span);
                        self.error(
                            Diagnostic::error(
                                "mlp::relation::defines_declared",
                                format!(
                                    "`{}` is declared as {} and cannot be defined by a relation",
                                    relation.name.name,
                                    Symbol::Tensor(role).describe()
                                ),
                                relation.name.span,
                            )
                            .with_label("defined here")
                            .with_related(span, "declared here")
                            .with_help("rename the relation, or remove the declaration"),
                        );
                    } else {
                        self.declare(&relation.name, Symbol::Relation);
                    }
                }
                Statement::Dim(_)
                | Statement::Loss(_)
                | Statement::Claim(_)
                | Statement::Derivation(_) => {}
            }
        }
    }

    fn resolve_shape(&mut self, shape: &[DimRef]) -> Option<Vec<Dim>> {
        let mut dims = Vec::new();
        let mut ok = true;
        for dim in shape {
            match dim {
                DimRef::Literal(size, _) => dims.push(Dim::Fixed(*size)),
                DimRef::Named(name) => {
                    if self.dims.iter().any(|d| d.name.name == name.name) {
                        dims.push(Dim::Named(name.name.clone()));
                    } else {
                        ok = false;
                        self.error(
                            Diagnostic::error(
                                "mlp::dim::undefined",
                                format!("undefined dimension `{}`", name.name),
                                name.span,
                            )
                            .with_label("not declared")
                            .with_help(format!("declare it with `dim {}`", name.name)),
                        );
                    }
                }
            }
        }
        ok.then_some(dims)
    }

    /// Rank of a name usable as a tensor, or an error for names that are not tensors.
    fn tensor_rank(&self, name: &str, relations: &HashMap<&str, &Relation>) -> Option<usize> {
        if let Some(tensor) = self.tensors.iter().find(|t| t.name.name == name) {
            return Some(tensor.shape.len());
        }
        relations.get(name).map(|relation| relation.indices.len())
    }

    fn check_relation_names(&mut self, relation: &Relation) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for index in &relation.indices {
            if let Some(first) = seen.insert(&index.name, index.span) {
                self.error(
                    Diagnostic::error(
                        "mlp::index::repeated_free",
                        format!("index `{}` appears twice on the left side", index.name),
                        index.span,
                    )
                    .with_label("repeated")
                    .with_related(first, "first here")
                    .with_help("give each axis of the defined tensor its own index"),
                );
                self.named_wrongly.insert(relation.name.name.clone());
            }
        }
    }

    /// Orders relations so that each one follows those it reads. Reports undefined names, wrong
    /// arity and cycles; returns `None` if a cycle prevents ordering.
    fn order_relations(&mut self, relations: &[&Relation]) -> Option<Vec<usize>> {
        let by_name: HashMap<&str, &Relation> = relations
            .iter()
            .map(|relation| (relation.name.name.as_str(), *relation))
            .collect();
        let position: HashMap<&str, usize> = relations
            .iter()
            .enumerate()
            .map(|(at, relation)| (relation.name.name.as_str(), at))
            .collect();
        let mut edges: Vec<Vec<(usize, Span)>> = vec![Vec::new(); relations.len()];
        for (at, relation) in relations.iter().enumerate() {
            let mut uses = Vec::new();
            relation.body.walk(&mut |expr| uses.push(expr));
            for expr in uses {
                let errors_before = self.diagnostics.len();
                self.check_names_in(expr, &by_name);
                if self.diagnostics.len() > errors_before {
                    self.named_wrongly.insert(relation.name.name.clone());
                }
                if let ExprKind::Tensor { name, .. } = &expr.kind {
                    if let Some(&target) = position.get(name.name.as_str()) {
                        edges[at].push((target, name.span));
                    }
                }
            }
        }
        // Depth-first search with colors; a grey target closes a cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Grey,
            Black,
        }
        let mut color = vec![Color::White; relations.len()];
        let mut order = Vec::new();
        let mut cyclic = false;
        for root in 0..relations.len() {
            if color[root] != Color::White {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            color[root] = Color::Grey;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&(target, span)) = edges[node].get(*next) {
                    *next += 1;
                    match color[target] {
                        Color::White => {
                            color[target] = Color::Grey;
                            stack.push((target, 0));
                        }
                        Color::Grey => {
                            cyclic = true;
                            let path: Vec<&str> = stack
                                .iter()
                                .skip_while(|(n, _)| *n != target)
                                .map(|(n, _)| relations[*n].name.name.as_str())
                                .collect();
                            let mut cycle = path.join(" → ");
                            cycle.push_str(" → ");
                            cycle.push_str(&relations[target].name.name);
                            self.error(
                                Diagnostic::error(
                                    "mlp::relation::cycle",
                                    format!("relations depend on each other in a cycle: {cycle}"),
                                    span,
                                )
                                .with_label("this use closes the cycle")
                                .with_related(relations[target].name.span, "defined here")
                                .with_help("a relation may read only relations defined without it"),
                            );
                        }
                        Color::Black => {}
                    }
                } else {
                    color[node] = Color::Black;
                    order.push(node);
                    stack.pop();
                }
            }
        }
        (!cyclic).then_some(order)
    }

    fn check_names_in(&mut self, expr: &Expr, relations: &HashMap<&str, &Relation>) {
        match &expr.kind {
            ExprKind::Tensor { name, indices } => {
                self.check_element_name(name, indices, expr.span, relations);
            }
            ExprKind::Partial { of, wrt } => {
                self.check_element_name(&of.name, &of.indices, of.span, relations);
                if self.check_element_name(&wrt.name, &wrt.indices, wrt.span, relations) {
                    self.check_differentiable(wrt);
                }
            }
            ExprKind::Call { function, .. } => {
                let name = function.name.as_str();
                if BUILTIN_FUNCTIONS.contains(&name) {
                    return;
                }
                match self.symbols.get(name) {
                    Some((Symbol::Function, _)) => {}
                    Some((symbol, span)) => {
                        let (symbol, span) = (*symbol, *span);
                        self.error(
                            Diagnostic::error(
                                "mlp::function::not_a_function",
                                format!("`{name}` is {}, not a function", symbol.describe()),
                                function.span,
                            )
                            .with_label("called here")
                            .with_related(span, "declared here")
                            .with_help(
                                "write `*` between factors: products need an explicit operator",
                            ),
                        );
                    }
                    None => {
                        let mut candidates: Vec<&str> = BUILTIN_FUNCTIONS.to_vec();
                        candidates.extend(self.functions.iter().map(|f| f.name.as_str()));
                        let help = match closest(name, candidates) {
                            Some(similar) => format!("did you mean `{similar}`? To keep `{name}` abstract, declare it with `fn {name}`"),
                            None => format!("declare it with `fn {name}`, or use a built-in: {}", BUILTIN_FUNCTIONS.join(", ")),
                        };
                        self.error(
                            Diagnostic::error(
                                "mlp::function::unknown",
                                format!("unknown function `{name}`"),
                                function.span,
                            )
                            .with_label("not a built-in or declared function")
                            .with_help(help),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// Checks that an element's name is a tensor or relation and that it has one index per axis.
    /// Returns whether the name is usable as a tensor.
    fn check_element_name(
        &mut self,
        name: &Ident,
        indices: &[Ident],
        span: Span,
        relations: &HashMap<&str, &Relation>,
    ) -> bool {
        match self.symbols.get(&name.name) {
            None => {
                let mut diagnostic = Diagnostic::error(
                    "mlp::name::undefined",
                    format!("undefined name `{}`", name.name),
                    name.span,
                )
                .with_label("not declared or defined");
                let candidates: Vec<&str> = self
                    .symbols
                    .iter()
                    .filter(|(_, (symbol, _))| {
                        matches!(symbol, Symbol::Tensor(_) | Symbol::Relation)
                    })
                    .map(|(candidate, _)| candidate.as_str())
                    .collect();
                diagnostic = match closest(&name.name, candidates) {
                    Some(similar) => diagnostic.with_help(format!("did you mean `{similar}`?")),
                    None => diagnostic.with_help(format!(
                        "declare it (`input {0}`, `param {0}[...]`) or define it with a relation",
                        name.name
                    )),
                };
                self.error(diagnostic);
                return false;
            }
            Some((Symbol::Dim | Symbol::Function, _)) => {
                let (symbol, span) = self.symbols[&name.name];
                self.error(
                    Diagnostic::error(
                        "mlp::name::not_a_tensor",
                        format!("`{}` is {}, not a tensor", name.name, symbol.describe()),
                        name.span,
                    )
                    .with_label("used as a tensor")
                    .with_related(span, "declared here"),
                );
                return false;
            }
            Some(_) => {}
        }
        if let Some(rank) = self.tensor_rank(&name.name, relations) {
            if rank != indices.len() {
                let declared = self.symbols[&name.name].1;
                self.error(
                    Diagnostic::error(
                        "mlp::index::arity",
                        format!(
                            "`{}` has {} {} but is used with {}",
                            name.name,
                            rank,
                            if rank == 1 { "axis" } else { "axes" },
                            indices.len()
                        ),
                        span,
                    )
                    .with_label(format!(
                        "{} {}",
                        indices.len(),
                        plural(indices.len(), "index", "indices")
                    ))
                    .with_related(declared, "declared here")
                    .with_help(format!("write one index per axis: {} in all", rank)),
                );
            }
        }
        true
    }

    /// Checks that the denominator of a partial derivative is a parameter or a relation: the
    /// model defines no derivative by an input or a target.
    fn check_differentiable(&mut self, wrt: &TensorRef) {
        match self.symbols.get(&wrt.name.name) {
            Some((Symbol::Tensor(TensorRole::Param) | Symbol::Relation, _)) | None => {}
            Some((symbol, declared)) => {
                let (symbol, declared) = (*symbol, *declared);
                self.error(
                    Diagnostic::error(
                        "mlp::partial::wrt",
                        format!(
                            "cannot differentiate by `{}` because it is {}",
                            wrt.name.name,
                            symbol.describe()
                        ),
                        wrt.span,
                    )
                    .with_label("not a parameter or relation")
                    .with_related(declared, "declared here")
                    .with_help("differentiate by a parameter (`param`) or by a relation's value"),
                );
            }
        }
    }

    /// Reports partial derivatives in a relation: a model defines values, and derivatives belong
    /// in claims and derivations.
    fn reject_partials(&mut self, relation: &Relation) {
        let mut found = Vec::new();
        relation.body.walk(&mut |expr| {
            if let ExprKind::Partial { .. } = expr.kind {
                found.push(expr.span);
            }
        });
        for span in found {
            self.error(
                Diagnostic::error(
                    "mlp::partial::in_relation",
                    "a relation cannot contain a partial derivative",
                    span,
                )
                .with_label("partial derivative")
                .with_related(relation.name.span, "in this relation")
                .with_help("state derivatives with `claim` or `derive`; relations define values"),
            );
        }
    }

    /// Checks the names, arity and indices of a claim or derivation. Returns its free indices
    /// with their ranges and the range of every index occurrence, or `None` after an error or
    /// when it reads a relation that failed its own checks.
    fn check_chain(
        &mut self,
        start: &Expr,
        steps: &[&Expr],
        relations: &[&Relation],
        done: &[RelationInfo],
    ) -> Option<ResolvedChain> {
        let errors_before = self.error_count();
        let by_name: HashMap<&str, &Relation> = relations
            .iter()
            .map(|relation| (relation.name.name.as_str(), *relation))
            .collect();
        for expr in std::iter::once(start).chain(steps.iter().copied()) {
            let mut nodes = Vec::new();
            expr.walk(&mut |node| nodes.push(node));
            for node in nodes {
                self.check_names_in(node, &by_name);
            }
        }
        if self.error_count() > errors_before {
            return None;
        }
        self.resolve_chain(start, steps, done)
    }

    /// Resolves one relation's index scopes and ranges. `done` holds the relations it may read.
    fn resolve_relation(
        &mut self,
        relation: &Relation,
        done: &[RelationInfo],
    ) -> Option<RelationInfo> {
        let errors_before = self.error_count();
        let mut scope = IndexScope::default();
        let lhs: Vec<usize> = relation
            .indices
            .iter()
            .map(|index| scope.bind(index, Binder::Free))
            .collect();
        let mut stack: Vec<usize> = lhs.clone();
        self.visit_indices(&relation.body, &mut scope, &mut stack, done);
        self.propagate_delta_ranges(&mut scope);
        // A relation that reads a relation which failed its own checks has no shape to take
        // ranges from; the first failure is the one to report.
        if self.reads_failed_relation(&relation.body, done) {
            return None;
        }
        // Ranges left unknown after another error in this relation are a consequence of it.
        if self.error_count() > errors_before || self.named_wrongly.contains(&relation.name.name) {
            return None;
        }
        self.report_unranged(&scope);
        self.check_free_indices(&relation.body, relation.name.span, &scope, &lhs, false);

        if self.error_count() > errors_before {
            return None;
        }
        let shape = lhs
            .iter()
            .map(|&id| scope.bindings[id].range.clone().expect("checked above").0)
            .collect();
        let index_ranges = occurrence_ranges(&scope);
        let mut depends_on: Vec<String> = Vec::new();
        relation.body.walk(&mut |expr| {
            if let ExprKind::Tensor { name, .. } = &expr.kind {
                if done.iter().any(|info| info.name() == name.name)
                    && !depends_on.contains(&name.name)
                {
                    depends_on.push(name.name.clone());
                }
            }
        });
        Some(RelationInfo {
            relation: relation.clone(),
            shape,
            index_ranges,
            depends_on,
        })
    }

    /// Resolves the index scopes and ranges of a claim or derivation: `start` is its left side
    /// and `steps` the expressions claimed equal to it. The free indices are those of the partial
    /// derivative `start`, numerator first, each name once.
    fn resolve_chain(
        &mut self,
        start: &Expr,
        steps: &[&Expr],
        done: &[RelationInfo],
    ) -> Option<ResolvedChain> {
        let errors_before = self.error_count();
        let ExprKind::Partial { of, wrt } = &start.kind else {
            self.error(
                Diagnostic::error(
                    "mlp::claim::start",
                    "a claim or derivation must start with a partial derivative",
                    start.span,
                )
                .with_label("not a partial derivative")
                .with_help("start with the derivative to compute, for example `∂L/∂W2[j, k]`"),
            );
            return None;
        };
        let reads_failed = std::iter::once(start)
            .chain(steps.iter().copied())
            .any(|expr| self.reads_failed_relation(expr, done));
        if reads_failed {
            return None;
        }
        let mut scope = IndexScope::default();
        let mut free: Vec<usize> = Vec::new();
        for index in of.indices.iter().chain(&wrt.indices) {
            if !free.iter().any(|&id| scope.bindings[id].name == index.name) {
                free.push(scope.bind(index, Binder::Free));
            }
        }
        let mut stack = free.clone();
        self.visit_indices(start, &mut scope, &mut stack, done);
        for step in steps {
            self.visit_indices(step, &mut scope, &mut stack, done);
        }
        self.propagate_delta_ranges(&mut scope);
        self.report_unranged(&scope);
        for step in steps {
            self.check_free_indices(step, start.span, &scope, &free, true);
        }
        if self.error_count() > errors_before {
            return None;
        }
        let free_indices = free
            .iter()
            .map(|&id| {
                let binding = &scope.bindings[id];
                let range = binding.range.clone().expect("checked above").0;
                (Ident::new(binding.name.clone(), binding.span), range)
            })
            .collect();
        Some((free_indices, occurrence_ranges(&scope)))
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Returns whether the expression reads a relation that failed its own checks.
    fn reads_failed_relation(&self, expr: &Expr, done: &[RelationInfo]) -> bool {
        let mut failed = false;
        expr.walk(&mut |expr| {
            let names: Vec<&Ident> = match &expr.kind {
                ExprKind::Tensor { name, .. } => vec![name],
                ExprKind::Partial { of, wrt } => vec![&of.name, &wrt.name],
                _ => Vec::new(),
            };
            for name in names {
                failed |= match self.symbols.get(&name.name) {
                    Some((Symbol::Relation, _)) => {
                        !done.iter().any(|info| info.name() == name.name)
                    }
                    // A declared tensor whose shape failed to resolve.
                    Some((Symbol::Tensor(_), _)) => {
                        !self.tensors.iter().any(|t| t.name.name == name.name)
                    }
                    _ => false,
                };
            }
        });
        failed
    }

    /// Gives both indices of every Kronecker delta the same range, then reports deltas that join
    /// indices of different ranges.
    fn propagate_delta_ranges(&mut self, scope: &mut IndexScope) {
        let mut changed = true;
        while changed {
            changed = false;
            for (a, b, span) in scope.deltas.clone() {
                match (
                    scope.bindings[a].range.clone(),
                    scope.bindings[b].range.clone(),
                ) {
                    (Some((da, _)), None) => {
                        scope.bindings[b].range = Some((da, span));
                        changed = true;
                    }
                    (None, Some((db, _))) => {
                        scope.bindings[a].range = Some((db, span));
                        changed = true;
                    }
                    _ => {}
                }
            }
        }
        for (a, b, span) in scope.deltas.clone() {
            if let (Some((da, _)), Some((db, _))) =
                (&scope.bindings[a].range, &scope.bindings[b].range)
            {
                if !self.dims_agree(da, db) {
                    self.error(
                        Diagnostic::error(
                            "mlp::index::range_mismatch",
                            format!(
                                "the Kronecker delta joins `{}` over `{da}` with `{}` over `{db}`",
                                scope.bindings[a].name, scope.bindings[b].name
                            ),
                            span,
                        )
                        .with_label("indices of different ranges")
                        .with_help("a delta compares indices that range over the same dimension"),
                    );
                }
            }
        }
    }

    /// Reports every index whose range no tensor axis determines.
    fn report_unranged(&mut self, scope: &IndexScope) {
        for binding in &scope.bindings {
            if binding.range.is_none() {
                let what = match binding.binder {
                    Binder::Free => "the left side",
                    Binder::Sum => "this sum",
                };
                self.error(
                    Diagnostic::error(
                        "mlp::index::unused",
                        format!(
                            "index `{}` of {what} is not used to index any tensor",
                            binding.name
                        ),
                        binding.span,
                    )
                    .with_label("its range cannot be inferred")
                    .with_help(format!(
                        "use `{}` as an index of a declared tensor, or remove it",
                        binding.name
                    )),
                );
            }
        }
    }

    fn dims_agree(&self, a: &Dim, b: &Dim) -> bool {
        if a == b {
            return true;
        }
        let value = |dim: &Dim| match dim {
            Dim::Fixed(size) => Some(*size),
            Dim::Named(name) => self.dims.iter().find(|d| &d.name.name == name)?.value,
        };
        matches!((value(a), value(b)), (Some(x), Some(y)) if x == y)
    }

    fn visit_indices(
        &mut self,
        expr: &Expr,
        scope: &mut IndexScope,
        stack: &mut Vec<usize>,
        done: &[RelationInfo],
    ) {
        match &expr.kind {
            ExprKind::Number(_) => {}
            ExprKind::Tensor { name, indices } => {
                let shape: Option<Vec<Dim>> = self
                    .tensors
                    .iter()
                    .find(|t| t.name.name == name.name)
                    .map(|t| t.shape.clone())
                    .or_else(|| {
                        done.iter()
                            .find(|r| r.name() == name.name)
                            .map(|r| r.shape.clone())
                    });
                for (axis, index) in indices.iter().enumerate() {
                    let Some(id) = self.use_index(index, scope, stack, expr) else {
                        continue;
                    };
                    let Some(dim) = shape.as_ref().and_then(|shape| shape.get(axis)) else {
                        continue;
                    };
                    match scope.bindings[id].range.clone() {
                        None => scope.bindings[id].range = Some((dim.clone(), index.span)),
                        Some((existing, at)) if !self.dims_agree(&existing, dim) => {
                            self.error(
                                Diagnostic::error(
                                    "mlp::index::range_mismatch",
                                    format!(
                                        "index `{}` ranges over `{existing}` elsewhere but indexes an axis of size `{dim}` of `{}` here",
                                        index.name, name.name
                                    ),
                                    index.span,
                                )
                                .with_label(format!("axis {} of `{}` has size `{dim}`", axis + 1, name.name))
                                .with_related(at, format!("`{}` ranges over `{existing}` here", index.name))
                                .with_help("use a different index for axes of different sizes"),
                            );
                        }
                        Some(_) => {}
                    }
                }
            }
            ExprKind::Partial { of, wrt } => {
                // Each side indexes its own tensor, so each is visited as a tensor element; the
                // diagnostics then point at that side.
                for side in [of, wrt] {
                    let element = Expr {
                        kind: ExprKind::Tensor {
                            name: side.name.clone(),
                            indices: side.indices.clone(),
                        },
                        span: side.span,
                    };
                    self.visit_indices(&element, scope, stack, done);
                }
            }
            ExprKind::Delta(a, b) => {
                let ids = (
                    self.use_index(a, scope, stack, expr),
                    self.use_index(b, scope, stack, expr),
                );
                if let (Some(a), Some(b)) = ids {
                    scope.deltas.push((a, b, expr.span));
                }
            }
            ExprKind::Call { argument, .. } => self.visit_indices(argument, scope, stack, done),
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => {
                self.visit_indices(inner, scope, stack, done)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.visit_indices(lhs, scope, stack, done);
                if *op == BinaryOp::Div {
                    match constant_value(rhs) {
                        Ok(Some(value)) if value.is_zero() => self.error(
                            Diagnostic::error(
                                "mlp::expr::division_by_zero",
                                "division by zero",
                                rhs.span,
                            )
                            .with_label("this divisor is zero"),
                        ),
                        Err(diagnostic) => self.error(diagnostic),
                        _ => {}
                    }
                }
                if *op == BinaryOp::Pow {
                    match constant_value(rhs) {
                        Ok(Some(exponent)) => {
                            // `0^-1` is a division by zero even though each side is valid.
                            let zero_base = matches!(constant_value(lhs), Ok(Some(base)) if base.is_zero());
                            if zero_base && exponent < BigRational::zero() {
                                self.error(
                                    Diagnostic::error(
                                        "mlp::expr::division_by_zero",
                                        "zero raised to a negative power",
                                        expr.span,
                                    )
                                    .with_label("this divides by zero"),
                                );
                            }
                        }
                        Ok(None) => self.error(
                            Diagnostic::error(
                                "mlp::expr::exponent",
                                "the exponent must be a constant number",
                                rhs.span,
                            )
                            .with_label("not a constant")
                            .with_help("write an integer or a rational such as `2` or `(1/2)`; use `exp` and `log` for variable exponents"),
                        ),
                        Err(diagnostic) => self.error(diagnostic),
                    }
                } else {
                    self.visit_indices(rhs, scope, stack, done);
                }
            }
            ExprKind::Sum { indices, body } => {
                let depth = stack.len();
                for index in indices {
                    if let Some(&outer) = stack
                        .iter()
                        .rev()
                        .find(|&&id| scope.bindings[id].name == index.name)
                    {
                        let (what, span) =
                            (scope.bindings[outer].binder, scope.bindings[outer].span);
                        let same_list = stack[depth..].contains(&outer);
                        let message = match what {
                            Binder::Free => format!("index `{}` is summed over but is also a free index of the left side", index.name),
                            Binder::Sum if same_list => format!("index `{}` appears twice in one sum", index.name),
                            Binder::Sum => format!("index `{}` is summed over twice", index.name),
                        };
                        // The shadowed binding is not also reported as unused.
                        scope.used.insert(outer);
                        self.error(
                            Diagnostic::error("mlp::index::summed_free", message, index.span)
                                .with_label("summed here")
                                .with_related(span, "already bound here")
                                .with_help("rename the summed index"),
                        );
                    }
                    let id = scope.bind(index, Binder::Sum);
                    stack.push(id);
                }
                self.visit_indices(body, scope, stack, done);
                for &id in &stack[depth..] {
                    if !scope.used.contains(&id) {
                        let binding = &scope.bindings[id];
                        self.error(
                            Diagnostic::error(
                                "mlp::index::unused_sum",
                                format!("summed index `{}` is not used in the summand", binding.name),
                                binding.span,
                            )
                            .with_label("not used in what follows")
                            .with_help(format!(
                                "a sum binds the product that follows it, up to the next `+` or `-`; use parentheses to widen it, or remove `{}`",
                                binding.name
                            )),
                        );
                    }
                }
                stack.truncate(depth);
            }
        }
    }

    fn use_index(
        &mut self,
        index: &Ident,
        scope: &mut IndexScope,
        stack: &[usize],
        tensor: &Expr,
    ) -> Option<usize> {
        if let Some(&id) = stack
            .iter()
            .rev()
            .find(|&&id| scope.bindings[id].name == index.name)
        {
            scope.occurrences.push((index.span, id));
            scope.used.insert(id);
            return Some(id);
        }
        let free: Vec<&str> = stack
            .iter()
            .filter(|&&id| scope.bindings[id].binder == Binder::Free)
            .map(|&id| scope.bindings[id].name.as_str())
            .collect();
        let mut diagnostic = Diagnostic::error(
            "mlp::index::unbound",
            format!(
                "index `{}` is neither a free index of the left side nor summed over here",
                index.name
            ),
            tensor.span,
        )
        .with_label(format!("`{}` is not bound in this term", index.name));
        // Point at a sum over the same index whose reach ended before this term.
        let ended_sum = scope
            .bindings
            .iter()
            .find(|b| b.binder == Binder::Sum && b.name == index.name);
        if let Some(binding) = ended_sum {
            diagnostic = diagnostic.with_related(
                binding.span,
                format!("this sum over `{}` ends at the next `+` or `-`", index.name),
            );
        }
        let to_sum = if ended_sum.is_some() {
            format!(
                "To sum over `{0}`, wrap the summand in parentheses after `sum_{0}`",
                index.name
            )
        } else {
            format!(
                "To sum over `{0}`, write `sum_{0}` before the product",
                index.name
            )
        };
        let help = match free.as_slice() {
            [] => format!(
                "sum over it with `sum_{}`, or put it on the left side",
                index.name
            ),
            [only] => {
                let fixed = replace_index_text(tensor, &index.name, only);
                format!(
                    "the left side has the free index `{only}`: did you mean `{fixed}`? {to_sum}"
                )
            }
            many => format!(
                "the left side has free indices {}; use one of them, or sum over `{}`",
                many.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                index.name
            ),
        };
        self.error(diagnostic.with_help(help));
        None
    }

    /// Checks that the terms of every addition in `body` carry the same free indices, and that
    /// `body` as a whole carries the left side's (`lhs`, written at `lhs_span`).
    ///
    /// With `broadcast`, as in claims and derivation steps, a term or the whole body may carry
    /// only some of the left side's free indices and is broadcast over the others, such as
    /// `x[k] + delta[j, k]` for `∂L/∂W[j, k]`. An index the left side lacks is still an error.
    fn check_free_indices(
        &mut self,
        body: &Expr,
        lhs_span: Span,
        scope: &IndexScope,
        lhs: &[usize],
        broadcast: bool,
    ) {
        let expected: BTreeSet<usize> = lhs.iter().copied().collect();
        let occurrences: HashMap<Span, usize> = scope.occurrences.iter().copied().collect();
        let names = |set: &BTreeSet<usize>| -> String {
            if set.is_empty() {
                return "none".to_string();
            }
            set.iter()
                .map(|&id| format!("`{}`", scope.bindings[id].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut problems = Vec::new();
        let actual = free_set(body, &occurrences, &mut problems);
        if broadcast {
            problems.retain(|(_, set, _, first_set)| {
                !set.is_subset(&expected) || !first_set.is_subset(&expected)
            });
        }
        for (term, set, first, first_set) in problems {
            self.error(
                Diagnostic::error(
                    "mlp::index::free_mismatch",
                    format!("the terms of this addition carry different free indices: {} in one, {} in another", names(&first_set), names(&set)),
                    term,
                )
                .with_label(format!("free indices: {}", names(&set)))
                .with_related(first, format!("free indices: {}", names(&first_set)))
                .with_help("every term of a sum must carry the same free indices (a term without indices is added to every entry)"),
            );
        }
        let mismatch = if broadcast {
            !actual.is_subset(&expected)
        } else {
            actual != expected && !actual.is_empty()
        };
        let help = if broadcast {
            "the right side may carry only free indices of the left side (a term without one of them is broadcast over it)"
        } else {
            "the right side must carry exactly the free indices of the left side"
        };
        if mismatch {
            self.error(
                Diagnostic::error(
                    "mlp::index::free_mismatch",
                    format!(
                        "the right side carries the free indices {} but the left side has {}",
                        names(&actual),
                        names(&expected)
                    ),
                    body.span,
                )
                .with_label(format!("free indices: {}", names(&actual)))
                .with_related(lhs_span, format!("free indices: {}", names(&expected)))
                .with_help(help),
            );
        } else if actual.is_empty() && !expected.is_empty() {
            // A scalar right side broadcast to a tensor: every entry equal. Allowed only if the
            // free indices still get a range, which the unused-index check already reported.
        }
    }

    fn choose_loss(&mut self, program: &Program, relations: &[RelationInfo]) -> Option<usize> {
        let declarations: Vec<&Ident> = program
            .statements
            .iter()
            .filter_map(|statement| match statement {
                Statement::Loss(name) => Some(name),
                _ => None,
            })
            .collect();
        if let [first, second, ..] = declarations.as_slice() {
            self.error(
                Diagnostic::error(
                    "mlp::loss::duplicate",
                    "the loss is named twice",
                    second.span,
                )
                .with_label("second `loss`")
                .with_related(first.span, "first `loss`")
                .with_help("keep one `loss` line"),
            );
            return None;
        }
        let declared = program
            .statements
            .iter()
            .rev()
            .find_map(|statement| match statement {
                Statement::Loss(name) => Some(name.clone()),
                _ => None,
            });
        if let Some(name) = declared {
            let Some(at) = relations.iter().position(|r| r.name() == name.name) else {
                self.error(
                    Diagnostic::error(
                        "mlp::loss::undefined",
                        format!("the loss `{}` is not a relation", name.name),
                        name.span,
                    )
                    .with_label("no relation defines this")
                    .with_help("name a scalar relation defined in this file"),
                );
                return None;
            };
            if !relations[at].shape.is_empty() {
                self.error(
                    Diagnostic::error(
                        "mlp::loss::not_scalar",
                        format!("the loss `{}` is not a scalar", name.name),
                        name.span,
                    )
                    .with_label(format!(
                        "`{}` has {} free {}",
                        name.name,
                        relations[at].shape.len(),
                        plural(relations[at].shape.len(), "index", "indices")
                    ))
                    .with_related(relations[at].relation.name.span, "defined here")
                    .with_help("sum the loss over its indices, for example `L = sum_i loss[i]`"),
                );
                return None;
            }
            return Some(at);
        }
        let last_scalar = program
            .statements
            .iter()
            .rev()
            .find_map(|statement| match statement {
                Statement::Relation(relation) if relation.indices.is_empty() => {
                    Some(relation.name.name.clone())
                }
                _ => None,
            });
        match last_scalar {
            Some(name) => relations.iter().position(|r| r.name() == name),
            None => {
                let span = program
                    .statements
                    .iter()
                    .rev()
                    .find_map(|s| match s {
                        Statement::Relation(r) => Some(r.span),
                        _ => None,
                    })
                    .unwrap_or_default();
                self.error(
                    Diagnostic::error("mlp::loss::missing", "the model has no scalar relation to use as the loss", span)
                        .with_label("the last relation")
                        .with_help("define a scalar such as `L = sum_i (yhat[i] - y[i])^2`, or name one with `loss L`"),
                );
                None
            }
        }
    }

    fn warn_unused(&mut self, relations: &[RelationInfo], loss: usize) {
        if !self.tensors.iter().any(|t| t.role == TensorRole::Param) {
            self.diagnostics.push(
                Diagnostic::warning(
                    "mlp::param::none",
                    "the model declares no parameters, so there is no gradient to derive",
                    relations[loss].relation.name.span,
                )
                .with_label("the loss")
                .with_help(
                    "declare the trainable tensors with `param`, for example `param W[N, I]`",
                ),
            );
        }
        let mut live: HashSet<&str> = HashSet::new();
        let mut pending = vec![relations[loss].name()];
        while let Some(name) = pending.pop() {
            if !live.insert(name) {
                continue;
            }
            if let Some(info) = relations.iter().find(|r| r.name() == name) {
                pending.extend(info.depends_on.iter().map(String::as_str));
            }
        }
        let mut read: HashSet<String> = HashSet::new();
        for info in relations.iter().filter(|r| live.contains(r.name())) {
            info.relation.body.walk(&mut |expr| {
                if let ExprKind::Tensor { name, .. } = &expr.kind {
                    read.insert(name.name.clone());
                }
            });
        }
        let loss_name = relations[loss].name().to_string();
        for tensor in &self.tensors {
            if tensor.role == TensorRole::Param && !read.contains(&tensor.name.name) {
                self.diagnostics.push(
                    Diagnostic::warning(
                        "mlp::param::unused",
                        format!(
                            "parameter `{}` does not affect the loss `{loss_name}`",
                            tensor.name.name
                        ),
                        tensor.name.span,
                    )
                    .with_label("unused")
                    .with_help("its gradient is zero; use it in a relation or remove it"),
                );
            }
        }
        for info in relations {
            if !live.contains(info.name()) {
                self.diagnostics.push(
                    Diagnostic::warning(
                        "mlp::relation::unused",
                        format!(
                            "relation `{}` does not affect the loss `{loss_name}`",
                            info.name()
                        ),
                        info.relation.name.span,
                    )
                    .with_label("unused")
                    .with_help("remove it, or name the intended loss with `loss NAME`"),
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Binder {
    Free,
    Sum,
}

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    span: Span,
    binder: Binder,
    range: Option<(Dim, Span)>,
}

#[derive(Default)]
struct IndexScope {
    bindings: Vec<Binding>,
    /// Every occurrence of an index (binders included) and the binding it refers to.
    occurrences: Vec<(Span, usize)>,
    used: HashSet<usize>,
    deltas: Vec<(usize, usize, Span)>,
}

impl IndexScope {
    fn bind(&mut self, index: &Ident, binder: Binder) -> usize {
        let id = self.bindings.len();
        self.bindings.push(Binding {
            name: index.name.clone(),
            span: index.span,
            binder,
            range: None,
        });
        self.occurrences.push((index.span, id));
        id
    }
}

/// Collects the range of every index occurrence of a fully resolved scope.
fn occurrence_ranges(scope: &IndexScope) -> HashMap<Span, Dim> {
    scope
        .occurrences
        .iter()
        .map(|(span, id)| {
            let range = scope.bindings[*id]
                .range
                .clone()
                .expect("every index has a range");
            (*span, range.0)
        })
        .collect()
}

/// The free indices of a claim or derivation with their ranges, and the range of every index
/// occurrence.
type ResolvedChain = (Vec<(Ident, Dim)>, HashMap<Span, Dim>);

type Mismatch = (Span, BTreeSet<usize>, Span, BTreeSet<usize>);

/// The free indices of an expression: bindings it uses that are bound outside of it. Records
/// every addition whose terms disagree.
fn free_set(
    expr: &Expr,
    occurrences: &HashMap<Span, usize>,
    problems: &mut Vec<Mismatch>,
) -> BTreeSet<usize> {
    match &expr.kind {
        ExprKind::Number(_) => BTreeSet::new(),
        ExprKind::Tensor { indices, .. } => indices
            .iter()
            .filter_map(|i| occurrences.get(&i.span).copied())
            .collect(),
        ExprKind::Delta(a, b) => [a, b]
            .iter()
            .filter_map(|i| occurrences.get(&i.span).copied())
            .collect(),
        ExprKind::Partial { of, wrt } => of
            .indices
            .iter()
            .chain(&wrt.indices)
            .filter_map(|i| occurrences.get(&i.span).copied())
            .collect(),
        ExprKind::Call { argument, .. } => free_set(argument, occurrences, problems),
        ExprKind::Neg(inner) | ExprKind::Paren(inner) => free_set(inner, occurrences, problems),
        ExprKind::Sum { indices, body } => {
            let mut set = free_set(body, occurrences, problems);
            for index in indices {
                if let Some(id) = occurrences.get(&index.span) {
                    set.remove(id);
                }
            }
            set
        }
        ExprKind::Binary {
            op: BinaryOp::Add | BinaryOp::Sub,
            ..
        } => {
            let mut terms = Vec::new();
            collect_terms(expr, &mut terms);
            let mut union = BTreeSet::new();
            let mut first: Option<(Span, BTreeSet<usize>)> = None;
            for term in terms {
                let set = free_set(term, occurrences, problems);
                if set.is_empty() {
                    continue;
                }
                match &first {
                    None => first = Some((term.span, set.clone())),
                    Some((first_span, first_set)) if *first_set != set => {
                        problems.push((term.span, set.clone(), *first_span, first_set.clone()));
                    }
                    Some(_) => {}
                }
                union.extend(set);
            }
            union
        }
        ExprKind::Binary {
            op: BinaryOp::Pow,
            lhs,
            ..
        } => free_set(lhs, occurrences, problems),
        ExprKind::Binary { lhs, rhs, .. } => {
            let mut set = free_set(lhs, occurrences, problems);
            set.extend(free_set(rhs, occurrences, problems));
            set
        }
    }
}

/// Flattens a chain of `+` and `-` into its terms.
fn collect_terms<'a>(expr: &'a Expr, terms: &mut Vec<&'a Expr>) {
    match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::Add | BinaryOp::Sub,
            lhs,
            rhs,
        } => {
            collect_terms(lhs, terms);
            collect_terms(rhs, terms);
        }
        _ => terms.push(expr),
    }
}

/// Evaluates an expression made of numbers only. Returns `Ok(None)` if it contains anything
/// else, or a power whose value is not rational (such as `2^(1/2)`).
///
/// # Errors
///
/// Returns a diagnostic for a division by zero or an exponent too large to evaluate exactly.
pub fn constant_value(expr: &Expr) -> Result<Option<BigRational>, Diagnostic> {
    Ok(match &expr.kind {
        ExprKind::Number(value) => Some(value.clone()),
        ExprKind::Neg(inner) => constant_value(inner)?.map(|v| -v),
        ExprKind::Paren(inner) => constant_value(inner)?,
        ExprKind::Binary { op, lhs, rhs } => {
            let (Some(a), Some(b)) = (constant_value(lhs)?, constant_value(rhs)?) else {
                return Ok(None);
            };
            match op {
                BinaryOp::Add => Some(a + b),
                BinaryOp::Sub => Some(a - b),
                BinaryOp::Mul => Some(a * b),
                BinaryOp::Div => {
                    if b.is_zero() {
                        return Err(Diagnostic::error(
                            "mlp::expr::division_by_zero",
                            "division by zero",
                            expr.span,
                        )
                        .with_label("the divisor is zero"));
                    }
                    Some(a / b)
                }
                BinaryOp::Pow => {
                    if !b.is_integer() {
                        return Ok(None);
                    }
                    let exponent = b
                        .to_integer()
                        .to_i32()
                        .filter(|e| e.abs() <= 1024)
                        .ok_or_else(|| {
                            Diagnostic::error(
                                "mlp::expr::exponent_too_large",
                                "the exponent is too large to evaluate exactly",
                                rhs.span,
                            )
                            .with_label("exponents from -1024 to 1024 are supported")
                        })?;
                    if a.is_zero() && exponent.is_negative() {
                        return Err(Diagnostic::error(
                            "mlp::expr::division_by_zero",
                            "zero raised to a negative power",
                            expr.span,
                        )
                        .with_label("division by zero"));
                    }
                    Some(num_traits::pow::Pow::pow(&a, exponent))
                }
            }
        }
        _ => None,
    })
}

fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 {
        one
    } else {
        many
    }
}

/// Renders the source of a tensor reference with one index replaced, for a suggested fix.
fn replace_index_text(tensor: &Expr, from: &str, to: &str) -> String {
    match &tensor.kind {
        ExprKind::Tensor { name, indices } => {
            let indices: Vec<&str> = indices
                .iter()
                .map(|i| if i.name == from { to } else { i.name.as_str() })
                .collect();
            format!("{}[{}]", name.name, indices.join(", "))
        }
        ExprKind::Delta(a, b) => {
            let pick = |i: &Ident| {
                if i.name == from {
                    to.to_string()
                } else {
                    i.name.clone()
                }
            };
            format!("delta[{}, {}]", pick(a), pick(b))
        }
        _ => String::new(),
    }
}

/// Finds the candidate closest to `name` by edit distance, if it is close enough to be a typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = name.chars().count() / 3;
    if limit == 0 {
        return None;
    }
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}
