//! What a cache did: [`CacheStats`].
//!
//! Plain numbers, copied out of the cache's per-shard atomic counters by
//! [`BlockCache::stats`](super::BlockCache::stats), so that reading them
//! costs the cache nothing and a report can be printed, diffed or merged
//! into a query's metrics.

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
    /// Bytes of tier 0's budget lent to memory held beside the cache (an
    /// out-of-core graph's spreaders' workspaces); tier 0's `bytes` count
    /// blocks only.
    pub outside: u64,
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

/// `part / whole` as a percentage for reports (`-` before any).
struct Percent(Option<f64>);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{:.1}%", 100.0 * r),
            None => f.write_str("-"),
        }
    }
}

/// A byte count with a binary unit, for reports.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

/// A multi-line report:
///
/// ```text
/// tier 0 (decoded):    12.0 MiB of 20.0 MiB, 190 blocks, 9811 hits, 402 evictions (8.0 MiB of the budget lent outside)
/// tier 1 (compressed): 3.9 MiB of 4.0 MiB, 301 blocks, 150 hits, 101 evictions
/// tier 2 (spill file): 0 B of 0 B, 0 blocks, 0 hits, 0 evictions
/// lookups: 10200, hit ratio 97.6%, 239 misses (15.0 MiB read), 155 promotions
/// compression: sorted u32 2.58x (120 blocks), f32 1.09x (80 blocks)
/// spill: 0 writes (0 B in 0 calls), 0 reads, 0 checksum failures
/// pinned refusals: 0
/// prefetch: 0 issued, 0 used, 0 wasted, accuracy -
/// ```
impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = ["decoded", "compressed", "spill file"];
        for (i, (t, name)) in self.tiers.iter().zip(names).enumerate() {
            let label = format!("tier {i} ({name}):");
            write!(
                f,
                "{label:<21}{} of {}, {} blocks, {} hits, {} evictions",
                Bytes(t.bytes),
                Bytes(t.budget),
                t.blocks,
                t.hits,
                t.evictions
            )?;
            if i == 0 && self.outside > 0 {
                write!(f, " ({} of the budget lent outside)", Bytes(self.outside))?;
            }
            writeln!(f)?;
        }
        let hits: u64 = self.tiers.iter().map(|t| t.hits).sum();
        writeln!(
            f,
            "lookups: {}, hit ratio {}, {} misses ({} read), {} promotions",
            hits + self.misses,
            Percent(self.hit_ratio()),
            self.misses,
            Bytes(self.source_bytes),
            self.promotions
        )?;
        f.write_str("compression:")?;
        let mut any = false;
        for (kind, c) in BlockKind::ALL.iter().zip(&self.compression) {
            if let Some(ratio) = c.ratio() {
                let sep = if any { "," } else { "" };
                write!(f, "{sep} {} {ratio:.2}x ({} blocks)", kind.name(), c.blocks)?;
                any = true;
            }
        }
        writeln!(f, "{}", if any { "" } else { " -" })?;
        writeln!(
            f,
            "spill: {} writes ({} in {} calls), {} reads, {} checksum failures",
            self.spill_writes,
            Bytes(self.spill_write_bytes),
            self.spill_write_calls,
            self.spill_reads,
            self.checksum_failures
        )?;
        writeln!(f, "pinned refusals: {}", self.pinned_refusals)?;
        let p = &self.prefetch;
        writeln!(
            f,
            "prefetch: {} issued, {} used, {} wasted, accuracy {}",
            p.issued,
            p.used,
            p.wasted,
            Percent(p.accuracy())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_every_figure() {
        let mut stats = CacheStats::default();
        stats.tiers[0] = TierStats {
            bytes: 3 << 20,
            blocks: 48,
            budget: 4 << 20,
            hits: 900,
            evictions: 7,
        };
        stats.misses = 100;
        stats.compression[2] = KindCompression {
            blocks: 4,
            raw_bytes: 1000,
            encoded_bytes: 400,
        };
        stats.checksum_failures = 2;
        let report = stats.to_string();
        assert!(report.contains("tier 0 (decoded):    3.0 MiB of 4.0 MiB, 48 blocks, 900 hits"));
        assert!(report.contains("hit ratio 90.0%, 100 misses"));
        assert!(report.contains("compression: sorted u32 2.50x (4 blocks)\n"));
        assert!(report.contains("2 checksum failures"));
        assert!(report.contains("accuracy -"));
        assert_eq!(report.lines().count(), 8);
        assert!(
            CacheStats::default()
                .to_string()
                .contains("compression: -\n")
        );
        stats.outside = 1 << 20;
        assert!(
            stats
                .to_string()
                .contains("900 hits, 7 evictions (1.0 MiB of the budget lent outside)\n")
        );
    }
}
