//! A tiered block cache: RAM, compressed RAM, disk (`cache` feature).
//!
//! An engine whose graph is several times its memory still has to answer
//! queries in milliseconds. A memory map leaves the footprint to the
//! kernel's page cache, which neither knows the budget the engine set nor
//! which blocks a query will need next. [`BlockCache`] holds fixed blocks
//! of a [`BlockSource`] (node-range blocks of an `.axg` file's CSR
//! sections and embedding rows, or an engine's own data) in three tiers,
//! each with a byte budget that holds at every instant:
//!
//! | tier | holds | a hit costs |
//! |---|---|---|
//! | 0 | decoded blocks in RAM: what readers read | a shard's shared lock and a reference count |
//! | 1 | compressed blocks in RAM ([`encode_block`]: a filter chosen per block, then LZ4) | decompression (GB/s) and a promotion |
//! | 2 | compressed blocks in a spill file, each with an xxh3 checksum, written behind | a positioned read and decompression |
//!
//! A block leaving tier 0 is compressed into tier 1 if it was read again
//! since it was loaded (a block read once is dropped: most are not read
//! again soon, and encoding them would cost more than reading them again),
//! one leaving tier 1 is written to tier 2, one leaving tier 2 is dropped;
//! a hit in tier 1 or 2
//! promotes the block back to tier 0; a miss everywhere reads the source
//! with a positioned read (the process's memory is the cache's, not the
//! page cache's).
//!
//! **Eviction** from tier 0 follows an [`Eviction`] policy: [`S3Fifo`] by
//! default, [`Lru`] or [`Clock`] as chosen. A block a reader holds (a live
//! [`BlockRef`]) is *pinned*: no policy evicts it, and a block that would
//! need the space pinned blocks hold is refused ([`CacheError::Budget`]),
//! never squeezed in over budget.
//!
//! **Concurrency**: the index is sharded by key hash; a tier-0 hit takes
//! one shard's shared lock, bumps the policy's atomic counter and clones a
//! reference count: no allocation, no global lock. Misses, promotions and
//! evictions take one shard's exclusive lock; the byte budgets are global
//! atomic counters, so one small budget serves many shards.
//!
//! **Integrity**: a spilled block whose checksum fails (a flipped byte, a
//! truncated file) is dropped, counted
//! ([`CacheStats::checksum_failures`]) and read from the source again:
//! never returned. [`decode_block`] takes any bytes (it is a fuzz target)
//! and returns a block or a typed error.

mod axg;
mod block;
mod budget;
mod codec;
mod config;
mod counter;
mod error;
mod out_of_core;
mod policy;
mod prefetch;
mod shard;
mod source;
mod spill;
mod stats;
mod tiered;

pub use axg::{AxgBlock, AxgBlocks, DEFAULT_BLOCK_EDGES};
pub use block::{BlockBuf, BlockKind, BlockRef};
pub use codec::{Filter, decode_block, encode_block, encode_with, encoded_filter};
pub use config::{CacheConfig, SpillConfig};
pub use error::CacheError;
pub use out_of_core::{OutOfCoreGraph, OutOfCoreSpreader};
pub use policy::{Clock, Eviction, Lru, S3Fifo};
pub use source::BlockSource;
pub use stats::{CacheStats, KindCompression, PrefetchStats, TierStats};
pub use tiered::{BlockCache, Residency};
