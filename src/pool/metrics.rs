//! Pool counters and their snapshot.
//!
//! Counting every acquire in a shared atomic would put one contended cache
//! line on the path magazines exist to keep private. So a [`LocalPool`]
//! counts its own acquires, releases and hits, and adds them to the shared
//! counters whenever it trades with the shared list, on
//! [`LocalPool::flush`] and when dropped; everything else is counted where
//! it happens. A snapshot is exact for what has been flushed.
//!
//! [`LocalPool`]: super::LocalPool
//! [`LocalPool::flush`]: super::LocalPool::flush

use super::sync::{AtomicU64, Ordering};

/// A snapshot of a pool's counters ([`Pool::metrics`](super::Pool::metrics)).
///
/// Later versions may add fields (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolMetrics {
    /// Records handed out.
    pub acquires: u64,
    /// Records given back.
    pub releases: u64,
    /// Acquires served by the thread's own magazine.
    pub magazine_hits: u64,
    /// Acquires that refilled the magazine from the shared free list.
    pub global_hits: u64,
    /// Acquires that found both empty and allocated a new chunk.
    pub misses: u64,
    /// Acquires refused (`try_acquire` on a full bounded pool).
    pub refused: u64,
    /// Records in use: `acquires - releases`.
    pub in_use: u64,
    /// Records off the shared free list now: in use or cached in a
    /// thread's magazine. Exact at any moment (not subject to flushing).
    pub checked_out: u64,
    /// The most records ever off the shared free list at once: the pool's
    /// peak demand, magazines included. A bounded pool keeps it at or
    /// below its capacity.
    pub high_water: u64,
    /// Chunks allocated now.
    pub chunks: u64,
    /// Chunks freed by `shrink`.
    pub chunks_freed: u64,
    /// Records allocated now.
    pub records: u64,
    /// Bytes held by the records and their links.
    pub bytes_reserved: u64,
}

impl PoolMetrics {
    /// Share of acquires served without allocating (magazine or shared
    /// list); 1.0 before the first acquire.
    pub fn hit_rate(&self) -> f64 {
        if self.acquires == 0 {
            1.0
        } else {
            (self.magazine_hits + self.global_hits) as f64 / self.acquires as f64
        }
    }
}

/// What one `LocalPool` counted since it last flushed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalCounts {
    pub(crate) acquires: u64,
    pub(crate) releases: u64,
    pub(crate) magazine_hits: u64,
    pub(crate) global_hits: u64,
    pub(crate) misses: u64,
    pub(crate) refused: u64,
}

/// The shared counters.
#[derive(Default)]
pub(crate) struct Counters {
    acquires: AtomicU64,
    releases: AtomicU64,
    magazine_hits: AtomicU64,
    global_hits: AtomicU64,
    misses: AtomicU64,
    refused: AtomicU64,
    high_water: AtomicU64,
    chunks_freed: AtomicU64,
}

impl Counters {
    pub(crate) fn add(&self, c: LocalCounts) {
        for (counter, n) in [
            (&self.acquires, c.acquires),
            (&self.releases, c.releases),
            (&self.magazine_hits, c.magazine_hits),
            (&self.global_hits, c.global_hits),
            (&self.misses, c.misses),
            (&self.refused, c.refused),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn note_checked_out(&self, records: u64) {
        self.high_water.fetch_max(records, Ordering::Relaxed);
    }

    pub(crate) fn note_shrink(&self, chunks: u64) {
        self.chunks_freed.fetch_add(chunks, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(
        &self,
        chunks: u64,
        records: u64,
        checked_out: u64,
        bytes_reserved: u64,
    ) -> PoolMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (acquires, releases) = (get(&self.acquires), get(&self.releases));
        PoolMetrics {
            acquires,
            releases,
            magazine_hits: get(&self.magazine_hits),
            global_hits: get(&self.global_hits),
            misses: get(&self.misses),
            refused: get(&self.refused),
            in_use: acquires.saturating_sub(releases),
            checked_out,
            high_water: get(&self.high_water).max(checked_out),
            chunks,
            chunks_freed: get(&self.chunks_freed),
            records,
            bytes_reserved,
        }
    }
}
