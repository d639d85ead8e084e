//! A hand-written two-layer MLP implementing [`Model`]: the baseline that generated code is
//! tested and benchmarked against.

use crate::loss;
use crate::model::{Model, ParamInfo};
use crate::scalar::Scalar;

/// A two-layer perceptron `y = W2 relu(W1 x + b1) + b2` with `I` inputs, `H` hidden units and
/// `O` outputs, trained with the mean squared error over the `O` outputs.
///
/// Parameters are stored inline (no heap), so large sizes belong in a `Box`.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoLayerMlp<T, const I: usize, const H: usize, const O: usize> {
    /// Hidden-layer weights, shape `[H, I]`.
    pub w1: [[T; I]; H],
    /// Hidden-layer biases, shape `[H]`.
    pub b1: [T; H],
    /// Output-layer weights, shape `[O, H]`.
    pub w2: [[T; H]; O],
    /// Output-layer biases, shape `[O]`.
    pub b2: [T; O],
}

impl<T: Scalar, const I: usize, const H: usize, const O: usize> Default
    for TwoLayerMlp<T, I, H, O>
{
    /// Returns a model with all parameters zero; initialize it with [`crate::init`].
    fn default() -> Self {
        Self {
            w1: [[T::zero(); I]; H],
            b1: [T::zero(); H],
            w2: [[T::zero(); H]; O],
            b2: [T::zero(); O],
        }
    }
}

/// Forward intermediates of [`TwoLayerMlp`] for one sample.
#[derive(Debug, Clone)]
pub struct TwoLayerTape<T, const I: usize, const H: usize, const O: usize> {
    /// Copy of the input.
    x: [T; I],
    /// Hidden activations after ReLU; `h > 0` is the ReLU mask used by the backward pass.
    h: [T; H],
    /// Prediction.
    y: [T; O],
    /// Gradient of the loss with respect to `y`, written by `forward`.
    dloss_dy: [T; O],
}

impl<T: Scalar, const I: usize, const H: usize, const O: usize> Default
    for TwoLayerTape<T, I, H, O>
{
    fn default() -> Self {
        Self {
            x: [T::zero(); I],
            h: [T::zero(); H],
            y: [T::zero(); O],
            dloss_dy: [T::zero(); O],
        }
    }
}

/// Gradient accumulators of [`TwoLayerMlp`], one per parameter with the same shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoLayerGradients<T, const I: usize, const H: usize, const O: usize> {
    /// Gradient of `w1`.
    pub w1: [[T; I]; H],
    /// Gradient of `b1`.
    pub b1: [T; H],
    /// Gradient of `w2`.
    pub w2: [[T; H]; O],
    /// Gradient of `b2`.
    pub b2: [T; O],
}

impl<T: Scalar, const I: usize, const H: usize, const O: usize> Default
    for TwoLayerGradients<T, I, H, O>
{
    fn default() -> Self {
        Self {
            w1: [[T::zero(); I]; H],
            b1: [T::zero(); H],
            w2: [[T::zero(); H]; O],
            b2: [T::zero(); O],
        }
    }
}

impl<T: Scalar, const I: usize, const H: usize, const O: usize> TwoLayerMlp<T, I, H, O> {
    /// Computes the hidden activations and the prediction for `tape.x`.
    fn forward_from_tape(&self, tape: &mut TwoLayerTape<T, I, H, O>) {
        for ((h, row), &b) in tape.h.iter_mut().zip(&self.w1).zip(&self.b1) {
            let mut z = b;
            for (&w, &x) in row.iter().zip(&tape.x) {
                z += w * x;
            }
            *h = z.max(T::zero());
        }
        for ((y, row), &b) in tape.y.iter_mut().zip(&self.w2).zip(&self.b2) {
            let mut z = b;
            for (&w, &h) in row.iter().zip(&tape.h) {
                z += w * h;
            }
            *y = z;
        }
    }
}

impl<T: Scalar, const I: usize, const H: usize, const O: usize> Model for TwoLayerMlp<T, I, H, O> {
    type Scalar = T;
    type Tape = TwoLayerTape<T, I, H, O>;
    type Gradients = TwoLayerGradients<T, I, H, O>;

    const INPUT_LEN: usize = I;
    const TARGET_LEN: usize = O;
    const OUTPUT_LEN: usize = O;

    fn forward(&self, input: &[T], target: &[T], tape: &mut Self::Tape) -> T {
        tape.x.copy_from_slice(input);
        self.forward_from_tape(tape);
        loss::mse(&tape.y, target, &mut tape.dloss_dy)
    }

    fn predict(&self, input: &[T], tape: &mut Self::Tape) {
        tape.x.copy_from_slice(input);
        self.forward_from_tape(tape);
    }

    fn output(tape: &Self::Tape) -> &[T] {
        &tape.y
    }

    fn backward(&self, tape: &Self::Tape, grads: &mut Self::Gradients) {
        // Output layer: dL/dW2[o][j] = dy[o] h[j], dL/db2[o] = dy[o].
        for ((grad_row, grad_b), &dy) in grads.w2.iter_mut().zip(&mut grads.b2).zip(&tape.dloss_dy)
        {
            *grad_b += dy;
            for (g, &h) in grad_row.iter_mut().zip(&tape.h) {
                *g += dy * h;
            }
        }
        // Hidden layer: dL/dz1[j] = relu'(z1[j]) Σ_o W2[o][j] dy[o], then as above with x.
        for j in 0..H {
            if tape.h[j] <= T::zero() {
                continue;
            }
            let mut dz = T::zero();
            for (row, &dy) in self.w2.iter().zip(&tape.dloss_dy) {
                dz += row[j] * dy;
            }
            grads.b1[j] += dz;
            for (g, &x) in grads.w1[j].iter_mut().zip(&tape.x) {
                *g += dz * x;
            }
        }
    }

    fn visit_params(&self, mut visit: impl FnMut(ParamInfo<'_>, &[T])) {
        visit(ParamInfo::new("w1", &[H, I]), self.w1.as_flattened());
        visit(ParamInfo::new("b1", &[H]), &self.b1);
        visit(ParamInfo::new("w2", &[O, H]), self.w2.as_flattened());
        visit(ParamInfo::new("b2", &[O]), &self.b2);
    }

    fn visit_params_mut(&mut self, mut visit: impl FnMut(ParamInfo<'_>, &mut [T])) {
        visit(ParamInfo::new("w1", &[H, I]), self.w1.as_flattened_mut());
        visit(ParamInfo::new("b1", &[H]), &mut self.b1);
        visit(ParamInfo::new("w2", &[O, H]), self.w2.as_flattened_mut());
        visit(ParamInfo::new("b2", &[O]), &mut self.b2);
    }

    fn visit_gradients(grads: &Self::Gradients, mut visit: impl FnMut(ParamInfo<'_>, &[T])) {
        visit(ParamInfo::new("w1", &[H, I]), grads.w1.as_flattened());
        visit(ParamInfo::new("b1", &[H]), &grads.b1);
        visit(ParamInfo::new("w2", &[O, H]), grads.w2.as_flattened());
        visit(ParamInfo::new("b2", &[O]), &grads.b2);
    }

    fn visit_gradients_mut(
        grads: &mut Self::Gradients,
        mut visit: impl FnMut(ParamInfo<'_>, &mut [T]),
    ) {
        visit(ParamInfo::new("w1", &[H, I]), grads.w1.as_flattened_mut());
        visit(ParamInfo::new("b1", &[H]), &mut grads.b1);
        visit(ParamInfo::new("w2", &[O, H]), grads.w2.as_flattened_mut());
        visit(ParamInfo::new("b2", &[O]), &mut grads.b2);
    }

    fn update(
        &mut self,
        grads: &Self::Gradients,
        mut visit: impl FnMut(ParamInfo<'_>, &mut [T], &[T]),
    ) {
        visit(
            ParamInfo::new("w1", &[H, I]),
            self.w1.as_flattened_mut(),
            grads.w1.as_flattened(),
        );
        visit(ParamInfo::new("b1", &[H]), &mut self.b1, &grads.b1);
        visit(
            ParamInfo::new("w2", &[O, H]),
            self.w2.as_flattened_mut(),
            grads.w2.as_flattened(),
        );
        visit(ParamInfo::new("b2", &[O]), &mut self.b2, &grads.b2);
    }
}
