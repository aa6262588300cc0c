//! Parallel spreading: one query over pinned workers, and independent
//! queries side by side.
//!
//! [`ParallelSpreader`] splits the node ids into one contiguous range per
//! worker, balanced by in-edges (the work of a pull hop). Worker `w` owns the
//! state of its range (activation, hop, its share of the frontier) and is the
//! only thread that writes it, so no hop needs atomics:
//!
//! - **pull** hops: each worker writes its frontier's strengths into the one
//!   shared strength array, then (after all have) gathers its own rows' in-edges
//!   and settles its own nodes;
//! - **push** hops over many edges: each worker pushes its frontier along the
//!   out-edges, adding contributions to its own nodes directly and appending
//!   the others' to a bin per owner; then each owner adds its bins and settles;
//! - **push** hops over few edges (a few thousand, microseconds of work) run on
//!   the calling thread, as in the single-threaded [`Spreader`].
//!
//! Every contribution is the same fixed-point integer as in the single-threaded
//! kernel, and integer sums do not depend on their order, so the activations,
//! hops and results are **bit-identical to [`Spreader`]'s for any number of
//! workers** (`tests/parallel.rs` checks 1, 2, 3, 4, 8 and 16). Only the
//! order of [`ParallelSpreader::reached`] differs (it is by worker, then by
//! hop).
//!
//! [`ConcurrentSpreader`] is the other way to use the workers: many small
//! queries (`query_std` touches ~1% of a large graph, and one hop is tens of
//! microseconds), each run whole by one worker with its own [`Spreader`].

use alloc::vec::Vec;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use super::accumulator::{Accumulate, SparseAccumulator};
use super::driver::{self, Driver, FrontierSize, HopBackend, HopKind, HopStep, write_results};
use super::fixed::strength;
use super::list::NodeList;
use super::params::SpreadParams;
use super::pull::pull;
use super::push::push;
use super::state::{FrontierEntry, Hop, NodeState, UNREACHED, top_keys};
use super::{Activation, HopPlan, Seed, SpreadError, SpreadStats, Spreader, SpreaderConfig};
use crate::graph::{CsrView, GraphView};
use crate::machine::numa::{self, NotApplied};
use crate::machine::topology::Topology;
use crate::machine::workers::Workers;

/// One worker's share of a query: the state of its node range and its part
/// of the frontier.
struct Part {
    state: NodeState,
    frontier: NodeList<FrontierEntry>,
    next: NodeList<FrontierEntry>,
    /// Out-edges of `frontier`.
    frontier_edges: u64,
    /// `state.activated.len()` when the current hop started.
    reached_before: usize,
    /// This part's best rank keys.
    keys: Vec<u64>,
}

impl Part {
    /// The part of nodes `base..base + len`, nothing reached.
    fn new(base: u32, len: usize) -> Part {
        Part {
            state: NodeState::new(base, len),
            frontier: NodeList::with_capacity(len),
            next: NodeList::with_capacity(len),
            frontier_edges: 0,
            reached_before: 0,
            keys: Vec::new(),
        }
    }

    /// Ends a hop: records first-reach hops, makes `next` the frontier and
    /// counts its out-edges.
    fn finish_hop(&mut self, hop: Hop, out: CsrView<'_>) {
        self.state.record_hops(self.reached_before, hop.index);
        core::mem::swap(&mut self.frontier, &mut self.next);
        self.frontier_edges = out.degree_sum(self.frontier.iter().map(|e| e.node));
    }

    /// Starts a hop.
    fn start_hop(&mut self) {
        self.next.clear();
        self.reached_before = self.state.activated.len();
    }
}

/// One worker's push bins: `(node, units)` contributions, one bin per owner.
type BinRow = Vec<Vec<(u32, u32)>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoned only if a worker panicked mid-query, which `Workers::run`
    // re-raises on the caller: the next query resets every part anyway.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one spreading query at a time over every worker of a [`Workers`]
/// pool, with the results of the single-threaded [`Spreader`], bit for bit.
///
/// Like [`Spreader`], it owns every buffer a query needs; after warm-up
/// (the push bins and the result buffer grow to the largest query seen) a
/// query allocates nothing.
///
/// ```
/// use axonal::graph::generate;
/// use axonal::spread::{ParallelSpreader, Seed, SpreadParams, Spreader};
/// use axonal::machine::workers::Workers;
///
/// let graph = generate::barabasi_albert(2_000, 3, 7);
/// let workers = Workers::new(2)?;
/// let mut parallel = ParallelSpreader::new(&graph, &workers);
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// let seeds = [Seed::new(0, 1.0), Seed::new(42, 0.8)];
/// parallel.spread(&graph, &seeds, &SpreadParams::default(), &mut a)?;
/// Spreader::new(graph.node_count()).spread(&graph, &seeds, &SpreadParams::default(), &mut b)?;
/// assert_eq!(a, b);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParallelSpreader {
    workers: Workers,
    driver: Driver,
    nodes: usize,
    /// Worker `w` owns nodes `bounds[w]..bounds[w + 1]`.
    bounds: Vec<u32>,
    /// The same, as `usize` (for `Workers::run_split`).
    bounds_usize: Vec<usize>,
    parts: Vec<Mutex<Part>>,
    /// `bins[w][o]`: contributions worker `w` pushed to nodes of worker `o`.
    bins: Vec<RwLock<BinRow>>,
    /// Pull hops: each frontier node's strength, 0 elsewhere.
    strength: Vec<f32>,
    /// Small push hops, run on the calling thread.
    sparse: SparseAccumulator,
    ranked: Vec<u64>,
}

impl ParallelSpreader {
    /// A spreader for graphs shaped like `graph` (its node count, and its
    /// in-degrees to balance the workers' ranges), running on `workers`.
    /// Graphs of the same size but other shapes give the same results, only
    /// less evenly spread over the workers.
    pub fn new<'g>(graph: impl Into<GraphView<'g>>, workers: &Workers) -> ParallelSpreader {
        let graph = graph.into();
        let nodes = graph.node_count();
        ParallelSpreader::with_config(graph, workers, SpreaderConfig::for_nodes(nodes))
    }

    /// [`new`](ParallelSpreader::new) with an explicit configuration.
    pub fn with_config<'g>(
        graph: impl Into<GraphView<'g>>,
        workers: &Workers,
        config: SpreaderConfig,
    ) -> ParallelSpreader {
        let graph = graph.into();
        let nodes = graph.node_count();
        let threads = workers.threads();
        let bounds = partition(graph.in_edges().offsets(), threads);
        // Each worker allocates and fills its own part, so its pages are
        // first touched, and placed, on the worker's NUMA node.
        let parts: Vec<Mutex<Part>> = (0..threads).map(|_| Mutex::new(Part::new(0, 0))).collect();
        workers.run(&|w| {
            let len = (bounds[w + 1] - bounds[w]) as usize;
            *lock(&parts[w]) = Part::new(bounds[w], len);
        });
        ParallelSpreader {
            workers: workers.clone(),
            driver: Driver::new(config),
            nodes,
            bounds_usize: bounds.iter().map(|&b| b as usize).collect(),
            bounds,
            parts,
            bins: (0..threads)
                .map(|_| RwLock::new((0..threads).map(|_| Vec::new()).collect()))
                .collect(),
            strength: alloc::vec![0.0; nodes],
            sparse: SparseAccumulator::new(config.sparse_slots(nodes)),
            ranked: Vec::new(),
        }
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The worker pool.
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// The node range each worker owns: worker `w` has
    /// `bounds()[w]..bounds()[w + 1]`.
    pub fn bounds(&self) -> &[u32] {
        &self.bounds
    }

    /// Activation of `node` after the last query (0 if not reached or out of range).
    pub fn activation(&self, node: u32) -> f32 {
        match self.owner(node) {
            Some(w) => lock(&self.parts[w]).state.activation(node),
            None => 0.0,
        }
    }

    /// The hop at which `node` was first reached in the last query.
    pub fn hop_of(&self, node: u32) -> Option<u8> {
        let w = self.owner(node)?;
        Some(lock(&self.parts[w]).state.hop(node)).filter(|&h| h != UNREACHED)
    }

    /// Activation of every node after the last query, by node id (a new
    /// vector: for inspection, not the hot path).
    pub fn activations(&self) -> Vec<f32> {
        let mut all = Vec::with_capacity(self.nodes);
        for part in &self.parts {
            all.extend(lock(part).state.activations());
        }
        all
    }

    /// Nodes reached by the last query: by worker, each in the order
    /// reached (a new vector).
    pub fn reached(&self) -> Vec<u32> {
        let mut all = Vec::new();
        for part in &self.parts {
            all.extend_from_slice(&lock(part).state.activated);
        }
        all
    }

    /// Bytes of workspace held.
    pub fn memory_bytes(&self) -> usize {
        let mut bytes =
            self.strength.len() * 4 + self.sparse.memory_bytes() + self.ranked.capacity() * 8;
        for part in &self.parts {
            let p = lock(part);
            bytes += p.state.memory_bytes()
                + p.frontier.memory_bytes()
                + p.next.memory_bytes()
                + p.keys.capacity() * 8;
        }
        for row in &self.bins {
            let row = row.read().unwrap_or_else(PoisonError::into_inner);
            bytes += row.iter().map(|b| b.capacity() * 8).sum::<usize>();
        }
        bytes
    }

    /// Moves the in-edge arrays of `graph` (what pull hops stream) so that
    /// each worker's rows live on its worker's NUMA node ([`numa::place_parts`]).
    /// Results do not change, only where memory sits; each worker's own
    /// state is already on its node (allocated and first touched there).
    /// On a one-node machine, with unpinned workers, or where the kernel
    /// refuses, says why and changes nothing.
    ///
    /// # Panics
    /// If `graph` has another node count.
    pub fn place_graph<'g>(&self, graph: impl Into<GraphView<'g>>) -> Result<(), NotApplied> {
        let inc = graph.into().in_edges();
        assert_eq!(
            inc.node_count(),
            self.nodes,
            "a graph of this spreader's size"
        );
        let nodes: Option<Vec<u32>> = (0..self.workers.threads())
            .map(|w| self.workers.node(w))
            .collect();
        let nodes = nodes.ok_or(NotApplied::UnpinnedWorkers)?;
        let topology = Topology::detect();
        let offsets = inc.offsets();
        let edges: Vec<usize> = self
            .bounds
            .iter()
            .map(|&v| offsets[v as usize] as usize)
            .collect();
        numa::place_parts(inc.targets(), &topology, &edges, &nodes)?;
        numa::place_parts(inc.weights(), &topology, &edges, &nodes)?;
        numa::place_parts(offsets, &topology, &self.bounds_usize, &nodes)
    }

    /// The worker owning `node`.
    fn owner(&self, node: u32) -> Option<usize> {
        ((node as usize) < self.nodes).then(|| owner_of(&self.bounds, node))
    }

    /// Runs one query on every worker and writes its ranked results into
    /// `results` (cleared first): the same results, activations and hops as
    /// [`Spreader::spread`]. Errors are reported before anything changes.
    pub fn spread<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, SpreadError> {
        self.spread_gated(graph, seeds, params, results, |_| true)
    }

    /// [`spread`](ParallelSpreader::spread) with a gate before every hop,
    /// as [`Spreader::spread_gated`] (the same gate sees the same plans).
    pub fn spread_gated<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
        mut gate: impl FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, SpreadError> {
        driver::run(self, graph.into(), &[seeds], params, results, &mut gate)
    }

    /// A pull hop: strengths in, then every worker gathers its own rows.
    fn pull_hop(&mut self, graph: GraphView<'_>, step: HopStep) {
        let (out, inc) = (graph.out_edges(), graph.in_edges());
        let (hop, decay_scaled, fan) = (step.hop, step.decay_scaled, step.fan);
        let (parts, bounds) = (&self.parts, &self.bounds);
        // A worker's frontier lies in its own range: it writes its own part
        // of the strength array.
        self.workers
            .run_split(&mut self.strength, &self.bounds_usize, |w, strengths| {
                let p = lock(&parts[w]);
                let base = p.state.base();
                for e in &p.frontier {
                    let degree = out.degree(e.node);
                    if degree > 0 {
                        strengths[(e.node - base) as usize] =
                            strength(e.delta, decay_scaled, fan, degree);
                    }
                }
            });
        let strengths = &self.strength;
        self.workers.run(&|w| {
            let p = &mut *lock(&parts[w]);
            p.start_hop();
            let (state, next) = (&mut p.state, &mut p.next);
            let settle = state.pull_settler(next, hop);
            pull(inc, bounds[w]..bounds[w + 1], strengths, 1.0, settle);
        });
        self.workers
            .run_split(&mut self.strength, &self.bounds_usize, |w, strengths| {
                let p = &mut *lock(&parts[w]);
                let base = p.state.base();
                for e in &p.frontier {
                    strengths[(e.node - base) as usize] = 0.0;
                }
                p.finish_hop(hop, out);
            });
    }

    /// A push hop over many edges: every worker pushes its frontier, keeping
    /// contributions to its own nodes and binning the rest by owner; then
    /// every worker adds the bins addressed to it and settles its nodes.
    fn push_hop(&mut self, out: CsrView<'_>, step: HopStep) {
        let (hop, decay_scaled, fan) = (step.hop, step.decay_scaled, step.fan);
        let (parts, bins, bounds) = (&self.parts, &self.bins, &self.bounds);
        self.workers.run(&|w| {
            let p = &mut *lock(&parts[w]);
            p.start_hop();
            let mut row = bins[w].write().unwrap_or_else(PoisonError::into_inner);
            row.iter_mut().for_each(Vec::clear);
            let mut router = Router {
                own: &mut p.state,
                range: bounds[w]..bounds[w + 1],
                bounds,
                bins: &mut row,
            };
            push(out, &p.frontier, decay_scaled, fan, &mut router);
        });
        self.workers.run(&|w| {
            let p = &mut *lock(&parts[w]);
            for row in bins {
                let row = row.read().unwrap_or_else(PoisonError::into_inner);
                for &(v, units) in &row[w] {
                    p.state.add(v, units);
                }
            }
            p.state.drain_dense(&mut p.next, hop);
            p.finish_hop(hop, out);
        });
    }

    /// A push hop over few edges, on the calling thread.
    fn small_push_hop(&mut self, out: CsrView<'_>, step: HopStep) {
        let (hop, decay_scaled, fan) = (step.hop, step.decay_scaled, step.fan);
        for part in &mut self.parts {
            let p = part_mut(part);
            push(out, &p.frontier, decay_scaled, fan, &mut self.sparse);
            p.start_hop();
        }
        let (bounds, parts) = (&self.bounds, &mut self.parts);
        self.sparse.drain(|v, units| {
            let p = part_mut(&mut parts[owner_of(bounds, v)]);
            p.state.settle(&mut p.next, hop, v, units);
        });
        for part in &mut self.parts {
            part_mut(part).finish_hop(hop, out);
        }
    }
}

impl<'g> HopBackend<GraphView<'g>> for ParallelSpreader {
    type Results = Vec<Activation>;
    type Error = SpreadError;

    fn node_count(&self) -> usize {
        self.nodes
    }

    fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    fn start<Q: AsRef<[Seed]>>(
        &mut self,
        graph: GraphView<'g>,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        let out = graph.out_edges();
        let parts = &self.parts;
        self.workers.run(&|w| lock(&parts[w]).state.reset());
        for seed in queries.iter().flat_map(AsRef::as_ref) {
            let w = owner_of(&self.bounds, seed.node);
            part_mut(&mut self.parts[w])
                .state
                .seed(seed.node, seed.activation);
        }
        for part in &mut self.parts {
            let p = part_mut(part);
            p.frontier.clear();
            if spreads {
                p.state.seed_frontier(&mut p.frontier, theta0);
            }
            p.frontier_edges = out.degree_sum(p.frontier.iter().map(|e| e.node));
        }
    }

    fn frontier(&self, _graph: GraphView<'g>) -> FrontierSize {
        let mut size = FrontierSize::default();
        for part in &self.parts {
            let p = lock(part);
            size.nodes += p.frontier.len();
            size.edges += p.frontier_edges;
        }
        size
    }

    fn reached_count(&self) -> usize {
        self.parts
            .iter()
            .map(|part| lock(part).state.activated.len())
            .sum()
    }

    fn hop(&mut self, graph: GraphView<'g>, step: HopStep) -> Result<(), SpreadError> {
        match step.kind {
            HopKind::Pull => self.pull_hop(graph, step),
            HopKind::PushSparse => self.small_push_hop(graph.out_edges(), step),
            HopKind::PushDense => self.push_hop(graph.out_edges(), step),
        }
        Ok(())
    }

    /// Each worker keeps its own best `top_k`; the best of those are the
    /// query's.
    fn rank(&mut self, params: &SpreadParams, results: &mut Vec<Activation>) {
        let (parts, min, k) = (&self.parts, params.min_activation, params.top_k);
        self.workers.run(&|w| {
            let p = &mut *lock(&parts[w]);
            p.keys.clear();
            p.state.rank_keys(min, &mut p.keys);
            top_keys(&mut p.keys, k);
        });
        self.ranked.clear();
        for part in &mut self.parts {
            self.ranked.extend_from_slice(&part_mut(part).keys);
        }
        top_keys(&mut self.ranked, k);
        let (bounds, parts) = (&self.bounds, &self.parts);
        write_results(
            &self.ranked,
            params,
            |v| {
                let p = lock(&parts[owner_of(bounds, v)]);
                (p.state.activation(v), p.state.hop(v))
            },
            results,
        );
    }
}

// `Spread` is the inherent methods of the same names.
super::interface::spread_through!(ParallelSpreader, |this| (*this));

fn part_mut(part: &mut Mutex<Part>) -> &mut Part {
    part.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// The worker whose range holds `node` (`node` below the node count).
#[inline(always)]
fn owner_of(bounds: &[u32], node: u32) -> usize {
    bounds[1..].partition_point(|&end| end <= node)
}

/// A push accumulator that adds contributions to the worker's own nodes and
/// bins the others' by owner.
struct Router<'a> {
    own: &'a mut NodeState,
    range: core::ops::Range<u32>,
    bounds: &'a [u32],
    bins: &'a mut [Vec<(u32, u32)>],
}

impl Accumulate for Router<'_> {
    #[inline(always)]
    fn add(&mut self, node: u32, units: u32) {
        if self.range.contains(&node) {
            self.own.add(node, units);
        } else {
            self.bins[owner_of(self.bounds, node)].push((node, units));
        }
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        if self.range.contains(&node) {
            self.own.prefetch(node);
        }
    }
}

/// Splits nodes `0..n` into `parts` contiguous ranges of about equal pull
/// work: in-edges plus a per-node cost. A row's setup, its partial last
/// vector and the settle weigh about as much as 8 gathered edges: on the
/// degree-ordered `rmat20`, two workers split by edges alone took 18 and 31 ms
/// for the same pull hop (the second holding a million short rows), at 8
/// per node within 15%. `offsets` are the in-edge offsets (`n + 1` entries).
fn partition(offsets: &[u64], parts: usize) -> Vec<u32> {
    let n = offsets.len() - 1;
    const NODE_COST: u64 = 8;
    let work = |v: usize| offsets[v] + NODE_COST * v as u64;
    let total = work(n);
    let mut bounds = Vec::with_capacity(parts + 1);
    bounds.push(0u32);
    for k in 1..parts {
        let target = total * k as u64 / parts as u64;
        // The first node whose prefix work reaches the target.
        let (mut v, mut hi) = (0, n);
        while v < hi {
            let mid = v + (hi - v) / 2;
            if work(mid) < target {
                v = mid + 1;
            } else {
                hi = mid;
            }
        }
        bounds.push((v as u32).max(*bounds.last().unwrap()));
    }
    bounds.push(n as u32);
    bounds
}

/// Runs independent queries side by side: each worker runs whole queries,
/// one at a time, on its own [`Spreader`]. Each query's results are those of
/// running it alone.
///
/// ```
/// use axonal::graph::generate;
/// use axonal::spread::{ConcurrentSpreader, QueryJob, Seed, SpreadParams};
/// use axonal::machine::workers::Workers;
///
/// let graph = generate::barabasi_albert(2_000, 3, 7);
/// let mut spreaders = ConcurrentSpreader::new(graph.node_count(), &Workers::new(2)?);
/// let seeds: Vec<[Seed; 1]> = (0..8).map(|i| [Seed::new(i * 100, 1.0)]).collect();
/// let mut jobs: Vec<QueryJob> = seeds.iter().map(|s| QueryJob::new(s)).collect();
/// spreaders.spread(&graph, &SpreadParams::default(), &mut jobs);
/// for job in &jobs {
///     assert!(job.outcome.as_ref().unwrap().is_ok());
///     assert!(!job.results.is_empty());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ConcurrentSpreader {
    workers: Workers,
    spreaders: Vec<Mutex<Spreader>>,
    bounds: Vec<usize>,
}

/// One query for [`ConcurrentSpreader::spread`] and what it gave. Keep jobs
/// between batches to reuse their result buffers.
#[derive(Debug, Clone)]
pub struct QueryJob<'s> {
    /// The query's seeds.
    pub seeds: &'s [Seed],
    /// Its ranked results.
    pub results: Vec<Activation>,
    /// What [`Spreader::spread`] returned (`None` before it ran).
    pub outcome: Option<Result<SpreadStats, SpreadError>>,
}

impl<'s> QueryJob<'s> {
    /// A query of `seeds`.
    pub fn new(seeds: &'s [Seed]) -> QueryJob<'s> {
        QueryJob {
            seeds,
            results: Vec::new(),
            outcome: None,
        }
    }
}

impl ConcurrentSpreader {
    /// One [`Spreader`] for graphs of `nodes` nodes per worker.
    pub fn new(nodes: usize, workers: &Workers) -> ConcurrentSpreader {
        ConcurrentSpreader {
            workers: workers.clone(),
            spreaders: (0..workers.threads())
                .map(|_| Mutex::new(Spreader::new(nodes)))
                .collect(),
            bounds: Vec::with_capacity(workers.threads() + 1),
        }
    }

    /// Bytes of workspace held (every worker's [`Spreader`]).
    pub fn memory_bytes(&self) -> usize {
        self.spreaders.iter().map(|s| lock(s).memory_bytes()).sum()
    }

    /// Runs every job: worker `w` takes the `w`-th contiguous share of
    /// `jobs`, in order.
    pub fn spread<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        params: &SpreadParams,
        jobs: &mut [QueryJob<'_>],
    ) {
        let graph = graph.into();
        let threads = self.workers.threads();
        self.bounds.clear();
        self.bounds
            .extend((0..=threads).map(|w| jobs.len() * w / threads));
        let spreaders = &self.spreaders;
        self.workers.run_split(jobs, &self.bounds, |w, share| {
            let mut spreader = lock(&spreaders[w]);
            for job in share {
                job.outcome = Some(spreader.spread(graph, job.seeds, params, &mut job.results));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_balances_in_edges_and_covers_every_node() {
        // Node 0 has 100 in-edges, nodes 1..=9 one each.
        let mut offsets = vec![0u64, 100];
        for _ in 1..10 {
            offsets.push(offsets.last().unwrap() + 1);
        }
        let b = partition(&offsets, 2);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0], b[2]), (0, 10));
        assert_eq!(b[1], 1, "the hub's range is the hub alone");
        // More parts than nodes: empty ranges, still in order.
        let b = partition(&[0, 1, 2], 4);
        assert_eq!(b.len(), 5);
        assert!(b.windows(2).all(|w| w[0] <= w[1]) && b[4] == 2);
        assert_eq!(owner_of(&[0, 1, 1, 3], 0), 0);
        assert_eq!(owner_of(&[0, 1, 1, 3], 1), 2);
        assert_eq!(owner_of(&[0, 1, 1, 3], 2), 2);
    }
}
