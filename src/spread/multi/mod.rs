//! Multi-query spreading: a batch of up to 32 queries in one pass over the
//! edges.
//!
//! Queries of a recall stream often overlap: wide queries on a power-law
//! graph all reach the hubs, and a pull hop reads every in-edge whatever the
//! query. Run one by one, 32 `query_wide` queries on `rmat20` read 732 M
//! edges; together they expand only 33 M distinct (node, hop) pairs. The
//! batch kernel reads each edge once per hop for the whole batch and applies
//! it to every query at once: a node's activations are a row of one `f32`
//! lane per query, eight lanes per vector, so one random read of a source's
//! strengths serves every query and the memory-bound single-query kernel
//! becomes a compute-bound one.
//!
//! ## Exactly the single-query results
//! Each lane runs the contract of [`spread`](crate::spread) for its own
//! query: the same `f32` strength per source, the same rounded fixed-point
//! contribution per edge, order-free integer sums (capped where they would
//! cap the node anyway), the same settle. So every query's results are
//! bit-identical to [`Spreader`](super::Spreader) running it alone, whatever
//! the batch around it (`tests/multi.rs`).
//!
//! ## Memory: sparse where it can be
//! Activations (and first-reach hops) are dense per node and query (`4 + 1`
//! bytes each, 160 MiB for 32 queries on a million nodes, allocated once),
//! because wide queries reach most of the graph. Everything per hop is
//! compact: the frontier is the union of the queries' frontiers, one row of
//! strengths per union node (not per graph node); a push hop gives a row of
//! sums only to the nodes it touches.
//!
//! Each hop runs in the cheaper direction for the union frontier, as the
//! single-query kernel does for its own: push from a small union frontier,
//! pull over every in-edge from a large one.

pub(crate) mod lanes;

use alloc::vec::Vec;
use core::ops::Range;

use self::lanes::{GROUP, Scalar, pull_rows, push_edges, settle_pending};
use super::driver::{self, Driver, FrontierSize, HopBackend, HopKind, HopStep, write_results};
use super::fixed::strength;
use super::isa::Isa;
use super::params::SpreadParams;
use super::query::{Activation, HopPlan, Seed, SpreadStats, SpreaderConfig};
use super::state::{UNREACHED, rank_key, top_keys};
use super::{Spread, SpreadError};
use crate::graph::{CsrView, GraphView};

/// Runs `$generic::<V, G>(args)` on the kernel's lanes with `G = width / 8`
/// groups (AVX2 through its `#[target_feature]` entry point `$avx2`).
macro_rules! dispatch {
    ($kernel:expr, $width:expr, $generic:ident, $avx2:ident($($arg:expr),*)) => {
        match ($kernel, $width / GROUP) {
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            (Isa::Avx2, 1) => lanes::avx2::$avx2::<1>($($arg),*),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            (Isa::Avx2, 2) => lanes::avx2::$avx2::<2>($($arg),*),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            (Isa::Avx2, 3) => lanes::avx2::$avx2::<3>($($arg),*),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            (Isa::Avx2, _) => lanes::avx2::$avx2::<4>($($arg),*),
            (_, 1) => $generic::<Scalar, 1>($($arg),*),
            (_, 2) => $generic::<Scalar, 2>($($arg),*),
            (_, 3) => $generic::<Scalar, 3>($($arg),*),
            (_, _) => $generic::<Scalar, 4>($($arg),*),
        }
    };
}

/// The most queries one batch holds.
pub const MAX_BATCH: usize = 32;

/// What a batch did as a whole (each query's own [`SpreadStats`] are
/// returned beside it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchStats {
    /// Queries in the batch.
    pub queries: u32,
    /// Hops the batch ran (the longest query's).
    pub hops: u32,
    /// Of those, hops that pulled over every in-edge.
    pub pull_hops: u32,
    /// Edges read, counted once however many queries they served.
    pub edges_scanned: u64,
    /// The sum of the queries' `edges_traversed`: what running them one by
    /// one would have traversed.
    pub edges_traversed: u64,
    /// Nodes reached by at least one query.
    pub reached: u32,
}

/// Runs batches of up to `max_queries` queries (with the same parameters)
/// on graphs of one size, reusing its buffers: after the first batch of a
/// given shape, a batch allocates nothing.
///
/// ```
/// use axonal::graph::generate;
/// use axonal::spread::{MultiSpreader, Seed, SpreadParams, Spreader};
///
/// let graph = generate::barabasi_albert(2_000, 3, 7);
/// let queries = [vec![Seed::new(1, 1.0)], vec![Seed::new(5, 1.0), Seed::new(9, 0.5)]];
/// let mut batch = MultiSpreader::new(graph.node_count(), 8)?;
/// let mut results = Vec::new();
/// batch.spread_batch(&graph, &queries, &SpreadParams::default(), &mut results)?;
///
/// // Each query's results are exactly what it gets alone.
/// let mut alone = Spreader::new(graph.node_count());
/// let mut one = Vec::new();
/// alone.spread(&graph, &queries[1], &SpreadParams::default(), &mut one)?;
/// assert_eq!(results[1], one);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MultiSpreader {
    nodes: usize,
    /// The nodes whose activations it keeps: all of them, but for a
    /// worker of a distributed computation, which keeps its own part's.
    rows: Range<u32>,
    /// Lanes per node in `activation` / `hop`: `max_queries` rounded up to 8.
    stride: usize,
    driver: Driver,
    isa: Isa,
    /// Lanes per frontier row in the current batch: its queries rounded up
    /// to 8.
    width: usize,
    /// `activation[local(v) * stride + q]` (`local(v) = v - rows.start`).
    activation: Vec<f32>,
    /// `hop[local(v) * stride + q]`: the hop `q` first reached `v` at.
    hop: Vec<u8>,
    /// `reached_by[local(v)]`, bit `q`: query `q` reached `v`.
    reached_by: Vec<u32>,
    /// Nodes reached by any query, in the order first reached.
    reached: Vec<u32>,
    /// Per hop: any node's row (from 1) in `strength` (pull) or `pending`
    /// (push); 0 for none.
    slot: Vec<u32>,
    /// The union frontier and each node's newly gained activation per lane.
    frontier: Frontier,
    next: Frontier,
    /// Per hop: `next_slot[local(v)]` is `v`'s row in `next`, from 1; 0
    /// for none.
    next_slot: Vec<u32>,
    /// Per-hop strengths by lane group: group `g` is a table of eight-lane
    /// rows, an all-zero row 0 and then one row per frontier node.
    strength: Vec<f32>,
    /// Push: sums per touched node (row 0 unused) and the nodes, in order.
    pending: Vec<u32>,
    touched: Vec<u32>,
    stats: Vec<SpreadStats>,
    ranked: Vec<Vec<u64>>,
}

/// A union frontier: nodes and one row of `width` deltas per node.
#[derive(Default)]
struct Frontier {
    nodes: Vec<u32>,
    delta: Vec<f32>,
}

impl Frontier {
    fn clear(&mut self) {
        self.nodes.clear();
        self.delta.clear();
    }

    /// Appends `v` with all-zero deltas.
    fn push(&mut self, v: u32, width: usize) {
        self.nodes.push(v);
        self.delta.resize(self.delta.len() + width, 0.0);
    }
}

impl MultiSpreader {
    /// A batch spreader for graphs of `nodes` nodes and batches of up to
    /// `max_queries` queries (1 to [`MAX_BATCH`]), configured by
    /// [`SpreaderConfig::for_nodes`].
    pub fn new(nodes: usize, max_queries: usize) -> Result<MultiSpreader, SpreadError> {
        MultiSpreader::with_config(nodes, max_queries, SpreaderConfig::for_nodes(nodes))
    }

    /// A batch spreader with a given direction configuration (its
    /// `sparse_capacity` is not used).
    pub fn with_config(
        nodes: usize,
        max_queries: usize,
        config: SpreaderConfig,
    ) -> Result<MultiSpreader, SpreadError> {
        MultiSpreader::for_rows(nodes, 0..nodes as u32, max_queries, config)
    }

    /// A batch workspace for graphs of `nodes` nodes that keeps the
    /// activations of `rows` only (a distributed worker's part: it runs
    /// the hops' steps below itself, not [`spread_batch`](Self::spread_batch)).
    pub(crate) fn for_rows(
        nodes: usize,
        rows: Range<u32>,
        max_queries: usize,
        config: SpreaderConfig,
    ) -> Result<MultiSpreader, SpreadError> {
        if !(1..=MAX_BATCH).contains(&max_queries) {
            return Err(SpreadError::InvalidParameter {
                name: "max_queries",
                expected: "between 1 and 32",
            });
        }
        let stride = max_queries.div_ceil(GROUP) * GROUP;
        let own = rows.len();
        Ok(MultiSpreader {
            nodes,
            rows,
            stride,
            driver: Driver::new(config),
            isa: Isa::best(),
            width: GROUP,
            activation: alloc::vec![0.0; own * stride],
            hop: alloc::vec![UNREACHED; own * stride],
            reached_by: alloc::vec![0; own],
            reached: Vec::with_capacity(own),
            slot: alloc::vec![0; nodes],
            next_slot: alloc::vec![0; own],
            frontier: Frontier::default(),
            next: Frontier::default(),
            strength: Vec::new(),
            pending: Vec::new(),
            touched: Vec::new(),
            stats: Vec::with_capacity(max_queries),
            ranked: (0..max_queries).map(|_| Vec::new()).collect(),
        })
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The largest batch it runs.
    pub fn max_queries(&self) -> usize {
        self.ranked.len()
    }

    /// Bytes of workspace held.
    pub fn memory_bytes(&self) -> usize {
        self.activation.capacity() * 4
            + self.hop.capacity()
            + (self.reached_by.capacity() + self.reached.capacity()) * 4
            + (self.slot.capacity() + self.next_slot.capacity()) * 4
            + (self.frontier.nodes.capacity() + self.frontier.delta.capacity()) * 4
            + (self.next.nodes.capacity() + self.next.delta.capacity()) * 4
            + (self.strength.capacity() + self.pending.capacity() + self.touched.capacity()) * 4
            + self.ranked.iter().map(|r| r.capacity() * 8).sum::<usize>()
    }

    /// Each query's own statistics from the last batch, as
    /// [`Spreader::spread`](super::Spreader::spread) would report them
    /// (`pull_hops` / `push_hops` / `edges_scanned` say what the batch did on
    /// the query's hops).
    pub fn query_stats(&self) -> &[SpreadStats] {
        &self.stats
    }

    /// Runs every query of `queries` (each a list of seeds) with `params`
    /// and writes query `q`'s ranked results into `results[q]` (resized to
    /// the batch, each cleared first). Per-query statistics are in
    /// [`query_stats`](MultiSpreader::query_stats).
    ///
    /// Errors (too many queries, bad seeds or parameters, a graph of
    /// another size) are reported before anything changes.
    pub fn spread_batch<'g, Q: AsRef<[Seed]>>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut Vec<Vec<Activation>>,
    ) -> Result<BatchStats, SpreadError> {
        self.spread_batch_gated(graph, queries, params, results, |_| true)
    }

    /// [`spread_batch`](MultiSpreader::spread_batch), asking `gate` before
    /// every hop of the batch whether it runs (it sees the union frontier's
    /// [`HopPlan`]); once it says no, every query stops there, and those
    /// that had a frontier left are flagged `truncated` in
    /// [`query_stats`](MultiSpreader::query_stats).
    pub fn spread_batch_gated<'g, Q: AsRef<[Seed]>>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut Vec<Vec<Activation>>,
        mut gate: impl FnMut(&HopPlan) -> bool,
    ) -> Result<BatchStats, SpreadError> {
        if queries.len() > self.max_queries() {
            return Err(SpreadError::InvalidParameter {
                name: "queries",
                expected: "at most the spreader's max_queries",
            });
        }
        // Grown for the batch before the driver validates it, and shrunk
        // back if it is rejected: a rejected batch leaves `results` alone.
        let before = results.len();
        if before < queries.len() {
            results.resize_with(queries.len(), Vec::new);
        }
        let outcome = driver::run(
            self,
            graph.into(),
            queries,
            params,
            &mut results[..queries.len()],
            &mut gate,
        );
        results.truncate(if outcome.is_ok() {
            queries.len()
        } else {
            before
        });
        let union = outcome?;
        Ok(BatchStats {
            queries: queries.len() as u32,
            hops: union.hops,
            pull_hops: union.pull_hops,
            edges_scanned: union.edges_scanned,
            edges_traversed: self.stats.iter().map(|s| s.edges_traversed).sum(),
            reached: union.activated,
        })
    }

    /// Runs one query (a batch of one) and writes its ranked results into
    /// `results` (cleared first): the [`Spreader::spread`](super::Spreader::spread)
    /// signature, for engines written against [`Spread`].
    pub fn spread<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, SpreadError> {
        self.spread_gated(graph, seeds, params, results, |_| true)
    }

    /// [`spread`](MultiSpreader::spread) with a gate before every hop.
    pub fn spread_gated<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
        mut gate: impl FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, SpreadError> {
        let results = core::slice::from_mut(results);
        driver::run(self, graph.into(), &[seeds], params, results, &mut gate)?;
        Ok(self.stats[0])
    }

    /// `v`'s index among the nodes whose activations it keeps.
    #[inline(always)]
    fn local(&self, v: u32) -> usize {
        (v - self.rows.start) as usize
    }

    /// Starts a batch of `queries`: forgets the previous one, applies the
    /// seeds of its own rows and (when `spreads`) puts those with
    /// activation at least `theta0` on the first frontier.
    pub(crate) fn start_batch<Q: AsRef<[Seed]>>(
        &mut self,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        self.reset();
        self.width = queries.len().div_ceil(GROUP).max(1) * GROUP;
        self.stats.clear();
        self.stats.resize(queries.len(), SpreadStats::default());
        self.seed(queries, theta0, spreads);
    }

    /// Clears the previous batch's state: sparsely when it reached few nodes.
    fn reset(&mut self) {
        let stride = self.stride;
        // Clearing a reached node's rows costs about what streaming them
        // does: clear everything only when most nodes were reached.
        if self.reached.len() > self.rows.len() / 2 {
            self.activation.fill(0.0);
            self.hop.fill(UNREACHED);
            self.reached_by.fill(0);
        } else {
            for i in 0..self.reached.len() {
                let v = self.local(self.reached[i]);
                let row = v * stride..(v + 1) * stride;
                self.activation[row.clone()].fill(0.0);
                self.hop[row].fill(UNREACHED);
                self.reached_by[v] = 0;
            }
        }
        self.reached.clear();
    }

    /// Applies the seeds of its own rows and (when `spreads`) builds the
    /// first union frontier from those with activation at least `theta0`.
    fn seed<Q: AsRef<[Seed]>>(&mut self, queries: &[Q], theta0: f32, spreads: bool) {
        let (stride, width, base) = (self.stride, self.width, self.rows.start);
        let own = |seed: &&Seed| self.rows.contains(&seed.node);
        for (q, seeds) in queries.iter().enumerate() {
            for seed in seeds.as_ref().iter().filter(own) {
                let v = (seed.node - base) as usize;
                let i = v * stride + q;
                let before = self.activation[i];
                self.activation[i] = (before + seed.activation).min(1.0);
                if before == 0.0 && self.activation[i] > 0.0 {
                    self.hop[i] = 0;
                    mark_reached(&mut self.reached_by[v], &mut self.reached, seed.node, q);
                    self.stats[q].activated += 1;
                }
            }
        }
        self.frontier.clear();
        if !spreads {
            return;
        }
        for (q, seeds) in queries.iter().enumerate() {
            for seed in seeds.as_ref().iter().filter(own) {
                let v = seed.node as usize;
                let a = self.activation[(v - base as usize) * stride + q];
                if a == 0.0 || a < theta0 {
                    continue;
                }
                if self.slot[v] == 0 {
                    self.frontier.push(seed.node, width);
                    self.slot[v] = self.frontier.nodes.len() as u32;
                }
                let delta = &mut self.frontier.delta[(self.slot[v] as usize - 1) * width + q];
                if *delta == 0.0 {
                    *delta = a;
                    self.stats[q].frontier[0] += 1;
                }
            }
        }
        for &v in &self.frontier.nodes {
            self.slot[v as usize] = 0;
        }
    }

    /// Fills `strength` from the frontier's deltas (row 0 all zeros) and
    /// counts each query's frontier edges.
    pub(crate) fn strengths(&mut self, out: CsrView<'_>, step: &HopStep) {
        let (width, pull) = (self.width, step.kind == HopKind::Pull);
        let (decay_scaled, fan) = (step.decay_scaled, step.fan);
        let queries = self.stats.len();
        self.strength.clear();
        self.strength
            .resize((self.frontier.nodes.len() + 1) * width, 0.0);
        for (i, &u) in self.frontier.nodes.iter().enumerate() {
            let degree = out.degree(u);
            if degree == 0 {
                continue;
            }
            let deltas = &self.frontier.delta[i * width..][..queries];
            for (q, (&d, stats)) in deltas.iter().zip(&mut self.stats).enumerate() {
                if d > 0.0 {
                    self.strength[(i + 1) * width + q] = strength(d, decay_scaled, fan, degree);
                    stats.edges_traversed += u64::from(degree);
                    if !pull {
                        stats.edges_scanned += u64::from(degree);
                    }
                }
            }
        }
    }

    /// Splits the workspace into what a hop's settling writes (the
    /// activations, and the bookkeeping of [`Settler`]) and what its edge
    /// loop reads.
    fn split(&mut self, hop: HopCtx) -> (Settler<'_>, &mut [f32], &mut [u32], &[f32]) {
        (
            Settler {
                base: self.rows.start,
                stride: self.stride,
                hop,
                hops: &mut self.hop,
                reached_by: &mut self.reached_by,
                reached: &mut self.reached,
                next: &mut self.next,
                next_slot: &mut self.next_slot,
                stats: &mut self.stats,
            },
            &mut self.activation,
            &mut self.slot,
            &self.strength,
        )
    }

    /// Makes the next frontier the current one (after a hop), forgetting
    /// which nodes it holds.
    fn next_frontier(&mut self) {
        for i in 0..self.next.nodes.len() {
            let v = self.local(self.next.nodes[i]);
            self.next_slot[v] = 0;
        }
        core::mem::swap(&mut self.frontier, &mut self.next);
    }

    /// A pull hop over its own rows' in-edges, from `sources`: the nodes of
    /// rows 1.. of the strength table, in order. The nodes that spread on
    /// become the frontier.
    pub(crate) fn pull_from(&mut self, inc: CsrView<'_>, sources: &[u32], step: &HopStep) {
        let hop = HopCtx::new(step, self.width);
        let (isa, stride, threshold) = (self.isa, self.stride, hop.spread_threshold());
        let rows = self.rows.clone();
        self.next.clear();
        let (mut settler, activation, slot, strength) = self.split(hop);
        for (i, &u) in sources.iter().enumerate() {
            slot[u as usize] = i as u32 + 1;
        }
        let changed = settler.callback();
        // SAFETY: `dispatch!` runs the AVX2 lanes only when `Isa::best`
        // found AVX2 on this CPU.
        unsafe {
            dispatch!(
                isa,
                hop.width,
                pull_rows,
                pull_avx2(
                    inc, rows, slot, strength, activation, stride, threshold, changed
                )
            );
        }
        for &u in sources {
            slot[u as usize] = 0;
        }
        self.next_frontier();
    }

    /// A push hop's edges: the frontier's contributions summed per target,
    /// a row of `pending` per target (listed in `touched`), wherever the
    /// target is.
    pub(crate) fn push(&mut self, out: CsrView<'_>) {
        let (isa, width) = (self.isa, self.width);
        self.pending.clear();
        self.pending.resize(width, 0);
        self.touched.clear();
        let (pending, touched) = (&mut self.pending, &mut self.touched);
        let (slot, nodes, strength) = (&mut self.slot, &self.frontier.nodes, &self.strength);
        // SAFETY: as in `pull_from`.
        unsafe {
            dispatch!(
                isa,
                width,
                push_edges,
                push_avx2(out, nodes, strength, slot, pending, touched)
            );
        }
    }

    /// Settles the pending sums of a push hop (its own targets'); the
    /// nodes that spread on become the frontier.
    pub(crate) fn settle_pushed(&mut self, step: &HopStep) {
        let hop = HopCtx::new(step, self.width);
        let (isa, stride, threshold) = (self.isa, self.stride, hop.spread_threshold());
        let base = self.rows.start;
        let touched = core::mem::take(&mut self.touched);
        let pending = core::mem::take(&mut self.pending);
        self.next.clear();
        let (mut settler, activation, slot, _) = self.split(hop);
        for &v in &touched {
            slot[v as usize] = 0;
        }
        let changed = settler.callback();
        // SAFETY: as in `pull_from`.
        unsafe {
            dispatch!(
                isa,
                hop.width,
                settle_pending,
                settle_avx2(
                    &touched, &pending, base, activation, stride, threshold, changed
                )
            );
        }
        self.pending = pending;
        self.touched = touched;
        // Their slots are clear: nothing is touched any more.
        self.touched.clear();
        self.next_frontier();
    }

    /// Ranks each of `queries` queries' best `top_k` keys of its own rows
    /// (see [`top_keys`](super::state::top_keys)) into
    /// [`ranked`](Self::ranked).
    pub(crate) fn rank_keys(&mut self, params: &SpreadParams, queries: usize) {
        let stride = self.stride;
        for keys in &mut self.ranked[..queries] {
            keys.clear();
        }
        if params.top_k == 0 {
            return;
        }
        // Bounded while collecting: once a query holds `bound` keys, they
        // are cut to its best `top_k`, and only keys better than the worst
        // of those are taken from then on (keys are unique).
        let (k, bound) = (params.top_k, params.top_k.saturating_mul(4).max(4096));
        let mut cutoff = [u64::MAX; MAX_BATCH];
        for &v in &self.reached {
            let i = (v - self.rows.start) as usize;
            let mut bits = self.reached_by[i];
            while bits != 0 {
                let q = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let a = self.activation[i * stride + q];
                if a < params.min_activation {
                    continue;
                }
                let key = rank_key(v, a);
                if key < cutoff[q] {
                    let keys = &mut self.ranked[q];
                    keys.push(key);
                    if keys.len() == bound {
                        keys.select_nth_unstable(k - 1);
                        keys.truncate(k);
                        cutoff[q] = keys[k - 1];
                    }
                }
            }
        }
        for keys in &mut self.ranked[..queries] {
            top_keys(keys, params.top_k);
        }
    }

    /// Ranks each query's reached nodes into its results.
    fn rank_queries(&mut self, params: &SpreadParams, results: &mut [Vec<Activation>]) {
        let (stride, base) = (self.stride, self.rows.start);
        self.rank_keys(params, results.len());
        for (q, out) in results.iter_mut().enumerate() {
            let (activation, hop) = (&self.activation, &self.hop);
            write_results(
                &self.ranked[q],
                params,
                |v| {
                    let i = (v - base) as usize * stride + q;
                    (activation[i], hop[i])
                },
                out,
            );
        }
    }
}

/// The steps a worker of a distributed computation runs itself, between
/// its exchanges with the other workers (`distributed::batch`).
#[cfg(feature = "timely")]
impl MultiSpreader {
    /// The union frontier's nodes (its own, for a worker).
    pub(crate) fn frontier_nodes(&self) -> &[u32] {
        &self.frontier.nodes
    }

    /// Nodes reached by any query of the batch (of its own rows).
    pub(crate) fn reached(&self) -> usize {
        self.reached.len()
    }

    /// After [`strengths`](Self::strengths): each frontier node and its
    /// row of [`width`](Self::width) strengths.
    pub(crate) fn strength_rows(&self) -> impl Iterator<Item = (u32, &[f32])> {
        let rows = self.strength[self.width..].chunks_exact(self.width);
        self.frontier.nodes.iter().copied().zip(rows)
    }

    /// After [`strengths`](Self::strengths): makes its own frontier the
    /// first sources of the table, so that strengths received from other
    /// workers join them ([`add_strengths`](Self::add_strengths)).
    pub(crate) fn frontier_as_sources(&mut self) {
        self.forget_touched();
        for (i, &v) in self.frontier.nodes.iter().enumerate() {
            self.slot[v as usize] = i as u32 + 1;
        }
        self.touched.extend_from_slice(&self.frontier.nodes);
    }

    /// Sets source `v`'s strengths of queries `first_lane..` in the table.
    pub(crate) fn add_strengths(&mut self, v: u32, first_lane: usize, strengths: &[f32]) {
        let width = self.width;
        let s = touch(&mut self.slot, &mut self.touched, v);
        self.strength
            .resize(self.strength.len().max((s + 1) * width), 0.0);
        self.strength[s * width + first_lane..][..strengths.len()].copy_from_slice(strengths);
    }

    /// A pull hop from the sources of the table (see
    /// [`frontier_as_sources`](Self::frontier_as_sources)).
    pub(crate) fn pull_received(&mut self, inc: CsrView<'_>, step: &HopStep) {
        // `pull_from` numbers the sources as `slot` does, and clears them.
        let mut sources = core::mem::take(&mut self.touched);
        self.pull_from(inc, &sources, step);
        sources.clear();
        self.touched = sources;
    }

    /// Forgets the rows of the nodes touched so far (a hop that failed,
    /// or before another use of the rows).
    pub(crate) fn forget_touched(&mut self) {
        for &v in &self.touched {
            self.slot[v as usize] = 0;
        }
        self.touched.clear();
    }

    /// After [`push`](Self::push): hands the sums of targets outside its
    /// rows to `send(target, sums)` and keeps only its own.
    pub(crate) fn send_remote_sums(&mut self, mut send: impl FnMut(u32, &[u32])) {
        let width = self.width;
        let mut kept = 0;
        for i in 0..self.touched.len() {
            let v = self.touched[i];
            let from = (i + 1) * width;
            if self.rows.contains(&v) {
                self.pending
                    .copy_within(from..from + width, (kept + 1) * width);
                self.touched[kept] = v;
                kept += 1;
                self.slot[v as usize] = kept as u32;
            } else {
                send(v, &self.pending[from..from + width]);
                self.slot[v as usize] = 0;
            }
        }
        self.touched.truncate(kept);
        self.pending.truncate((kept + 1) * width);
    }

    /// Adds `sums` (of queries `first_lane..`) to node `v`'s row of pending
    /// sums (another worker's contributions to one of its own nodes),
    /// capped as the kernels cap them.
    pub(crate) fn add_sums(&mut self, v: u32, first_lane: usize, sums: &[u32]) {
        let width = self.width;
        let s = touch(&mut self.slot, &mut self.touched, v);
        self.pending
            .resize(self.pending.len().max((s + 1) * width), 0);
        let row = &mut self.pending[s * width + first_lane..][..sums.len()];
        for (sum, &add) in row.iter_mut().zip(sums) {
            // Both at most `CAP` < 2^31: the addition never wraps.
            *sum = (*sum + add).min(lanes::CAP);
        }
    }

    /// Each query's ranked keys (after [`rank_keys`](Self::rank_keys)).
    pub(crate) fn ranked(&self, queries: usize) -> &[Vec<u64>] {
        &self.ranked[..queries]
    }

    /// The hop at which query `q` first reached `v` (one of its own rows).
    pub(crate) fn hop_at(&self, v: u32, q: usize) -> u8 {
        self.hop[self.local(v) * self.stride + q]
    }
}

impl<'g> HopBackend<GraphView<'g>> for MultiSpreader {
    type Results = [Vec<Activation>];
    type Error = SpreadError;

    fn node_count(&self) -> usize {
        self.nodes
    }

    fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    fn start<Q: AsRef<[Seed]>>(
        &mut self,
        _graph: GraphView<'g>,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        self.start_batch(queries, theta0, spreads);
    }

    fn frontier(&self, graph: GraphView<'g>) -> FrontierSize {
        FrontierSize {
            nodes: self.frontier.nodes.len(),
            edges: graph
                .out_edges()
                .degree_sum(self.frontier.nodes.iter().copied()),
        }
    }

    fn reached_count(&self) -> usize {
        self.reached.len()
    }

    /// One hop for every query with a frontier: each query's own view of
    /// the hop (as it would run alone), the strengths, then the union's
    /// pull or push (one push kind: rows of lanes have no sparse variant).
    fn hop(&mut self, graph: GraphView<'g>, step: HopStep) -> Result<(), SpreadError> {
        let pull = step.kind == HopKind::Pull;
        for s in &mut self.stats {
            count_hop(s, usize::from(step.hop.index), pull, graph.edge_count());
        }
        self.strengths(graph.out_edges(), &step);
        if pull {
            // Every frontier node is a source (taken and given back to keep
            // the list's allocation).
            let sources = core::mem::take(&mut self.frontier.nodes);
            self.pull_from(graph.in_edges(), &sources, &step);
            self.next.nodes = sources;
        } else {
            self.push(graph.out_edges());
            self.settle_pushed(&step);
        }
        Ok(())
    }

    /// The queries that had a frontier left were stopped; their frontier
    /// did not spread, so it is not counted (as [`Spreader`](super::Spreader)
    /// counts a frontier when its hop runs).
    fn truncated(&mut self, hop: usize) {
        for s in &mut self.stats {
            s.truncated = s.frontier[hop - 1] > 0;
            s.frontier[hop - 1] = 0;
        }
    }

    fn rank(&mut self, params: &SpreadParams, results: &mut [Vec<Activation>]) {
        self.rank_queries(params, results);
    }
}

impl Spread for MultiSpreader {
    fn node_count(&self) -> usize {
        self.nodes
    }

    fn memory_bytes(&self) -> usize {
        MultiSpreader::memory_bytes(self)
    }

    fn spread_gated(
        &mut self,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
        gate: &mut dyn FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, SpreadError> {
        MultiSpreader::spread_gated(self, graph, seeds, params, results, gate)
    }

    /// The activation of `node` for the first query of the last batch (the
    /// only one, after [`Spread::spread`]).
    fn activation(&self, node: u32) -> f32 {
        if (node as usize) < self.nodes {
            self.activation[node as usize * self.stride]
        } else {
            0.0
        }
    }

    /// The hop at which the first query of the last batch reached `node`.
    fn hop_of(&self, node: u32) -> Option<u8> {
        ((node as usize) < self.nodes)
            .then(|| self.hop[node as usize * self.stride])
            .filter(|&h| h != UNREACHED)
    }

    /// The activations of the first query of the last batch.
    fn activations(&self) -> Vec<f32> {
        self.activation
            .iter()
            .step_by(self.stride)
            .copied()
            .collect()
    }
}

/// `v`'s row (from 1) in a table whose rows are listed in `touched`,
/// appending it to the list the first time.
#[cfg(feature = "timely")]
#[inline]
fn touch(slot: &mut [u32], touched: &mut Vec<u32>, v: u32) -> usize {
    let s = &mut slot[v as usize];
    if *s == 0 {
        touched.push(v);
        *s = touched.len() as u32;
    }
    *s as usize
}

/// Counts hop `h` (pulling or not, on a graph of `edges` edges) in the
/// statistics of a query that had a frontier there: its own view of the
/// hop, as it would have run alone.
pub(crate) fn count_hop(stats: &mut SpreadStats, h: usize, pull: bool, edges: usize) {
    if stats.frontier[h - 1] > 0 {
        stats.hops += 1;
        if pull {
            stats.pull_hops += 1;
            stats.edges_scanned += edges as u64;
        } else {
            stats.push_hops += 1;
        }
    }
}

/// What the current hop is doing, for [`Settler::changed`].
#[derive(Clone, Copy)]
struct HopCtx {
    index: u8,
    spreads_on: bool,
    threshold: f32,
    /// Lanes per frontier row.
    width: usize,
}

impl HopCtx {
    fn new(step: &HopStep, width: usize) -> HopCtx {
        HopCtx {
            index: step.hop.index,
            spreads_on: step.hop.spreads_on,
            threshold: step.hop.threshold,
            width,
        }
    }

    /// The gain that makes a node spread: never on the last hop.
    fn spread_threshold(self) -> f32 {
        if self.spreads_on {
            self.threshold
        } else {
            f32::INFINITY
        }
    }
}

/// The bookkeeping of a hop's settling, borrowed apart from the
/// activations and what the hop's edge loop reads.
struct Settler<'a> {
    /// The first node whose activations are kept.
    base: u32,
    stride: usize,
    hop: HopCtx,
    hops: &'a mut [u8],
    reached_by: &'a mut [u32],
    reached: &'a mut Vec<u32>,
    next: &'a mut Frontier,
    next_slot: &'a mut [u32],
    stats: &'a mut [SpreadStats],
}

/// Records that query `q` reached `v` (first time for `q`); `bits` is
/// `v`'s mask of queries that reached it.
#[inline(always)]
fn mark_reached(bits: &mut u32, reached: &mut Vec<u32>, v: u32, q: usize) {
    if *bits == 0 {
        reached.push(v);
    }
    *bits |= 1 << q;
}

impl Settler<'_> {
    /// [`changed`](Self::changed) as the lane kernels' callback, always
    /// inlined into them (see `NodeState::pull_settler`).
    #[inline(always)]
    fn callback(&mut self) -> impl FnMut(u32, u32, u32, &[f32]) + '_ {
        #[inline(always)]
        move |v, first, spreads, gained| self.changed(v, first, spreads, gained)
    }

    /// Node `v` settled: the queries of `first` reached it for the first
    /// time, those of `spreads` spread from it next hop, with `gained[q]`.
    /// Exactly the single-query settle's bookkeeping, lane by lane.
    #[inline(always)]
    fn changed(&mut self, v: u32, mut first: u32, mut spreads: u32, gained: &[f32]) {
        let (index, width) = (self.hop.index, self.hop.width);
        let local = (v - self.base) as usize;
        while first != 0 {
            let q = first.trailing_zeros() as usize;
            first &= first - 1;
            self.hops[local * self.stride + q] = index;
            mark_reached(&mut self.reached_by[local], self.reached, v, q);
            self.stats[q].activated += 1;
        }
        if spreads == 0 {
            return;
        }
        let slot = &mut self.next_slot[local];
        if *slot == 0 {
            self.next.push(v, width);
            *slot = self.next.nodes.len() as u32;
        }
        let row = &mut self.next.delta[(*slot as usize - 1) * width..][..width];
        while spreads != 0 {
            let q = spreads.trailing_zeros() as usize;
            spreads &= spreads - 1;
            row[q] = gained[q];
            self.stats[q].frontier[usize::from(index)] += 1;
        }
    }
}
