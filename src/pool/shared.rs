//! [`Pool`]: the state every thread shares.

use alloc::boxed::Box;
use alloc::vec;
use crossbeam_epoch::Collector;

use super::chunk::{Chunk, Directory};
use super::local::LocalPool;
use super::metrics::{Counters, PoolMetrics};
use super::stack::{Chain, FreeStack, Links, NIL};
use super::sync::{AtomicBool, AtomicUsize, Ordering};
use super::{PoolConfig, PoolError};

/// A lock-free pool of `T` records, allocated in 64-byte-aligned chunks.
///
/// Threads take records through a [`LocalPool`] each ([`Pool::local`]), whose
/// magazine serves most acquires and releases without touching shared
/// memory. Magazines trade with the shared free list a batch at a time; when
/// that is empty too, the pool allocates a new chunk (or, if it is
/// [`Growth::Bounded`](super::Growth::Bounded) and full, refuses: see
/// [`LocalPool::try_acquire`]).
///
/// A record comes back as its last user left it; `init` runs once per record,
/// when its chunk is allocated. Records stay allocated until [`Pool::shrink`]
/// or the pool's drop.
///
/// ```
/// use axonal::pool::{Pool, PoolConfig};
///
/// let pool = Pool::new(PoolConfig::default(), || [0u32; 8])?;
/// let local = pool.local();
/// let mut record = local.acquire();
/// record[0] = 7;
/// drop(record); // back to `local`'s magazine
/// assert_eq!(pool.metrics().chunks, 1);
/// # Ok::<(), axonal::pool::PoolError>(())
/// ```
pub struct Pool<T> {
    config: PoolConfig,
    init: Box<dyn Fn() -> T + Send + Sync>,
    pub(crate) directory: Directory<T>,
    pub(crate) free: FreeStack,
    /// Reclaims chunks that `shrink` unlinks while poppers may read them.
    pub(crate) collector: Collector,
    /// Records allocated (never above the capacity of a bounded pool).
    records: AtomicUsize,
    /// Records on the shared free list.
    free_records: AtomicUsize,
    /// Chunks allocated, and the bytes they hold.
    chunks: AtomicUsize,
    bytes: AtomicUsize,
    shrinking: AtomicBool,
    pub(crate) counters: Counters,
}

// SAFETY: the pool hands each record to one owner at a time (the free list
// gives every id out once, within the ABA bound stated in `stack.rs`), so sharing the pool shares no `T`
// between threads except by moving it: `T: Send` suffices. The chunk pointers
// and raw cells are only reached through that discipline.
unsafe impl<T: Send> Sync for Pool<T> {}
// SAFETY: as above; dropping the pool on another thread drops the `T`s there.
unsafe impl<T: Send> Send for Pool<T> {}

impl<T> Pool<T> {
    /// A pool of records made by `init`. Allocates nothing until the first
    /// acquire (but the chunk directory, one pointer per possible chunk).
    pub fn new(
        config: PoolConfig,
        init: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<Pool<T>, PoolError> {
        let config = config.validated()?;
        let chunks = config.max_records().div_ceil(config.chunk_len as usize);
        Ok(Pool {
            directory: Directory::new(chunks, config.chunk_len),
            init: Box::new(init),
            config,
            free: FreeStack::new(),
            collector: Collector::new(),
            records: AtomicUsize::new(0),
            free_records: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            shrinking: AtomicBool::new(false),
            counters: Counters::default(),
        })
    }

    /// A pool of `T::default()` records.
    pub fn with_default(config: PoolConfig) -> Result<Pool<T>, PoolError>
    where
        T: Default + 'static,
    {
        Pool::new(config, T::default)
    }

    /// The configuration (after validation).
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// A front end for the calling thread, with its own magazine. Keep one
    /// per thread (a worker's lifetime): registering costs an allocation.
    pub fn local(&self) -> LocalPool<'_, T> {
        LocalPool::new(self)
    }

    /// Allocates chunks until the pool holds at least `records` records (or
    /// its limit), so that acquires up to that demand never allocate: warm a
    /// pool up before latency matters. Returns the records now held.
    pub fn reserve(&self, records: usize) -> usize {
        while self.records.load(Ordering::Relaxed) < records {
            match self.grow() {
                Some(chain) => self.push_free(chain),
                None => break,
            }
        }
        self.records.load(Ordering::Relaxed)
    }

    /// A snapshot of the pool's counters.
    pub fn metrics(&self) -> PoolMetrics {
        self.counters.snapshot(
            self.chunks.load(Ordering::Relaxed) as u64,
            self.records.load(Ordering::Relaxed) as u64,
            self.checked_out() as u64,
            self.bytes.load(Ordering::Relaxed) as u64,
        )
    }

    /// Records off the shared free list: in use, or cached in a magazine.
    fn checked_out(&self) -> usize {
        self.records
            .load(Ordering::Relaxed)
            .saturating_sub(self.free_records.load(Ordering::Relaxed))
    }

    /// Updates the high-water mark of records off the shared free list.
    fn note_checked_out(&self) {
        self.counters.note_checked_out(self.checked_out() as u64);
    }

    /// Takes up to `max` records off the shared free list. The caller must
    /// be pinned to `self.collector`.
    pub(crate) fn pop_free(&self, max: u32) -> Option<Chain> {
        let chain = self.free.pop(max, &self.directory)?;
        self.free_records
            .fetch_sub(chain.len as usize, Ordering::Relaxed);
        self.note_checked_out();
        Some(chain)
    }

    /// Puts a chain of records the caller owns back on the shared free list.
    pub(crate) fn push_free(&self, chain: Chain) {
        self.free_records
            .fetch_add(chain.len as usize, Ordering::Relaxed);
        self.free.push(chain, &self.directory);
    }

    /// Allocates a chunk and returns its records as a chain the caller owns,
    /// or `None` if the pool may not grow (bounded and full, every chunk
    /// index in use, or the allocator refused).
    pub(crate) fn grow(&self) -> Option<Chain> {
        let chunk_len = self.config.chunk_len as usize;
        let limit = self.config.max_records();
        // Reserve the records first, so that racing growers never overshoot.
        let mut slots = 0;
        self.records
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                slots = chunk_len.min(limit.saturating_sub(r));
                (slots > 0).then_some(r + slots)
            })
            .ok()?;
        // Handed back on every way out but success, a panicking `init` included.
        let reservation = Reservation {
            records: &self.records,
            slots,
        };
        let chunk = Chunk::new(slots as u32, &*self.init)?;
        let bytes = chunk.bytes();
        let index = self.directory.install(chunk)?;
        core::mem::forget(reservation);
        self.chunks.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let ids = |i: usize| self.directory.id(index, i as u32);
        for i in 1..slots {
            self.directory.set_next(ids(i - 1), ids(i));
        }
        self.note_checked_out();
        Some(Chain {
            first: ids(0),
            last: ids(slots - 1),
            len: slots as u32,
        })
    }

    /// Frees every chunk whose records are all on the shared free list
    /// (records cached in a thread's magazine count as taken: call
    /// [`LocalPool::flush`] first to include them). Returns the number of
    /// chunks freed.
    ///
    /// While it runs, other threads see an empty shared list: they grow the
    /// pool, or, if it is bounded and full, `try_acquire` returns `None`.
    /// Concurrent calls return 0 at once. Freed memory is returned once no
    /// thread can still be reading it (epoch-based reclamation).
    pub fn shrink(&self) -> usize {
        if self.shrinking.swap(true, Ordering::Acquire) {
            return 0;
        }
        let freed = self.shrink_exclusive();
        self.shrinking.store(false, Ordering::Release);
        freed
    }

    fn shrink_exclusive(&self) -> usize {
        let first = self.free.take_all();
        if first == NIL {
            return 0;
        }
        // We own every record on the list we took: count each chunk's.
        let walk = |visit: &mut dyn FnMut(u32)| {
            let mut id = first;
            while id != NIL {
                // Read the link before `visit` may rewrite it.
                let next = self.directory.next_owned(id);
                visit(id);
                id = next;
            }
        };
        let mut free_in = vec![0u32; self.directory.len()];
        walk(&mut |id| free_in[self.directory.split(id).0] += 1);
        let whole: alloc::vec::Vec<bool> = (0..self.directory.len())
            .map(|index| {
                let chunk = self.directory.load(index);
                // SAFETY: chunks are freed only here, under the shrink flag,
                // so an installed chunk stays valid while we read it.
                !chunk.is_null() && free_in[index] == unsafe { (*chunk).slots }
            })
            .collect();
        // Relink the records that stay into one chain and put it back.
        let mut kept: Option<Chain> = None;
        walk(&mut |id| {
            if whole[self.directory.split(id).0] {
                return;
            }
            kept = Some(match kept {
                None => Chain {
                    first: id,
                    last: id,
                    len: 1,
                },
                Some(chain) => {
                    self.directory.set_next(chain.last, id);
                    Chain {
                        last: id,
                        len: chain.len + 1,
                        ..chain
                    }
                }
            });
        });
        if let Some(chain) = kept {
            self.free.push(chain, &self.directory);
        }
        // Unlink the wholly free chunks; free them once no popper can be
        // reading their links.
        let guard = &self.collector.register().pin();
        let (mut chunks, mut records, mut bytes) = (0, 0usize, 0usize);
        for (index, _) in whole.iter().enumerate().filter(|(_, w)| **w) {
            let chunk = self.directory.take(index);
            // SAFETY: every record of the chunk was on the list we took and
            // is no longer on any list, so no handle or magazine can reach it.
            // Poppers that loaded one of its ids before we took the list may
            // still read its links: the collector frees it after they unpin.
            // The chunk came from `Box::into_raw` in `Directory::install`.
            unsafe {
                records += (*chunk).slots as usize;
                bytes += (*chunk).bytes();
                guard.defer_unchecked(move || drop(Box::from_raw(chunk)));
            }
            chunks += 1;
        }
        guard.flush();
        self.records.fetch_sub(records, Ordering::Relaxed);
        self.free_records.fetch_sub(records, Ordering::Relaxed);
        self.chunks.fetch_sub(chunks, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.counters.note_shrink(chunks as u64);
        chunks
    }
}

/// Records reserved by `grow`, given back if the chunk never gets installed.
struct Reservation<'a> {
    records: &'a AtomicUsize,
    slots: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.records.fetch_sub(self.slots, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(crossbeam_loom)))]
mod tests {
    use super::*;
    use crate::pool::{ActivationRecordPool, Growth, PoolConfig};
    use alloc::vec::Vec;
    use core::sync::atomic::AtomicUsize as StdAtomicUsize;

    fn config(chunk_len: u32, magazine: usize, growth: Growth) -> PoolConfig {
        PoolConfig {
            chunk_len,
            magazine,
            growth,
            max_records: 1 << 10,
        }
    }

    #[test]
    fn records_are_exclusive_and_keep_their_contents() {
        let pool = ActivationRecordPool::with_default(config(4, 4, Growth::Grow)).unwrap();
        let local = pool.local();
        let mut held: Vec<_> = (0..10).map(|_| local.acquire()).collect();
        let mut ids: Vec<u32> = held.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10, "no record handed out twice");
        for (i, r) in held.iter_mut().enumerate() {
            r.node = i as u32;
            let addr = &**r as *const _ as usize;
            assert_eq!(addr % 64, 0, "records are cache-line aligned");
        }
        let last = held.pop().unwrap();
        let (id, node) = (last.id(), last.node);
        drop(last);
        // The most recently released record comes back first, as it was left.
        let again = local.acquire();
        assert_eq!((again.id(), again.node), (id, node));
    }

    #[test]
    fn metrics_count_hits_misses_and_the_high_water_mark() {
        let pool = Pool::new(config(8, 4, Growth::Grow), || 0u64).unwrap();
        let local = pool.local();
        let held: Vec<_> = (0..20).map(|_| local.acquire()).collect();
        drop(held);
        local.flush();
        let m = pool.metrics();
        assert_eq!((m.acquires, m.releases, m.in_use), (20, 20, 0));
        assert_eq!(m.chunks, 3);
        assert_eq!(m.records, 24);
        assert_eq!(m.misses, 3);
        assert_eq!(m.magazine_hits + m.global_hits + m.misses, 20);
        assert_eq!(
            m.checked_out, 0,
            "flushed: everything is back on the shared list"
        );
        assert!(m.high_water >= 20 && m.high_water <= 24, "{m:?}");
        assert!(m.bytes_reserved >= 24 * 8);
        assert!(m.hit_rate() > 0.8);
    }

    #[test]
    fn a_bounded_pool_refuses_instead_of_growing() {
        let pool = Pool::new(config(4, 2, Growth::Bounded { capacity: 6 }), || 0u8).unwrap();
        let local = pool.local();
        let held: Vec<_> = core::iter::from_fn(|| local.try_acquire())
            .take(100)
            .collect();
        assert_eq!(held.len(), 6);
        assert!(local.try_acquire().is_none());
        let m = pool.metrics();
        assert_eq!((m.records, m.chunks, m.high_water), (6, 2, 6));
        drop(held);
        assert!(local.try_acquire().is_some());
        local.flush();
        assert_eq!(
            pool.metrics().refused,
            2,
            "the loop's last try and the one after"
        );
    }

    #[test]
    fn reserve_allocates_up_front_within_the_bound() {
        let pool = Pool::new(config(4, 4, Growth::Bounded { capacity: 10 }), || 0u8).unwrap();
        assert_eq!(pool.reserve(7), 8, "whole chunks");
        assert_eq!(pool.reserve(100), 10, "never past the capacity");
        let local = pool.local();
        let held: Vec<_> = (0..10).map(|_| local.acquire()).collect();
        drop(held);
        local.flush();
        let m = pool.metrics();
        assert_eq!((m.misses, m.chunks), (0, 3), "no acquire allocated: {m:?}");
    }

    #[test]
    fn records_move_between_threads_front_ends() {
        let pool = Pool::new(config(4, 4, Growth::Grow), || 0u32).unwrap();
        let (a, b) = (pool.local(), pool.local());
        let held: Vec<_> = (0..16).map(|_| a.acquire()).collect();
        drop(held);
        a.flush();
        let held: Vec<_> = (0..16).map(|_| b.acquire()).collect();
        assert_eq!(pool.metrics().records, 16, "b reused a's records");
        drop(held);
    }

    static DROPS: StdAtomicUsize = StdAtomicUsize::new(0);
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn shrink_frees_only_wholly_free_chunks_and_the_pool_regrows() {
        let pool = Pool::new(config(4, 2, Growth::Grow), || Counted).unwrap();
        let local = pool.local();
        let mut held: Vec<_> = (0..12).map(|_| local.acquire()).collect();
        assert_eq!(pool.metrics().chunks, 3);
        let keep = held.remove(0);
        drop(held);
        local.flush();
        let before = DROPS.load(Ordering::Relaxed);
        assert_eq!(pool.shrink(), 2, "the chunk of the held record stays");
        // The collector frees the chunks once nobody is pinned; we are not.
        pool.local().flush();
        let m = pool.metrics();
        assert_eq!((m.chunks, m.records, m.chunks_freed), (1, 4, 2));
        assert_eq!(keep.id() / 4, pool.directory.split(keep.id()).0 as u32);
        drop(keep);
        local.flush();
        assert_eq!(pool.shrink(), 1);
        assert_eq!(pool.metrics().records, 0);
        let again: Vec<_> = (0..5).map(|_| local.acquire()).collect();
        assert_eq!(pool.metrics().chunks, 2);
        drop(again);
        drop(local);
        drop(pool);
        assert_eq!(DROPS.load(Ordering::Relaxed) - before, 12 + 8);
    }

    #[test]
    #[cfg(feature = "std")]
    fn a_panicking_init_leaves_the_pool_usable() {
        use core::sync::atomic::AtomicBool as StdAtomicBool;
        static FAIL: StdAtomicBool = StdAtomicBool::new(true);
        let pool = Pool::new(config(4, 2, Growth::Bounded { capacity: 4 }), || {
            assert!(!FAIL.load(Ordering::Relaxed), "init failed");
            7u32
        })
        .unwrap();
        let local = pool.local();
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            drop(local.try_acquire());
        }));
        assert!(caught.is_err());
        assert_eq!(pool.metrics().records, 0, "the reservation was handed back");
        FAIL.store(false, Ordering::Relaxed);
        let held: Vec<_> = core::iter::from_fn(|| local.try_acquire())
            .take(10)
            .collect();
        assert_eq!(held.len(), 4, "the full capacity is still available");
        assert!(held.iter().all(|r| **r == 7));
    }

    #[test]
    fn invalid_configurations_are_typed_errors() {
        for bad in [
            config(0, 4, Growth::Grow),
            config(4, 1, Growth::Grow),
            config(4, 4, Growth::Bounded { capacity: 0 }),
            PoolConfig {
                max_records: u32::MAX as usize,
                ..PoolConfig::default()
            },
        ] {
            assert!(matches!(
                Pool::new(bad, || 0u8),
                Err(crate::pool::PoolError::InvalidConfig(_))
            ));
        }
        let ok = Pool::new(config(5, 4, Growth::Grow), || 0u8).unwrap();
        assert_eq!(ok.config().chunk_len, 8, "rounded up to a power of two");
    }
}
