//! The spreading query driver and its reusable workspace.

use alloc::vec::Vec;
use core::cmp::Ordering;

use super::SpreadError;
use super::accumulator::SparseAccumulator;
use super::fixed::{SCALE, apply, strength};
use super::list::NodeList;
use super::params::{MAX_HOPS, SpreadParams};
use super::pull::pull;
use super::push::{Accumulate, push};
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

/// A frontier node and the activation it newly gained (and now spreads).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrontierEntry {
    pub(crate) node: u32,
    pub(crate) delta: f32,
}

/// `hop` value of a node not reached.
const UNREACHED: u8 = u8::MAX;

/// A node's activation and the fixed-point sum pending for it this hop,
/// side by side: a push hop touches one cache line per node, not two.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(8))]
struct NodeCell {
    activation: f32,
    pending: u32,
}

/// Per-node state of the current query; also the dense push accumulator.
///
/// A node is reached exactly when its activation is positive, so the hop
/// array is written once per node and never read on the hot path.
struct NodeState {
    cells: Vec<NodeCell>,
    hop: Vec<u8>,
    /// Nodes reached, in the order reached. Their `hop` entries are written
    /// once per hop in a separate pass (`record_hops`).
    activated: NodeList<u32>,
    /// Dense push: the nodes whose `pending` is non-zero.
    touched: NodeList<u32>,
}

/// What the current hop is doing, for [`NodeState::settle`].
#[derive(Clone, Copy)]
struct Hop {
    index: u8,
    spreads_on: bool,
    threshold: f32,
}

impl Accumulate for NodeState {
    /// Branch-free: whether a node is new depends on a load that often misses
    /// cache, and a mispredicted branch on it would serialise the scattered
    /// updates. The id is always written; the list grows only for new nodes.
    #[inline(always)]
    fn add(&mut self, node: u32, units: u32) {
        let cell = &mut self.cells[node as usize];
        let is_new = (cell.pending == 0) & (units != 0);
        cell.pending = cell.pending.saturating_add(units);
        self.touched.push_if(node, is_new);
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        crate::hint::prefetch(&self.cells, node as usize);
    }
}

impl NodeState {
    /// Applies `units` of incoming activation to `v`; if `v` gained at least
    /// the threshold, it spreads next hop. Branch-free (see [`NodeList`]).
    #[inline(always)]
    fn settle(&mut self, next: &mut NodeList<FrontierEntry>, hop: Hop, v: u32, units: u32) {
        let cell = &mut self.cells[v as usize];
        let current = cell.activation;
        let new = apply(current, units);
        let gained = new - current;
        cell.activation = new;
        self.activated.push_if(v, (current == 0.0) & (gained > 0.0));
        next.push_if(
            FrontierEntry {
                node: v,
                delta: gained,
            },
            hop.spreads_on & (gained > 0.0) & (gained >= hop.threshold),
        );
    }

    /// Settles every node the dense accumulator touched.
    fn drain_dense(&mut self, next: &mut NodeList<FrontierEntry>, hop: Hop) {
        for i in 0..self.touched.len() {
            let v = self.touched[i];
            let units = core::mem::take(&mut self.cells[v as usize].pending);
            self.settle(next, hop, v, units);
        }
        self.touched.clear();
    }

    /// Writes `hop` for the nodes first reached since `activated[..from]`.
    fn record_hops(&mut self, from: usize, hop: u8) {
        for &v in &self.activated[from..] {
            self.hop[v as usize] = hop;
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
struct Schedule {
    params: Option<SpreadParams>,
    /// `decay(h) * 2^30`, rounded to `f32` once (index 0 unused).
    decay_scaled: [f32; MAX_HOPS + 1],
    threshold: [f32; MAX_HOPS + 1],
}

impl Schedule {
    fn new(params: &SpreadParams) -> Schedule {
        let mut s = Schedule {
            params: Some(*params),
            decay_scaled: [0.0; MAX_HOPS + 1],
            threshold: [0.0; MAX_HOPS + 1],
        };
        for h in 0..=params.max_hops {
            s.threshold[h] = params.threshold.at(h);
            if h > 0 {
                s.decay_scaled[h] = (params.decay.at(h) as f32) * SCALE;
            }
        }
        s
    }
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
            state: NodeState {
                cells: alloc::vec![NodeCell::default(); nodes],
                hop: alloc::vec![UNREACHED; nodes],
                activated: NodeList::with_capacity(nodes),
                touched: NodeList::with_capacity(nodes),
            },
            frontier: NodeList::with_capacity(nodes),
            next: NodeList::with_capacity(nodes),
            sparse: SparseAccumulator::new(config.sparse_capacity.min(nodes.next_power_of_two())),
            strength: alloc::vec![0.0; nodes],
            ranked: Vec::with_capacity(nodes),
            schedule: Schedule {
                params: None,
                decay_scaled: [0.0; MAX_HOPS + 1],
                threshold: [0.0; MAX_HOPS + 1],
            },
        }
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.state.cells.len()
    }

    /// The configuration.
    pub fn config(&self) -> SpreaderConfig {
        self.config
    }

    /// Bytes of workspace held.
    pub fn memory_bytes(&self) -> usize {
        let s = &self.state;
        s.cells.len() * core::mem::size_of::<NodeCell>()
            + s.hop.len()
            + s.activated.memory_bytes()
            + s.touched.memory_bytes()
            + self.frontier.memory_bytes()
            + self.next.memory_bytes()
            + self.sparse.memory_bytes()
            + self.strength.len() * 4
            + self.ranked.capacity() * 8
    }

    /// Activation of `node` after the last query (0 if not reached or out of range).
    pub fn activation(&self, node: u32) -> f32 {
        self.state
            .cells
            .get(node as usize)
            .map_or(0.0, |c| c.activation)
    }

    /// Activation of every node after the last query, by node id.
    pub fn activations(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.state.cells.iter().map(|c| c.activation)
    }

    /// The hop at which `node` was first reached in the last query.
    pub fn hop_of(&self, node: u32) -> Option<u8> {
        self.state
            .hop
            .get(node as usize)
            .copied()
            .filter(|&h| h != UNREACHED)
    }

    /// Nodes reached by the last query, in the order they were reached.
    pub fn reached(&self) -> &[u32] {
        &self.state.activated
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
        let graph = graph.into();
        let n = graph.node_count();
        if n != self.node_count() {
            return Err(SpreadError::WorkspaceMismatch {
                workspace: self.node_count(),
                graph: n,
            });
        }
        if self.schedule.params != Some(*params) {
            params.validate()?;
            self.schedule = Schedule::new(params);
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
        self.reset();
        let stats = self.run(graph, seeds, params);
        self.rank(params, results);
        Ok(stats)
    }

    /// Clears the previous query's state: sparsely when it touched few nodes.
    fn reset(&mut self) {
        let s = &mut self.state;
        if s.activated.len() > s.cells.len() / 16 {
            s.cells.fill(NodeCell::default());
            s.hop.fill(UNREACHED);
        } else {
            for &v in &s.activated {
                s.cells[v as usize].activation = 0.0;
                s.hop[v as usize] = UNREACHED;
            }
        }
        s.activated.clear();
    }

    fn run(&mut self, graph: GraphView<'_>, seeds: &[Seed], params: &SpreadParams) -> SpreadStats {
        let out = graph.out_edges();
        let mut stats = SpreadStats::default();
        let s = &mut self.state;
        for seed in seeds {
            let cell = &mut s.cells[seed.node as usize];
            let reached = cell.activation > 0.0;
            cell.activation = (cell.activation + seed.activation).min(1.0);
            if !reached && cell.activation > 0.0 {
                s.hop[seed.node as usize] = 0;
                s.activated.push(seed.node);
            }
        }
        self.frontier.clear();
        let theta0 = self.schedule.threshold[0];
        if params.max_hops > 0 {
            for &v in &s.activated {
                let a = s.cells[v as usize].activation;
                if a >= theta0 {
                    self.frontier.push(FrontierEntry { node: v, delta: a });
                }
            }
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
            stats.frontier[h - 1] = self.frontier.len() as u32;
            stats.edges_traversed += frontier_edges;
            stats.hops += 1;
            let decay_scaled = self.schedule.decay_scaled[h];
            let hop = Hop {
                index: h as u8,
                spreads_on: h < params.max_hops,
                threshold: self.schedule.threshold[h],
            };
            let reached_before = self.state.activated.len();
            let (state, next) = (&mut self.state, &mut self.next);
            next.clear();
            if frontier_edges as f32 > pull_above {
                stats.pull_hops += 1;
                stats.edges_scanned += graph.edge_count() as u64;
                for e in &self.frontier {
                    let degree = out.degree(e.node);
                    if degree > 0 {
                        self.strength[e.node as usize] =
                            strength(e.delta, decay_scaled, params.fan, degree);
                    }
                }
                pull(graph.in_edges(), &self.strength, 1.0, |v, units| {
                    state.settle(next, hop, v, units.min(u64::from(u32::MAX)) as u32)
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

    /// Ranks the reached nodes above `min_activation` into `results`.
    fn rank(&mut self, params: &SpreadParams, results: &mut Vec<Activation>) {
        let s = &self.state;
        self.ranked.clear();
        self.ranked.extend(s.activated.iter().filter_map(|&v| {
            let activation = s.cells[v as usize].activation;
            (activation >= params.min_activation).then(|| rank_key(v, activation))
        }));
        let k = params.top_k.min(self.ranked.len());
        if k == 0 {
            results.clear();
            return;
        }
        if k < self.ranked.len() {
            self.ranked.select_nth_unstable(k - 1);
        }
        let top = &mut self.ranked[..k];
        top.sort_unstable();
        results.clear();
        results.extend(top.iter().map(|&key| {
            let v = key as u32;
            let (activation, hop) = (s.cells[v as usize].activation, s.hop[v as usize]);
            Activation {
                node: v,
                activation,
                hop,
                confidence: activation * params.confidence.at(hop),
            }
        }));
    }
}

/// A key whose ascending order is [`Activation::rank`]'s: the activation's
/// bits inverted (a positive `f32` orders like its bits), then the node id.
/// Sorting plain integers instead of comparing structs field by field keeps
/// ranking cheap when a query reaches thousands of nodes.
#[inline(always)]
fn rank_key(node: u32, activation: f32) -> u64 {
    debug_assert!(activation > 0.0);
    (u64::from(!activation.to_bits()) << 32) | u64::from(node)
}
