//! The symbolic engine of mlp: an expression IR with exact rational coefficients,
//! differentiation that introduces Kronecker deltas, contraction and simplification to a
//! canonical form, reverse accumulation of adjoints, evaluation in f64, and rendering.

pub mod chain_rule;
pub mod codegen;
pub mod equivalence;
pub mod eval;
pub mod expr;
pub mod gradient;
pub mod model;
pub mod render;
pub mod simplify;
pub mod substitute;
pub mod verdict;

pub use expr::{Builtin, Dim, Element, Expr, Function, Index, Number};
pub use gradient::{derive, derive_with, Derivation, Derivative, DeriveOptions, Step};
pub use model::{LowerError, Model, RelationDef, TensorSpec};
pub use render::{render, Format};
pub use simplify::{canonical, simplify};
pub use verdict::{check_model, Counterexample, ItemCheck, ModelCheck, Slip, Verdict};
