//! The generated batched step (`forward_backward_batch`, with GEMM calls for large layers) gives
//! the same loss and gradients as running `forward` and `backward` on each sample in turn.

use mlp_runtime::{derive_mlp, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive_mlp(file = "../examples/relu_net.mlp")]
#[allow(non_snake_case)]
pub struct ReluNet<const I: usize, const N: usize, const O: usize> {
    pub W1: [[f64; I]; N],
    pub b1: [f64; N],
    pub W2: [[f64; N]; O],
    pub b2: [f64; O],
}

#[derive_mlp(file = "../tests/models/tanh3.mlp")]
#[allow(non_snake_case)]
pub struct Tanh3<const I: usize, const H1: usize, const H2: usize, const O: usize> {
    pub W1: [[f64; I]; H1],
    pub b1: [f64; H1],
    pub W2: [[f64; H1]; H2],
    pub b2: [f64; H2],
    pub W3: [[f64; H2]; O],
    pub b3: [f64; O],
}

#[derive_mlp(file = "../tests/models/softmax.mlp")]
#[allow(non_snake_case)]
pub struct Softmax<const I: usize, const C: usize> {
    pub W: [[f64; I]; C],
    pub b: [f64; C],
}

fn flat_gradients<M: Model<Scalar = f64>>(grads: &M::Gradients) -> Vec<f64> {
    let mut all = Vec::new();
    M::visit_gradients(grads, |_, values| all.extend_from_slice(values));
    all
}

/// Compares the batched step with a loop over samples for `rows` random samples.
fn check_batched<M: Model<Scalar = f64> + Default>(seed: u64, rows: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = M::default();
    model.visit_params_mut(|_, values| {
        values
            .iter_mut()
            .for_each(|v| *v = rng.gen_range(-0.5..0.5))
    });
    let inputs: Vec<f64> = (0..rows * M::INPUT_LEN)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    // Targets in [0, 1) with rows summing to 1 suit the softmax cross-entropy as well.
    let mut targets: Vec<f64> = (0..rows * M::TARGET_LEN)
        .map(|_| rng.gen_range(0.0..1.0))
        .collect();
    for row in targets.chunks_mut(M::TARGET_LEN) {
        let total: f64 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= total);
    }

    let mut tape = M::Tape::default();
    let mut looped = M::Gradients::default();
    let mut looped_loss = 0.0;
    for (input, target) in inputs
        .chunks(M::INPUT_LEN)
        .zip(targets.chunks(M::TARGET_LEN))
    {
        looped_loss += model.forward(input, target, &mut tape);
        model.backward(&tape, &mut looped);
    }

    let mut batched = M::Gradients::default();
    let batched_loss = model.forward_backward_batch(&inputs, &targets, &mut tape, &mut batched);

    let tolerance = |reference: f64| 1e-9 * (1.0 + reference.abs());
    assert!(
        (batched_loss - looped_loss).abs() <= tolerance(looped_loss),
        "loss: batched {batched_loss} vs looped {looped_loss}"
    );
    let (expected, actual) = (flat_gradients::<M>(&looped), flat_gradients::<M>(&batched));
    assert_eq!(expected.len(), actual.len());
    for (at, (want, got)) in expected.iter().zip(&actual).enumerate() {
        assert!(
            (want - got).abs() <= tolerance(*want),
            "gradient entry {at}: batched {got} vs looped {want}"
        );
    }
}

#[test]
fn relu_net_large_batch_uses_gemm() {
    // 40 × 64 × 64 samples passes the GEMM threshold for both layers and both gradients.
    check_batched::<ReluNet<40, 64, 8>>(1, 64);
}

#[test]
fn relu_net_small_batch_uses_loops() {
    check_batched::<ReluNet<3, 4, 2>>(2, 3);
}

#[test]
fn tanh3_batch_matches_loop() {
    check_batched::<Tanh3<20, 40, 48, 6>>(3, 32);
}

#[test]
fn softmax_batch_matches_loop() {
    check_batched::<Softmax<30, 12>>(4, 64);
}

#[test]
fn batch_after_a_larger_batch_matches_loop() {
    // The tape's buffers keep the size of the larger batch; a smaller one must use only its rows.
    check_batched::<ReluNet<40, 64, 8>>(5, 64);
    let mut rng = StdRng::seed_from_u64(6);
    let model = ReluNet::<40, 64, 8>::default();
    let mut tape = <ReluNet<40, 64, 8> as Model>::Tape::default();
    let mut grads = <ReluNet<40, 64, 8> as Model>::Gradients::default();
    let big: Vec<f64> = (0..64 * 40).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let big_targets = vec![0.5; 64 * 8];
    model.forward_backward_batch(&big, &big_targets, &mut tape, &mut grads);
    let small_loss =
        model.forward_backward_batch(&big[..2 * 40], &big_targets[..2 * 8], &mut tape, &mut grads);
    let mut single_tape = <ReluNet<40, 64, 8> as Model>::Tape::default();
    let expected: f64 = (0..2)
        .map(|row| {
            model.forward(
                &big[row * 40..(row + 1) * 40],
                &big_targets[..8],
                &mut single_tape,
            )
        })
        .sum();
    assert!(
        (small_loss - expected).abs() <= 1e-9 * (1.0 + expected.abs()),
        "{small_loss} vs {expected}"
    );
}

/// Checks that `gradients_batch` replaces what the gradients held with the batch's gradient.
fn check_overwrite<M: Model<Scalar = f64> + Default>(seed: u64, rows: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = M::default();
    model.visit_params_mut(|_, values| {
        values
            .iter_mut()
            .for_each(|v| *v = rng.gen_range(-0.5..0.5))
    });
    let inputs: Vec<f64> = (0..rows * M::INPUT_LEN)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let targets: Vec<f64> = (0..rows * M::TARGET_LEN)
        .map(|_| rng.gen_range(0.0..1.0))
        .collect();
    let mut tape = M::Tape::default();

    let mut accumulated = M::Gradients::default();
    let expected_loss =
        model.forward_backward_batch(&inputs, &targets, &mut tape, &mut accumulated);
    let mut overwritten = M::Gradients::default();
    M::visit_gradients_mut(&mut overwritten, |_, values| values.fill(7.0));
    let loss = model.gradients_batch(&inputs, &targets, &mut tape, &mut overwritten);

    assert!((loss - expected_loss).abs() <= 1e-9 * (1.0 + expected_loss.abs()));
    let expected = flat_gradients::<M>(&accumulated);
    for (at, (want, got)) in expected
        .iter()
        .zip(&flat_gradients::<M>(&overwritten))
        .enumerate()
    {
        assert!(
            (want - got).abs() <= 1e-9 * (1.0 + want.abs()),
            "entry {at}: {got} vs {want}"
        );
    }
}

#[test]
fn gradients_batch_overwrites_with_gemm() {
    check_overwrite::<ReluNet<40, 64, 8>>(7, 64);
}

#[test]
fn gradients_batch_overwrites_with_loops() {
    check_overwrite::<ReluNet<3, 4, 2>>(8, 3);
    check_overwrite::<Tanh3<20, 40, 48, 6>>(9, 32);
}
