//! The linear algebra of the fit: the normal equations `X^T X`, `X^T y`
//! kept as running sums, and their Cholesky solution. Fixed-size arrays
//! (one row per feature), so a fit allocates nothing.

use super::shape::FEATURES;

/// `X^T X`: one row and column per feature.
pub(super) type Matrix = [[f64; FEATURES]; FEATURES];

pub(super) fn dot(a: &[f64; FEATURES], b: &[f64; FEATURES]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Adds (`sign = 1`) or removes (`-1`) one sample's terms: features `x`,
/// target `y`.
pub(super) fn accumulate(
    normal: &mut Matrix,
    moment: &mut [f64; FEATURES],
    x: &[f64; FEATURES],
    y: f64,
    sign: f64,
) {
    for ((row, m), &xi) in normal.iter_mut().zip(moment.iter_mut()).zip(x) {
        *m += sign * xi * y;
        for (cell, &xj) in row.iter_mut().zip(x) {
            *cell += sign * xi * xj;
        }
    }
}

/// Solves `a w = b` for symmetric positive definite `a`; `None` otherwise.
pub(super) fn cholesky_solve(a: Matrix, b: [f64; FEATURES]) -> Option<[f64; FEATURES]> {
    // a = L L^T, L lower triangular.
    let mut l = [[0.0; FEATURES]; FEATURES];
    for i in 0..FEATURES {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - sum;
                if !(d > 0.0 && d.is_finite()) {
                    return None;
                }
                l[i][i] = libm::sqrt(d);
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    // L z = b, then L^T w = z.
    let mut z = [0.0; FEATURES];
    for i in 0..FEATURES {
        z[i] = (b[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let mut w = [0.0; FEATURES];
    for i in (0..FEATURES).rev() {
        w[i] = (z[i] - (i + 1..FEATURES).map(|k| l[k][i] * w[k]).sum::<f64>()) / l[i][i];
    }
    w.iter().all(|v| v.is_finite()).then_some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_and_refuses_singular_systems() {
        let mut a = [[0.0; FEATURES]; FEATURES];
        for (i, row) in a.iter_mut().enumerate() {
            row[i] = (i + 1) as f64;
        }
        a[0][1] = 0.5;
        a[1][0] = 0.5;
        let want = [
            1.0, -2.0, 3.0, 0.5, 0.0, 7.0, -1.0, 2.0, 0.25, -4.0, 1.5, 0.0, 9.0, 0.1, -0.2, 5.0,
        ];
        let b: [f64; FEATURES] = core::array::from_fn(|i| dot(&a[i], &want));
        let got = cholesky_solve(a, b).unwrap();
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-12));
        a[3][3] = 0.0;
        assert!(cholesky_solve(a, b).is_none());
    }
}
