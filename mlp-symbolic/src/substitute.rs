//! Capture-avoiding renaming of indices and substitution of tensor elements.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::expr::{fresh_name, Element, Expr, Index, BOUND_NAMES};

/// Renames free occurrences of indices, all at once: each `(from, to)` pair maps `from` to `to`.
/// A summed index whose name would capture a `to` is renamed first.
pub fn rename_indices(expr: &Expr, map: &[(Index, Index)]) -> Expr {
    if map.is_empty() {
        return expr.clone();
    }
    let apply = |index: &Index| -> Index {
        map.iter()
            .find(|(from, _)| from == index)
            .map_or_else(|| index.clone(), |(_, to)| to.clone())
    };
    let element = |e: &Element| Element {
        name: e.name.clone(),
        indices: e.indices.iter().map(apply).collect(),
    };
    match expr {
        Expr::Num(_) | Expr::Size(_) => expr.clone(),
        Expr::Tensor(e) => Expr::Tensor(element(e)),
        Expr::Adjoint(e) => Expr::Adjoint(element(e)),
        Expr::Partial(pair) => Expr::Partial(Box::new((element(&pair.0), element(&pair.1)))),
        Expr::Delta(a, b) => Expr::Delta(apply(a), apply(b)),
        Expr::Add(items) => Expr::Add(items.iter().map(|item| rename_indices(item, map)).collect()),
        Expr::Mul(items) => Expr::Mul(items.iter().map(|item| rename_indices(item, map)).collect()),
        Expr::Call(function, order, arg) => {
            Expr::Call(function.clone(), *order, Box::new(rename_indices(arg, map)))
        }
        Expr::Pow(base, exponent) => {
            Expr::Pow(Box::new(rename_indices(base, map)), exponent.clone())
        }
        Expr::Sum(bound, body) => {
            // Indices bound here shadow the map.
            let mut active: Vec<(Index, Index)> = map
                .iter()
                .filter(|(from, _)| !bound.contains(from))
                .cloned()
                .collect();
            let clashes = |active: &[(Index, Index)]| {
                bound
                    .iter()
                    .any(|index| active.iter().any(|(_, to)| to.name == index.name))
            };
            // Finding what the body mentions walks all of it, so it is done only when a summed
            // index could capture a target; deep formulas would otherwise cost a walk per level.
            if clashes(&active) {
                active.retain(|(from, _)| body.mentions(from));
            }
            if active.is_empty() {
                return expr.clone();
            }
            if !clashes(&active) {
                return Expr::Sum(bound.clone(), Box::new(rename_indices(body, &active)));
            }
            let targets: BTreeSet<Arc<str>> =
                active.iter().map(|(_, to)| to.name.clone()).collect();
            let mut taken = BTreeSet::new();
            body.index_names(&mut taken);
            taken.extend(targets.iter().cloned());
            taken.extend(active.iter().map(|(from, _)| from.name.clone()));
            let (new_bound, renames) =
                freshen(bound, |index| targets.contains(&index.name), &mut taken);
            let mut inner = active;
            inner.extend(renames);
            Expr::Sum(new_bound, Box::new(rename_indices(body, &inner)))
        }
    }
}

/// Renames every index of `indices` that `clashes` selects to a fresh name outside `taken`, and
/// adds the new names to `taken`. Returns the new list and the `(old, new)` pairs to pass to
/// [`rename_indices`].
pub fn freshen(
    indices: &[Index],
    clashes: impl Fn(&Index) -> bool,
    taken: &mut BTreeSet<Arc<str>>,
) -> (Vec<Index>, Vec<(Index, Index)>) {
    let mut renames = Vec::new();
    let mut fresh = Vec::with_capacity(indices.len());
    for index in indices {
        if clashes(index) {
            let name = fresh_name(BOUND_NAMES, taken);
            taken.insert(name.clone());
            let renamed = Index {
                name,
                dim: index.dim.clone(),
            };
            renames.push((index.clone(), renamed.clone()));
            fresh.push(renamed);
        } else {
            fresh.push(index.clone());
        }
    }
    (fresh, renames)
}

/// The kind of element [`substitute`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Tensor elements `name[..]`.
    Tensor,
    /// Adjoints `∂L/∂name[..]`.
    Adjoint,
}

/// Replaces every element `name[idx..]` of the given kind by `replacement` with its `params`
/// renamed to `idx..`.
pub fn substitute(
    expr: &Expr,
    target: Target,
    name: &str,
    params: &[Index],
    replacement: &Expr,
) -> Expr {
    let recurse = |e: &Expr| substitute(e, target, name, params, replacement);
    match expr {
        Expr::Tensor(element) if target == Target::Tensor && &*element.name == name => {
            instantiate(params, &element.indices, replacement)
        }
        Expr::Adjoint(element) if target == Target::Adjoint && &*element.name == name => {
            instantiate(params, &element.indices, replacement)
        }
        Expr::Num(_)
        | Expr::Size(_)
        | Expr::Tensor(_)
        | Expr::Adjoint(_)
        | Expr::Partial(_)
        | Expr::Delta(..) => expr.clone(),
        Expr::Add(items) => Expr::Add(items.iter().map(recurse).collect()),
        Expr::Mul(items) => Expr::Mul(items.iter().map(recurse).collect()),
        Expr::Call(function, order, arg) => {
            Expr::Call(function.clone(), *order, Box::new(recurse(arg)))
        }
        Expr::Pow(base, exponent) => Expr::Pow(Box::new(recurse(base)), exponent.clone()),
        Expr::Sum(bound, body) => Expr::Sum(bound.clone(), Box::new(recurse(body))),
    }
}

fn instantiate(params: &[Index], indices: &[Index], replacement: &Expr) -> Expr {
    let map: Vec<(Index, Index)> = params
        .iter()
        .cloned()
        .zip(indices.iter().cloned())
        .filter(|(from, to)| from != to)
        .collect();
    rename_indices(replacement, &map)
}
