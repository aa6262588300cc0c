//! Memory layout: what a node looks like in memory and on disk.
//!
//! Spreading touches millions of nodes per second; every cache line that a
//! touched node drags in must pay for itself. [`Node`] is therefore exactly one
//! 64-byte cache line, aligned to one, with the fields a traversal reads (id,
//! activation, confidence, hop, tier, flags, adjacency range) in its first 32
//! bytes and the bookkeeping an engine reads rarely (embedding row, access
//! statistics, timestamps) in the second half.
//!
//! Every record type here is [`bytemuck::Pod`], so an array of nodes can be
//! written to disk as raw bytes and viewed again without copying
//! ([`Node::slice_from_bytes`]).

mod flags;
pub(crate) mod half;
mod node;
mod tier;

#[cfg(feature = "alloc")]
mod aligned;
#[cfg(feature = "alloc")]
mod embedding;
#[cfg(feature = "alloc")]
pub(crate) mod quantized;

pub use flags::NodeFlags;
pub use node::{LayoutError, Node};
pub use tier::{HopTier, StorageTier};

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use aligned::{AlignedBuf, CacheLine};
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use embedding::{EmbeddingError, EmbeddingMatrix, EmbeddingView};
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use quantized::{Quantization, QuantizedMatrix};

/// The size of one cache line on every CPU axonal targets, in bytes.
pub const CACHE_LINE: usize = 64;
