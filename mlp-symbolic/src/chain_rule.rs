//! Differentiation of an expression with respect to one tensor element. Other tensors, including
//! relations, are independent variables here: the chain rule through relations is applied by
//! the reverse accumulation in [`crate::gradient`].

use std::collections::BTreeSet;
use std::sync::Arc;

use num_traits::One;

use crate::expr::{Builtin, Element, Expr, Function, Number};
use crate::substitute::{freshen, rename_indices, substitute, Target};

/// Returns `∂expr/∂wrt`, where `wrt` is an element such as `W1[j, k]`. An occurrence
/// `W1[a, b]` differentiates to `δ[a, j] δ[b, k]`.
pub fn differentiate(expr: &Expr, wrt: &Element) -> Expr {
    match expr {
        Expr::Num(_) | Expr::Size(_) | Expr::Delta(..) | Expr::Adjoint(_) | Expr::Partial(_) => {
            Expr::zero()
        }
        Expr::Tensor(element) => {
            if element.name != wrt.name {
                return Expr::zero();
            }
            let deltas = element
                .indices
                .iter()
                .zip(&wrt.indices)
                .map(|(a, b)| {
                    if a == b {
                        Expr::one()
                    } else {
                        Expr::Delta(a.clone(), b.clone())
                    }
                })
                .collect();
            Expr::mul(deltas)
        }
        Expr::Add(terms) => Expr::add(terms.iter().map(|term| differentiate(term, wrt)).collect()),
        Expr::Mul(factors) => {
            // The product rule: one term per factor, that factor differentiated.
            let mut terms = Vec::new();
            for (at, factor) in factors.iter().enumerate() {
                let derivative = differentiate(factor, wrt);
                if derivative.is_zero() {
                    continue;
                }
                let mut term: Vec<Expr> = factors.clone();
                term[at] = derivative;
                terms.push(Expr::mul(term));
            }
            Expr::add(terms)
        }
        Expr::Pow(base, exponent) => {
            let inner = differentiate(base, wrt);
            if inner.is_zero() {
                return Expr::zero();
            }
            Expr::mul(vec![
                Expr::Num(exponent.clone()),
                Expr::pow((**base).clone(), exponent - Number::one()),
                inner,
            ])
        }
        Expr::Call(function, order, arg) => {
            let inner = differentiate(arg, wrt);
            if inner.is_zero() {
                return Expr::zero();
            }
            Expr::mul(vec![function_derivative(function, *order, arg), inner])
        }
        Expr::Sum(bound, body) => {
            // A summed index named like an index of `wrt` would capture it: rename it first.
            let wrt_names: BTreeSet<Arc<str>> =
                wrt.indices.iter().map(|i| i.name.clone()).collect();
            if bound.iter().any(|index| wrt_names.contains(&index.name)) {
                let mut taken = wrt_names.clone();
                body.index_names(&mut taken);
                let (new_bound, map) =
                    freshen(bound, |index| wrt_names.contains(&index.name), &mut taken);
                let body = rename_indices(body, &map);
                return Expr::sum(new_bound, differentiate(&body, wrt));
            }
            Expr::sum(bound.clone(), differentiate(body, wrt))
        }
    }
}

/// Returns the derivative of `f^(order)` evaluated at `arg`: `f^(order + 1)(arg)`.
pub fn function_derivative(function: &Function, order: u32, arg: &Expr) -> Expr {
    match function {
        Function::Abstract(name) => Expr::Call(
            Function::Abstract(name.clone()),
            order + 1,
            Box::new(arg.clone()),
        ),
        Function::Builtin(builtin) => {
            // Built-ins are lowered with order 0; a higher order comes from `tanh''(x)` in the
            // source and is expanded by differentiating the closed form again.
            let mut derivative = builtin_derivative(*builtin, arg);
            for _ in 0..order {
                derivative = differentiate_in_argument(&derivative, arg);
            }
            derivative
        }
    }
}

/// Returns `f'(arg)` for a built-in, in closed form.
pub fn builtin_derivative(builtin: Builtin, arg: &Expr) -> Expr {
    let call = |b: Builtin| Expr::Call(Function::Builtin(b), 0, Box::new(arg.clone()));
    let half = Number::new(1.into(), 2.into());
    match builtin {
        Builtin::Relu => call(Builtin::Step),
        Builtin::Step | Builtin::Sign => Expr::zero(),
        Builtin::Abs => call(Builtin::Sign),
        Builtin::Tanh => Expr::add(vec![
            Expr::one(),
            Expr::negate(Expr::pow(
                call(Builtin::Tanh),
                Number::from_integer(2.into()),
            )),
        ]),
        Builtin::Logistic => Expr::mul(vec![
            call(Builtin::Logistic),
            Expr::add(vec![Expr::one(), Expr::negate(call(Builtin::Logistic))]),
        ]),
        Builtin::Exp => call(Builtin::Exp),
        Builtin::Log => Expr::pow(arg.clone(), Number::from_integer((-1).into())),
        Builtin::Sqrt => Expr::mul(vec![Expr::Num(half.clone()), Expr::pow(arg.clone(), -half)]),
        Builtin::Softplus => call(Builtin::Logistic),
        Builtin::Sin => call(Builtin::Cos),
        Builtin::Cos => Expr::negate(call(Builtin::Sin)),
    }
}

/// Differentiates `expr` with respect to the expression `arg` it was built from, by
/// temporarily replacing `arg` with a fresh scalar.
fn differentiate_in_argument(expr: &Expr, arg: &Expr) -> Expr {
    const PLACEHOLDER: &str = "\u{0}x";
    let placeholder = Expr::tensor(PLACEHOLDER, Vec::new());
    let abstracted = replace_subexpression(expr, arg, &placeholder);
    let derivative = differentiate(&abstracted, &Element::new(PLACEHOLDER, Vec::new()));
    substitute(&derivative, Target::Tensor, PLACEHOLDER, &[], arg)
}

fn replace_subexpression(expr: &Expr, from: &Expr, to: &Expr) -> Expr {
    if expr == from {
        return to.clone();
    }
    let recurse = |e: &Expr| replace_subexpression(e, from, to);
    match expr {
        Expr::Add(items) => Expr::Add(items.iter().map(recurse).collect()),
        Expr::Mul(items) => Expr::Mul(items.iter().map(recurse).collect()),
        Expr::Call(function, order, inner) => {
            Expr::Call(function.clone(), *order, Box::new(recurse(inner)))
        }
        Expr::Pow(base, exponent) => Expr::Pow(Box::new(recurse(base)), exponent.clone()),
        Expr::Sum(bound, body) => Expr::Sum(bound.clone(), Box::new(recurse(body))),
        other => other.clone(),
    }
}
