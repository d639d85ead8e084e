//! The backward pass the macro generates is compared, in f64 and on random values, with
//! central finite differences of the generated forward pass and with the symbolic engine's
//! own evaluation of the derived recurrences.

use std::sync::Arc;

use mlp_runtime::gradient_check::{check_gradients, GradientCheckConfig};
use mlp_runtime::{derive_mlp, Model};
use mlp_symbolic::eval::{eval_array, forward, Array, Values};
use mlp_symbolic::{derive, Dim};
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

// Literal lengths give the sizes of dimensions the model leaves open.
#[derive_mlp(file = "../tests/models/builtins.mlp", output = "r")]
#[allow(non_snake_case)]
pub struct Builtins {
    pub W: [[f64; 3]; 4],
    pub c: [f64; 4],
}

fn random_model<M: Model<Scalar = f64> + Default>(rng: &mut StdRng) -> M {
    let mut model = M::default();
    model.visit_params_mut(|_, values| {
        for value in values {
            *value = rng.gen_range(-1.0..1.0);
        }
    });
    model
}

fn random_rows(rng: &mut StdRng, rows: usize, len: usize, low: f64) -> Vec<f64> {
    (0..rows * len).map(|_| rng.gen_range(low..1.0)).collect()
}

/// Checks the generated gradient of a batch of 3 samples against finite differences.
fn check_finite_differences<M: Model<Scalar = f64> + Default>(seed: u64, target_low: f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for _ in 0..3 {
        let mut model: M = random_model(&mut rng);
        let inputs = random_rows(&mut rng, 3, M::INPUT_LEN, -1.0);
        let targets = random_rows(&mut rng, 3, M::TARGET_LEN, target_low);
        let report = check_gradients(
            &mut model,
            &inputs,
            &targets,
            &GradientCheckConfig::default(),
        )
        .expect("gradient check runs");
        assert!(report.passed(), "{report}");
        assert!(report.checked > 0);
    }
}

/// Evaluates the symbolic engine's recurrences for one sample and compares every gradient
/// entry with the generated backward pass.
fn check_against_symbolic<M: Model<Scalar = f64> + Default>(
    source: &str,
    dims: &[(&str, usize)],
    seed: u64,
) {
    let (checked, diagnostics) = mlp_grammar::parse_and_check(source);
    let checked = checked.unwrap_or_else(|| panic!("invalid model: {diagnostics:?}"));
    let derivation = derive(&mlp_symbolic::Model::from_checked(&checked).expect("lowers"));
    let model_ir = &derivation.model;
    let mut rng = StdRng::seed_from_u64(seed);
    let model: M = random_model(&mut rng);
    let input = random_rows(&mut rng, 1, M::INPUT_LEN, -1.0);
    let target = random_rows(&mut rng, 1, M::TARGET_LEN, 0.0);

    let mut values = Values::default();
    for (name, size) in dims {
        values.dims.insert(Dim::Named((*name).into()), *size);
    }
    for (name, value) in &model_ir.dims {
        if let Some(value) = value {
            values
                .dims
                .insert(Dim::Named(name.clone()), *value as usize);
        }
    }
    model.visit_params(|info, data| {
        let array = Array {
            shape: info.shape.to_vec(),
            data: data.to_vec(),
        };
        values.tensors.insert(Arc::from(info.name), array);
    });
    let mut offsets = [0usize; 2];
    for tensor in &model_ir.tensors {
        let (slot, data) = match tensor.role {
            mlp_grammar::TensorRole::Input => (0, &input),
            mlp_grammar::TensorRole::Target => (1, &target),
            mlp_grammar::TensorRole::Param => continue,
        };
        let shape = values.shape(&tensor.shape).expect("sizes");
        let len: usize = shape.iter().product();
        let array = Array {
            shape,
            data: data[offsets[slot]..offsets[slot] + len].to_vec(),
        };
        offsets[slot] += len;
        values.tensors.insert(tensor.name.clone(), array);
    }
    let no_functions = |name: &str, _: u32, _: f64| -> f64 { panic!("abstract function {name}") };
    forward(model_ir, &mut values, &no_functions).expect("symbolic forward");
    for adjoint in &derivation.adjoints {
        let array = eval_array(
            &adjoint.recurrence,
            &adjoint.wrt.indices,
            &values,
            &no_functions,
        )
        .expect("adjoint evaluates");
        values.adjoints.insert(adjoint.wrt.name.clone(), array);
    }

    let mut tape = M::Tape::default();
    let mut grads = M::Gradients::default();
    let loss = model.forward(&input, &target, &mut tape);
    let symbolic_loss = values.tensors[&model_ir.loss().lhs.name].data[0];
    assert!(
        (loss - symbolic_loss).abs() <= 1e-12 * symbolic_loss.abs().max(1.0),
        "loss {loss} != symbolic {symbolic_loss}"
    );
    model.backward(&tape, &mut grads);
    M::visit_gradients(&grads, |info, generated| {
        let gradient = derivation.gradient(info.name).expect("gradient exists");
        let expected = eval_array(
            &gradient.recurrence,
            &gradient.wrt.indices,
            &values,
            &no_functions,
        )
        .expect("gradient evaluates");
        assert_eq!(generated.len(), expected.data.len(), "{}", info.name);
        for (flat, (g, e)) in generated.iter().zip(&expected.data).enumerate() {
            assert!(
                (g - e).abs() <= 1e-10 * e.abs().max(1.0),
                "∂L/∂{}[{flat}]: generated {g}, symbolic {e}",
                info.name
            );
        }
    });
}

const RELU_NET: &str = include_str!("../../examples/relu_net.mlp");
const TANH3: &str = include_str!("../../tests/models/tanh3.mlp");
const SOFTMAX: &str = include_str!("../../tests/models/softmax.mlp");
const BUILTINS: &str = include_str!("../../tests/models/builtins.mlp");

#[test]
fn relu_net_matches_finite_differences() {
    check_finite_differences::<ReluNet<3, 5, 2>>(1, -1.0);
}

#[test]
fn relu_net_matches_symbolic() {
    check_against_symbolic::<ReluNet<3, 5, 2>>(RELU_NET, &[("I", 3), ("N", 5), ("O", 2)], 2);
}

#[test]
fn tanh3_matches_finite_differences() {
    check_finite_differences::<Tanh3<4, 5, 3, 2>>(3, -1.0);
}

#[test]
fn tanh3_matches_symbolic() {
    let dims = [("I", 4), ("H1", 5), ("H2", 3), ("O", 2)];
    check_against_symbolic::<Tanh3<4, 5, 3, 2>>(TANH3, &dims, 4);
}

#[test]
fn softmax_matches_finite_differences() {
    check_finite_differences::<Softmax<4, 3>>(5, 0.0);
}

#[test]
fn softmax_matches_symbolic() {
    check_against_symbolic::<Softmax<4, 3>>(SOFTMAX, &[("I", 4), ("C", 3)], 6);
}

#[test]
fn builtins_match_finite_differences() {
    check_finite_differences::<Builtins>(7, -1.0);
}

#[test]
fn builtins_match_symbolic() {
    check_against_symbolic::<Builtins>(BUILTINS, &[("I", 3), ("N", 4)], 8);
}

#[test]
fn output_is_the_prediction() {
    let mut rng = StdRng::seed_from_u64(9);
    let model: Softmax<4, 3> = random_model(&mut rng);
    let mut tape = <Softmax<4, 3> as Model>::Tape::default();
    model.predict(&[0.1, -0.2, 0.3, 0.4], &mut tape);
    let probabilities = Softmax::<4, 3>::output(&tape);
    assert_eq!(probabilities.len(), 3);
    let total: f64 = probabilities.iter().sum();
    assert!((total - 1.0).abs() < 1e-12, "softmax sums to {total}");
}

fn softsign(x: f64) -> f64 {
    x / (1.0 + x.abs())
}

fn softsign_prime(x: f64) -> f64 {
    1.0 / ((1.0 + x.abs()) * (1.0 + x.abs()))
}

#[derive_mlp(
    file = "../examples/perceptron.mlp",
    fns(sigma = softsign, sigma_prime = softsign_prime)
)]
#[allow(non_snake_case)]
pub struct Perceptron<const I: usize, const N: usize, const O: usize> {
    pub W1: [[f64; I]; N],
    pub b1: [f64; N],
    pub W2: [[f64; N]; O],
    pub b2: [f64; O],
}

#[test]
fn perceptron_with_user_sigma_matches_finite_differences() {
    check_finite_differences::<Perceptron<3, 4, 2>>(10, -1.0);
}
