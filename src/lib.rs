//! # axonal
//!
//! Performance kernels for *activation spreading* over large memory graphs: the
//! recall step of associative memory engines and graph-RAG retrievers. A query
//! activates a few seed nodes (usually found by embedding similarity); activation
//! then flows along weighted edges, decaying per hop, and the nodes left above a
//! threshold are the answer.
//!
//! ## From edges to results
//!
//! In the order an engine needs things:
//!
//! 1. **A graph.** Add edges to a [`GraphBuilder`](graph::GraphBuilder)
//!    (every edge is validated; `symmetrize`, `max_nodes` for untrusted
//!    input), or read a file with [`graph::io`] (edge lists, Matrix Market).
//!    The result is a CSR [`Graph`](graph::Graph) with its transpose.
//! 2. **Optionally, a locality order.** [`Graph::reorder`](graph::Graph::reorder)
//!    renumbers nodes so that those read together sit together in memory; it
//!    returns the [`Permutation`](graph::Permutation) to translate ids in and
//!    out.
//! 3. **Seeds.** A [`Seed`](spread::Seed) is a node and a starting
//!    activation. Engines usually find them by similarity: keep the node
//!    embeddings in an [`EmbeddingMatrix`](layout::EmbeddingMatrix) and take
//!    the nearest rows with [`Kernels::top_k_cosine`](simd::Kernels::top_k_cosine)
//!    (AVX-512, AVX2, NEON or scalar, chosen at run time).
//! 4. **Parameters.** [`SpreadParams`](spread::SpreadParams): hops, decay,
//!    thresholds, fan-out, how many results; the defaults are the seed
//!    design's. The contract every kernel meets is in the [`spread`] docs.
//! 5. **Spread.** A [`Spreader`](spread::Spreader) is made once per graph size
//!    and reused: [`Spreader::spread`](spread::Spreader::spread) allocates
//!    nothing once warm, rejects bad input with a typed error, and is
//!    deterministic (bit-identical results whatever the kernel or thread
//!    count).
//! 6. **Results.** [`Activation`](spread::Activation)s ranked by activation,
//!    each with the hop it was reached at and a confidence weighted by its
//!    [`HopTier`](layout::HopTier), plus [`SpreadStats`](spread::SpreadStats).
//!
//! ```
//! use axonal::graph::{GraphBuilder, Ordering};
//! use axonal::layout::EmbeddingMatrix;
//! use axonal::simd::{Kernels, TopK};
//! use axonal::spread::{Seed, SpreadParams, Spreader};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 1. Edges in, a validated CSR graph out.
//! let mut builder = GraphBuilder::new().symmetrize(true);
//! for (u, v, w) in [(0, 1, 0.9), (1, 2, 0.8), (2, 3, 0.7), (0, 4, 0.3)] {
//!     builder.add_edge(u, v, w)?;
//! }
//! let graph = builder.build()?;
//! // 2. Optional: a locality order; `perm` translates ids.
//! let (graph, perm) = graph.reorder(Ordering::DegreeDescending);
//!
//! // 3. Seeds: the two nodes whose embeddings are nearest the query's.
//! let embeddings = EmbeddingMatrix::from_rows(
//!     2,
//!     &[1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9, 0.7, 0.7], // node 0..5, by old id
//! )?;
//! let mut top = TopK::new(2);
//! Kernels::best().top_k_cosine(&[1.0, 0.05], &embeddings, &mut top)?;
//! let mut hits = Vec::new();
//! top.drain_sorted(&mut hits);
//! let seeds: Vec<Seed> = hits.iter().map(|h| Seed::new(perm.to_new(h.id), h.score)).collect();
//!
//! // 4. and 5. Spread with the default parameters, on a reusable workspace.
//! let mut spreader = Spreader::new(graph.node_count());
//! let mut results = Vec::with_capacity(16);
//! let stats = spreader.spread(&graph, &seeds, &SpreadParams::default(), &mut results)?;
//!
//! // 6. Ranked results, ids translated back.
//! let ranked: Vec<u32> = results.iter().map(|r| perm.to_old(r.node)).collect();
//! assert_eq!(&ranked[..2], [0, 1]); // the seeds lead
//! assert!(ranked.contains(&3)); // reached in hop 2, through node 2
//! assert!(stats.hops >= 2);
//! # Ok(())
//! # }
//! ```
//!
//! ## When you need more
//!
//! Every backend below runs the same hop loop and implements one trait,
//! [`Spread`](spread::Spread): write engine code against it (a generic bound
//! or a `Box<dyn Spread>`) and switch backends without rewriting it.
//!
//! - **One large query on every core**: [`ParallelSpreader`](spread::ParallelSpreader)
//!   (bit-identical to [`Spreader`](spread::Spreader) for any worker count)
//!   on pinned [`Workers`](machine::workers::Workers); many small queries side
//!   by side: [`ConcurrentSpreader`](spread::ConcurrentSpreader).
//! - **Many queries in one pass**: [`MultiSpreader`](spread::MultiSpreader)
//!   (up to 32 queries per pass over the edges) and
//!   [`Kernels::top_k_cosine_batch`](simd::Kernels::top_k_cosine_batch);
//!   sized online by the [`AdaptiveBatcher`](batch::AdaptiveBatcher).
//! - **A latency budget**: [`DeadlineSpreader`](batch::DeadlineSpreader)
//!   returns what it has, flagged, instead of running late;
//!   [`LatencyPredictor`](batch::LatencyPredictor) estimates a request's
//!   latency before it runs; [`Spreader::spread_gated`](spread::Spreader::spread_gated)
//!   lets an engine stop a query on its own terms.
//! - **Many threads, no allocation**: [`Spreader::pool`](spread::Spreader::pool)
//!   pools workspaces; [`pool`] keeps 64-byte records (results an engine
//!   holds on to: [`pool_results`](spread::pool_results)).
//! - **Tuned to the machine**: [`tuning`] reads the profile
//!   `cargo bench --bench tune` measures; [`machine`] says what the machine
//!   is made of and places memory on its NUMA nodes.
//! - **A graph larger than memory**: [`cache::OutOfCoreGraph`] reads an
//!   `.axg` file through a tiered [`cache::BlockCache`] (RAM, compressed
//!   RAM, a spill file) within a memory budget, and
//!   [`cache::OutOfCoreSpreader`] spreads over it, bit-identical to
//!   [`Spreader`](spread::Spreader) in memory.
//! - **Watching it run**: [`metrics`] (latency and prediction-error
//!   histograms, batches, pools, cache counters where readable).
//!
//! ## Modules
//!
//! - [`layout`]: the 64-byte, cache-line-aligned [`Node`](layout::Node) record,
//!   its [`NodeFlags`](layout::NodeFlags), [`StorageTier`](layout::StorageTier)
//!   (where its data lives), [`HopTier`](layout::HopTier) (the class of the hop
//!   a result was reached at), and 64-byte-aligned buffers
//!   ([`AlignedBuf`](layout::AlignedBuf), [`EmbeddingMatrix`](layout::EmbeddingMatrix)).
//! - [`graph`]: the CSR [`Graph`](graph::Graph), its builder, file readers,
//!   locality reordering and the seeded generators behind the standard
//!   workloads ([`graph::generate`]).
//! - [`simd`]: `dot`, `cosine`, `l2_squared` and one-vs-many top-k scoring.
//! - [`spread`]: the spreading kernels.
//! - [`store`]: the `.axg` graph file, read in place (memory-mapped).
//! - [`cache`] (`cache`): a tiered block cache and out-of-core spreading.
//! - [`batch`]: serving under a latency budget.
//! - [`pool`]: a lock-free pool of cache-line records with per-thread
//!   magazines.
//! - [`machine`] (`std`): [`machine::topology`], [`machine::numa`] and
//!   [`machine::workers`] (`parallel`), everything that asks the operating
//!   system about hardware.
//! - [`metrics`]: serving figures cheap enough to stay on.
//! - [`tuning`] (`tuning`): the hardware profile.
//!
//! ## Features
//!
//! - `std` (default): runtime SIMD dispatch, file readers, [`machine`],
//!   `std::error::Error` integration. Implies `alloc`.
//! - `alloc`: everything that owns heap memory (graphs, embedding matrices,
//!   spreading workspaces). Without it only [`layout`]'s plain records and
//!   [`simd`] are available.
//! - `parallel` (default): pinned worker threads ([`machine::workers`],
//!   through `core_affinity`) and the parallel spreaders. Implies `std`.
//! - `tuning` (default): [`tuning`], the profile as JSON (`serde_json`).
//!   Implies `std`.
//! - `store` (default): [`.axg` files](store) on disk: crash-safe writing,
//!   memory-mapped opening (`memmap2`). Implies `std`; the format parser
//!   itself needs only `alloc`.
//! - `cache` (default): [`cache`], the tiered block cache (`lz4_flex`) and
//!   out-of-core spreading over `.axg` files. Implies `store`.
//! - `hwloc`: [`Topology::from_hwloc`](machine::topology::Topology::from_hwloc),
//!   the topology through the hwloc C library (`hwlocality`; on Debian it links
//!   the system's hwloc 2.8+: `apt-get install libhwloc-dev libudev-dev
//!   pkg-config`). Without it the sysfs reader needs no C library.
//!
//! With `--no-default-features --features alloc` the crate builds for bare-metal
//! targets such as `x86_64-unknown-none`. Public types have the same fields
//! whatever the features; items that need a feature say so in these docs.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod layout;
pub mod simd;

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod batch;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
mod hint;
mod math;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod metrics;

#[cfg(feature = "timely")]
#[cfg_attr(docsrs, doc(cfg(feature = "timely")))]
pub mod distributed;
#[cfg(feature = "vulkan")]
#[cfg_attr(docsrs, doc(cfg(feature = "vulkan")))]
pub mod gpu;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod graph;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod machine;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod pool;
#[cfg(feature = "alloc")]
mod rng;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod spread;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod store;
#[cfg(feature = "tuning")]
#[cfg_attr(docsrs, doc(cfg(feature = "tuning")))]
pub mod tuning;

/// The README's code examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
