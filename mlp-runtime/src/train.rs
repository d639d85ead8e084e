//! The training loop: epochs of shuffled mini-batches with optimizer steps, a progress bar and
//! a stop on a NaN or infinite loss.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use num_traits::Zero;
use thiserror::Error;

use crate::data::{DataError, Dataset, MiniBatches};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::scalar::Scalar;

/// Settings of [`train`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainConfig {
    /// Number of passes over the training set.
    pub epochs: usize,
    /// Samples per optimizer step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Seed of the per-epoch sample order.
    pub seed: u64,
    /// Shows a progress bar on standard error if it is a terminal; `false` hides it always.
    pub progress: bool,
}

impl Default for TrainConfig {
    /// Returns 10 epochs of batches of 32 with seed 0 and the progress bar on.
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            seed: 0,
            progress: true,
        }
    }
}

/// Losses recorded by [`train`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Mean per-sample training loss of each epoch, accumulated over the epoch's batches while
    /// the parameters change.
    pub epoch_losses: Vec<f64>,
}

/// An error that stops training or evaluation.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The loss of a batch became NaN or infinite; parameters are those before that batch.
    #[error(
        "loss is {loss} at epoch {epoch}, step {step}; lower the learning rate or check the \
         data for extreme values"
    )]
    NonFiniteLoss {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step (batch) within the epoch.
        step: usize,
        /// The loss value.
        loss: f64,
    },
    /// The data set's input or target width does not match the model.
    #[error(
        "data set has {data_inputs} inputs and {data_targets} targets per sample but the model \
         expects {model_inputs} and {model_targets}"
    )]
    ShapeMismatch {
        /// Inputs per sample in the data set.
        data_inputs: usize,
        /// Targets per sample in the data set.
        data_targets: usize,
        /// [`Model::INPUT_LEN`].
        model_inputs: usize,
        /// [`Model::TARGET_LEN`].
        model_targets: usize,
    },
    /// The data set has no samples.
    #[error("data set is empty")]
    EmptyDataset,
    /// The batch settings are invalid.
    #[error(transparent)]
    Data(#[from] DataError),
}

fn check_shape<M: Model>(data: &Dataset) -> Result<(), TrainError> {
    if data.input_len() != M::INPUT_LEN || data.target_len() != M::TARGET_LEN {
        return Err(TrainError::ShapeMismatch {
            data_inputs: data.input_len(),
            data_targets: data.target_len(),
            model_inputs: M::INPUT_LEN,
            model_targets: M::TARGET_LEN,
        });
    }
    if data.is_empty() {
        return Err(TrainError::EmptyDataset);
    }
    Ok(())
}

/// Trains `model` on `data` for `config.epochs` epochs of shuffled mini-batches, taking one
/// `optimizer` step per batch on the batch-mean gradient, and returns the loss history.
///
/// The tape, the gradients and the batch buffers are allocated once before the first epoch.
///
/// # Errors
///
/// Returns [`TrainError::ShapeMismatch`] or [`TrainError::EmptyDataset`] if the data does not
/// fit the model, [`TrainError::Data`] for a batch size of 0, and
/// [`TrainError::NonFiniteLoss`] (naming the epoch and step) as soon as a batch loss is NaN or
/// infinite.
pub fn train<M: Model, O: Optimizer<M>>(
    model: &mut M,
    optimizer: &mut O,
    data: &Dataset,
    config: &TrainConfig,
) -> Result<History, TrainError> {
    check_shape::<M>(data)?;
    let mut batches = MiniBatches::<M::Scalar>::new(data, config.batch_size, config.seed)?;
    let mut tape = M::Tape::default();
    let mut grads = M::Gradients::default();
    let mut history = History::default();
    let bar = progress_bar(config.progress, data.len());
    let mut last_message = Instant::now();

    for epoch in 1..=config.epochs {
        bar.reset();
        bar.set_prefix(format!("epoch {epoch}/{}", config.epochs));
        batches.start_epoch();
        let epoch_start = Instant::now();
        let mut epoch_loss = 0.0;
        let mut samples = 0usize;
        let mut step = 0;
        while let Some(batch) = batches.next_batch() {
            step += 1;
            let loss = model
                .gradients_batch(batch.inputs, batch.targets, &mut tape, &mut grads)
                .into_f64();
            if !loss.is_finite() {
                bar.abandon();
                return Err(TrainError::NonFiniteLoss { epoch, step, loss });
            }
            // backward sums over the batch; the optimizer gets the mean so the learning rate
            // does not depend on the batch size.
            let scale = M::Scalar::from_f64(1.0 / batch.len as f64);
            M::visit_gradients_mut(&mut grads, |_, values| {
                for value in values {
                    *value *= scale;
                }
            });
            optimizer.step(model, &grads);

            epoch_loss += loss;
            samples += batch.len;
            bar.inc(batch.len as u64);
            // Formatting allocates, so the message is refreshed at most every 100 ms.
            if !bar.is_hidden() && last_message.elapsed() > Duration::from_millis(100) {
                bar.set_message(progress_message(epoch_loss, samples, epoch_start));
                last_message = Instant::now();
            }
        }
        let mean_loss = epoch_loss / samples as f64;
        history.epoch_losses.push(mean_loss);
        bar.set_message(progress_message(epoch_loss, samples, epoch_start));
    }
    bar.finish();
    Ok(history)
}

/// Returns the mean per-sample loss of `model` over `data`, without changing the model.
///
/// # Errors
///
/// Returns [`TrainError::ShapeMismatch`] or [`TrainError::EmptyDataset`] if the data does not
/// fit the model.
pub fn evaluate<M: Model>(model: &M, data: &Dataset) -> Result<f64, TrainError> {
    check_shape::<M>(data)?;
    let mut tape = M::Tape::default();
    let mut input = vec![M::Scalar::zero(); M::INPUT_LEN];
    let mut target = vec![M::Scalar::zero(); M::TARGET_LEN];
    let mut total = 0.0;
    for index in 0..data.len() {
        convert_into(data.input(index), &mut input);
        convert_into(data.target(index), &mut target);
        total += model.forward(&input, &target, &mut tape).into_f64();
    }
    Ok(total / data.len() as f64)
}

/// Returns the fraction of samples whose largest prediction is at the position of the largest
/// target, for classification with one-hot targets.
///
/// # Errors
///
/// As for [`evaluate`].
pub fn accuracy<M: Model>(model: &M, data: &Dataset) -> Result<f64, TrainError> {
    check_shape::<M>(data)?;
    let mut tape = M::Tape::default();
    let mut input = vec![M::Scalar::zero(); M::INPUT_LEN];
    let mut correct = 0usize;
    for index in 0..data.len() {
        convert_into(data.input(index), &mut input);
        model.predict(&input, &mut tape);
        let predicted = argmax(M::output(&tape).iter().map(|v| v.into_f64()));
        let expected = argmax(data.target(index).iter().copied());
        correct += usize::from(predicted == expected);
    }
    Ok(correct as f64 / data.len() as f64)
}

fn argmax(values: impl Iterator<Item = f64>) -> Option<usize> {
    values
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

fn convert_into<T: Scalar>(source: &[f64], destination: &mut [T]) {
    for (d, &s) in destination.iter_mut().zip(source) {
        *d = T::from_f64(s);
    }
}

fn progress_message(loss_sum: f64, samples: usize, epoch_start: Instant) -> String {
    let seconds = epoch_start.elapsed().as_secs_f64();
    let speed = if seconds > 0.0 {
        samples as f64 / seconds
    } else {
        0.0
    };
    format!(
        "loss {:.4}, {speed:.0} samples/s",
        loss_sum / samples.max(1) as f64
    )
}

/// Creates a bar over the samples of one epoch, drawn on standard error only if `enabled` and
/// standard error is a terminal.
fn progress_bar(enabled: bool, samples: usize) -> ProgressBar {
    let target = if enabled && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(samples as u64), target);
    // The template is a constant, so the fallback to the default style is never expected.
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} samples, {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{initialize, Init};
    use crate::optim::{Adam, AdamConfig, Sgd, SgdConfig};
    use crate::reference::TwoLayerMlp;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Returns `n` samples of `y = [x0 - 2 x1 + 0.5, |x2|]` with inputs uniform in `[-1, 1]`.
    fn synthetic_regression(n: usize, seed: u64) -> Dataset {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut inputs = Vec::new();
        let mut targets = Vec::new();
        for _ in 0..n {
            let x: [f64; 3] = [
                rng.gen_range(-1.0..1.0),
                rng.gen_range(-1.0..1.0),
                rng.gen_range(-1.0..1.0),
            ];
            inputs.extend_from_slice(&x);
            targets.push(x[0] - 2.0 * x[1] + 0.5);
            targets.push(x[2].abs());
        }
        Dataset::new(
            vec!["x0".into(), "x1".into(), "x2".into()],
            vec!["y0".into(), "y1".into()],
            inputs,
            targets,
        )
        .expect("valid data set")
    }

    fn quiet(epochs: usize) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size: 16,
            seed: 1,
            progress: false,
        }
    }

    #[test]
    fn sgd_training_reduces_loss() {
        let data = synthetic_regression(256, 2);
        let mut model = TwoLayerMlp::<f32, 3, 16, 2>::default();
        initialize(&mut model, Init::HeNormal, 3);
        let before = evaluate(&model, &data).expect("shapes match");
        let config = SgdConfig {
            learning_rate: 0.05,
            momentum: 0.9,
        };
        let mut optimizer = Sgd::new(config, &model);
        let history = train(&mut model, &mut optimizer, &data, &quiet(40)).expect("training runs");
        let after = evaluate(&model, &data).expect("shapes match");
        assert_eq!(history.epoch_losses.len(), 40);
        assert!(after < 0.1 * before, "loss {before} -> {after}");
        let first = history.epoch_losses[0];
        let last = history.epoch_losses[39];
        assert!(last < first, "history {first} -> {last}");
    }

    #[test]
    fn adam_training_reduces_loss() {
        let data = synthetic_regression(256, 4);
        let mut model = TwoLayerMlp::<f64, 3, 16, 2>::default();
        initialize(&mut model, Init::XavierUniform, 5);
        let before = evaluate(&model, &data).expect("shapes match");
        let config = AdamConfig {
            learning_rate: 0.01,
            ..AdamConfig::default()
        };
        let mut optimizer = Adam::new(config, &model);
        train(&mut model, &mut optimizer, &data, &quiet(40)).expect("training runs");
        let after = evaluate(&model, &data).expect("shapes match");
        assert!(after < 0.1 * before, "loss {before} -> {after}");
    }

    #[test]
    fn same_seed_same_result() {
        let data = synthetic_regression(64, 6);
        let run = || {
            let mut model = TwoLayerMlp::<f32, 3, 8, 2>::default();
            initialize(&mut model, Init::HeNormal, 7);
            let mut optimizer = Sgd::new(SgdConfig::default(), &model);
            let history =
                train(&mut model, &mut optimizer, &data, &quiet(3)).expect("training runs");
            (model, history)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn diverging_loss_names_epoch_and_step() {
        let data = synthetic_regression(64, 8);
        let mut model = TwoLayerMlp::<f32, 3, 8, 2>::default();
        initialize(&mut model, Init::HeNormal, 9);
        let config = SgdConfig {
            learning_rate: 1e6,
            momentum: 0.0,
        };
        let mut optimizer = Sgd::new(config, &model);
        let error =
            train(&mut model, &mut optimizer, &data, &quiet(100)).expect_err("must diverge");
        match error {
            TrainError::NonFiniteLoss { epoch, step, loss } => {
                assert!(!loss.is_finite(), "loss {loss}");
                assert!(epoch >= 1 && step >= 1, "epoch {epoch} step {step}");
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn shape_mismatch_rejected() {
        let data = synthetic_regression(8, 10);
        let mut model = TwoLayerMlp::<f32, 4, 8, 2>::default();
        let mut optimizer = Sgd::new(SgdConfig::default(), &model);
        let error = train(&mut model, &mut optimizer, &data, &quiet(1)).expect_err("must fail");
        assert!(
            matches!(
                error,
                TrainError::ShapeMismatch {
                    data_inputs: 3,
                    model_inputs: 4,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn zero_batch_size_rejected() {
        let data = synthetic_regression(8, 10);
        let mut model = TwoLayerMlp::<f32, 3, 8, 2>::default();
        let mut optimizer = Sgd::new(SgdConfig::default(), &model);
        let config = TrainConfig {
            batch_size: 0,
            ..quiet(1)
        };
        let error = train(&mut model, &mut optimizer, &data, &config).expect_err("must fail");
        assert!(
            matches!(error, TrainError::Data(DataError::InvalidBatchSize)),
            "{error}"
        );
    }

    #[test]
    fn argmax_picks_first_maximum() {
        assert_eq!(argmax([0.1, 0.7, 0.7, 0.2].into_iter()), Some(1));
        assert_eq!(argmax(std::iter::empty()), None);
    }
}
