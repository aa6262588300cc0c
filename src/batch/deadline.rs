//! Deadline-aware spreading: partial results on time instead of full results
//! late.
//!
//! A query's cost is decided hop by hop: whether it reaches a hub shows only
//! when the frontier is known. So the decision is made there too. Before each
//! hop, [`DeadlineSpreader`] asks its [`HopCostModel`] how long the hop (read
//! `edges_to_read` edges, pushing or pulling) and the final ranking would
//! take; if that would end after the deadline, the query stops and ranks what
//! it has, flagged `truncated` in its stats (with `hops`, the hops that ran).
//! Each hop's measured time teaches the model, so it follows the machine and
//! the graph.

use core::time::Duration;

use super::clock::Clock;
use crate::graph::GraphView;
use crate::spread::{
    Activation, HopPlan, Seed, Spread, SpreadError, SpreadParams, SpreadStats, Spreader,
};
use alloc::vec::Vec;

/// A cost that grows linearly with some amount of work (`fixed_ns +
/// ns_per_unit * units`), fitted by exponentially weighted least squares:
/// recent measurements count most, so the line follows a changing machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostLine {
    fixed_ns: f64,
    ns_per_unit: f64,
    /// Weighted sums of 1, x, y, x^2, xy.
    sums: [f64; 5],
}

impl CostLine {
    /// A line before any measurement.
    pub const fn new(fixed_ns: f64, ns_per_unit: f64) -> CostLine {
        CostLine {
            fixed_ns,
            ns_per_unit,
            sums: [0.0; 5],
        }
    }

    /// The fixed part, in nanoseconds.
    pub fn fixed_ns(&self) -> f64 {
        self.fixed_ns
    }

    /// The part per unit of work, in nanoseconds.
    pub fn ns_per_unit(&self) -> f64 {
        self.ns_per_unit
    }

    /// Predicted time for `units` of work.
    pub fn predict(&self, units: u64) -> Duration {
        nanos(self.fixed_ns + self.ns_per_unit * units as f64)
    }

    /// Learns that `units` of work took `took`; older measurements fade by
    /// `1 - rate` per new one.
    fn learn(&mut self, units: u64, took: Duration, rate: f64) {
        let (x, y) = (units as f64, took.as_nanos() as f64);
        for (sum, term) in self.sums.iter_mut().zip([1.0, x, y, x * x, x * y]) {
            *sum = *sum * (1.0 - rate) + term;
        }
        let [w, sx, sy, sxx, sxy] = self.sums;
        let (mx, my) = (sx / w, sy / w);
        let var = sxx / w - mx * mx;
        if var > 1e-9 * mx * mx.max(1.0) {
            self.ns_per_unit = ((sxy / w - mx * my) / var).max(0.0);
        }
        // Through the mean: the fixed part takes what the slope leaves.
        self.fixed_ns = my - self.ns_per_unit * mx;
        if self.fixed_ns < 0.0 {
            self.fixed_ns = 0.0;
            self.ns_per_unit = if mx > 0.0 { my / mx } else { 0.0 };
        }
    }
}

/// Learned cost of hops and of ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HopCostModel {
    /// A push hop, per edge read (scattered writes).
    pub push: CostLine,
    /// A pull hop, per edge read (streamed, with a gather).
    pub pull: CostLine,
    /// Ranking, per node reached.
    pub rank: CostLine,
    /// Weight of a new measurement, in `(0, 1]`.
    pub learning_rate: f64,
}

impl HopCostModel {
    /// A starting point measured on the development machine (`rmat20`, one
    /// thread): a hop costs 2 us plus ~10 ns per pushed or ~4 ns per pulled
    /// edge; ranking 1 us plus 5 ns per reached node. The first hops
    /// measured replace it.
    pub const PRIOR: HopCostModel = HopCostModel {
        push: CostLine::new(2_000.0, 10.0),
        pull: CostLine::new(2_000.0, 4.0),
        rank: CostLine::new(1_000.0, 5.0),
        learning_rate: 0.25,
    };

    /// Predicted time of the hop `plan` describes.
    pub fn hop(&self, plan: &HopPlan) -> Duration {
        self.line(plan).predict(plan.edges_to_read)
    }

    fn line(&self, plan: &HopPlan) -> &CostLine {
        if plan.pull { &self.pull } else { &self.push }
    }

    /// Learns that the hop `plan` described took `took`.
    fn learn_hop(&mut self, plan: &HopPlan, took: Duration) {
        let rate = self.learning_rate;
        let line = if plan.pull {
            &mut self.pull
        } else {
            &mut self.push
        };
        line.learn(plan.edges_to_read, took, rate);
    }

    /// Learns from the query's last stretch: the last hop that ran (if any)
    /// and the ranking of `reached` nodes took `took` together.
    fn learn_rank(&mut self, last_hop: Option<&HopPlan>, reached: u32, took: Duration) {
        let hop = last_hop.map_or(Duration::ZERO, |p| self.hop(p));
        let rate = self.learning_rate;
        self.rank
            .learn(u64::from(reached), took.saturating_sub(hop), rate);
    }
}

fn nanos(ns: f64) -> Duration {
    Duration::from_nanos(ns.clamp(0.0, u64::MAX as f64) as u64)
}

/// A spreading backend (any [`Spread`]: [`Spreader`] by default) that meets
/// a time budget per query by stopping early.
///
/// ```
/// use axonal::batch::{DeadlineSpreader, SystemClock};
/// use axonal::graph::generate;
/// use axonal::spread::{Seed, SpreadParams, Spreader};
/// use core::time::Duration;
///
/// let graph = generate::barabasi_albert(5_000, 4, 1);
/// let mut s = DeadlineSpreader::new(Spreader::new(graph.node_count()), SystemClock::new());
/// let mut results = Vec::new();
/// let seeds = [Seed::new(0, 1.0)];
/// let stats = s.spread(&graph, &seeds, &SpreadParams::default(), Duration::from_millis(2), &mut results)?;
/// if stats.truncated {
///     println!("partial: {} of 4 hops", stats.hops);
/// }
/// # Ok::<(), axonal::spread::SpreadError>(())
/// ```
pub struct DeadlineSpreader<C: Clock, S: Spread = Spreader> {
    spreader: S,
    clock: C,
    model: HopCostModel,
}

impl<C: Clock, S: Spread> DeadlineSpreader<C, S> {
    /// Wraps `spreader`, timing hops with `clock`, from [`HopCostModel::PRIOR`].
    pub fn new(spreader: S, clock: C) -> DeadlineSpreader<C, S> {
        DeadlineSpreader::with_model(spreader, clock, HopCostModel::PRIOR)
    }

    /// Wraps `spreader` with a given starting model (one learned earlier).
    pub fn with_model(spreader: S, clock: C, model: HopCostModel) -> DeadlineSpreader<C, S> {
        DeadlineSpreader {
            spreader,
            clock,
            model,
        }
    }

    /// The cost model as learned so far.
    pub fn model(&self) -> &HopCostModel {
        &self.model
    }

    /// The spreader (activations and hops of the last query).
    pub fn spreader(&self) -> &S {
        &self.spreader
    }

    /// The spreader, mutably (for queries without a budget).
    pub fn spreader_mut(&mut self) -> &mut S {
        &mut self.spreader
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs a query that should end within `budget` of now: before each hop,
    /// if the model predicts that the hop and the ranking would end after the
    /// deadline, stops and ranks what it has (`SpreadStats::truncated`).
    /// Errors are those of [`Spread::spread`], reported before any work.
    pub fn spread<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        budget: Duration,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, SpreadError> {
        let start = self.clock.now();
        let deadline = start.checked_add(budget).unwrap_or(Duration::MAX);
        let (clock, model) = (&self.clock, &mut self.model);
        let mut running: Option<(HopPlan, Duration)> = None;
        let mut last = start;
        let stats =
            self.spreader
                .spread_gated(graph.into(), seeds, params, results, &mut |plan| {
                    let now = clock.now();
                    if let Some((hop, began)) = running.take() {
                        model.learn_hop(&hop, now.saturating_sub(began));
                    }
                    last = now;
                    // Every edge read may reach a new node: an upper bound.
                    let reached_after = u64::from(plan.reached) + plan.frontier_edges;
                    let end = now + model.hop(plan) + model.rank.predict(reached_after);
                    if end > deadline {
                        return false;
                    }
                    running = Some((*plan, now));
                    true
                })?;
        let took = self.clock.now().saturating_sub(last);
        let last_hop = running.map(|(plan, _)| plan);
        self.model
            .learn_rank(last_hop.as_ref(), stats.activated, took);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::ManualClock;
    use crate::graph::generate;

    /// Every reading moves time forward by `step`: each hop (one reading per
    /// gate) appears to take `step`.
    struct StepClock {
        inner: ManualClock,
        step: Duration,
    }

    impl Clock for StepClock {
        fn now(&self) -> Duration {
            let t = self.inner.now();
            self.inner.advance(self.step);
            t
        }
    }

    fn setup(step: Duration) -> (crate::graph::Graph, DeadlineSpreader<StepClock>) {
        let graph = generate::barabasi_albert(if cfg!(miri) { 60 } else { 2_000 }, 3, 7);
        let clock = StepClock {
            inner: ManualClock::new(),
            step,
        };
        let s = DeadlineSpreader::new(Spreader::new(graph.node_count()), clock);
        (graph, s)
    }

    #[test]
    fn a_generous_budget_changes_nothing() {
        let (graph, mut s) = setup(Duration::from_micros(10));
        let (seeds, p) = ([Seed::new(3, 1.0)], SpreadParams::default());
        let (mut got, mut want) = (Vec::new(), Vec::new());
        let stats = s
            .spread(&graph, &seeds, &p, Duration::from_secs(10), &mut got)
            .unwrap();
        let plain = Spreader::new(graph.node_count())
            .spread(&graph, &seeds, &p, &mut want)
            .unwrap();
        assert_eq!((got, stats), (want, plain));
        assert!(!stats.truncated);
    }

    #[test]
    fn no_budget_returns_the_seeds_flagged_truncated() {
        let (graph, mut s) = setup(Duration::from_micros(10));
        let mut results = Vec::new();
        let stats = s
            .spread(
                &graph,
                &[Seed::new(3, 1.0)],
                &SpreadParams::default(),
                Duration::ZERO,
                &mut results,
            )
            .unwrap();
        assert!(stats.truncated);
        assert_eq!(stats.hops, 0);
        assert_eq!(results.len(), 1);
        assert_eq!((results[0].node, results[0].hop), (3, 0));
    }

    #[test]
    fn learns_hop_times_and_stops_before_the_deadline() {
        // Every hop takes 1 ms on this clock.
        let step = Duration::from_millis(1);
        let (graph, mut s) = setup(step);
        let p = SpreadParams {
            max_hops: 6,
            threshold: crate::spread::Threshold::Uniform(0.0),
            ..SpreadParams::default()
        };
        let mut results = Vec::new();
        let seeds = [Seed::new(3, 1.0)];
        for _ in 0..20 {
            s.spread(&graph, &seeds, &p, Duration::from_secs(1), &mut results)
                .unwrap();
        }
        // The model has learned about 1 ms per hop: with a budget of
        // k + 0.5 ms the query stops early, running fewer hops for less
        // budget, and ends within a step (one clock reading) of the deadline.
        let full = s
            .spread(&graph, &seeds, &p, Duration::from_secs(1), &mut results)
            .unwrap();
        assert!(!full.truncated && full.hops >= 4, "{full:?}");
        assert!(
            (s.model().push.fixed_ns() - 1e6).abs() < 2e5,
            "{:?}",
            s.model()
        );
        let mut previous = 0;
        for k in 1..full.hops {
            let budget = Duration::from_micros(u64::from(k) * 1_000 + 500);
            let start = s.clock().now() + step; // the spread's own first reading
            let stats = s.spread(&graph, &seeds, &p, budget, &mut results).unwrap();
            let end = s.clock().now() - step; // its last reading
            assert!(stats.truncated, "{k}: {stats:?}");
            assert!(
                stats.hops >= previous && stats.hops < k + 1,
                "{k}: {stats:?}"
            );
            assert!(end - start <= budget + step, "{k}: {:?}", end - start);
            previous = stats.hops;
        }
        assert!(previous >= 1);
    }

    #[test]
    fn cost_lines_fit_and_follow_a_change() {
        let mut line = CostLine::new(0.0, 1.0);
        for i in 0..50u64 {
            let units = 100 + (i * 37) % 1000;
            line.learn(units, nanos(500.0 + 3.0 * units as f64), 0.25);
        }
        assert!((line.fixed_ns() - 500.0).abs() < 1.0, "{line:?}");
        assert!((line.ns_per_unit() - 3.0).abs() < 1e-3, "{line:?}");
        // Twice as slow: the recent measurements win.
        for i in 0..50u64 {
            let units = 100 + (i * 37) % 1000;
            line.learn(units, nanos(1000.0 + 6.0 * units as f64), 0.25);
        }
        assert!(
            (line.predict(400).as_nanos() as f64 - 3400.0).abs() < 10.0,
            "{line:?}"
        );
        // One amount of work only: the line goes through it.
        let mut flat = CostLine::new(2_000.0, 10.0);
        for _ in 0..10 {
            flat.learn(50, Duration::from_micros(1), 0.25);
        }
        assert!(
            (flat.predict(50).as_nanos() as f64 - 1000.0).abs() < 1.0,
            "{flat:?}"
        );
    }

    #[test]
    fn errors_come_before_any_work() {
        let (graph, mut s) = setup(Duration::from_micros(10));
        let mut results = Vec::new();
        let bad = [Seed::new(u32::MAX, 1.0)];
        assert!(matches!(
            s.spread(
                &graph,
                &bad,
                &SpreadParams::default(),
                Duration::from_secs(1),
                &mut results
            ),
            Err(SpreadError::InvalidSeed { .. })
        ));
        assert_eq!(*s.model(), HopCostModel::PRIOR);
    }
}
