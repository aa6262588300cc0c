//! The single-threaded backend: one query at a time on the calling thread,
//! in a workspace sized to the graph once.

use alloc::vec::Vec;

use super::SpreadError;
use super::accumulator::SparseAccumulator;
use super::driver::{self, Driver, FrontierSize, HopBackend, HopKind, HopStep, write_results};
use super::fixed::strength;
use super::list::NodeList;
use super::params::SpreadParams;
use super::pull::{pull, saturate};
use super::push::push;
use super::query::{Activation, HopPlan, Seed, SpreadStats, SpreaderConfig};
use super::state::{FrontierEntry, NodeState, UNREACHED, top_keys};
use crate::graph::{CsrView, GraphView};

/// Runs spreading queries on graphs of one size, reusing its buffers: after
/// the first query (which sizes the result buffer), a query allocates nothing.
///
/// ```
/// use axonal::graph::GraphBuilder;
/// use axonal::spread::{Seed, SpreadParams, Spreader};
///
/// let mut b = GraphBuilder::new();
/// b.add_edge(0, 1, 1.0)?;
/// b.add_edge(1, 2, 0.5)?;
/// let graph = b.build()?;
/// let mut spreader = Spreader::new(graph.node_count());
/// let mut results = Vec::new();
/// spreader.spread(&graph, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut results)?;
/// let nodes: Vec<u32> = results.iter().map(|r| r.node).collect();
/// assert_eq!(nodes, [0, 1, 2]);
/// assert_eq!(results[1].hop, 1);
/// assert!((results[1].activation - (-0.7f32).exp()).abs() < 1e-6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Spreader {
    driver: Driver,
    state: NodeState,
    frontier: NodeList<FrontierEntry>,
    next: NodeList<FrontierEntry>,
    sparse: SparseAccumulator,
    /// Pull hops: each frontier node's strength, 0 elsewhere.
    strength: Vec<f32>,
    /// Rank keys (see [`rank_key`]) of the nodes a query returns.
    ranked: Vec<u64>,
}

impl Spreader {
    /// A spreader for graphs of `nodes` nodes, configured by
    /// [`SpreaderConfig::for_nodes`].
    pub fn new(nodes: usize) -> Spreader {
        Spreader::with_config(nodes, SpreaderConfig::for_nodes(nodes))
    }

    /// A spreader for graphs of `nodes` nodes.
    pub fn with_config(nodes: usize, config: SpreaderConfig) -> Spreader {
        Spreader {
            driver: Driver::new(config),
            state: NodeState::new(0, nodes),
            frontier: NodeList::with_capacity(nodes),
            next: NodeList::with_capacity(nodes),
            sparse: SparseAccumulator::new(config.sparse_slots(nodes)),
            strength: alloc::vec![0.0; nodes],
            ranked: Vec::with_capacity(nodes),
        }
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.state.len()
    }

    /// The configuration.
    pub fn config(&self) -> SpreaderConfig {
        self.driver.config
    }

    /// Bytes of workspace held.
    pub fn memory_bytes(&self) -> usize {
        self.state.memory_bytes()
            + self.frontier.memory_bytes()
            + self.next.memory_bytes()
            + self.sparse.memory_bytes()
            + self.strength.len() * 4
            + self.ranked.capacity() * 8
    }

    /// Activation of `node` after the last query (0 if not reached or out of range).
    pub fn activation(&self, node: u32) -> f32 {
        if (node as usize) < self.node_count() {
            self.state.activation(node)
        } else {
            0.0
        }
    }

    /// Activation of every node after the last query, by node id (a new
    /// vector: for inspection, not the hot path).
    pub fn activations(&self) -> Vec<f32> {
        self.state.activations().collect()
    }

    /// The hop at which `node` was first reached in the last query.
    pub fn hop_of(&self, node: u32) -> Option<u8> {
        if (node as usize) < self.node_count() {
            Some(self.state.hop(node)).filter(|&h| h != UNREACHED)
        } else {
            None
        }
    }

    /// Nodes reached by the last query, in the order they were reached.
    pub fn reached(&self) -> &[u32] {
        &self.state.activated
    }

    /// Forgets the last query: [`reached`](Spreader::reached) becomes
    /// empty, every activation zero. The next query does this itself, so
    /// calling it changes no result; a serving loop calls it after taking
    /// a query's results, so that the query's latency includes its own
    /// cleanup and none of it lands on the next query (whose cost then
    /// depends on that query alone, which makes it predictable).
    pub fn clear(&mut self) {
        self.state.reset();
    }

    /// Runs one query and writes its ranked results into `results` (cleared
    /// first). Returns what the query did.
    ///
    /// Errors (bad seeds or parameters, a graph of another size) are
    /// reported before anything changes.
    pub fn spread<'g>(
        &mut self,
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, SpreadError> {
        self.spread_gated(graph, seeds, params, results, |_| true)
    }

    /// [`spread`](Spreader::spread), asking `gate` before every hop whether
    /// it runs: once it says no, the query stops there and ranks what it has
    /// (`SpreadStats::truncated`). Budgets are built on this: a deadline
    /// (`batch::DeadlineSpreader`), a cap on edges read, cancellation.
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
}

impl HopBackend for Spreader {
    type Results = Vec<Activation>;

    fn node_count(&self) -> usize {
        self.state.len()
    }

    fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    fn start<Q: AsRef<[Seed]>>(
        &mut self,
        _graph: GraphView<'_>,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        self.state.reset();
        for seed in queries.iter().flat_map(AsRef::as_ref) {
            self.state.seed(seed.node, seed.activation);
        }
        self.frontier.clear();
        if spreads {
            self.state.seed_frontier(&mut self.frontier, theta0);
        }
    }

    fn frontier(&self, out: CsrView<'_>) -> FrontierSize {
        FrontierSize {
            nodes: self.frontier.len(),
            edges: out.degree_sum(self.frontier.iter().map(|e| e.node)),
        }
    }

    fn reached_count(&self) -> usize {
        self.state.activated.len()
    }

    fn hop(&mut self, graph: GraphView<'_>, step: HopStep) {
        let out = graph.out_edges();
        let (hop, decay_scaled, fan) = (step.hop, step.decay_scaled, step.fan);
        let reached_before = self.state.activated.len();
        let (state, next) = (&mut self.state, &mut self.next);
        next.clear();
        match step.kind {
            HopKind::Pull => {
                for e in &self.frontier {
                    let degree = out.degree(e.node);
                    if degree > 0 {
                        self.strength[e.node as usize] =
                            strength(e.delta, decay_scaled, fan, degree);
                    }
                }
                let rows = 0..graph.node_count() as u32;
                pull(graph.in_edges(), rows, &self.strength, 1.0, |v, units| {
                    state.settle(next, hop, v, saturate(units))
                });
                for e in &self.frontier {
                    self.strength[e.node as usize] = 0.0;
                }
            }
            HopKind::PushSparse => {
                push(out, &self.frontier, decay_scaled, fan, &mut self.sparse);
                self.sparse
                    .drain(|v, units| state.settle(next, hop, v, units));
            }
            HopKind::PushDense => {
                push(out, &self.frontier, decay_scaled, fan, state);
                state.drain_dense(next, hop);
            }
        }
        self.state.record_hops(reached_before, hop.index);
        core::mem::swap(&mut self.frontier, &mut self.next);
    }

    fn rank(&mut self, params: &SpreadParams, results: &mut Vec<Activation>) {
        self.ranked.clear();
        self.state
            .rank_keys(params.min_activation, &mut self.ranked);
        top_keys(&mut self.ranked, params.top_k);
        let state = &self.state;
        write_results(
            &self.ranked,
            params,
            |v| (state.activation(v), state.hop(v)),
            results,
        );
    }
}

// `Spread` is the inherent methods of the same names.
super::interface::spread_through!(Spreader, |this| (*this));
