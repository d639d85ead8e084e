//! Stochastic gradient descent with optional (heavy-ball) momentum.

use super::{state_for, zeroed_state, Optimizer};
use crate::model::Model;
use crate::scalar::Scalar;

/// Hyperparameters of [`Sgd`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Step size.
    pub learning_rate: f64,
    /// Momentum coefficient in `[0, 1)`; 0 gives plain SGD.
    pub momentum: f64,
}

impl Default for SgdConfig {
    /// Returns plain SGD with learning rate 0.01.
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            momentum: 0.0,
        }
    }
}

/// SGD with momentum: `v ← μ v + g`, `p ← p − η v` (the convention of PyTorch's `SGD`).
#[derive(Debug, Clone)]
pub struct Sgd<T> {
    learning_rate: T,
    momentum: T,
    /// Velocity `v`, one buffer per parameter tensor; empty buffers when momentum is 0.
    velocity: Vec<Vec<T>>,
}

impl<T: Scalar> Sgd<T> {
    /// Creates an SGD optimizer for `model`, allocating the velocity buffers if momentum is
    /// used.
    pub fn new<M: Model<Scalar = T>>(config: SgdConfig, model: &M) -> Self {
        let velocity = if config.momentum == 0.0 {
            Vec::new()
        } else {
            zeroed_state(model)
        };
        Self {
            learning_rate: T::from_f64(config.learning_rate),
            momentum: T::from_f64(config.momentum),
            velocity,
        }
    }
}

impl<M: Model> Optimizer<M> for Sgd<M::Scalar> {
    fn step(&mut self, model: &mut M, grads: &M::Gradients) {
        let learning_rate = self.learning_rate;
        let momentum = self.momentum;
        if self.velocity.is_empty() {
            model.update(grads, |_, params, grad| {
                for (p, &g) in params.iter_mut().zip(grad) {
                    *p -= learning_rate * g;
                }
            });
            return;
        }
        let mut index = 0;
        model.update(grads, |info, params, grad| {
            let velocity = state_for(&mut self.velocity, index, info.name, params.len());
            index += 1;
            for ((p, &g), v) in params.iter_mut().zip(grad).zip(velocity.iter_mut()) {
                *v = momentum * *v + g;
                *p -= learning_rate * *v;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::tests::Quadratic;

    #[test]
    fn sgd_one_step_by_hand() {
        let mut model = Quadratic::new([1.0, -2.0], [0.0, 0.0]);
        let config = SgdConfig {
            learning_rate: 0.1,
            momentum: 0.0,
        };
        let mut sgd = Sgd::new(config, &model);
        // Gradient of 0.5 |p - c|² is p - c = [1, -2].
        let grads = model.gradients();
        sgd.step(&mut model, &grads);
        assert_eq!(model.params, [0.9, -1.8]);
    }

    #[test]
    fn momentum_two_steps_by_hand() {
        let mut model = Quadratic::new([1.0, 0.0], [0.0, 0.0]);
        let config = SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
        };
        let mut sgd = Sgd::new(config, &model);
        let grads = model.gradients();
        sgd.step(&mut model, &grads);
        // v = 1, p = 1 - 0.1 = 0.9.
        assert!((model.params[0] - 0.9).abs() < 1e-12, "{:?}", model.params);
        let grads = model.gradients();
        sgd.step(&mut model, &grads);
        // v = 0.9 * 1 + 0.9 = 1.8, p = 0.9 - 0.18 = 0.72.
        assert!((model.params[0] - 0.72).abs() < 1e-12, "{:?}", model.params);
    }

    #[test]
    fn sgd_converges_on_quadratic() {
        for momentum in [0.0, 0.9] {
            let mut model = Quadratic::new([5.0, -3.0], [1.0, 2.0]);
            let config = SgdConfig {
                learning_rate: 0.1,
                momentum,
            };
            let mut sgd = Sgd::new(config, &model);
            for _ in 0..500 {
                let grads = model.gradients();
                sgd.step(&mut model, &grads);
            }
            let distance = model.distance_to_minimum();
            assert!(distance < 1e-6, "momentum {momentum}: distance {distance}");
        }
    }
}
