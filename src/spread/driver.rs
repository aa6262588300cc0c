//! The hop driver: the level-synchronous loop of every spreading backend,
//! written once.
//!
//! Every way axonal runs a query (one thread, pinned workers, query lanes,
//! out-of-core blocks through a cache; next a GPU, a dataflow) is the same loop: validate the
//! query, apply the seeds, then hop by hop look at the frontier, choose the
//! direction and the accumulator, let the gate see the [`HopPlan`], count the
//! hop, traverse its edges and settle, and finally rank the reached nodes
//! into results. Only *how one hop's edges are traversed* differs, so that is
//! all a backend supplies ([`HopBackend`]); the decisions (the pull-above
//! rule, the sparse-accumulator cut-off, the statistics, when to stop) live
//! here, and a change to them reaches every backend at once.
//!
//! A run always serves a batch of queries (one, for the single-query
//! backends); the driver's decisions and [`SpreadStats`] are those of the
//! batch's union frontier, and a batch backend keeps its queries' own
//! statistics itself.

use alloc::vec::Vec;

use super::SpreadError;
use super::fixed::SCALE;
use super::params::{Fan, MAX_HOPS, SpreadParams};
use super::query::{Activation, HopPlan, Seed, SpreadStats, SpreaderConfig};
use super::state::{Hop, key_node};
use crate::graph::GraphView;

/// How a hop reads its edges and where it sums them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HopKind {
    /// Every node gathers over its in-edges.
    Pull,
    /// The frontier scatters along its out-edges into the small hash
    /// accumulator (few edges: it stays in L1/L2).
    PushSparse,
    /// The frontier scatters into the dense per-node accumulator.
    PushDense,
}

/// One hop as the driver hands it to a backend.
#[derive(Clone, Copy)]
pub(crate) struct HopStep {
    /// The hop's index, threshold and whether nodes spread on from it.
    pub(crate) hop: Hop,
    /// `decay(h) * 2^30`.
    pub(crate) decay_scaled: f32,
    pub(crate) fan: Fan,
    pub(crate) kind: HopKind,
    /// The frontier it spreads from (what a growing workspace sizes its
    /// lists by: only out of core).
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) frontier: FrontierSize,
}

/// The size of a backend's current frontier.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrontierSize {
    /// Nodes that spread next hop (for a batch: spread for any query).
    pub(crate) nodes: usize,
    /// Their out-edges.
    pub(crate) edges: u64,
}

/// What the driver reads of a graph: its size. An in-memory graph
/// ([`GraphView`]) is one; an out-of-core graph, whose edges live in a
/// block cache, is another.
pub(crate) trait GraphShape: Copy {
    /// Nodes.
    fn node_count(&self) -> usize;
    /// Edges.
    fn edge_count(&self) -> usize;
}

impl GraphShape for GraphView<'_> {
    #[inline]
    fn node_count(&self) -> usize {
        GraphView::node_count(self)
    }

    #[inline]
    fn edge_count(&self) -> usize {
        GraphView::edge_count(self)
    }
}

/// What a backend supplies to the driver: its buffers and how it traverses
/// one hop of graphs `G`. Everything else about a query is [`run`]'s.
pub(crate) trait HopBackend<G: GraphShape> {
    /// Where the ranking writes: one result list, or one per query of a
    /// batch.
    type Results: ?Sized;

    /// What a query can fail with: [`SpreadError`] where a hop cannot fail
    /// (in memory), more where it reads (out of core).
    type Error: From<SpreadError>;

    /// Nodes of the graphs this backend serves.
    fn node_count(&self) -> usize;

    /// The driver's state kept in the backend.
    fn driver(&mut self) -> &mut Driver;

    /// Forgets the previous query, applies the seeds of every query, and
    /// (when `spreads`) puts every seed with activation at least `theta0`
    /// on the first frontier. The seeds are valid.
    fn start<Q: AsRef<[Seed]>>(&mut self, graph: G, queries: &[Q], theta0: f32, spreads: bool);

    /// The current frontier's size.
    fn frontier(&self, graph: G) -> FrontierSize;

    /// Nodes reached so far (by any query).
    fn reached_count(&self) -> usize;

    /// Traverses hop `step` from the current frontier and settles its
    /// incoming activation; the nodes that spread on become the frontier.
    /// An error ends the query (the next one starts afresh).
    fn hop(&mut self, graph: G, step: HopStep) -> Result<(), Self::Error>;

    /// A gate stopped the query before hop `hop` (which had a frontier).
    fn truncated(&mut self, _hop: usize) {}

    /// Ranks the reached nodes into `results`.
    fn rank(&mut self, params: &SpreadParams, results: &mut Self::Results);
}

/// Runs `queries` (one, or a batch) on `backend`: validation, seeds, the
/// hops with `gate` before each, ranking into `results`. Bad queries are
/// reported before anything changes; a hop's error (out of core: a read)
/// ends the query, `results` untouched.
pub(crate) fn run<B, Q, G, F>(
    backend: &mut B,
    graph: G,
    queries: &[Q],
    params: &SpreadParams,
    results: &mut B::Results,
    gate: &mut F,
) -> Result<SpreadStats, B::Error>
where
    B: HopBackend<G>,
    G: GraphShape,
    Q: AsRef<[Seed]>,
    F: FnMut(&HopPlan) -> bool + ?Sized,
{
    let nodes = backend.node_count();
    let schedule = &mut backend.driver().schedule;
    schedule.prepare(nodes, graph, queries, params)?;
    let theta0 = schedule.threshold[0];
    backend.start(graph, queries, theta0, params.max_hops > 0);
    let mut stats = hops(backend, graph, params, gate)?;
    stats.activated = backend.reached_count() as u32;
    backend.rank(params, results);
    Ok(stats)
}

/// The hop loop.
#[inline(always)]
fn hops<B, G, F>(
    backend: &mut B,
    graph: G,
    params: &SpreadParams,
    gate: &mut F,
) -> Result<SpreadStats, B::Error>
where
    B: HopBackend<G>,
    G: GraphShape,
    F: FnMut(&HopPlan) -> bool + ?Sized,
{
    let config = backend.driver().config;
    let sparse_edges = config.sparse_slots(backend.node_count()) as u64 / 2;
    let mut stats = SpreadStats::default();
    for h in 1..=params.max_hops {
        let frontier = backend.frontier(graph);
        if frontier.nodes == 0 {
            break;
        }
        let pull = config.pulls(frontier.edges, graph.edge_count());
        let plan = HopPlan::new(
            h as u32,
            frontier.nodes as u32,
            frontier.edges,
            pull,
            graph.edge_count() as u64,
            backend.reached_count() as u32,
        );
        if !gate(&plan) {
            stats.truncated = true;
            backend.truncated(h);
            break;
        }
        stats.frontier[h - 1] = frontier.nodes as u32;
        stats.edges_traversed += frontier.edges;
        stats.edges_scanned += plan.edges_to_read;
        stats.hops += 1;
        let kind = if pull {
            stats.pull_hops += 1;
            HopKind::Pull
        } else {
            stats.push_hops += 1;
            if frontier.edges <= sparse_edges {
                HopKind::PushSparse
            } else {
                HopKind::PushDense
            }
        };
        let schedule = &backend.driver().schedule;
        let step = HopStep {
            hop: schedule.hop(h, params),
            decay_scaled: schedule.decay_scaled[h],
            fan: params.fan,
            kind,
            frontier,
        };
        backend.hop(graph, step)?;
    }
    Ok(stats)
}

/// What the driver keeps in every backend: the direction and accumulator
/// knobs, and the per-hop constants of the last parameters.
pub(crate) struct Driver {
    pub(crate) config: SpreaderConfig,
    schedule: Schedule,
}

impl Driver {
    pub(crate) fn new(config: SpreaderConfig) -> Driver {
        Driver {
            config,
            schedule: Schedule::empty(),
        }
    }
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
    fn empty() -> Schedule {
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

    /// Checks queries against a workspace of `workspace` nodes and makes
    /// this the schedule of `params`. Changes nothing on error.
    fn prepare<Q: AsRef<[Seed]>>(
        &mut self,
        workspace: usize,
        graph: impl GraphShape,
        queries: &[Q],
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
        for seeds in queries {
            for (index, seed) in seeds.as_ref().iter().enumerate() {
                if seed.node as usize >= n || !(0.0..=1.0).contains(&seed.activation) {
                    return Err(SpreadError::InvalidSeed {
                        index,
                        node: seed.node,
                        activation: seed.activation,
                    });
                }
            }
        }
        Ok(())
    }

    /// The constants of hop `h` (>= 1).
    fn hop(&self, h: usize, params: &SpreadParams) -> Hop {
        Hop {
            index: h as u8,
            spreads_on: h < params.max_hops,
            threshold: self.threshold[h],
        }
    }
}

/// Writes the results of a query from its ranked keys (see
/// [`top_keys`](super::state::top_keys)): `lookup(v)` gives node `v`'s
/// activation and first-reach hop.
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
        activation_at(v, activation, hop, params)
    }));
}

/// The result for `node`, reached first at `hop` and holding `activation`.
#[inline]
pub(crate) fn activation_at(
    node: u32,
    activation: f32,
    hop: u8,
    params: &SpreadParams,
) -> Activation {
    Activation {
        node,
        activation,
        hop,
        confidence: activation * params.confidence.at(hop),
    }
}
