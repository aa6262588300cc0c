//! Tiers: where a node's data lives ([`StorageTier`]) and how far from the
//! seeds a spreading query reached it ([`HopTier`]).
//!
//! The two used to be one type, because the seed design weighted a result's
//! confidence by a "tier" of its hop. They are different questions: the
//! storage tier is a property of the node that the cache layer changes as
//! data moves between RAM, compressed memory and disk, while the hop tier is
//! a property of one query's result that only depends on the hop. Keeping
//! them apart lets each grow (more storage levels, other hop classes)
//! without changing the other's meaning.

/// Where a node's data lives, hottest first.
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
}

/// The class of the hop at which spreading first reached a node: the
/// seeds (hop 0) are hot, hops 1-2 warm, hops 3 and beyond cold.
///
/// Tiered thresholds ([`Threshold::Tiered`](crate::spread::Threshold)) and
/// result confidence ([`TierConfidence`](crate::spread::TierConfidence))
/// are set per hop tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum HopTier {
    /// Hop 0: the seeds.
    Hot = 0,
    /// Hops 1 and 2.
    Warm = 1,
    /// Hops 3 and beyond.
    Cold = 2,
}

impl HopTier {
    /// The class of `hop`: 0 is hot, 1-2 warm, 3+ cold.
    pub const fn of_hop(hop: u8) -> HopTier {
        match hop {
            0 => HopTier::Hot,
            1 | 2 => HopTier::Warm,
            _ => HopTier::Cold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_tier_round_trips_through_its_byte() {
        for tier in StorageTier::ALL {
            assert_eq!(StorageTier::from_u8(tier as u8), Some(tier));
        }
        assert_eq!(StorageTier::from_u8(3), None);
        assert_eq!(StorageTier::from_u8(255), None);
    }

    #[test]
    fn hop_classes() {
        assert_eq!(HopTier::of_hop(0), HopTier::Hot);
        assert_eq!(HopTier::of_hop(1), HopTier::Warm);
        assert_eq!(HopTier::of_hop(2), HopTier::Warm);
        assert_eq!(HopTier::of_hop(3), HopTier::Cold);
        assert_eq!(HopTier::of_hop(32), HopTier::Cold);
        assert_eq!(HopTier::of_hop(u8::MAX), HopTier::Cold);
    }
}
