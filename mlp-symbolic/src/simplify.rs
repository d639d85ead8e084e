//! Simplification to a canonical form: constants folded exactly, nested sums and products
//! flattened, like terms collected, equal bases merged into powers, Kronecker deltas contracted
//! against sums, and factors ordered. Products are not expanded over sums, so results keep the
//! factored shape a person writes, such as `2 (yhat[j] − y[j]) h[k]`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use num_traits::{One, ToPrimitive, Zero};

use crate::expr::{Element, Expr, Index, Number, BOUND_NAMES};
use crate::substitute::{freshen, rename_indices};

/// Largest integer exponent folded into a number; larger powers stay symbolic, so that a typo
/// such as `10^100000` cannot stall the simplifier.
const MAX_FOLDED_EXPONENT: i64 = 256;

/// Rules [`simplify_with`] may apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimplifyOptions {
    /// Contract Kronecker deltas against the sums that bind one of their indices.
    pub contract_deltas: bool,
}

impl Default for SimplifyOptions {
    fn default() -> Self {
        SimplifyOptions {
            contract_deltas: true,
        }
    }
}

/// Simplifies an expression with every rule enabled.
pub fn simplify(expr: &Expr) -> Expr {
    simplify_with(expr, SimplifyOptions::default())
}

/// Simplifies an expression.
pub fn simplify_with(expr: &Expr, options: SimplifyOptions) -> Expr {
    Simplifier { options }.run(expr)
}

/// Replaces adjoint atoms of a simplified expression by simplified formulas, and simplifies
/// only the nodes on the way from the root to a replaced atom. The formulas are not walked
/// again, which keeps building closed forms of deep models from growing with the cube of depth.
pub fn splice_adjoints(expr: &Expr, replacement: &dyn Fn(&Element) -> Option<Expr>) -> Expr {
    let simplifier = Simplifier {
        options: SimplifyOptions::default(),
    };
    simplifier
        .splice(expr, replacement)
        .unwrap_or_else(|| expr.clone())
}

struct Simplifier {
    options: SimplifyOptions,
}

impl Simplifier {
    /// Returns `None` if nothing below `expr` was replaced.
    fn splice(&self, expr: &Expr, replacement: &dyn Fn(&Element) -> Option<Expr>) -> Option<Expr> {
        let children = |items: &[Expr]| -> Option<Vec<Expr>> {
            let spliced: Vec<Option<Expr>> = items
                .iter()
                .map(|item| self.splice(item, replacement))
                .collect();
            if spliced.iter().all(Option::is_none) {
                return None;
            }
            Some(
                spliced
                    .into_iter()
                    .zip(items)
                    .map(|(new, old)| new.unwrap_or_else(|| old.clone()))
                    .collect(),
            )
        };
        match expr {
            Expr::Adjoint(element) => replacement(element),
            Expr::Add(items) => children(items).map(|items| self.add(items)),
            Expr::Mul(items) => children(items).map(|items| self.mul(items)),
            Expr::Sum(bound, body) => self
                .splice(body, replacement)
                .map(|body| self.sum(bound.clone(), body)),
            Expr::Pow(base, exponent) => self
                .splice(base, replacement)
                .map(|base| self.pow(base, exponent)),
            Expr::Call(function, order, arg) => self
                .splice(arg, replacement)
                .map(|arg| Expr::Call(function.clone(), *order, Box::new(arg))),
            Expr::Num(_) | Expr::Size(_) | Expr::Tensor(_) | Expr::Partial(_) | Expr::Delta(..) => {
                None
            }
        }
    }

    fn run(&self, expr: &Expr) -> Expr {
        match expr {
            Expr::Num(_)
            | Expr::Size(_)
            | Expr::Tensor(_)
            | Expr::Adjoint(_)
            | Expr::Partial(_) => expr.clone(),
            Expr::Delta(a, b) => delta(a, b),
            Expr::Add(items) => self.add(items.iter().map(|item| self.run(item)).collect()),
            Expr::Mul(items) => self.mul(items.iter().map(|item| self.run(item)).collect()),
            Expr::Pow(base, exponent) => self.pow(self.run(base), exponent),
            Expr::Call(function, order, arg) => {
                Expr::Call(function.clone(), *order, Box::new(self.run(arg)))
            }
            Expr::Sum(bound, body) => self.sum(bound.clone(), self.run(body)),
        }
    }

    /// Collects like terms of already simplified terms.
    fn add(&self, items: Vec<Expr>) -> Expr {
        let mut flat = Vec::new();
        for item in items {
            match item {
                Expr::Add(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        let mut collected: BTreeMap<Expr, Number> = BTreeMap::new();
        for term in flat {
            let (coefficient, rest) = split_coefficient(term);
            *collected.entry(rest).or_insert_with(Number::zero) += coefficient;
        }
        let mut terms: Vec<Expr> = collected
            .into_iter()
            .filter(|(_, coefficient)| !coefficient.is_zero())
            .map(|(rest, coefficient)| with_coefficient(coefficient, rest))
            .collect();
        terms.sort();
        Expr::add(terms)
    }

    /// Multiplies already simplified factors: numbers folded, equal bases merged into powers.
    fn mul(&self, items: Vec<Expr>) -> Expr {
        let mut coefficient = Number::one();
        let mut bases: BTreeMap<Expr, Number> = BTreeMap::new();
        let mut pending = items;
        while let Some(item) = pending.pop() {
            match item {
                Expr::Num(n) => coefficient *= n,
                Expr::Mul(inner) => pending.extend(inner),
                Expr::Pow(base, exponent) => {
                    *bases.entry(*base).or_insert_with(Number::zero) += exponent
                }
                other => *bases.entry(other).or_insert_with(Number::zero) += Number::one(),
            }
        }
        if coefficient.is_zero() {
            return Expr::zero();
        }
        let mut factors = Vec::new();
        for (base, exponent) in bases {
            match self.pow(base, &exponent) {
                Expr::Num(n) => coefficient *= n,
                Expr::Mul(inner) => factors.extend(inner),
                other => factors.push(other),
            }
        }
        if coefficient.is_zero() {
            return Expr::zero();
        }
        // A second pass is needed only if a power expanded into factors that merge again.
        if factors.iter().any(|f| matches!(f, Expr::Num(_))) {
            factors.push(Expr::Num(coefficient));
            return self.mul(factors);
        }
        factors.sort();
        if !coefficient.is_one() {
            factors.insert(0, Expr::Num(coefficient));
        }
        Expr::mul(factors)
    }

    fn pow(&self, base: Expr, exponent: &Number) -> Expr {
        if exponent.is_zero() {
            return Expr::one();
        }
        if exponent.is_one() {
            return base;
        }
        let integer = exponent
            .is_integer()
            .then(|| exponent.to_integer().to_i64())
            .flatten();
        match (base, integer) {
            (Expr::Num(n), Some(k))
                if k.abs() <= MAX_FOLDED_EXPONENT && !(n.is_zero() && k < 0) =>
            {
                Expr::Num(num_traits::pow::Pow::pow(&n, k as i32))
            }
            (Expr::Num(n), _) if n.is_one() => Expr::one(),
            (Expr::Pow(inner, m), Some(_)) => self.pow(*inner, &(m * exponent)),
            (Expr::Mul(factors), Some(_)) => {
                self.mul(factors.into_iter().map(|f| self.pow(f, exponent)).collect())
            }
            (delta @ Expr::Delta(..), Some(k)) if k > 0 => delta,
            (base, _) => Expr::Pow(Box::new(base), exponent.clone()),
        }
    }

    fn sum(&self, bound: Vec<Index>, body: Expr) -> Expr {
        if body.is_zero() {
            return Expr::zero();
        }
        // A summed index the body does not mention contributes the size of its range.
        let mut sizes = Vec::new();
        let mut used = Vec::new();
        for index in bound {
            if body.mentions(&index) {
                if !used.contains(&index) {
                    used.push(index);
                }
            } else {
                sizes.push(Expr::Size(index.dim.clone()));
            }
        }
        if !sizes.is_empty() {
            sizes.push(self.sum(used, body));
            return self.mul(sizes);
        }
        let bound = used;
        if bound.is_empty() {
            return body;
        }
        match body {
            // Σ (a + b) = Σ a + Σ b: each term may then contract its own deltas.
            Expr::Add(terms) => self.add(
                terms
                    .into_iter()
                    .map(|t| self.sum(bound.clone(), t))
                    .collect(),
            ),
            Expr::Sum(inner_bound, inner_body) => {
                let mut merged = bound;
                merged.extend(inner_bound);
                self.sum(merged, *inner_body)
            }
            body => {
                let factors = match body {
                    Expr::Mul(factors) => factors,
                    other => vec![other],
                };
                if self.options.contract_deltas {
                    if let Some(contracted) = self.contract(&bound, &factors) {
                        return contracted;
                    }
                    // Σ_l (A δ[i,l] + B δ[i,l]) x[l]: distribute the product over the addition so
                    // that each term can contract its delta.
                    let with_delta = factors.iter().position(|factor| match factor {
                        Expr::Add(terms) => terms.iter().any(|term| has_bound_delta(term, &bound)),
                        _ => false,
                    });
                    if let Some(position) = with_delta {
                        let mut rest = factors;
                        let Expr::Add(terms) = rest.remove(position) else {
                            unreachable!("the position was found for an addition")
                        };
                        let distributed = terms
                            .into_iter()
                            .map(|term| {
                                let mut product = rest.clone();
                                product.push(term);
                                self.sum(bound.clone(), self.mul(product))
                            })
                            .collect();
                        return self.add(distributed);
                    }
                }
                self.hoist(bound, factors)
            }
        }
    }

    /// Σ_i f(i) δ[i, j] = f(j): replaces the summed index of a delta by its partner.
    fn contract(&self, bound: &[Index], factors: &[Expr]) -> Option<Expr> {
        let (position, gone, kept) =
            factors
                .iter()
                .enumerate()
                .find_map(|(at, factor)| match factor {
                    Expr::Delta(a, b) if bound.contains(a) => Some((at, a.clone(), b.clone())),
                    Expr::Delta(a, b) if bound.contains(b) => Some((at, b.clone(), a.clone())),
                    _ => None,
                })?;
        let mut rest: Vec<Expr> = factors
            .iter()
            .enumerate()
            .filter(|(at, _)| *at != position)
            .map(|(_, factor)| factor.clone())
            .collect();
        let remaining: Vec<Index> = bound
            .iter()
            .filter(|index| **index != gone)
            .cloned()
            .collect();
        // A summed index named like the kept index is renamed first, unless it is the kept index
        // itself, as in `Σ_{i,l} δ[i,l] ...`.
        let mut taken = BTreeSet::new();
        for factor in &rest {
            factor.index_names(&mut taken);
        }
        taken.insert(kept.name.clone());
        let (remaining_renamed, mut renames) = freshen(
            &remaining,
            |index| index.name == kept.name && *index != kept,
            &mut taken,
        );
        renames.push((gone, kept));
        rest = rest
            .iter()
            .map(|factor| rename_indices(factor, &renames))
            .collect();
        let body = self.run(&Expr::mul(rest));
        Some(self.sum(remaining_renamed, body))
    }

    /// Moves factors that do not depend on the summed indices out of the sum. Numbers stay
    /// inside, as in `Σ_i 2 (yhat[i] − y[i]) W2[i, j]`.
    fn hoist(&self, mut bound: Vec<Index>, factors: Vec<Expr>) -> Expr {
        let (inside, outside): (Vec<Expr>, Vec<Expr>) = factors.into_iter().partition(|factor| {
            matches!(factor, Expr::Num(_)) || bound.iter().any(|i| factor.mentions(i))
        });
        bound.sort();
        let summed = Expr::Sum(bound, Box::new(Expr::mul(inside)));
        if outside.is_empty() {
            return summed;
        }
        let mut all = outside;
        all.push(summed);
        self.mul(all)
    }
}

/// Returns whether a term is, or has as a factor, a delta on one of the summed indices.
fn has_bound_delta(term: &Expr, bound: &[Index]) -> bool {
    let is_bound_delta =
        |e: &Expr| matches!(e, Expr::Delta(a, b) if bound.contains(a) || bound.contains(b));
    match term {
        Expr::Mul(factors) => factors.iter().any(is_bound_delta),
        other => is_bound_delta(other),
    }
}

fn delta(a: &Index, b: &Index) -> Expr {
    if a == b {
        Expr::one()
    } else if a <= b {
        Expr::Delta(a.clone(), b.clone())
    } else {
        Expr::Delta(b.clone(), a.clone())
    }
}

/// Splits a simplified term into its numeric coefficient and the rest.
fn split_coefficient(term: Expr) -> (Number, Expr) {
    match term {
        Expr::Num(n) => (n, Expr::one()),
        Expr::Mul(mut factors) => match factors.first() {
            Some(Expr::Num(n)) => {
                let n = n.clone();
                factors.remove(0);
                (n, Expr::mul(factors))
            }
            _ => (Number::one(), Expr::Mul(factors)),
        },
        other => (Number::one(), other),
    }
}

fn with_coefficient(coefficient: Number, rest: Expr) -> Expr {
    if rest.is_one() {
        return Expr::Num(coefficient);
    }
    if coefficient.is_one() {
        return rest;
    }
    let mut factors = vec![Expr::Num(coefficient)];
    match rest {
        Expr::Mul(inner) => factors.extend(inner),
        other => factors.push(other),
    }
    Expr::Mul(factors)
}

/// Renames summed indices canonically: in order of appearance, each takes the first name of
/// [`BOUND_NAMES`] that clashes with no free index and no enclosing summed index. Two
/// expressions that differ only in the names of summed indices become identical.
pub fn canonical_names(expr: &Expr) -> Expr {
    let mut current = expr.clone();
    // Renaming can reorder factors, which can change the order of appearance; two rounds reach
    // a fixed point for the shapes the engine produces, and a third costs little.
    for _ in 0..3 {
        let free: BTreeSet<Arc<str>> = current.free_indices().into_iter().map(|i| i.name).collect();
        let renamed = resort(&rename_bound(&current, &free));
        if renamed == current {
            break;
        }
        current = renamed;
    }
    current
}

/// Renames summed indices in one pass. `map` holds, for each original summed index, the stack
/// of names it has in the enclosing sums. Names are candidates from [`BOUND_NAMES`], then `i1`,
/// `i2`, ...; `available` holds the positions of those not taken by a free index or an enclosing
/// sum, so the first free name is found without scanning, even in formulas nested hundreds deep.
struct Renamer {
    free: BTreeSet<Arc<str>>,
    candidates: Vec<Arc<str>>,
    available: BTreeSet<usize>,
    map: HashMap<Index, Vec<Index>>,
}

impl Renamer {
    fn new(free: BTreeSet<Arc<str>>) -> Self {
        let mut renamer = Renamer {
            free,
            candidates: Vec::new(),
            available: BTreeSet::new(),
            map: HashMap::new(),
        };
        for name in BOUND_NAMES {
            renamer.add_candidate(Arc::from(*name));
        }
        renamer
    }

    fn add_candidate(&mut self, name: Arc<str>) {
        if !self.free.contains(&name) {
            self.available.insert(self.candidates.len());
        }
        self.candidates.push(name);
    }

    /// Takes the first available name and returns its position.
    fn take(&mut self) -> usize {
        while self.available.is_empty() {
            let number = self.candidates.len() + 1 - BOUND_NAMES.len();
            self.add_candidate(Arc::from(format!("i{number}")));
        }
        let position = *self.available.first().expect("a candidate is available");
        self.available.remove(&position);
        position
    }

    fn index(&self, index: &Index) -> Index {
        self.map
            .get(index)
            .and_then(|stack| stack.last())
            .cloned()
            .unwrap_or_else(|| index.clone())
    }

    fn element(&self, element: &Element) -> Element {
        Element {
            name: element.name.clone(),
            indices: element.indices.iter().map(|i| self.index(i)).collect(),
        }
    }

    fn run(&mut self, expr: &Expr) -> Expr {
        match expr {
            Expr::Sum(bound, body) => {
                let mut new_bound = Vec::with_capacity(bound.len());
                let mut positions = Vec::with_capacity(bound.len());
                for index in bound {
                    let position = self.take();
                    positions.push(position);
                    let renamed = Index {
                        name: self.candidates[position].clone(),
                        dim: index.dim.clone(),
                    };
                    self.map
                        .entry(index.clone())
                        .or_default()
                        .push(renamed.clone());
                    new_bound.push(renamed);
                }
                let body = self.run(body);
                for index in bound {
                    if let Some(stack) = self.map.get_mut(index) {
                        stack.pop();
                    }
                }
                self.available.extend(positions);
                Expr::Sum(new_bound, Box::new(body))
            }
            Expr::Add(items) => Expr::Add(items.iter().map(|item| self.run(item)).collect()),
            Expr::Mul(items) => Expr::Mul(items.iter().map(|item| self.run(item)).collect()),
            Expr::Call(function, order, arg) => {
                Expr::Call(function.clone(), *order, Box::new(self.run(arg)))
            }
            Expr::Pow(base, exponent) => Expr::Pow(Box::new(self.run(base)), exponent.clone()),
            Expr::Tensor(element) => Expr::Tensor(self.element(element)),
            Expr::Adjoint(element) => Expr::Adjoint(self.element(element)),
            Expr::Partial(pair) => {
                Expr::Partial(Box::new((self.element(&pair.0), self.element(&pair.1))))
            }
            Expr::Delta(a, b) => Expr::Delta(self.index(a), self.index(b)),
            Expr::Num(_) | Expr::Size(_) => expr.clone(),
        }
    }
}

fn rename_bound(expr: &Expr, free: &BTreeSet<Arc<str>>) -> Expr {
    Renamer::new(free.clone()).run(expr)
}

/// Sorts the terms, factors and summed indices of an expression without other changes.
pub fn resort(expr: &Expr) -> Expr {
    match expr {
        Expr::Add(items) => {
            let mut items: Vec<Expr> = items.iter().map(resort).collect();
            items.sort();
            Expr::Add(items)
        }
        Expr::Mul(items) => {
            let mut items: Vec<Expr> = items.iter().map(resort).collect();
            // The coefficient stays in front.
            let start = usize::from(matches!(items.first(), Some(Expr::Num(_))));
            items[start..].sort();
            Expr::Mul(items)
        }
        Expr::Sum(bound, body) => {
            let mut bound = bound.clone();
            bound.sort();
            Expr::Sum(bound, Box::new(resort(body)))
        }
        Expr::Call(function, order, arg) => {
            Expr::Call(function.clone(), *order, Box::new(resort(arg)))
        }
        Expr::Pow(base, exponent) => Expr::Pow(Box::new(resort(base)), exponent.clone()),
        Expr::Delta(a, b) => delta(a, b),
        other => other.clone(),
    }
}

/// Simplifies and then names summed indices canonically.
pub fn canonical(expr: &Expr) -> Expr {
    canonical_names(&simplify(expr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Dim, Element};

    #[test]
    fn contraction_of_delta_between_summed_indices() {
        // Σ_{i,l} A[i,l] δ[i,l] δ[j,l] = A[j,j]
        let dim = Dim::Named("I".into());
        let (i, j, l) = (
            Index::new("i", dim.clone()),
            Index::new("j", dim.clone()),
            Index::new("l", dim),
        );
        let expr = Expr::Sum(
            vec![i.clone(), l.clone()],
            Box::new(Expr::Mul(vec![
                Expr::Adjoint(Element::new("A", vec![i.clone(), l.clone()])),
                Expr::Delta(i, l.clone()),
                Expr::Delta(j.clone(), l),
            ])),
        );
        let expected = Expr::Adjoint(Element::new("A", vec![j.clone(), j]));
        assert_eq!(canonical(&expr), expected);
    }
}
