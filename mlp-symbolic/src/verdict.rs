//! Verdicts on hand derivations: each claim compared with the derived gradient, each step of a
//! derivation with the step before it.
//!
//! A step may contain unevaluated partial derivatives. `∂L/∂X[..]`, with `L` the loss, means the
//! derived adjoint or gradient with its free indices renamed to the step's. `∂R[a]/∂X[b]` for a
//! relation `R` means the total derivative: `R`'s body differentiated by `X[b]` directly, plus,
//! for every relation `S` that the body reads, `Σ_c ∂body/∂S[c] · ∂S[c]/∂X[b]` (forward mode).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mlp_grammar::{CheckedModel, Span};

use crate::chain_rule::differentiate;
use crate::equivalence::{
    as_fraction, called_functions, close, constant_difference, constant_ratio,
    equal_by_canonical_form, fraction_text, numerically_equal, sample, trials, NumericOptions,
    Sample, Trial,
};
use crate::eval::Array;
use crate::expr::{fresh_name, Element, Expr, Function, Index, BOUND_NAMES};
use crate::gradient::{derive, Derivation};
use crate::model::{LowerError, Lowering, Model};
use crate::render::{render, Format};
use crate::simplify::simplify;
use crate::substitute::rename_indices;

/// The outcome of comparing two expressions.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Equal: the normal form of the difference is zero.
    Canonical,
    /// Equal at every random point tried.
    Numeric {
        /// How many random points were tried.
        trials: usize,
    },
    /// Not equal.
    NotEqual {
        /// The most likely slip, when one explains the difference.
        slip: Option<Slip>,
        /// A point where the sides differ; none for a free-index mismatch.
        counterexample: Option<Counterexample>,
    },
    /// The comparison could not be made, for example because a side cannot be evaluated.
    Unchecked {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// Whether the sides were shown equal.
    pub fn is_equal(&self) -> bool {
        matches!(self, Verdict::Canonical | Verdict::Numeric { .. })
    }
}

/// A likely slip: a small change to the claimed side that makes it equal to the expected one.
#[derive(Debug, Clone, PartialEq)]
pub enum Slip {
    /// The claimed side is a constant multiple of the expected one (other than −1).
    ConstantFactor {
        /// `claimed / expected`, as `2` or `1/2` when it is a simple fraction.
        ratio: String,
    },
    /// The claimed side is the negative of the expected one.
    Sign,
    /// Two free indices of the claimed side are swapped.
    SwappedIndices {
        /// The two indices.
        first: String,
        /// The other.
        second: String,
    },
    /// A tensor is transposed: two of its axes are swapped at every occurrence.
    TransposedTensor {
        /// The tensor's name.
        tensor: String,
        /// The swapped axes, counted from 1.
        axes: (usize, usize),
    },
    /// The claimed side lacks a factor of the expected side.
    MissingFactor {
        /// The factor, rendered.
        factor: String,
        /// Whether it is a derivative such as `σ'(a[j])`.
        derivative: bool,
    },
    /// The claimed side has a factor the expected side lacks.
    ExtraFactor {
        /// The factor, rendered.
        factor: String,
    },
    /// The claimed side differs from the expected one by a nonzero number, found exactly by the
    /// normal form, so even a difference below the numeric tolerance is caught.
    ConstantTerm {
        /// `claimed − expected`, as `p/q` or an integer.
        difference: String,
    },
    /// The claimed side is infinite or NaN at a point where the expected side is finite.
    NotFinite {
        /// The claimed value there: `inf`, `-inf` or `NaN`.
        value: String,
    },
    /// The sides carry different free indices.
    FreeIndexMismatch {
        /// The free indices of the expected side.
        expected: Vec<String>,
        /// The free indices of the claimed side.
        claimed: Vec<String>,
    },
}

impl Slip {
    /// A short kebab-case name of the kind of slip, for machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            Slip::ConstantFactor { .. } => "constant-factor",
            Slip::Sign => "sign",
            Slip::SwappedIndices { .. } => "swapped-indices",
            Slip::TransposedTensor { .. } => "transposed-tensor",
            Slip::MissingFactor {
                derivative: true, ..
            } => "missing-derivative-factor",
            Slip::MissingFactor { .. } => "missing-factor",
            Slip::ExtraFactor { .. } => "extra-factor",
            Slip::ConstantTerm { .. } => "constant-term",
            Slip::NotFinite { .. } => "not-finite",
            Slip::FreeIndexMismatch { .. } => "free-index-mismatch",
        }
    }
}

impl std::fmt::Display for Slip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slip::ConstantFactor { ratio } => {
                let missing = ratio.strip_prefix("1/").filter(|rest| !rest.contains('/'));
                match missing {
                    Some(factor) => write!(f, "missing factor {factor} (ratio {ratio})"),
                    None => write!(f, "wrong constant factor (ratio {ratio})"),
                }
            }
            Slip::Sign => f.write_str("sign (ratio -1)"),
            Slip::SwappedIndices { first, second } => {
                write!(f, "indices `{first}` and `{second}` swapped")
            }
            Slip::TransposedTensor { tensor, axes } => write!(
                f,
                "`{tensor}` transposed (axes {} and {} swapped)",
                axes.0, axes.1
            ),
            Slip::MissingFactor {
                factor,
                derivative: true,
            } => write!(f, "missing derivative factor {factor}"),
            Slip::MissingFactor { factor, .. } => write!(f, "missing factor {factor}"),
            Slip::ExtraFactor { factor } => write!(f, "extra factor {factor}"),
            Slip::ConstantTerm { difference } => write!(
                f,
                "the sides differ by the constant {difference} (written minus expected)"
            ),
            Slip::NotFinite { value } => write!(
                f,
                "the written side is {value} at a point where the expected side is finite"
            ),
            Slip::FreeIndexMismatch { expected, claimed } => write!(
                f,
                "free indices differ: {} before, {} here",
                index_list(expected),
                index_list(claimed)
            ),
        }
    }
}

fn index_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A point where two expressions differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Counterexample {
    /// The size of every named dimension.
    pub sizes: BTreeMap<String, usize>,
    /// The value of every free index, counted from 1.
    pub indices: Vec<(String, usize)>,
    /// The expected side's value there.
    pub expected: f64,
    /// The claimed side's value there.
    pub claimed: f64,
    /// The tensors either side reads, with their values (row-major), relations included.
    pub tensors: BTreeMap<String, Array>,
    /// The stand-ins used for abstract functions, as formulas.
    pub functions: BTreeMap<String, String>,
}

/// Compares expressions in the context of a model: resolves partial derivatives and draws the
/// random points once.
pub struct Comparer<'a> {
    model: &'a Model,
    derivation: &'a Derivation,
    trials: Result<Vec<Trial>, String>,
    options: NumericOptions,
}

impl<'a> Comparer<'a> {
    /// A comparer for a model and its derivation.
    pub fn new(model: &'a Model, derivation: &'a Derivation, options: NumericOptions) -> Self {
        let mut functions = BTreeSet::new();
        for relation in &model.relations {
            called_functions(&relation.body, &mut functions);
        }
        let trials = trials(model, &functions, options).map_err(|e| e.to_string());
        Comparer {
            model,
            derivation,
            trials,
            options,
        }
    }

    /// Replaces every unevaluated partial derivative by its meaning.
    pub fn resolve(&self, expr: &Expr) -> Expr {
        match expr {
            Expr::Partial(pair) => self.partial(&pair.0, &pair.1),
            Expr::Add(items) => Expr::Add(items.iter().map(|e| self.resolve(e)).collect()),
            Expr::Mul(items) => Expr::Mul(items.iter().map(|e| self.resolve(e)).collect()),
            Expr::Sum(bound, body) => Expr::Sum(bound.clone(), Box::new(self.resolve(body))),
            Expr::Call(function, order, arg) => {
                Expr::Call(function.clone(), *order, Box::new(self.resolve(arg)))
            }
            Expr::Pow(base, exponent) => Expr::Pow(Box::new(self.resolve(base)), exponent.clone()),
            other => other.clone(),
        }
    }

    fn partial(&self, of: &Element, wrt: &Element) -> Expr {
        let loss = &self.model.loss().lhs.name;
        if &of.name == loss && of.name != wrt.name {
            let derived = self
                .derivation
                .gradient(&wrt.name)
                .or_else(|| self.derivation.adjoint(&wrt.name));
            if let Some(derivative) = derived {
                return instantiate(&derivative.wrt.indices, &wrt.indices, &derivative.expanded);
            }
        }
        simplify(&self.total(of, wrt))
    }

    /// `d of / d wrt` through every relation between them.
    fn total(&self, of: &Element, wrt: &Element) -> Expr {
        let relation = match self.model.relation(&of.name) {
            Some(relation) if of.name != wrt.name => relation,
            _ => return differentiate(&Expr::Tensor(of.clone()), wrt),
        };
        let body = instantiate(&relation.lhs.indices, &of.indices, &relation.body);
        let mut terms = vec![differentiate(&body, wrt)];
        let mut read: Vec<Arc<str>> = Vec::new();
        body.walk(&mut |e| {
            if let Expr::Tensor(element) = e {
                if element.name != wrt.name
                    && self.model.relation(&element.name).is_some()
                    && !read.contains(&element.name)
                {
                    read.push(element.name.clone());
                }
            }
        });
        for name in read {
            let Some(inner) = self.model.relation(&name) else {
                continue;
            };
            let mut taken = BTreeSet::new();
            body.index_names(&mut taken);
            taken.extend(wrt.indices.iter().map(|i| i.name.clone()));
            taken.extend(of.indices.iter().map(|i| i.name.clone()));
            let fresh: Vec<Index> = inner
                .lhs
                .indices
                .iter()
                .map(|index| {
                    let name = fresh_name(BOUND_NAMES, &taken);
                    taken.insert(name.clone());
                    index.renamed(&name)
                })
                .collect();
            let element = Element {
                name: name.clone(),
                indices: fresh.clone(),
            };
            let local = simplify(&differentiate(&body, &element));
            if local.is_zero() {
                continue;
            }
            let through = self.total(&element, wrt);
            if through.is_zero() {
                continue;
            }
            terms.push(Expr::sum(fresh, Expr::mul(vec![local, through])));
        }
        Expr::add(terms)
    }

    /// Compares `claimed` with `expected`, both as written (partials unresolved), as values of
    /// a left side with the free indices `free`. A side without some of them is broadcast over
    /// those, so only an index outside `free` is a free-index mismatch.
    pub fn compare(&self, expected: &Expr, claimed: &Expr, free: &BTreeSet<Index>) -> Comparison {
        let expected_free = expected.free_indices();
        let claimed_free = claimed.free_indices();
        let resolved_expected = self.resolve(expected);
        let resolved_claimed = self.resolve(claimed);
        let verdict = if !claimed_free.is_subset(free) || !expected_free.is_subset(free) {
            Verdict::NotEqual {
                slip: Some(Slip::FreeIndexMismatch {
                    expected: names(free),
                    claimed: names(&claimed_free),
                }),
                counterexample: None,
            }
        } else if equal_by_canonical_form(&resolved_expected, &resolved_claimed) {
            Verdict::Canonical
        } else if let Some(difference) = constant_difference(&resolved_expected, &resolved_claimed)
        {
            let free: Vec<Index> = free.iter().cloned().collect();
            Verdict::NotEqual {
                slip: Some(Slip::ConstantTerm {
                    difference: fraction_text(&difference),
                }),
                counterexample: self.first_point(&resolved_expected, &resolved_claimed, &free),
            }
        } else {
            let free: Vec<Index> = free.iter().cloned().collect();
            self.numeric(&resolved_expected, &resolved_claimed, &free)
        };
        Comparison {
            expected: resolved_expected,
            claimed: resolved_claimed,
            verdict,
        }
    }

    fn numeric(&self, expected: &Expr, claimed: &Expr, free: &[Index]) -> Verdict {
        let trials = match &self.trials {
            Ok(trials) => trials,
            Err(reason) => {
                return Verdict::Unchecked {
                    reason: format!("cannot run the model on random values: {reason}"),
                }
            }
        };
        let samples = match sample(expected, claimed, free, trials) {
            Ok(samples) => samples,
            Err(error) => {
                return Verdict::Unchecked {
                    reason: format!("cannot evaluate: {error}"),
                }
            }
        };
        let failing: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.first_difference().is_some())
            .collect();
        if failing.is_empty() {
            if !samples.iter().any(Sample::has_finite_entry) {
                return Verdict::Unchecked {
                    reason: "both sides are NaN at every random point, so the numeric test has \
                             no evidence"
                        .into(),
                };
            }
            return Verdict::Numeric {
                trials: self.options.trials,
            };
        }
        // The smallest failing trial gives the shortest counterexample.
        let smallest = failing
            .iter()
            .min_by_key(|s| trials[s.trial].values.dims.values().sum::<usize>())
            .copied();
        let counterexample = smallest.and_then(|s| {
            let at = s.first_difference()?;
            self.counterexample(s, at, &trials[s.trial], expected, claimed, free)
        });
        Verdict::NotEqual {
            slip: self.slip(expected, claimed, free, &samples, trials),
            counterexample,
        }
    }

    /// The values of both sides at the first entry of the first trial, as a counterexample for a
    /// difference proved by the normal form.
    fn first_point(
        &self,
        expected: &Expr,
        claimed: &Expr,
        free: &[Index],
    ) -> Option<Counterexample> {
        let trials = self.trials.as_ref().ok()?;
        let first = sample(expected, claimed, free, trials.get(..1)?).ok()?;
        let first = first.first()?;
        self.counterexample(first, 0, &trials[0], expected, claimed, free)
    }

    /// The counterexample at flat position `at` of a sample.
    fn counterexample(
        &self,
        sample: &Sample,
        at: usize,
        trial: &Trial,
        expected: &Expr,
        claimed: &Expr,
        free: &[Index],
    ) -> Option<Counterexample> {
        let shape = &sample.expected.shape;
        let mut rest = at;
        let mut values = vec![0; shape.len()];
        for axis in (0..shape.len()).rev() {
            values[axis] = rest % shape[axis];
            rest /= shape[axis];
        }
        let indices = free
            .iter()
            .zip(values)
            .map(|(index, value)| (index.name.to_string(), value + 1))
            .collect();
        let mut read = BTreeSet::new();
        let mut functions = BTreeSet::new();
        for side in [expected, claimed] {
            side.walk(&mut |e| {
                if let Expr::Tensor(element) = e {
                    read.insert(element.name.clone());
                }
            });
            called_functions(side, &mut functions);
        }
        let tensors = read
            .into_iter()
            .filter_map(|name| {
                let array = trial.values.tensors.get(&name)?;
                Some((name.to_string(), array.clone()))
            })
            .collect();
        let functions = functions
            .into_iter()
            .filter_map(|name| {
                let f = trial.functions.get(&name)?;
                Some((
                    name.to_string(),
                    format!(
                        "{:.3} sin({:.3} x + {:.3}) + {:.3} x",
                        f.amplitude, f.frequency, f.phase, f.slope
                    ),
                ))
            })
            .collect();
        Some(Counterexample {
            sizes: trial.sizes(),
            indices,
            expected: sample.expected.data[at],
            claimed: sample.claimed.data[at],
            tensors,
            functions,
        })
    }

    /// Looks for a small change to `claimed` that makes it equal to `expected`.
    fn slip(
        &self,
        expected: &Expr,
        claimed: &Expr,
        free: &[Index],
        samples: &[Sample],
        trials: &[Trial],
    ) -> Option<Slip> {
        let not_finite = samples.iter().find_map(|s| {
            s.expected
                .data
                .iter()
                .zip(&s.claimed.data)
                .find(|(a, b)| a.is_finite() && !b.is_finite())
                .map(|(_, b)| *b)
        });
        if let Some(value) = not_finite {
            return Some(Slip::NotFinite {
                value: value.to_string(),
            });
        }
        if let Some(ratio) = constant_ratio(samples) {
            if close(ratio, -1.0) {
                return Some(Slip::Sign);
            }
            let ratio =
                as_fraction(ratio).map_or_else(|| format!("{ratio:.6}"), |r| fraction_text(&r));
            return Some(Slip::ConstantFactor { ratio });
        }
        let equal = |candidate: &Expr| numerically_equal(expected, candidate, free, trials);
        for (p, first) in free.iter().enumerate() {
            for second in &free[p + 1..] {
                if first.dim != second.dim {
                    continue;
                }
                let swapped = rename_indices(
                    claimed,
                    &[
                        (first.clone(), second.clone()),
                        (second.clone(), first.clone()),
                    ],
                );
                if equal(&swapped) {
                    return Some(Slip::SwappedIndices {
                        first: first.name.to_string(),
                        second: second.name.to_string(),
                    });
                }
            }
        }
        for (tensor, rank, dims) in tensors_of(claimed) {
            for p in 0..rank {
                for q in p + 1..rank {
                    if dims[p] != dims[q] {
                        continue;
                    }
                    if equal(&transpose(claimed, &tensor, p, q)) {
                        return Some(Slip::TransposedTensor {
                            tensor: tensor.to_string(),
                            axes: (p + 1, q + 1),
                        });
                    }
                }
            }
        }
        let simplified_expected = simplify(expected);
        for (without, factor) in drop_each_factor(&simplified_expected) {
            if numerically_equal(&without, claimed, free, trials) {
                let derivative = is_derivative(&factor);
                return Some(Slip::MissingFactor {
                    factor: render(&factor, Format::Unicode),
                    derivative,
                });
            }
        }
        for (without, factor) in drop_each_factor(&simplify(claimed)) {
            if equal(&without) {
                return Some(Slip::ExtraFactor {
                    factor: render(&factor, Format::Unicode),
                });
            }
        }
        None
    }
}

/// Both sides of a comparison with partials resolved, and the verdict.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The expected side, resolved.
    pub expected: Expr,
    /// The claimed side, resolved.
    pub claimed: Expr,
    /// The verdict.
    pub verdict: Verdict,
}

fn names(indices: &BTreeSet<Index>) -> Vec<String> {
    indices.iter().map(|i| i.name.to_string()).collect()
}

fn instantiate(params: &[Index], indices: &[Index], expr: &Expr) -> Expr {
    let map: Vec<(Index, Index)> = params
        .iter()
        .cloned()
        .zip(indices.iter().cloned())
        .filter(|(from, to)| from != to)
        .collect();
    rename_indices(expr, &map)
}

/// Every tensor an expression reads with rank two or more: name, rank and axis ranges.
fn tensors_of(expr: &Expr) -> Vec<(Arc<str>, usize, Vec<crate::expr::Dim>)> {
    let mut found: Vec<(Arc<str>, usize, Vec<crate::expr::Dim>)> = Vec::new();
    expr.walk(&mut |e| {
        if let Expr::Tensor(element) = e {
            if element.indices.len() >= 2 && !found.iter().any(|(n, _, _)| *n == element.name) {
                found.push((
                    element.name.clone(),
                    element.indices.len(),
                    element.indices.iter().map(|i| i.dim.clone()).collect(),
                ));
            }
        }
    });
    found
}

/// Swaps axes `p` and `q` of every occurrence of `tensor`.
fn transpose(expr: &Expr, tensor: &str, p: usize, q: usize) -> Expr {
    let recurse = |e: &Expr| transpose(e, tensor, p, q);
    match expr {
        Expr::Tensor(element) if &*element.name == tensor => {
            let mut element = element.clone();
            element.indices.swap(p, q);
            Expr::Tensor(element)
        }
        Expr::Add(items) => Expr::Add(items.iter().map(recurse).collect()),
        Expr::Mul(items) => Expr::Mul(items.iter().map(recurse).collect()),
        Expr::Sum(bound, body) => Expr::Sum(bound.clone(), Box::new(recurse(body))),
        Expr::Call(function, order, arg) => {
            Expr::Call(function.clone(), *order, Box::new(recurse(arg)))
        }
        Expr::Pow(base, exponent) => Expr::Pow(Box::new(recurse(base)), exponent.clone()),
        other => other.clone(),
    }
}

/// Every way to remove one non-numeric factor of one product in `expr`: the expression without
/// it, and the factor.
fn drop_each_factor(expr: &Expr) -> Vec<(Expr, Expr)> {
    let mut out = Vec::new();
    match expr {
        Expr::Mul(factors) => {
            for (at, factor) in factors.iter().enumerate() {
                if !matches!(factor, Expr::Num(_)) {
                    let mut rest = factors.clone();
                    rest.remove(at);
                    out.push((Expr::mul(rest), factor.clone()));
                }
                for (inner, dropped) in drop_each_factor(factor) {
                    let mut rest = factors.clone();
                    rest[at] = inner;
                    out.push((Expr::Mul(rest), dropped));
                }
            }
        }
        Expr::Add(terms) => {
            for (at, term) in terms.iter().enumerate() {
                for (inner, dropped) in drop_each_factor(term) {
                    let mut rest = terms.clone();
                    rest[at] = inner;
                    out.push((Expr::Add(rest), dropped));
                }
            }
        }
        Expr::Sum(bound, body) => {
            for (inner, dropped) in drop_each_factor(body) {
                out.push((Expr::Sum(bound.clone(), Box::new(inner)), dropped));
            }
        }
        _ => {}
    }
    out
}

fn is_derivative(expr: &Expr) -> bool {
    let mut found = false;
    expr.walk(&mut |e| {
        if let Expr::Call(Function::Abstract(_), order, _) = e {
            found |= *order > 0;
        }
    });
    found
}

/// What is checked: a claim, or one step of a derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// The `n`th claim of the file, counted from 0.
    Claim(usize),
    /// Step `step` (counted from 1) of the `derivation`th derivation (counted from 0).
    Step {
        /// Which derivation.
        derivation: usize,
        /// Which step, from 1.
        step: usize,
    },
}

/// The verdict on one claim or step.
#[derive(Debug, Clone)]
pub struct ItemCheck {
    /// What was checked.
    pub item: Item,
    /// The claim, or the step from its `=`.
    pub span: Span,
    /// Both sides resolved, and the verdict.
    pub comparison: Comparison,
}

/// Every claim and derivation step of a checked model, with its verdict.
#[derive(Debug, Clone)]
pub struct ModelCheck {
    /// The lowered model.
    pub model: Model,
    /// In source order: claims first, then derivations step by step.
    pub items: Vec<ItemCheck>,
}

/// Checks every claim against the derived gradient and every derivation step against the step
/// before it. A step that is not equal does not stop its chain: the next step is compared with it
/// as written, so one slip is reported once.
///
/// # Errors
///
/// Fails when the model, a claim or a step cannot be lowered to the IR.
pub fn check_model(
    checked: &CheckedModel,
    options: NumericOptions,
) -> Result<ModelCheck, LowerError> {
    let model = Model::from_checked(checked)?;
    let derivation = derive(&model);
    let comparer = Comparer::new(&model, &derivation, options);
    let mut items = Vec::new();
    for (at, info) in checked.claims.iter().enumerate() {
        let lowering = Lowering::new(&info.index_ranges);
        let lhs = lowering.expr(&info.claim.lhs)?;
        let rhs = lowering.expr(&info.claim.rhs)?;
        items.push(ItemCheck {
            item: Item::Claim(at),
            span: info.claim.span,
            comparison: comparer.compare(&lhs, &rhs, &lhs.free_indices()),
        });
    }
    for (at, info) in checked.derivations.iter().enumerate() {
        let lowering = Lowering::new(&info.index_ranges);
        let mut previous = lowering.expr(&info.derivation.start)?;
        let free = previous.free_indices();
        for (number, step) in info.derivation.steps.iter().enumerate() {
            let current = lowering.expr(&step.expr)?;
            items.push(ItemCheck {
                item: Item::Step {
                    derivation: at,
                    step: number + 1,
                },
                span: step.span,
                comparison: comparer.compare(&previous, &current, &free),
            });
            previous = current;
        }
    }
    Ok(ModelCheck { model, items })
}
