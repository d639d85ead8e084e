//! The `Model` trait: the contract between a model (generated or hand-written) and the runtime.
//!
//! # Conventions
//!
//! - **Flat slices.** A sample's inputs are one `&[T]` of length [`Model::INPUT_LEN`]: the
//!   model's input tensors flattened row-major and concatenated in declaration order. Targets
//!   and predictions follow the same rule with [`Model::TARGET_LEN`] and [`Model::OUTPUT_LEN`].
//!   A batch of `n` samples is `n` such rows back to back.
//! - **Parameter tensors.** Every visitor method visits the same parameter tensors in the same
//!   order (declaration order), each as one flat row-major slice with its [`ParamInfo`]. The
//!   runtime identifies tensors by their position in that order, so optimizers, checkpoints and
//!   gradient checks work on any model.
//! - **Shape convention.** A weight tensor that maps `in` inputs to `out` outputs has shape
//!   `[out, in]`, as in a field `w: [[T; IN]; OUT]`. A tensor of rank 1 is a bias. The
//!   initializers in [`crate::init`] derive fan-in and fan-out from this convention.
//! - **No allocation in a step.** `Tape` and `Gradients` are created once with `Default` and
//!   reused, so `forward`, `backward`, `zero_gradients` and `update` must not allocate.
//!
//! # Implementing the trait
//!
//! A generated model with a hidden layer `h_j = relu(w1_ji x_i + b1_j)` and output
//! `y_k = w2_kj h_j + b2_k` implements the trait like this sketch:
//!
//! ```ignore
//! pub struct Net<T> { w1: [[T; I]; H], b1: [T; H], w2: [[T; H]; O], b2: [T; O] }
//! pub struct NetTape<T> { x: [T; I], h: [T; H], y: [T; O], dloss_dy: [T; O] } // + Default
//! pub struct NetGradients<T> { w1: [[T; I]; H], b1: [T; H], w2: [[T; H]; O], b2: [T; O] }
//!
//! impl<T: Scalar> Model for Net<T> {
//!     type Scalar = T;
//!     type Tape = NetTape<T>;
//!     type Gradients = NetGradients<T>;
//!     const INPUT_LEN: usize = I;
//!     const TARGET_LEN: usize = O;
//!     const OUTPUT_LEN: usize = O;
//!
//!     fn visit_params(&self, mut visit: impl FnMut(ParamInfo<'_>, &[T])) {
//!         visit(ParamInfo::new("w1", &[H, I]), self.w1.as_flattened());
//!         visit(ParamInfo::new("b1", &[H]), &self.b1);
//!         // ... w2, b2
//!     }
//!     fn update(&mut self, grads: &NetGradients<T>,
//!               mut visit: impl FnMut(ParamInfo<'_>, &mut [T], &[T])) {
//!         let w1 = ParamInfo::new("w1", &[H, I]);
//!         visit(w1, self.w1.as_flattened_mut(), grads.w1.as_flattened());
//!         // ... b1, w2, b2 in the same order
//!     }
//!     // forward, predict, output, backward and the gradient visitors likewise.
//! }
//! ```
//!
//! [`crate::reference::TwoLayerMlp`] is a complete hand-written implementation.

use num_traits::Zero;

use crate::scalar::Scalar;

/// Name and shape of one parameter tensor, as passed to the visitor methods of [`Model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo<'a> {
    /// Parameter name as declared in the model, for example `"w1"`.
    pub name: &'static str,
    /// Row-major shape; weights use `[out, in]`, biases `[out]`.
    pub shape: &'a [usize],
}

impl<'a> ParamInfo<'a> {
    /// Creates the description of a parameter tensor named `name` with shape `shape`.
    pub const fn new(name: &'static str, shape: &'a [usize]) -> Self {
        Self { name, shape }
    }

    /// Returns the number of entries, the product of the shape (1 for a scalar of rank 0).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Returns `true` if the tensor has no entries (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Owned name and shape of a parameter tensor, collected once from [`Model::param_specs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// Parameter name as declared in the model.
    pub name: &'static str,
    /// Row-major shape; weights use `[out, in]`, biases `[out]`.
    pub shape: Vec<usize>,
}

impl ParamSpec {
    /// Returns the number of entries, the product of the shape.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Returns `true` if the tensor has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A trainable model with a hand-written or generated forward and backward pass.
///
/// The loss is that of one sample. A mini-batch step sums the per-sample gradients, because
/// [`Model::backward`] accumulates, and the trainer scales the sum by `1 / batch_size` before
/// the optimizer step. See the [module documentation](self) for the slice and shape conventions
/// and an implementation sketch.
pub trait Model {
    /// Scalar type of parameters, inputs, targets and the loss.
    type Scalar: Scalar;

    /// Forward intermediates that [`Model::backward`] needs (the "tape" or "cache").
    ///
    /// It is created once with `Default` and overwritten by every forward pass, so it must hold
    /// fixed-size storage. Arrays longer than 32 do not implement `Default`, so implement it
    /// by hand with `[T::zero(); N]`.
    type Tape: Default;

    /// One gradient tensor per parameter tensor, created once with `Default` (all zeros).
    type Gradients: Default;

    /// Length of one sample's input slice: all input tensors flattened and concatenated.
    ///
    /// It must be at least 1, because the batched default methods split rows by it.
    const INPUT_LEN: usize;

    /// Length of one sample's target slice: all target tensors flattened and concatenated.
    ///
    /// It must be at least 1, because the batched default methods split rows by it.
    const TARGET_LEN: usize;

    /// Length of the prediction returned by [`Model::output`]: the output relation, flattened.
    const OUTPUT_LEN: usize;

    /// Runs the forward pass on one sample, stores what the backward pass needs in `tape` and
    /// returns the sample's loss against `target`.
    ///
    /// `input.len()` is [`Model::INPUT_LEN`] and `target.len()` is [`Model::TARGET_LEN`]; the
    /// runtime checks the data against these lengths before calling, so an implementation may
    /// panic on other lengths. The method must not allocate.
    fn forward(
        &self,
        input: &[Self::Scalar],
        target: &[Self::Scalar],
        tape: &mut Self::Tape,
    ) -> Self::Scalar;

    /// Runs the forward pass on one sample without a target and leaves the prediction in
    /// `tape`, readable with [`Model::output`]. The loss-related parts of `tape` are left
    /// stale, so do not call [`Model::backward`] after it.
    fn predict(&self, input: &[Self::Scalar], tape: &mut Self::Tape);

    /// Returns the prediction (the output relation, flattened) of the last forward pass or
    /// prediction that filled `tape`; its length is [`Model::OUTPUT_LEN`].
    fn output(tape: &Self::Tape) -> &[Self::Scalar];

    /// Adds the gradient of the loss of the last [`Model::forward`] call on `tape` with respect
    /// to every parameter into `grads`.
    ///
    /// It accumulates instead of overwriting, so a batch of forward/backward pairs sums the
    /// per-sample gradients; call [`Model::zero_gradients`] before the next batch. The method
    /// must not allocate.
    fn backward(&self, tape: &Self::Tape, grads: &mut Self::Gradients);

    /// Calls `visit` once per parameter tensor, in declaration order, with its description and
    /// flat row-major values.
    fn visit_params(&self, visit: impl FnMut(ParamInfo<'_>, &[Self::Scalar]));

    /// Calls `visit` once per parameter tensor, in declaration order, with mutable values; used
    /// by initializers, checkpoint loading and the gradient check.
    fn visit_params_mut(&mut self, visit: impl FnMut(ParamInfo<'_>, &mut [Self::Scalar]));

    /// Calls `visit` once per gradient tensor in `grads`, in the order of
    /// [`Model::visit_params`]; each slice has the length of its parameter.
    fn visit_gradients(grads: &Self::Gradients, visit: impl FnMut(ParamInfo<'_>, &[Self::Scalar]));

    /// Calls `visit` once per gradient tensor in `grads` with mutable values, in the order of
    /// [`Model::visit_params`].
    fn visit_gradients_mut(
        grads: &mut Self::Gradients,
        visit: impl FnMut(ParamInfo<'_>, &mut [Self::Scalar]),
    );

    /// Calls `visit` once per parameter tensor with the mutable parameter and its gradient
    /// from `grads`, in the order of [`Model::visit_params`].
    ///
    /// This is the hook optimizers update parameters through; it must not allocate.
    fn update(
        &mut self,
        grads: &Self::Gradients,
        visit: impl FnMut(ParamInfo<'_>, &mut [Self::Scalar], &[Self::Scalar]),
    );

    /// Sets every gradient entry to zero.
    fn zero_gradients(grads: &mut Self::Gradients) {
        Self::visit_gradients_mut(grads, |_, values| {
            values.fill(<Self::Scalar as Zero>::zero())
        });
    }

    /// Runs forward and backward on every sample of a batch, accumulates the summed gradient
    /// into `grads` and returns the summed loss.
    ///
    /// `inputs` holds `n` rows of [`Model::INPUT_LEN`] values and `targets` `n` rows of
    /// [`Model::TARGET_LEN`] values. The default loops over the samples; an implementation
    /// may override it with a faster batched (matrix-matrix) path with the same result.
    fn forward_backward_batch(
        &self,
        inputs: &[Self::Scalar],
        targets: &[Self::Scalar],
        tape: &mut Self::Tape,
        grads: &mut Self::Gradients,
    ) -> Self::Scalar {
        let mut loss = <Self::Scalar as Zero>::zero();
        let rows = inputs
            .chunks_exact(Self::INPUT_LEN)
            .zip(targets.chunks_exact(Self::TARGET_LEN));
        for (input, target) in rows {
            loss += self.forward(input, target, tape);
            self.backward(tape, grads);
        }
        loss
    }

    /// Runs forward and backward on every sample of a batch, writes the summed gradient into
    /// `grads` (replacing what it held) and returns the summed loss.
    ///
    /// The default zeroes `grads` and calls [`Model::forward_backward_batch`]; an implementation
    /// may write the first contribution directly and skip the zeroing pass.
    fn gradients_batch(
        &self,
        inputs: &[Self::Scalar],
        targets: &[Self::Scalar],
        tape: &mut Self::Tape,
        grads: &mut Self::Gradients,
    ) -> Self::Scalar {
        Self::zero_gradients(grads);
        self.forward_backward_batch(inputs, targets, tape, grads)
    }

    /// Returns the summed loss over a batch laid out as in [`Model::forward_backward_batch`],
    /// without touching gradients.
    fn batch_loss(
        &self,
        inputs: &[Self::Scalar],
        targets: &[Self::Scalar],
        tape: &mut Self::Tape,
    ) -> Self::Scalar {
        let mut loss = <Self::Scalar as Zero>::zero();
        let rows = inputs
            .chunks_exact(Self::INPUT_LEN)
            .zip(targets.chunks_exact(Self::TARGET_LEN));
        for (input, target) in rows {
            loss += self.forward(input, target, tape);
        }
        loss
    }

    /// Collects the name and shape of every parameter tensor, in declaration order.
    ///
    /// It allocates, so call it at setup time (optimizers and checkpoints do), not per step.
    fn param_specs(&self) -> Vec<ParamSpec> {
        let mut specs = Vec::new();
        self.visit_params(|info, _| {
            specs.push(ParamSpec {
                name: info.name,
                shape: info.shape.to_vec(),
            });
        });
        specs
    }

    /// Returns the total number of scalar parameters.
    fn param_count(&self) -> usize {
        let mut count = 0;
        self.visit_params(|_, values| count += values.len());
        count
    }
}
