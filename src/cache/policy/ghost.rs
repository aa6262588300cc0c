//! S3-FIFO's ghost queue: the key hashes of the last blocks evicted from
//! the small queue, without their data.
//!
//! A block that comes back while its hash is still here was evicted too
//! early (it is reused, at a distance longer than the small queue), so it
//! enters the main queue directly. The ghost is a FIFO of hashes with a
//! hash map beside it for O(1) membership: each record carries a sequence
//! number, and the map keeps the newest per hash, so a record that was
//! taken or recorded again since is recognised as stale when it reaches
//! the front. Its bound is the policy's, given at every record (half the
//! blocks the shard holds now: a shard's block count follows the sizes of
//! its blocks, not a guess made when it was built).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Recently evicted key hashes, at most a bound of them.
#[derive(Debug)]
pub(super) struct Ghost {
    /// Hash -> sequence number of its newest record.
    newest: HashMap<u64, u64, BuildHasherDefault<MixHasher>>,
    /// Records, oldest first.
    order: VecDeque<(u64, u64)>,
    next_sequence: u64,
}

impl Ghost {
    /// A ghost with room for `bound` records before it grows.
    pub(super) fn new(bound: usize) -> Ghost {
        Ghost {
            newest: HashMap::with_capacity_and_hasher(bound, BuildHasherDefault::default()),
            order: VecDeque::with_capacity(bound),
            next_sequence: 0,
        }
    }

    /// Remembers that the block of `hash` was evicted, forgetting the
    /// oldest record beyond the bound.
    pub(super) fn record(&mut self, hash: u64, bound: usize) {
        if bound == 0 {
            return;
        }
        while self.order.len() >= bound {
            let (old, sequence) = self.order.pop_front().expect("the ghost is not empty");
            if self.newest.get(&old) == Some(&sequence) {
                self.newest.remove(&old);
            }
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.newest.insert(hash, sequence);
        self.order.push_back((hash, sequence));
    }

    /// Whether `hash` was evicted recently; forgets it if so (the block is
    /// back).
    pub(super) fn take(&mut self, hash: u64) -> bool {
        self.newest.remove(&hash).is_some()
    }
}

/// Hashes a `u64` key hash again for the map: the cache picks shards by
/// some of the hash's bits, so within a shard those bits are all alike and
/// must not decide the bucket. SplitMix64's finaliser mixes every bit.
#[derive(Debug, Default)]
pub(super) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_bound_records() {
        let mut ghost = Ghost::new(2);
        ghost.record(1, 2);
        ghost.record(2, 2);
        ghost.record(3, 2);
        assert!(!ghost.take(1), "the oldest was forgotten");
        assert!(ghost.take(3));
        assert!(!ghost.take(3), "taking forgets");
        assert!(ghost.take(2));
    }

    #[test]
    fn a_stale_record_does_not_forget_a_newer_one() {
        let mut ghost = Ghost::new(2);
        ghost.record(7, 2);
        ghost.record(7, 2);
        ghost.record(8, 2); // pushes out the first record of 7, not the second
        assert!(ghost.take(7));
        assert!(ghost.take(8));
    }

    #[test]
    fn a_ghost_of_bound_zero_remembers_nothing() {
        let mut ghost = Ghost::new(0);
        ghost.record(1, 0);
        assert!(!ghost.take(1));
    }
}
