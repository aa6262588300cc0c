//! Row-major, cache-line-aligned embedding storage.

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
        (i < self.rows).then(|| &self.data[i * self.stride..i * self.stride + self.dim])
    }

    /// `1 / ||row i||`, or 0 for an all-zero row.
    pub fn inv_norm(&self, i: usize) -> Option<f32> {
        self.inv_norms.get(i).copied()
    }

    /// All rows, padded, as one slice of `rows * stride` floats.
    pub fn as_padded_slice(&self) -> &[f32] {
        &self.data[..self.rows * self.stride]
    }

    /// Inverse norms of all rows.
    pub fn inv_norms(&self) -> &[f32] {
        &self.inv_norms
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
}
