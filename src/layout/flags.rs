//! Node flags and storage tiers.

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

/// Where a node's data lives, hottest first.
///
/// The tier also names a spreading hop class: hop 0 is hot, hops 1-2 warm,
/// hops 3 and beyond cold (see [`StorageTier::of_hop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum StorageTier {
    /// In RAM, in the working set.
    #[default]
    Hot = 0,
    /// In RAM, compressed or rarely used.
    Warm = 1,
    /// On disk.
    Cold = 2,
}

impl StorageTier {
    /// Every tier, hottest first.
    pub const ALL: [StorageTier; 3] = [StorageTier::Hot, StorageTier::Warm, StorageTier::Cold];

    /// The tier byte as stored in a [`Node`](super::Node), or `None` for an unknown value.
    pub const fn from_u8(value: u8) -> Option<StorageTier> {
        match value {
            0 => Some(StorageTier::Hot),
            1 => Some(StorageTier::Warm),
            2 => Some(StorageTier::Cold),
            _ => None,
        }
    }

    /// The tier a node reached at `hop` belongs to: 0 is hot, 1-2 warm, 3+ cold.
    pub const fn of_hop(hop: u8) -> StorageTier {
        match hop {
            0 => StorageTier::Hot,
            1 | 2 => StorageTier::Warm,
            _ => StorageTier::Cold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_round_trips_through_its_byte() {
        for tier in StorageTier::ALL {
            assert_eq!(StorageTier::from_u8(tier as u8), Some(tier));
        }
        assert_eq!(StorageTier::from_u8(3), None);
        assert_eq!(StorageTier::from_u8(255), None);
    }

    #[test]
    fn hop_classes() {
        assert_eq!(StorageTier::of_hop(0), StorageTier::Hot);
        assert_eq!(StorageTier::of_hop(1), StorageTier::Warm);
        assert_eq!(StorageTier::of_hop(2), StorageTier::Warm);
        assert_eq!(StorageTier::of_hop(3), StorageTier::Cold);
        assert_eq!(StorageTier::of_hop(32), StorageTier::Cold);
    }

    #[test]
    fn unknown_flag_bits_are_kept_out_by_from_bits() {
        assert!(NodeFlags::from_bits(1 << 7).is_none());
        assert_eq!(NodeFlags::from_bits_truncate(0xFF), NodeFlags::all());
    }
}
