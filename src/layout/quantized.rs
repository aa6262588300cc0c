//! Embeddings in fewer bits, with what it takes to stay exact.
//!
//! Seeding a query scores it against every embedding, and at 384 `f32`
//! values a row that is 1,536 bytes of memory traffic: the scan is bound by
//! memory bandwidth, not arithmetic. A [`QuantizedMatrix`] holds the same
//! rows in half precision (768 bytes) or in `i8` with a per-row scale (384
//! bytes), so a scan over it moves 2x or 4x fewer bytes.
//!
//! Fewer bits alone would make the scan approximate. Beside each row the
//! matrix therefore keeps an upper bound of its error (the norm of the
//! residual `row - decoded row`, plus the rounding the `f32` scan itself may
//! make), so that the exact scan ([`Kernels::top_k_cosine_exact`]) can
//! bound each row's `f32` score from its quantized one and rescore in `f32`
//! only the rows that could still reach the top k. The result is the `f32`
//! scan's, by construction.
//!
//! [`Kernels::top_k_cosine_exact`]: crate::simd::Kernels::top_k_cosine_exact

use alloc::vec::Vec;
use core::fmt;

use super::embedding::{EmbeddingError, EmbeddingView};
use super::half::{f16_from_unit, f16_to_f32};
use super::{AlignedBuf, CACHE_LINE};
use crate::simd::MAX_I8_STRIDE;

/// How a [`QuantizedMatrix`] stores each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Quantization {
    /// IEEE half precision of the value divided by the row's largest
    /// magnitude (2 bytes per value; 11 significant bits).
    F16,
    /// A signed byte: the value divided by the row's scale (its largest
    /// magnitude / 127), rounded (1 byte per value).
    I8,
}

impl Quantization {
    /// Short name (`f16`, `i8`).
    pub const fn name(self) -> &'static str {
        match self {
            Quantization::F16 => "f16",
            Quantization::I8 => "i8",
        }
    }

    /// Bytes per stored value.
    pub const fn bytes(self) -> usize {
        match self {
            Quantization::F16 => 2,
            Quantization::I8 => 1,
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the scans know of one row besides its codes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowBound {
    /// A code times `scale` is the decoded value.
    pub(crate) scale: f32,
    /// At least `|row - decoded row| + gamma(dim) * (|row| [+ |decoded row|
    /// for f16])`: with `|q|` it bounds how far the quantized dot product
    /// can be from the `f32` scan's (see `simd::quantized`).
    pub(crate) error: f32,
    /// At least `|decoded row|`.
    pub(crate) decoded_norm: f32,
    /// `1 / |row|` as the matrix it was built from holds it (the
    /// approximate scan's cosine).
    pub(crate) inv_norm: f32,
}

/// The codes of every row, padded with zeros to a 64-byte stride.
#[derive(Clone)]
pub(crate) enum Codes {
    F16(AlignedBuf<u16>),
    I8(AlignedBuf<i8>),
}

/// The rows of an [`EmbeddingView`] in f16 or `i8` form, with a bound of
/// each row's error: what the quantized top-k scans read.
///
/// Built once from the `f32` rows (`O(rows x dim)`); the exact scan reads
/// those rows too, for the few rows it rescores, so keep them.
///
/// ```
/// use axonal::layout::{EmbeddingMatrix, Quantization, QuantizedMatrix};
/// use axonal::simd::{Kernels, TopK};
///
/// let flat: Vec<f32> = (0..64 * 24).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
/// let rows = EmbeddingMatrix::from_rows(24, &flat)?;
/// let quantized = QuantizedMatrix::new(&rows, Quantization::I8)?;
/// assert_eq!(quantized.rows(), 64);
///
/// let (kernels, query) = (Kernels::best(), rows.row(7).unwrap());
/// let (mut exact, mut f32_scan) = (TopK::new(5), TopK::new(5));
/// kernels.top_k_cosine_exact(query, &quantized, &rows, &mut exact)?;
/// kernels.top_k_cosine(query, &rows, &mut f32_scan)?;
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// exact.drain_sorted(&mut a);
/// f32_scan.drain_sorted(&mut b);
/// assert_eq!(a, b); // the same hits, the same score bits
/// # Ok::<(), axonal::layout::EmbeddingError>(())
/// ```
#[derive(Clone)]
pub struct QuantizedMatrix {
    codes: Codes,
    bounds: Vec<RowBound>,
    dim: usize,
    stride: usize,
    /// At least the largest row norm: a query whose norm times this could
    /// overflow `f32` is scanned without pruning.
    max_norm: f32,
    /// Of the `f32` rows it was built from ([`fingerprint`]).
    fingerprint: u64,
}

/// A hash of `rows`' shape and of eight whole rows spread over them (and
/// their inverse norms): what the exact scan compares to refuse `f32` rows
/// other than those a matrix was built from, at the cost of reading eight
/// rows.
pub(crate) fn fingerprint(rows: EmbeddingView<'_>) -> u64 {
    let mut hash = xxhash_rust::xxh3::Xxh3Default::new();
    hash.update(&(rows.rows() as u64).to_le_bytes());
    hash.update(&(rows.dim() as u64).to_le_bytes());
    let n = rows.rows();
    if n > 0 {
        for k in 0..8 {
            let r = k * (n - 1) / 7;
            let row = rows.row(r).expect("r < rows");
            hash.update(bytemuck::cast_slice(row));
            hash.update(&rows.inv_norm(r).expect("r < rows").to_bits().to_le_bytes());
        }
    }
    hash.digest()
}

/// An `f32` at least `x`, for bounds computed in `f64` (callers add their
/// own margin for the `f64` arithmetic before). The conversion rounds to
/// nearest, off by at most half a step: 2^-24 of the value where `f32` is
/// normal, 2^-150 below; raising `x` by more than that first keeps the
/// result above `x`, without a branch (the scan's bound loop vectorises).
/// Below `f32`'s range the result is `f32::MIN`, not negative infinity; a
/// NaN (and negative infinity, through `-inf + inf`) gives NaN, which the
/// scan never prunes.
#[inline]
pub(crate) fn round_up(x: f64) -> f32 {
    const RELATIVE: f64 = 1.0 / (1u64 << 23) as f64;
    const SMALLEST: f64 = 1.401_298_464_324_817e-45; // 2^-149, the smallest f32 step
    let up = (x + x.abs() * RELATIVE + SMALLEST) as f32;
    if up == f32::NEG_INFINITY {
        f32::MIN
    } else {
        up
    }
}

/// Relative margin of a norm computed in `f64` over `dim` values: a sum of
/// `dim` squares rounds by at most `dim` times 2^-53 of itself, its square
/// root by half that plus one more rounding.
pub(crate) fn f64_margin(dim: usize) -> f64 {
    1.0 + (dim as f64 + 4.0) / (1u64 << 52) as f64
}

/// The relative rounding error `gamma(n)` of an `f32` dot product of `n`
/// terms in any summation order (`n u / (1 - n u)`, `u = 2^-24`), with room
/// for the product and the lanes' final sum. Infinite from `n = 2^24 - 2`:
/// every bound is then infinite or NaN, and the exact scan rescores every
/// row.
pub(crate) fn dot_rounding(dim: usize) -> f64 {
    let nu = (dim as f64 + 2.0) / (1u64 << 24) as f64;
    nu / (1.0 - nu).max(f64::MIN_POSITIVE)
}

impl QuantizedMatrix {
    /// The rows of `rows` in `quantization`'s form.
    ///
    /// F16 values are the row divided by its largest magnitude, so every one
    /// is within `[-1, 1]`; halves below f16's normal range are stored as
    /// zero (their error is in the row's bound like any other).
    ///
    /// Fails with [`EmbeddingError::TooLarge`] where the codes would not fit
    /// the address space, or for i8 rows of more than 65,536 values.
    pub fn new<'m>(
        rows: impl Into<EmbeddingView<'m>>,
        quantization: Quantization,
    ) -> Result<QuantizedMatrix, EmbeddingError> {
        let view = rows.into();
        let dim = view.dim();
        let per_line = CACHE_LINE / quantization.bytes();
        let stride = dim
            .checked_next_multiple_of(per_line)
            .ok_or(EmbeddingError::TooLarge)?;
        if quantization == Quantization::I8 && stride > MAX_I8_STRIDE {
            return Err(EmbeddingError::TooLarge);
        }
        let values = view
            .rows()
            .checked_mul(stride)
            .filter(|v| v.checked_mul(quantization.bytes()).is_some())
            .ok_or(EmbeddingError::TooLarge)?;
        let (gamma, margin) = (dot_rounding(dim), f64_margin(dim));
        let mut bounds = Vec::with_capacity(view.rows());
        let mut max_norm = 0.0f64;
        let mut codes = match quantization {
            Quantization::F16 => Codes::F16(AlignedBuf::zeroed(values)),
            Quantization::I8 => Codes::I8(AlignedBuf::zeroed(values)),
        };
        let mut decoded = Vec::new();
        for r in 0..view.rows() {
            let row = view.row(r).expect("r < rows");
            decoded.clear();
            let scale = match &mut codes {
                Codes::F16(buf) => encode_f16(row, &mut buf[r * stride..], &mut decoded),
                Codes::I8(buf) => encode_i8(row, &mut buf[r * stride..], &mut decoded),
            };
            let sq = |x: f64| x * x;
            let norm = crate::math::sqrt(row.iter().map(|&x| sq(f64::from(x))).sum());
            let decoded_norm = crate::math::sqrt(decoded.iter().map(|&x| sq(x)).sum());
            let residual = residual_norm(row, &decoded);
            // The f16 scan's dot product rounds in `f32` too; the i8 one is
            // exact in integers.
            let rounding = match quantization {
                Quantization::F16 => gamma * (norm + decoded_norm),
                Quantization::I8 => gamma * norm,
            };
            bounds.push(RowBound {
                scale,
                error: round_up((residual + rounding) * margin),
                decoded_norm: round_up(decoded_norm * margin),
                inv_norm: view.inv_norm(r).expect("r < rows"),
            });
            max_norm = max_norm.max(norm);
        }
        Ok(QuantizedMatrix {
            codes,
            bounds,
            dim,
            stride,
            max_norm: round_up(max_norm * margin),
            fingerprint: fingerprint(view),
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.bounds.len()
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Logical row length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Values per stored row (`dim` padded to 64 bytes).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// How the values are stored.
    pub fn quantization(&self) -> Quantization {
        match self.codes {
            Codes::F16(_) => Quantization::F16,
            Codes::I8(_) => Quantization::I8,
        }
    }

    /// Bytes this matrix holds (codes and per-row bounds): what it adds
    /// beside the `f32` rows.
    pub fn memory_bytes(&self) -> usize {
        let codes = match &self.codes {
            Codes::F16(buf) => buf.as_bytes().len(),
            Codes::I8(buf) => buf.as_bytes().len(),
        };
        codes + self.bounds.len() * core::mem::size_of::<RowBound>()
    }

    /// Row `i` decoded to `f32` (`dim` values), or `None` if out of range.
    pub fn decode_row(&self, i: usize) -> Option<Vec<f32>> {
        let bound = self.bounds.get(i)?;
        let at = i * self.stride..i * self.stride + self.dim;
        Some(match &self.codes {
            Codes::F16(buf) => buf[at]
                .iter()
                .map(|&h| f16_to_f32(h) * bound.scale)
                .collect(),
            Codes::I8(buf) => buf[at]
                .iter()
                .map(|&c| f32::from(c) * bound.scale)
                .collect(),
        })
    }

    pub(crate) fn codes(&self) -> &Codes {
        &self.codes
    }

    pub(crate) fn bounds(&self) -> &[RowBound] {
        &self.bounds
    }

    pub(crate) fn max_norm(&self) -> f32 {
        self.max_norm
    }

    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

/// The largest magnitude of `values`.
fn largest(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// `|values - decoded|`, in `f64`.
pub(crate) fn residual_norm(values: &[f32], decoded: &[f64]) -> f64 {
    let sum = values
        .iter()
        .zip(decoded)
        .map(|(&x, &d)| (f64::from(x) - d) * (f64::from(x) - d))
        .sum();
    crate::math::sqrt(sum)
}

/// Writes `row / largest` as halves (zero below f16's normal range) into
/// the first `row.len()` of `out` and the decoded values into `decoded`;
/// returns the scale.
fn encode_f16(row: &[f32], out: &mut [u16], decoded: &mut Vec<f64>) -> f32 {
    let largest = largest(row);
    let scale = if largest.is_normal() { largest } else { 0.0 };
    for (code, &x) in out.iter_mut().zip(row) {
        let h = if scale > 0.0 {
            f16_from_unit(x / scale)
        } else {
            0
        };
        *code = h;
        decoded.push(f64::from(f16_to_f32(h)) * f64::from(scale));
    }
    scale
}

/// Writes `round(values / scale)` (scale = `largest / 127`) into the
/// first `values.len()` of `out` and the decoded values into `decoded`;
/// returns the scale. Rows and queries alike.
pub(crate) fn encode_i8(values: &[f32], out: &mut [i8], decoded: &mut Vec<f64>) -> f32 {
    let scale = largest(values) / 127.0;
    let scale = if scale.is_normal() { scale } else { 0.0 };
    for (code, &x) in out.iter_mut().zip(values) {
        let c = if scale > 0.0 {
            libm::round(f64::from(x) / f64::from(scale)).clamp(-127.0, 127.0) as i8
        } else {
            0
        };
        *code = c;
        decoded.push(f64::from(c) * f64::from(scale));
    }
    scale
}

impl fmt::Debug for QuantizedMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuantizedMatrix")
            .field("quantization", &self.quantization())
            .field("rows", &self.rows())
            .field("dim", &self.dim)
            .field("stride", &self.stride)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::EmbeddingMatrix;

    fn matrix(rows: usize, dim: usize) -> EmbeddingMatrix {
        let mut rng = crate::rng::SplitMix64::new(7);
        let flat: Vec<f32> = (0..rows * dim)
            .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
            .collect();
        EmbeddingMatrix::from_rows(dim, &flat).unwrap()
    }

    #[test]
    fn every_bound_holds_the_rows_true_error() {
        let mut m = matrix(50, 37);
        m.push(&[0.0; 37]).unwrap();
        let mut tiny = [0.0f32; 37];
        tiny[3] = 1e-40; // a subnormal: its scale underflows
        m.push(&tiny).unwrap();
        for quantization in [Quantization::F16, Quantization::I8] {
            let q = QuantizedMatrix::new(&m, quantization).unwrap();
            assert_eq!(
                (q.rows(), q.dim(), q.quantization()),
                (52, 37, quantization)
            );
            assert_eq!(q.stride(), 64, "37 values padded to 64 bytes' worth");
            for r in 0..q.rows() {
                let (row, b) = (m.row(r).unwrap(), q.bounds()[r]);
                // The decoded values exactly (`decode_row` rounds them to f32).
                let at = r * q.stride()..r * q.stride() + 37;
                let decoded: Vec<f64> = match q.codes() {
                    Codes::F16(c) => c[at]
                        .iter()
                        .map(|&h| f64::from(f16_to_f32(h)) * f64::from(b.scale))
                        .collect(),
                    Codes::I8(c) => c[at]
                        .iter()
                        .map(|&c| f64::from(c) * f64::from(b.scale))
                        .collect(),
                };
                for (exact, rounded) in decoded.iter().zip(q.decode_row(r).unwrap()) {
                    assert_eq!(*exact as f32, rounded);
                }
                let residual: f64 = row
                    .iter()
                    .zip(&decoded)
                    .map(|(&x, &d)| (f64::from(x) - d).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(f64::from(b.error) >= residual, "{quantization} row {r}");
                let norm: f64 = decoded.iter().map(|&d| d.powi(2)).sum();
                assert!(f64::from(b.decoded_norm) >= norm.sqrt());
                assert_eq!(b.inv_norm, m.inv_norm(r).unwrap());
                // Quantization keeps most of each row: the residual is small.
                assert!(residual <= 0.01 * norm.sqrt().max(1e-30) || norm == 0.0);
            }
            assert!(q.decode_row(52).is_none());
            let expected = 52 * 64 * quantization.bytes() + 52 * core::mem::size_of::<RowBound>();
            assert_eq!(q.memory_bytes(), expected);
        }
    }

    #[test]
    fn round_up_never_rounds_down() {
        let mut rng = crate::rng::SplitMix64::new(9);
        for _ in 0..10_000 {
            // Magnitudes from far below f32's subnormals to near its maximum.
            let exponent = (rng.below(290) as i32) - 160;
            let x = (rng.next_f64() * 2.0 - 1.0) * 2f64.powi(exponent);
            let up = round_up(x);
            assert!(f64::from(up) >= x, "{x:e} -> {up:e}");
            // And not by much: a few steps of f32 (or beyond its range).
            assert!(
                f64::from(up) - x <= x.abs() * 1e-6 + 1e-44 || x.abs() > f64::from(f32::MAX),
                "{x:e} -> {up:e}"
            );
        }
        assert_eq!(round_up(0.0), f32::from_bits(1));
        assert_eq!(round_up(1e300), f32::INFINITY);
        assert_eq!(round_up(-1e300), f32::MIN);
        assert!(round_up(f64::NAN).is_nan());
    }

    #[test]
    fn codes_are_padded_with_zeros_and_halves_are_normal() {
        let m = matrix(9, 20);
        let q = QuantizedMatrix::new(&m, Quantization::F16).unwrap();
        let Codes::F16(codes) = q.codes() else {
            unreachable!()
        };
        for row in codes.chunks_exact(q.stride()) {
            assert!(row[20..].iter().all(|&h| h == 0));
            // Zero or normal: a biased exponent of 1..=30, or none at all.
            assert!(row.iter().all(|&h| {
                let exponent = (h >> 10) & 0x1f;
                h & 0x7fff == 0 || (1..=30).contains(&exponent)
            }));
        }
        let q = QuantizedMatrix::new(&m, Quantization::I8).unwrap();
        let Codes::I8(codes) = q.codes() else {
            unreachable!()
        };
        for row in codes.chunks_exact(q.stride()) {
            assert!(row[20..].iter().all(|&c| c == 0));
            assert!(row.iter().all(|&c| c != i8::MIN));
        }
    }
}
