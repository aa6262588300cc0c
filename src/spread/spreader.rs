//! The single-threaded backend: one query at a time on the calling thread,
//! in a workspace sized to the graph once.

use alloc::vec::Vec;

use super::SpreadError;
use super::driver::{self, Driver, FrontierSize, HopBackend, HopStep};
use super::params::SpreadParams;
use super::query::{Activation, HopPlan, Seed, SpreadStats, SpreaderConfig};
use super::state::UNREACHED;
use super::workspace::{InMemory, Workspace};
use crate::graph::GraphView;

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
    ws: Workspace,
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
            ws: Workspace::new(nodes, config),
        }
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.ws.state.len()
    }

    /// The configuration.
    pub fn config(&self) -> SpreaderConfig {
        self.driver.config
    }

    /// Bytes of workspace held.
    pub fn memory_bytes(&self) -> usize {
        self.ws.memory_bytes()
    }

    /// Activation of `node` after the last query (0 if not reached or out of range).
    pub fn activation(&self, node: u32) -> f32 {
        if (node as usize) < self.node_count() {
            self.ws.state.activation(node)
        } else {
            0.0
        }
    }

    /// Activation of every node after the last query, by node id (a new
    /// vector: for inspection, not the hot path).
    pub fn activations(&self) -> Vec<f32> {
        self.ws.state.activations().collect()
    }

    /// The hop at which `node` was first reached in the last query.
    pub fn hop_of(&self, node: u32) -> Option<u8> {
        if (node as usize) < self.node_count() {
            Some(self.ws.state.hop(node)).filter(|&h| h != UNREACHED)
        } else {
            None
        }
    }

    /// Nodes reached by the last query, in the order they were reached.
    pub fn reached(&self) -> &[u32] {
        &self.ws.state.activated
    }

    /// Forgets the last query: [`reached`](Spreader::reached) becomes
    /// empty, every activation zero. The next query does this itself, so
    /// calling it changes no result; a serving loop calls it after taking
    /// a query's results, so that the query's latency includes its own
    /// cleanup and none of it lands on the next query (whose cost then
    /// depends on that query alone, which makes it predictable).
    pub fn clear(&mut self) {
        self.ws.state.reset();
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

impl<'g> HopBackend<GraphView<'g>> for Spreader {
    type Results = Vec<Activation>;
    type Error = SpreadError;

    fn node_count(&self) -> usize {
        self.ws.state.len()
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
        self.ws.start(queries, theta0, spreads);
    }

    fn frontier(&self, graph: GraphView<'g>) -> FrontierSize {
        self.ws.frontier_size(&InMemory::new(graph))
    }

    fn reached_count(&self) -> usize {
        self.ws.reached_count()
    }

    #[inline]
    fn hop(&mut self, graph: GraphView<'g>, step: HopStep) -> Result<(), SpreadError> {
        let Ok(()) = self.ws.hop(&mut InMemory::new(graph), step);
        Ok(())
    }

    fn rank(&mut self, params: &SpreadParams, results: &mut Vec<Activation>) {
        self.ws.rank(params, results);
    }
}

// `Spread` is the inherent methods of the same names.
super::interface::spread_through!(Spreader, |this| (*this));
