//! Trains the reference two-layer MLP on the iris data set with a progress bar, prints the
//! test accuracy and saves a checkpoint.
//!
//! Run with `cargo run -p mlp-runtime --release --example train_iris [CHECKPOINT]`.

use std::error::Error;
use std::path::PathBuf;

use mlp_runtime::data::{load_csv, Standardizer, TargetColumn};
use mlp_runtime::init::{initialize, Init};
use mlp_runtime::train::{accuracy, evaluate, train, TrainConfig};
use mlp_runtime::{checkpoint, Adam, AdamConfig, TwoLayerMlp};

fn main() -> Result<(), Box<dyn Error>> {
    let checkpoint_path = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("iris-model.json"), PathBuf::from);
    let data_path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");
    let data = load_csv(data_path, &[TargetColumn::OneHot("species".into())])?;
    let (mut train_set, mut test_set) = data.split(0.2, 1)?;
    let standardizer = Standardizer::fit(&train_set);
    standardizer.apply(&mut train_set)?;
    standardizer.apply(&mut test_set)?;

    let mut model = TwoLayerMlp::<f32, 4, 16, 3>::default();
    initialize(&mut model, Init::HeNormal, 2);
    let adam = AdamConfig {
        learning_rate: 0.01,
        ..AdamConfig::default()
    };
    let mut optimizer = Adam::new(adam, &model);
    let config = TrainConfig {
        epochs: 200,
        batch_size: 16,
        ..TrainConfig::default()
    };
    let history = train(&mut model, &mut optimizer, &train_set, &config)?;

    let final_loss = history.epoch_losses.last().copied().unwrap_or(f64::NAN);
    println!("final training loss: {final_loss:.4}");
    println!("test loss: {:.4}", evaluate(&model, &test_set)?);
    println!("test accuracy: {:.3}", accuracy(&model, &test_set)?);
    checkpoint::save(&model, &checkpoint_path)?;
    println!("saved {}", checkpoint_path.display());
    Ok(())
}
