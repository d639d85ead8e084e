//! The floating-point scalar that models, losses and optimizers are generic over.

use std::fmt::{Debug, Display};
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use num_traits::Float;

/// A floating-point type a model can compute in: implemented for `f32` and `f64`.
///
/// Models usually train in `f32` and run their gradient check in `f64`, so generated models
/// should be generic over this trait.
pub trait Scalar:
    Float
    + Default
    + Debug
    + Display
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Send
    + Sync
    + 'static
    + crate::gemm::GemmScalar
{
    /// Converts an `f64` to this type, rounding to nearest for `f32`.
    fn from_f64(value: f64) -> Self;

    /// Converts this value to `f64`; the conversion is exact for `f32` and `f64`.
    fn into_f64(self) -> f64;
}

impl Scalar for f32 {
    fn from_f64(value: f64) -> Self {
        value as f32
    }

    fn into_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Scalar for f64 {
    fn from_f64(value: f64) -> Self {
        value
    }

    fn into_f64(self) -> f64 {
        self
    }
}
