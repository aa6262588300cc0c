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
    /// `evictable` holds (the others are pinned by readers and stay where
    /// they are in the policy's order), and forgets it. `None` when every
    /// block is pinned (or none is resident).
    fn evict(&mut self, evictable: &mut dyn FnMut(u32) -> bool) -> Option<u32>;

    /// `slot` left tier 0 by other means (the caller removed it).
    fn remove(&mut self, slot: u32);
}
