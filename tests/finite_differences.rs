//! Every derived gradient, in both its closed form and its backprop recurrence, is compared with
//! central finite differences of the loss, on random sizes and random values.

use std::collections::HashMap;
use std::sync::Arc;

use mlp::grammar::TensorRole;
use mlp::symbolic::eval::{eval, eval_array, loss, Array, Values};
use mlp::symbolic::{Derivation, Dim, Index};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A smooth stand-in for every abstract function: f(x) = sin(0.7 x + 0.3) + 0.2 x, with
/// derivatives of every order in closed form.
fn abstract_function(_name: &str, order: u32, x: f64) -> f64 {
    let (a, b, c) = (0.7_f64, 0.3_f64, 0.2_f64);
    let phase = a * x + b + f64::from(order) * std::f64::consts::FRAC_PI_2;
    let linear = match order {
        0 => c * x,
        1 => c,
        _ => 0.0,
    };
    a.powi(order as i32) * phase.sin() + linear
}

fn random_values(derivation: &Derivation, rng: &mut StdRng) -> Values {
    let model = &derivation.model;
    let mut values = Values::default();
    for (name, value) in &model.dims {
        let size = value.map_or_else(|| rng.gen_range(1..=4), |v| v as usize);
        values.dims.insert(Dim::Named(name.clone()), size);
    }
    for tensor in &model.tensors {
        let shape = values.shape(&tensor.shape).expect("every dim has a size");
        let mut array = Array::zeros(shape);
        for value in &mut array.data {
            *value = match tensor.role {
                TensorRole::Target => rng.gen_range(0.0..1.0),
                _ => rng.gen_range(-1.0..1.0),
            };
        }
        values.tensors.insert(tensor.name.clone(), array);
    }
    values
}

/// Evaluates the adjoint recurrences in order, so gradients in recurrence form can be checked.
fn adjoint_values(derivation: &Derivation, values: &mut Values) {
    for adjoint in &derivation.adjoints {
        let array = eval_array(
            &adjoint.recurrence,
            &adjoint.wrt.indices,
            values,
            &abstract_function,
        )
        .expect("adjoints evaluate");
        values.adjoints.insert(adjoint.wrt.name.clone(), array);
    }
}

fn check_model(source: &str, seed: u64, trials: usize) {
    let report = mlp::load(source).unwrap_or_else(|e| panic!("model fails to load: {e:?}"));
    let derivation = &report.derivation;
    let mut rng = StdRng::seed_from_u64(seed);
    for trial in 0..trials {
        let mut values = random_values(derivation, &mut rng);
        loss(&derivation.model, &mut values, &abstract_function).expect("forward pass");
        adjoint_values(derivation, &mut values);
        for gradient in &derivation.gradients {
            let name: Arc<str> = gradient.wrt.name.clone();
            let size = values.tensors[&name].data.len();
            for flat in 0..size {
                let numeric = central_difference(derivation, &values, &name, flat);
                let shape = values.tensors[&name].shape.clone();
                let mut bindings: Vec<(Index, usize)> = Vec::new();
                let mut rest = flat;
                for (axis, index) in gradient.wrt.indices.iter().enumerate().rev() {
                    bindings.insert(0, (index.clone(), rest % shape[axis]));
                    rest /= shape[axis];
                }
                let expanded = eval(
                    &gradient.expanded,
                    &values,
                    &abstract_function,
                    &mut bindings.clone(),
                )
                .expect("the closed form evaluates");
                let recurrence = eval(
                    &gradient.recurrence,
                    &values,
                    &abstract_function,
                    &mut bindings,
                )
                .expect("the recurrence evaluates");
                let tolerance = 1e-6 * (1.0 + numeric.abs());
                assert!(
                    (expanded - numeric).abs() <= tolerance,
                    "trial {trial}: closed form of ∂L/∂{name} entry {flat}: {expanded} vs finite difference {numeric}\n{}",
                    mlp::symbolic::render(&gradient.expanded, mlp::symbolic::Format::Unicode)
                );
                assert!(
                    (recurrence - numeric).abs() <= tolerance,
                    "trial {trial}: recurrence of ∂L/∂{name} entry {flat}: {recurrence} vs finite difference {numeric}\n{}",
                    mlp::symbolic::render(&gradient.recurrence, mlp::symbolic::Format::Unicode)
                );
            }
        }
    }
}

fn central_difference(
    derivation: &Derivation,
    values: &Values,
    name: &Arc<str>,
    flat: usize,
) -> f64 {
    let step = 1e-5;
    let at = |delta: f64| {
        let mut shifted = Values {
            dims: values.dims.clone(),
            tensors: HashMap::new(),
            adjoints: HashMap::new(),
        };
        for tensor in &derivation.model.tensors {
            shifted
                .tensors
                .insert(tensor.name.clone(), values.tensors[&tensor.name].clone());
        }
        shifted.tensors.get_mut(name).expect("parameter").data[flat] += delta;
        loss(&derivation.model, &mut shifted, &abstract_function).expect("forward pass")
    };
    // Fourth-order central difference, so the tolerance can be tight.
    (-at(2.0 * step) + 8.0 * at(step) - 8.0 * at(-step) + at(-2.0 * step)) / (12.0 * step)
}

#[test]
fn perceptron_gradients_match_finite_differences() {
    check_model(include_str!("../examples/perceptron.mlp"), 1, 4);
}

#[test]
fn tanh3_gradients_match_finite_differences() {
    check_model(include_str!("models/tanh3.mlp"), 2, 3);
}

#[test]
fn softmax_gradients_match_finite_differences() {
    check_model(include_str!("models/softmax.mlp"), 3, 4);
}

#[test]
fn builtin_function_gradients_match_finite_differences() {
    check_model(include_str!("models/functions.mlp"), 4, 4);
}

#[test]
fn matrix_gradients_match_finite_differences() {
    check_model(include_str!("models/matrix.mlp"), 5, 3);
}

#[test]
fn scalar_gradients_match_finite_differences() {
    check_model(include_str!("models/scalar.mlp"), 6, 5);
}

#[test]
fn relu_gradients_match_finite_differences() {
    // relu is not differentiable at 0; random values avoid it with probability 1.
    let source = "dim I, N\ninput x[I]\ntarget y\nparam W[N, I], v[N]\n\
                  h[i] = relu(sum_j W[i, j] * x[j])\nL = (sum_i v[i] * h[i] - y)^2\n";
    check_model(source, 7, 4);
}

#[test]
fn deep_chain_gradients_match_finite_differences() {
    let mut source = String::from("dim N\ninput x[N]\nfn f\n");
    let depth = 6;
    for layer in 1..=depth {
        source.push_str(&format!("param W{layer}[N, N]\n"));
    }
    source.push_str("h0[i] = x[i]\n");
    for layer in 1..=depth {
        source.push_str(&format!(
            "h{layer}[i] = f(sum_j W{layer}[i, j] * h{}[j])\n",
            layer - 1
        ));
    }
    source.push_str(&format!("L = sum_i h{depth}[i]^2\n"));
    check_model(&source, 8, 2);
}
