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
        // Output layer: dL/dW2[o][j] = dy[o] h[j] and dL/db2[o] = dy[o]. The same pass over the
        // rows of W2 accumulates dL/dh[j] = Σ_o W2[o][j] dy[o] in row order, which reads W2
        // contiguously. The stack array keeps the step free of heap allocation.
        let mut dloss_dh = [T::zero(); H];
        let output_rows = grads.w2.iter_mut().zip(&mut grads.b2).zip(&self.w2);
        for (((grad_row, grad_b), row), &dy) in output_rows.zip(&tape.dloss_dy) {
            *grad_b += dy;
            let entries = grad_row.iter_mut().zip(&mut dloss_dh).zip(row).zip(&tape.h);
            for (((g, dh), &w), &h) in entries {
                *g += dy * h;
                *dh += w * dy;
            }
        }
        // Hidden layer: dL/dz1[j] = relu'(z1[j]) dL/dh[j], with relu' = 1 exactly where h > 0.
        let hidden_rows = grads.w1.iter_mut().zip(&mut grads.b1);
        for (((grad_row, grad_b), &dh), &h) in hidden_rows.zip(&dloss_dh).zip(&tape.h) {
            if h <= T::zero() {
                continue;
            }
            *grad_b += dh;
            for (g, &x) in grad_row.iter_mut().zip(&tape.x) {
                *g += dh * x;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{initialize, Init};

    type Net = TwoLayerMlp<f64, 3, 4, 2>;

    fn model() -> Net {
        let mut model = Net::default();
        initialize(&mut model, Init::XavierUniform, 4);
        model.b1 = [0.1, -0.1, 0.2, 0.0];
        model
    }

    #[test]
    fn forward_matches_hand_computation() {
        let mut model = Net::default();
        model.w1[0] = [1.0, 2.0, 3.0];
        model.w1[1] = [-1.0, 0.0, 0.0];
        model.b1 = [0.5, 0.0, 0.0, 0.0];
        model.w2[0] = [2.0, 5.0, 0.0, 0.0];
        model.b2 = [1.0, -1.0];
        let mut tape = <Net as Model>::Tape::default();
        // h = relu([0.5 + 1 + 2 + 3, -1, 0, 0]) = [6.5, 0, 0, 0], y = [2 * 6.5 + 1, -1].
        let loss = model.forward(&[1.0, 1.0, 1.0], &[10.0, 0.0], &mut tape);
        assert_eq!(Net::output(&tape), [14.0, -1.0]);
        assert_eq!(loss, (16.0 + 1.0) / 2.0);
    }

    #[test]
    fn predict_matches_forward_output() {
        let model = model();
        let mut tape = <Net as Model>::Tape::default();
        model.forward(&[0.3, -0.2, 0.9], &[1.0, 0.0], &mut tape);
        let from_forward = Net::output(&tape).to_vec();
        let mut tape = <Net as Model>::Tape::default();
        model.predict(&[0.3, -0.2, 0.9], &mut tape);
        assert_eq!(Net::output(&tape), from_forward);
    }

    #[test]
    fn backward_accumulates_and_zeroes() {
        let model = model();
        let mut tape = <Net as Model>::Tape::default();
        let mut once = <Net as Model>::Gradients::default();
        model.forward(&[0.3, -0.2, 0.9], &[1.0, 0.0], &mut tape);
        model.backward(&tape, &mut once);
        let mut twice = once.clone();
        model.backward(&tape, &mut twice);
        for (a, b) in once.w1.as_flattened().iter().zip(twice.w1.as_flattened()) {
            assert_eq!(2.0 * a, *b);
        }
        assert_eq!(twice.b2, [2.0 * once.b2[0], 2.0 * once.b2[1]]);
        assert!(
            once.b2.iter().any(|&g| g != 0.0),
            "gradient is zero: {once:?}"
        );
        Net::zero_gradients(&mut twice);
        assert_eq!(twice, <Net as Model>::Gradients::default());
    }

    #[test]
    fn batch_sums_samples() {
        let model = model();
        let inputs = [0.3, -0.2, 0.9, -0.5, 0.4, 0.1];
        let targets = [1.0, 0.0, -1.0, 0.5];
        let mut tape = <Net as Model>::Tape::default();
        let mut batch = <Net as Model>::Gradients::default();
        let batch_loss = model.forward_backward_batch(&inputs, &targets, &mut tape, &mut batch);
        let mut single = <Net as Model>::Gradients::default();
        let mut single_loss = 0.0;
        for (input, target) in inputs.chunks(3).zip(targets.chunks(2)) {
            single_loss += model.forward(input, target, &mut tape);
            model.backward(&tape, &mut single);
        }
        assert_eq!(batch_loss, single_loss);
        assert_eq!(batch, single);
        assert_eq!(model.batch_loss(&inputs, &targets, &mut tape), single_loss);
    }

    #[test]
    fn param_specs_follow_out_in() {
        let specs = model().param_specs();
        let names: Vec<_> = specs.iter().map(|s| s.name).collect();
        assert_eq!(names, ["w1", "b1", "w2", "b2"]);
        assert_eq!(specs[0].shape, [4, 3]);
        assert_eq!(specs[2].shape, [2, 4]);
        assert_eq!(model().param_count(), 12 + 4 + 8 + 2);
    }
}
