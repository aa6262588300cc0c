//! Adaptive batching: how many queries to run together (see [`AdaptiveBatcher`]).

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// How the [`AdaptiveBatcher`] controls.
///
/// Later versions may add fields (`#[non_exhaustive]`): start from
/// [`default()`](BatcherConfig::default) and set fields with the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BatcherConfig {
    /// Latency objective of one batch, met by the 95th percentile of a
    /// window's batch latencies.
    pub objective: Duration,
    /// Smallest batch, at least 1.
    pub min_batch: u32,
    /// Largest batch, at least `min_batch`.
    pub max_batch: u32,
    /// Batches measured at one size before it is judged: the minimum
    /// convergence window. At least 1.
    pub window: u32,
    /// Relative throughput gain that counts as better while searching, and
    /// the margin kept below the objective (so that noise at a size close to
    /// the objective does not break it once settled). In `[0, 1)`.
    pub tolerance: f64,
    /// Relative throughput change at the settled size that counts as a
    /// workload shift and starts a new search. Greater than `tolerance`.
    pub shift: f64,
}

impl Default for BatcherConfig {
    /// A 2 ms objective, batches of 1 to 32 ([`MAX_BATCH`](crate::spread::MAX_BATCH)
    /// queries share one pass), windows of 8 batches, 5% tolerance, 25% shift.
    fn default() -> Self {
        BatcherConfig {
            objective: Duration::from_millis(2),
            min_batch: 1,
            max_batch: 32,
            window: 8,
            tolerance: 0.05,
            shift: 0.25,
        }
    }
}

impl BatcherConfig {
    /// This configuration with [`objective`](BatcherConfig::objective) = `objective`.
    #[must_use]
    pub const fn with_objective(mut self, objective: Duration) -> BatcherConfig {
        self.objective = objective;
        self
    }

    /// This configuration with [`min_batch`](BatcherConfig::min_batch) = `min_batch`.
    #[must_use]
    pub const fn with_min_batch(mut self, min_batch: u32) -> BatcherConfig {
        self.min_batch = min_batch;
        self
    }

    /// This configuration with [`max_batch`](BatcherConfig::max_batch) = `max_batch`.
    #[must_use]
    pub const fn with_max_batch(mut self, max_batch: u32) -> BatcherConfig {
        self.max_batch = max_batch;
        self
    }

    /// This configuration with [`window`](BatcherConfig::window) = `window`.
    #[must_use]
    pub const fn with_window(mut self, window: u32) -> BatcherConfig {
        self.window = window;
        self
    }

    /// This configuration with [`tolerance`](BatcherConfig::tolerance) = `tolerance`.
    #[must_use]
    pub const fn with_tolerance(mut self, tolerance: f64) -> BatcherConfig {
        self.tolerance = tolerance;
        self
    }

    /// This configuration with [`shift`](BatcherConfig::shift) = `shift`.
    #[must_use]
    pub const fn with_shift(mut self, shift: f64) -> BatcherConfig {
        self.shift = shift;
        self
    }
}

/// Why a batcher configuration was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatcherError {
    /// A configuration field is out of range.
    InvalidConfig {
        /// The field.
        field: &'static str,
    },
}

impl fmt::Display for BatcherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatcherError::InvalidConfig { field } => {
                write!(f, "invalid batcher configuration: `{field}` out of range")
            }
        }
    }
}

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl std::error::Error for BatcherError {}

/// What the machine and the workload say about a good first batch size.
///
/// Three estimates, each the number of queries one resource can serve at
/// once, and their geometric mean is the start ([`BatchSizing::initial`]):
///
/// - **cache**: how many queries' hot state fits in the last-level cache
///   (`cache_bytes / query_bytes`): past it, a batch's lanes spill to memory;
/// - **cores**: one query per core keeps every core busy;
/// - **bandwidth**: how many queries reading at the rate one query reads
///   alone saturate the memory bandwidth (`bandwidth / query_bandwidth`):
///   past it, a shared pass is no longer memory-bound and sharing gains
///   little.
///
/// Later versions may add estimates (`#[non_exhaustive]`): make one with
/// [`BatchSizing::new`] or [`Tuning::batch_sizing`](crate::tuning::Tuning::batch_sizing).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BatchSizing {
    /// Cores that run queries.
    pub cores: u32,
    /// Last-level cache, bytes (e.g. `Topology::cache_size(3)`).
    pub cache_bytes: u64,
    /// Hot state of one query in a batch, bytes (e.g. 4 bytes per node it
    /// reaches).
    pub query_bytes: u64,
    /// Memory bandwidth, bytes per second (e.g. measured by the tuning bench).
    pub bandwidth: f64,
    /// Bytes per second one query reads when it runs alone.
    pub query_bandwidth: f64,
}

impl BatchSizing {
    /// The estimates' inputs: `cores` running queries, a last-level cache of
    /// `cache_bytes`, `query_bytes` of hot state per query, and bandwidths
    /// (bytes per second) of the memory and of one query alone.
    pub const fn new(
        cores: u32,
        cache_bytes: u64,
        query_bytes: u64,
        bandwidth: f64,
        query_bandwidth: f64,
    ) -> BatchSizing {
        BatchSizing {
            cores,
            cache_bytes,
            query_bytes,
            bandwidth,
            query_bandwidth,
        }
    }

    /// The three estimates: cache, cores, bandwidth (each at least 1).
    pub fn estimates(&self) -> [f64; 3] {
        let ratio = |a: f64, b: f64| {
            let r = a / b;
            if r.is_finite() { r.max(1.0) } else { 1.0 }
        };
        [
            ratio(self.cache_bytes as f64, self.query_bytes as f64),
            f64::from(self.cores.max(1)),
            ratio(self.bandwidth, self.query_bandwidth),
        ]
    }

    /// The geometric mean of the [`estimates`](BatchSizing::estimates),
    /// rounded and clamped to `[min, max]`.
    pub fn initial(&self, min: u32, max: u32) -> u32 {
        let [a, b, c] = self.estimates();
        let mean = libm::cbrt(a * b * c);
        (libm::round(mean).min(f64::from(u32::MAX)) as u32).clamp(min, max.max(min))
    }
}

/// What the batcher is doing (`#[non_exhaustive]`: later versions may add
/// phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatcherPhase {
    /// Measuring sizes to find the best.
    Searching,
    /// Holding the best size found, watching for a workload shift.
    Settled,
}

/// A judged window: one size, its throughput and tail latency
/// (`#[non_exhaustive]`: later versions may report more).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct WindowReport {
    /// The batch size measured.
    pub size: u32,
    /// Queries per second over the window.
    pub throughput: f64,
    /// 95th percentile of the window's batch latencies.
    pub p95: Duration,
    /// Whether the p95 met the objective (with the tolerance's margin while
    /// searching).
    pub feasible: bool,
    /// The size chosen for the next window.
    pub next: u32,
}

/// Chooses batch sizes online, toward the most queries per second whose
/// batches still meet a latency objective.
///
/// A batch that shares one pass over the edges (or over the embeddings) buys
/// throughput with latency: the pass costs more per batch and less per query.
/// The best size depends on the machine (cores, caches, bandwidth) and on the
/// workload, and both change, so the [`AdaptiveBatcher`] starts from an
/// estimate ([`BatchSizing`]) and then measures:
///
/// - every size is judged on a **window** of batches (never on one), by its
///   throughput and by the 95th percentile of its batch latencies against the
///   latency objective;
/// - it searches on a log scale, doubling while throughput improves by more
///   than the tolerance, and on every reversal halves its step (in log
///   terms): a bracketing search that **damps itself** and stops when the
///   step no longer changes the size;
/// - settled, it keeps measuring the chosen size and searches again only when
///   the objective is broken or the throughput moves by more than the shift
///   threshold: a **workload shift**. Noise inside those bounds never moves
///   it, so it does not oscillate.
///
/// On the simulated workloads of its tests (+-5% noise, windows of 8) it
/// settles within 12 windows from any start, and again within 12 windows
/// of a shift.
///
/// The batcher never reads a clock: callers report each batch's latency,
/// measured with whatever [`Clock`](crate::batch::Clock) they use, so simulations are
/// exact.
///
/// ```
/// use axonal::batch::{AdaptiveBatcher, BatcherConfig, BatcherPhase};
/// use core::time::Duration;
///
/// let mut batcher = AdaptiveBatcher::new(BatcherConfig::default(), 4)?;
/// for _ in 0..200 {
///     let size = batcher.size();
///     // A batch costs 200 us + 50 us per query (the objective is 2 ms).
///     let took = Duration::from_micros(200 + 50 * u64::from(size));
///     batcher.record(size, took);
/// }
/// assert_eq!(batcher.phase(), BatcherPhase::Settled);
/// assert_eq!(batcher.size(), 32); // 1.8 ms: the largest allowed, in budget
/// # Ok::<(), axonal::batch::BatcherError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveBatcher {
    config: BatcherConfig,
    size: u32,
    phase: BatcherPhase,
    /// The window being measured: latencies of batches of `size`.
    latencies: Vec<Duration>,
    queries: u64,
    total: Duration,
    /// Search state: step as a factor (> 1), direction, the best feasible
    /// size and its throughput, the smallest size found infeasible.
    step: f64,
    upward: bool,
    best: Option<(u32, f64)>,
    ceiling: u32,
    /// Throughput at the settled size when it settled.
    reference: f64,
    windows: u64,
    last: Option<WindowReport>,
}

/// First search step: double or halve.
const FIRST_STEP: f64 = 2.0;

impl AdaptiveBatcher {
    /// A batcher that starts at `initial` (clamped to the configured range;
    /// [`BatchSizing::initial`] is a good start).
    pub fn new(config: BatcherConfig, initial: u32) -> Result<AdaptiveBatcher, BatcherError> {
        let invalid = |field| Err(BatcherError::InvalidConfig { field });
        if config.objective.is_zero() {
            return invalid("objective");
        }
        if config.min_batch == 0 {
            return invalid("min_batch");
        }
        if config.max_batch < config.min_batch {
            return invalid("max_batch");
        }
        if config.window == 0 {
            return invalid("window");
        }
        if !(config.tolerance >= 0.0 && config.tolerance < 1.0) {
            return invalid("tolerance");
        }
        if !(config.shift > config.tolerance && config.shift.is_finite()) {
            return invalid("shift");
        }
        let mut batcher = AdaptiveBatcher {
            config,
            size: initial.clamp(config.min_batch, config.max_batch),
            phase: BatcherPhase::Searching,
            latencies: Vec::with_capacity(config.window as usize),
            queries: 0,
            total: Duration::ZERO,
            step: FIRST_STEP,
            upward: true,
            best: None,
            ceiling: config.max_batch,
            reference: 0.0,
            windows: 0,
            last: None,
        };
        batcher.restart_search();
        Ok(batcher)
    }

    /// The configuration.
    pub fn config(&self) -> BatcherConfig {
        self.config
    }

    /// The size of the next batch.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Searching or settled.
    pub fn phase(&self) -> BatcherPhase {
        self.phase
    }

    /// Windows judged so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// The last judged window, if any.
    pub fn last_window(&self) -> Option<WindowReport> {
        self.last
    }

    /// Reports a batch of `queries` queries that took `latency`. Batches of
    /// another size than [`size`](AdaptiveBatcher::size) (a partial batch
    /// when the queue ran dry, say) count toward throughput but not toward
    /// the window's latency percentile. Returns the report when this batch
    /// closed a window.
    pub fn record(&mut self, queries: u32, latency: Duration) -> Option<WindowReport> {
        if queries == self.size {
            self.latencies.push(latency);
        }
        self.queries += u64::from(queries);
        self.total += latency;
        if self.latencies.len() < self.config.window as usize {
            return None;
        }
        let report = self.judge();
        self.latencies.clear();
        self.queries = 0;
        self.total = Duration::ZERO;
        self.windows += 1;
        self.last = Some(report);
        Some(report)
    }

    /// Judges the window just measured and chooses the next size.
    fn judge(&mut self) -> WindowReport {
        let size = self.size;
        let secs = self.total.as_secs_f64();
        let throughput = if secs > 0.0 {
            self.queries as f64 / secs
        } else {
            f64::MAX
        };
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let p95 = self.latencies[libm::ceil((n - 1) as f64 * 0.95) as usize];
        let objective = self.config.objective.as_secs_f64();
        let feasible = p95.as_secs_f64() <= objective * (1.0 - self.config.tolerance);
        let next = match self.phase {
            BatcherPhase::Searching => self.search(size, throughput, feasible),
            BatcherPhase::Settled => {
                let broken = p95 > self.config.objective;
                let moved = (throughput / self.reference - 1.0).abs() > self.config.shift;
                if broken || moved {
                    self.restart_search();
                    self.search(size, throughput, feasible)
                } else {
                    size
                }
            }
        };
        self.size = next;
        WindowReport {
            size,
            throughput,
            p95,
            feasible,
            next,
        }
    }

    /// One step of the search after a window at `size`; returns the next size.
    fn search(&mut self, size: u32, throughput: f64, feasible: bool) -> u32 {
        if feasible {
            let better = self
                .best
                .is_none_or(|(_, best)| throughput > best * (1.0 + self.config.tolerance));
            if better {
                self.best = Some((size, throughput));
                if let Some(next) = self.step_from(size) {
                    return next;
                }
            }
        } else {
            // This size and every larger one are out (until the workload shifts).
            self.ceiling = size.saturating_sub(1).max(self.config.min_batch);
            if self.best.is_none() {
                self.upward = false;
                return match self.step_from(size) {
                    Some(next) => next,
                    // Nothing smaller to try: the objective cannot be met;
                    // the smallest batch is the best effort.
                    None => self.settle(size, throughput),
                };
            }
        }
        // Worse or blocked: turn around at the best size with a smaller
        // step. Over the objective on the way up: a smaller step from the
        // best size, still upward, toward the new ceiling.
        let (best, best_throughput) = self.best.unwrap_or((size, throughput));
        let mut turn = feasible || !self.upward;
        loop {
            if turn {
                self.upward = !self.upward;
            }
            turn = true;
            self.step = libm::sqrt(self.step);
            if self.step - 1.0 < 1.0 / f64::from(best) {
                return self.settle(best, best_throughput);
            }
            if let Some(next) = self.step_from(best) {
                return next;
            }
        }
    }

    /// The size one step from `size` in the current direction, if there is
    /// one inside the range (moving at least one query).
    fn step_from(&self, size: u32) -> Option<u32> {
        let s = f64::from(size);
        let next = if self.upward {
            (libm::round(s * self.step) as u32)
                .max(size + 1)
                .min(self.ceiling)
        } else {
            (libm::round(s / self.step) as u32)
                .min(size - 1)
                .max(self.config.min_batch)
        };
        (next != size).then_some(next)
    }

    fn settle(&mut self, size: u32, throughput: f64) -> u32 {
        self.phase = BatcherPhase::Settled;
        self.reference = throughput;
        size
    }

    fn restart_search(&mut self) {
        self.phase = BatcherPhase::Searching;
        self.step = FIRST_STEP;
        self.upward = true;
        self.best = None;
        self.ceiling = self.config.max_batch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Clock, ManualClock};
    use crate::rng::SplitMix64;

    /// A simulated machine: a batch of `b` queries takes
    /// `fixed + per_query * b^sharing` microseconds, the per-query part
    /// growing by `spill_slope` per query past `spill_at` (lanes spilling
    /// out of cache), with +-5% uniform noise.
    #[derive(Clone, Copy)]
    struct Workload {
        fixed: f64,
        per_query: f64,
        sharing: f64,
        spill_at: u32,
        spill_slope: f64,
    }

    impl Workload {
        fn mean_us(&self, b: u32) -> f64 {
            let spill = 1.0 + f64::from(b.saturating_sub(self.spill_at)) * self.spill_slope;
            self.fixed + self.per_query * libm::pow(f64::from(b), self.sharing) * spill
        }

        fn sample(&self, b: u32, rng: &mut SplitMix64) -> Duration {
            Duration::from_secs_f64(self.mean_us(b) * (0.95 + 0.1 * rng.next_f64()) * 1e-6)
        }

        fn throughput(&self, b: u32) -> f64 {
            f64::from(b) / self.mean_us(b)
        }

        /// Whether a size's worst case (+5%) meets the objective with the
        /// batcher's margin.
        fn fits(&self, b: u32, config: &BatcherConfig) -> bool {
            let limit = config.objective.as_secs_f64() * 1e6 * (1.0 - config.tolerance);
            self.mean_us(b) * 1.05 <= limit
        }

        /// The best size that fits.
        fn optimum(&self, config: &BatcherConfig) -> u32 {
            (config.min_batch..=config.max_batch)
                .filter(|&b| self.fits(b, config))
                .max_by(|&a, &b| self.throughput(a).total_cmp(&self.throughput(b)))
                .unwrap_or(config.min_batch)
        }
    }

    /// Runs `batches` batches of `workload` on a simulated clock; returns
    /// the batch index at which the batcher last settled (None if it is
    /// searching at the end) and how many times the size changed after it.
    struct Run {
        settled_at: Option<usize>,
        changes_after: usize,
    }

    fn simulate(
        batcher: &mut AdaptiveBatcher,
        workload: &Workload,
        batches: usize,
        rng: &mut SplitMix64,
    ) -> Run {
        let clock = ManualClock::new();
        let mut settled_at = None;
        let mut changes_after = 0;
        for i in 0..batches {
            let size = batcher.size();
            let start = clock.now();
            clock.advance(workload.sample(size, rng));
            if let Some(report) = batcher.record(size, clock.now() - start) {
                if batcher.phase() == BatcherPhase::Settled {
                    if settled_at.is_none() {
                        settled_at = Some(i + 1);
                    } else if report.next != report.size {
                        changes_after += 1;
                    }
                } else {
                    settled_at = None;
                }
            }
        }
        Run {
            settled_at,
            changes_after,
        }
    }

    /// Settles within this many batches (12 windows of 8) on every
    /// simulated workload below: the figure the docs state.
    const SETTLES_WITHIN: usize = 96;

    fn check_converges(workload: Workload, config: BatcherConfig, initial: u32, seed: u64) {
        let mut rng = SplitMix64::new(seed);
        let mut batcher = AdaptiveBatcher::new(config, initial).unwrap();
        let run = simulate(&mut batcher, &workload, 3_000, &mut rng);
        let at = run.settled_at.expect("settled");
        assert!(at <= SETTLES_WITHIN, "settled after {at} batches");
        assert_eq!(run.changes_after, 0, "oscillates after settling");
        let (got, best) = (batcher.size(), workload.optimum(&config));
        // Within the search's tolerance of the best throughput, and inside
        // the objective.
        let ratio = workload.throughput(got) / workload.throughput(best);
        assert!(
            ratio >= 1.0 - 2.0 * config.tolerance,
            "size {got} vs best {best}: {ratio}"
        );
        assert!(workload.fits(got, &config));
    }

    /// Latency rises with the square root of the batch: the objective bounds
    /// the size (the best is 9 at 1 ms).
    const OBJECTIVE_BOUND: Workload = Workload {
        fixed: 200.0,
        per_query: 230.0,
        sharing: 0.5,
        spill_at: u32::MAX,
        spill_slope: 0.0,
    };

    /// Past 12 queries the lanes spill out of cache: throughput peaks inside
    /// the range.
    const CACHE_PEAK: Workload = Workload {
        fixed: 100.0,
        per_query: 40.0,
        sharing: 1.0,
        spill_at: 12,
        spill_slope: 0.1,
    };

    fn config(objective_us: u64) -> BatcherConfig {
        BatcherConfig {
            objective: Duration::from_micros(objective_us),
            ..BatcherConfig::default()
        }
    }

    #[test]
    fn converges_to_the_largest_size_inside_the_objective() {
        assert_eq!(OBJECTIVE_BOUND.optimum(&config(1_000)), 9);
        for (initial, seed) in [(1, 1), (4, 2), (32, 3), (9, 4)] {
            check_converges(OBJECTIVE_BOUND, config(1_000), initial, seed);
        }
    }

    #[test]
    fn converges_to_a_throughput_peak_inside_the_range() {
        assert_eq!(CACHE_PEAK.optimum(&config(5_000)), 12);
        for (initial, seed) in [(1, 5), (5, 6), (32, 7)] {
            check_converges(CACHE_PEAK, config(5_000), initial, seed);
        }
    }

    #[test]
    fn reconverges_after_a_workload_shift() {
        let config = config(1_000);
        let mut rng = SplitMix64::new(8);
        let mut batcher = AdaptiveBatcher::new(config, 4).unwrap();
        simulate(&mut batcher, &OBJECTIVE_BOUND, 400, &mut rng);
        assert_eq!(batcher.phase(), BatcherPhase::Settled);
        let before = batcher.size();
        // Twice as much work per query: the settled size breaks the objective.
        let heavier = Workload {
            per_query: 2.0 * OBJECTIVE_BOUND.per_query,
            ..OBJECTIVE_BOUND
        };
        let run = simulate(&mut batcher, &heavier, 3_000, &mut rng);
        let at = run.settled_at.expect("settled again");
        assert!(at <= SETTLES_WITHIN, "settled again after {at} batches");
        assert_eq!(run.changes_after, 0);
        assert!(batcher.size() < before);
        assert!(heavier.fits(batcher.size(), &config));
        assert!(
            heavier.throughput(batcher.size())
                >= 0.9 * heavier.throughput(heavier.optimum(&config))
        );
        // And back: much lighter work lets it grow again.
        let run = simulate(&mut batcher, &CACHE_PEAK, 3_000, &mut rng);
        assert!(run.settled_at.expect("settled a third time") <= SETTLES_WITHIN);
        assert_eq!(run.changes_after, 0);
        assert!(batcher.size() > before);
    }

    #[test]
    fn an_objective_that_cannot_be_met_settles_on_the_smallest_batch() {
        let mut rng = SplitMix64::new(9);
        let mut batcher = AdaptiveBatcher::new(config(100), 16).unwrap();
        let run = simulate(&mut batcher, &OBJECTIVE_BOUND, 1_000, &mut rng);
        assert!(run.settled_at.is_some());
        assert_eq!(batcher.size(), 1);
        assert_eq!(run.changes_after, 0);
    }

    #[test]
    fn partial_batches_count_toward_throughput_only() {
        let mut batcher = AdaptiveBatcher::new(config(1_000), 8).unwrap();
        for _ in 0..7 {
            assert!(batcher.record(8, Duration::from_micros(500)).is_none());
        }
        // A partial batch, slow: no window closes, the percentile ignores it.
        assert!(batcher.record(3, Duration::from_micros(5_000)).is_none());
        let report = batcher.record(8, Duration::from_micros(500)).unwrap();
        assert_eq!(report.size, 8);
        assert_eq!(report.p95, Duration::from_micros(500));
        let want = 67.0 / 9_000e-6;
        assert!((report.throughput - want).abs() < 1e-6 * want);
        assert!(report.feasible);
        assert_eq!(batcher.windows(), 1);
        assert_eq!(batcher.last_window(), Some(report));
    }

    #[test]
    fn initial_size_is_the_geometric_mean_of_cache_cores_and_bandwidth() {
        let sizing = BatchSizing {
            cores: 2,
            cache_bytes: 32 << 20,
            query_bytes: 4 << 20,
            bandwidth: 20e9,
            query_bandwidth: 2.5e9,
        };
        assert_eq!(sizing.estimates(), [8.0, 2.0, 8.0]);
        assert_eq!(sizing.initial(1, 32), 5); // cbrt(128) = 5.04
        assert_eq!(sizing.initial(8, 32), 8);
        assert_eq!(sizing.initial(1, 4), 4);
        // Unknown or degenerate facts count as 1, never as NaN or 0.
        let unknown = BatchSizing {
            cores: 0,
            cache_bytes: 0,
            query_bytes: 0,
            bandwidth: f64::NAN,
            query_bandwidth: 0.0,
        };
        assert_eq!(unknown.estimates(), [1.0, 1.0, 1.0]);
        assert_eq!(unknown.initial(1, 32), 1);
    }

    #[test]
    fn rejects_bad_configs() {
        let d = BatcherConfig::default();
        for (config, field) in [
            (
                BatcherConfig {
                    objective: Duration::ZERO,
                    ..d
                },
                "objective",
            ),
            (BatcherConfig { min_batch: 0, ..d }, "min_batch"),
            (
                BatcherConfig {
                    min_batch: 8,
                    max_batch: 4,
                    ..d
                },
                "max_batch",
            ),
            (BatcherConfig { window: 0, ..d }, "window"),
            (
                BatcherConfig {
                    tolerance: f64::NAN,
                    ..d
                },
                "tolerance",
            ),
            (BatcherConfig { shift: 0.01, ..d }, "shift"),
        ] {
            assert_eq!(
                AdaptiveBatcher::new(config, 1).unwrap_err(),
                BatcherError::InvalidConfig { field }
            );
        }
        assert_eq!(AdaptiveBatcher::new(d, 1_000).unwrap().size(), 32);
    }
}
