//! A block's bytes and the handle readers hold.
//!
//! Blocks are read as arrays of `u32`, `f32` and `u64`, and embedding rows
//! as 64-byte aligned rows (what the scans' views require), so their bytes
//! live in cache-line aligned storage ([`BlockBuf`]) and are viewed through
//! `bytemuck`: no `unsafe` here.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use bytemuck::Pod;

use crate::layout::{CACHE_LINE, CacheLine};

/// What a block holds: decides which filters the compressed tier tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockKind {
    /// Opaque bytes: plain LZ4, or raw.
    Bytes,
    /// `u32` values (byte-shuffled before LZ4 where that pays).
    U32,
    /// `u32` ids ascending within runs, such as a CSR block's targets
    /// (delta-coded, then shuffled, where that pays).
    SortedU32,
    /// `f32` values: weights, embedding rows (byte-shuffled where that pays).
    F32,
    /// `u64` values (byte-shuffled where that pays).
    U64,
}

impl BlockKind {
    /// Every kind, in the order of their codes.
    pub const ALL: [BlockKind; 5] = [
        BlockKind::Bytes,
        BlockKind::U32,
        BlockKind::SortedU32,
        BlockKind::F32,
        BlockKind::U64,
    ];

    /// Bytes per element (1 for [`Bytes`](BlockKind::Bytes)).
    pub const fn element_size(self) -> usize {
        match self {
            BlockKind::Bytes => 1,
            BlockKind::U32 | BlockKind::SortedU32 | BlockKind::F32 => 4,
            BlockKind::U64 => 8,
        }
    }

    /// The kind's code in encoded blocks.
    pub(crate) const fn code(self) -> u8 {
        match self {
            BlockKind::Bytes => 0,
            BlockKind::U32 => 1,
            BlockKind::SortedU32 => 2,
            BlockKind::F32 => 3,
            BlockKind::U64 => 4,
        }
    }

    /// The kind of a code.
    pub(crate) fn from_code(code: u8) -> Option<BlockKind> {
        BlockKind::ALL.get(usize::from(code)).copied()
    }

    /// A short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            BlockKind::Bytes => "bytes",
            BlockKind::U32 => "u32",
            BlockKind::SortedU32 => "sorted u32",
            BlockKind::F32 => "f32",
            BlockKind::U64 => "u64",
        }
    }
}

/// A growable byte buffer aligned to 64 bytes (a cache line: enough for
/// every element type and for embedding rows).
#[derive(Clone, Default)]
pub struct BlockBuf {
    lines: Vec<CacheLine>,
    len: usize,
}

impl core::fmt::Debug for BlockBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockBuf")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl PartialEq for BlockBuf {
    fn eq(&self, other: &BlockBuf) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for BlockBuf {}

impl BlockBuf {
    /// An empty buffer.
    pub const fn new() -> BlockBuf {
        BlockBuf {
            lines: Vec::new(),
            len: 0,
        }
    }

    /// A copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> BlockBuf {
        let mut buf = BlockBuf::new();
        buf.resize(bytes.len()).copy_from_slice(bytes);
        buf
    }

    /// Bytes of storage a block of `len` bytes takes (whole cache lines):
    /// what it costs in a cache's tier 0.
    pub const fn storage_for(len: usize) -> usize {
        len.div_ceil(CACHE_LINE) * CACHE_LINE
    }

    /// Bytes held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of storage allocated (what a resident block costs).
    pub fn capacity_bytes(&self) -> usize {
        self.lines.capacity() * CACHE_LINE
    }

    /// Makes it `len` bytes long (new bytes zero) and returns them all.
    pub fn resize(&mut self, len: usize) -> &mut [u8] {
        self.lines
            .resize(len.div_ceil(CACHE_LINE), CacheLine([0; CACHE_LINE]));
        self.len = len;
        // Bytes past `len` in the last line stay zero: the buffer's bytes
        // are a pure function of what was written.
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.lines);
        bytes[len..].fill(0);
        &mut bytes[..len]
    }

    /// Empties it, keeping the storage.
    pub fn clear(&mut self) {
        self.len = 0;
        self.lines.clear();
    }

    /// Makes the storage at least `bytes` long (whole cache lines) without
    /// changing the length.
    pub(crate) fn reserve_storage(&mut self, bytes: usize) {
        let lines = bytes.div_ceil(CACHE_LINE);
        self.lines
            .reserve_exact(lines.saturating_sub(self.lines.len()));
    }

    /// Frees storage beyond what the bytes need.
    pub fn shrink_to_fit(&mut self) {
        self.lines.shrink_to_fit();
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.lines)[..self.len]
    }

    /// The bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.lines)[..self.len]
    }

    /// The bytes as `T`s (`None` unless the length is a multiple of
    /// `size_of::<T>()`; `T` must not need more than 64-byte alignment).
    #[inline]
    pub fn as_slice<T: Pod>(&self) -> Option<&[T]> {
        bytemuck::try_cast_slice(self.as_bytes()).ok()
    }
}

/// A decoded block as the cache holds it in tier 0.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) kind: BlockKind,
    pub(crate) buf: BlockBuf,
    /// Loaded by a prefetch and not read since (for the prefetch figures:
    /// a reader's hit clears it, an eviction that finds it set counts a
    /// wasted prefetch).
    pub(crate) prefetched: AtomicBool,
    /// Whether it was read again after the read that loaded it (a hit, or
    /// a promotion from tier 1 or 2): only such blocks are worth keeping
    /// encoded when they leave tier 0.
    pub(crate) reused: AtomicBool,
}

/// A block a reader holds: it stays in memory, and in tier 0, while any
/// `BlockRef` to it lives (it is *pinned*: eviction skips it). Cloning is a
/// reference-count increment. Hold one for the span of the work that reads
/// the block (a hop's rows of one block), not longer: pinned blocks count
/// against the budget.
#[derive(Debug, Clone)]
pub struct BlockRef {
    pub(crate) inner: Arc<Decoded>,
}

impl BlockRef {
    pub(crate) fn new(kind: BlockKind, buf: BlockBuf) -> BlockRef {
        BlockRef {
            inner: Arc::new(Decoded {
                kind,
                buf,
                prefetched: AtomicBool::new(false),
                reused: AtomicBool::new(false),
            }),
        }
    }

    /// What the block holds.
    #[inline]
    pub fn kind(&self) -> BlockKind {
        self.inner.kind
    }

    /// The block's bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.inner.buf.as_bytes()
    }

    /// The block's bytes as `T`s (see [`BlockBuf::as_slice`]).
    #[inline]
    pub fn as_slice<T: Pod>(&self) -> Option<&[T]> {
        self.inner.buf.as_slice()
    }

    /// Bytes the block holds.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.buf.len()
    }

    /// Whether the block is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_zero_fills_and_views_typed() {
        let mut b = BlockBuf::new();
        b.resize(12)
            .copy_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(b.as_slice::<u32>(), Some(&[1u32, 2, 3][..]));
        assert_eq!(b.as_slice::<u64>(), None);
        b.resize(5);
        assert_eq!(b.as_bytes(), &[1, 0, 0, 0, 2]);
        b.resize(12);
        assert_eq!(b.as_slice::<u32>(), Some(&[1u32, 2, 0][..]));
        assert_eq!(BlockBuf::from_bytes(&[7; 9]).as_bytes(), &[7; 9]);
    }
}
