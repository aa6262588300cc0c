//! Spreading and similarity on a GPU, through Vulkan compute (the
//! `vulkan` feature).
//!
//! Why Vulkan: it is the one compute API every vendor ships (NVIDIA, AMD,
//! Intel, Apple through MoltenVK, and Mesa's lavapipe on any CPU, which is
//! how CI runs these kernels), and `ash` loads it at run time, so a
//! machine without a GPU or a loader still builds and runs everything
//! else; [`Gpu::new`] then says why there is no device.
//!
//! The kernels are WGSL files in the crate's top-level `kernels/` folder,
//! one per kernel family, compiled to SPIR-V and validated by `build.rs`
//! (naga; nothing to install). The pieces:
//!
//! - [`Gpu`]: a device (discrete first, then integrated, virtual, CPU; or
//!   the one [`GpuOptions::device`] names), its compute queue and the
//!   kernels' pipelines, built once.
//! - [`GpuGraph`]: a graph uploaded once (both directions' CSR) and reused
//!   by every query.
//! - [`GpuSpreader`]: the hop driver's device backend, one query or a batch
//!   of up to [`MAX_BATCH`](crate::spread::MAX_BATCH) (one lane per query),
//!   results bit-identical to [`Spreader`](crate::spread::Spreader)'s.
//!
//! Bit-identical on a GPU takes care: contributions are the CPU's `f32`
//! operations with every float operation marked `NoContraction` (no fused
//! multiply-add the CPU does not do), the fan-out factor comes from a table
//! the host computed (device division and square roots need not round as
//! the CPU's do), sums are 64-bit fixed point and a node settles in `f64`
//! exactly as on the CPU. A device therefore needs `shaderInt64` and
//! `shaderFloat64` to spread ([`GpuError::MissingFeature`] otherwise), and
//! 64-bit buffer atomics to push (without them every hop pulls:
//! [`GpuSpreader::pushes`]).
//!
//! ```no_run
//! use axonal::gpu::{Gpu, GpuGraph, GpuSpreader};
//! use axonal::graph::generate;
//! use axonal::spread::{Seed, SpreadParams, Spreader};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let gpu = Gpu::new()?; // discrete first, then integrated, virtual, CPU
//!     let graph = generate::barabasi_albert(100_000, 4, 7);
//!     let on_device = GpuGraph::upload(&gpu, &graph)?; // once; every query reuses it
//!     let mut spreader = GpuSpreader::new(&gpu, graph.node_count())?;
//!     let (mut on_gpu, mut on_cpu) = (Vec::new(), Vec::new());
//!     let seeds = [Seed::new(0, 1.0)];
//!     spreader.spread(&on_device, &seeds, &SpreadParams::default(), &mut on_gpu)?;
//!     Spreader::new(graph.node_count()).spread(&graph, &seeds, &SpreadParams::default(), &mut on_cpu)?;
//!     assert_eq!(on_gpu, on_cpu); // the same bits
//!     Ok(())
//! }
//! ```

mod device;
mod error;
mod graph;
mod kernel;
mod memory;
mod select;
mod similarity;
mod spread;

pub use device::{DeviceInfo, DeviceKind, Gpu, GpuOptions};
pub use error::GpuError;
pub use graph::GpuGraph;
pub use memory::{KernelTime, KernelTimes};
pub use similarity::{GpuEmbeddings, MAX_QUERIES};
pub use spread::GpuSpreader;

// A device, a graph and an embedding matrix are shared across threads;
// a spreader or a scan is moved to the thread that runs it.
static_assertions::assert_impl_all!(Gpu: Send, Sync);
static_assertions::assert_impl_all!(GpuGraph: Send, Sync);
static_assertions::assert_impl_all!(GpuSpreader: Send, Sync);
static_assertions::assert_impl_all!(GpuEmbeddings: Send, Sync);
