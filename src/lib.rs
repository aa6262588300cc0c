//! # axonal
//!
//! Performance kernels for *activation spreading* over large memory graphs: the
//! recall step of associative memory engines and graph-RAG retrievers. A query
//! activates a few seed nodes (usually found by embedding similarity); activation
//! then flows along weighted edges, decaying per hop, and the nodes left above a
//! threshold are the answer.
//!
//! The crate is built from small, composable layers:
//!
//! - [`layout`]: the 64-byte, cache-line-aligned [`Node`](layout::Node) record,
//!   its [`NodeFlags`](layout::NodeFlags), [`StorageTier`](layout::StorageTier) and [`HopTier`](layout::HopTier),
//!   and 64-byte-aligned buffers ([`AlignedBuf`](layout::AlignedBuf),
//!   [`EmbeddingMatrix`](layout::EmbeddingMatrix)).
//! - [`graph`]: a CSR [`Graph`](graph::Graph) with its transpose, built by a
//!   validating [`GraphBuilder`](graph::GraphBuilder), file readers, locality
//!   reordering and the seeded generators behind the standard workloads.
//! - [`simd`]: `dot`, `cosine`, `l2_squared` and one-vs-many top-k scoring,
//!   dispatched to AVX-512, AVX2+FMA, NEON or scalar code.
//! - [`spread`]: the deterministic, allocation-free spreading kernel
//!   ([`Spreader`](spread::Spreader)), and on pinned workers
//!   ([`ParallelSpreader`](spread::ParallelSpreader), bit-identical for any
//!   worker count; [`ConcurrentSpreader`](spread::ConcurrentSpreader) for many
//!   small queries side by side).
//! - [`pool`]: a lock-free pool of cache-line records with per-thread
//!   magazines.
//! - [`topology`], [`numa`], [`workers`] (`std`): what the machine is made of,
//!   NUMA-placed buffers, and worker threads pinned one per core.
//! - [`batch`]: serving under a latency budget: the latency predictor,
//!   deadline-aware spreading, the adaptive batcher.
//! - [`metrics`]: latency and prediction-error histograms, batch, pool and
//!   (where readable) hardware cache figures, cheap enough to stay on.
//! - [`tuning`]: the hardware profile `cargo bench --bench tune` measures and
//!   writes, read back at start-up.
//!
//! ## Features
//!
//! - `std` (default): runtime SIMD dispatch, file readers, `std::error::Error`
//!   integration. Implies `alloc`.
//! - `alloc`: everything that owns heap memory (graphs, embedding matrices,
//!   spreading workspaces). Without it only [`layout`]'s plain records and
//!   [`simd`] are available.
//! - `parallel` (default): pinned worker threads ([`workers`], through
//!   `core_affinity`) and the parallel spreaders. Implies `std`.
//! - `tuning` (default): [`tuning`], the profile as JSON (`serde_json`).
//!   Implies `std`.
//! - `hwloc`: [`Topology::from_hwloc`](topology::Topology::from_hwloc), the
//!   topology through the hwloc C library (`hwlocality`; on Debian it links
//!   the system's hwloc 2.8+: `apt-get install libhwloc-dev libudev-dev
//!   pkg-config`). Without it the sysfs reader needs no C library.
//!
//! With `--no-default-features --features alloc` the crate builds for bare-metal
//! targets such as `x86_64-unknown-none`.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod layout;
pub mod simd;

#[cfg(feature = "alloc")]
pub mod batch;
#[cfg(feature = "alloc")]
mod hint;
mod math;
#[cfg(feature = "alloc")]
pub mod metrics;

#[cfg(feature = "alloc")]
pub mod graph;
#[cfg(feature = "std")]
pub mod machine;
/// Transitional, not API: the doc examples of `spread::parallel` (being
/// rewritten) still name `axonal::workers`; they move to
/// `axonal::machine::workers` with that rewrite, and this alias goes.
#[cfg(feature = "parallel")]
#[doc(hidden)]
pub use machine::workers;
#[cfg(feature = "alloc")]
pub mod pool;
#[cfg(feature = "alloc")]
mod rng;
#[cfg(feature = "alloc")]
pub mod spread;
#[cfg(feature = "tuning")]
pub mod tuning;

/// The README's code examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
