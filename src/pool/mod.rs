//! A lock-free pool of fixed-size records.
//!
//! Engines run many spreading queries at once; each needs records and
//! scratch space, and a general-purpose allocator becomes the bottleneck
//! (and the source of tail latency) long before the kernels do. A [`Pool`]
//! allocates records in 64-byte-aligned chunks, in bulk, and recycles them:
//! after warm-up, taking and returning a record calls no allocator.
//!
//! Three layers, fastest first:
//!
//! 1. **Magazine**: each thread takes records through its own [`LocalPool`],
//!    which caches free record ids. An acquire or release that the magazine
//!    can serve touches no shared cache line.
//! 2. **Shared free list**: an empty magazine refills half-way from a
//!    lock-free stack shared by all threads; a full one spills half to it.
//!    One compare-exchange moves a whole batch. Popping is protected by
//!    `crossbeam-epoch` against use-after-free, and by a 32-bit tag in the
//!    head against ABA: a record could be handed out twice only if one pop
//!    stalled while other threads updated the list a multiple of 2^32 times
//!    (the argument and the exact bound are in `stack.rs`).
//! 3. **Chunks**: when both are empty the pool allocates a chunk of
//!    [`PoolConfig::chunk_len`] records, unless it is [`Growth::Bounded`]
//!    and full, in which case [`LocalPool::try_acquire`] returns `None`
//!    (back-pressure) instead of growing. [`Pool::shrink`] hands wholly free
//!    chunks back to the allocator.
//!
//! [`Pooled`] handles give records back when dropped: no double release,
//! no use after release. [`PoolMetrics`] counts acquires, hits, misses and
//! the high-water mark of records in circulation.
//!
//! Without `std` the pool works the same (crossbeam-epoch's `alloc` mode):
//! there are no thread-locals to hide, so each thread holds its `LocalPool`
//! explicitly, as it does with `std`.
//!
//! ```
//! use axonal::pool::{ActivationRecordPool, Growth, PoolConfig};
//!
//! let config = PoolConfig::default().with_growth(Growth::Bounded { capacity: 128 });
//! let pool = ActivationRecordPool::with_default(config)?;
//! let local = pool.local();
//! let mut held = Vec::new();
//! while let Some(mut record) = local.try_acquire() {
//!     record.node = held.len() as u32;
//!     held.push(record);
//! }
//! assert_eq!(held.len(), 128); // back-pressure, not growth
//! drop(held);
//! assert_eq!(pool.metrics().high_water, 128);
//! # Ok::<(), axonal::pool::PoolError>(())
//! ```

mod chunk;
mod local;
mod metrics;
mod record;
mod shared;
mod stack;
pub(crate) mod sync;

use core::fmt;

pub use local::{LocalPool, Pooled};
pub use metrics::PoolMetrics;
pub use record::{ActivationRecord, ActivationRecordPool};
pub use shared::Pool;

/// What a pool does when every record is taken (`#[non_exhaustive]`: other
/// growth policies may come).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Growth {
    /// Allocate another chunk (up to [`PoolConfig::max_records`]).
    Grow,
    /// Never hold more than `capacity` records: `try_acquire` returns `None`.
    Bounded {
        /// The most records the pool will ever hold at once.
        capacity: usize,
    },
}

/// How a pool allocates and caches.
///
/// Later versions may add fields (`#[non_exhaustive]`): start from
/// [`default()`](PoolConfig::default) and set fields with the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Records per chunk (rounded up to a power of two). Larger chunks mean
    /// fewer allocations; smaller ones let `shrink` return memory sooner.
    pub chunk_len: u32,
    /// Free records each thread's magazine caches (at least 2). A bounded
    /// pool may refuse while other threads' magazines hold free records:
    /// keep `threads * magazine` small next to the capacity.
    pub magazine: usize,
    /// What to do when every record is taken.
    pub growth: Growth,
    /// Upper bound on records for a growing pool. It sizes the chunk
    /// directory, allocated up front: 8 bytes per `chunk_len` records.
    /// At most `u32::MAX - 1`.
    pub max_records: usize,
}

impl Default for PoolConfig {
    /// 256-record chunks, 64-record magazines, growing up to 2^20 records
    /// (64 MiB of 64-byte records; a 32 KiB directory).
    fn default() -> Self {
        PoolConfig {
            chunk_len: 256,
            magazine: 64,
            growth: Growth::Grow,
            max_records: 1 << 20,
        }
    }
}

impl PoolConfig {
    /// This configuration with [`chunk_len`](PoolConfig::chunk_len) = `chunk_len`.
    #[must_use]
    pub const fn with_chunk_len(mut self, chunk_len: u32) -> PoolConfig {
        self.chunk_len = chunk_len;
        self
    }

    /// This configuration with [`magazine`](PoolConfig::magazine) = `magazine`.
    #[must_use]
    pub const fn with_magazine(mut self, magazine: usize) -> PoolConfig {
        self.magazine = magazine;
        self
    }

    /// This configuration with [`growth`](PoolConfig::growth) = `growth`.
    #[must_use]
    pub const fn with_growth(mut self, growth: Growth) -> PoolConfig {
        self.growth = growth;
        self
    }

    /// This configuration with [`max_records`](PoolConfig::max_records) = `max_records`: the bound of a growing pool.
    #[must_use]
    pub const fn with_max_records(mut self, max_records: usize) -> PoolConfig {
        self.max_records = max_records;
        self
    }
}

impl PoolConfig {
    /// The most records the pool can hold under this configuration.
    pub fn max_records(&self) -> usize {
        match self.growth {
            Growth::Grow => self.max_records,
            Growth::Bounded { capacity } => capacity,
        }
    }

    fn validated(mut self) -> Result<PoolConfig, PoolError> {
        let invalid = |what| Err(PoolError::InvalidConfig(what));
        if self.chunk_len == 0 || self.chunk_len > 1 << 24 {
            return invalid("chunk_len must be in 1..=2^24");
        }
        self.chunk_len = self.chunk_len.next_power_of_two();
        if self.magazine < 2 || self.magazine > 1 << 16 {
            return invalid("magazine must be in 2..=65536");
        }
        let max = self.max_records();
        if max == 0 {
            return invalid("the pool must be able to hold a record");
        }
        let chunks = max.div_ceil(self.chunk_len as usize);
        if chunks.saturating_mul(self.chunk_len as usize) > (u32::MAX - 1) as usize {
            return invalid("at most u32::MAX - 1 records (rounded up to whole chunks)");
        }
        Ok(self)
    }
}

/// Errors of pool construction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// A [`PoolConfig`] field is out of range; the text says which.
    InvalidConfig(&'static str),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::InvalidConfig(what) => write!(f, "invalid pool configuration: {what}"),
        }
    }
}

impl core::error::Error for PoolError {}
