//! The vocabulary of a query, shared by every backend: what goes in
//! ([`Seed`], [`SpreaderConfig`]), what a gate sees before each hop
//! ([`HopPlan`]) and what comes out ([`Activation`], [`SpreadStats`]).
//!
//! The structs that later layers will grow (an out-of-core backend reports
//! blocks read, a GPU backend its transfers) are `#[non_exhaustive]`: read
//! their fields freely, make them with their constructors.

use core::cmp::Ordering;

use super::params::MAX_HOPS;

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
#[non_exhaustive]
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
    /// ([`Spread::spread_gated`](super::Spread::spread_gated)): the results
    /// are those of the `hops` hops that ran.
    pub truncated: bool,
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

/// What the next hop will do: what a gate
/// ([`Spread::spread_gated`](super::Spread::spread_gated)) sees before
/// deciding whether it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

impl HopPlan {
    /// The plan of hop `hop` on a graph of `edge_count` edges: `frontier`
    /// nodes with `frontier_edges` out-edges spread, by pulling over every
    /// in-edge if `pull` (else by pushing), after `reached` nodes were
    /// reached. (Backends make plans; this is for engines that test their
    /// gates and cost models on plans of their own.)
    pub fn new(
        hop: u32,
        frontier: u32,
        frontier_edges: u64,
        pull: bool,
        edge_count: u64,
        reached: u32,
    ) -> HopPlan {
        HopPlan {
            hop,
            frontier,
            frontier_edges,
            pull,
            edges_to_read: if pull { edge_count } else { frontier_edges },
            reached,
        }
    }
}

/// Tuning knobs of the direction and accumulator choice. Results do not
/// depend on them, only speed.
///
/// ```
/// use axonal::spread::SpreaderConfig;
///
/// // Always push, through the hash accumulator up to 8192 edges a hop.
/// let config = SpreaderConfig::for_nodes(1 << 20)
///     .with_pull_fraction(f32::INFINITY)
///     .with_sparse_capacity(1 << 14);
/// assert_eq!(config.pull_fraction, f32::INFINITY);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SpreaderConfig {
    /// Pull when the frontier's out-edges exceed this share of all edges
    /// (0 or less: always pull; infinity: never).
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
    pub const fn for_nodes(nodes: usize) -> SpreaderConfig {
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

    /// This configuration with another [`pull_fraction`](Self::pull_fraction).
    pub const fn with_pull_fraction(self, pull_fraction: f32) -> SpreaderConfig {
        SpreaderConfig {
            pull_fraction,
            ..self
        }
    }

    /// This configuration with another
    /// [`sparse_capacity`](Self::sparse_capacity).
    pub const fn with_sparse_capacity(self, sparse_capacity: usize) -> SpreaderConfig {
        SpreaderConfig {
            sparse_capacity,
            ..self
        }
    }

    /// Slots of the hash accumulator a backend serving `nodes` nodes holds:
    /// [`sparse_capacity`](Self::sparse_capacity), at most the node count,
    /// as a power of two of at least 16.
    #[inline]
    pub(crate) fn sparse_slots(&self, nodes: usize) -> usize {
        self.sparse_capacity
            .min(nodes.next_power_of_two())
            .next_power_of_two()
            .max(16)
    }

    /// Whether a hop whose frontier has `frontier_edges` out-edges, on a
    /// graph of `edge_count` edges, pulls.
    #[inline]
    pub(crate) fn pulls(&self, frontier_edges: u64, edge_count: usize) -> bool {
        frontier_edges as f32 > self.pull_fraction * edge_count as f32
    }
}
