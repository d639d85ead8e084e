//! Loss functions the DSL can express, each returning its value and writing its gradient.
//!
//! Every function takes the prediction, the target and an output slice for the gradient with
//! respect to the prediction, so a model can call it inside `forward` without allocating. All
//! slices must have the same length; the functions panic otherwise, because a mismatch is a
//! bug in the model, not in user data.

use crate::scalar::Scalar;

fn check_lengths(prediction: usize, other: usize, what: &str) {
    assert_eq!(
        prediction, other,
        "loss: prediction has {prediction} entries but {what} has {other}"
    );
}

/// Computes the mean squared error `(1/n) Σ (p_i - t_i)²` and writes its gradient
/// `2 (p_i - t_i) / n` into `grad`.
///
/// Returns 0 (and writes nothing) for empty slices.
pub fn mse<T: Scalar>(prediction: &[T], target: &[T], grad: &mut [T]) -> T {
    scaled_squared_error(prediction, target, grad, T::from_f64(2.0))
}

/// Computes half the mean squared error `(1/2n) Σ (p_i - t_i)²` and writes its gradient
/// `(p_i - t_i) / n` into `grad`.
///
/// Returns 0 (and writes nothing) for empty slices.
pub fn half_mse<T: Scalar>(prediction: &[T], target: &[T], grad: &mut [T]) -> T {
    scaled_squared_error(prediction, target, grad, T::one())
}

/// Computes `(factor / 2n) Σ (p_i - t_i)²` and its gradient `factor (p_i - t_i) / n`.
fn scaled_squared_error<T: Scalar>(prediction: &[T], target: &[T], grad: &mut [T], factor: T) -> T {
    check_lengths(prediction.len(), target.len(), "target");
    check_lengths(prediction.len(), grad.len(), "grad");
    if prediction.is_empty() {
        return T::zero();
    }
    let scale = factor / T::from_f64(prediction.len() as f64);
    let mut sum = T::zero();
    for ((&p, &t), g) in prediction.iter().zip(target).zip(grad.iter_mut()) {
        let diff = p - t;
        sum += diff * diff;
        *g = scale * diff;
    }
    sum * scale / T::from_f64(2.0)
}

/// Computes `log Σ exp(x_i)` without overflow and writes its gradient, `softmax(x)`, into
/// `grad`.
///
/// The maximum is subtracted before exponentiating, so large inputs do not overflow. Returns
/// negative infinity (and fills `grad` with NaN) for an empty slice.
pub fn log_sum_exp<T: Scalar>(x: &[T], grad: &mut [T]) -> T {
    check_lengths(x.len(), grad.len(), "grad");
    let max = x.iter().copied().fold(T::neg_infinity(), T::max);
    if !max.is_finite() {
        // All entries are -inf (or the slice is empty), or some entry is +inf or NaN: the shift
        // below would produce NaN, so report the limit directly.
        grad.fill(T::nan());
        return max;
    }
    let mut sum = T::zero();
    for (&xi, g) in x.iter().zip(grad.iter_mut()) {
        let e = (xi - max).exp();
        *g = e;
        sum += e;
    }
    for g in grad.iter_mut() {
        *g /= sum;
    }
    max + sum.ln()
}

/// Computes the softmax cross-entropy `-Σ t_i log softmax(z)_i` of the logits `z` against a
/// target distribution `t` (usually one-hot) and writes its gradient with respect to the
/// logits, `softmax(z)_i Σ_j t_j - t_i`, into `grad`.
///
/// The loss is evaluated as `Σ t_i (lse(z) - z_i)` with a stable log-sum-exp, so large logits
/// do not overflow.
pub fn softmax_cross_entropy<T: Scalar>(logits: &[T], target: &[T], grad: &mut [T]) -> T {
    check_lengths(logits.len(), target.len(), "target");
    let lse = log_sum_exp(logits, grad);
    let mut loss = T::zero();
    let mut target_sum = T::zero();
    for (&z, &t) in logits.iter().zip(target) {
        loss += t * (lse - z);
        target_sum += t;
    }
    // grad holds softmax(z) here; scaling by Σt keeps the gradient exact for unnormalized targets.
    for (g, &t) in grad.iter_mut().zip(target) {
        *g = *g * target_sum - t;
    }
    loss
}

#[cfg(test)]
mod tests {
    use super::*;

    type LossFn = fn(&[f64], &[f64], &mut [f64]) -> f64;

    /// Compares the gradient a loss writes with central finite differences of its value.
    fn assert_gradient_matches(loss: LossFn, prediction: &[f64], target: &[f64]) {
        let mut analytic = vec![0.0; prediction.len()];
        loss(prediction, target, &mut analytic);
        let mut scratch = vec![0.0; prediction.len()];
        let eps = 1e-6;
        for i in 0..prediction.len() {
            let mut plus = prediction.to_vec();
            plus[i] += eps;
            let mut minus = prediction.to_vec();
            minus[i] -= eps;
            let numeric = (loss(&plus, target, &mut scratch) - loss(&minus, target, &mut scratch))
                / (2.0 * eps);
            let error = (numeric - analytic[i]).abs();
            assert!(
                error < 1e-7,
                "entry {i}: analytic {} numeric {numeric}",
                analytic[i]
            );
        }
    }

    #[test]
    fn mse_value() {
        let mut grad = [0.0; 2];
        let value = mse(&[1.0, 3.0], &[0.0, 1.0], &mut grad);
        assert_eq!(value, (1.0 + 4.0) / 2.0);
        assert_eq!(grad, [1.0, 2.0]);
    }

    #[test]
    fn half_mse_value() {
        let mut grad = [0.0; 2];
        let value = half_mse(&[1.0, 3.0], &[0.0, 1.0], &mut grad);
        assert_eq!(value, (1.0 + 4.0) / 4.0);
        assert_eq!(grad, [0.5, 1.0]);
    }

    #[test]
    fn mse_gradient_finite_differences() {
        assert_gradient_matches(mse, &[0.3, -1.2, 2.5], &[0.1, 0.4, -0.7]);
    }

    #[test]
    fn half_mse_gradient_finite_differences() {
        assert_gradient_matches(half_mse, &[0.3, -1.2, 2.5], &[0.1, 0.4, -0.7]);
    }

    #[test]
    fn log_sum_exp_gradient_finite_differences() {
        fn lse(x: &[f64], _target: &[f64], grad: &mut [f64]) -> f64 {
            log_sum_exp(x, grad)
        }
        assert_gradient_matches(lse, &[0.3, -1.2, 2.5, 0.0], &[0.0; 4]);
    }

    #[test]
    fn log_sum_exp_large_inputs() {
        let mut grad = [0.0; 2];
        let value = log_sum_exp(&[1000.0, 1000.0], &mut grad);
        assert!((value - (1000.0 + 2f64.ln())).abs() < 1e-9, "value {value}");
        assert_eq!(grad, [0.5, 0.5]);
    }

    #[test]
    fn log_sum_exp_all_negative_infinity() {
        let mut grad = [0.0; 2];
        let value = log_sum_exp(&[f64::NEG_INFINITY, f64::NEG_INFINITY], &mut grad);
        assert_eq!(value, f64::NEG_INFINITY);
    }

    #[test]
    fn softmax_cross_entropy_gradient_finite_differences() {
        assert_gradient_matches(softmax_cross_entropy, &[0.3, -1.2, 2.5], &[0.0, 1.0, 0.0]);
        assert_gradient_matches(softmax_cross_entropy, &[0.3, -1.2, 2.5], &[0.2, 0.5, 0.3]);
    }

    #[test]
    fn softmax_cross_entropy_uniform_logits() {
        let mut grad = [0.0; 4];
        let value = softmax_cross_entropy(&[2.0; 4], &[0.0, 0.0, 1.0, 0.0], &mut grad);
        assert!((value - 4f64.ln()).abs() < 1e-12, "value {value}");
        assert!((grad[2] - (0.25 - 1.0)).abs() < 1e-12, "grad {grad:?}");
        assert!((grad[0] - 0.25).abs() < 1e-12, "grad {grad:?}");
    }

    #[test]
    fn softmax_cross_entropy_large_logits_finite() {
        let mut grad = [0.0f32; 3];
        let value = softmax_cross_entropy(&[500.0f32, 0.0, -500.0], &[0.0, 1.0, 0.0], &mut grad);
        assert!(value.is_finite(), "value {value}");
        assert!((value - 500.0).abs() < 1e-3, "value {value}");
    }
}
