//! Training runtime for mlp models: the [`Model`] trait that generated and hand-written models
//! implement, optimizers, losses, initialization, CSV data, the training loop, gradient checks
//! and checkpoints.

pub mod checkpoint;
pub mod data;
pub mod gradient_check;
pub mod init;
pub mod loss;
pub mod model;
pub mod optim;
pub mod reference;
pub mod scalar;
pub mod train;

pub use model::{Model, ParamInfo, ParamSpec};
pub use optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
pub use reference::TwoLayerMlp;
pub use scalar::Scalar;
