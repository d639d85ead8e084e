//! Training runtime for mlp models: the [`Model`] trait that generated and hand-written models
//! implement, optimizers, losses, initialization, CSV data, the training loop, gradient checks
//! and checkpoints.
//!
//! # Example
//!
//! Trains the reference model on the iris data set shipped with this crate and saves it:
//!
//! ```
//! use mlp_runtime::data::{load_csv, Standardizer, TargetColumn};
//! use mlp_runtime::init::{initialize, Init};
//! use mlp_runtime::train::{accuracy, train, TrainConfig};
//! use mlp_runtime::{checkpoint, Adam, AdamConfig, TwoLayerMlp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/iris.csv");
//! let data = load_csv(path, &[TargetColumn::OneHot("species".into())])?;
//! let (mut train_set, mut test_set) = data.split(0.2, 1)?;
//! let standardizer = Standardizer::fit(&train_set);
//! standardizer.apply(&mut train_set)?;
//! standardizer.apply(&mut test_set)?;
//!
//! let mut model = TwoLayerMlp::<f32, 4, 16, 3>::default();
//! initialize(&mut model, Init::HeNormal, 2);
//! let adam = AdamConfig { learning_rate: 0.01, ..AdamConfig::default() };
//! let mut optimizer = Adam::new(adam, &model);
//! let config = TrainConfig { epochs: 50, batch_size: 16, ..TrainConfig::default() };
//! let history = train(&mut model, &mut optimizer, &train_set, &config)?;
//! println!("loss per epoch: {:?}", history.epoch_losses);
//! println!("test accuracy: {}", accuracy(&model, &test_set)?);
//!
//! checkpoint::save(&model, std::env::temp_dir().join("iris-model.json"))?;
//! # Ok(())
//! # }
//! ```

pub mod checkpoint;
pub mod data;
pub mod gemm;
pub mod gradient_check;
pub mod init;
pub mod loss;
pub mod model;
pub mod optim;
pub mod reference;
pub mod scalar;
pub mod train;

pub use gemm::{gemm, Strides};
/// Implements [`Model`] for a struct from a model in index notation; see the `mlp-derive` crate.
pub use mlp_derive::derive_mlp;
pub use model::{Model, ParamInfo, ParamSpec};
pub use optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
pub use reference::TwoLayerMlp;
pub use scalar::Scalar;
