//! Activation spreading: the kernel and its parameters.
//!
//! A query names seed nodes with initial activations; activation flows along
//! out-edges, decaying per hop, level by level (see `shared/spreading.md` in
//! the repository, reproduced in brief in the crate README). The nodes left
//! above `min_activation` are ranked and returned.
//!
//! [`Spreader`] owns every buffer a query needs, sized to the graph once, so a
//! query allocates nothing. Each hop runs in the cheaper direction:
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

mod accumulator;
mod error;
mod fixed;
mod list;
mod params;
mod pull;
mod push;
mod spreader;

pub use error::SpreadError;
pub use params::{Decay, Fan, MAX_HOPS, SpreadParams, Threshold, TierConfidence};
pub use pull::dense_hop;
pub use spreader::{Activation, Seed, SpreadStats, Spreader, SpreaderConfig};
