//! Node flags.

use bitflags::bitflags;

bitflags! {
    /// Per-node state bits, stored in one byte of the hot half of a [`Node`](super::Node).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct NodeFlags: u8 {
        /// The node must never be evicted from its current tier.
        const PINNED = 1 << 0;
        /// The node was deleted; its id stays reserved until compaction.
        const TOMBSTONE = 1 << 1;
        /// The node changed since it was last persisted.
        const DIRTY = 1 << 2;
        /// [`Node::embedding_row`](super::Node::embedding_row) names a valid row.
        const HAS_EMBEDDING = 1 << 3;
        /// The node is excluded from results (it still conducts activation).
        const SUPPRESSED = 1 << 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_flag_bits_are_kept_out_by_from_bits() {
        assert!(NodeFlags::from_bits(1 << 7).is_none());
        assert_eq!(NodeFlags::from_bits_truncate(0xFF), NodeFlags::all());
    }
}
