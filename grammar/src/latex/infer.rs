//! Infers the declarations that a lecture note leaves implicit.
//!
//! Conventions, applied to the names that the relations read but never define:
//!
//! - a **parameter** is a name written with a layer superscript (`W^{(1)}` gives `W1`) or one
//!   that a derivation differentiates by (`\partial W_{jk}`);
//! - a **target** is a name subtracted from (or from which is subtracted) an expression that
//!   reads a relation, inside the loss: `y` in `(\hat y_i - y_i)^2`;
//! - every other name is an **input**;
//! - a called function that is not built in (`\sigma`) is declared abstract with `fn`.
//!
//! The loss is the relation that every derivation differentiates (`L` in
//! `\frac{\partial L}{\partial ...}`), or, without derivations, the last scalar relation.
//!
//! Dimensions: every axis of every tensor starts with its own dimension. Inside each relation,
//! an index joins the dimensions of all the axes it indexes (following `\sum` scopes, and joining
//! both sides of a Kronecker delta). Each resulting dimension is named `n_<name>` after the first
//! vector (one axis) that has it, such as `n_x` and `n_h`, or `n_<name>_<axis>` after the first
//! matrix axis if no vector has it. Derivations do not join dimensions, so an index mistake in a
//! derivation is reported by the checker instead of silently merging two sizes.

use std::collections::{HashMap, HashSet};

use crate::ast::Derivation;
use crate::ast::{
    BinaryOp, DimDecl, DimRef, Expr, ExprKind, Ident, Relation, Statement, TensorDecl, TensorRole,
};
use crate::check::BUILTIN_FUNCTIONS;
use crate::span::Span;

/// Infers the declarations (`dim`, `fn`, `input`, `target`, `param`, `loss`) of a document.
pub(crate) fn infer_declarations(
    relations: &[Relation],
    derivations: &[Derivation],
    layered: &HashMap<String, Span>,
) -> Vec<Statement> {
    let defined: HashSet<&str> = relations.iter().map(|r| r.name.name.as_str()).collect();
    let mut uses: Vec<(Ident, usize)> = Vec::new();
    let mut functions: Vec<Ident> = Vec::new();
    for relation in relations {
        relation.body.walk(&mut |expr| match &expr.kind {
            ExprKind::Tensor { name, indices } => {
                let known = uses.iter().any(|(used, _)| used.name == name.name);
                if !defined.contains(name.name.as_str()) && !known {
                    uses.push((name.clone(), indices.len()));
                }
            }
            ExprKind::Call { function, .. } => {
                let builtin = BUILTIN_FUNCTIONS.contains(&function.name.as_str());
                if !builtin && !functions.iter().any(|f| f.name == function.name) {
                    functions.push(function.clone());
                }
            }
            _ => {}
        });
    }

    let differentiated = differentiated_names(derivations);
    let loss = loss_name(relations, derivations);
    let loss_relation = loss
        .as_ref()
        .map(|name| name.name.clone())
        .or_else(|| {
            relations
                .iter()
                .rev()
                .find(|r| r.indices.is_empty())
                .map(|r| r.name.name.clone())
        })
        .and_then(|name| relations.iter().find(|r| r.name.name == name));
    let is_param = |name: &str| layered.contains_key(name) || differentiated.contains(name);
    let mut targets: HashSet<String> = HashSet::new();
    if let Some(relation) = loss_relation {
        collect_targets(&relation.body, &defined, &mut targets);
    }

    let dims = infer_dims(relations, &uses, &defined, &functions);
    let mut declared: [Vec<TensorDecl>; 3] = Default::default();
    for (name, rank) in &uses {
        let role = if is_param(&name.name) {
            TensorRole::Param
        } else if targets.contains(&name.name) {
            TensorRole::Target
        } else {
            TensorRole::Input
        };
        let shape = (0..*rank)
            .map(|axis| {
                let dim = dims.name_of(&name.name, axis);
                DimRef::Named(Ident::new(dim, name.span))
            })
            .collect();
        let slot = match role {
            TensorRole::Input => 0,
            TensorRole::Target => 1,
            TensorRole::Param => 2,
        };
        declared[slot].push(TensorDecl {
            name: name.clone(),
            shape,
        });
    }

    let mut statements = Vec::new();
    if !dims.declarations.is_empty() {
        statements.push(Statement::Dim(dims.declarations));
    }
    if !functions.is_empty() {
        statements.push(Statement::Function(functions));
    }
    let roles = [TensorRole::Input, TensorRole::Target, TensorRole::Param];
    for (role, decls) in roles.into_iter().zip(declared) {
        if !decls.is_empty() {
            statements.push(Statement::Tensor(role, decls));
        }
    }
    if let Some(loss) = loss {
        statements.push(Statement::Loss(loss));
    }
    statements
}

/// Returns the names that the derivations differentiate by.
fn differentiated_names(derivations: &[Derivation]) -> HashSet<String> {
    let mut names = HashSet::new();
    for derivation in derivations {
        let exprs =
            std::iter::once(&derivation.start).chain(derivation.steps.iter().map(|s| &s.expr));
        for expr in exprs {
            expr.walk(&mut |node| {
                if let ExprKind::Partial { wrt, .. } = &node.kind {
                    names.insert(wrt.name.name.clone());
                }
            });
        }
    }
    names
}

/// Returns the scalar relation that every derivation starts by differentiating, if there is one.
fn loss_name(relations: &[Relation], derivations: &[Derivation]) -> Option<Ident> {
    let mut numerators = derivations.iter().map(|d| match &d.start.kind {
        ExprKind::Partial { of, .. } if of.indices.is_empty() => Some(&of.name),
        _ => None,
    });
    let first = numerators.next()??;
    if !numerators.all(|other| other.is_some_and(|o| o.name == first.name)) {
        return None;
    }
    let relation = relations.iter().find(|r| r.name.name == first.name)?;
    relation
        .indices
        .is_empty()
        .then(|| Ident::new(first.name.clone(), first.span))
}

/// Finds undefined tensors compared, by subtraction, with an expression that reads a relation.
fn collect_targets(expr: &Expr, defined: &HashSet<&str>, targets: &mut HashSet<String>) {
    expr.walk(&mut |node| {
        let ExprKind::Binary {
            op: BinaryOp::Sub,
            lhs,
            rhs,
        } = &node.kind
        else {
            return;
        };
        for (side, other) in [(lhs, rhs), (rhs, lhs)] {
            if let ExprKind::Tensor { name, .. } = &strip_parens(side).kind {
                if !defined.contains(name.name.as_str()) && reads_relation(other, defined) {
                    targets.insert(name.name.clone());
                }
            }
        }
    });
}

fn strip_parens(expr: &Expr) -> &Expr {
    match &expr.kind {
        ExprKind::Paren(inner) => strip_parens(inner),
        _ => expr,
    }
}

fn reads_relation(expr: &Expr, defined: &HashSet<&str>) -> bool {
    let mut found = false;
    expr.walk(&mut |node| {
        if let ExprKind::Tensor { name, .. } = &node.kind {
            found |= defined.contains(name.name.as_str());
        }
    });
    found
}

/// Inferred dimensions: a `dim` item per class of joined axes, and the class of each axis.
struct Dims {
    declarations: Vec<DimDecl>,
    names: HashMap<(String, usize), String>,
}

impl Dims {
    fn name_of(&self, tensor: &str, axis: usize) -> String {
        self.names
            .get(&(tensor.to_string(), axis))
            .cloned()
            .unwrap_or_else(|| format!("n_{tensor}_{}", axis + 1))
    }
}

#[derive(Default)]
struct AxisClasses {
    parent: Vec<usize>,
    axes: HashMap<(String, usize), usize>,
    /// Axes in order of first appearance, with the span of that appearance.
    order: Vec<((String, usize), Span)>,
}

impl AxisClasses {
    fn node(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    fn axis(&mut self, tensor: &Ident, axis: usize) -> usize {
        let key = (tensor.name.clone(), axis);
        if let Some(&node) = self.axes.get(&key) {
            return node;
        }
        let node = self.node();
        self.axes.insert(key.clone(), node);
        self.order.push((key, tensor.span));
        node
    }

    fn find(&mut self, mut node: usize) -> usize {
        while self.parent[node] != node {
            self.parent[node] = self.parent[self.parent[node]];
            node = self.parent[node];
        }
        node
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        self.parent[b] = a;
    }

    /// Joins the axes that each index of `expr` indexes. `scope` maps index names to their
    /// binding nodes, innermost last.
    fn visit(&mut self, expr: &Expr, scope: &mut Vec<(String, usize)>) {
        let lookup = |scope: &Vec<(String, usize)>, index: &Ident| {
            scope
                .iter()
                .rev()
                .find(|(name, _)| *name == index.name)
                .map(|(_, node)| *node)
        };
        match &expr.kind {
            ExprKind::Tensor { name, indices } => {
                for (axis, index) in indices.iter().enumerate() {
                    let node = self.axis(name, axis);
                    if let Some(binding) = lookup(scope, index) {
                        self.union(binding, node);
                    }
                }
            }
            ExprKind::Delta(a, b) => {
                if let (Some(a), Some(b)) = (lookup(scope, a), lookup(scope, b)) {
                    self.union(a, b);
                }
            }
            ExprKind::Sum { indices, body } => {
                let depth = scope.len();
                for index in indices {
                    let node = self.node();
                    scope.push((index.name.clone(), node));
                }
                self.visit(body, scope);
                scope.truncate(depth);
            }
            ExprKind::Call { argument, .. } => self.visit(argument, scope),
            ExprKind::Neg(inner) | ExprKind::Paren(inner) => self.visit(inner, scope),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.visit(lhs, scope);
                self.visit(rhs, scope);
            }
            ExprKind::Number(_) | ExprKind::Partial { .. } => {}
        }
    }
}

fn infer_dims(
    relations: &[Relation],
    uses: &[(Ident, usize)],
    defined: &HashSet<&str>,
    functions: &[Ident],
) -> Dims {
    let mut classes = AxisClasses::default();
    for relation in relations {
        let mut scope = Vec::new();
        for (axis, index) in relation.indices.iter().enumerate() {
            let node = classes.axis(&relation.name, axis);
            scope.push((index.name.clone(), node));
        }
        classes.visit(&relation.body, &mut scope);
    }

    let ranks: HashMap<&str, usize> = uses
        .iter()
        .map(|(name, rank)| (name.name.as_str(), *rank))
        .chain(
            relations
                .iter()
                .map(|r| (r.name.name.as_str(), r.indices.len())),
        )
        .collect();
    let mut taken: HashSet<String> = defined.iter().map(|name| name.to_string()).collect();
    taken.extend(uses.iter().map(|(name, _)| name.name.clone()));
    taken.extend(functions.iter().map(|f| f.name.clone()));

    // Name each class after its first vector, or else its first axis.
    let order = classes.order.clone();
    let mut class_names: HashMap<usize, (String, Span)> = HashMap::new();
    for prefer_vectors in [true, false] {
        for ((tensor, axis), span) in &order {
            let is_vector = ranks.get(tensor.as_str()) == Some(&1);
            if prefer_vectors && !is_vector {
                continue;
            }
            let class = classes.find(classes.axes[&(tensor.clone(), *axis)]);
            if class_names.contains_key(&class) {
                continue;
            }
            let mut name = if is_vector {
                format!("n_{tensor}")
            } else {
                format!("n_{tensor}_{}", axis + 1)
            };
            while taken.contains(&name) {
                name.push('_');
            }
            taken.insert(name.clone());
            class_names.insert(class, (name, *span));
        }
    }

    // Declare the dimensions that inferred tensors use, in order of first appearance.
    let mut declarations: Vec<DimDecl> = Vec::new();
    let mut names = HashMap::new();
    for ((tensor, axis), _) in &order {
        if !uses.iter().any(|(name, _)| name.name == *tensor) {
            continue;
        }
        let class = classes.find(classes.axes[&(tensor.clone(), *axis)]);
        let (name, span) = class_names[&class].clone();
        if !declarations.iter().any(|d| d.name.name == name) {
            declarations.push(DimDecl {
                name: Ident::new(name.clone(), span),
                value: None,
            });
        }
        names.insert((tensor.clone(), *axis), name);
    }
    Dims {
        declarations,
        names,
    }
}
