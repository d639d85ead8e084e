//! Gradient check: compares a model's backward pass with central finite differences in `f64`.

use std::fmt;

use rand::rngs::StdRng;
use rand::SeedableRng;
use thiserror::Error;

use crate::model::Model;

/// Settings of [`check_gradients`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientCheckConfig {
    /// Step `h` of the central difference `(L(p + h) - L(p - h)) / 2h`.
    pub epsilon: f64,
    /// Largest relative error (see [`EntryCheck::relative_error`]) that passes.
    pub tolerance: f64,
    /// Smallest denominator of the relative error, so entries whose gradient is about zero are
    /// compared by absolute error instead of amplifying rounding noise.
    pub error_floor: f64,
    /// Number of entries to check per parameter tensor, drawn without replacement; `None`
    /// checks every entry.
    pub max_entries_per_param: Option<usize>,
    /// Seed of the entry sample.
    pub seed: u64,
}

impl Default for GradientCheckConfig {
    /// Returns settings for a model in `f64` with a loss of order 1: `epsilon = 1e-5` keeps the
    /// truncation error (order `h²`) and the rounding error (order `1e-16 |L| / h`) both near
    /// `1e-10`, well under `tolerance = 1e-5` with `error_floor = 1e-4`.
    fn default() -> Self {
        Self {
            epsilon: 1e-5,
            tolerance: 1e-5,
            error_floor: 1e-4,
            max_entries_per_param: None,
            seed: 0,
        }
    }
}

/// The comparison of one parameter entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryCheck {
    /// Parameter tensor name.
    pub param: &'static str,
    /// Flat row-major index within the tensor.
    pub index: usize,
    /// Gradient from the model's backward pass.
    pub analytic: f64,
    /// Gradient from central finite differences.
    pub numeric: f64,
    /// `|analytic - numeric| / max(|analytic|, |numeric|, error_floor)`.
    pub relative_error: f64,
}

/// The outcome of [`check_gradients`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradientCheckReport {
    /// Number of entries compared.
    pub checked: usize,
    /// The entry with the largest relative error, or `None` if the model has no parameters.
    pub worst: Option<EntryCheck>,
    /// Tolerance the worst error was compared with.
    pub tolerance: f64,
}

impl GradientCheckReport {
    /// Returns `true` if every checked entry is within the tolerance.
    pub fn passed(&self) -> bool {
        self.worst
            .is_none_or(|worst| worst.relative_error <= self.tolerance)
    }
}

impl fmt::Display for GradientCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "passed" } else { "failed" };
        write!(
            f,
            "gradient check {verdict}: {} entries checked",
            self.checked
        )?;
        if let Some(worst) = &self.worst {
            write!(
                f,
                "; worst {}[{}]: analytic {:e}, numeric {:e}, relative error {:e} (tolerance {:e})",
                worst.param,
                worst.index,
                worst.analytic,
                worst.numeric,
                worst.relative_error,
                self.tolerance
            )?;
        }
        Ok(())
    }
}

/// An error that prevents a gradient check from running.
#[derive(Debug, Error)]
pub enum GradientCheckError {
    /// The batch is empty or its slices do not hold whole rows of the model's lengths.
    #[error(
        "invalid batch: {inputs} input values and {targets} target values do not form the same \
         number of rows of {input_len} inputs and {target_len} targets"
    )]
    InvalidBatch {
        /// Length of the input slice.
        inputs: usize,
        /// Length of the target slice.
        targets: usize,
        /// The model's input length.
        input_len: usize,
        /// The model's target length.
        target_len: usize,
    },
    /// The loss is NaN or infinite at the current or a perturbed parameter value.
    #[error("loss is {loss} with parameter {param}[{index}] perturbed by {offset:e}")]
    NonFiniteLoss {
        /// Parameter being perturbed.
        param: &'static str,
        /// Flat index of the entry.
        index: usize,
        /// Perturbation applied.
        offset: f64,
        /// The loss value.
        loss: f64,
    },
}

/// Compares the gradient from [`Model::backward`] with central finite differences of the summed
/// loss over a batch, for every parameter entry or a seeded sample of them.
///
/// The model must compute in `f64`, because finite differences in `f32` lose most digits.
/// Generated models are generic over the scalar, so a test can instantiate them in `f64`. A
/// ReLU whose input lies within `epsilon` of zero makes the numeric gradient wrong near the
/// kink, so use random inputs and parameters. The parameters are restored exactly afterwards.
///
/// # Errors
///
/// Returns [`GradientCheckError`] if the batch does not fit the model or a loss is not finite.
pub fn check_gradients<M: Model<Scalar = f64>>(
    model: &mut M,
    inputs: &[f64],
    targets: &[f64],
    config: &GradientCheckConfig,
) -> Result<GradientCheckReport, GradientCheckError> {
    let rows = batch_rows::<M>(inputs, targets).ok_or(GradientCheckError::InvalidBatch {
        inputs: inputs.len(),
        targets: targets.len(),
        input_len: M::INPUT_LEN,
        target_len: M::TARGET_LEN,
    })?;
    debug_assert!(rows > 0);

    let mut tape = M::Tape::default();
    let mut grads = M::Gradients::default();
    M::zero_gradients(&mut grads);
    model.forward_backward_batch(inputs, targets, &mut tape, &mut grads);
    let mut analytic: Vec<(&'static str, Vec<f64>)> = Vec::new();
    M::visit_gradients(&grads, |info, values| {
        analytic.push((info.name, values.to_vec()))
    });

    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut checked = 0;
    let mut worst: Option<EntryCheck> = None;
    for (tensor, (param, gradient)) in analytic.iter().enumerate() {
        let indices: Vec<usize> = match config.max_entries_per_param {
            Some(max) if max < gradient.len() => {
                let mut sample = rand::seq::index::sample(&mut rng, gradient.len(), max).into_vec();
                sample.sort_unstable();
                sample
            }
            _ => (0..gradient.len()).collect(),
        };
        for index in indices {
            let mut loss_at = |offset: f64| -> Result<f64, GradientCheckError> {
                let original = shift_entry(model, tensor, index, offset);
                let loss = model.batch_loss(inputs, targets, &mut tape);
                restore_entry(model, tensor, index, original);
                if loss.is_finite() {
                    Ok(loss)
                } else {
                    Err(GradientCheckError::NonFiniteLoss {
                        param,
                        index,
                        offset,
                        loss,
                    })
                }
            };
            let numeric =
                (loss_at(config.epsilon)? - loss_at(-config.epsilon)?) / (2.0 * config.epsilon);
            let analytic = gradient[index];
            let denominator = analytic.abs().max(numeric.abs()).max(config.error_floor);
            let entry = EntryCheck {
                param,
                index,
                analytic,
                numeric,
                relative_error: (analytic - numeric).abs() / denominator,
            };
            checked += 1;
            // A NaN error (from a NaN analytic gradient) counts as the worst and stays so.
            let replace = match worst {
                None => true,
                Some(w) => {
                    !w.relative_error.is_nan()
                        && (entry.relative_error.is_nan()
                            || entry.relative_error > w.relative_error)
                }
            };
            if replace {
                worst = Some(entry);
            }
        }
    }
    Ok(GradientCheckReport {
        checked,
        worst,
        tolerance: config.tolerance,
    })
}

/// Returns the number of samples in a batch, or `None` if the slices do not hold the same
/// positive number of whole rows.
fn batch_rows<M: Model>(inputs: &[M::Scalar], targets: &[M::Scalar]) -> Option<usize> {
    if M::INPUT_LEN == 0 || inputs.len() % M::INPUT_LEN != 0 {
        return None;
    }
    let rows = inputs.len() / M::INPUT_LEN;
    let target_rows_match = if M::TARGET_LEN == 0 {
        targets.is_empty()
    } else {
        targets.len() == rows * M::TARGET_LEN
    };
    (rows > 0 && target_rows_match).then_some(rows)
}

/// Adds `offset` to entry `index` of parameter tensor `tensor` and returns the original value.
fn shift_entry<M: Model<Scalar = f64>>(
    model: &mut M,
    tensor: usize,
    index: usize,
    offset: f64,
) -> f64 {
    let mut original = 0.0;
    let mut position = 0;
    model.visit_params_mut(|_, values| {
        if position == tensor {
            original = values[index];
            values[index] = original + offset;
        }
        position += 1;
    });
    original
}

/// Sets entry `index` of parameter tensor `tensor` back to `value`.
fn restore_entry<M: Model<Scalar = f64>>(model: &mut M, tensor: usize, index: usize, value: f64) {
    let mut position = 0;
    model.visit_params_mut(|_, values| {
        if position == tensor {
            values[index] = value;
        }
        position += 1;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{initialize, Init};
    use crate::model::ParamInfo;
    use crate::reference::TwoLayerMlp;

    /// `y = w · x` with loss `0.5 (y - t)²`; `wrong_gradient` doubles the gradient of `w[1]`.
    #[derive(Default)]
    struct Linear {
        w: [f64; 2],
        wrong_gradient: bool,
    }

    #[derive(Default)]
    struct LinearTape {
        x: [f64; 2],
        residual: [f64; 1],
    }

    impl Model for Linear {
        type Scalar = f64;
        type Tape = LinearTape;
        type Gradients = [f64; 2];
        const INPUT_LEN: usize = 2;
        const TARGET_LEN: usize = 1;
        const OUTPUT_LEN: usize = 1;

        fn forward(&self, input: &[f64], target: &[f64], tape: &mut LinearTape) -> f64 {
            self.predict(input, tape);
            let residual = tape.residual[0] - target[0];
            tape.residual[0] = residual;
            0.5 * residual * residual
        }

        fn predict(&self, input: &[f64], tape: &mut LinearTape) {
            tape.x.copy_from_slice(input);
            tape.residual[0] = self.w[0] * input[0] + self.w[1] * input[1];
        }

        fn output(tape: &LinearTape) -> &[f64] {
            &tape.residual
        }

        fn backward(&self, tape: &LinearTape, grads: &mut [f64; 2]) {
            grads[0] += tape.residual[0] * tape.x[0];
            let factor = if self.wrong_gradient { 2.0 } else { 1.0 };
            grads[1] += factor * tape.residual[0] * tape.x[1];
        }

        fn visit_params(&self, mut visit: impl FnMut(ParamInfo<'_>, &[f64])) {
            visit(ParamInfo::new("w", &[1, 2]), &self.w);
        }

        fn visit_params_mut(&mut self, mut visit: impl FnMut(ParamInfo<'_>, &mut [f64])) {
            visit(ParamInfo::new("w", &[1, 2]), &mut self.w);
        }

        fn visit_gradients(grads: &[f64; 2], mut visit: impl FnMut(ParamInfo<'_>, &[f64])) {
            visit(ParamInfo::new("w", &[1, 2]), grads);
        }

        fn visit_gradients_mut(
            grads: &mut [f64; 2],
            mut visit: impl FnMut(ParamInfo<'_>, &mut [f64]),
        ) {
            visit(ParamInfo::new("w", &[1, 2]), grads);
        }

        fn update(
            &mut self,
            grads: &[f64; 2],
            mut visit: impl FnMut(ParamInfo<'_>, &mut [f64], &[f64]),
        ) {
            visit(ParamInfo::new("w", &[1, 2]), &mut self.w, grads);
        }
    }

    #[test]
    fn correct_linear_passes() {
        let mut model = Linear {
            w: [0.3, -0.7],
            wrong_gradient: false,
        };
        let report = check_gradients(
            &mut model,
            &[1.0, 2.0, -0.5, 0.25],
            &[1.0, 0.0],
            &GradientCheckConfig::default(),
        )
        .expect("valid batch");
        assert!(report.passed(), "{report}");
        assert_eq!(report.checked, 2);
    }

    #[test]
    fn wrong_gradient_fails_and_names_entry() {
        let mut model = Linear {
            w: [0.3, -0.7],
            wrong_gradient: true,
        };
        let report = check_gradients(
            &mut model,
            &[1.0, 2.0],
            &[1.0],
            &GradientCheckConfig::default(),
        )
        .expect("valid batch");
        assert!(!report.passed(), "{report}");
        let worst = report.worst.expect("entries checked");
        assert_eq!(worst.param, "w");
        assert_eq!(worst.index, 1);
        assert!(
            (worst.analytic - 2.0 * worst.numeric).abs() < 1e-6,
            "{worst:?}"
        );
        assert!(report.to_string().contains("w[1]"), "{report}");
    }

    #[test]
    fn parameters_restored() {
        let mut model = Linear {
            w: [0.3, -0.7],
            wrong_gradient: false,
        };
        check_gradients(
            &mut model,
            &[1.0, 2.0],
            &[1.0],
            &GradientCheckConfig::default(),
        )
        .expect("valid batch");
        assert_eq!(model.w, [0.3, -0.7]);
    }

    #[test]
    fn invalid_batch_rejected() {
        let mut model = Linear::default();
        let config = GradientCheckConfig::default();
        let result = check_gradients(&mut model, &[1.0, 2.0, 3.0], &[1.0], &config);
        assert!(matches!(
            result,
            Err(GradientCheckError::InvalidBatch { .. })
        ));
        let result = check_gradients(&mut model, &[], &[], &config);
        assert!(matches!(
            result,
            Err(GradientCheckError::InvalidBatch { .. })
        ));
        let result = check_gradients(&mut model, &[1.0, 2.0], &[1.0, 2.0], &config);
        assert!(matches!(
            result,
            Err(GradientCheckError::InvalidBatch { .. })
        ));
    }

    #[test]
    fn reference_mlp_passes() {
        let mut model = TwoLayerMlp::<f64, 3, 5, 2>::default();
        initialize(&mut model, Init::XavierUniform, 11);
        // Nonzero biases make the b1 gradients and the ReLU mask non-trivial.
        model.b1 = [0.1, -0.2, 0.3, 0.05, -0.1];
        model.b2 = [0.2, -0.3];
        let inputs = [0.5, -1.2, 0.8, 1.5, 0.3, -0.7, -0.4, 0.9, 1.1];
        let targets = [1.0, -1.0, 0.5, 0.2, -0.3, 0.7];
        let report = check_gradients(
            &mut model,
            &inputs,
            &targets,
            &GradientCheckConfig::default(),
        )
        .expect("valid batch");
        assert!(report.passed(), "{report}");
        assert_eq!(report.checked, model.param_count());
    }

    #[test]
    fn sampled_entries_per_param() {
        let mut model = TwoLayerMlp::<f64, 3, 5, 2>::default();
        initialize(&mut model, Init::HeNormal, 3);
        let config = GradientCheckConfig {
            max_entries_per_param: Some(4),
            ..GradientCheckConfig::default()
        };
        let report = check_gradients(&mut model, &[0.5, -1.2, 0.8], &[1.0, -1.0], &config)
            .expect("valid batch");
        // w1 (15 entries) and b1 (5) are sampled to 4 each; w2 (10) to 4; b2 has 2.
        assert_eq!(report.checked, 4 + 4 + 4 + 2);
        assert!(report.passed(), "{report}");
    }
}
