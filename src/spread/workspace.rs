//! The single-query workspace: one query's state over every node, and the
//! hop written once over any source of edge rows.
//!
//! [`Spreader`](super::Spreader) reads rows from a graph in memory; the
//! out-of-core spreader (`cache::OutOfCoreSpreader`) reads them from blocks
//! of a cache, grouped by block. Both are this workspace plus an
//! [`EdgeRows`]: the seeds, the choice of accumulator, the settling and the
//! ranking are the same code, so their results are the same bits.

use alloc::vec::Vec;

use super::accumulator::{Accumulate, SparseAccumulator};
use super::driver::{FrontierSize, HopKind, HopStep, write_results};
use super::fixed::strength;
use super::list::NodeList;
use super::params::SpreadParams;
use super::pull::pull;
use super::push::push_row;
use super::query::{Activation, Seed, SpreaderConfig};
use super::state::{FrontierEntry, NodeState, top_keys};
use crate::graph::{CsrView, GraphView};

/// Where a hop's edges come from: the rows of a graph, in memory or not.
pub(crate) trait EdgeRows {
    /// What reading rows can fail with.
    type Error;

    /// Out-degree of `v`.
    fn out_degree(&self, v: u32) -> u32;

    /// Calls `row(entry, targets, weights)` with the out-edges of every
    /// frontier entry, in any order (it may reorder `frontier`).
    fn push_rows(
        &mut self,
        frontier: &mut [FrontierEntry],
        row: impl FnMut(FrontierEntry, &[u32], &[f32]),
    ) -> Result<(), Self::Error>;

    /// Pulls every node's in-edges from the sources' `strength` (one per
    /// node, 0 outside the frontier): calls `settle(v, units)` for every
    /// node whose in-edges carry a non-zero sum, in ascending `v` within a
    /// block of rows, blocks in any order.
    fn pull_rows(
        &mut self,
        strength: &[f32],
        settle: impl FnMut(u32, u64),
    ) -> Result<(), Self::Error>;
}

/// The rows of a graph in memory (both directions' views, taken once).
#[derive(Clone, Copy)]
pub(crate) struct InMemory<'g> {
    out: CsrView<'g>,
    inc: CsrView<'g>,
}

impl<'g> InMemory<'g> {
    #[inline(always)]
    pub(crate) fn new(graph: GraphView<'g>) -> InMemory<'g> {
        InMemory {
            out: graph.out_edges(),
            inc: graph.in_edges(),
        }
    }
}

impl EdgeRows for InMemory<'_> {
    type Error = core::convert::Infallible;

    #[inline(always)]
    fn out_degree(&self, v: u32) -> u32 {
        self.out.degree(v)
    }

    #[inline(always)]
    fn push_rows(
        &mut self,
        frontier: &mut [FrontierEntry],
        mut row: impl FnMut(FrontierEntry, &[u32], &[f32]),
    ) -> Result<(), Self::Error> {
        for &e in frontier.iter() {
            let (targets, weights) = self.out.neighbors(e.node);
            row(e, targets, weights);
        }
        Ok(())
    }

    #[inline(always)]
    fn pull_rows(
        &mut self,
        strength: &[f32],
        settle: impl FnMut(u32, u64),
    ) -> Result<(), Self::Error> {
        let rows = 0..self.inc.node_count() as u32;
        pull(self.inc, rows, strength, 1.0, settle);
        Ok(())
    }
}

/// One query's buffers over `nodes` nodes.
///
/// The per-node arrays (activations, hops, and pull hops' strengths) are
/// indexed by node id and cover every node. The lists (frontiers, reached
/// nodes, touched nodes, rank keys) hold only the nodes a query reaches:
/// [`new`](Workspace::new) sizes them for every node at once (the
/// in-memory spreaders: nothing to check per hop), a *growing* workspace
/// ([`growing`](Workspace::growing), out of core, where every byte held is
/// a byte the cache cannot use) starts them small and grows them before a
/// hop that could outgrow them ([`grow_for_hop`](Workspace::grow_for_hop)),
/// its strengths allocated at its first pull hop, every growth paid for by
/// an [`Allowance`] first.
pub(crate) struct Workspace {
    pub(crate) state: NodeState,
    frontier: NodeList<FrontierEntry>,
    next: NodeList<FrontierEntry>,
    sparse: SparseAccumulator,
    /// Pull hops: each frontier node's strength, 0 elsewhere (empty in a
    /// growing workspace until its first pull hop).
    strength: Vec<f32>,
    /// Rank keys of the nodes a query returns.
    ranked: Vec<u64>,
    /// Nodes the lists have room for (read when they grow: only out of
    /// core).
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    reach: usize,
}

/// What pays for a growing workspace's memory (out of core: the cache's
/// budget, which evicts blocks to make room).
#[cfg(feature = "cache")]
pub(crate) trait Allowance {
    /// What a refusal is.
    type Error;
    /// Sets `bytes` aside before they are allocated.
    fn reserve(&mut self, bytes: usize) -> Result<(), Self::Error>;
    /// Gives back `bytes` set aside earlier, once freed.
    fn release(&mut self, bytes: usize);
}

impl Workspace {
    /// Buffers for graphs of `nodes` nodes, every list sized for them all.
    pub(crate) fn new(nodes: usize, config: SpreaderConfig) -> Workspace {
        let mut ws = Workspace::with_reach(nodes, config, nodes);
        ws.strength = alloc::vec![0.0; nodes];
        ws
    }

    /// Buffers for graphs of `nodes` nodes whose lists start with room for
    /// `reach` nodes and no strengths (see the type's docs).
    #[cfg(feature = "cache")]
    pub(crate) fn growing(nodes: usize, config: SpreaderConfig, reach: usize) -> Workspace {
        Workspace::with_reach(nodes, config, reach.min(nodes))
    }

    fn with_reach(nodes: usize, config: SpreaderConfig, reach: usize) -> Workspace {
        Workspace {
            state: NodeState::with_reach(0, nodes, reach),
            frontier: NodeList::with_capacity(reach),
            next: NodeList::with_capacity(reach),
            sparse: SparseAccumulator::new(config.sparse_slots(nodes)),
            strength: Vec::new(),
            ranked: Vec::with_capacity(reach),
            reach,
        }
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.state.memory_bytes()
            + self.frontier.memory_bytes()
            + self.next.memory_bytes()
            + self.sparse.memory_bytes()
            + self.strength.len() * 4
            + self.ranked.capacity() * 8
    }

    /// Bytes [`growing`](Workspace::growing)`(nodes, config, reach)` holds,
    /// without making one.
    #[cfg(any(feature = "cache", test))]
    pub(crate) fn bytes_for(nodes: usize, config: SpreaderConfig, reach: usize) -> usize {
        let reach = reach.min(nodes);
        let per_node = core::mem::size_of::<super::state::NodeCell>() + 1;
        nodes * per_node + Workspace::list_bytes(reach) + config.sparse_slots(nodes) * 12
    }

    /// Bytes of the lists with room for `reach` nodes.
    #[cfg(any(feature = "cache", test))]
    fn list_bytes(reach: usize) -> usize {
        2 * NodeList::<u32>::bytes_for(reach)
            + 2 * NodeList::<FrontierEntry>::bytes_for(reach)
            + reach * 8
    }

    /// Grows a growing workspace's lists to room for `reach` nodes (at
    /// least doubling them), the new lists paid for before they exist and
    /// the old ones given back once freed.
    #[cfg(feature = "cache")]
    fn grow_reach<A: Allowance>(
        &mut self,
        reach: usize,
        allowance: &mut A,
    ) -> Result<(), A::Error> {
        let nodes = self.state.len();
        if reach.min(nodes) <= self.reach {
            return Ok(());
        }
        let reach = reach.max(2 * self.reach).min(nodes);
        let old = Workspace::list_bytes(self.reach);
        allowance.reserve(Workspace::list_bytes(reach))?;
        self.state.grow_lists(reach);
        self.frontier.grow(reach);
        self.next.grow(reach);
        self.ranked.reserve_exact(reach - self.ranked.len());
        self.reach = reach;
        allowance.release(old);
        Ok(())
    }

    /// Makes room for `seeds` seeds (before [`start`](Workspace::start)).
    #[cfg(feature = "cache")]
    pub(crate) fn grow_for_seeds<A: Allowance>(
        &mut self,
        seeds: usize,
        allowance: &mut A,
    ) -> Result<(), A::Error> {
        self.grow_reach(seeds, allowance)
    }

    /// Makes room for what hop `step` may add: it settles at most one node
    /// per frontier edge, and pull hops need every node's strength.
    #[cfg(feature = "cache")]
    pub(crate) fn grow_for_hop<A: Allowance>(
        &mut self,
        step: &HopStep,
        allowance: &mut A,
    ) -> Result<(), A::Error> {
        let nodes = self.state.len();
        if step.kind == HopKind::Pull && self.strength.len() < nodes {
            allowance.reserve(nodes * 4)?;
            self.strength = alloc::vec![0.0; nodes];
        }
        let settled = usize::try_from(step.frontier.edges).unwrap_or(usize::MAX);
        let reached = self.state.activated.len().saturating_add(settled);
        self.grow_reach(reached.min(nodes), allowance)
    }

    /// Forgets the previous query and applies `queries`' seeds (see
    /// `HopBackend::start`).
    pub(crate) fn start<Q: AsRef<[Seed]>>(&mut self, queries: &[Q], theta0: f32, spreads: bool) {
        self.state.reset();
        for seed in queries.iter().flat_map(AsRef::as_ref) {
            self.state.seed(seed.node, seed.activation);
        }
        self.frontier.clear();
        if spreads {
            self.state.seed_frontier(&mut self.frontier, theta0);
        }
    }

    /// The frontier's size, its edges counted by `rows`.
    #[inline]
    pub(crate) fn frontier_size(&self, rows: &impl EdgeRows) -> FrontierSize {
        FrontierSize {
            nodes: self.frontier.len(),
            edges: self
                .frontier
                .iter()
                .map(|e| u64::from(rows.out_degree(e.node)))
                .sum(),
        }
    }

    /// Nodes reached so far.
    pub(crate) fn reached_count(&self) -> usize {
        self.state.activated.len()
    }

    /// Runs hop `step` over `rows`.
    #[inline(always)]
    pub(crate) fn hop<R: EdgeRows>(&mut self, rows: &mut R, step: HopStep) -> Result<(), R::Error> {
        let (hop, decay_scaled, fan) = (step.hop, step.decay_scaled, step.fan);
        let reached_before = self.state.activated.len();
        let (state, next) = (&mut self.state, &mut self.next);
        next.clear();
        match step.kind {
            HopKind::Pull => {
                for e in &self.frontier {
                    let degree = rows.out_degree(e.node);
                    if degree > 0 {
                        self.strength[e.node as usize] =
                            strength(e.delta, decay_scaled, fan, degree);
                    }
                }
                let pulled = rows.pull_rows(&self.strength, state.pull_settler(next, hop));
                for e in &self.frontier {
                    self.strength[e.node as usize] = 0.0;
                }
                pulled?;
            }
            // A push that fails part way (out of core: a block that could
            // not be read) leaves sums in its accumulator: they are dropped,
            // so that the next query starts from clean accumulators.
            HopKind::PushSparse => {
                let sparse = &mut self.sparse;
                if let Err(e) = push_all(rows, &mut self.frontier, decay_scaled, fan, sparse) {
                    sparse.drain(|_, _| {});
                    return Err(e);
                }
                sparse.drain(|v, units| state.settle(next, hop, v, units));
            }
            HopKind::PushDense => {
                if let Err(e) = push_all(rows, &mut self.frontier, decay_scaled, fan, state) {
                    state.discard_pending();
                    return Err(e);
                }
                state.drain_dense(next, hop);
            }
        }
        self.state.record_hops(reached_before, hop.index);
        core::mem::swap(&mut self.frontier, &mut self.next);
        Ok(())
    }

    /// Ranks the reached nodes into `results`.
    pub(crate) fn rank(&mut self, params: &SpreadParams, results: &mut Vec<Activation>) {
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

/// Pushes every frontier entry's row from `rows` into `acc`.
#[inline(always)]
fn push_all<R: EdgeRows, A: Accumulate>(
    rows: &mut R,
    frontier: &mut [FrontierEntry],
    decay_scaled: f32,
    fan: super::params::Fan,
    acc: &mut A,
) -> Result<(), R::Error> {
    rows.push_rows(frontier, |e, targets, weights| {
        push_row(e, targets, weights, decay_scaled, fan, acc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_is_what_a_workspace_holds() {
        for nodes in [0, 1, 100, 5000, 1 << 17] {
            let config = SpreaderConfig::for_nodes(nodes);
            let ws = Workspace::new(nodes, config);
            assert_eq!(
                Workspace::bytes_for(nodes, config, nodes) + nodes * 4,
                ws.memory_bytes(),
                "{nodes}"
            );
        }
    }

    /// Counts what a growing workspace asks for and gives back.
    #[cfg(feature = "cache")]
    #[derive(Default)]
    struct Ledger {
        held: usize,
        limit: usize,
    }

    #[cfg(feature = "cache")]
    impl Allowance for Ledger {
        type Error = ();
        fn reserve(&mut self, bytes: usize) -> Result<(), ()> {
            if self.held + bytes > self.limit {
                return Err(());
            }
            self.held += bytes;
            Ok(())
        }
        fn release(&mut self, bytes: usize) {
            self.held -= bytes;
        }
    }

    #[cfg(feature = "cache")]
    #[test]
    fn a_growing_workspace_pays_for_what_it_holds() {
        use crate::spread::params::Fan;
        let nodes = 10_000;
        let config = SpreaderConfig::for_nodes(nodes);
        let mut ws = Workspace::growing(nodes, config, 16);
        let base = Workspace::bytes_for(nodes, config, 16);
        assert_eq!(ws.memory_bytes(), base);
        let mut ledger = Ledger {
            held: base,
            limit: usize::MAX,
        };
        let step = |kind, edges| HopStep {
            hop: super::super::state::Hop {
                index: 1,
                spreads_on: true,
                threshold: 0.0,
            },
            decay_scaled: 1.0,
            fan: Fan::Sqrt,
            kind,
            frontier: FrontierSize { nodes: 1, edges },
        };
        for (kind, edges) in [
            (HopKind::PushSparse, 10),
            (HopKind::PushSparse, 100),
            (HopKind::PushDense, 3_000),
            (HopKind::Pull, 1_000_000),
            (HopKind::PushDense, 5),
        ] {
            ws.grow_for_hop(&step(kind, edges), &mut ledger).unwrap();
            assert_eq!(ws.memory_bytes(), ledger.held, "{kind:?} {edges}");
            assert!(ws.reach >= (edges as usize).min(nodes));
        }
        assert_eq!(ws.reach, nodes);
        // A refusal changes nothing.
        let mut ws = Workspace::growing(nodes, config, 16);
        let mut tight = Ledger {
            held: base,
            limit: base + 100,
        };
        assert!(
            ws.grow_for_hop(&step(HopKind::PushDense, 500), &mut tight)
                .is_err()
        );
        assert_eq!((ws.memory_bytes(), tight.held, ws.reach), (base, base, 16));
    }
}
