//! Activation spreading: the kernel and its parameters.
//!
//! A query names seed nodes with initial activations; activation flows along
//! out-edges, decaying per hop, level by level. The nodes left above
//! `min_activation` are ranked and returned. Every kernel of axonal meets this
//! contract (exact reals; `decay`, `theta`, `fan` from [`SpreadParams`]):
//!
//! ```text
//! A[v] = 0 for all v; hop[v] = none
//! for (s, a0) in seeds: A[s] = min(1, A[s] + a0)
//! F = [(s, A[s]) for each distinct seed s with A[s] >= theta(0)]; hop[s] = 0
//! for h in 1..=H:
//!     D = {}                                   # incoming delta this hop
//!     for (u, d) in F:
//!         for (u -> v, w) in out_edges(u):
//!             D[v] += d * fan(w, u) * decay(h)
//!     F = []
//!     for v in D:
//!         new = min(1, A[v] + D[v]); applied = new - A[v]; A[v] = new
//!         if hop[v] is none and applied > 0: hop[v] = h
//!         if h < H and applied > 0 and applied >= theta(h): F.push((v, applied))
//!     if F is empty: stop
//! result = [v reached with A[v] >= min_activation], by A desc then id asc, first top_k
//! each result: (node, A[v], hop[v], A[v] * confidence(tier(hop[v])))
//! ```
//!
//! A node spreads only the activation it newly gained, so cycles decay away and
//! saturated nodes stop spreading; no visited set is needed. Every kernel's
//! `A[v]` is within `max(1e-5, 1e-7 * c_v)` of an `f64` evaluation, where `c_v`
//! counts the contributions `v` received (`tests/spread_reference.rs` checks
//! this against a reference implementation).
//!
//! ## Backends
//! Every backend runs this loop through one hop driver (`driver.rs`: the
//! validation, the per-hop direction and accumulator choice, the gate, the
//! statistics and the ranking are written there once) and differs only in how
//! a hop's edges are traversed. Engines program against the [`Spread`]
//! trait and pick a backend for their workload:
//!
//! | backend | for |
//! |---|---|
//! | [`Spreader`] | one query at a time on the calling thread; local queries |
//! | `ParallelSpreader` (`parallel`) | one large query over pinned workers |
//! | `ConcurrentSpreader` (`parallel`) | many small queries side by side, one per worker |
//! | [`MultiSpreader`] | batches of up to 32 queries in one pass over the edges |
//! | `cache::OutOfCoreSpreader` (`cache`) | one query at a time over an `.axg` file larger than memory, through a block cache |
//!
//! Each owns every buffer a query needs, sized to the graph once, so a
//! query allocates nothing after warm-up. Each hop runs in the cheaper
//! direction:
//!
//! - **push** from a small frontier along out-edges, into a small hash
//!   accumulator (frontiers touching a few thousand edges, which stays in
//!   L1/L2) or a dense one (larger frontiers);
//! - **pull** over in-edges when the frontier's out-edges are a large share
//!   of the graph: every node reads its in-edges sequentially, no scattered
//!   writes (direction optimisation, as in the GAP Benchmark Suite).
//!
//! ## Determinism
//! Every contribution `d * fan * decay * w` is rounded once to 30-bit fixed
//! point and summed with saturating integer additions, which are associative.
//! So the result does not depend on the order in which edges are met: push and
//! pull, any frontier order, and (in later kernels) any thread count, give
//! bit-identical activations. The rounding error is at most `2^-31` per
//! contribution, far inside the numerical contract.

pub(crate) mod accumulator;
pub(crate) mod driver;
mod error;
pub(crate) mod fixed;
mod interface;
mod isa;
pub(crate) mod list;
pub(crate) mod multi;
#[cfg(feature = "parallel")]
mod parallel;
mod params;
mod pooled;
pub(crate) mod pull;
pub(crate) mod push;
mod query;
mod spreader;
pub(crate) mod state;
pub(crate) mod workspace;

pub use error::SpreadError;
pub use interface::Spread;
pub use multi::{BatchStats, MAX_BATCH, MultiSpreader};
#[cfg(feature = "parallel")]
#[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
pub use parallel::{ConcurrentSpreader, ParallelSpreader, QueryJob};
pub use params::{Decay, Fan, MAX_HOPS, SpreadParams, Threshold, TierConfidence};
pub use pooled::{WorkspacePool, pool_results};
pub use pull::dense_hop;
#[cfg(feature = "cache")]
pub(crate) use pull::{RowBlock, pull_block};
#[cfg(feature = "store")]
pub(crate) use pull::{check_dense_hop, dense_hop_row};
pub use query::{Activation, HopPlan, Seed, SpreadStats, SpreaderConfig};
pub use spreader::Spreader;
#[cfg(feature = "cache")]
pub(crate) use state::FrontierEntry;
