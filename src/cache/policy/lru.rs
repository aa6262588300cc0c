//! [`Lru`]: the least recently used block leaves first.

use super::Eviction;
use super::list::{Links, Queue};

/// LRU: the least recently used block leaves first.
///
/// The reference point for the other policies, and the best one for
/// traces whose reuse is strictly recency-ordered. Every hit moves the
/// block to the back of one list, which is a write to shared links: a hit
/// therefore needs the shard's exclusive lock
/// ([`EXCLUSIVE_HIT`](Eviction::EXCLUSIVE_HIT)), which serialises the
/// shard's readers. Prefer [`S3Fifo`](super::S3Fifo) or
/// [`Clock`](super::Clock) where many threads read.
#[derive(Debug)]
pub struct Lru {
    links: Links,
    /// Least recently used at the front.
    recency: Queue,
}

impl Eviction for Lru {
    const EXCLUSIVE_HIT: bool = true;

    fn new(_capacity_bytes: usize, _slots: usize) -> Self {
        Lru {
            links: Links::default(),
            recency: Queue::new(1),
        }
    }

    fn insert(&mut self, slot: u32, _hash: u64, _bytes: usize) {
        self.remove(slot);
        self.links.ensure(slot);
        self.recency.push_back(&mut self.links, slot);
    }

    /// Does nothing: LRU must reorder its list, which the shared lock does
    /// not allow; the shard calls [`hit_exclusive`](Eviction::hit_exclusive).
    fn hit(&self, _slot: u32) {}

    fn hit_exclusive(&mut self, slot: u32) {
        if self.links.queue_of(slot).is_some() {
            self.recency.move_to_back(&mut self.links, slot);
        }
    }

    /// The least recently used unpinned block; a pinned block met first is
    /// being read, so it counts as just used and moves to the back.
    fn evict(&mut self, evictable: &mut dyn FnMut(u32) -> bool) -> Option<u32> {
        self.recency.sweep(&mut self.links, evictable, |_| false)
    }

    fn remove(&mut self, slot: u32) {
        if self.links.queue_of(slot).is_some() {
            self.recency.unlink(&mut self.links, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::cache::policy::tests::{Model, check_against_model, drain, every, model_sweep};

    fn filled(slots: u32) -> Lru {
        let mut p = Lru::new(0, 0);
        for slot in 0..slots {
            p.insert(slot, u64::from(slot), 1);
        }
        p
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut p = filled(4);
        p.hit_exclusive(0);
        p.hit_exclusive(2);
        p.hit(1); // no effect without the exclusive lock
        assert_eq!(drain(&mut p, &mut every), [1, 3, 0, 2]);
    }

    #[test]
    fn pinned_blocks_stay_and_all_pinned_is_none() {
        let mut p = filled(3);
        assert_eq!(p.evict(&mut |s| s != 0), Some(1));
        assert_eq!(p.evict(&mut |_| false), None);
        assert_eq!(drain(&mut p, &mut every), [2, 0]);
    }

    #[test]
    fn removed_slots_are_forgotten_and_reusable() {
        let mut p = filled(3);
        p.remove(0);
        p.remove(0);
        p.hit_exclusive(0);
        p.insert(0, 9, 1);
        assert_eq!(drain(&mut p, &mut every), [1, 2, 0]);
    }

    #[test]
    fn matches_the_model() {
        for seed in 0..4 {
            check_against_model::<Lru, Plain>(seed);
        }
    }

    /// LRU as a vector, least recent first.
    #[derive(Default)]
    struct Plain(VecDeque<u32>);

    impl Model for Plain {
        fn insert(&mut self, slot: u32, _: u64, _: usize) {
            self.0.push_back(slot);
        }

        fn hit(&mut self, slot: u32) {
            self.remove(slot);
            self.0.push_back(slot);
        }

        fn evict(&mut self, evictable: &dyn Fn(u32) -> bool) -> Option<u32> {
            model_sweep(&mut self.0, evictable, |_| false)
        }

        fn remove(&mut self, slot: u32) {
            self.0.retain(|&s| s != slot);
        }
    }
}
