//! Trains the softmax classifier of `examples/softmax_iris.mlp`, compiled by `#[derive_mlp]`,
//! on the iris data set shipped with `mlp-runtime` and prints its test accuracy next to the
//! accuracy of always predicting the most common training class.
//!
//! Run with `cargo run --release --example iris`.

use std::error::Error;

use mlp_runtime::data::{load_csv, Dataset, Standardizer, TargetColumn};
use mlp_runtime::init::{initialize, Init};
use mlp_runtime::train::{accuracy, evaluate, train, TrainConfig};
use mlp_runtime::{derive_mlp, Adam, AdamConfig};

#[derive_mlp(file = "examples/softmax_iris.mlp", output = "p")]
#[allow(non_snake_case)]
pub struct Classifier<const I: usize, const H: usize, const C: usize> {
    pub W1: [[f32; I]; H],
    pub b1: [f32; H],
    pub W2: [[f32; H]; C],
    pub b2: [f32; C],
}

/// Returns the accuracy on `test` of predicting the class most common in `train`.
fn majority_baseline(train: &Dataset, test: &Dataset) -> f64 {
    let classes = train.target_len();
    let mut counts = vec![0usize; classes];
    for row in 0..train.len() {
        let target = train.target(row);
        if let Some(class) = (0..classes).max_by(|&a, &b| target[a].total_cmp(&target[b])) {
            counts[class] += 1;
        }
    }
    let majority = (0..classes).max_by_key(|&c| counts[c]).unwrap_or(0);
    let hits = (0..test.len())
        .filter(|&row| {
            let target = test.target(row);
            (0..classes).all(|c| target[c] <= target[majority])
        })
        .count();
    hits as f64 / test.len() as f64
}

fn main() -> Result<(), Box<dyn Error>> {
    let data_path = concat!(env!("CARGO_MANIFEST_DIR"), "/mlp-runtime/data/iris.csv");
    let data = load_csv(data_path, &[TargetColumn::OneHot("species".into())])?;
    let (mut train_set, mut test_set) = data.split(0.3, 1)?;
    let standardizer = Standardizer::fit(&train_set);
    standardizer.apply(&mut train_set)?;
    standardizer.apply(&mut test_set)?;

    let mut model = Classifier::<4, 8, 3>::default();
    initialize(&mut model, Init::XavierUniform, 3);
    let adam = AdamConfig {
        learning_rate: 0.01,
        ..AdamConfig::default()
    };
    let mut optimizer = Adam::new(adam, &model);
    let config = TrainConfig {
        epochs: 200,
        batch_size: 16,
        progress: false,
        ..TrainConfig::default()
    };
    let history = train(&mut model, &mut optimizer, &train_set, &config)?;

    let final_loss = history.epoch_losses.last().copied().unwrap_or(f64::NAN);
    println!(
        "iris: {} training and {} test samples",
        train_set.len(),
        test_set.len()
    );
    println!("final training cross-entropy: {final_loss:.4}");
    println!("test cross-entropy: {:.4}", evaluate(&model, &test_set)?);
    println!("test accuracy: {:.3}", accuracy(&model, &test_set)?);
    println!(
        "majority-class baseline accuracy: {:.3}",
        majority_baseline(&train_set, &test_set)
    );
    Ok(())
}
