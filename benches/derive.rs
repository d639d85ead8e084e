//! Derivation time: the 2-layer perceptron, and generated deep MLPs of depth 2 to 256, for the
//! backprop recurrences alone and with every closed formula expanded.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mlp::symbolic::{derive_with, DeriveOptions, Model};

/// Writes the source of a depth-`depth` MLP with an abstract activation and a squared-error loss.
fn deep_mlp(depth: usize) -> String {
    let mut source = String::from("dim N\ninput x[N]\ntarget y[N]\nfn sigma\n");
    for layer in 1..=depth {
        source.push_str(&format!("param W{layer}[N, N], b{layer}[N]\n"));
    }
    source.push_str("h0[i] = x[i]\n");
    for layer in 1..=depth {
        let previous = layer - 1;
        source.push_str(&format!(
            "a{layer}[i] = sum_j W{layer}[i, j] * h{previous}[j] + b{layer}[i]\n"
        ));
        source.push_str(&format!("h{layer}[i] = sigma(a{layer}[i])\n"));
    }
    source.push_str(&format!("L = sum_i (h{depth}[i] - y[i])^2\n"));
    source
}

fn model(source: &str) -> Model {
    let (checked, diagnostics) = mlp::grammar::parse_and_check(source);
    let checked = checked.unwrap_or_else(|| panic!("benchmark model is invalid: {diagnostics:?}"));
    Model::from_checked(&checked).expect("benchmark model lowers")
}

fn perceptron(c: &mut Criterion) {
    let source = include_str!("../examples/perceptron.mlp");
    c.bench_function("perceptron/parse_check_derive", |b| {
        b.iter(|| derive_with(&model(source), DeriveOptions { expand: true }))
    });
}

fn deep(c: &mut Criterion) {
    let mut group = c.benchmark_group("deep_recurrence");
    group.sample_size(10);
    for depth in [2, 4, 8, 16, 32, 64, 128, 256] {
        let model = model(&deep_mlp(depth));
        group.bench_with_input(BenchmarkId::from_parameter(depth), &model, |b, model| {
            b.iter(|| derive_with(model, DeriveOptions { expand: false }))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("deep_expanded");
    group.sample_size(10);
    for depth in [2, 4, 8, 16, 32, 64, 128, 256] {
        let model = model(&deep_mlp(depth));
        group.bench_with_input(BenchmarkId::from_parameter(depth), &model, |b, model| {
            b.iter(|| derive_with(model, DeriveOptions { expand: true }))
        });
    }
    group.finish();
}

criterion_group!(benches, perceptron, deep);
criterion_main!(benches);
