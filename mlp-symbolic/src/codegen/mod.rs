//! Code generation: a derivation written out as a program in another language.

pub mod numpy;
pub mod rust;
