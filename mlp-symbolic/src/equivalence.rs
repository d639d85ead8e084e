//! Deciding whether two expressions are equal: first by a normal form, then by evaluating both
//! at random points.
//!
//! The normal form expands products over sums, pulls every sum outward, contracts Kronecker
//! deltas, names summed indices canonically and collects like terms. Two expressions with the
//! same normal form are equal. Equal expressions can have different normal forms, such as
//! `sin²x + cos²x` and `1`, or sums whose canonical index names depend on factor order, so the
//! numeric test decides those.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use num_traits::{One, ToPrimitive, Zero};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::eval::{eval_array, forward, Array, EvalError, Values};
use crate::expr::{Dim, Expr, Function, Index, Number};
use crate::model::Model;
use crate::simplify::canonical;
use crate::substitute::rename_indices;

/// Expanding a product of sums multiplies their term counts; past this many terms the normal
/// form is abandoned and the numeric test decides.
const MAX_TERMS: usize = 4096;

/// Powers up to this integer exponent are expanded into products.
const MAX_EXPANDED_EXPONENT: i64 = 4;

/// Returns the normal form of an expression, or `None` when expanding it would exceed the term
/// limit.
pub fn normal_form(expr: &Expr) -> Option<Expr> {
    let mut expander = Expander { fresh: 0 };
    let terms = expander.terms(expr)?;
    let canonical_terms: Vec<Expr> = terms
        .into_iter()
        .map(|(bound, factors)| canonical(&Expr::sum(bound, Expr::mul(factors))))
        .collect();
    Some(canonical(&Expr::add(canonical_terms)))
}

/// Whether `a − b` simplifies to zero, by the simplifier's canonical form or by the normal form.
pub fn equal_by_canonical_form(a: &Expr, b: &Expr) -> bool {
    let difference = Expr::add(vec![a.clone(), Expr::negate(b.clone())]);
    if canonical(&difference).is_zero() || canonical(a) == canonical(b) {
        return true;
    }
    normal_form(&difference).is_some_and(|n| n.is_zero())
}

/// The number `claimed − expected` reduces to in the normal form, when it is a nonzero number.
/// Such a difference proves the sides unequal, however small it is.
pub fn constant_difference(expected: &Expr, claimed: &Expr) -> Option<Number> {
    let difference = Expr::add(vec![claimed.clone(), Expr::negate(expected.clone())]);
    match normal_form(&difference)? {
        Expr::Num(value) if !value.is_zero() => Some(value),
        _ => None,
    }
}

/// A monomial: summed indices and factors, none of which is a sum or an addition (except inside
/// function arguments and non-integer powers).
type Term = (Vec<Index>, Vec<Expr>);

struct Expander {
    fresh: usize,
}

impl Expander {
    fn terms(&mut self, expr: &Expr) -> Option<Vec<Term>> {
        Some(match expr {
            Expr::Add(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(self.terms(item)?);
                    if all.len() > MAX_TERMS {
                        return None;
                    }
                }
                all
            }
            Expr::Mul(items) => {
                let mut product: Vec<Term> = vec![(Vec::new(), Vec::new())];
                for item in items {
                    let factor = self.terms(item)?;
                    if product.len() * factor.len() > MAX_TERMS {
                        return None;
                    }
                    let mut next = Vec::with_capacity(product.len() * factor.len());
                    for (bound_a, factors_a) in &product {
                        for (bound_b, factors_b) in &factor {
                            let mut bound = bound_a.clone();
                            bound.extend(bound_b.iter().cloned());
                            let mut factors = factors_a.clone();
                            factors.extend(factors_b.iter().cloned());
                            next.push((bound, factors));
                        }
                    }
                    product = next;
                }
                product
            }
            Expr::Sum(bound, body) => {
                // Unique names let the sum move outward past any factor without capture.
                let map: Vec<(Index, Index)> = bound
                    .iter()
                    .map(|index| {
                        self.fresh += 1;
                        let name = format!("\u{2}{}", self.fresh);
                        (index.clone(), index.renamed(&name))
                    })
                    .collect();
                let body = rename_indices(body, &map);
                let renamed: Vec<Index> = map.into_iter().map(|(_, to)| to).collect();
                self.terms(&body)?
                    .into_iter()
                    .map(|(mut inner, factors)| {
                        let mut all = renamed.clone();
                        all.append(&mut inner);
                        (all, factors)
                    })
                    .collect()
            }
            Expr::Pow(base, exponent) => {
                let small = exponent
                    .is_integer()
                    .then(|| exponent.to_integer().to_i64())
                    .flatten()
                    .filter(|k| (2..=MAX_EXPANDED_EXPONENT).contains(k));
                match small {
                    Some(k) => {
                        let copies = vec![(**base).clone(); k as usize];
                        self.terms(&Expr::Mul(copies))?
                    }
                    None => vec![(
                        Vec::new(),
                        vec![Expr::Pow(Box::new(normal_form(base)?), exponent.clone())],
                    )],
                }
            }
            Expr::Call(function, order, arg) => vec![(
                Vec::new(),
                vec![Expr::Call(
                    function.clone(),
                    *order,
                    Box::new(normal_form(arg)?),
                )],
            )],
            atom => vec![(Vec::new(), vec![atom.clone()])],
        })
    }
}

/// How the numeric test samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericOptions {
    /// How many random points to compare at.
    pub trials: usize,
    /// The largest size given to a dimension; sizes are drawn from `1..=max_size`.
    pub max_size: usize,
    /// The seed of the random generator, so that verdicts and counterexamples are reproducible.
    pub seed: u64,
}

impl Default for NumericOptions {
    fn default() -> Self {
        NumericOptions {
            trials: 20,
            max_size: 4,
            seed: 0x6d6c_7021,
        }
    }
}

/// The parameters of one stand-in for an abstract function:
/// `f(x) = α sin(βx + γ) + κx`, whose every derivative has a closed form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothFunction {
    /// α.
    pub amplitude: f64,
    /// β.
    pub frequency: f64,
    /// γ.
    pub phase: f64,
    /// κ.
    pub slope: f64,
}

impl SmoothFunction {
    /// `f^(order)(x)`.
    pub fn eval(&self, order: u32, x: f64) -> f64 {
        let angle =
            self.frequency * x + self.phase + f64::from(order) * std::f64::consts::FRAC_PI_2;
        let wave = self.amplitude * self.frequency.powi(order as i32) * angle.sin();
        match order {
            0 => wave + self.slope * x,
            1 => wave + self.slope,
            _ => wave,
        }
    }
}

/// One random point: dimension sizes, tensor values after the forward pass, and stand-ins for
/// the abstract functions.
#[derive(Debug, Clone)]
pub struct Trial {
    /// Sizes and tensor values, relations included.
    pub values: Values,
    /// Stand-ins by function name.
    pub functions: HashMap<Arc<str>, SmoothFunction>,
}

impl Trial {
    /// `f^(order)(x)` for a function by name: a stand-in for an abstract function, the closed form
    /// of a built-in, and central differences for a built-in's derivatives (which lowering
    /// normally expands already).
    pub fn function(&self, name: &str, order: u32, x: f64) -> f64 {
        if let Some(stand_in) = self.functions.get(name) {
            return stand_in.eval(order, x);
        }
        match crate::expr::Builtin::from_name(name) {
            Some(builtin) => central_difference(&|x| builtin.eval(x), order, x),
            None => default_stand_in(name).eval(order, x),
        }
    }

    /// Evaluates an expression over every value of `free`.
    ///
    /// # Errors
    ///
    /// Fails when the expression reads something the trial has no value for.
    pub fn eval(&self, expr: &Expr, free: &[Index]) -> Result<Array, EvalError> {
        eval_array(expr, free, &self.values, &|name, order, x| {
            self.function(name, order, x)
        })
    }

    /// The size of each named dimension, in name order.
    pub fn sizes(&self) -> BTreeMap<String, usize> {
        self.values
            .dims
            .iter()
            .filter_map(|(dim, size)| match dim {
                Dim::Named(name) => Some((name.clone(), *size)),
                Dim::Fixed(_) => None,
            })
            .collect()
    }
}

fn central_difference(f: &dyn Fn(f64) -> f64, order: u32, x: f64) -> f64 {
    if order == 0 {
        return f(x);
    }
    let h = 1e-4;
    (central_difference(f, order - 1, x + h) - central_difference(f, order - 1, x - h)) / (2.0 * h)
}

/// A fixed stand-in for a function the model does not declare.
fn default_stand_in(name: &str) -> SmoothFunction {
    let hash = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = StdRng::seed_from_u64(hash);
    random_function(&mut rng)
}

fn random_function(rng: &mut StdRng) -> SmoothFunction {
    SmoothFunction {
        amplitude: rng.gen_range(0.5..1.5),
        frequency: rng.gen_range(0.5..1.5),
        phase: rng.gen_range(-1.0..1.0),
        slope: rng.gen_range(-0.5..0.5),
    }
}

/// Draws random trials for a model and runs the forward pass on each. A trial draws a size in
/// `1..=max_size` for every named dimension without a concrete size, and values in (−1.5, 1.5)
/// for every input, target and parameter. It also draws a stand-in for every abstract function
/// of the model and of `extra_functions`.
///
/// # Errors
///
/// Fails if the forward pass fails.
pub fn trials(
    model: &Model,
    extra_functions: &BTreeSet<Arc<str>>,
    options: NumericOptions,
) -> Result<Vec<Trial>, EvalError> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut functions: BTreeSet<Arc<str>> = model.functions.iter().cloned().collect();
    functions.extend(extra_functions.iter().cloned());
    let mut all = Vec::with_capacity(options.trials);
    for _ in 0..options.trials {
        let mut values = Values::default();
        for (name, size) in &model.dims {
            let size = match size {
                Some(size) => *size as usize,
                None => rng.gen_range(1..=options.max_size.max(1)),
            };
            values.dims.insert(Dim::Named(name.clone()), size);
        }
        for tensor in &model.tensors {
            let shape = values.shape(&tensor.shape)?;
            let mut array = Array::zeros(shape);
            for value in &mut array.data {
                *value = rng.gen_range(-1.5..1.5);
            }
            values.tensors.insert(tensor.name.clone(), array);
        }
        let stand_ins: HashMap<Arc<str>, SmoothFunction> = functions
            .iter()
            .map(|name| (name.clone(), random_function(&mut rng)))
            .collect();
        let mut trial = Trial {
            values,
            functions: stand_ins,
        };
        let mut computed = trial.values.clone();
        forward(model, &mut computed, &|name, order, x| {
            trial.function(name, order, x)
        })?;
        trial.values = computed;
        all.push(trial);
    }
    Ok(all)
}

/// Whether two values agree within the tolerance of the numeric test. Two NaNs agree: a point
/// where both sides are undefined (such as `log` of a negative value) is no evidence either way.
/// An infinite value agrees with nothing, not even the same infinity, because the tolerance test
/// `inf <= inf` would pass for any finite value on the other side.
pub fn close(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if !a.is_finite() || !b.is_finite() {
        return false;
    }
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

/// Both sides evaluated at one trial.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The index of the trial.
    pub trial: usize,
    /// The first side, over every value of the free indices.
    pub expected: Array,
    /// The second side.
    pub claimed: Array,
}

impl Sample {
    /// The flat position of the first entry where the sides differ.
    pub fn first_difference(&self) -> Option<usize> {
        self.expected
            .data
            .iter()
            .zip(&self.claimed.data)
            .position(|(a, b)| !close(*a, *b))
    }

    /// Whether some entry has a finite value on both sides: evidence that the sides agree, unlike
    /// an entry where both are NaN.
    pub fn has_finite_entry(&self) -> bool {
        self.expected
            .data
            .iter()
            .zip(&self.claimed.data)
            .any(|(a, b)| a.is_finite() && b.is_finite())
    }
}

/// Evaluates both sides at every trial.
///
/// # Errors
///
/// Fails when a side reads something the trials have no value for.
pub fn sample(
    expected: &Expr,
    claimed: &Expr,
    free: &[Index],
    trials: &[Trial],
) -> Result<Vec<Sample>, EvalError> {
    trials
        .iter()
        .enumerate()
        .map(|(at, trial)| {
            Ok(Sample {
                trial: at,
                expected: trial.eval(expected, free)?,
                claimed: trial.eval(claimed, free)?,
            })
        })
        .collect()
}

/// Whether two expressions agree at every trial. An expression that cannot be evaluated agrees
/// with nothing.
pub fn numerically_equal(a: &Expr, b: &Expr, free: &[Index], trials: &[Trial]) -> bool {
    sample(a, b, free, trials)
        .is_ok_and(|samples| samples.iter().all(|s| s.first_difference().is_none()))
}

/// The constant `r` with `claimed = r · expected` at every point, if there is one and it is
/// not 1. Points where the expected side is nearly zero must have a nearly zero claim.
pub fn constant_ratio(samples: &[Sample]) -> Option<f64> {
    let mut ratio: Option<f64> = None;
    for sample in samples {
        for (a, b) in sample.expected.data.iter().zip(&sample.claimed.data) {
            if !a.is_finite() || !b.is_finite() {
                return None;
            }
            if a.abs() < 1e-9 {
                if b.abs() > 1e-9 {
                    return None;
                }
                continue;
            }
            let r = b / a;
            match ratio {
                None => ratio = Some(r),
                Some(first) if close(first, r) => {}
                Some(_) => return None,
            }
        }
    }
    ratio.filter(|r| !close(*r, 1.0) && r.abs() > 1e-9)
}

/// The simplest fraction within 1e-9 of `value` with a denominator of at most 12.
pub fn as_fraction(value: f64) -> Option<Number> {
    (1..=12i64).find_map(|denominator| {
        let numerator = (value * denominator as f64).round();
        ((numerator / denominator as f64 - value).abs() < 1e-9 * (1.0 + value.abs()))
            .then(|| Number::new((numerator as i64).into(), denominator.into()))
    })
}

/// Renders a number as an integer or a fraction `p/q`.
pub fn fraction_text(value: &Number) -> String {
    if value.denom().is_one() {
        value.numer().to_string()
    } else {
        format!("{}/{}", value.numer(), value.denom())
    }
}

/// The names of the abstract functions an expression calls.
pub fn called_functions(expr: &Expr, names: &mut BTreeSet<Arc<str>>) {
    expr.walk(&mut |e| {
        if let Expr::Call(Function::Abstract(name), _, _) = e {
            names.insert(name.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(name: &str) -> Index {
        Index::new(name, Dim::Named("N".into()))
    }

    #[test]
    fn normal_form_expands_and_contracts() {
        // Σ_i 2 (y[i] − t[i]) δ[i, j]  =  2 y[j] − 2 t[j]
        let left = Expr::sum(
            vec![idx("i")],
            Expr::mul(vec![
                Expr::int(2),
                Expr::add(vec![
                    Expr::tensor("y", vec![idx("i")]),
                    Expr::negate(Expr::tensor("t", vec![idx("i")])),
                ]),
                Expr::Delta(idx("i"), idx("j")),
            ]),
        );
        let right = Expr::add(vec![
            Expr::mul(vec![Expr::int(2), Expr::tensor("y", vec![idx("j")])]),
            Expr::mul(vec![Expr::int(-2), Expr::tensor("t", vec![idx("j")])]),
        ]);
        assert!(equal_by_canonical_form(&left, &right));
        assert!(!equal_by_canonical_form(
            &left,
            &Expr::tensor("y", vec![idx("j")])
        ));
    }

    #[test]
    fn stand_in_derivatives_match_differences() {
        let f = SmoothFunction {
            amplitude: 1.2,
            frequency: 0.7,
            phase: 0.3,
            slope: 0.2,
        };
        for order in 0..3 {
            let numeric = central_difference(&|x| f.eval(order, x), 1, 0.4);
            assert!((numeric - f.eval(order + 1, 0.4)).abs() < 1e-6);
        }
    }

    #[test]
    fn close_rejects_infinite_values() {
        assert!(!close(1.0, f64::INFINITY));
        assert!(!close(f64::INFINITY, f64::INFINITY));
        assert!(!close(f64::NEG_INFINITY, 2.0));
        assert!(!close(1.0, f64::NAN));
        assert!(close(f64::NAN, f64::NAN));
        assert!(close(1.0, 1.0 + 1e-12));
    }

    #[test]
    fn constant_difference_finds_tiny_offsets() {
        let y = Expr::tensor("y", vec![idx("j")]);
        let offset = Expr::Num(Number::new(1.into(), 10_000_000_000i64.into()));
        let claimed = Expr::add(vec![y.clone(), offset.clone()]);
        assert_eq!(
            constant_difference(&y, &claimed),
            Some(Number::new(1.into(), 10_000_000_000i64.into()))
        );
        assert_eq!(constant_difference(&y, &y), None);
    }

    #[test]
    fn fractions() {
        assert_eq!(fraction_text(&as_fraction(0.5).unwrap()), "1/2");
        assert_eq!(fraction_text(&as_fraction(-2.0).unwrap()), "-2");
        assert!(as_fraction(std::f64::consts::PI).is_none());
    }
}
