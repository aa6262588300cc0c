//! Top-k scans over a [`QuantizedMatrix`]: exact (bound, then rescore the
//! rows that could make it) and approximate (the quantized scores as they
//! are).
//!
//! # Why the exact scan gives the `f32` scan's hits
//!
//! For a query `q` and a row `x`, the `f32` scan computes a dot product
//! `D` and the score `(D * inv_q) * inv_x` in `f32`. The exact scan first
//! computes, from the quantized row `x' = x - r`, a value `a` and then an
//! upper bound `U >= D`:
//!
//! - `D` is within `gamma(dim) |q| |x|` of the real `q . x` (rounding of any
//!   summation order; `gamma(n) = n u / (1 - n u)`), plus what underflow may
//!   lose;
//! - `q . x = q . x' + q . r`, and `|q . r| <= |q| |r|` (Cauchy-Schwarz on
//!   the residual, whose norm the matrix stores per row);
//! - i8: the query is quantized too (`q'` in `i8`, error `e`), the integer
//!   dot product `q' . x'` is exact, and `|q . x' - q' . x'| <= |e| |x'|`;
//!   f16: the `f32` dot product of `q` with the halves rounds by at most
//!   `gamma(dim) |q| |x'|`.
//!
//! Every norm is stored rounded up, `U` is summed in `f64` with a relative
//! and an absolute margin for its own rounding and converted up to `f32`.
//! Multiplying by a non-negative `f32` is monotone, so `(U * inv_q) * inv_x`
//! is at least the row's `f32` score. A row whose bound is below the worst
//! of the `k` hits kept so far ([`TopK`]'s floor) can therefore never be
//! kept and is skipped; every other row is rescored with the `f32` kernel
//! (the same bits as the `f32` scan) and offered. [`TopK`] keeps the `k`
//! best of what it is offered in a total order, whatever the order of
//! offers, so the hits are the `f32` scan's, scores bit for bit. Where
//! `|q| max|x|` could overflow `f32`, every row is rescored.
//!
//! The argument assumes IEEE arithmetic in the default floating-point
//! environment (round to nearest, subnormals kept: no flush-to-zero or
//! denormals-are-zero mode), as Rust code runs unless foreign code changes
//! the control register.

use alloc::vec;
use alloc::vec::Vec;

use super::topk::{BLOCK, TopK, check_query, check_query_dim};
use super::{Kernels, RowWalk};
use crate::layout::quantized::{
    Codes, RowBound, encode_i8, f64_margin, fingerprint, residual_norm, round_up,
};
use crate::layout::{EmbeddingError, EmbeddingView, QuantizedMatrix};

/// What an exact quantized scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExactScan {
    /// Rows in the matrix (each scored in its quantized form, unless `k` is
    /// 0, or the query is so large that `f32` dot products could overflow:
    /// then every row is rescored and none is pruned).
    pub rows: usize,
    /// Rows whose bound could still reach the top k, rescored in `f32`.
    pub rescored: usize,
}

/// A query prepared for one [`QuantizedMatrix`]: padded to its stride, and
/// for i8 rows quantized to `i8` as well (scaled by its largest magnitude).
struct Prepared {
    /// The query, zero-padded (f16 rows).
    f32_query: Vec<f32>,
    /// The query's codes, zero-padded (i8 rows).
    i8_query: Vec<i8>,
    /// A code of `i8_query` times this is its value.
    scale: f32,
    /// At least `|q|`.
    norm: f32,
    /// At least `|q - decoded q|` (0 for f16 rows: the query is used as it is).
    error: f32,
    /// At least what underflow can take from a dot product of `dim` terms.
    underflow: f64,
}

/// Relative margins of the bound's own `f64` arithmetic.
const MARGIN_TERMS: f64 = 1.0 + 1.0 / (1u64 << 30) as f64;
const MARGIN_APPROX: f64 = 1.0 / (1u64 << 40) as f64;
/// Beyond this, `|q| max|x|` could overflow an `f32` dot product.
const OVERFLOW: f64 = 1e38;

impl Prepared {
    fn new(query: &[f32], matrix: &QuantizedMatrix) -> Prepared {
        let norm = crate::math::sqrt(query.iter().map(|&x| f64::from(x) * f64::from(x)).sum());
        let underflow = (matrix.dim() as f64 + 2.0) * f64::from(f32::from_bits(1)) * 2.0;
        let mut prepared = Prepared {
            f32_query: Vec::new(),
            i8_query: Vec::new(),
            scale: 0.0,
            norm: round_up(norm * f64_margin(matrix.dim())),
            error: 0.0,
            underflow,
        };
        match matrix.codes() {
            Codes::F16(_) => {
                prepared.f32_query = vec![0.0; matrix.stride()];
                prepared.f32_query[..query.len()].copy_from_slice(query);
            }
            Codes::I8(_) => {
                prepared.i8_query = vec![0; matrix.stride()];
                let mut decoded = Vec::with_capacity(query.len());
                prepared.scale = encode_i8(query, &mut prepared.i8_query, &mut decoded);
                let error = residual_norm(query, &decoded);
                prepared.error = round_up(error * f64_margin(matrix.dim()));
            }
        }
        prepared
    }

    /// The quantized dot products of rows `first..first + out.len()`, in
    /// `f64` (exact from the kernel's result).
    fn approx_dots(
        &self,
        kernels: Kernels,
        matrix: &QuantizedMatrix,
        first: usize,
        out: &mut [f64],
        scratch: &mut [f32; BLOCK],
        ints: &mut [i32; BLOCK],
    ) {
        let (n, stride) = (out.len(), matrix.stride());
        let bounds = &matrix.bounds()[first..first + n];
        match matrix.codes() {
            Codes::F16(codes) => {
                let dots = &mut scratch[..n];
                kernels.dot_rows_f16(&self.f32_query, &codes[first * stride..], dots);
                for ((a, &d), b) in out.iter_mut().zip(&*dots).zip(bounds) {
                    *a = f64::from(d) * f64::from(b.scale);
                }
            }
            Codes::I8(codes) => {
                let dots = &mut ints[..n];
                kernels.dot_rows_i8(&self.i8_query, &codes[first * stride..], dots);
                let scale = f64::from(self.scale);
                for ((a, &d), b) in out.iter_mut().zip(&*dots).zip(bounds) {
                    *a = f64::from(d) * (scale * f64::from(b.scale));
                }
            }
        }
    }

    /// An `f32` at least the `f32` scan's dot product of the query with a
    /// row whose quantized dot product is `approx` (module docs).
    #[inline]
    fn upper_bound(&self, approx: f64, row: &RowBound) -> f32 {
        let terms = f64::from(self.norm) * f64::from(row.error)
            + f64::from(self.error) * f64::from(row.decoded_norm);
        let upper = approx
            + terms * MARGIN_TERMS
            + self.underflow * (1.0 + f64::from(row.scale))
            + approx.abs() * MARGIN_APPROX;
        round_up(upper)
    }
}

impl Kernels {
    /// The `f32` scan's top k ([`top_k_cosine`](Self::top_k_cosine) over
    /// `rows`, scores bit for bit), reading the rows in their quantized form
    /// first: every row is scored from `quantized`, and only those whose
    /// bound could still reach the `k` hits kept so far are rescored from
    /// `rows` (see the module docs of `simd::quantized` for why that is
    /// exact).
    ///
    /// `rows` must be the rows `quantized` was built from, and the hits
    /// are those of the `f32` scan with these same kernels (backends differ
    /// in rounding). Rows of another shape, or whose values differ in any
    /// of eight sampled rows, are refused with
    /// [`EmbeddingError::NotQuantizedFrom`] before `top` changes; other
    /// rows edited since give hits that may differ from the `f32` scan's
    /// (never unsafety). Like the `f32` scan, `top` is not cleared first.
    /// Exactness assumes the default floating-point environment (no
    /// flush-to-zero or denormals-are-zero mode).
    ///
    /// The returned [`ExactScan`] says how many rows were rescored: a few
    /// hundred of 100,000 on embedding-like data (the scan then reads about
    /// a quarter of the `f32` scan's bytes in i8), every row on adversarial
    /// data where all rows tie within the quantization error (then slower
    /// than the `f32` scan, never wrong).
    pub fn top_k_cosine_exact<'m>(
        self,
        query: &[f32],
        quantized: &QuantizedMatrix,
        rows: impl Into<EmbeddingView<'m>>,
        top: &mut TopK,
    ) -> Result<ExactScan, EmbeddingError> {
        let rows = rows.into();
        check_query(query, rows)?;
        check_built_from(quantized, rows)?;
        let mut stats = ExactScan {
            rows: rows.rows(),
            rescored: 0,
        };
        if top.k() == 0 {
            return Ok(stats);
        }
        let inv_q = self.inv_norm(query);
        let prepared = Prepared::new(query, quantized);
        let prune = f64::from(prepared.norm) * f64::from(quantized.max_norm()) < OVERFLOW;
        let (data, stride, inv_x) = (rows.as_padded_slice(), rows.stride(), rows.inv_norms());
        let bounds = quantized.bounds();
        let (mut approx, mut scratch, mut ints) = ([0f64; BLOCK], [0f32; BLOCK], [0i32; BLOCK]);
        let mut upper = [f32::INFINITY; BLOCK];
        let mut exact = [0f32; 1];
        for first in (0..rows.rows()).step_by(BLOCK) {
            let n = BLOCK.min(rows.rows() - first);
            let (approx, upper) = (&mut approx[..n], &mut upper[..n]);
            if prune {
                prepared.approx_dots(self, quantized, first, approx, &mut scratch, &mut ints);
                let rows = bounds[first..first + n]
                    .iter()
                    .zip(&inv_x[first..first + n]);
                for ((u, &a), (bound, &inv_x)) in upper.iter_mut().zip(&*approx).zip(rows) {
                    *u = prepared.upper_bound(a, bound) * inv_q * inv_x;
                }
            }
            for (row, &u) in (first..).zip(&*upper) {
                if u < top.floor() {
                    continue;
                }
                self.dot_rows(
                    query,
                    &data[row * stride..],
                    stride,
                    RowWalk::Blocked,
                    &mut exact,
                );
                stats.rescored += 1;
                top.push(row as u32, exact[0] * inv_q * inv_x[row]);
            }
        }
        Ok(stats)
    }

    /// Offers every row of `quantized` to `top`, scored by the cosine of
    /// `query` with the row's quantized form: no `f32` rows are read, and
    /// the hits may differ from the `f32` scan's where scores are closer
    /// than the quantization error (the `scan` bench and the `recall`
    /// example print the recall this gives).
    pub fn top_k_cosine_approx(
        self,
        query: &[f32],
        quantized: &QuantizedMatrix,
        top: &mut TopK,
    ) -> Result<(), EmbeddingError> {
        check_query_dim(query, quantized.dim())?;
        if top.k() == 0 {
            return Ok(());
        }
        let inv_q = self.inv_norm(query);
        let prepared = Prepared::new(query, quantized);
        let bounds = quantized.bounds();
        let (mut approx, mut scratch, mut ints) = ([0f64; BLOCK], [0f32; BLOCK], [0i32; BLOCK]);
        for first in (0..quantized.rows()).step_by(BLOCK) {
            let n = BLOCK.min(quantized.rows() - first);
            let approx = &mut approx[..n];
            prepared.approx_dots(self, quantized, first, approx, &mut scratch, &mut ints);
            for (row, &a) in (first..).zip(&*approx) {
                top.push(row as u32, a as f32 * inv_q * bounds[row].inv_norm);
            }
        }
        Ok(())
    }
}

/// Refuses `rows` that are visibly not those `quantized` was built from:
/// another shape, or other values in the eight rows [`fingerprint`] reads.
fn check_built_from(
    quantized: &QuantizedMatrix,
    rows: EmbeddingView<'_>,
) -> Result<(), EmbeddingError> {
    if rows.dim() != quantized.dim()
        || rows.rows() != quantized.rows()
        || fingerprint(rows) != quantized.fingerprint()
    {
        return Err(EmbeddingError::NotQuantizedFrom);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{EmbeddingMatrix, Quantization};
    use crate::simd::{Backend, Hit};

    /// Every backend's kernels, and on a CPU with AVX-512 VNNI also the
    /// AVX-512 table for CPUs without it.
    fn backends() -> impl Iterator<Item = Kernels> {
        let chosen = Backend::ALL.into_iter().filter_map(Kernels::for_backend);
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        let without_vnni = Backend::Avx512
            .is_available()
            .then_some(Kernels(&crate::simd::arch::x86_64::avx512::KERNELS));
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        let without_vnni = None;
        chosen.chain(without_vnni)
    }

    #[test]
    fn every_backend_computes_the_same_quantized_dots() {
        let mut rng = crate::rng::SplitMix64::new(3);
        let flat: Vec<f32> = (0..23 * 100).map(|_| rng.next_f32() - 0.5).collect();
        let m = EmbeddingMatrix::from_rows(100, &flat).unwrap();
        let query: Vec<f32> = (0..100).map(|_| rng.next_f32() - 0.5).collect();
        for quantization in [Quantization::F16, Quantization::I8] {
            let q = QuantizedMatrix::new(&m, quantization).unwrap();
            let prepared = Prepared::new(&query, &q);
            let dots = |kernels: Kernels| {
                let mut out = [0f64; 23];
                let (mut scratch, mut ints) = ([0f32; BLOCK], [0i32; BLOCK]);
                prepared.approx_dots(kernels, &q, 0, &mut out, &mut scratch, &mut ints);
                out
            };
            let scalar = dots(Kernels::scalar());
            for kernels in backends() {
                let got = dots(kernels);
                for (r, (g, s)) in got.iter().zip(&scalar).enumerate() {
                    // Integer dots are exact; f16 ones round in `f32`.
                    match quantization {
                        Quantization::I8 => assert_eq!(g, s, "{:?} row {r}", kernels.backend()),
                        _ => assert!((g - s).abs() < 1e-5, "{:?} row {r}", kernels.backend()),
                    }
                }
            }
            // The quantized dot is close to the f32 one.
            for (r, a) in scalar.iter().enumerate() {
                let exact = Kernels::scalar().dot(&query, m.row(r).unwrap()).unwrap();
                assert!(
                    (a - f64::from(exact)).abs() < 0.05,
                    "{quantization} row {r}"
                );
            }
        }
    }

    /// Every table's quantized (approximate) and `f32` dot products of
    /// `query` with every row of `m`.
    fn dots_by_backend(
        query: &[f32],
        prepared: &Prepared,
        q: &QuantizedMatrix,
        m: &EmbeddingMatrix,
    ) -> Vec<(Kernels, Vec<f64>, Vec<f32>)> {
        let rows = m.rows();
        backends()
            .map(|kernels| {
                let mut approx = vec![0f64; rows];
                let (mut scratch, mut ints) = ([0f32; BLOCK], [0i32; BLOCK]);
                prepared.approx_dots(kernels, q, 0, &mut approx, &mut scratch, &mut ints);
                let mut dots = vec![0f32; rows];
                let (data, stride) = (m.as_padded_slice(), m.stride());
                kernels.dot_rows(query, data, stride, RowWalk::Blocked, &mut dots);
                (kernels, approx, dots)
            })
            .collect()
    }

    /// Rows that quantize without error (integers up to 127) and a query
    /// that nearly does (codes times 0.1), with dot products that cancel:
    /// the quantized dot is then all but exact, and only the bound's
    /// allowance for the `f32` scan's own rounding keeps it above that
    /// scan's dot product.
    #[test]
    fn bounds_hold_where_only_rounding_separates_the_scans() {
        let mut rng = crate::rng::SplitMix64::new(17);
        let dim = 120;
        let rows = if cfg!(miri) { 8 } else { 200 };
        let flat: Vec<f32> = (0..rows * dim)
            .map(|i| {
                if i % dim == 0 {
                    127.0
                } else {
                    (rng.below(255) as f32) - 127.0
                }
            })
            .collect();
        let m = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
        let q = QuantizedMatrix::new(&m, Quantization::I8).unwrap();
        let mut violations = 0;
        for _ in 0..if cfg!(miri) { 1 } else { 20 } {
            let query: Vec<f32> = (0..dim)
                .map(|i| {
                    let code = if i == 1 {
                        127
                    } else {
                        rng.below(255) as i32 - 127
                    };
                    code as f32 * 0.1
                })
                .collect();
            let prepared = Prepared::new(&query, &q);
            assert!(
                prepared.error < 1e-6 * prepared.norm,
                "the query quantizes all but exactly"
            );
            for (kernels, approx, dots) in dots_by_backend(&query, &prepared, &q, &m) {
                for (r, (&a, &d)) in approx.iter().zip(&dots).enumerate() {
                    let upper = prepared.upper_bound(a, &q.bounds()[r]);
                    assert!(upper >= d, "{:?} row {r}: {upper} < {d}", kernels.backend());
                    // The f32 scan rounds away from the exact value often.
                    violations += usize::from(f64::from(d) > a);
                }
            }
        }
        assert!(violations > 0, "the data exercises rounding upward");
    }

    /// Rows that quantize without error and a query that does not: only the
    /// query's quantization error keeps the bound above the `f32` scan's
    /// dot product.
    #[test]
    fn bounds_hold_where_only_the_query_is_quantized() {
        let mut rng = crate::rng::SplitMix64::new(29);
        let (rows, dim) = (if cfg!(miri) { 8 } else { BLOCK }, 64);
        let flat: Vec<f32> = (0..rows * dim)
            .map(|i| {
                if i % dim == 0 {
                    127.0
                } else {
                    rng.below(255) as f32 - 127.0
                }
            })
            .collect();
        let m = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
        let q = QuantizedMatrix::new(&m, Quantization::I8).unwrap();
        for r in 0..rows {
            assert_eq!(
                q.decode_row(r).unwrap(),
                m.row(r).unwrap(),
                "rows quantize exactly"
            );
        }
        let query: Vec<f32> = (0..dim).map(|_| rng.next_f32() - 0.5).collect();
        let prepared = Prepared::new(&query, &q);
        let mut without_query_error = Prepared::new(&query, &q);
        without_query_error.error = 0.0;
        let mut above = 0;
        for (kernels, approx, dots) in dots_by_backend(&query, &prepared, &q, &m) {
            for (r, (&a, &d)) in approx.iter().zip(&dots).enumerate() {
                let upper = prepared.upper_bound(a, &q.bounds()[r]);
                assert!(upper >= d, "{:?} row {r}: {upper} < {d}", kernels.backend());
                let upper = without_query_error.upper_bound(a, &q.bounds()[r]);
                above += usize::from(d > upper);
            }
        }
        assert!(
            above > 0,
            "some dot products exceed a bound without the query's error"
        );
    }

    /// The whole exact scan on every table (the AVX-512 one without VNNI
    /// included), against the `f32` scan of the same kernels.
    #[test]
    fn every_table_gives_the_f32_scans_hits() {
        let mut rng = crate::rng::SplitMix64::new(23);
        let (rows, dim) = (if cfg!(miri) { 40 } else { 700 }, 45);
        let flat: Vec<f32> = (0..rows * dim).map(|_| rng.next_f32() - 0.5).collect();
        let m = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
        let query: Vec<f32> = m.row(3).unwrap().iter().map(|x| x + 0.01).collect();
        for quantization in [Quantization::F16, Quantization::I8] {
            let q = QuantizedMatrix::new(&m, quantization).unwrap();
            for kernels in backends() {
                let (mut top, mut expected, mut got) = (TopK::new(7), Vec::new(), Vec::new());
                kernels.top_k_cosine(&query, &m, &mut top).unwrap();
                top.drain_sorted(&mut expected);
                let scan = kernels
                    .top_k_cosine_exact(&query, &q, &m, &mut top)
                    .unwrap();
                top.drain_sorted(&mut got);
                let bits = |h: &[Hit]| {
                    h.iter()
                        .map(|h| (h.id, h.score.to_bits()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    bits(&got),
                    bits(&expected),
                    "{quantization} {:?}",
                    kernels.backend()
                );
                assert!(scan.rescored < rows, "the bound prunes");
            }
        }
    }

    #[test]
    fn exact_scans_refuse_rows_they_were_not_built_from() {
        let flat: Vec<f32> = (0..40 * 8).map(|i| (i % 13) as f32 - 6.0).collect();
        let m = EmbeddingMatrix::from_rows(8, &flat).unwrap();
        let q = QuantizedMatrix::new(&m, Quantization::I8).unwrap();
        let other = EmbeddingMatrix::from_rows(8, &flat[8..]).unwrap();
        let mut shifted = flat.clone();
        shifted[39 * 8] += 1.0; // the last row's norm changes
        let shifted = EmbeddingMatrix::from_rows(8, &shifted).unwrap();
        // The same norms, other rows: two values of the first row swapped.
        let mut swapped = flat.clone();
        swapped.swap(0, 1);
        let swapped = EmbeddingMatrix::from_rows(8, &swapped).unwrap();
        assert_eq!(swapped.inv_norms(), m.inv_norms());
        let mut top = TopK::new(3);
        top.push(1000, 5.0);
        for rows in [&other, &shifted, &swapped] {
            assert_eq!(
                Kernels::best().top_k_cosine_exact(m.row(0).unwrap(), &q, rows, &mut top),
                Err(EmbeddingError::NotQuantizedFrom)
            );
        }
        assert_eq!(
            Kernels::best().top_k_cosine_exact(&[1.0; 7], &q, &m, &mut top),
            Err(EmbeddingError::DimensionMismatch {
                expected: 8,
                found: 7
            })
        );
        let mut out = Vec::new();
        top.drain_sorted(&mut out);
        assert_eq!(
            out,
            [Hit {
                id: 1000,
                score: 5.0
            }],
            "refusals change nothing"
        );
    }
}
