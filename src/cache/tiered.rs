//! [`BlockCache`]: the sharded index over the three tiers.
//! (Interface fixed; implementation to be written.)

use core::marker::PhantomData;

use super::{BlockBuf, BlockKind, BlockRef, BlockSource, CacheConfig, CacheError, CacheStats};
use super::{Eviction, S3Fifo};

/// A cache of a [`BlockSource`]'s blocks in three tiers (see the
/// [module docs](super)), shared by every thread that reads through it
/// (`&self` methods; `Send + Sync`).
pub struct BlockCache<S: BlockSource, P: Eviction = S3Fifo> {
    source: S,
    config: CacheConfig,
    _policy: PhantomData<P>,
}

/// What a [`BlockCache`] holds, summed block by block (see
/// [`BlockCache::audit`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Residency {
    /// Bytes held in each tier (as [`TierStats::bytes`](super::TierStats::bytes)).
    pub bytes: [u64; 3],
    /// Blocks held in each tier.
    pub blocks: [u64; 3],
    /// Bytes of tier-0 blocks pinned by readers now.
    pub pinned_bytes: u64,
}

impl<S: BlockSource, P: Eviction> BlockCache<S, P> {
    /// A cache of `source`'s blocks within `config`'s budgets.
    pub fn new(source: S, config: CacheConfig) -> Result<Self, CacheError> {
        config.validate()?;
        let _ = (&source, PhantomData::<P>);
        todo!()
    }

    /// Block `key`, pinned while the returned [`BlockRef`] lives: from tier
    /// 0 (a hit allocates nothing and takes one shard's shared lock), else
    /// promoted from tier 1 or 2, else read from the source.
    pub fn get(&self, key: S::Key) -> Result<BlockRef, CacheError> {
        let _ = key;
        todo!()
    }

    /// Block `key` if tier 0 holds it (counted as a hit), without loading.
    pub fn get_resident(&self, key: S::Key) -> Option<BlockRef> {
        let _ = key;
        todo!()
    }

    /// Puts a block the caller made into tier 0 as block `key` (replacing
    /// any copy in any tier) and returns it pinned.
    pub fn insert(
        &self,
        key: S::Key,
        kind: BlockKind,
        buf: BlockBuf,
    ) -> Result<BlockRef, CacheError> {
        let _ = (key, kind, buf);
        todo!()
    }

    /// Removes block `key` from every tier (a reader holding it keeps its
    /// copy). Returns whether any tier held it.
    pub fn invalidate(&self, key: S::Key) -> bool {
        let _ = key;
        todo!()
    }

    /// Waits until every spilled block queued for writing is on disk.
    pub fn flush(&self) -> Result<(), CacheError> {
        todo!()
    }

    /// The counters, summed over shards.
    pub fn stats(&self) -> CacheStats {
        todo!()
    }

    /// Walks every block of every shard (each under its lock) and sums what
    /// is held: for tests and audits; [`stats`](Self::stats) is the cheap
    /// way.
    pub fn audit(&self) -> Residency {
        todo!()
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }
}
