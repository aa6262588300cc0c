//! The `.axg` graph file: a graph on disk that every kernel reads in place.
//!
//! Engines outgrow RAM and outlive processes; rebuilding a graph from edges
//! at every start costs minutes on large graphs. An `.axg` file holds the
//! graph in exactly the CSR arrays the kernels read, each section on its own
//! 4 KiB boundary, so opening one is a memory map plus checks, and its
//! [`GraphView`](crate::graph::GraphView) goes to [`Spreader`](crate::spread::Spreader),
//! `ParallelSpreader`, `MultiSpreader` unchanged. Embeddings are stored as
//! [`EmbeddingMatrix`](crate::layout::EmbeddingMatrix) holds them (padded
//! rows, inverse norms beside), so [`AxgFile::embeddings`]'s
//! [`EmbeddingView`](crate::layout::EmbeddingView) goes to the top-k scans
//! ([`Kernels::top_k_cosine`](crate::simd::Kernels::top_k_cosine) and the
//! others) unchanged, and seeding a query reads the rows in place. (As `tantivy`'s segment
//! files do: a fixed layout, a version, checksums that let a reader verify
//! what it touches.)
//!
//! - [`AxgFile::parse`] works on any `&[u8]` (`no_std` + `alloc`), checked
//!   to a [`Verify`] level; [`Contents::to_bytes`] writes one in memory.
//! - With `std`: [`write_file`] writes crash-safely (temporary file, fsync,
//!   rename, fsync of the directory); [`AxgStore::read`] reads a file into
//!   memory, [`AxgStore::map`] maps it (`unsafe`: the file must not change
//!   while mapped); [`Chunks`] passes over a file larger than memory,
//!   chunk by chunk, within a memory budget.
//! - Verifying reads every byte once, block by block, on all cores with
//!   `std`; [`AxgFile::verify_with`], [`AxgStore::read_with`] and
//!   [`AxgStore::map_with`] report its [`Progress`] and can be cancelled.
//!
//! Bad bytes are a typed [`StoreError`] naming the section and the byte
//! offset, never a panic: a newer major version, a foreign byte order, a
//! truncated file, misaligned or overlapping sections, a bad checksum,
//! offsets that decrease, a target out of range, a weight outside `(0, 1]`,
//! a NaN embedding value. The checks the kernels' memory safety relies on
//! ([`Verify::Structure`]) are never skipped before a graph is handed out;
//! only the checksums ([`Verify::Full`]) are the caller's choice.
//!
//! The embeddings' structure check is
//! [`EmbeddingView::new`](crate::layout::EmbeddingView::new)'s: the section
//! lengths against the node count and the header's dimension, 64-byte
//! aligned rows, every value finite, the padding zero, every inverse norm
//! finite and non-negative. The inverse norms are trusted, not recomputed:
//! a corrupted one that passes those bounds scales its row's cosine scores
//! (the scans stay sound, they rely on the lengths only); the checksums of
//! [`Verify::Full`] catch it.
//!
//! ## Layout (format 1.0)
//!
//! Every integer is little-endian. The header page (4096 bytes) holds:
//!
//! | offset | field | type | meaning |
//! |---|---|---|---|
//! | 0 | magic | `[u8; 8]` | `AXONALG\0` |
//! | 8 | major | `u16` | 1; a reader refuses a newer major version |
//! | 10 | minor | `u16` | 0; additions older readers may ignore |
//! | 12 | byte-order mark | `u32` | `0x0A0B0C0D` (read swapped: a foreign byte order) |
//! | 16 | flags | `u64` | bit 0: node records present; bit 1: id map present; bit 2: embeddings present; others 0 |
//! | 24 | node count | `u64` | at most `u32::MAX` |
//! | 32 | edge count | `u64` | |
//! | 40 | embedding dimension | `u32` | values per embedding row: at least 1 with flag bit 2, else 0 |
//! | 44 | reserved | 8 bytes | 0 |
//! | 52 | section count | `u32` | entries in the section table, at most 82 |
//! | 56 | file length | `u64` | bytes of the whole file |
//! | 64 | header checksum | `u64` | xxh3-64 of the header page with this field 0 |
//! | 72 | reserved | 56 bytes | 0 |
//! | 128 | section table | 48 bytes an entry | in file order, see below |
//!
//! A section table entry:
//!
//! | offset | field | type | meaning |
//! |---|---|---|---|
//! | 0 | kind | `u32` | the section, below |
//! | 4 | element size | `u32` | bytes per element |
//! | 8 | offset | `u64` | byte offset in the file, a multiple of 4096 |
//! | 16 | length | `u64` | bytes |
//! | 24 | checksum | `u64` | xxh3-64 of the section's block checksums (the block-checksum section: of its own bytes) |
//! | 32 | first block | `u64` | index of its first block checksum |
//! | 40 | reserved | `u64` | 0 |
//!
//! The sections, each starting on a 4096-byte boundary (zero padding
//! between), in this order:
//!
//! | kind | section | elements | |
//! |---|---|---|---|
//! | 1 | out-offsets | `u64` x (nodes + 1) | CSR of out-edges: non-decreasing, from 0 to the edge count |
//! | 2 | out-targets | `u32` x edges | below the node count |
//! | 3 | out-weights | `f32` x edges | in `(0, 1]` |
//! | 4, 5, 6 | in-offsets, in-targets, in-weights | as above | the transpose: in-edges by target |
//! | 7 | nodes | 64-byte [`Node`](crate::layout::Node) x nodes | optional (flag bit 0) |
//! | 8 | id map | `u64` x nodes | the caller's original id of each node; optional (flag bit 1) |
//! | 10 | embeddings | `f32` x nodes x stride | row-major, each row's `dim` values then zeros up to the stride (`dim` rounded up to a multiple of 16), so every row starts 64-byte aligned; finite; optional (flag bit 2, with 11) |
//! | 11 | inverse norms | `f32` x nodes | `1 / ‖row‖`, 0 for an all-zero row; finite, non-negative; optional (flag bit 2, with 10) |
//! | 9 | block checksums | `u64` | xxh3-64 of every 1 MiB block of every other section, in table order (each section's blocks start at its entry's first block) |
//!
//! A reader that touches only part of a large section can check just the
//! blocks it reads.

#[cfg(feature = "store")]
mod build;
#[cfg(feature = "store")]
mod chunks;
mod error;
#[cfg(feature = "store")]
mod file;
mod format;
mod progress;
mod verify;

#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use build::{AxgBuilder, BuildSummary, IdMapping, MIN_BUDGET, WeightRule};
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use chunks::{Carry, Chunk, ChunkRows, Chunks};
#[cfg(feature = "cache")]
pub(crate) use chunks::{find_entry, open_header, read_at};
pub use error::StoreError;
#[cfg(feature = "store")]
#[cfg_attr(docsrs, doc(cfg(feature = "store")))]
pub use file::{AxgStore, write_file, write_file_with};
pub use format::{
    ALIGN, AxgFile, BLOCK_LEN, BYTE_ORDER_MARK, Contents, HEADER_LEN, MAGIC, MAJOR, MINOR, Section,
    Verify,
};
#[cfg(feature = "cache")]
pub(crate) use format::{Entry, Header, embedding_error};
pub use progress::{Phase, Progress, ProgressReport};
