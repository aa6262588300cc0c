//! [`Clock`]: second chance over one ring.

use core::sync::atomic::{AtomicBool, Ordering};

use super::Eviction;
use super::list::{Links, Queue};

/// CLOCK: second chance over one ring.
///
/// Approximates LRU with a reference bit per block that a hit sets (one
/// relaxed atomic store under the shard's shared lock): the hand sweeps
/// the ring, clears set bits and evicts the first block whose bit was
/// clear. The ring is a FIFO queue whose front is the hand: a block the
/// hand spares goes to the back, which is where the hand reaches it last.
#[derive(Debug)]
pub struct Clock {
    links: Links,
    /// The hand at the front.
    ring: Queue,
    /// Per slot: hit since the hand last passed.
    referenced: Vec<AtomicBool>,
}

impl Eviction for Clock {
    const EXCLUSIVE_HIT: bool = false;

    fn new(_capacity_bytes: usize, _slots: usize) -> Self {
        Clock {
            links: Links::default(),
            ring: Queue::new(1),
            referenced: Vec::new(),
        }
    }

    fn insert(&mut self, slot: u32, _hash: u64, _bytes: usize) {
        self.remove(slot);
        self.links.ensure(slot);
        let needed = slot as usize + 1;
        if self.referenced.len() < needed {
            self.referenced.resize_with(needed, AtomicBool::default);
        }
        *self.referenced[slot as usize].get_mut() = false;
        self.ring.push_back(&mut self.links, slot);
    }

    #[inline]
    fn hit(&self, slot: u32) {
        if let Some(bit) = self.referenced.get(slot as usize) {
            // Load first: a block hit again keeps its cache line clean.
            if !bit.load(Ordering::Relaxed) {
                bit.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The first unpinned block under the hand whose bit is clear; a
    /// pinned block is passed over like a referenced one (it is being
    /// read), keeping its bit.
    fn evict(&mut self, evictable: &mut dyn FnMut(u32) -> bool) -> Option<u32> {
        let referenced = &mut self.referenced;
        self.ring.sweep(&mut self.links, evictable, |slot| {
            core::mem::take(referenced[slot as usize].get_mut())
        })
    }

    fn remove(&mut self, slot: u32) {
        if self.links.queue_of(slot).is_some() {
            self.ring.unlink(&mut self.links, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::*;
    use crate::cache::policy::tests::{Model, check_against_model, drain, every, model_sweep};

    fn filled(slots: u32) -> Clock {
        let mut p = Clock::new(0, 0);
        for slot in 0..slots {
            p.insert(slot, u64::from(slot), 1);
        }
        p
    }

    #[test]
    fn the_hand_spares_referenced_blocks_once() {
        let mut p = filled(4);
        p.hit(0);
        p.hit(0);
        p.hit(2);
        assert_eq!(p.evict(&mut every), Some(1));
        p.hit(3);
        // Ring now 2 3 0 with bits clear, set, clear.
        assert_eq!(drain(&mut p, &mut every), [0, 2, 3]);
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
        p.hit(0);
        p.remove(0);
        p.remove(0);
        p.insert(0, 9, 1); // its bit starts clear
        assert_eq!(drain(&mut p, &mut every), [1, 2, 0]);
    }

    #[test]
    fn matches_the_model() {
        for seed in 0..4 {
            check_against_model::<Clock, Plain>(seed);
        }
    }

    /// CLOCK as a vector from the hand on, bits in a map.
    #[derive(Default)]
    struct Plain {
        ring: VecDeque<u32>,
        referenced: HashMap<u32, bool>,
    }

    impl Model for Plain {
        fn insert(&mut self, slot: u32, _: u64, _: usize) {
            self.ring.push_back(slot);
            self.referenced.insert(slot, false);
        }

        fn hit(&mut self, slot: u32) {
            self.referenced.insert(slot, true);
        }

        fn evict(&mut self, evictable: &dyn Fn(u32) -> bool) -> Option<u32> {
            let referenced = &mut self.referenced;
            model_sweep(&mut self.ring, evictable, |slot| {
                referenced.insert(slot, false).unwrap()
            })
        }

        fn remove(&mut self, slot: u32) {
            self.ring.retain(|&s| s != slot);
        }
    }
}
