//! Why a cache operation failed.

use core::fmt;
use std::io;

use crate::layout::EmbeddingError;
use crate::spread::SpreadError;
use crate::store::StoreError;

/// Why a block could not be served, decoded or stored.
///
/// A corrupt spilled block is never an error the caller sees: the cache
/// drops it, reads the block from its source again and counts it in
/// [`CacheStats::checksum_failures`](super::CacheStats::checksum_failures).
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// Reading the source or the spill file failed.
    Io {
        /// What was being done, in words.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The source (an `.axg` file) refused the block.
    Store(StoreError),
    /// A source of the caller's refused the block.
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// Encoded bytes are not a block (bad header, bad length, a stream
    /// that does not decompress to the length it claims).
    Corrupt {
        /// What is wrong, in words.
        reason: &'static str,
    },
    /// A block does not fit: larger than the tier-0 budget, or every
    /// resident block is pinned by a running reader, or the rest of the
    /// budget is lent to memory held beside the cache (an out-of-core
    /// spreader's workspace).
    Budget {
        /// Bytes the block needs.
        needed: usize,
        /// The tier-0 budget.
        budget: usize,
        /// Bytes that could not be freed when the block was refused: pinned
        /// blocks and memory held beside the cache.
        pinned: usize,
    },
    /// A query was refused (bad seeds or parameters, a spreader sized for
    /// another graph), before anything changed.
    Spread(SpreadError),
    /// A similarity query does not fit the embeddings (another dimension,
    /// a NaN).
    Embedding(EmbeddingError),
    /// A configuration value out of range.
    Config {
        /// The field.
        field: &'static str,
        /// What is accepted, in words.
        expected: &'static str,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Io { op, source } => write!(f, "{op}: {source}"),
            CacheError::Store(e) => write!(f, "block source: {e}"),
            CacheError::Source(e) => write!(f, "block source: {e}"),
            CacheError::Corrupt { reason } => write!(f, "corrupt block: {reason}"),
            CacheError::Budget {
                needed,
                budget,
                pinned,
            } => write!(
                f,
                "a block of {needed} bytes does not fit a tier-0 budget of {budget} bytes \
                 ({pinned} bytes pinned by running readers or held beside the cache)"
            ),
            CacheError::Spread(e) => write!(f, "{e}"),
            CacheError::Embedding(e) => write!(f, "{e}"),
            CacheError::Config { field, expected } => {
                write!(f, "cache configuration: {field} must be {expected}")
            }
        }
    }
}

impl std::error::Error for CacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CacheError::Io { source, .. } => Some(source),
            CacheError::Store(e) => Some(e),
            CacheError::Source(e) => Some(e.as_ref()),
            CacheError::Spread(e) => Some(e),
            CacheError::Embedding(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SpreadError> for CacheError {
    fn from(e: SpreadError) -> CacheError {
        CacheError::Spread(e)
    }
}

impl From<StoreError> for CacheError {
    fn from(e: StoreError) -> CacheError {
        CacheError::Store(e)
    }
}

/// `map_err` for an I/O step named `op`.
pub(crate) fn io(op: &'static str) -> impl Fn(io::Error) -> CacheError {
    move |source| CacheError::Io { op, source }
}
