//! [`LocalPool`]: one thread's front end, and [`Pooled`], the record handle.

use alloc::boxed::Box;
use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crossbeam_epoch::LocalHandle;

use super::metrics::LocalCounts;
use super::shared::Pool;
use super::stack::{Chain, Links};

/// One thread's front end to a [`Pool`]: a magazine of free records that
/// serves acquires and releases without touching shared memory, trading
/// with the pool's shared free list half a magazine at a time.
///
/// Not `Send`: it belongs to the thread that made it (it holds that thread's
/// registration with the pool's epoch collector). Its records go back to the
/// shared list when it is dropped or [flushed](LocalPool::flush).
pub struct LocalPool<'p, T> {
    pool: &'p Pool<T>,
    epoch: LocalHandle,
    /// Free records; `len` of them are valid.
    magazine: Box<[Cell<Entry<T>>]>,
    len: Cell<usize>,
    counts: Counts,
    /// `!Send` and `!Sync` (the handle already is; this says so locally).
    _thread: PhantomData<*mut ()>,
}

impl<T> fmt::Debug for LocalPool<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPool")
            .field("cached", &self.len.get())
            .field("magazine", &self.magazine.len())
            .finish()
    }
}

impl<'p, T> LocalPool<'p, T> {
    pub(crate) fn new(pool: &'p Pool<T>) -> LocalPool<'p, T> {
        LocalPool {
            pool,
            epoch: pool.collector.register(),
            magazine: (0..pool.config().magazine)
                .map(|_| Cell::new(Entry::EMPTY))
                .collect(),
            len: Cell::new(0),
            counts: Counts::default(),
            _thread: PhantomData,
        }
    }

    /// The pool this front end serves.
    pub fn pool(&self) -> &'p Pool<T> {
        self.pool
    }

    /// A record, growing the pool if needed.
    ///
    /// # Panics
    /// If the pool cannot provide one: it is [bounded](super::Growth::Bounded)
    /// and full, every chunk index is in use, or the allocator refused. Use
    /// [`try_acquire`](LocalPool::try_acquire) to handle that.
    #[inline]
    pub fn acquire(&self) -> Pooled<'_, T> {
        self.try_acquire()
            .expect("pool exhausted: bounded and full, or out of memory")
    }

    /// A record, or `None` if the pool is bounded and every record is taken
    /// (in use, or cached in some thread's magazine), or it cannot grow.
    #[inline]
    pub fn try_acquire(&self) -> Option<Pooled<'_, T>> {
        let len = self.len.get();
        let entry = if len > 0 {
            bump(&self.counts.magazine_hits);
            self.len.set(len - 1);
            self.magazine[len - 1].get()
        } else {
            match self.refill() {
                Some(entry) => entry,
                None => {
                    bump(&self.counts.refused);
                    return None;
                }
            }
        };
        Some(Pooled {
            local: self,
            entry,
            _owns: PhantomData,
        })
    }

    /// The magazine entry of `id`, a record the caller owns.
    fn entry(&self, id: u32) -> Entry<T> {
        let directory = &self.pool.directory;
        let chunk = directory.owned_chunk(id);
        let cell = &chunk.values[directory.split(id).1].0;
        Entry {
            id,
            // `UnsafeCell<T>` has the layout of `T`.
            value: NonNull::from(cell).cast(),
        }
    }

    /// The magazine is empty: refill half of it from the shared list, or
    /// from a new chunk, and return one record.
    #[cold]
    fn refill(&self) -> Option<Entry<T>> {
        let half = (self.magazine.len() / 2).max(1) as u32;
        let chain = {
            let _pinned = self.epoch.pin();
            self.pool.pop_free(half)
        };
        let chain = match chain {
            Some(chain) => {
                bump(&self.counts.global_hits);
                chain
            }
            None => {
                let chain = self.pool.grow()?;
                bump(&self.counts.misses);
                chain
            }
        };
        self.publish_counts();
        // Keep the first `keep` records (return the first, cache the rest)
        // and give the remainder back.
        let keep = chain.len.min(half);
        let mut id = chain.first;
        for _ in 1..keep {
            id = self.pool.directory.next_owned(id);
            self.push_local(self.entry(id));
        }
        if keep < chain.len {
            self.pool.push_free(Chain {
                first: self.pool.directory.next_owned(id),
                last: chain.last,
                len: chain.len - keep,
            });
        }
        Some(self.entry(chain.first))
    }

    #[inline]
    fn push_local(&self, entry: Entry<T>) {
        let len = self.len.get();
        self.magazine[len].set(entry);
        self.len.set(len + 1);
    }

    /// Gives a record back.
    #[inline]
    fn release(&self, entry: Entry<T>) {
        if self.len.get() == self.magazine.len() {
            self.spill(self.magazine.len() / 2);
        }
        self.push_local(entry);
        bump(&self.counts.releases);
    }

    /// Moves the `count` oldest cached records to the shared list.
    #[cold]
    fn spill(&self, count: usize) {
        let len = self.len.get();
        let count = count.min(len);
        if count == 0 {
            return;
        }
        let links = &self.pool.directory;
        for i in 1..count {
            links.set_next(self.magazine[i - 1].get().id, self.magazine[i].get().id);
        }
        self.pool.push_free(Chain {
            first: self.magazine[0].get().id,
            last: self.magazine[count - 1].get().id,
            len: count as u32,
        });
        for i in count..len {
            self.magazine[i - count].set(self.magazine[i].get());
        }
        self.len.set(len - count);
        self.publish_counts();
    }

    /// Returns every cached record to the shared list and publishes this
    /// front end's counts.
    pub fn flush(&self) {
        self.spill(self.len.get());
        self.publish_counts();
    }

    /// Adds this front end's counts to the pool's shared counters.
    fn publish_counts(&self) {
        self.pool.counters.add(self.counts.take());
    }

    /// Records cached in this front end's magazine.
    pub fn cached(&self) -> usize {
        self.len.get()
    }
}

/// A free record as a magazine holds it: its id (for the shared list) and
/// where it lives (so that a magazine hit needs no directory lookup).
struct Entry<T> {
    id: u32,
    value: NonNull<T>,
}

impl<T> Entry<T> {
    const EMPTY: Entry<T> = Entry {
        id: super::stack::NIL,
        value: NonNull::dangling(),
    };
}

// Manual impls: `derive` would require `T: Copy`.
impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Entry<T> {}

/// A front end's counts since it last flushed, one cell each so that the
/// hot paths touch one word (acquires are the sum of the outcomes).
#[derive(Default)]
struct Counts {
    releases: Cell<u64>,
    magazine_hits: Cell<u64>,
    global_hits: Cell<u64>,
    misses: Cell<u64>,
    refused: Cell<u64>,
}

impl Counts {
    fn take(&self) -> LocalCounts {
        let (magazine_hits, global_hits, misses) = (
            self.magazine_hits.take(),
            self.global_hits.take(),
            self.misses.take(),
        );
        LocalCounts {
            acquires: magazine_hits + global_hits + misses,
            releases: self.releases.take(),
            magazine_hits,
            global_hits,
            misses,
            refused: self.refused.take(),
        }
    }
}

#[inline(always)]
fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

impl<T> Drop for LocalPool<'_, T> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A record taken from a pool; it goes back to the [`LocalPool`] it came
/// from when dropped. The only way to release a record, so a record cannot
/// be released twice, or used after release.
pub struct Pooled<'l, T> {
    local: &'l LocalPool<'l, T>,
    entry: Entry<T>,
    /// Owns a `T` for the handle's lifetime.
    _owns: PhantomData<&'l mut T>,
}

impl<T> Pooled<'_, T> {
    /// The record's id in its pool (stable while the handle lives).
    pub fn id(&self) -> u32 {
        self.entry.id
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the free list and magazines hand each record to one handle
        // at a time, and its chunk is not freed while the record is off the
        // free list (see `Directory::owned_chunk`).
        unsafe { self.entry.value.as_ref() }
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { self.entry.value.as_mut() }
    }
}

impl<T> Drop for Pooled<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.local.release(self.entry);
    }
}

impl<T: fmt::Debug> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pooled")
            .field(&self.entry.id)
            .field(&**self)
            .finish()
    }
}
