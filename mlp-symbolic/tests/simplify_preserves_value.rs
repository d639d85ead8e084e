//! Property: simplification, delta contraction and canonical renaming never change the value of
//! an expression, for any values of its free indices.

use std::collections::HashMap;
use std::sync::Arc;

use mlp_symbolic::eval::{eval, Array, Values};
use mlp_symbolic::expr::{Builtin, Dim, Expr, Function, Index, Number};
use mlp_symbolic::simplify::{canonical, simplify};
use proptest::prelude::*;

const SIZE: usize = 3;

fn index(name: &str) -> Index {
    Index::new(name, Dim::Named("N".into()))
}

fn index_strategy() -> impl Strategy<Value = Index> {
    prop_oneof![
        Just(index("i")),
        Just(index("j")),
        Just(index("m")),
        Just(index("n"))
    ]
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (-3i64..=3, 1i64..=3).prop_map(|(p, q)| Expr::Num(Number::new(p.into(), q.into()))),
        index_strategy().prop_map(|i| Expr::tensor("x", vec![i])),
        (index_strategy(), index_strategy()).prop_map(|(a, b)| Expr::tensor("W", vec![a, b])),
        (index_strategy(), index_strategy()).prop_map(|(a, b)| Expr::Delta(a, b)),
        Just(Expr::tensor("s", vec![])),
        Just(Expr::Size(Dim::Named("N".into()))),
    ]
}

fn expr_strategy() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Add),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Mul),
            (prop::collection::vec(index_strategy(), 1..3), inner.clone()).prop_map(
                |(bound, body)| {
                    let mut bound = bound;
                    bound.dedup();
                    Expr::Sum(bound, Box::new(body))
                }
            ),
            (inner.clone(), 1i64..=3)
                .prop_map(|(base, n)| Expr::Pow(Box::new(base), Number::from_integer(n.into()))),
            inner.clone().prop_map(|arg| Expr::Call(
                Function::Builtin(Builtin::Tanh),
                0,
                Box::new(arg)
            )),
            inner.clone().prop_map(|arg| Expr::Call(
                Function::Abstract(Arc::from("f")),
                1,
                Box::new(arg)
            )),
        ]
    })
}

fn values(seed: u64) -> Values {
    // A small deterministic generator keeps the values independent of proptest's shrinking.
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
    };
    let mut tensors = HashMap::new();
    tensors.insert(
        Arc::from("x"),
        Array {
            shape: vec![SIZE],
            data: (0..SIZE).map(|_| next()).collect(),
        },
    );
    tensors.insert(
        Arc::from("W"),
        Array {
            shape: vec![SIZE, SIZE],
            data: (0..SIZE * SIZE).map(|_| next()).collect(),
        },
    );
    tensors.insert(
        Arc::from("s"),
        Array {
            shape: vec![],
            data: vec![next()],
        },
    );
    let mut dims = HashMap::new();
    dims.insert(Dim::Named("N".into()), SIZE);
    Values {
        dims,
        tensors,
        adjoints: HashMap::new(),
    }
}

fn function(_name: &str, order: u32, x: f64) -> f64 {
    // f(x) = sin(x); the derivative of order k is sin(x + kπ/2).
    (x + f64::from(order) * std::f64::consts::FRAC_PI_2).sin()
}

fn value_at(expr: &Expr, values: &Values, at: [usize; 4]) -> f64 {
    let mut bindings: Vec<(Index, usize)> = ["i", "j", "m", "n"]
        .iter()
        .zip(at)
        .map(|(name, value)| (index(name), value))
        .collect();
    eval(expr, values, &function, &mut bindings).expect("every index is bound")
}

fn assert_same_value(original: &Expr, transformed: &Expr, seed: u64) -> Result<(), TestCaseError> {
    let values = values(seed);
    for at in [[0, 0, 0, 0], [0, 1, 2, 1], [2, 1, 0, 2], [1, 1, 2, 0]] {
        let before = value_at(original, &values, at);
        let after = value_at(transformed, &values, at);
        let tolerance = 1e-9 * (1.0 + before.abs());
        prop_assert!(
            (before - after).abs() <= tolerance || (before.is_nan() && after.is_nan()),
            "at {at:?}: {before} became {after}\n  original: {original:?}\n  transformed: {transformed:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn simplify_preserves_value(expr in expr_strategy(), seed in 0u64..1000) {
        assert_same_value(&expr, &simplify(&expr), seed)?;
    }

    #[test]
    fn canonical_preserves_value(expr in expr_strategy(), seed in 0u64..1000) {
        assert_same_value(&expr, &canonical(&expr), seed)?;
    }

    #[test]
    fn simplify_is_idempotent_in_value(expr in expr_strategy(), seed in 0u64..1000) {
        let once = simplify(&expr);
        assert_same_value(&once, &simplify(&once), seed)?;
    }
}
