//! mlp: derive, check and compile the gradients of multi-layer perceptrons.
//!
//! This facade re-exports the crates of the workspace and offers [`load`], which parses, checks
//! and differentiates a model in one call:
//!
//! ```
//! let source = "dim I\ninput x[I]\nparam w[I]\nL = (sum_i w[i] * x[i])^2\n";
//! let derivation = mlp::load(source).unwrap();
//! let gradient = derivation.gradient("w").unwrap();
//! assert_eq!(gradient.to_string(), "∂L/∂w[j] = 2 (Σ_i w[i] x[i]) x[j]");
//! ```
//!
//! [`verdicts::check_source`] gives every claim and derivation step of a file a verdict:
//!
//! ```
//! use mlp::verdicts::{check_source, SourceKind};
//! let source = "dim I\ninput x[I]\nparam w[I]\nL = sum_i w[i] * x[i]\nclaim ∂L/∂w[k] = x[k]\n";
//! let report = check_source("model.mlp", source, SourceKind::Dsl);
//! assert_eq!(report.items[0].verdict, "canonical");
//! ```

pub use mlp_grammar as grammar;
pub use mlp_symbolic as symbolic;

mod api;
pub mod diagnostics;
pub mod html;
pub mod mathml;
pub mod verdicts;

pub use api::{load, DerivationReport, GradientView, LoadError};
