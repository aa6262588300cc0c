//! Serving metrics cheap enough to stay on.
//!
//! Tuning a recall service needs its latency distribution (not a mean), how
//! far its latency predictions miss, how full its batches run, whether its
//! pools allocate, and, where the machine lets us count, how the kernels use
//! the caches. [`SpreadingPerformanceMetrics`] gathers these:
//!
//! - recording a query or a batch is a few adds into fixed-size histograms
//!   ([`Histogram`], [`ErrorHistogram`]): no allocation, no lock, no atomic;
//!   each thread keeps its own and [`merge`](SpreadingPerformanceMetrics::merge)s
//!   them for a report;
//! - pool figures come from a [`PoolMetrics`]
//!   snapshot, hardware figures from [`HardwareCounters`] (`std`, Linux
//!   `perf_event_open`), reported as unavailable, never as an error, where
//!   they cannot be read.

mod cache;
#[cfg(feature = "std")]
mod counters;
mod histogram;

use core::time::Duration;

pub use cache::{CacheCounts, Unavailable};
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use counters::HardwareCounters;
pub use histogram::{ErrorHistogram, Histogram};

use crate::pool::PoolMetrics;

/// What a recall service did, per thread or merged (see the
/// [module docs](self)).
///
/// ```
/// use axonal::metrics::SpreadingPerformanceMetrics;
/// use core::time::Duration;
///
/// let mut m = SpreadingPerformanceMetrics::new();
/// for us in [180, 210, 950, 200] {
///     // A query of 4 in a batch sized for 8; predicted 200 us.
///     m.record_query(Duration::from_micros(us), Some(Duration::from_micros(200)));
/// }
/// m.record_batch(4, 8);
/// let report = m.report();
/// assert_eq!(report.queries, 4);
/// assert_eq!(report.batch_utilisation, Some(0.5));
/// assert!(report.p99.unwrap() >= Duration::from_micros(950));
/// # #[cfg(feature = "std")]
/// println!("{report}");
/// ```
///
/// Later versions may add fields (`#[non_exhaustive]`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SpreadingPerformanceMetrics {
    /// Query latencies, nanoseconds.
    pub latency: Histogram,
    /// Latency predictions against the measured latencies.
    pub prediction_error: ErrorHistogram,
    /// Batches run.
    pub batches: u64,
    /// Queries run in them.
    pub batched_queries: u64,
    /// The batch sizes they were run at (a batch sent with fewer queries
    /// than its size is partly empty).
    pub batch_slots: u64,
    /// Queries stopped early by a deadline or gate.
    pub truncated: u64,
    /// Queries that ended after their deadline.
    pub deadline_misses: u64,
    /// The latest pool snapshot, if a pool is in use.
    pub pool: Option<PoolMetrics>,
    /// Cache counters accumulated over measured work (`None` fields: not
    /// readable on this machine, or never recorded: without `std` there are
    /// no [`HardwareCounters`] to read, so these stay `None` unless counts
    /// from elsewhere are recorded).
    pub cache: CacheCounts,
    /// Why cache counters are unavailable, if they are.
    pub cache_unavailable: Option<Unavailable>,
    /// The latest snapshot of the block cache the queries read through, if
    /// they ran out of core (`cache::OutOfCoreGraph::stats`).
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub block_cache: Option<crate::cache::CacheStats>,
}

impl SpreadingPerformanceMetrics {
    /// Empty metrics.
    pub fn new() -> SpreadingPerformanceMetrics {
        SpreadingPerformanceMetrics::default()
    }

    /// Records a query's latency and, if one was made, its prediction.
    #[inline]
    pub fn record_query(&mut self, latency: Duration, predicted: Option<Duration>) {
        self.latency
            .record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
        if let Some(predicted) = predicted {
            self.prediction_error
                .record(predicted.as_secs_f64(), latency.as_secs_f64());
        }
    }

    /// Records a query's deadline outcome.
    #[inline]
    pub fn record_deadline(&mut self, truncated: bool, missed: bool) {
        self.truncated += u64::from(truncated);
        self.deadline_misses += u64::from(missed);
    }

    /// Records a batch of `queries` queries run at batch size `size`.
    #[inline]
    pub fn record_batch(&mut self, queries: u32, size: u32) {
        self.batches += 1;
        self.batched_queries += u64::from(queries);
        self.batch_slots += u64::from(size.max(queries));
    }

    /// Keeps a pool's latest snapshot.
    pub fn record_pool(&mut self, pool: PoolMetrics) {
        self.pool = Some(pool);
    }

    /// Adds cache counts measured over some work (e.g.
    /// `counters.read().since(&before)`), and why counters are missing.
    pub fn record_cache(&mut self, counts: CacheCounts, unavailable: Option<Unavailable>) {
        self.cache = if self.cache == CacheCounts::default() {
            counts
        } else {
            self.cache.plus(&counts)
        };
        self.cache_unavailable = self.cache_unavailable.or(unavailable);
    }

    /// Keeps a block cache's latest snapshot (queries that ran through a
    /// `cache::BlockCache`, out of core).
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn record_block_cache(&mut self, stats: crate::cache::CacheStats) {
        self.block_cache = Some(stats);
    }

    /// Adds another thread's metrics (the pool and block-cache snapshots
    /// kept are `other`'s if this has none).
    pub fn merge(&mut self, other: &SpreadingPerformanceMetrics) {
        self.latency.merge(&other.latency);
        self.prediction_error.merge(&other.prediction_error);
        self.batches += other.batches;
        self.batched_queries += other.batched_queries;
        self.batch_slots += other.batch_slots;
        self.truncated += other.truncated;
        self.deadline_misses += other.deadline_misses;
        self.pool = self.pool.or(other.pool);
        self.record_cache(other.cache, other.cache_unavailable);
        #[cfg(feature = "cache")]
        if self.block_cache.is_none() {
            self.block_cache.clone_from(&other.block_cache);
        }
    }

    /// The figures, computed.
    pub fn report(&self) -> MetricsReport {
        let at = |q| self.latency.quantile(q).map(Duration::from_nanos);
        let per_batch = |n: u64| (self.batches > 0).then(|| n as f64 / self.batches as f64);
        MetricsReport {
            queries: self.latency.count(),
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: self.latency.max().map(Duration::from_nanos),
            predictions: self.prediction_error.count(),
            predicted_within_10pct: self.prediction_error.fraction_within(10),
            predicted_within_20pct: self.prediction_error.fraction_within(20),
            mean_batch: per_batch(self.batched_queries),
            batch_utilisation: (self.batch_slots > 0)
                .then(|| self.batched_queries as f64 / self.batch_slots as f64),
            truncated: self.truncated,
            deadline_misses: self.deadline_misses,
            pool_hit_rate: self.pool.map(|p| p.hit_rate()),
            pool_high_water: self.pool.map(|p| p.high_water),
            cache_miss_rate: self.cache.miss_rate(),
            prefetch_useful_rate: self.cache.prefetch_useful_rate(),
            #[cfg(feature = "cache")]
            block_hit_ratio: self.block_cache.as_ref().and_then(|c| c.hit_ratio()),
            #[cfg(not(feature = "cache"))]
            block_hit_ratio: None,
            #[cfg(feature = "cache")]
            block_prefetch_accuracy: self
                .block_cache
                .as_ref()
                .and_then(|c| c.prefetch.accuracy()),
            #[cfg(not(feature = "cache"))]
            block_prefetch_accuracy: None,
        }
    }
}

/// [`SpreadingPerformanceMetrics`] as figures (`None`: nothing recorded, or
/// not measurable here).
///
/// Later versions may add figures (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct MetricsReport {
    /// Queries recorded.
    pub queries: u64,
    /// Latency percentiles (within 6.25%, never below the true value).
    pub p50: Option<Duration>,
    /// 95th percentile.
    pub p95: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// Largest latency.
    pub max: Option<Duration>,
    /// Predictions recorded.
    pub predictions: u64,
    /// Share of predictions within 10% of the latency.
    pub predicted_within_10pct: f64,
    /// Share within 20%.
    pub predicted_within_20pct: f64,
    /// Mean queries per batch.
    pub mean_batch: Option<f64>,
    /// Queries per batch slot: 1.0 when every batch ran full.
    pub batch_utilisation: Option<f64>,
    /// Queries stopped early.
    pub truncated: u64,
    /// Queries past their deadline.
    pub deadline_misses: u64,
    /// Pool acquires served without allocating.
    pub pool_hit_rate: Option<f64>,
    /// Most pool records out at once.
    pub pool_high_water: Option<u64>,
    /// Last-level cache misses per reference.
    pub cache_miss_rate: Option<f64>,
    /// Share of L1 data prefetches that brought a line in.
    pub prefetch_useful_rate: Option<f64>,
    /// Lookups of the block cache (out-of-core queries) answered by a tier
    /// of the cache, not the file.
    pub block_hit_ratio: Option<f64>,
    /// Blocks the block cache's prefetcher loaded that a reader then used.
    pub block_prefetch_accuracy: Option<f64>,
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl core::fmt::Display for MetricsReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = |v: Option<Duration>| v.map_or("-".into(), |v| format!("{v:.1?}"));
        let pct = |v: Option<f64>| v.map_or("unavailable".into(), |v| format!("{:.1}%", 100.0 * v));
        writeln!(
            f,
            "queries {}: latency P50 {} P95 {} P99 {} max {}",
            self.queries,
            d(self.p50),
            d(self.p95),
            d(self.p99),
            d(self.max)
        )?;
        if self.predictions > 0 {
            writeln!(
                f,
                "predictions {}: {:.1}% within 10%, {:.1}% within 20%",
                self.predictions,
                100.0 * self.predicted_within_10pct,
                100.0 * self.predicted_within_20pct
            )?;
        }
        if let Some(mean) = self.mean_batch {
            writeln!(
                f,
                "batches: mean {mean:.1} queries, utilisation {}",
                pct(self.batch_utilisation)
            )?;
        }
        writeln!(
            f,
            "truncated {}, deadline misses {}",
            self.truncated, self.deadline_misses
        )?;
        write!(
            f,
            "pool hit rate {}, high water {}; cache miss rate {}, prefetch useful {}",
            pct(self.pool_hit_rate),
            self.pool_high_water.map_or("-".into(), |h| h.to_string()),
            pct(self.cache_miss_rate),
            pct(self.prefetch_useful_rate)
        )?;
        if self.block_hit_ratio.is_some() {
            write!(
                f,
                "\nblock cache: hit ratio {}, prefetch accuracy {}",
                pct(self.block_hit_ratio),
                pct(self.block_prefetch_accuracy)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_what_was_recorded_and_merges_threads() {
        let mut a = SpreadingPerformanceMetrics::new();
        let mut b = SpreadingPerformanceMetrics::new();
        for i in 1..=100u64 {
            let m = if i % 2 == 0 { &mut a } else { &mut b };
            m.record_query(
                Duration::from_micros(i * 10),
                Some(Duration::from_micros(500)),
            );
            m.record_deadline(i > 95, i == 100);
        }
        a.record_batch(8, 8);
        b.record_batch(2, 8);
        a.merge(&b);
        let r = a.report();
        assert_eq!(r.queries, 100);
        // Exact p50 = 500 us, p95 = 950 us, p99 = 990 us; within 1/16 above.
        for (got, exact) in [(r.p50, 500), (r.p95, 950), (r.p99, 990)] {
            let got = got.unwrap().as_nanos() as f64;
            let exact = exact as f64 * 1e3;
            assert!(got >= exact && got <= exact * 1.0625, "{got} vs {exact}");
        }
        assert_eq!(r.max, Some(Duration::from_micros(1000)));
        // Predicted 500 us: within 10% for 455-555 us latencies.
        assert_eq!(r.predictions, 100);
        assert!(r.predicted_within_10pct > 0.05 && r.predicted_within_10pct < 0.15);
        assert!(r.predicted_within_20pct > r.predicted_within_10pct);
        assert_eq!(r.mean_batch, Some(5.0));
        assert_eq!(r.batch_utilisation, Some(10.0 / 16.0));
        assert_eq!((r.truncated, r.deadline_misses), (5, 1));
        assert_eq!(r.pool_hit_rate, None);
        let empty = SpreadingPerformanceMetrics::new().report();
        assert_eq!(
            (empty.p95, empty.mean_batch, empty.batch_utilisation),
            (None, None, None)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn pool_and_cache_figures_or_unavailable() {
        let mut m = SpreadingPerformanceMetrics::new();
        m.record_pool(PoolMetrics {
            acquires: 10,
            magazine_hits: 8,
            global_hits: 1,
            misses: 1,
            high_water: 7,
            ..PoolMetrics::default()
        });
        m.record_cache(
            CacheCounts {
                references: Some(100),
                misses: Some(10),
                ..CacheCounts::default()
            },
            Some(Unavailable::Errno(2)),
        );
        m.record_cache(
            CacheCounts {
                references: Some(100),
                misses: Some(30),
                ..CacheCounts::default()
            },
            None,
        );
        let r = m.report();
        assert_eq!(r.pool_hit_rate, Some(0.9));
        assert_eq!(r.pool_high_water, Some(7));
        assert_eq!(r.cache_miss_rate, Some(0.2));
        assert_eq!(r.prefetch_useful_rate, None);
        assert_eq!(m.cache_unavailable, Some(Unavailable::Errno(2)));
        let text = r.to_string();
        assert!(
            !text.contains("predictions") && !text.contains("batches"),
            "{text}"
        );
        assert!(text.contains("pool hit rate 90.0%"), "{text}");
        assert!(text.contains("prefetch useful unavailable"), "{text}");
    }
}
