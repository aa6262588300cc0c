//! The spreading query driver and its reusable workspace.

use alloc::vec::Vec;
use core::cmp::Ordering;

use super::SpreadError;
use super::accumulator::SparseAccumulator;
use super::fixed::{SCALE, strength};
use super::list::NodeList;
use super::params::{MAX_HOPS, SpreadParams};
use super::pull::pull;
use super::push::push;
use super::state::{FrontierEntry, Hop, NodeState, UNREACHED, key_node, top_keys};
use crate::graph::GraphView;

/// A seed of a query: a node and its initial activation in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    /// The node.
    pub node: u32,
    /// Initial activation, in `[0, 1]`.
    pub activation: f32,
}

impl Seed {
    /// A seed.
    pub const fn new(node: u32, activation: f32) -> Seed {
        Seed { node, activation }
    }
}

/// One result of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    /// The node.
    pub node: u32,
    /// Its final activation, in `(0, 1]`.
    pub activation: f32,
    /// The hop at which it was first reached (0 for seeds).
    pub hop: u8,
    /// `activation` times the confidence factor of the hop's tier.
    pub confidence: f32,
}

impl Activation {
    /// Result order: higher activation first, then lower node id.
    #[inline]
    pub fn rank(&self, other: &Activation) -> Ordering {
        other
            .activation
            .total_cmp(&self.activation)
            .then(self.node.cmp(&other.node))
    }
}

/// What a query did: for latency models, tuning and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpreadStats {
    /// Hops that spread activation.
    pub hops: u32,
    /// Of those, hops run by pushing along out-edges.
    pub push_hops: u32,
    /// Of those, hops run by pulling over in-edges.
    pub pull_hops: u32,
    /// Out-edges of all spreading nodes, summed over hops: the work the
    /// algorithm defines, whatever the direction.
    pub edges_traversed: u64,
    /// Edges actually read (a pull hop reads every in-edge).
    pub edges_scanned: u64,
    /// Nodes that gained activation (seeds included).
    pub activated: u32,
    /// `frontier[h]`: nodes spreading from hop `h`.
    pub frontier: [u32; MAX_HOPS + 1],
    /// Whether a gate stopped the query before its last hop
    /// ([`Spreader::spread_gated`]): the results are those of the `hops`
    /// hops that ran.
    pub truncated: bool,
}

/// What the next hop will do: what a gate ([`Spreader::spread_gated`]) sees
/// before deciding whether it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopPlan {
    /// The hop (1 for the first).
    pub hop: u32,
    /// Nodes that would spread.
    pub frontier: u32,
    /// Their out-edges.
    pub frontier_edges: u64,
    /// Whether the hop would pull over every in-edge (else push).
    pub pull: bool,
    /// Edges the hop would read: every edge for a pull, `frontier_edges` for
    /// a push.
    pub edges_to_read: u64,
    /// Nodes reached so far.
    pub reached: u32,
}

impl Default for SpreadStats {
    fn default() -> Self {
        SpreadStats {
            hops: 0,
            push_hops: 0,
            pull_hops: 0,
            edges_traversed: 0,
            edges_scanned: 0,
            activated: 0,
            frontier: [0; MAX_HOPS + 1],
            truncated: false,
        }
    }
}

/// Tuning knobs of the direction and accumulator choice. Results do not
/// depend on them, only speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreaderConfig {
    /// Pull when the frontier's out-edges exceed this share of all edges.
    pub pull_fraction: f32,
    /// Slots of the hash accumulator; push hops of at most half as many
    /// edges use it instead of the dense array.
    pub sparse_capacity: usize,
}

impl SpreaderConfig {
    /// Graphs up to this many nodes keep their spreading state in L2, where a
    /// scattered push write costs about what a streamed pull read does.
    pub const SMALL_GRAPH_NODES: usize = 1 << 16;

    /// The default for a graph of `nodes` nodes. Pulling reads every in-edge,
    /// so it pays once the frontier's edges are a large share: 20% on large
    /// graphs (measured on `rmat20`: 0.02 to 0.2 pull the same hops, pure push
    /// is 2.4x slower), 50% on small ones (on Barabasi-Albert(2000), pulling
    /// from 5% was 2.5x slower than pushing).
    pub fn for_nodes(nodes: usize) -> SpreaderConfig {
        let pull_fraction = if nodes <= Self::SMALL_GRAPH_NODES {
            0.5
        } else {
            0.2
        };
        SpreaderConfig {
            pull_fraction,
            sparse_capacity: 1 << 14,
        }
    }
}

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
    config: SpreaderConfig,
    state: NodeState,
    frontier: NodeList<FrontierEntry>,
    next: NodeList<FrontierEntry>,
    sparse: SparseAccumulator,
    /// Pull hops: each frontier node's strength, 0 elsewhere.
    strength: Vec<f32>,
    /// Rank keys (see [`rank_key`]) of the nodes a query returns.
    ranked: Vec<u64>,
    schedule: Schedule,
}

/// Per-hop constants of the last validated parameters: engines repeat the
/// same parameters query after query, so validation and `exp` / `pow` run
/// only when they change.
pub(crate) struct Schedule {
    params: Option<SpreadParams>,
    /// `decay(h) * 2^30`, rounded to `f32` once (index 0 unused).
    pub(crate) decay_scaled: [f32; MAX_HOPS + 1],
    pub(crate) threshold: [f32; MAX_HOPS + 1],
}

impl Schedule {
    pub(crate) fn empty() -> Schedule {
        Schedule {
            params: None,
            decay_scaled: [0.0; MAX_HOPS + 1],
            threshold: [0.0; MAX_HOPS + 1],
        }
    }

    fn new(params: &SpreadParams) -> Schedule {
        let mut s = Schedule {
            params: Some(*params),
            ..Schedule::empty()
        };
        for h in 0..=params.max_hops {
            s.threshold[h] = params.threshold.at(h);
            if h > 0 {
                s.decay_scaled[h] = (params.decay.at(h) as f32) * SCALE;
            }
        }
        s
    }

    /// Checks a query against a workspace of `workspace` nodes and makes
    /// this the schedule of `params`. Changes nothing on error.
    pub(crate) fn prepare(
        &mut self,
        workspace: usize,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
    ) -> Result<(), SpreadError> {
        let n = graph.node_count();
        if n != workspace {
            return Err(SpreadError::WorkspaceMismatch {
                workspace,
                graph: n,
            });
        }
        if self.params != Some(*params) {
            params.validate()?;
            *self = Schedule::new(params);
        }
        for (index, seed) in seeds.iter().enumerate() {
            if seed.node as usize >= n || !(0.0..=1.0).contains(&seed.activation) {
                return Err(SpreadError::InvalidSeed {
                    index,
                    node: seed.node,
                    activation: seed.activation,
                });
            }
        }
        Ok(())
    }

    /// The constants of hop `h` (>= 1).
    pub(crate) fn hop(&self, h: usize, params: &SpreadParams) -> Hop {
        Hop {
            index: h as u8,
            spreads_on: h < params.max_hops,
            threshold: self.threshold[h],
        }
    }
}

impl HopPlan {
    pub(crate) fn new(
        hop: usize,
        frontier: usize,
        frontier_edges: u64,
        pull: bool,
        graph: GraphView<'_>,
        reached: usize,
    ) -> HopPlan {
        HopPlan {
            hop: hop as u32,
            frontier: frontier as u32,
            frontier_edges,
            pull,
            edges_to_read: if pull {
                graph.edge_count() as u64
            } else {
                frontier_edges
            },
            reached: reached as u32,
        }
    }
}

/// A pulled row's `u64` sum as the `u32` a settle takes (saturated: a sum
/// that large caps the node at 1 anyway).
#[inline(always)]
pub(crate) fn saturate(units: u64) -> u32 {
    units.min(u64::from(u32::MAX)) as u32
}

/// The results of a query from its ranked keys (see [`top_keys`]).
pub(crate) fn write_results(
    keys: &[u64],
    params: &SpreadParams,
    lookup: impl Fn(u32) -> (f32, u8),
    results: &mut Vec<Activation>,
) {
    results.clear();
    results.extend(keys.iter().map(|&key| {
        let v = key_node(key);
        let (activation, hop) = lookup(v);
        Activation {
            node: v,
            activation,
            hop,
            confidence: activation * params.confidence.at(hop),
        }
    }));
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
            config,
            state: NodeState::new(0, nodes),
            frontier: NodeList::with_capacity(nodes),
            next: NodeList::with_capacity(nodes),
            sparse: SparseAccumulator::new(config.sparse_capacity.min(nodes.next_power_of_two())),
            strength: alloc::vec![0.0; nodes],
            ranked: Vec::with_capacity(nodes),
            schedule: Schedule::empty(),
        }
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.state.len()
    }

    /// The configuration.
    pub fn config(&self) -> SpreaderConfig {
        self.config
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

    /// Activation of every node after the last query, by node id.
    pub fn activations(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.state.activations()
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
        let graph = graph.into();
        self.schedule
            .prepare(self.node_count(), graph, seeds, params)?;
        self.state.reset();
        let stats = self.run(graph, seeds, params, &mut gate);
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
        Ok(stats)
    }

    fn run(
        &mut self,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        gate: &mut impl FnMut(&HopPlan) -> bool,
    ) -> SpreadStats {
        let out = graph.out_edges();
        let mut stats = SpreadStats::default();
        for seed in seeds {
            self.state.seed(seed.node, seed.activation);
        }
        self.frontier.clear();
        if params.max_hops > 0 {
            self.state
                .seed_frontier(&mut self.frontier, self.schedule.threshold[0]);
        }

        let pull_above = self.config.pull_fraction * graph.edge_count() as f32;
        for h in 1..=params.max_hops {
            if self.frontier.is_empty() {
                break;
            }
            let frontier_edges: u64 = self
                .frontier
                .iter()
                .map(|e| u64::from(out.degree(e.node)))
                .sum();
            let plan = HopPlan::new(
                h,
                self.frontier.len(),
                frontier_edges,
                frontier_edges as f32 > pull_above,
                graph,
                self.state.activated.len(),
            );
            if !gate(&plan) {
                stats.truncated = true;
                break;
            }
            stats.frontier[h - 1] = self.frontier.len() as u32;
            stats.edges_traversed += frontier_edges;
            stats.hops += 1;
            let decay_scaled = self.schedule.decay_scaled[h];
            let hop = self.schedule.hop(h, params);
            let reached_before = self.state.activated.len();
            let (state, next) = (&mut self.state, &mut self.next);
            next.clear();
            if plan.pull {
                stats.pull_hops += 1;
                stats.edges_scanned += graph.edge_count() as u64;
                for e in &self.frontier {
                    let degree = out.degree(e.node);
                    if degree > 0 {
                        self.strength[e.node as usize] =
                            strength(e.delta, decay_scaled, params.fan, degree);
                    }
                }
                let rows = 0..graph.node_count() as u32;
                pull(graph.in_edges(), rows, &self.strength, 1.0, |v, units| {
                    state.settle(next, hop, v, saturate(units))
                });
                for e in &self.frontier {
                    self.strength[e.node as usize] = 0.0;
                }
            } else {
                stats.push_hops += 1;
                stats.edges_scanned += frontier_edges;
                if frontier_edges <= self.sparse.capacity() as u64 / 2 {
                    push(
                        out,
                        &self.frontier,
                        decay_scaled,
                        params.fan,
                        &mut self.sparse,
                    );
                    self.sparse
                        .drain(|v, units| state.settle(next, hop, v, units));
                } else {
                    push(out, &self.frontier, decay_scaled, params.fan, state);
                    state.drain_dense(next, hop);
                }
            }
            self.state.record_hops(reached_before, hop.index);
            core::mem::swap(&mut self.frontier, &mut self.next);
        }
        stats.activated = self.state.activated.len() as u32;
        stats
    }
}
