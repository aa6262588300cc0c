//! One shard of a [`BlockCache`](super::BlockCache)'s index: the blocks
//! whose key hashes to it, in slots, with the tier-0 policy's order and the
//! tier-1 queue.
//!
//! A shard knows nothing of budgets, the codec or the spill file: it keeps
//! the table from key to slot, each slot's state and stamp, and counts its
//! blocks per tier. The cache moves blocks between tiers through it.
//!
//! **The hit path** is what shapes the layout. The table is a `hashbrown`
//! [`HashTable`] probed with the hash the cache already computed to pick
//! the shard (a key is hashed once), and a tier-0 block's handle lives in
//! the key's table item, not in its slot: a hit goes table -> handle ->
//! bytes, with no hop through the slot array. Slots keep the rest (key,
//! hash, stamp, the state of blocks in other tiers); the slow paths that
//! start from a slot (the policy's eviction, stamps) find its item by the
//! slot's stored hash.

use core::hash::{Hash, Hasher};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use hashbrown::HashTable;

use super::spill::SpillLoc;
use super::{BlockRef, Eviction};

/// A multiply-rotate hasher (the rustc `FxHasher` scheme): keys are small
/// (block numbers, pairs of ids) and hashed on every lookup, so a one
/// multiply per word hash beats SipHash by an order of magnitude. Not
/// resistant to chosen keys: the keys are the cache user's own blocks.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

/// The multiplier of [`FxHasher`] (from rustc-hash 2).
const FX_SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(tail) ^ bytes.len() as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits poorly mixed; the rotation moves
        // the best-mixed high bits down to where hash tables index.
        self.hash.rotate_left(26)
    }
}

/// The hash of `key` that picks its shard and its policy's ghost entry.
pub(crate) fn hash_key<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.finish()
}

/// Where a slot's block is. Passed and returned by value with the tier-0
/// handle (`B = BlockRef`); stored in the slot without it (`B = ()`), the
/// handle being in the key's table item (see the [module docs](self)).
#[derive(Debug)]
pub(crate) enum State<B = BlockRef> {
    /// An unused slot (on the free list).
    Free,
    /// Tier 0: decoded; the shard's reference is one of the `Arc`'s counts.
    Resident(B),
    /// Tier 1: encoded, in RAM. Readers clone the `Arc` under the shared
    /// lock and decode outside it.
    Compressed(Arc<[u8]>),
    /// Tier 2: in the spill file, under spill id `id`.
    Spilled {
        /// Where.
        loc: SpillLoc,
        /// The id it was written under.
        id: u64,
    },
    /// Between tiers, held by the thread moving it (encoding it, writing it
    /// to the spill file). Readers see a miss; whoever installs a new copy
    /// meanwhile wins, and the mover, finding the stamp changed, drops its
    /// copy.
    Moving,
}

impl<B> State<B> {
    /// The tier the state counts in (`None`: free or moving).
    fn tier(&self) -> Option<usize> {
        match self {
            State::Resident(_) => Some(0),
            State::Compressed(_) => Some(1),
            State::Spilled { .. } => Some(2),
            State::Free | State::Moving => None,
        }
    }
}

impl State {
    /// The state as a slot stores it, and the tier-0 handle if any.
    fn split(self) -> (State<()>, Option<BlockRef>) {
        match self {
            State::Resident(block) => (State::Resident(()), Some(block)),
            State::Free => (State::Free, None),
            State::Compressed(encoded) => (State::Compressed(encoded), None),
            State::Spilled { loc, id } => (State::Spilled { loc, id }, None),
            State::Moving => (State::Moving, None),
        }
    }
}

impl State<()> {
    /// The state a slot stored, with the handle its item held put back.
    fn join(self, block: Option<BlockRef>) -> State {
        match (self, block) {
            (State::Resident(()), Some(block)) => State::Resident(block),
            // (Unreachable: an item holds a handle exactly while its slot
            // is resident; `check` tests it.)
            (State::Resident(()), None) => State::Moving,
            (State::Free, _) => State::Free,
            (State::Compressed(encoded), _) => State::Compressed(encoded),
            (State::Spilled { loc, id }, _) => State::Spilled { loc, id },
            (State::Moving, _) => State::Moving,
        }
    }
}

/// Whether `block` is held by anyone but the shard. Race-free under the
/// shard's exclusive lock: a count of one means no reader holds it, and a
/// reader gets a first reference only under a shard lock (a reader that
/// holds one may clone it or drop it at any time, but the count then stays
/// above one, or falls: the check errs only towards keeping a block).
pub(crate) fn pinned(block: &BlockRef) -> bool {
    Arc::strong_count(&block.inner) > 1
}

/// A shard's tier-0 bytes, shared by its lock's inside (which writes it)
/// and outside (which reads it); on lines of its own, so that shards
/// changing theirs do not share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct ResidentBytes(AtomicUsize);

/// Bytes a tier-0 block is counted for (its storage).
pub(crate) fn block_bytes(block: &BlockRef) -> usize {
    block.inner.buf.capacity_bytes()
}

/// A key's item in its shard's table.
#[derive(Debug)]
struct Item<K> {
    key: K,
    slot: u32,
    /// The tier-0 handle, while the slot is resident: here rather than in
    /// the slot, so that a hit reads it straight from the table.
    block: Option<BlockRef>,
}

/// The table of a shard: items probed by the key hash the cache computed.
type Table<K> = HashTable<Item<K>>;

/// The tier-0 block in `slot` (the eviction path finds a slot's item by
/// the slot's hash).
fn block_in<'a, K>(table: &'a Table<K>, entries: &[Entry<K>], slot: u32) -> Option<&'a BlockRef> {
    let entry = entries.get(slot as usize)?;
    item_of(table, entry.hash, slot)?.block.as_ref()
}

/// The item of `slot` (with key hash `hash`) in `table`.
fn item_of<K>(table: &Table<K>, hash: u64, slot: u32) -> Option<&Item<K>> {
    table.find(hash, |item| item.slot == slot)
}

/// One slot.
#[derive(Debug)]
pub(crate) struct Entry<K> {
    pub(crate) key: K,
    pub(crate) hash: u64,
    /// Changes with every change of `state` (unique within the shard): a
    /// thread that let go of the lock knows, on relocking, whether the
    /// slot is still as it left it.
    pub(crate) stamp: u64,
    /// The state; a resident block's handle is in the key's table item.
    pub(crate) state: State<()>,
}

/// What a shard's lock guards.
#[derive(Debug)]
pub(crate) struct ShardInner<K, P> {
    table: Table<K>,
    pub(crate) entries: Vec<Entry<K>>,
    free: Vec<u32>,
    /// The tier-0 eviction policy over this shard's resident slots.
    pub(crate) policy: P,
    /// Tier-1 slots oldest first, with the stamp they entered with; an item
    /// whose slot's stamp changed since is stale and skipped.
    tier1: VecDeque<(u32, u64)>,
    next_stamp: u64,
    /// Blocks held per tier.
    held: [usize; 3],
    /// Bytes of the tier-0 blocks held ([`block_bytes`]): written under
    /// the exclusive lock, read without a lock by
    /// [`Shard::resident_bytes`].
    resident_bytes: Arc<ResidentBytes>,
    /// Spill ids being dropped (the recycled list's storage, reused).
    pub(crate) dropping: Vec<u64>,
}

impl<K: Copy + Eq + Hash, P> ShardInner<K, P> {
    fn new(policy: P, resident_bytes: Arc<ResidentBytes>) -> Self {
        ShardInner {
            table: Table::new(),
            entries: Vec::new(),
            free: Vec::new(),
            policy,
            tier1: VecDeque::new(),
            next_stamp: 0,
            held: [0; 3],
            resident_bytes,
            dropping: Vec::new(),
        }
    }

    /// The slot of `key` (whose hash is `hash`).
    pub(crate) fn slot(&self, hash: u64, key: &K) -> Option<u32> {
        self.table
            .find(hash, |item| item.key == *key)
            .map(|item| item.slot)
    }

    /// `key`'s slot and tier-0 block, if tier 0 holds it: the hit path's
    /// one probe.
    #[inline]
    pub(crate) fn resident(&self, hash: u64, key: &K) -> Option<(u32, &BlockRef)> {
        let item = self.table.find(hash, |item| item.key == *key)?;
        Some((item.slot, item.block.as_ref()?))
    }

    /// The tier-0 blocks.
    pub(crate) fn resident_blocks(&self) -> impl Iterator<Item = &BlockRef> {
        self.table.iter().filter_map(|item| item.block.as_ref())
    }

    /// The tier-0 block in `slot`, if it holds one.
    pub(crate) fn block_at(&self, slot: u32) -> Option<&BlockRef> {
        block_in(&self.table, &self.entries, slot)
    }

    /// The entry in `slot`.
    pub(crate) fn entry(&self, slot: u32) -> &Entry<K> {
        &self.entries[slot as usize]
    }

    /// Whether `slot` still has stamp `stamp`.
    pub(crate) fn unchanged(&self, slot: u32, stamp: u64) -> bool {
        self.entries
            .get(slot as usize)
            .is_some_and(|e| e.stamp == stamp)
    }

    /// Blocks held in each tier.
    pub(crate) fn held(&self) -> [usize; 3] {
        self.held
    }

    /// Gives `slot` a new state (and a new stamp); returns the old state.
    /// The slot's key must be in the table unless both states are free.
    pub(crate) fn set(&mut self, slot: u32, state: State) -> State {
        self.next_stamp += 1;
        let stamp = self.next_stamp;
        if let Some(t) = state.tier() {
            self.held[t] += 1;
        }
        let entry = &mut self.entries[slot as usize];
        entry.stamp = stamp;
        if matches!(state, State::Compressed(_)) {
            self.tier1.push_back((slot, stamp));
        }
        let (state, block) = state.split();
        let added = block.as_ref().map_or(0, block_bytes);
        let old = core::mem::replace(&mut entry.state, state);
        let old_block = if block.is_some() || matches!(old, State::Resident(())) {
            let hash = entry.hash;
            self.table
                .find_mut(hash, |item| item.slot == slot)
                .and_then(|item| core::mem::replace(&mut item.block, block))
        } else {
            None
        };
        if let Some(t) = old.tier() {
            self.held[t] -= 1;
        }
        let removed = old_block.as_ref().map_or(0, block_bytes);
        if added != removed {
            // (Written only under the exclusive lock: no update is lost.)
            let now = self.resident_bytes.0.load(Relaxed) + added - removed;
            self.resident_bytes.0.store(now, Relaxed);
        }
        self.compact_tier1();
        old.join(old_block)
    }

    /// Adds `key` in state `state`; returns its slot.
    pub(crate) fn add(&mut self, key: K, hash: u64, state: State) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                let e = &mut self.entries[slot as usize];
                e.key = key;
                e.hash = hash;
                slot
            }
            None => {
                let slot =
                    u32::try_from(self.entries.len()).expect("fewer than 2^32 blocks per shard");
                self.entries.push(Entry {
                    key,
                    hash,
                    stamp: 0,
                    state: State::Free,
                });
                slot
            }
        };
        let entries = &self.entries;
        let item = Item {
            key,
            slot,
            block: None,
        };
        self.table
            .insert_unique(hash, item, |item| entries[item.slot as usize].hash);
        self.set(slot, state);
        slot
    }

    /// Removes `slot`'s block from the shard; returns its state.
    pub(crate) fn remove(&mut self, slot: u32) -> State {
        let old = self.set(slot, State::Free);
        let hash = self.entries[slot as usize].hash;
        if let Ok(item) = self.table.find_entry(hash, |item| item.slot == slot) {
            item.remove();
        }
        self.free.push(slot);
        old
    }

    /// The oldest tier-1 block: its slot and stamp, taken off the queue.
    pub(crate) fn pop_tier1(&mut self) -> Option<(u32, u64)> {
        while let Some((slot, stamp)) = self.tier1.pop_front() {
            if self.unchanged(slot, stamp) {
                return Some((slot, stamp));
            }
        }
        None
    }

    /// Checks the index: every key's slot holds the key, every other slot
    /// is free, an item holds a block exactly while its slot is resident,
    /// and the per-tier counts match the slots and the resident blocks.
    #[cfg(all(test, not(crossbeam_loom)))]
    pub(crate) fn check(&self) {
        let mut held = [0; 3];
        let mut used = 0;
        for (slot, entry) in self.entries.iter().enumerate() {
            if matches!(entry.state, State::Free) {
                assert!(
                    self.free.contains(&(slot as u32)),
                    "a free slot off the free list"
                );
                continue;
            }
            used += 1;
            assert_eq!(
                self.slot(entry.hash, &entry.key),
                Some(slot as u32),
                "a slot its key does not name"
            );
            let item = item_of(&self.table, entry.hash, slot as u32).expect("an item per slot");
            assert_eq!(
                item.block.is_some(),
                matches!(entry.state, State::Resident(())),
                "a handle outside tier 0, or a resident slot without one"
            );
            if let Some(t) = entry.state.tier() {
                held[t] += 1;
            }
        }
        assert_eq!(used, self.table.len(), "two slots for one key");
        assert_eq!(used + self.free.len(), self.entries.len());
        assert_eq!(held, self.held);
        let bytes: usize = self.resident_blocks().map(block_bytes).sum();
        assert_eq!(bytes, self.resident_bytes.0.load(Relaxed));
    }

    /// Chooses an unpinned tier-0 block to leave (the policy's choice) and
    /// takes it out of the policy; the caller moves it out of tier 0.
    pub(crate) fn choose_victim(&mut self) -> Option<u32>
    where
        P: Eviction,
    {
        let (table, entries) = (&self.table, &self.entries);
        let evictable =
            |slot: u32| block_in(table, entries, slot).is_some_and(|block| !pinned(block));
        let slot = self.policy.evict(&mut |slot| evictable(slot))?;
        // (A policy's slip, choosing a slot it was told to keep, evicts
        // nothing.)
        evictable(slot).then_some(slot)
    }

    /// Drops stale queue items once they outnumber the live ones (blocks
    /// promoted out of tier 1 leave theirs behind).
    fn compact_tier1(&mut self) {
        if self.tier1.len() > 64 && self.tier1.len() > 2 * self.held[1] {
            let entries = &self.entries;
            self.tier1
                .retain(|&(slot, stamp)| entries[slot as usize].stamp == stamp);
        }
    }
}

/// Counters of one shard: relaxed atomics, so that hits count under the
/// shared lock and every thread counts in its key's shard (no global
/// counter line bouncing between cores).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: [AtomicU64; 3],
    pub(crate) evictions: [AtomicU64; 3],
    pub(crate) misses: AtomicU64,
    pub(crate) source_bytes: AtomicU64,
    pub(crate) promotions: AtomicU64,
    pub(crate) checksum_failures: AtomicU64,
    pub(crate) pinned_refusals: AtomicU64,
    /// Per kind (as [`BlockKind::ALL`](super::BlockKind::ALL)): blocks,
    /// raw bytes, encoded bytes.
    pub(crate) compression: [[AtomicU64; 3]; 5],
}

/// A shard: its lock, its counters and the spill ids to drop. Aligned to
/// two cache lines, so that threads working in neighbouring shards do not
/// share a line.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shard<K, P> {
    inner: RwLock<ShardInner<K, P>>,
    /// The inner [`resident_bytes`](ShardInner::resident_bytes).
    resident_bytes: Arc<ResidentBytes>,
    pub(crate) counters: Counters,
    /// Ids of this shard's spilled blocks whose segment was recycled (by
    /// any thread's spill write): dropped the next time the shard is
    /// locked exclusively. A leaf lock: taken with no other lock held, or
    /// with only this shard's.
    recycled: Mutex<Vec<u64>>,
    /// Set after an id is pushed to `recycled`: a writer takes the list's
    /// lock only when it is set (a write lock is every hit's with
    /// [`Lru`](super::Lru)).
    has_recycled: AtomicBool,
}

impl<K: Copy + Eq + Hash, P> Shard<K, P> {
    pub(crate) fn new(policy: P) -> Self {
        let resident_bytes = Arc::new(ResidentBytes::default());
        Shard {
            inner: RwLock::new(ShardInner::new(policy, resident_bytes.clone())),
            resident_bytes,
            counters: Counters::default(),
            recycled: Mutex::new(Vec::new()),
            has_recycled: AtomicBool::new(false),
        }
    }

    /// The shared lock. A panic under the lock (a policy's bug) leaves
    /// the index consistent up to the accounting of one block, so poison
    /// is ignored rather than spread to every reader.
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, ShardInner<K, P>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The exclusive lock, with the recycled spill ids dropped first.
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, ShardInner<K, P>> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        // (An id pushed while this runs is dropped by the next writer.)
        if !(self.has_recycled.load(Relaxed) && self.has_recycled.swap(false, Acquire)) {
            return inner;
        }
        let mut ids = core::mem::take(&mut inner.dropping);
        core::mem::swap(&mut ids, &mut *self.recycled());
        for &id in &ids {
            let slot = spill_slot(id);
            let spilled = inner
                .entries
                .get(slot as usize)
                .is_some_and(|e| matches!(e.state, State::Spilled { id: held, .. } if held == id));
            if spilled {
                inner.remove(slot);
                self.counters.evictions[2].fetch_add(1, Relaxed);
            }
        }
        ids.clear();
        inner.dropping = ids;
        inner
    }

    /// Bytes of the tier-0 blocks the shard holds (without its lock: as of
    /// its last change).
    pub(crate) fn resident_bytes(&self) -> usize {
        self.resident_bytes.0.load(Relaxed)
    }

    /// Adds `id` to the recycled list.
    pub(crate) fn push_recycled(&self, id: u64) {
        self.recycled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
        self.has_recycled.store(true, Release);
    }

    /// The recycled list.
    fn recycled(&self) -> MutexGuard<'_, Vec<u64>> {
        self.recycled.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The shard to evict from to make room for `bytes` more in shard `si`:
/// the one holding the most tier-0 bytes, counting the new bytes in `si`'s
/// (ties go to `si`).
///
/// Tier 0's budget is global, so shards have no byte capacity of their
/// own: a shard grows by its misses and shrinks by the evictions made
/// from it. Evicting from the loading shard itself keeps each shard's
/// bytes as they were only while blocks are of one size; with blocks of
/// mixed sizes an eviction frees more or less than the load needs, the
/// difference goes to whichever shard loads next, and the shards' bytes
/// wander apart without bound: a random walk with no pull back (blocks of
/// 1 to 64 KiB in 17.7 MiB over 8 shards held from 42 KiB to 9.5 MiB a
/// shard after 1 M Zipf requests, and the hit ratio fell from the
/// one-shard 60.5% to 50%: the keys of a small shard are cached as by a
/// small cache). Evicting from the fullest shard pulls every shard back
/// toward an even share, the share the key hash gives each one of the
/// requests.
pub(crate) fn fullest<K: Copy + Eq + Hash, P>(
    shards: &[Shard<K, P>],
    si: usize,
    bytes: usize,
) -> usize {
    let mut fullest = (si, shards[si].resident_bytes() + bytes);
    for (i, shard) in shards.iter().enumerate() {
        let held = shard.resident_bytes();
        if held > fullest.1 {
            fullest = (i, held);
        }
    }
    fullest.0
}

/// Bits of a spill id below the shard's index.
const SPILL_SHARD_SHIFT: u32 = 48;

/// The most shards a cache has (the shard index must fit a spill id).
pub(crate) const MAX_SHARDS: usize = 1 << (64 - SPILL_SHARD_SHIFT);

/// The spill id of `slot` of shard `shard` with stamp `stamp`: the shard
/// and slot to find it by when its segment is recycled, and 16 bits of the
/// stamp so that a reused slot rarely matches an old id (a false match
/// only drops a block early; a read of a recycled block is `Stale`).
pub(crate) fn spill_id(shard: usize, slot: u32, stamp: u64) -> u64 {
    ((shard as u64) << SPILL_SHARD_SHIFT) | ((stamp & 0xffff) << 32) | u64::from(slot)
}

/// The shard of a spill id.
pub(crate) fn spill_shard(id: u64) -> usize {
    (id >> SPILL_SHARD_SHIFT) as usize
}

/// The slot of a spill id.
fn spill_slot(id: u64) -> u32 {
    id as u32
}
