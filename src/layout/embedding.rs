//! Row-major, cache-line-aligned embedding storage, owned
//! ([`EmbeddingMatrix`]) or borrowed ([`EmbeddingView`]).
//!
//! The scans read rows through an [`EmbeddingView`], as the spreading
//! kernels read graphs through a `GraphView`: the rows can then live in a
//! memory-mapped `.axg` file as well as in an [`EmbeddingMatrix`], and the
//! kernels never copy them.

use alloc::vec::Vec;
use core::fmt;

use super::AlignedBuf;

/// Floats per row are rounded up to a multiple of this (one 64-byte line).
pub(crate) const ROW_ALIGN_FLOATS: usize = 16;

/// A row-major matrix of `f32` embeddings, one row per node.
///
/// Each row starts on a 64-byte boundary: rows are padded with zeros to a
/// multiple of 16 floats (`stride`). Padding is zero, so kernels may read whole
/// padded rows; dot products and norms are unchanged by it. The inverse L2 norm
/// of every row is kept beside the data, so cosine scoring is one dot product
/// per row.
#[derive(Clone)]
pub struct EmbeddingMatrix {
    data: AlignedBuf<f32>,
    inv_norms: Vec<f32>,
    dim: usize,
    stride: usize,
    rows: usize,
}

impl EmbeddingMatrix {
    /// An empty matrix of `dim`-dimensional rows with room for `capacity` rows.
    pub fn with_capacity(dim: usize, capacity: usize) -> Result<EmbeddingMatrix, EmbeddingError> {
        if dim == 0 {
            return Err(EmbeddingError::ZeroDimension);
        }
        let stride = dim.next_multiple_of(ROW_ALIGN_FLOATS);
        let floats = stride
            .checked_mul(capacity)
            .ok_or(EmbeddingError::TooLarge)?;
        Ok(EmbeddingMatrix {
            data: AlignedBuf::zeroed(floats),
            inv_norms: Vec::with_capacity(capacity),
            dim,
            stride,
            rows: 0,
        })
    }

    /// A matrix holding the rows of `flat` (row-major, `dim` floats each).
    pub fn from_rows(dim: usize, flat: &[f32]) -> Result<EmbeddingMatrix, EmbeddingError> {
        if dim == 0 {
            return Err(EmbeddingError::ZeroDimension);
        }
        if !flat.len().is_multiple_of(dim) {
            return Err(EmbeddingError::DimensionMismatch {
                expected: dim,
                found: flat.len() % dim,
            });
        }
        let mut m = EmbeddingMatrix::with_capacity(dim, flat.len() / dim)?;
        for row in flat.chunks_exact(dim) {
            m.push(row)?;
        }
        Ok(m)
    }

    /// Appends a row and returns its index. The row must have `dim` finite values.
    pub fn push(&mut self, row: &[f32]) -> Result<u32, EmbeddingError> {
        if row.len() != self.dim {
            return Err(EmbeddingError::DimensionMismatch {
                expected: self.dim,
                found: row.len(),
            });
        }
        if let Some(col) = row.iter().position(|x| !x.is_finite()) {
            return Err(EmbeddingError::NonFinite {
                row: self.rows,
                col,
            });
        }
        let index = u32::try_from(self.rows).map_err(|_| EmbeddingError::TooLarge)?;
        if self.rows == self.capacity() {
            let mut grown = EmbeddingMatrix::with_capacity(self.dim, (self.rows * 2).max(16))?;
            grown.data[..self.rows * self.stride]
                .copy_from_slice(&self.data[..self.rows * self.stride]);
            grown.inv_norms.extend_from_slice(&self.inv_norms);
            grown.rows = self.rows;
            *self = grown;
        }
        let start = self.rows * self.stride;
        self.data[start..start + self.dim].copy_from_slice(row);
        let norm_sq: f64 = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let inv = if norm_sq > 0.0 {
            (1.0 / crate::math::sqrt(norm_sq)) as f32
        } else {
            0.0
        };
        self.inv_norms.push(inv);
        self.rows += 1;
        Ok(index)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// True if the matrix has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Logical row length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Padded row length in floats (a multiple of 16).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Rows the matrix holds before it reallocates.
    pub fn capacity(&self) -> usize {
        self.data.len() / self.stride
    }

    /// Row `i` (`dim` floats), or `None` if out of range.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        self.view().row(i)
    }

    /// `1 / ||row i||`, or 0 for an all-zero row.
    pub fn inv_norm(&self, i: usize) -> Option<f32> {
        self.view().inv_norm(i)
    }

    /// All rows, padded, as one slice of `rows * stride` floats.
    pub fn as_padded_slice(&self) -> &[f32] {
        &self.data[..self.rows * self.stride]
    }

    /// Inverse norms of all rows.
    pub fn inv_norms(&self) -> &[f32] {
        &self.inv_norms
    }

    /// The rows, borrowed: what the scans read (the same as
    /// `EmbeddingView::from(&matrix)`).
    pub fn view(&self) -> EmbeddingView<'_> {
        EmbeddingView {
            data: self.as_padded_slice(),
            inv_norms: &self.inv_norms,
            dim: self.dim,
            stride: self.stride,
        }
    }
}

impl<'a> From<&'a EmbeddingMatrix> for EmbeddingView<'a> {
    fn from(matrix: &'a EmbeddingMatrix) -> EmbeddingView<'a> {
        matrix.view()
    }
}

/// Rows of embeddings, borrowed: what the top-k scans read.
///
/// Obtained from an [`EmbeddingMatrix`] (`matrix.view()`) or over other
/// storage (a memory-mapped `.axg` file) with [`EmbeddingView::new`], which
/// checks that the rows hold what a matrix's rows hold:
///
/// - `stride` is `dim` rounded up to a multiple of 16, the data is
///   `rows * stride` floats and starts on a 64-byte boundary, one inverse
///   norm per row, and at most `u32::MAX + 1` rows (a row's id is a `u32`);
/// - every value is finite and the padding after each row's `dim` values
///   is `+0.0`;
/// - every inverse norm is finite and non-negative. The norms are *not*
///   recomputed (that would cost a second pass of arithmetic over the
///   rows): a wrong one scales its row's cosine scores, nothing worse.
///
/// The scans' memory safety relies on the lengths only (they slice every
/// row with bounds checks); the rest keeps their results meaningful.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddingView<'a> {
    data: &'a [f32],
    inv_norms: &'a [f32],
    dim: usize,
    stride: usize,
}

impl<'a> EmbeddingView<'a> {
    /// A view of `inv_norms.len()` rows of `dim` values, each padded to a
    /// stride of `dim` rounded up to 16 floats, in `padded` (for example
    /// from a memory map), validated as the type's docs say. O(rows x
    /// stride): every value is read once.
    pub fn new(
        dim: usize,
        padded: &'a [f32],
        inv_norms: &'a [f32],
    ) -> Result<EmbeddingView<'a>, EmbeddingError> {
        if dim == 0 {
            return Err(EmbeddingError::ZeroDimension);
        }
        let stride = dim
            .checked_next_multiple_of(ROW_ALIGN_FLOATS)
            .ok_or(EmbeddingError::TooLarge)?;
        let rows = inv_norms.len();
        if rows as u64 > u64::from(u32::MAX) + 1 {
            return Err(EmbeddingError::TooLarge);
        }
        let expected = rows.checked_mul(stride).ok_or(EmbeddingError::TooLarge)?;
        if padded.len() != expected {
            return Err(EmbeddingError::PaddedLength {
                expected,
                found: padded.len(),
            });
        }
        if rows > 0 && !(padded.as_ptr() as usize).is_multiple_of(super::CACHE_LINE) {
            return Err(EmbeddingError::Misaligned);
        }
        // Branch-free reductions first (they vectorise; a file's rows can
        // be gigabytes), then the first offender, only if any.
        let finite = padded.iter().fold(true, |ok, x| ok & x.is_finite());
        if !finite {
            let at = padded.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(EmbeddingError::NonFinite {
                row: at / stride,
                col: at % stride,
            });
        }
        if stride > dim {
            let padding = |row: &[f32]| row[dim..].iter().fold(0, |or, x| or | x.to_bits());
            let dirty = padded
                .chunks_exact(stride)
                .fold(0, |or, row| or | padding(row));
            if dirty != 0 {
                let (row, col) = padded
                    .chunks_exact(stride)
                    .enumerate()
                    .find_map(|(r, row)| {
                        let col = row[dim..].iter().position(|x| x.to_bits() != 0)?;
                        Some((r, dim + col))
                    })
                    .unwrap_or((0, dim));
                return Err(EmbeddingError::Padding { row, col });
            }
        }
        let norms_ok = inv_norms
            .iter()
            .fold(true, |ok, &x| ok & x.is_finite() & (x >= 0.0));
        if !norms_ok {
            let row = inv_norms
                .iter()
                .position(|&x| !(x.is_finite() && x >= 0.0))
                .unwrap_or(0);
            return Err(EmbeddingError::InvNorm { row });
        }
        Ok(EmbeddingView {
            data: padded,
            inv_norms,
            dim,
            stride,
        })
    }

    /// A view over arrays that [`EmbeddingView::new`] accepted before and
    /// that have not changed since (the `.axg` store re-wraps what it
    /// checked when the file was opened).
    #[cfg(feature = "store")]
    pub(crate) fn new_unchecked(
        dim: usize,
        padded: &'a [f32],
        inv_norms: &'a [f32],
    ) -> EmbeddingView<'a> {
        EmbeddingView {
            data: padded,
            inv_norms,
            dim,
            stride: dim.next_multiple_of(ROW_ALIGN_FLOATS),
        }
    }

    /// Number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.inv_norms.len()
    }

    /// True if there are no rows.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inv_norms.is_empty()
    }

    /// Logical row length.
    #[inline]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Padded row length in floats (a multiple of 16).
    #[inline]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `i` (`dim` floats), or `None` if out of range.
    #[inline]
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        let data = self.data;
        (i < self.rows()).then(|| &data[i * self.stride..i * self.stride + self.dim])
    }

    /// `1 / ||row i||`, or 0 for an all-zero row.
    #[inline]
    pub fn inv_norm(&self, i: usize) -> Option<f32> {
        self.inv_norms.get(i).copied()
    }

    /// All rows, padded, as one slice of `rows * stride` floats.
    #[inline]
    pub fn as_padded_slice(&self) -> &'a [f32] {
        self.data
    }

    /// Inverse norms of all rows.
    #[inline]
    pub fn inv_norms(&self) -> &'a [f32] {
        self.inv_norms
    }
}

impl fmt::Debug for EmbeddingMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddingMatrix")
            .field("rows", &self.rows)
            .field("dim", &self.dim)
            .field("stride", &self.stride)
            .finish()
    }
}

/// Why an embedding operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmbeddingError {
    /// Embeddings must have at least one dimension.
    ZeroDimension,
    /// A row or query had the wrong length.
    DimensionMismatch {
        /// The matrix dimension.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A value was NaN or infinite.
    NonFinite {
        /// Row index (for a query: its index in the batch, 0 for one query).
        row: usize,
        /// Column of the first bad value.
        col: usize,
    },
    /// The matrix would exceed `u32::MAX` rows or the address space.
    TooLarge,
    /// A batch scan was given a different number of top-k selectors than
    /// queries.
    BatchMismatch {
        /// Queries given.
        queries: usize,
        /// Selectors given.
        selectors: usize,
    },
    /// The padded rows of a view are not `rows * stride` floats.
    PaddedLength {
        /// `rows * stride`.
        expected: usize,
        /// Floats given.
        found: usize,
    },
    /// The padded rows of a view do not start on a 64-byte boundary.
    Misaligned,
    /// The padding after a row's values is not `+0.0`.
    Padding {
        /// Row index.
        row: usize,
        /// Column (in the padded row, at least `dim`) of the first bad value.
        col: usize,
    },
    /// A row's inverse norm is negative, NaN or infinite.
    InvNorm {
        /// Row index.
        row: usize,
    },
    /// An exact quantized scan was given `f32` rows other than those its
    /// [`QuantizedMatrix`](super::QuantizedMatrix) was built from (a
    /// different number of rows or dimension, or other values or inverse
    /// norms in the eight rows its fingerprint samples).
    NotQuantizedFrom,
}

impl fmt::Display for EmbeddingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbeddingError::ZeroDimension => f.write_str("embedding dimension must be at least 1"),
            EmbeddingError::DimensionMismatch { expected, found } => {
                write!(f, "expected {expected} values per row, found {found}")
            }
            EmbeddingError::NonFinite { row, col } => {
                write!(f, "row {row} has a NaN or infinite value at column {col}")
            }
            EmbeddingError::TooLarge => f.write_str("embedding matrix too large"),
            EmbeddingError::BatchMismatch { queries, selectors } => write!(
                f,
                "a batch of {queries} queries needs as many top-k selectors, got {selectors}"
            ),
            EmbeddingError::PaddedLength { expected, found } => write!(
                f,
                "the padded rows hold {found} floats, expected rows x stride = {expected}"
            ),
            EmbeddingError::Misaligned => {
                f.write_str("the padded rows do not start on a 64-byte boundary")
            }
            EmbeddingError::Padding { row, col } => {
                write!(f, "row {row} has a non-zero padding value at column {col}")
            }
            EmbeddingError::InvNorm { row } => write!(
                f,
                "row {row} has an inverse norm that is negative, NaN or infinite"
            ),
            EmbeddingError::NotQuantizedFrom => {
                f.write_str("the f32 rows are not the rows the quantized matrix was built from")
            }
        }
    }
}

impl core::error::Error for EmbeddingError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_aligned_and_normed() {
        let flat: Vec<f32> = (0..3 * 20).map(|i| i as f32).collect();
        let m = EmbeddingMatrix::from_rows(20, &flat).unwrap();
        assert_eq!((m.rows(), m.dim(), m.stride()), (3, 20, 32));
        for i in 0..3 {
            let row = m.row(i).unwrap();
            assert_eq!(row.as_ptr() as usize % 64, 0);
            assert_eq!(row, &flat[i * 20..(i + 1) * 20]);
            let norm: f64 = row
                .iter()
                .map(|&x| f64::from(x).powi(2))
                .sum::<f64>()
                .sqrt();
            let inv = m.inv_norm(i).unwrap();
            if norm == 0.0 {
                assert_eq!(inv, 0.0);
            } else {
                assert!((f64::from(inv) * norm - 1.0).abs() < 1e-6);
            }
        }
        assert!(m.as_padded_slice()[20..32].iter().all(|&x| x == 0.0));
        assert!(m.row(3).is_none());
    }

    #[test]
    fn push_grows_and_validates() {
        let mut m = EmbeddingMatrix::with_capacity(3, 0).unwrap();
        for i in 0..40 {
            assert_eq!(m.push(&[i as f32, 1.0, 2.0]).unwrap(), i);
        }
        assert_eq!(m.row(39).unwrap(), &[39.0, 1.0, 2.0]);
        assert_eq!(
            m.push(&[1.0, 2.0]),
            Err(EmbeddingError::DimensionMismatch {
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            m.push(&[1.0, f32::NAN, 0.0]),
            Err(EmbeddingError::NonFinite { row: 40, col: 1 })
        );
        assert_eq!(m.rows(), 40, "a rejected row leaves the matrix as it was");
        assert_eq!(
            EmbeddingMatrix::with_capacity(0, 1).unwrap_err(),
            EmbeddingError::ZeroDimension
        );
    }

    #[test]
    fn a_view_holds_what_a_matrix_holds() {
        let flat: Vec<f32> = (0..4 * 20).map(|i| i as f32 - 30.0).collect();
        let m = EmbeddingMatrix::from_rows(20, &flat).unwrap();
        let v = EmbeddingView::new(20, m.as_padded_slice(), m.inv_norms()).unwrap();
        let same = EmbeddingView::from(&m);
        for view in [v, same] {
            assert_eq!((view.rows(), view.dim(), view.stride()), (4, 20, 32));
            assert_eq!(view.row(2), m.row(2));
            assert_eq!(view.inv_norm(3), m.inv_norm(3));
            assert!(view.row(4).is_none() && view.inv_norm(4).is_none());
        }
        // No rows: any (empty) slice will do.
        assert!(EmbeddingView::new(3, &[], &[]).unwrap().is_empty());
    }

    #[test]
    fn a_view_refuses_what_a_matrix_cannot_hold() {
        let m = EmbeddingMatrix::from_rows(20, &[0.5; 40]).unwrap();
        let (data, norms) = (m.as_padded_slice(), m.inv_norms());
        let with = |f: &dyn Fn(&mut [f32], &mut [f32])| {
            let mut d = AlignedBuf::from_slice(data);
            let mut n = norms.to_vec();
            f(&mut d, &mut n);
            EmbeddingView::new(20, &d, &n).map(|_| ()).unwrap_err()
        };
        assert_eq!(
            EmbeddingView::new(0, &[], &[]).unwrap_err(),
            EmbeddingError::ZeroDimension
        );
        assert_eq!(
            EmbeddingView::new(20, &data[..32], norms).unwrap_err(),
            EmbeddingError::PaddedLength {
                expected: 64,
                found: 32
            }
        );
        assert_eq!(
            EmbeddingView::new(16, &data[4..20], &norms[..1]).unwrap_err(),
            EmbeddingError::Misaligned
        );
        assert_eq!(
            with(&|d, _| d[33] = f32::NAN),
            EmbeddingError::NonFinite { row: 1, col: 1 }
        );
        assert_eq!(
            with(&|d, _| d[25] = -0.0),
            EmbeddingError::Padding { row: 0, col: 25 }
        );
        assert_eq!(
            with(&|_, n| n[1] = -1.0),
            EmbeddingError::InvNorm { row: 1 }
        );
        assert_eq!(
            with(&|_, n| n[0] = f32::INFINITY),
            EmbeddingError::InvNorm { row: 0 }
        );
    }
}
