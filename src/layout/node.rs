//! The 64-byte node record.

use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use bytemuck::{Pod, Zeroable};
use static_assertions::{const_assert, const_assert_eq};

use super::{NodeFlags, StorageTier};

/// One memory-graph node: exactly one 64-byte cache line.
///
/// This is the Engram `CacheOptimizedNode` with every field kept, made to fit:
/// the adjacency is stored as a range into the CSR arrays of a
/// [`Graph`](crate::graph::Graph) (`edge_start`, `edge_count`) instead of a
/// 16-byte slice, and the embedding as a row index into an
/// [`EmbeddingMatrix`](super::EmbeddingMatrix) instead of a pointer.
///
/// | bytes | field | half |
/// |---|---|---|
/// | 0..8 | `memory_id` | hot |
/// | 8..12 | `activation` | hot |
/// | 12..16 | `confidence` | hot |
/// | 16..18 | `hop_count` | hot |
/// | 18 | `storage_tier` | hot |
/// | 19 | `flags` | hot |
/// | 20..24 | `edge_count` | hot |
/// | 24..32 | `edge_start` | hot |
/// | 32..36 | `embedding_row` | warm |
/// | 36..40 | `access_count` | warm |
/// | 40..48 | `last_access` | cold |
/// | 48..56 | `creation_time` | cold |
/// | 56..60 | `tier_migration_history` | cold |
/// | 60..64 | `reserved` | - |
///
/// The record is [`Pod`]: stored little-endian on little-endian hosts, a node
/// array is its own on-disk form (see [`Node::slice_from_bytes`]).
#[derive(Clone, Copy, PartialEq, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct Node {
    /// The engine's id for the memory this node stands for.
    pub memory_id: u64,
    /// Current activation in `[0, 1]`.
    pub activation: f32,
    /// Confidence in the activation, in `[0, 1]`.
    pub confidence: f32,
    /// Hops from the nearest seed in the last spreading query (`u16::MAX`: not reached).
    pub hop_count: u16,
    /// The [`StorageTier`] as a byte; read it with [`Node::tier`].
    pub storage_tier: u8,
    /// [`NodeFlags`] bits; read them with [`Node::flags`].
    pub flags: u8,
    /// Number of out-edges.
    pub edge_count: u32,
    /// Index of the first out-edge in the CSR target and weight arrays.
    pub edge_start: u64,
    /// Row of this node's embedding (valid when [`NodeFlags::HAS_EMBEDDING`] is set).
    pub embedding_row: u32,
    /// How often the memory was recalled.
    pub access_count: u32,
    /// Time of the last access (engine-defined clock, e.g. Unix seconds).
    pub last_access: f64,
    /// Time the memory was created (same clock as `last_access`).
    pub creation_time: f64,
    /// Recent tier moves, two bits each, newest in the low bits.
    pub tier_migration_history: u32,
    /// Reserved for future use; written as zero.
    pub reserved: u32,
}

const_assert_eq!(size_of::<Node>(), 64);
const_assert_eq!(align_of::<Node>(), 64);
const_assert_eq!(offset_of!(Node, memory_id), 0);
const_assert_eq!(offset_of!(Node, activation), 8);
const_assert_eq!(offset_of!(Node, confidence), 12);
const_assert_eq!(offset_of!(Node, hop_count), 16);
const_assert_eq!(offset_of!(Node, storage_tier), 18);
const_assert_eq!(offset_of!(Node, flags), 19);
const_assert_eq!(offset_of!(Node, edge_count), 20);
const_assert_eq!(offset_of!(Node, edge_start), 24);
const_assert_eq!(offset_of!(Node, embedding_row), 32);
const_assert_eq!(offset_of!(Node, last_access), 40);
const_assert_eq!(offset_of!(Node, tier_migration_history), 56);
// Everything a traversal reads sits in the first half-line.
const_assert!(offset_of!(Node, edge_start) + size_of::<u64>() <= 32);

impl Node {
    /// A node that is not reached, hot, with no flags, edges or embedding.
    pub const fn new(memory_id: u64) -> Node {
        Node {
            memory_id,
            activation: 0.0,
            confidence: 0.0,
            hop_count: u16::MAX,
            storage_tier: StorageTier::Hot as u8,
            flags: 0,
            edge_count: 0,
            edge_start: 0,
            embedding_row: 0,
            access_count: 0,
            last_access: 0.0,
            creation_time: 0.0,
            tier_migration_history: 0,
            reserved: 0,
        }
    }

    /// The storage tier, or `None` if the byte holds no known tier
    /// (possible in a record read from corrupt bytes).
    pub const fn tier(&self) -> Option<StorageTier> {
        StorageTier::from_u8(self.storage_tier)
    }

    /// Sets the storage tier.
    pub fn set_tier(&mut self, tier: StorageTier) {
        self.storage_tier = tier as u8;
    }

    /// The flags, with unknown bits dropped.
    pub const fn flags(&self) -> NodeFlags {
        NodeFlags::from_bits_truncate(self.flags)
    }

    /// Replaces the flags.
    pub fn set_flags(&mut self, flags: NodeFlags) {
        self.flags = flags.bits();
    }

    /// The out-edge range in the CSR arrays.
    pub fn edge_range(&self) -> core::ops::Range<u64> {
        self.edge_start..self.edge_start + u64::from(self.edge_count)
    }

    /// Views `bytes` as nodes without copying.
    ///
    /// `bytes` must start on a 64-byte boundary and hold a whole number of
    /// records. Buffers from [`AlignedBuf`](super::AlignedBuf) or a page-aligned
    /// memory map satisfy the first condition.
    pub fn slice_from_bytes(bytes: &[u8]) -> Result<&[Node], LayoutError> {
        check_node_bytes(bytes)?;
        bytemuck::try_cast_slice(bytes).map_err(|_| LayoutError::Misaligned)
    }

    /// Mutable form of [`Node::slice_from_bytes`].
    pub fn slice_from_bytes_mut(bytes: &mut [u8]) -> Result<&mut [Node], LayoutError> {
        check_node_bytes(bytes)?;
        bytemuck::try_cast_slice_mut(bytes).map_err(|_| LayoutError::Misaligned)
    }

    /// The raw bytes of a node array, ready to be written out.
    pub fn slice_as_bytes(nodes: &[Node]) -> &[u8] {
        bytemuck::cast_slice(nodes)
    }
}

fn check_node_bytes(bytes: &[u8]) -> Result<(), LayoutError> {
    if !bytes.len().is_multiple_of(size_of::<Node>()) {
        return Err(LayoutError::TruncatedRecord { len: bytes.len() });
    }
    if !(bytes.as_ptr() as usize).is_multiple_of(align_of::<Node>()) {
        return Err(LayoutError::Misaligned);
    }
    Ok(())
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("memory_id", &self.memory_id)
            .field("activation", &self.activation)
            .field("confidence", &self.confidence)
            .field("hop_count", &self.hop_count)
            .field("tier", &self.tier())
            .field("flags", &self.flags())
            .field("edges", &self.edge_range())
            .field("embedding_row", &self.embedding_row)
            .finish_non_exhaustive()
    }
}

/// Why bytes could not be viewed as records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The buffer does not start on the record's alignment.
    Misaligned,
    /// The buffer's length is not a multiple of the record size.
    TruncatedRecord {
        /// The buffer length in bytes.
        len: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Misaligned => f.write_str("buffer is not aligned to 64 bytes"),
            LayoutError::TruncatedRecord { len } => {
                write!(
                    f,
                    "buffer of {len} bytes is not a whole number of 64-byte records"
                )
            }
        }
    }
}

impl core::error::Error for LayoutError {}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::layout::AlignedBuf;

    #[test]
    fn nodes_round_trip_through_bytes_without_copying() {
        let mut nodes = AlignedBuf::<Node>::zeroed(3);
        for (i, n) in nodes.iter_mut().enumerate() {
            *n = Node::new(1000 + i as u64);
            n.edge_start = 10 * i as u64;
            n.edge_count = 3;
            n.set_tier(StorageTier::Warm);
            n.set_flags(NodeFlags::PINNED | NodeFlags::HAS_EMBEDDING);
        }
        let bytes = Node::slice_as_bytes(&nodes);
        assert_eq!(bytes.len(), 192);
        let view = Node::slice_from_bytes(bytes).unwrap();
        assert_eq!(view.as_ptr(), nodes.as_ptr(), "the view must not copy");
        assert_eq!(view[2].memory_id, 1002);
        assert_eq!(view[2].edge_range(), 20..23);
        assert_eq!(view[1].tier(), Some(StorageTier::Warm));
        assert_eq!(
            view[1].flags(),
            NodeFlags::PINNED | NodeFlags::HAS_EMBEDDING
        );
    }

    #[test]
    fn bad_byte_views_are_typed_errors() {
        let buf = AlignedBuf::<u8>::zeroed(256);
        assert_eq!(
            Node::slice_from_bytes(&buf[..100]),
            Err(LayoutError::TruncatedRecord { len: 100 })
        );
        assert_eq!(
            Node::slice_from_bytes(&buf[1..129]),
            Err(LayoutError::Misaligned)
        );
        assert_eq!(Node::slice_from_bytes(&buf[..0]).map(<[Node]>::len), Ok(0));
    }

    #[test]
    fn corrupt_tier_byte_reads_as_none() {
        let mut n = Node::new(7);
        n.storage_tier = 9;
        assert_eq!(n.tier(), None);
        n.flags = 0xFF;
        assert_eq!(n.flags(), NodeFlags::all());
    }
}
