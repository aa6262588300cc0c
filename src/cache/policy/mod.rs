//! Which resident block leaves tier 0 when space is needed.
//!
//! The cache keeps its blocks in slots (`u32` indices, one table per
//! shard); a policy sees only slots, the key's hash and the block's bytes,
//! and orders them for eviction. Three are provided, all behind
//! [`Eviction`]:
//!
//! - [`S3Fifo`] (the default): a small FIFO for new blocks, a main FIFO for
//!   blocks that were hit, a ghost queue of recently evicted keys (Yang et
//!   al., SOSP 2023). One-hit blocks of a scan pass through the small queue
//!   without disturbing the blocks that are reused; a hit is one relaxed
//!   atomic store, under the shard's shared lock.
//! - [`Lru`]: least recently used; a hit moves the block to the front, so
//!   it takes the shard's lock exclusively.
//! - [`Clock`]: second chance over one ring; a hit sets a bit.

mod clock;
mod ghost;
mod list;
mod lru;
mod s3fifo;

pub use clock::Clock;
pub use lru::Lru;
pub use s3fifo::S3Fifo;

/// An eviction policy of one shard. The shard calls it under its lock:
/// [`hit`](Eviction::hit) under the shared lock (so it may only touch
/// atomics), everything else under the exclusive lock.
pub trait Eviction: Send + Sync + 'static {
    /// Whether a hit needs the exclusive lock: the shard then calls
    /// [`hit_exclusive`](Eviction::hit_exclusive) instead of
    /// [`hit`](Eviction::hit).
    const EXCLUSIVE_HIT: bool;

    /// A policy for a shard that will hold about `capacity_bytes` and
    /// `slots` blocks (hints for sizing its queues and ghost).
    fn new(capacity_bytes: usize, slots: usize) -> Self;

    /// A block entered tier 0 in `slot`: key hash `hash`, `bytes` long.
    fn insert(&mut self, slot: u32, hash: u64, bytes: usize);

    /// A hit on `slot`, under the shard's shared lock.
    fn hit(&self, slot: u32);

    /// A hit on `slot`, under the exclusive lock (only called when
    /// [`EXCLUSIVE_HIT`](Eviction::EXCLUSIVE_HIT)).
    fn hit_exclusive(&mut self, slot: u32) {
        self.hit(slot);
    }

    /// Chooses the next block to leave, among the slots for which
    /// `evictable` holds (the others are pinned by readers and stay: the
    /// provided policies count a pinned block met at the eviction end as
    /// just used and move it to the back of its queue), and forgets it.
    /// `None` when every block is pinned (or none is resident).
    fn evict(&mut self, evictable: &mut dyn FnMut(u32) -> bool) -> Option<u32>;

    /// `slot` left tier 0 by other means (the caller removed it).
    fn remove(&mut self, slot: u32);
}

#[cfg(test)]
pub(super) mod tests {
    //! What the policies' tests share: helpers and a randomized check
    //! against a plain reference model of each policy.

    use super::Eviction;
    use crate::rng::SplitMix64;

    /// The `slots` hint the randomized check gives the policies.
    pub(crate) const SLOTS_HINT: usize = 8;

    /// Nothing is pinned.
    pub(crate) fn every(_: u32) -> bool {
        true
    }

    /// Evicts until the policy has nothing left (or all is pinned),
    /// returning the slots in eviction order.
    pub(crate) fn drain<P: Eviction>(
        policy: &mut P,
        evictable: &mut dyn FnMut(u32) -> bool,
    ) -> Vec<u32> {
        core::iter::from_fn(|| policy.evict(evictable)).collect()
    }

    /// A policy written plainly (vectors, linear scans) for reference.
    pub(crate) trait Model: Default {
        fn insert(&mut self, slot: u32, hash: u64, bytes: usize);
        fn hit(&mut self, slot: u32);
        fn evict(&mut self, evictable: &dyn Fn(u32) -> bool) -> Option<u32>;
        fn remove(&mut self, slot: u32);
    }

    /// Runs a random sequence of inserts (slots reused, hashes recurring),
    /// hits, removals and evictions with random pinned sets through `P`
    /// and its model `M`, and checks that they evict the same slots, that
    /// no pinned or absent slot is ever evicted, and that both drain
    /// alike.
    pub(crate) fn check_against_model<P: Eviction, M: Model>(seed: u64) {
        const SLOTS: u32 = 24;
        let mut rng = SplitMix64::new(seed);
        let mut policy = P::new(SLOTS as usize * 4, SLOTS_HINT);
        let mut model = M::default();
        let mut resident = vec![false; SLOTS as usize];
        for _ in 0..20_000 {
            let slot = rng.below(u64::from(SLOTS)) as u32;
            let is_resident = resident[slot as usize];
            match rng.below(8) {
                0 | 1 if !is_resident => {
                    let (hash, bytes) = (rng.below(40), 1 + rng.below(4) as usize);
                    policy.insert(slot, hash, bytes);
                    model.insert(slot, hash, bytes);
                    resident[slot as usize] = true;
                }
                2..=4 if is_resident => {
                    if P::EXCLUSIVE_HIT {
                        policy.hit_exclusive(slot);
                    } else {
                        policy.hit(slot);
                    }
                    model.hit(slot);
                }
                5 => {
                    policy.remove(slot);
                    model.remove(slot);
                    resident[slot as usize] = false;
                }
                6 | 7 => {
                    let pin_percent = [0, 25, 100][rng.below(3) as usize];
                    let pinned: Vec<bool> =
                        (0..SLOTS).map(|_| rng.below(100) < pin_percent).collect();
                    let evictable = |s: u32| !pinned[s as usize];
                    let got = policy.evict(&mut |s| evictable(s));
                    assert_eq!(got, model.evict(&evictable));
                    if let Some(s) = got {
                        assert!(resident[s as usize] && !pinned[s as usize], "evicted {s}");
                        resident[s as usize] = false;
                    } else {
                        let free = (0..SLOTS).any(|s| resident[s as usize] && evictable(s));
                        assert!(!free, "None while an unpinned slot is resident");
                    }
                }
                _ => {}
            }
        }
        let left = drain(&mut policy, &mut every);
        let expected: Vec<u32> = core::iter::from_fn(|| model.evict(&|_| true)).collect();
        assert_eq!(left, expected);
        let mut left = left;
        left.sort_unstable();
        let still: Vec<u32> = (0..SLOTS).filter(|&s| resident[s as usize]).collect();
        assert_eq!(left, still);
    }

    /// The model of a queue's second-chance sweep ([`super::list`]).
    pub(crate) fn model_sweep(
        queue: &mut std::collections::VecDeque<u32>,
        evictable: &dyn Fn(u32) -> bool,
        mut second_chance: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut pinned_in_a_row = 0;
        while let Some(&slot) = queue.front() {
            if pinned_in_a_row >= queue.len() {
                return None;
            }
            queue.rotate_left(1);
            if !evictable(slot) {
                pinned_in_a_row += 1;
            } else if !second_chance(slot) {
                queue.pop_back();
                return Some(slot);
            } else {
                pinned_in_a_row = 0;
            }
        }
        None
    }
}
