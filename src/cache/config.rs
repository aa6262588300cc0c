//! How large each tier is, and where the spill file goes.

use std::path::PathBuf;

use super::CacheError;

/// Budgets of a [`BlockCache`](super::BlockCache)'s tiers, in bytes.
///
/// ```
/// use axonal::cache::CacheConfig;
///
/// // 256 MiB: three quarters decoded, a quarter compressed.
/// let config = CacheConfig::with_budget(256 << 20);
/// assert_eq!(config.memory + config.compressed, 256 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Tier 0: bytes of decoded blocks (what readers read).
    pub memory: usize,
    /// Tier 1: bytes of compressed blocks in RAM (0: no tier 1).
    pub compressed: usize,
    /// Tier 2: the spill file (`None`: no tier 2; blocks leaving tier 1
    /// are dropped).
    pub spill: Option<SpillConfig>,
    /// Shards of the index (a power of two; 0: four per core). Fewer are
    /// used when the budget holds few blocks.
    pub shards: usize,
}

/// Where and how large the spill file (tier 2) is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpillConfig {
    /// The folder the spill file is created in (a new file, removed when
    /// the cache is dropped).
    pub dir: PathBuf,
    /// Bytes of the file, at most.
    pub capacity: u64,
    /// Bytes of a segment: the unit written at once (coalesced) and
    /// recycled at once (oldest first).
    pub segment: usize,
    /// Segments waiting to be written, at most (their bytes are RAM the
    /// cache holds besides its tiers).
    pub queue: usize,
}

impl SpillConfig {
    /// A spill file of at most `capacity` bytes in `dir`: 4 MiB segments,
    /// two waiting at most.
    pub fn new(dir: impl Into<PathBuf>, capacity: u64) -> SpillConfig {
        SpillConfig {
            dir: dir.into(),
            capacity,
            segment: 4 << 20,
            queue: 2,
        }
    }
}

impl CacheConfig {
    /// Tier 0 only, `memory` bytes.
    pub fn new(memory: usize) -> CacheConfig {
        CacheConfig {
            memory,
            compressed: 0,
            spill: None,
            shards: 0,
        }
    }

    /// `budget` bytes of RAM: three quarters for decoded blocks, a quarter
    /// for compressed ones.
    pub fn with_budget(budget: usize) -> CacheConfig {
        let compressed = budget / 4;
        CacheConfig {
            compressed,
            ..CacheConfig::new(budget - compressed)
        }
    }

    /// This configuration with `bytes` of compressed tier.
    pub fn compressed(self, bytes: usize) -> CacheConfig {
        CacheConfig {
            compressed: bytes,
            ..self
        }
    }

    /// This configuration with a spill file.
    pub fn spill(self, spill: SpillConfig) -> CacheConfig {
        CacheConfig {
            spill: Some(spill),
            ..self
        }
    }

    /// This configuration with `shards` shards (0: chosen).
    pub fn shards(self, shards: usize) -> CacheConfig {
        CacheConfig { shards, ..self }
    }

    /// RAM the cache may hold: both RAM tiers and the spill file's write
    /// queue.
    pub fn ram_bytes(&self) -> usize {
        let queue = self.spill.as_ref().map_or(0, |s| s.segment * s.queue);
        self.memory + self.compressed + queue
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), CacheError> {
        let bad = |field, expected| Err(CacheError::Config { field, expected });
        if self.memory == 0 {
            return bad("memory", "at least one byte");
        }
        if self.shards != 0 && !self.shards.is_power_of_two() {
            return bad("shards", "0 or a power of two");
        }
        match &self.spill {
            Some(spill) => spill.validate(),
            None => Ok(()),
        }
    }
}

impl SpillConfig {
    /// Checks the values.
    pub(crate) fn validate(&self) -> Result<(), CacheError> {
        let bad = |field, expected| Err(CacheError::Config { field, expected });
        if self.segment < 4096 || self.segment > u32::MAX as usize {
            return bad("spill.segment", "between 4 KiB and 4 GiB");
        }
        if self.queue == 0 {
            return bad("spill.queue", "at least 1");
        }
        if self.capacity < 2 * self.segment as u64 {
            return bad("spill.capacity", "at least two segments");
        }
        if self.capacity / self.segment as u64 > u64::from(u32::MAX) {
            return bad("spill.capacity", "at most 2^32 - 1 segments");
        }
        Ok(())
    }
}
