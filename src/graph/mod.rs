//! The memory graph: compressed sparse rows, built safely.
//!
//! A [`Graph`] holds the out-edges of every node in CSR form (`u64` offsets,
//! `u32` targets, `f32` weights) and, beside them, the transpose (in-edges),
//! because spreading pushes along out-edges from small frontiers and pulls
//! over in-edges for large ones. Both adjacency lists are sorted by neighbour
//! id, which fixes the order in which any kernel meets an edge.
//!
//! Graphs are only made by [`GraphBuilder`] (or by readers and generators that
//! use it), which validates every edge and returns a [`GraphError`] naming the
//! first bad one; a [`Graph`] therefore always satisfies its invariants and the
//! kernels never re-check them. Kernels read graphs through [`CsrView`], a
//! borrowed view, so storage other than `Vec` (memory maps, NUMA-placed
//! buffers) can feed the same kernels.

mod builder;
mod csr;
mod error;
pub mod generate;
pub mod io;
mod reorder;
pub(crate) mod validate;

pub use builder::{Edge, GraphBuilder};
#[cfg(feature = "store")]
pub(crate) use csr::check_rows;
pub use csr::{CsrView, Graph, GraphView, MAX_NODES};
pub use error::{GraphError, ParseError, ParseErrorKind};
pub use reorder::{Ordering, Permutation};
#[cfg(feature = "store")]
pub(crate) use validate::edges_valid;
#[cfg(any(feature = "cache", test))]
pub(crate) use validate::targets_below;
#[cfg(feature = "cache")]
pub(crate) use validate::{non_decreasing, weights_valid};
