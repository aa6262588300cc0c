//! The shards' reader-writer lock: a reader takes it with one locked
//! instruction, on a cache line no other thread writes.
//!
//! A tier-0 hit is four locked read-modify-writes with a plain `RwLock`:
//! the lock taken and released (both on the lock's word, which every
//! reader of the shard writes) and the block's reference count taken and,
//! later, dropped. [`ShardLock`] halves the lock's share. Each thread that
//! has a cell index (the one its hit counter uses, [`thread_cell`]) owns a
//! *reader slot*, one cache line: a reader announces itself by storing
//! the lock's address in its slot, checks that no writer is in, and leaves
//! with a plain store of zero. A writer takes an inner `RwLock`
//! exclusively (one writer at a time), raises its flag, and waits until no
//! slot names the lock. Between its store and its loads each side runs a
//! sequentially consistent fence (the reader's one locked instruction:
//! `lock or` on x86-64), so one of the two sees the other's store (a
//! Dekker handshake): a reader that sees the flag backs off to the inner
//! lock's shared side (as does a thread without a slot, or whose slot
//! names another lock it reads), a writer that sees the reader's slot
//! waits for it. A writer thus never overlaps a reader, and what one
//! wrote happens before what the next reads (the fences order the raising
//! stores; the flag's lowering and the slots' emptying are releases, their
//! loads acquires). Writers pay a load per
//! living thread's slot (`counter::live_cells`); the shards' exclusive
//! side is the slow path already (misses, evictions; every hit only with
//! [`Lru`](super::Lru)).
//!
//! The atomics and the inner lock are loom's under `--cfg crossbeam_loom`,
//! for the model test below.
//!
//! [`thread_cell`]: super::counter::thread_cell

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use std::sync::PoisonError;

use super::counter::CELLS;
use crate::pool::sync::{
    AtomicBool, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
    Ordering::SeqCst,
};

#[cfg(not(crossbeam_loom))]
use core::sync::atomic::fence;
#[cfg(crossbeam_loom)]
use loom::sync::atomic::fence;
#[cfg(crossbeam_loom)]
use loom::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(crossbeam_loom))]
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One thread's reader slot: the address of the [`ShardLock`] it reads
/// through the fast side, or zero. Only its thread stores to it.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct ReaderSlot(AtomicUsize);

impl ReaderSlot {
    /// An empty slot.
    #[cfg(not(crossbeam_loom))]
    const fn new() -> ReaderSlot {
        ReaderSlot(AtomicUsize::new(0))
    }

    /// An empty slot (loom's atomics are made at run time).
    #[cfg(crossbeam_loom)]
    fn new() -> ReaderSlot {
        ReaderSlot(AtomicUsize::new(0))
    }
}

/// The reader slots, one per thread cell index.
#[cfg(not(crossbeam_loom))]
pub(crate) fn reader_slots() -> &'static [ReaderSlot; CELLS] {
    static SLOTS: [ReaderSlot; CELLS] = [const { ReaderSlot::new() }; CELLS];
    &SLOTS
}

/// The reader slots (under loom: made on first use, which only the
/// cache's own tests do, outside the model tests).
#[cfg(crossbeam_loom)]
pub(crate) fn reader_slots() -> &'static [ReaderSlot; CELLS] {
    static SLOTS: std::sync::OnceLock<&'static [ReaderSlot; CELLS]> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| Box::leak(Box::new(core::array::from_fn(|_| ReaderSlot::new()))))
}

/// A reader-writer lock whose shared side costs one locked instruction
/// (see the [module docs](self)).
pub(crate) struct ShardLock<T> {
    /// Raised while a writer holds the lock or waits for its readers.
    writer: AtomicBool,
    /// Held exclusively by the writer, shared by readers on the slow side.
    inner: RwLock<()>,
    data: UnsafeCell<T>,
}

// SAFETY: as `std::sync::RwLock<T>`: readers on several threads share `&T`
// (so `T: Sync`), a writer gets `&mut T` on any thread (so `T: Send`); the
// protocol of the module docs keeps writers apart from readers.
unsafe impl<T: Send + Sync> Sync for ShardLock<T> {}

impl<T> core::fmt::Debug for ShardLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShardLock").finish_non_exhaustive()
    }
}

impl<T> ShardLock<T> {
    /// A lock around `data`.
    pub(crate) fn new(data: T) -> ShardLock<T> {
        ShardLock {
            writer: AtomicBool::new(false),
            inner: RwLock::new(()),
            data: UnsafeCell::new(data),
        }
    }

    /// What a reader slot holds while its thread reads through this lock.
    fn id(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// The shared side, for the thread whose reader slot is `slot` (`None`:
    /// the slow side). Poison is ignored (see `Shard::read`).
    ///
    /// # Safety
    /// `slot` is the calling thread's own: no other thread stores to it
    /// while a guard taken through it lives, and it is one of the slots
    /// every [`write`](Self::write) on this lock is given (with its bit in
    /// `live`).
    #[inline]
    pub(crate) unsafe fn read<'a>(&'a self, slot: Option<&'a ReaderSlot>) -> ReadGuard<'a, T> {
        // Only this thread stores to its slot: a slot found empty stays so
        // until the swap (a slot naming a lock this thread reads already
        // is left alone, and the slow side taken).
        if let Some(slot) = slot.filter(|s| s.0.load(Relaxed) == 0) {
            slot.0.store(self.id(), Relaxed);
            // Pairs with the writer's fence (see the module docs).
            fence(SeqCst);
            if !self.writer.load(Acquire) {
                return ReadGuard {
                    lock: self,
                    side: Side::Fast(slot),
                    not_send: PhantomData,
                };
            }
            slot.0.store(0, Release);
        }
        self.read_slow()
    }

    /// The shared side through the inner lock.
    #[cold]
    fn read_slow(&self) -> ReadGuard<'_, T> {
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        ReadGuard {
            lock: self,
            side: Side::Slow(guard),
            not_send: PhantomData,
        }
    }

    /// The exclusive side, once no reader holds `slots` on this lock.
    /// `live` gives the slots that may be in use (bit `i` for `slots[i]`),
    /// read after the writer's fence.
    ///
    /// # Safety
    /// Every slot any thread reads this lock through ([`read`](Self::read))
    /// is in `slots`, and its bit is in what `live` returns from before the
    /// thread's first store to it: else a reader and this writer could both
    /// be in.
    pub(crate) unsafe fn write<'a>(
        &'a self,
        slots: &[ReaderSlot],
        live: impl FnOnce() -> u64,
    ) -> WriteGuard<'a, T> {
        let guard = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        self.writer.store(true, Relaxed);
        // Pairs with the readers' fence (see the module docs).
        fence(SeqCst);
        let id = self.id();
        let mut live = live();
        while live != 0 {
            let slot = &slots[live.trailing_zeros() as usize];
            live &= live - 1;
            while slot.0.load(Acquire) == id {
                // A reader holds the lock for a table probe: briefly.
                #[cfg(crossbeam_loom)]
                loom::thread::yield_now();
                #[cfg(not(crossbeam_loom))]
                std::thread::yield_now();
            }
        }
        WriteGuard {
            lock: self,
            _inner: guard,
        }
    }
}

/// How a [`ReadGuard`] holds its lock.
enum Side<'a> {
    /// Through the thread's reader slot.
    Fast(&'a ReaderSlot),
    /// Through the inner lock.
    Slow(#[allow(dead_code, reason = "held, not read")] RwLockReadGuard<'a, ()>),
}

/// The shared side of a [`ShardLock`], held. Not `Send`: a fast-side guard
/// empties its thread's slot when dropped.
pub(crate) struct ReadGuard<'a, T> {
    lock: &'a ShardLock<T>,
    side: Side<'a>,
    not_send: PhantomData<*const ()>,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the shared side: no writer holds the
        // lock (a writer waits for the guard's slot to empty, or for the
        // inner lock's shared side to be let go), so nothing writes `data`
        // while this reference lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if let Side::Fast(slot) = self.side {
            slot.0.store(0, Release);
        }
    }
}

/// The exclusive side of a [`ShardLock`], held.
pub(crate) struct WriteGuard<'a, T> {
    lock: &'a ShardLock<T>,
    _inner: RwLockWriteGuard<'a, ()>,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the exclusive side: no reader or other
        // writer holds the lock, so `data` is this guard's alone.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes the reference unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // (The inner lock is let go after this, as the field drops.)
        self.lock.writer.store(false, Release);
    }
}

#[cfg(all(test, not(crossbeam_loom)))]
mod tests {
    use super::*;

    /// `lock` read through `slot` (`None`: the slow side).
    fn read<'a, T>(lock: &'a ShardLock<T>, slot: Option<&'a ReaderSlot>) -> ReadGuard<'a, T> {
        // SAFETY: the test's main thread reads through slot 0 and its
        // spawned reader through slot 1 only, and every write is given
        // both slots, both live.
        unsafe { lock.read(slot) }
    }

    /// `lock` written, both slots live.
    fn write<'a, T>(lock: &'a ShardLock<T>, slots: &[ReaderSlot; 2]) -> WriteGuard<'a, T> {
        // SAFETY: as in `read`.
        unsafe { lock.write(slots, || 0b11) }
    }

    #[test]
    fn readers_nest_and_share_writers_exclude() {
        let slots = [ReaderSlot::new(), ReaderSlot::new()];
        let (a, b) = (ShardLock::new(1u64), ShardLock::new(2u64));
        {
            let ra = read(&a, Some(&slots[0]));
            // Nested: the slot names `a`, so `b` is read on its slow side.
            let rb = read(&b, Some(&slots[0]));
            assert!(matches!(ra.side, Side::Fast(_)) && matches!(rb.side, Side::Slow(_)));
            assert_eq!(*ra + *rb, 3);
            // No slot: the slow side, beside a fast reader.
            assert_eq!(*read(&a, None), 1);
        }
        assert_eq!(slots[0].0.load(SeqCst), 0, "a fast guard empties its slot");
        *write(&b, &slots) += 1;
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let r = read(&a, Some(&slots[1]));
                // Loaded anew each time (a plain read could be hoisted), with
                // the writer given time to run in between.
                (0..50)
                    .map(|_| {
                        std::thread::yield_now();
                        // SAFETY: `r` derefs to a live, aligned `u64`.
                        unsafe { core::ptr::read_volatile(&raw const *r) }
                    })
                    .collect::<Vec<u64>>()
            });
            for _ in 0..50 {
                *write(&a, &slots) += 1;
                *write(&a, &slots) -= 1;
            }
            // The reader saw one value throughout its guard.
            let seen = reader.join().unwrap();
            assert!(seen.iter().all(|&v| v == seen[0]), "{seen:?}");
        });
        assert_eq!((*read(&a, Some(&slots[0])), *read(&b, None)), (1, 3));
    }
}

/// Model check of the lock: a reader on the fast side (or the slow one)
/// never sees half of a writer's update, and sees either none or all of
/// it. `RUSTFLAGS="--cfg crossbeam_loom" cargo test --release --lib
/// cache::shard_lock`.
#[cfg(all(test, crossbeam_loom))]
mod loom_tests {
    use super::*;
    use crate::pool::sync::AtomicU32;
    use loom::sync::Arc;

    #[test]
    fn a_writer_never_overlaps_a_reader() {
        loom::model(|| {
            let slots = Arc::new([ReaderSlot::new(), ReaderSlot::new()]);
            let lock = Arc::new(ShardLock::new([AtomicU32::new(0), AtomicU32::new(0)]));
            let writer = {
                let (slots, lock) = (Arc::clone(&slots), Arc::clone(&lock));
                loom::thread::spawn(move || {
                    // SAFETY: the reader thread reads through slot 0 only;
                    // the writer is given both slots, both live.
                    let data = unsafe { lock.write(&slots[..], || 0b11) };
                    data[0].store(1, Relaxed);
                    data[1].store(1, Relaxed);
                })
            };
            let reader = {
                let (slots, lock) = (Arc::clone(&slots), Arc::clone(&lock));
                loom::thread::spawn(move || {
                    // SAFETY: slot 0 is this thread's alone.
                    let data = unsafe { lock.read(Some(&slots[0])) };
                    assert_eq!(data[0].load(Relaxed), data[1].load(Relaxed));
                })
            };
            // A second reader, without a slot: the slow side.
            {
                // SAFETY: no slot: nothing to keep apart.
                let data = unsafe { lock.read(None) };
                assert_eq!(data[0].load(Relaxed), data[1].load(Relaxed));
            }
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(slots[0].0.load(SeqCst), 0);
        });
    }
}
