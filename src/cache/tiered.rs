//! [`BlockCache`]: the sharded index over the three tiers.
//!
//! The index is split into shards by key hash, each behind its own
//! `RwLock`, so that readers rarely meet; the tier
//! budgets are global lock-free counters ([`Budget`]), so that one small
//! budget serves every shard and holds at every instant. No thread ever
//! holds two shard locks: a load reserves its bytes (evicting from any
//! shard, one lock at a time) before it locks its own shard to install the
//! block, and every slow step (reading the source or the spill file,
//! decoding, encoding, writing the spill file) runs with no lock held, the
//! block's slot marked [`State::Moving`] or its stamp remembered, so that
//! a thread that relocks knows whether another one got there first.
//!
//! **Accounting.** Tier 0 counts each decoded block's allocation
//! ([`BlockBuf::capacity_bytes`]) from the moment it is reserved until the
//! cache lets go of it (an evicted block is released after it is encoded
//! and freed, or once the load that took its buffer over lets go of it),
//! and memory its owner holds beside it (`reserve_outside`). A block whose
//! length the source does not give ([`BlockSource::len`]) is read before
//! it is reserved, so loads in flight may add up to one block per
//! concurrent reader beside the budget; a block invalidated or replaced while a reader holds it is
//! the reader's, no longer the cache's. Tier 1 counts encoded bytes; a
//! reader decoding one holds a reference to it briefly after it leaves.

use std::sync::Arc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU64, AtomicUsize};

use super::block::Decoded;
use super::budget::Budget;
use super::codec::MAX_BLOCK_LEN;
use super::codec::decoded_len;
use super::counter::Counter;
use super::shard::{self, Counters, MAX_SHARDS, Shard, ShardInner, State, block_bytes, pinned};
use super::spill::{Spill, SpillLoc, SpillReadError};
use super::{
    BlockBuf, BlockKind, BlockRef, BlockSource, CacheConfig, CacheError, CacheStats, PrefetchStats,
};
use super::{Eviction, S3Fifo, decode_block, encode_block};

/// A cache of a [`BlockSource`]'s blocks in three tiers (see the
/// [module docs](super)), shared by every thread that reads through it
/// (`&self` methods; `Send + Sync`).
pub struct BlockCache<S: BlockSource, P: Eviction = S3Fifo> {
    source: S,
    config: CacheConfig,
    shards: Box<[Shard<S::Key, P>]>,
    /// Bytes of decoded blocks (tier 0) and encoded ones (tier 1).
    tiers: [Budget; 2],
    spill: Option<Spill>,
    /// Tier-0 hits: per-thread cells, so that a hit takes no locked
    /// instruction of its own.
    hits: Counter,
    /// Prefetches that loaded a block; of those, blocks a reader then got,
    /// and blocks evicted unread.
    prefetch: [AtomicU64; 3],
    /// Bytes of tier 0's budget set aside for memory held beside the cache
    /// ([`reserve_outside`](Self::reserve_outside)).
    outside: AtomicUsize,
}

/// The smallest tier 0 whose cache gives its freed memory back to the
/// system when dropped (see `Drop`).
#[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
const TRIM_AT: usize = 64 << 20;

static_assertions::assert_impl_all!(BlockCache<NoSource, S3Fifo>: Send, Sync);

/// A source that is never read: the `Send + Sync` assertion's.
struct NoSource;

impl BlockSource for NoSource {
    type Key = u64;
    fn read(&self, _: u64, _: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        Err(CacheError::Corrupt {
            reason: "no source",
        })
    }
}

impl<S: BlockSource, P: Eviction> core::fmt::Debug for BlockCache<S, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockCache")
            .field("config", &self.config)
            .field("shards", &self.shards.len())
            .field("memory_used", &self.tiers[0].used())
            .field("compressed_used", &self.tiers[1].used())
            .finish_non_exhaustive()
    }
}

/// What a [`BlockCache`] holds, summed block by block (see
/// [`BlockCache::audit`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Residency {
    /// Bytes held in each tier (as [`TierStats::bytes`](super::TierStats::bytes),
    /// except tier 2: the bytes of the spilled blocks the index points
    /// to, not of whole segments). Tier 0's include the few buffers of
    /// evicted blocks kept for the next loads.
    pub bytes: [u64; 3],
    /// Blocks held in each tier.
    pub blocks: [u64; 3],
    /// Bytes of tier-0 blocks pinned by readers now.
    pub pinned_bytes: u64,
}

/// What a shard held for a key when a load looked, before letting go of the
/// lock.
enum Found {
    /// Nothing (or a block between tiers): read the source.
    Nothing,
    /// Tier 1's encoding.
    Encoded(Arc<[u8]>),
    /// Tier 2's record.
    Spilled { loc: SpillLoc, id: u64 },
}

impl<S: BlockSource, P: Eviction> Drop for BlockCache<S, P> {
    /// Frees the blocks, then, with glibc, gives the freed memory back to
    /// the system: glibc keeps freed memory in each thread's heap, so a
    /// cache whose blocks a prefetcher thread partly allocated would
    /// otherwise leave the process that much larger for the next cache (an
    /// out-of-core graph reopened at the same budget peaked 16% above it).
    fn drop(&mut self) {
        drop(core::mem::take(&mut self.shards));
        // Only where it matters: a walk of every heap is not free.
        #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
        if self.tiers[0].limit() >= TRIM_AT {
            // SAFETY: `malloc_trim` has no preconditions; glibc's allocator
            // is thread-safe, and it only returns free memory to the system.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
}

/// What [`BlockCache::evict`] did.
enum Evicted {
    /// Nothing: every block of the shard is pinned, or it holds none.
    Nothing,
    /// A block left; its bytes were released.
    Released,
    /// A block left; here is its buffer, its bytes still reserved.
    Buffer(BlockBuf),
}

/// Where a loaded block came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Tier 1 or 2: installing it is a promotion.
    Tier,
    /// The source.
    Source,
}

/// A slot and the stamp a load saw it with.
type Seen = Option<(u32, u64)>;

/// Adds one to a counter.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

impl<S: BlockSource, P: Eviction> BlockCache<S, P> {
    /// A cache of `source`'s blocks within `config`'s budgets.
    pub fn new(source: S, config: CacheConfig) -> Result<Self, CacheError> {
        config.validate()?;
        let count = Self::shard_count(&config);
        let share = config.memory / count;
        let shards = (0..count)
            .map(|_| Shard::new(P::new(share, (share / 4096).max(16))))
            .collect();
        let spill = config.spill.as_ref().map(Spill::open).transpose()?;
        Ok(BlockCache {
            tiers: [Budget::new(config.memory), Budget::new(config.compressed)],
            source,
            config,
            shards,
            spill,
            hits: Counter::default(),
            prefetch: Default::default(),
            outside: AtomicUsize::new(0),
        })
    }

    /// `config.shards`, or four per core; at most one per 64 KiB of tier 0
    /// when chosen (a shard with room for a block or two would only spread
    /// the policy's view thin).
    fn shard_count(config: &CacheConfig) -> usize {
        let count = if config.shards != 0 {
            config.shards
        } else {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let by_budget = (config.memory >> 16).max(1);
            let by_budget = 1 << by_budget.ilog2();
            (4 * cores).next_power_of_two().min(by_budget)
        };
        count.min(MAX_SHARDS)
    }

    /// The shard of a key hash: bits above those the shard's hash map
    /// indexes by, below those it tags by.
    fn shard_of(&self, hash: u64) -> usize {
        (hash >> 40) as usize & (self.shards.len() - 1)
    }

    /// Block `key`, pinned while the returned [`BlockRef`] lives: from tier
    /// 0 (a hit allocates nothing and takes one shard's shared lock), else
    /// promoted from tier 1 or 2, else read from the source.
    #[inline(always)]
    pub fn get(&self, key: S::Key) -> Result<BlockRef, CacheError> {
        let hash = shard::hash_key(&key);
        let si = self.shard_of(hash);
        match self.hit(si, hash, &key) {
            Some(block) => {
                self.first_read(&block);
                Ok(block)
            }
            None => self.get_missed(key, hash, si),
        }
    }

    /// [`get`](Self::get) after a miss in tier 0: out of line, so that the
    /// hit path inlines into its callers whole.
    #[cold]
    #[inline(never)]
    fn get_missed(&self, key: S::Key, hash: u64, si: usize) -> Result<BlockRef, CacheError> {
        let block = self.load(key, hash, si)?;
        self.first_read(&block);
        Ok(block)
    }

    /// Loads block `key` into tier 0 ahead of a reader (from tier 1, tier
    /// 2 or the source, as [`get`](Self::get) would), unless tier 0 holds
    /// it. Returns whether it loaded it. A prefetched block counts in
    /// [`CacheStats::prefetch`](super::CacheStats::prefetch): used when a
    /// reader gets it, wasted if it is evicted first. (Its source read
    /// counts as a miss, as any read of the source.)
    pub fn prefetch(&self, key: S::Key) -> Result<bool, CacheError> {
        let hash = shard::hash_key(&key);
        let si = self.shard_of(hash);
        if self.is_resident(si, hash, &key) {
            return Ok(false);
        }
        let block = self.load(key, hash, si)?;
        // Issued is counted before the flag is raised (a release, which a
        // use or an eviction that finds the flag acquires), so a report
        // never has more used or wasted than issued. (A reader that got
        // the block between the install and here is not counted as a use:
        // the figures are exact without races.)
        bump(&self.prefetch[0]);
        block.inner.prefetched.store(true, Release);
        // A prefetched block is expected to be read: it enters with one use
        // in its policy (S3-FIFO then keeps it past the small queue, CLOCK
        // gives it a second chance), or the blocks the readers load while
        // it waits would push it out first.
        self.touch(si, hash, &key);
        Ok(true)
    }

    /// Reports a use of `key` to the policy, if tier 0 holds it (no hit
    /// counted).
    fn touch(&self, si: usize, hash: u64, key: &S::Key) {
        let shard = &self.shards[si];
        if P::EXCLUSIVE_HIT {
            let mut inner = shard.write();
            if let Some((slot, _)) = inner.resident(hash, key) {
                inner.policy.hit_exclusive(slot);
            }
        } else {
            let inner = shard.read();
            if let Some((slot, _)) = inner.resident(hash, key) {
                inner.policy.hit(slot);
            }
        }
    }

    /// Whether tier 0 holds `key` (no hit counted).
    fn is_resident(&self, si: usize, hash: u64, key: &S::Key) -> bool {
        self.shards[si].read().resident(hash, key).is_some()
    }

    /// Counts a reader's first get of a prefetched block.
    #[inline]
    fn first_read(&self, block: &BlockRef) {
        // A load first: a hit on a block read before writes nothing.
        if block.inner.prefetched.load(Relaxed) {
            self.count_prefetch_used(block);
        }
    }

    /// Counts a prefetched block's use, unless another reader just did.
    #[cold]
    fn count_prefetch_used(&self, block: &BlockRef) {
        if block.inner.prefetched.swap(false, Acquire) {
            self.prefetch[1].fetch_add(1, Release);
        }
    }

    /// Block `key` if tier 0 holds it (counted as a hit), without loading.
    #[inline]
    pub fn get_resident(&self, key: S::Key) -> Option<BlockRef> {
        let hash = shard::hash_key(&key);
        let block = self.hit(self.shard_of(hash), hash, &key)?;
        self.first_read(&block);
        Some(block)
    }

    /// The tier-0 hit path: one shard lock (shared unless the policy needs
    /// it exclusive), one table probe, the policy's hit, a reference count.
    /// Always inlined: a call's register saves are a tenth of a hit.
    #[inline(always)]
    fn hit(&self, si: usize, hash: u64, key: &S::Key) -> Option<BlockRef> {
        let shard = &self.shards[si];
        let block = if P::EXCLUSIVE_HIT {
            let mut inner = shard.write();
            let (slot, block) = inner.resident(hash, key)?;
            let block = block.clone();
            inner.policy.hit_exclusive(slot);
            block
        } else {
            let inner = shard.read();
            let (slot, block) = inner.resident(hash, key)?;
            inner.policy.hit(slot);
            block.clone()
        };
        self.hits.bump();
        let Decoded {
            reused, prefetched, ..
        } = &*block.inner;
        // (A prefetched block's first read is not a reuse.)
        if !reused.load(Relaxed) && !prefetched.load(Relaxed) {
            reused.store(true, Relaxed);
        }
        Some(block)
    }

    /// A miss in tier 0: the block from tier 1, tier 2 or the source,
    /// installed in tier 0 unless another thread installed it first (then
    /// theirs is returned: never two copies of one key).
    fn load(&self, key: S::Key, hash: u64, si: usize) -> Result<BlockRef, CacheError> {
        loop {
            let look = {
                let inner = self.shards[si].read();
                inner.slot(hash, &key).map(|slot| {
                    let entry = inner.entry(slot);
                    let found = match &entry.state {
                        State::Resident(_) => None,
                        State::Compressed(encoded) => Some(Found::Encoded(Arc::clone(encoded))),
                        State::Spilled { loc, id } => Some(Found::Spilled { loc: *loc, id: *id }),
                        State::Moving | State::Free => Some(Found::Nothing),
                    };
                    (slot, entry.stamp, found)
                })
            };
            let (found, seen) = match look {
                None => (Found::Nothing, None),
                Some((slot, stamp, Some(found))) => (found, Some((slot, stamp))),
                // Installed since the hit path looked.
                Some((_, _, None)) => match self.hit(si, hash, &key) {
                    Some(block) => return Ok(block),
                    None => continue,
                },
            };
            let (kind, buf, origin, seen) = self.fetch(key, si, found, seen)?;
            if let Some((block, ours)) = self.install(key, hash, si, kind, buf, seen) {
                if ours && origin == Origin::Tier {
                    bump(&self.shards[si].counters.promotions);
                    block.inner.reused.store(true, Relaxed);
                }
                return Ok(block);
            }
            // The slot changed while this thread read: a newer copy (an
            // insert, an invalidation) may exist; look again.
        }
    }

    /// The decoded block `found` names (or the source's), with its tier-0
    /// bytes reserved. Runs with no lock held; `seen` is forgotten
    /// (`None`) when the slot is dropped for a stale or corrupt copy.
    fn fetch(
        &self,
        key: S::Key,
        si: usize,
        found: Found,
        mut seen: Seen,
    ) -> Result<(BlockKind, BlockBuf, Origin, Seen), CacheError> {
        let counters = &self.shards[si].counters;
        let mut buf = BlockBuf::new();
        let mut encoded = Vec::new();
        let decoded = match found {
            Found::Nothing => None,
            Found::Encoded(bytes) => Some((self.decode(&bytes, si, &mut buf)?, 1)),
            Found::Spilled { loc, id } => {
                match self.spill.as_ref().map(|s| s.read(loc, id, &mut encoded)) {
                    Some(Ok(())) => Some((self.decode(&encoded, si, &mut buf)?, 2)),
                    Some(Err(SpillReadError::Io(e))) => return Err(e),
                    Some(Err(SpillReadError::Corrupt)) => {
                        bump(&counters.checksum_failures);
                        seen = self.drop_seen(si, seen);
                        None
                    }
                    Some(Err(SpillReadError::Stale)) | None => {
                        seen = self.drop_seen(si, seen);
                        None
                    }
                }
            }
        };
        match decoded {
            Some((Some(kind), tier)) => {
                bump(&counters.hits[tier]);
                return Ok((kind, buf, Origin::Tier, seen));
            }
            Some((None, _)) => {
                // An encoding that does not decode: as a failed checksum.
                bump(&counters.checksum_failures);
                seen = self.drop_seen(si, seen);
                buf = BlockBuf::new();
            }
            None => {}
        }
        let kind = self.read_source(key, si, &mut buf)?;
        Ok((kind, buf, Origin::Source, seen))
    }

    /// Decodes `encoded` into `buf` with its bytes reserved (in a buffer
    /// taken over from an evicted block where one fits): the kind, or
    /// `None`, nothing reserved, when it does not decode.
    fn decode(
        &self,
        encoded: &[u8],
        si: usize,
        buf: &mut BlockBuf,
    ) -> Result<Option<BlockKind>, CacheError> {
        let reserved = self.room_for(decoded_len(encoded).unwrap_or(0), si, buf)?;
        match decode_block(encoded, buf) {
            Ok(kind) => {
                self.settle(reserved, buf, si)?;
                Ok(Some(kind))
            }
            Err(_) => {
                self.free(buf, reserved);
                Ok(None)
            }
        }
    }

    /// Reads block `key` from the source into `buf` with its bytes reserved
    /// (before the read when the source says how long the block is, after
    /// it otherwise).
    fn read_source(
        &self,
        key: S::Key,
        si: usize,
        buf: &mut BlockBuf,
    ) -> Result<BlockKind, CacheError> {
        let reserved = self.room_for(self.source.len(key).unwrap_or(0), si, buf)?;
        let kind = match self.source.read(key, buf) {
            Ok(kind) => kind,
            Err(e) => {
                self.free(buf, reserved);
                return Err(e);
            }
        };
        self.settle(reserved, buf, si)?;
        let counters = &self.shards[si].counters;
        bump(&counters.misses);
        counters.source_bytes.fetch_add(buf.len() as u64, Relaxed);
        Ok(kind)
    }

    /// Reserves room for a block of `len` bytes about to be loaded into
    /// `buf`: tier-0 bytes, or the buffer of a block evicted to make room,
    /// taken over with its reservation when it fits (see
    /// [`make_room`](Self::make_room)). Returns the bytes reserved.
    fn room_for(&self, len: usize, si: usize, buf: &mut BlockBuf) -> Result<usize, CacheError> {
        let bytes = BlockBuf::storage_for(len);
        match self.make_room(bytes, Some(si), true)? {
            Some(recycled) => {
                *buf = recycled;
                // Its length and bytes were the evicted block's: a source
                // gets an empty buffer, as ever.
                buf.clear();
            }
            None => buf.reserve_storage(bytes),
        }
        Ok(buf.capacity_bytes().max(bytes))
    }

    /// Frees `buf`, then releases the `reserved` bytes it was loaded in.
    fn free(&self, buf: &mut BlockBuf, reserved: usize) {
        *buf = BlockBuf::new();
        self.tiers[0].release(reserved);
    }

    /// Matches the reservation (`reserved` bytes) to what the loaded `buf`
    /// holds: a buffer that outgrew it is shrunk to fit, then the
    /// difference is released or reserved (on failure, all of it released).
    fn settle(&self, reserved: usize, buf: &mut BlockBuf, si: usize) -> Result<(), CacheError> {
        if buf.capacity_bytes() > reserved {
            buf.shrink_to_fit();
        }
        let bytes = buf.capacity_bytes();
        if bytes <= reserved {
            self.tiers[0].release(reserved - bytes);
            return Ok(());
        }
        self.reserve(bytes - reserved, si)
            .inspect_err(|_| self.free(buf, reserved))
    }

    /// Removes the slot a load saw if it is still as seen (its copy was
    /// stale or corrupt); returns what the load should expect to find.
    fn drop_seen(&self, si: usize, seen: Seen) -> Seen {
        let (slot, stamp) = seen?;
        let mut inner = self.shards[si].write();
        if !inner.unchanged(slot, stamp) {
            return seen;
        }
        let old = inner.remove(slot);
        drop(inner);
        self.forget(old);
        None
    }

    /// Installs a loaded block (its bytes reserved) if the key's slot is as
    /// the load saw it. Returns the resident block and whether it is this
    /// one (else another thread's that got there first: this one's
    /// reservation is then released), or `None` when the slot changed
    /// otherwise.
    fn install(
        &self,
        key: S::Key,
        hash: u64,
        si: usize,
        kind: BlockKind,
        buf: BlockBuf,
        seen: Seen,
    ) -> Option<(BlockRef, bool)> {
        let bytes = buf.capacity_bytes();
        let mut inner = self.shards[si].write();
        if let Some((slot, theirs)) = inner.resident(hash, &key) {
            let theirs = theirs.clone();
            inner.policy.hit_exclusive(slot);
            drop((inner, buf));
            self.tiers[0].release(bytes);
            return Some((theirs, false));
        }
        let slot = inner.slot(hash, &key);
        let as_seen = match (slot, seen) {
            (None, None) => true,
            (Some(slot), Some((seen_slot, stamp))) => {
                slot == seen_slot && inner.unchanged(slot, stamp)
            }
            _ => false,
        };
        if !as_seen {
            drop((inner, buf));
            self.tiers[0].release(bytes);
            return None;
        }
        let block = BlockRef::new(kind, buf);
        let old = Self::put(&mut inner, key, hash, slot, block.clone());
        drop(inner);
        self.forget(old);
        Some((block, true))
    }

    /// Makes `block` key's tier-0 copy (in `slot`, or a new one); returns
    /// the state it replaced.
    fn put(
        inner: &mut ShardInner<S::Key, P>,
        key: S::Key,
        hash: u64,
        slot: Option<u32>,
        block: BlockRef,
    ) -> State {
        let bytes = block_bytes(&block);
        match slot {
            Some(slot) => {
                let old = inner.set(slot, State::Resident(block));
                if matches!(old, State::Resident(_)) {
                    inner.policy.remove(slot);
                }
                inner.policy.insert(slot, hash, bytes);
                old
            }
            None => {
                let slot = inner.add(key, hash, State::Resident(block));
                inner.policy.insert(slot, hash, bytes);
                State::Free
            }
        }
    }

    /// Releases the bytes of a state the cache let go of (a reader holding
    /// a block keeps it, outside the budget).
    fn forget(&self, old: State) {
        match old {
            State::Resident(block) => self.tiers[0].release(block_bytes(&block)),
            State::Compressed(encoded) => self.tiers[1].release(encoded.len()),
            State::Spilled { .. } | State::Moving | State::Free => {}
        }
    }

    /// Reserves `bytes` of tier 0 for shard `si`, evicting blocks (from
    /// the fullest shard, [`shard::fullest`]; from the others in turn when
    /// its blocks are pinned) until they fit. Refused with
    /// [`CacheError::Budget`] when the block is larger than the budget, or
    /// when a pass over every shard evicts nothing and the pinned blocks
    /// leave no room.
    fn reserve(&self, bytes: usize, si: usize) -> Result<(), CacheError> {
        self.make_room(bytes, Some(si), false).map(drop)
    }

    /// [`reserve`](Self::reserve), or, with `reuse`, the buffer of a block
    /// evicted on the way whose storage fits `bytes` (at least as large, at
    /// most a quarter larger), handed over with its reservation instead of
    /// being freed: once tier 0 is full, a load takes over the buffer of
    /// the block it pushes out where the sizes allow, and allocates nothing.
    /// Besides the allocator's work, this keeps the process near its budget
    /// when one thread frees blocks another allocated (a prefetcher): glibc
    /// keeps freed memory in the heap of the thread that allocated it.
    /// (Keeping the evicted buffers that do not fit, for later loads, was
    /// measured: it did not change the process's peak and cost hit ratio,
    /// their bytes being held.) `si` is the shard of the block the room is for (`None`: memory held
    /// beside the cache, counted in no shard).
    fn make_room(
        &self,
        bytes: usize,
        si: Option<usize>,
        reuse: bool,
    ) -> Result<Option<BlockBuf>, CacheError> {
        let (si, incoming) = si.map_or((0, 0), |si| (si, bytes));
        /// Yields to loads and evictions in flight (whose bytes become
        /// evictable or free without waiting on anyone) before refusing.
        const MAX_WAITS: u32 = 1000;
        let budget = &self.tiers[0];
        let refuse = |pinned| CacheError::Budget {
            needed: bytes,
            budget: budget.limit(),
            pinned,
        };
        let outside = self.outside.load(Relaxed);
        if bytes > budget.limit().saturating_sub(outside) {
            return Err(refuse(self.audit().pinned_bytes as usize + outside));
        }
        let fits = |buf: &BlockBuf| (bytes..=bytes + bytes / 4).contains(&buf.capacity_bytes());
        let mask = self.shards.len() - 1;
        let (mut shard, mut idle, mut waits) = (si, 0, 0);
        while !budget.try_reserve(bytes) {
            if idle == 0 {
                shard = shard::fullest(&self.shards, si, incoming);
            }
            match self.evict(shard, reuse) {
                Evicted::Buffer(buf) if fits(&buf) => return Ok(Some(buf)),
                Evicted::Buffer(buf) => {
                    let freed = buf.capacity_bytes();
                    drop(buf);
                    self.tiers[0].release(freed);
                    idle = 0;
                    continue;
                }
                Evicted::Released => {
                    idle = 0;
                    continue;
                }
                Evicted::Nothing => {}
            }
            shard = (shard + 1) & mask;
            idle += 1;
            if idle <= mask {
                continue;
            }
            // Held: pinned blocks, and memory lent beside the cache.
            let pinned = self.audit().pinned_bytes as usize + self.outside.load(Relaxed);
            if budget.limit() - pinned.min(budget.limit()) >= bytes && waits < MAX_WAITS {
                waits += 1;
                idle = 0;
                std::thread::yield_now();
                continue;
            }
            bump(&self.shards[si].counters.pinned_refusals);
            return Err(refuse(pinned));
        }
        Ok(None)
    }

    /// Sets `bytes` of tier 0's budget aside for memory its owner holds
    /// beside the cache (an out-of-core spreader's workspace as it grows),
    /// evicting blocks as a load does, so that one budget covers both.
    /// Refused as a load is ([`CacheError::Budget`]).
    pub(crate) fn reserve_outside(&self, bytes: usize) -> Result<(), CacheError> {
        self.make_room(bytes, None, false)?;
        self.outside.fetch_add(bytes, Relaxed);
        Ok(())
    }

    /// Gives back `bytes` set aside by
    /// [`reserve_outside`](Self::reserve_outside), once freed.
    pub(crate) fn release_outside(&self, bytes: usize) {
        self.outside.fetch_sub(bytes, Relaxed);
        self.tiers[0].release(bytes);
    }

    /// Evicts one unpinned block of shard `si` from tier 0 (demoting it to
    /// tier 1 when there is one): its buffer, still reserved, with `keep`,
    /// else freed and released.
    fn evict(&self, si: usize, keep: bool) -> Evicted {
        let shard = &self.shards[si];
        let (block, moving) = {
            let mut inner = shard.write();
            let Some(slot) = inner.choose_victim() else {
                return Evicted::Nothing;
            };
            // Only a block read again since it was loaded is kept encoded:
            // most blocks read once are not read again soon (the policy
            // says as much), and encoding them would cost more than
            // reading them again, and push reused blocks out of tier 1.
            let demote = self.config.compressed > 0
                && inner
                    .block_at(slot)
                    .is_some_and(|block| block.inner.reused.load(Relaxed));
            let (old, moving) = if demote {
                let old = inner.set(slot, State::Moving);
                (old, Some((slot, inner.entry(slot).stamp)))
            } else {
                (inner.remove(slot), None)
            };
            let State::Resident(block) = old else {
                return Evicted::Nothing;
            };
            (block, moving)
        };
        bump(&shard.counters.evictions[0]);
        if block.inner.prefetched.load(Acquire) {
            self.prefetch[2].fetch_add(1, Release);
        }
        let bytes = block_bytes(&block);
        if let Some((slot, stamp)) = moving {
            self.demote(si, slot, stamp, &block);
        }
        if keep {
            // (A reader that took the block before it was chosen keeps it.)
            if let Ok(decoded) = Arc::try_unwrap(block.inner) {
                return Evicted::Buffer(decoded.buf);
            }
        } else {
            drop(block);
        }
        // Released once the block is freed: the budget counts it until then.
        self.tiers[0].release(bytes);
        Evicted::Released
    }

    /// Encodes an evicted block (its slot `Moving` with `stamp`) into tier
    /// 1, making room there; drops it if it does not fit or the slot
    /// changed meanwhile.
    fn demote(&self, si: usize, slot: u32, stamp: u64, block: &BlockRef) {
        if block.len() > MAX_BLOCK_LEN {
            // Larger than an encoding holds: dropped, not demoted.
            let mut inner = self.shards[si].write();
            if inner.unchanged(slot, stamp) {
                inner.remove(slot);
            }
            return;
        }
        let kind = block.kind();
        let mut encoded = Vec::new();
        encode_block(kind, block.bytes(), &mut encoded);
        let [blocks, raw, enc] = &self.shards[si].counters.compression[usize::from(kind.code())];
        bump(blocks);
        raw.fetch_add(block.len() as u64, Relaxed);
        enc.fetch_add(encoded.len() as u64, Relaxed);
        let encoded: Arc<[u8]> = encoded.into();
        let n = encoded.len();
        let stored = n <= self.tiers[1].limit() && self.make_room_tier1(n, si);
        let mut inner = self.shards[si].write();
        if inner.unchanged(slot, stamp) {
            if stored {
                inner.set(slot, State::Compressed(encoded));
                return;
            }
            inner.remove(slot);
        }
        drop(inner);
        if stored {
            self.tiers[1].release(n);
        }
    }

    /// Reserves `bytes` of tier 1, evicting its oldest blocks (shard `si`'s
    /// first) until they fit; `false` when tier 1 holds nothing more to
    /// evict.
    fn make_room_tier1(&self, bytes: usize, si: usize) -> bool {
        let mask = self.shards.len() - 1;
        let (mut shard, mut idle) = (si, 0);
        while !self.tiers[1].try_reserve(bytes) {
            if self.evict_tier1(shard) {
                idle = 0;
                continue;
            }
            shard = (shard + 1) & mask;
            idle += 1;
            if idle > mask {
                return false;
            }
        }
        true
    }

    /// Moves shard `si`'s oldest tier-1 block to the spill file (or drops
    /// it without one). Returns whether there was one.
    fn evict_tier1(&self, si: usize) -> bool {
        let shard = &self.shards[si];
        let (encoded, moving) = {
            let mut inner = shard.write();
            let Some((slot, _)) = inner.pop_tier1() else {
                return false;
            };
            let (old, moving) = if self.spill.is_some() {
                let old = inner.set(slot, State::Moving);
                (old, Some((slot, inner.entry(slot).stamp)))
            } else {
                (inner.remove(slot), None)
            };
            let State::Compressed(encoded) = old else {
                return false;
            };
            (encoded, moving)
        };
        bump(&shard.counters.evictions[1]);
        if let (Some(spill), Some((slot, stamp))) = (&self.spill, moving) {
            self.spill_block(spill, si, slot, stamp, &encoded);
        }
        let n = encoded.len();
        drop(encoded);
        self.tiers[1].release(n);
        true
    }

    /// Writes an encoded block (its slot `Moving` with `stamp`) to the
    /// spill file and points the slot at it, unless the slot changed
    /// meanwhile; routes the ids of recycled blocks to their shards. A
    /// failed write drops the block (the source still has it).
    fn spill_block(&self, spill: &Spill, si: usize, slot: u32, stamp: u64, encoded: &[u8]) {
        let id = shard::spill_id(si, slot, stamp);
        let mut recycled = Vec::new();
        let written = spill.write(id, encoded, &mut recycled);
        {
            let mut inner = self.shards[si].write();
            if inner.unchanged(slot, stamp) {
                match written {
                    Ok(loc) => drop(inner.set(slot, State::Spilled { loc, id })),
                    Err(_) => drop(inner.remove(slot)),
                }
            }
        }
        for id in recycled {
            if let Some(owner) = self.shards.get(shard::spill_shard(id)) {
                owner.push_recycled(id);
            }
        }
    }

    /// Puts a block the caller made into tier 0 as block `key` (replacing
    /// any copy in any tier) and returns it pinned.
    pub fn insert(
        &self,
        key: S::Key,
        kind: BlockKind,
        buf: BlockBuf,
    ) -> Result<BlockRef, CacheError> {
        let mut buf = buf;
        buf.shrink_to_fit();
        let hash = shard::hash_key(&key);
        let si = self.shard_of(hash);
        self.reserve(buf.capacity_bytes(), si)?;
        let block = BlockRef::new(kind, buf);
        let mut inner = self.shards[si].write();
        let slot = inner.slot(hash, &key);
        let old = Self::put(&mut inner, key, hash, slot, block.clone());
        drop(inner);
        self.forget(old);
        Ok(block)
    }

    /// Removes block `key` from every tier (a reader holding it keeps its
    /// copy). Returns whether any tier held it.
    pub fn invalidate(&self, key: S::Key) -> bool {
        let hash = shard::hash_key(&key);
        let mut inner = self.shards[self.shard_of(hash)].write();
        let Some(slot) = inner.slot(hash, &key) else {
            return false;
        };
        let old = inner.remove(slot);
        if matches!(old, State::Resident(_)) {
            inner.policy.remove(slot);
        }
        drop(inner);
        self.forget(old);
        true
    }

    /// Waits until every spilled block queued for writing is on disk.
    pub fn flush(&self) -> Result<(), CacheError> {
        self.spill.as_ref().map_or(Ok(()), Spill::flush)
    }

    /// The counters, summed over shards.
    pub fn stats(&self) -> CacheStats {
        let get = |counter: &AtomicU64| counter.load(Relaxed);
        let mut stats = CacheStats::default();
        let mut held = [0u64; 3];
        for shard in &self.shards {
            for (sum, n) in held.iter_mut().zip(shard.read().held()) {
                *sum += n as u64;
            }
            let c: &Counters = &shard.counters;
            for (tier, (hits, evictions)) in
                stats.tiers.iter_mut().zip(c.hits.iter().zip(&c.evictions))
            {
                tier.hits += get(hits);
                tier.evictions += get(evictions);
            }
            stats.misses += get(&c.misses);
            stats.source_bytes += get(&c.source_bytes);
            stats.promotions += get(&c.promotions);
            stats.checksum_failures += get(&c.checksum_failures);
            stats.pinned_refusals += get(&c.pinned_refusals);
            for (kind, [blocks, raw, encoded]) in stats.compression.iter_mut().zip(&c.compression) {
                kind.blocks += get(blocks);
                kind.raw_bytes += get(raw);
                kind.encoded_bytes += get(encoded);
            }
        }
        stats.tiers[0].hits += self.hits.get();
        let [issued, used, wasted] = &self.prefetch;
        // Uses and waste first (acquiring the issues they follow), then
        // issues: used + wasted <= issued in every report.
        let (used, wasted) = (used.load(Acquire), wasted.load(Acquire));
        stats.prefetch = PrefetchStats {
            issued: get(issued),
            used,
            wasted,
        };
        for (t, budget) in self.tiers.iter().enumerate() {
            stats.tiers[t].bytes = budget.used() as u64;
            stats.tiers[t].budget = budget.limit() as u64;
        }
        stats.outside = self.outside.load(Relaxed) as u64;
        stats.tiers[0].bytes = stats.tiers[0].bytes.saturating_sub(stats.outside);
        if let (Some(spill), Some(config)) = (&self.spill, &self.config.spill) {
            let counts = spill.counts();
            stats.tiers[2].bytes = counts.bytes;
            stats.tiers[2].budget = config.capacity;
            stats.spill_writes = counts.writes;
            stats.spill_write_bytes = counts.write_bytes;
            stats.spill_write_calls = counts.write_calls;
            stats.spill_reads = counts.reads;
        }
        for (tier, blocks) in stats.tiers.iter_mut().zip(held) {
            tier.blocks = blocks;
        }
        stats
    }

    /// Walks every block of every shard (each under its lock) and sums what
    /// is held: for tests and audits; [`stats`](Self::stats) is the cheap
    /// way. Pinned bytes are exact only while no reader takes a block.
    pub fn audit(&self) -> Residency {
        let mut r = Residency::default();
        for shard in &self.shards {
            let inner = shard.read();
            for block in inner.resident_blocks() {
                if pinned(block) {
                    r.pinned_bytes += block_bytes(block) as u64;
                }
                r.bytes[0] += block_bytes(block) as u64;
                r.blocks[0] += 1;
            }
            for entry in &inner.entries {
                let (tier, bytes) = match &entry.state {
                    State::Compressed(encoded) => (1, encoded.len()),
                    State::Spilled { loc, .. } => (2, loc.len as usize),
                    State::Resident(()) | State::Moving | State::Free => continue,
                };
                r.bytes[tier] += bytes as u64;
                r.blocks[tier] += 1;
            }
        }
        r
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The configuration.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }
}

// (Under loom the shards' locks are loom's, which only a model may use.)
#[cfg(all(test, not(crossbeam_loom)))]
mod tests {
    use super::*;

    /// Block `key` is `key % 5 + 1` words, each `key`.
    struct Words;

    impl BlockSource for Words {
        type Key = u32;
        fn read(&self, key: u32, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
            let words = vec![u64::from(key); key as usize % 5 + 1];
            *buf = BlockBuf::from_bytes(bytemuck::cast_slice(&words));
            Ok(BlockKind::U64)
        }
    }

    fn check(block: &BlockRef, key: u32) {
        let words: &[u64] = block.as_slice().unwrap();
        assert_eq!(words.len(), key as usize % 5 + 1);
        assert!(words.iter().all(|&w| w == u64::from(key)));
    }

    impl<S: BlockSource, P: Eviction> BlockCache<S, P> {
        /// Checks every shard's index.
        fn check_index(&self) {
            for shard in &self.shards {
                shard.read().check();
            }
        }
    }

    #[test]
    fn index_stays_consistent_under_threads() {
        let config = CacheConfig::new(12 * 40).compressed(6 * 40).shards(2);
        let cache: BlockCache<Words> = BlockCache::new(Words, config).unwrap();
        let ops = if cfg!(miri) { 30 } else { 2000 };
        std::thread::scope(|s| {
            for t in 0..3u32 {
                let cache = &cache;
                s.spawn(move || {
                    let mut x = 0x9e37_79b9u32.wrapping_mul(t + 1);
                    for _ in 0..ops {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        let key = x % 40;
                        match x % 7 {
                            0 => drop(cache.invalidate(key)),
                            1 => {
                                let buf = BlockBuf::from_bytes(&Words.block(key));
                                check(&cache.insert(key, BlockKind::U64, buf).unwrap(), key);
                            }
                            // Read twice: a block read again is kept
                            // encoded when it leaves tier 0.
                            _ => {
                                check(&cache.get(key).unwrap(), key);
                                check(&cache.get(key).unwrap(), key);
                            }
                        }
                    }
                });
            }
        });
        cache.check_index();
        let (held, stats) = (cache.audit(), cache.stats());
        assert_eq!(
            held.bytes[..2],
            [stats.tiers[0].bytes, stats.tiers[1].bytes]
        );
        assert_eq!(
            held.blocks[..2],
            [stats.tiers[0].blocks, stats.tiers[1].blocks]
        );
        assert!(stats.promotions > 0);
    }

    impl Words {
        fn block(&self, key: u32) -> Vec<u8> {
            let mut buf = BlockBuf::new();
            self.read(key, &mut buf).unwrap();
            buf.as_bytes().to_vec()
        }
    }

    /// Block `key` is 1 to 64 KiB, by powers of two.
    struct Mixed;

    impl BlockSource for Mixed {
        type Key = u64;
        fn read(&self, key: u64, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
            buf.resize(1024 << (key % 7));
            Ok(BlockKind::Bytes)
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "20,000 loads of up to 64 KiB: minutes under Miri")]
    fn shards_stay_near_an_even_share_with_mixed_block_sizes() {
        const SHARDS: usize = 4;
        let config = CacheConfig::new(2 << 20).shards(SHARDS);
        let cache: BlockCache<Mixed> = BlockCache::new(Mixed, config).unwrap();
        let mut rng = crate::rng::SplitMix64::new(7);
        for _ in 0..20_000 {
            drop(cache.get(rng.below(2000)).unwrap());
        }
        cache.check_index();
        // Within two of the largest blocks of an even share (evicting from
        // the loading shard left them 0.2 to 1.9 shares here).
        let share = cache.config().memory / SHARDS;
        for shard in &cache.shards {
            let held = shard.resident_bytes();
            assert!(
                held.abs_diff(share) <= 128 << 10,
                "{held} bytes, share {share}"
            );
        }
    }

    #[test]
    fn shard_count_is_a_power_of_two_within_bounds() {
        let chosen = BlockCache::<Words>::shard_count(&CacheConfig::new(1 << 30));
        assert!(chosen.is_power_of_two() && chosen >= 4);
        assert_eq!(BlockCache::<Words>::shard_count(&CacheConfig::new(4096)), 1);
        let asked = CacheConfig::new(4096).shards(8);
        assert_eq!(BlockCache::<Words>::shard_count(&asked), 8);
        assert!(BlockCache::<Words>::new(Words, CacheConfig::new(64).shards(3)).is_err());
    }

    #[test]
    fn spill_ids_name_their_shard_and_slot() {
        let id = shard::spill_id(513, 77, 0x1_2345);
        assert_eq!(shard::spill_shard(id), 513);
        assert_eq!(id as u32, 77);
        assert_ne!(id, shard::spill_id(513, 77, 0x1_2346));
    }

    #[test]
    fn hashes_spread_over_shards() {
        let mut counts = [0u32; 8];
        for key in 0..8000u64 {
            counts[(shard::hash_key(&key) >> 40) as usize & 7] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_ne!(
            shard::hash_key(&(1u32, 2u32)),
            shard::hash_key(&(2u32, 1u32))
        );
        assert_ne!(
            shard::hash_key(&[1u8, 2, 3][..]),
            shard::hash_key(&[1u8, 2][..])
        );
    }
}
