//! Adam with bias correction (Kingma and Ba, "Adam: A Method for Stochastic Optimization",
//! 2015, Algorithm 1).

use num_traits::Float;

use super::{state_for, zeroed_state, Optimizer};
use crate::model::Model;
use crate::scalar::Scalar;

/// Hyperparameters of [`Adam`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Step size `α`.
    pub learning_rate: f64,
    /// Decay rate `β1` of the first-moment estimate.
    pub beta1: f64,
    /// Decay rate `β2` of the second-moment estimate.
    pub beta2: f64,
    /// Term `ε` added to the denominator against division by zero.
    pub epsilon: f64,
}

impl Default for AdamConfig {
    /// Returns the defaults of the Adam paper: `α = 0.001`, `β1 = 0.9`, `β2 = 0.999`,
    /// `ε = 1e-8`.
    fn default() -> Self {
        Self {
            learning_rate: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// Adam: `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
/// `p ← p − α m̂ / (√v̂ + ε)` with `m̂ = m / (1−β1ᵗ)` and `v̂ = v / (1−β2ᵗ)`.
#[derive(Debug, Clone)]
pub struct Adam<T> {
    config: AdamConfig,
    /// Number of steps taken, `t` in the update rule.
    steps: i32,
    /// First-moment estimates `m`, one buffer per parameter tensor.
    first_moment: Vec<Vec<T>>,
    /// Second-moment estimates `v`, one buffer per parameter tensor.
    second_moment: Vec<Vec<T>>,
}

impl<T: Scalar> Adam<T> {
    /// Creates an Adam optimizer for `model`, allocating both moment buffers.
    pub fn new<M: Model<Scalar = T>>(config: AdamConfig, model: &M) -> Self {
        Self {
            config,
            steps: 0,
            first_moment: zeroed_state(model),
            second_moment: zeroed_state(model),
        }
    }

    /// Returns the number of steps taken so far.
    pub fn steps(&self) -> i32 {
        self.steps
    }
}

impl<M: Model> Optimizer<M> for Adam<M::Scalar> {
    fn step(&mut self, model: &mut M, grads: &M::Gradients) {
        self.steps = self.steps.saturating_add(1);
        let config = self.config;
        // The bias corrections are computed in f64 because β2ᵗ is close to 1 for small t and
        // loses digits in f32.
        let correction1 = 1.0 - config.beta1.powi(self.steps);
        let correction2 = 1.0 - config.beta2.powi(self.steps);
        let step_size = M::Scalar::from_f64(config.learning_rate / correction1);
        let inverse_sqrt_correction2 = M::Scalar::from_f64(1.0 / correction2.sqrt());
        let beta1 = M::Scalar::from_f64(config.beta1);
        let beta2 = M::Scalar::from_f64(config.beta2);
        let one_minus_beta1 = M::Scalar::from_f64(1.0 - config.beta1);
        let one_minus_beta2 = M::Scalar::from_f64(1.0 - config.beta2);
        let epsilon = M::Scalar::from_f64(config.epsilon);

        let mut index = 0;
        model.update(grads, |info, params, grad| {
            let m = state_for(&mut self.first_moment, index, info.name, params.len());
            let v = state_for(&mut self.second_moment, index, info.name, params.len());
            index += 1;
            for (((p, &g), m), v) in params
                .iter_mut()
                .zip(grad)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                *m = beta1 * *m + one_minus_beta1 * g;
                *v = beta2 * *v + one_minus_beta2 * g * g;
                // α m̂ / (√v̂ + ε) with m̂ and v̂ expanded, so ε is added to √v̂ as in the paper.
                *p -= step_size * *m / (Float::sqrt(*v) * inverse_sqrt_correction2 + epsilon);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::Quadratic;

    #[test]
    fn adam_first_step_by_hand() {
        let mut model = Quadratic::new([1.0, -2.0], [0.0, 0.0]);
        let config = AdamConfig {
            learning_rate: 0.1,
            ..AdamConfig::default()
        };
        let mut adam = Adam::new(config, &model);
        let grads = model.gradients();
        adam.step(&mut model, &grads);
        // After one step m̂ = g and v̂ = g², so each entry moves by α g / (|g| + ε) ≈ α sign(g).
        let expected = [
            1.0 - 0.1 * 1.0 / (1.0 + 1e-8),
            -2.0 + 0.1 * 2.0 / (2.0 + 1e-8),
        ];
        assert!(
            (model.params[0] - expected[0]).abs() < 1e-12,
            "{:?}",
            model.params
        );
        assert!(
            (model.params[1] - expected[1]).abs() < 1e-12,
            "{:?}",
            model.params
        );
        assert_eq!(adam.steps(), 1);
    }

    #[test]
    fn adam_second_step_by_hand() {
        let mut model = Quadratic::new([1.0], [0.0]);
        let config = AdamConfig {
            learning_rate: 0.1,
            beta1: 0.5,
            beta2: 0.5,
            epsilon: 0.0,
        };
        let mut adam = Adam::new(config, &model);
        let grads = model.gradients();
        adam.step(&mut model, &grads);
        assert!((model.params[0] - 0.9).abs() < 1e-12, "{:?}", model.params);
        let grads = model.gradients();
        adam.step(&mut model, &grads);
        // g2 = 0.9: m = 0.5*0.5 + 0.5*0.9 = 0.7, v = 0.5*0.5 + 0.5*0.81 = 0.655,
        // m̂ = 0.7 / 0.75, v̂ = 0.655 / 0.75, p = 0.9 - 0.1 m̂ / √v̂.
        let expected = 0.9 - 0.1 * (0.7 / 0.75) / (0.655f64 / 0.75).sqrt();
        assert!(
            (model.params[0] - expected).abs() < 1e-12,
            "{:?}",
            model.params
        );
    }

    #[test]
    fn adam_converges_on_quadratic() {
        let mut model = Quadratic::new([5.0, -3.0], [1.0, 2.0]);
        let config = AdamConfig {
            learning_rate: 0.05,
            ..AdamConfig::default()
        };
        let mut adam = Adam::new(config, &model);
        for _ in 0..2000 {
            let grads = model.gradients();
            adam.step(&mut model, &grads);
        }
        let distance = model.distance_to_minimum();
        assert!(distance < 1e-3, "distance {distance}");
    }
}
