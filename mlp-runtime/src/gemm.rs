//! General matrix multiplication for batched training steps, through the `matrixmultiply`
//! crate, with the strided views checked against the slices before any unsafe call.

use crate::scalar::Scalar;

/// A strided view of an `rows × cols` matrix in a slice: element `(r, c)` is at
/// `r * row_stride + c * col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strides {
    /// Distance between consecutive rows.
    pub row: usize,
    /// Distance between consecutive columns.
    pub col: usize,
}

impl Strides {
    /// Returns the strides of a row-major matrix with `cols` columns.
    pub fn row_major(cols: usize) -> Self {
        Strides { row: cols, col: 1 }
    }

    /// Returns the strides that read the same matrix transposed.
    pub fn transposed(self) -> Self {
        Strides {
            row: self.col,
            col: self.row,
        }
    }

    /// Returns the number of elements a slice needs for a `rows × cols` view.
    fn extent(self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return 0;
        }
        (rows - 1) * self.row + (cols - 1) * self.col + 1
    }
}

/// Computes `c ← alpha · a · b + beta · c` for an `m × k` matrix `a`, a `k × n` matrix `b` and an
/// `m × n` matrix `c`, each given by a slice and its strides.
///
/// # Panics
///
/// Panics if a view reaches past the end of its slice, or if `c`'s strides make two of its
/// elements overlap. Generated code always passes views that fit.
pub fn gemm<T: Scalar>(
    (m, k, n): (usize, usize, usize),
    alpha: T,
    (a, a_strides): (&[T], Strides),
    (b, b_strides): (&[T], Strides),
    beta: T,
    (c, c_strides): (&mut [T], Strides),
) {
    assert!(
        a.len() >= a_strides.extent(m, k),
        "gemm: `a` is shorter than its {m}×{k} view"
    );
    assert!(
        b.len() >= b_strides.extent(k, n),
        "gemm: `b` is shorter than its {k}×{n} view"
    );
    assert!(
        c.len() >= c_strides.extent(m, n),
        "gemm: `c` is shorter than its {m}×{n} view"
    );
    // `c` must not name one element twice: its rows or its columns must not interleave.
    let (row, col) = (c_strides.row, c_strides.col);
    let distinct = match (m > 1, n > 1) {
        (false, false) => true,
        (true, false) => row >= 1,
        (false, true) => col >= 1,
        (true, true) => (col >= 1 && row >= col * n) || (row >= 1 && col >= row * m),
    };
    assert!(
        distinct,
        "gemm: the strides of `c` make its elements overlap"
    );
    if m == 0 || n == 0 {
        return;
    }
    T::gemm_raw(
        (m, k, n),
        alpha,
        (a, a_strides),
        (b, b_strides),
        beta,
        (c, c_strides),
    );
}

/// The scalar types `matrixmultiply` has kernels for.
pub trait GemmScalar: Sized {
    /// Calls the `matrixmultiply` kernel; [`gemm`] has checked the views.
    #[doc(hidden)]
    fn gemm_raw(
        shape: (usize, usize, usize),
        alpha: Self,
        a: (&[Self], Strides),
        b: (&[Self], Strides),
        beta: Self,
        c: (&mut [Self], Strides),
    );
}

macro_rules! impl_gemm_scalar {
    ($scalar:ty, $kernel:path) => {
        impl GemmScalar for $scalar {
            fn gemm_raw(
                (m, k, n): (usize, usize, usize),
                alpha: Self,
                (a, sa): (&[Self], Strides),
                (b, sb): (&[Self], Strides),
                beta: Self,
                (c, sc): (&mut [Self], Strides),
            ) {
                // SAFETY: `gemm` checked that every element of the three views lies inside its
                // slice and that no two elements of `c` coincide. The shared borrows keep `a` and
                // `b` alive and unchanged, and the exclusive borrow of `c` rules out aliasing
                // with them. A stride that reaches a second row or column is below its slice's
                // length, so it fits in isize.
                unsafe {
                    $kernel(
                        m,
                        k,
                        n,
                        alpha,
                        a.as_ptr(),
                        sa.row as isize,
                        sa.col as isize,
                        b.as_ptr(),
                        sb.row as isize,
                        sb.col as isize,
                        beta,
                        c.as_mut_ptr(),
                        sc.row as isize,
                        sc.col as isize,
                    );
                }
            }
        }
    };
}

impl_gemm_scalar!(f32, matrixmultiply::sgemm);
impl_gemm_scalar!(f64, matrixmultiply::dgemm);

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: &[f64],
        sa: Strides,
        b: &[f64],
        sb: Strides,
    ) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for r in 0..m {
            for col in 0..n {
                for i in 0..k {
                    c[r * n + col] += a[r * sa.row + i * sa.col] * b[i * sb.row + col * sb.col];
                }
            }
        }
        c
    }

    #[test]
    fn transposed_views_match_naive_product() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f64> = (0..m * k).map(|v| v as f64 * 0.5 - 1.0).collect();
        let b: Vec<f64> = (0..k * n).map(|v| (v as f64).sin()).collect();
        for (sa, sb) in [
            (Strides::row_major(k), Strides::row_major(n)),
            (
                Strides::row_major(m).transposed(),
                Strides::row_major(k).transposed(),
            ),
        ] {
            let expected = naive(m, k, n, &a, sa, &b, sb);
            let mut c = vec![1.0; m * n];
            gemm(
                (m, k, n),
                1.0,
                (&a, sa),
                (&b, sb),
                0.0,
                (&mut c, Strides::row_major(n)),
            );
            for (got, want) in c.iter().zip(&expected) {
                assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            }
        }
    }

    #[test]
    fn beta_one_accumulates() {
        let a = [1.0_f32, 2.0];
        let b = [3.0_f32, 4.0];
        let mut c = [10.0_f32];
        gemm(
            (1, 2, 1),
            2.0,
            (&a, Strides::row_major(2)),
            (&b, Strides::row_major(1)),
            1.0,
            (&mut c, Strides::row_major(1)),
        );
        assert_eq!(c[0], 10.0 + 2.0 * 11.0);
    }

    #[test]
    fn overlapping_output_is_rejected() {
        let outcome = std::panic::catch_unwind(|| {
            let a = [1.0_f32; 4];
            let mut c = [0.0_f32; 4];
            let view = Strides::row_major(2);
            // Row stride 1 and column stride 1 name c[1] as both (0, 1) and (1, 0).
            let overlapping = Strides { row: 1, col: 1 };
            gemm(
                (2, 2, 2),
                1.0,
                (&a, view),
                (&a, view),
                0.0,
                (&mut c, overlapping),
            );
        });
        assert!(
            outcome.is_err(),
            "overlapping output strides must be rejected"
        );
    }

    #[test]
    fn short_slice_is_rejected() {
        let outcome = std::panic::catch_unwind(|| {
            let a = [1.0_f32; 3];
            let b = [1.0_f32; 4];
            let mut c = [0.0_f32; 4];
            let shape = (2, 2, 2);
            let view = Strides::row_major(2);
            gemm(shape, 1.0, (&a, view), (&b, view), 0.0, (&mut c, view));
        });
        assert!(
            outcome.is_err(),
            "a 3-element slice must not pass as a 2×2 view"
        );
    }
}
