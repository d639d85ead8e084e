//! Seeded parameter initialization: He (normal) and Xavier/Glorot (uniform), biases zero.
//!
//! Fan-in and fan-out come from the parameter shape under the `[out, in]` convention of
//! [`crate::model`]: for a tensor of shape `[d0, d1, ..., dk]` with rank at least 2,
//! `fan_out = d0` and `fan_in = d1 * ... * dk`. Tensors of rank 0 or 1 are biases and are set
//! to zero.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::model::Model;
use crate::scalar::Scalar;

/// A weight initialization scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// He (Kaiming) normal: `N(0, 2 / fan_in)`, suited to ReLU layers.
    HeNormal,
    /// Xavier (Glorot) uniform: `U(-l, l)` with `l = sqrt(6 / (fan_in + fan_out))`, suited to
    /// tanh, sigmoid and linear layers.
    XavierUniform,
}

/// Returns `(fan_in, fan_out)` of a weight of shape `[out, in...]`, or `None` for a bias
/// (rank below 2).
pub fn fans(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [fan_out, rest @ ..] if !rest.is_empty() => Some((rest.iter().product(), *fan_out)),
        _ => None,
    }
}

/// Initializes every parameter of `model` with `scheme`, drawing from a `StdRng` seeded with
/// `seed`, so the same seed gives the same parameters.
///
/// Weights (rank ≥ 2) are drawn in visit order, biases are set to zero. A weight with a zero
/// fan is left at zero, because its distribution would be undefined.
pub fn initialize<M: Model>(model: &mut M, scheme: Init, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    model.visit_params_mut(|info, values| {
        let Some((fan_in, fan_out)) = fans(info.shape) else {
            values.fill(M::Scalar::from_f64(0.0));
            return;
        };
        if fan_in == 0 || fan_out == 0 {
            values.fill(M::Scalar::from_f64(0.0));
            return;
        }
        match scheme {
            Init::HeNormal => {
                let std_dev = (2.0 / fan_in as f64).sqrt();
                // fan_in > 0 (checked above) makes std_dev finite and positive, so
                // Normal::new returns Ok.
                if let Ok(normal) = Normal::new(0.0, std_dev) {
                    fill_from(values, &normal, &mut rng);
                }
            }
            Init::XavierUniform => {
                let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
                let uniform = Uniform::new_inclusive(-limit, limit);
                fill_from(values, &uniform, &mut rng);
            }
        }
    });
}

fn fill_from<T: Scalar>(values: &mut [T], distribution: &impl Distribution<f64>, rng: &mut StdRng) {
    for value in values {
        *value = T::from_f64(distribution.sample(rng));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::TwoLayerMlp;

    type Big = TwoLayerMlp<f64, 100, 400, 2>;

    fn mean_and_variance(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, variance)
    }

    #[test]
    fn fans_follow_out_in_convention() {
        assert_eq!(fans(&[3, 4]), Some((4, 3)));
        assert_eq!(fans(&[8, 3, 5, 5]), Some((75, 8)));
        assert_eq!(fans(&[3]), None);
        assert_eq!(fans(&[]), None);
    }

    #[test]
    fn he_normal_statistics() {
        let mut model = Box::<Big>::default();
        initialize(&mut *model, Init::HeNormal, 7);
        // w1 has shape [400, 100]: 40 000 draws from N(0, 2/100).
        let (mean, variance) = mean_and_variance(model.w1.as_flattened());
        let expected = 2.0 / 100.0;
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!(
            (variance / expected - 1.0).abs() < 0.03,
            "variance {variance}, expected {expected}"
        );
    }

    #[test]
    fn xavier_uniform_statistics() {
        let mut model = Box::<Big>::default();
        initialize(&mut *model, Init::XavierUniform, 7);
        let limit = (6.0f64 / 500.0).sqrt();
        let values = model.w1.as_flattened();
        let (mean, variance) = mean_and_variance(values);
        // A uniform on [-l, l] has variance l² / 3.
        let expected = limit * limit / 3.0;
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!(
            (variance / expected - 1.0).abs() < 0.03,
            "variance {variance}, expected {expected}"
        );
        let max = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max <= limit, "max {max} exceeds limit {limit}");
    }

    #[test]
    fn biases_are_zero() {
        let mut model = TwoLayerMlp::<f32, 4, 5, 3> {
            b1: [1.0; 5],
            b2: [1.0; 3],
            ..TwoLayerMlp::default()
        };
        initialize(&mut model, Init::HeNormal, 1);
        assert_eq!(model.b1, [0.0; 5]);
        assert_eq!(model.b2, [0.0; 3]);
        assert!(model.w1.as_flattened().iter().any(|&w| w != 0.0));
    }

    #[test]
    fn same_seed_same_parameters() {
        let mut first = TwoLayerMlp::<f32, 4, 5, 3>::default();
        let mut second = TwoLayerMlp::<f32, 4, 5, 3>::default();
        let mut third = TwoLayerMlp::<f32, 4, 5, 3>::default();
        initialize(&mut first, Init::XavierUniform, 42);
        initialize(&mut second, Init::XavierUniform, 42);
        initialize(&mut third, Init::XavierUniform, 43);
        assert_eq!(first, second);
        assert_ne!(first, third);
    }
}
