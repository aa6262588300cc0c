//! What a cache did: [`CacheStats`].
//! (Fields fixed; `Display` and the counting to be written.)

use core::fmt;

use super::BlockKind;

/// One tier's contents and traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierStats {
    /// Bytes held now (tier 0: decoded blocks' storage; tier 1: encoded
    /// bytes; tier 2: bytes of live segments on disk).
    pub bytes: u64,
    /// Blocks held now.
    pub blocks: u64,
    /// The tier's budget in bytes.
    pub budget: u64,
    /// Lookups this tier answered.
    pub hits: u64,
    /// Blocks that left this tier for the next (or were dropped, from the
    /// last).
    pub evictions: u64,
}

/// Compression of one [`BlockKind`] in tier 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KindCompression {
    /// Blocks encoded.
    pub blocks: u64,
    /// Their decoded bytes.
    pub raw_bytes: u64,
    /// Their encoded bytes.
    pub encoded_bytes: u64,
}

impl KindCompression {
    /// `raw_bytes / encoded_bytes` (`None` before any block).
    pub fn ratio(&self) -> Option<f64> {
        (self.encoded_bytes > 0).then(|| self.raw_bytes as f64 / self.encoded_bytes as f64)
    }
}

/// What the prefetcher did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PrefetchStats {
    /// Blocks it loaded.
    pub issued: u64,
    /// Of those, blocks a reader asked for before they were evicted.
    pub used: u64,
    /// Of those, blocks evicted before any reader asked for them.
    pub wasted: u64,
}

impl PrefetchStats {
    /// `used / issued` (`None` before any).
    pub fn accuracy(&self) -> Option<f64> {
        (self.issued > 0).then(|| self.used as f64 / self.issued as f64)
    }
}

/// What a [`BlockCache`](super::BlockCache) holds and did since it was made.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Tier 0 (decoded, RAM), tier 1 (compressed, RAM), tier 2 (spill file).
    pub tiers: [TierStats; 3],
    /// Lookups no tier answered: read from the source.
    pub misses: u64,
    /// Bytes read from the source.
    pub source_bytes: u64,
    /// Blocks moved up into tier 0 from tier 1 or 2 on a hit.
    pub promotions: u64,
    /// Compression in tier 1, by [`BlockKind`] (indexed as
    /// [`BlockKind::ALL`]).
    pub compression: [KindCompression; 5],
    /// Blocks written to the spill file.
    pub spill_writes: u64,
    /// Bytes written to the spill file.
    pub spill_write_bytes: u64,
    /// `write` calls on the spill file (coalescing: fewer than blocks).
    pub spill_write_calls: u64,
    /// Blocks read back from the spill file.
    pub spill_reads: u64,
    /// Spilled blocks whose checksum (or frame) did not match: dropped and
    /// read from the source again, never returned.
    pub checksum_failures: u64,
    /// Insertions refused because every resident block was pinned.
    pub pinned_refusals: u64,
    /// The prefetcher.
    pub prefetch: PrefetchStats,
}

impl CacheStats {
    /// Lookups answered by any tier, over all lookups (`None` before any).
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits: u64 = self.tiers.iter().map(|t| t.hits).sum();
        let all = hits + self.misses;
        (all > 0).then(|| hits as f64 / all as f64)
    }

    /// The compression of blocks of `kind`.
    pub fn compression_of(&self, kind: BlockKind) -> KindCompression {
        self.compression[usize::from(kind.code())]
    }
}

impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = f;
        todo!()
    }
}
