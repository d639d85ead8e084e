//! Optimizers: the `Optimizer` trait, SGD with momentum and Adam.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use num_traits::Zero;

use crate::model::Model;
use crate::scalar::Scalar;

/// An update rule that moves a model's parameters against its gradients.
///
/// An optimizer allocates its per-parameter state once, in its constructor, from the shapes of
/// the model it is built for; [`Optimizer::step`] does not allocate.
pub trait Optimizer<M: Model> {
    /// Updates the parameters of `model` from `grads`, the gradient of the loss to minimize
    /// (the trainer passes the mean over the mini-batch).
    ///
    /// # Panics
    ///
    /// Panics if `model` has other parameter tensors than the model the optimizer was built
    /// for.
    fn step(&mut self, model: &mut M, grads: &M::Gradients);
}

/// Allocates one zero-filled state buffer per parameter tensor of `model`.
fn zeroed_state<M: Model>(model: &M) -> Vec<Vec<M::Scalar>> {
    let mut state = Vec::new();
    model.visit_params(|_, values| state.push(vec![<M::Scalar as Zero>::zero(); values.len()]));
    state
}

/// Returns the state buffer of parameter tensor `index`, checking that it matches the tensor.
fn state_for<'a, T: Scalar>(
    state: &'a mut [Vec<T>],
    index: usize,
    name: &str,
    len: usize,
) -> &'a mut [T] {
    let buffer = state.get_mut(index).unwrap_or_else(|| {
        panic!("optimizer: parameter {name} (tensor {index}) is not in the model it was built for")
    });
    assert_eq!(
        buffer.len(),
        len,
        "optimizer: parameter {name} has {len} entries but the optimizer state has {}",
        buffer.len()
    );
    buffer
}

#[cfg(test)]
pub(crate) mod tests {
    //! A quadratic bowl `0.5 |p - c|²` as a model with one parameter tensor, so optimizer
    //! steps can be checked by hand.

    use crate::model::{Model, ParamInfo};

    /// Gradient buffer of [`Quadratic`]; arrays of generic length do not implement `Default`.
    pub(crate) struct QuadraticGradients<const N: usize>(pub(crate) [f64; N]);

    impl<const N: usize> Default for QuadraticGradients<N> {
        fn default() -> Self {
            Self([0.0; N])
        }
    }

    pub(crate) struct Quadratic<const N: usize> {
        pub(crate) params: [f64; N],
        pub(crate) center: [f64; N],
    }

    impl<const N: usize> Quadratic<N> {
        pub(crate) fn new(params: [f64; N], center: [f64; N]) -> Self {
            Self { params, center }
        }

        /// Returns the exact gradient `p - c`.
        pub(crate) fn gradients(&self) -> QuadraticGradients<N> {
            let mut grads = [0.0; N];
            for ((g, &p), &c) in grads.iter_mut().zip(&self.params).zip(&self.center) {
                *g = p - c;
            }
            QuadraticGradients(grads)
        }

        pub(crate) fn distance_to_minimum(&self) -> f64 {
            self.gradients().0.iter().map(|g| g * g).sum::<f64>().sqrt()
        }
    }

    impl<const N: usize> Model for Quadratic<N> {
        type Scalar = f64;
        type Tape = ();
        type Gradients = QuadraticGradients<N>;
        const INPUT_LEN: usize = 0;
        const TARGET_LEN: usize = 0;
        const OUTPUT_LEN: usize = 0;

        fn forward(&self, _input: &[f64], _target: &[f64], _tape: &mut ()) -> f64 {
            0.5 * self.distance_to_minimum().powi(2)
        }

        fn predict(&self, _input: &[f64], _tape: &mut ()) {}

        fn output(_tape: &()) -> &[f64] {
            &[]
        }

        fn backward(&self, _tape: &(), grads: &mut QuadraticGradients<N>) {
            for (g, d) in grads.0.iter_mut().zip(self.gradients().0) {
                *g += d;
            }
        }

        fn visit_params(&self, mut visit: impl FnMut(ParamInfo<'_>, &[f64])) {
            visit(ParamInfo::new("p", &[N]), &self.params);
        }

        fn visit_params_mut(&mut self, mut visit: impl FnMut(ParamInfo<'_>, &mut [f64])) {
            visit(ParamInfo::new("p", &[N]), &mut self.params);
        }

        fn visit_gradients(
            grads: &QuadraticGradients<N>,
            mut visit: impl FnMut(ParamInfo<'_>, &[f64]),
        ) {
            visit(ParamInfo::new("p", &[N]), &grads.0);
        }

        fn visit_gradients_mut(
            grads: &mut QuadraticGradients<N>,
            mut visit: impl FnMut(ParamInfo<'_>, &mut [f64]),
        ) {
            visit(ParamInfo::new("p", &[N]), &mut grads.0);
        }

        fn update(
            &mut self,
            grads: &QuadraticGradients<N>,
            mut visit: impl FnMut(ParamInfo<'_>, &mut [f64], &[f64]),
        ) {
            visit(ParamInfo::new("p", &[N]), &mut self.params, &grads.0);
        }
    }
}
