//! Chunks: records allocated in bulk, and the directory that names them.
//!
//! A slot id is `chunk index << shift | offset`. The directory maps a chunk
//! index to its chunk; entries are installed by `grow` and cleared by
//! `shrink`, which hands the chunk to the epoch collector instead of freeing
//! it at once (see `stack.rs` for why).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ptr;

use super::stack::{Links, NIL};
use super::sync::{AtomicPtr, AtomicU32, Ordering};

/// One record, alone on its cache line(s): records used by different
/// threads never share a line.
#[repr(C, align(64))]
pub(crate) struct Line<T>(pub(crate) UnsafeCell<T>);

/// `slots` records and their free-list links, allocated together.
pub(crate) struct Chunk<T> {
    /// Records in use: the first `slots` of `values` (the last chunk of a
    /// bounded pool may be partly used).
    pub(crate) slots: u32,
    links: Box<[AtomicU32]>,
    pub(crate) values: Box<[Line<T>]>,
}

impl<T> Chunk<T> {
    /// A chunk of `slots` records made by `init`, or `None` if the
    /// allocator refuses.
    pub(crate) fn new(slots: u32, init: &dyn Fn() -> T) -> Option<Box<Chunk<T>>> {
        let n = slots as usize;
        let mut links = Vec::new();
        links.try_reserve_exact(n).ok()?;
        links.extend((0..n).map(|_| AtomicU32::new(NIL)));
        let mut values = Vec::new();
        values.try_reserve_exact(n).ok()?;
        values.extend((0..n).map(|_| Line(UnsafeCell::new(init()))));
        Some(Box::new(Chunk {
            slots,
            links: links.into_boxed_slice(),
            values: values.into_boxed_slice(),
        }))
    }

    pub(crate) fn bytes(&self) -> usize {
        core::mem::size_of::<Self>()
            + self.links.len() * core::mem::size_of::<AtomicU32>()
            + self.values.len() * core::mem::size_of::<Line<T>>()
    }
}

/// Chunk index -> chunk.
pub(crate) struct Directory<T> {
    shift: u32,
    entries: Box<[AtomicPtr<Chunk<T>>]>,
}

impl<T> Directory<T> {
    pub(crate) fn new(chunks: usize, chunk_len: u32) -> Directory<T> {
        debug_assert!(chunk_len.is_power_of_two());
        Directory {
            shift: chunk_len.trailing_zeros(),
            entries: (0..chunks)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn chunk_len(&self) -> u32 {
        1 << self.shift
    }

    /// The id of slot `offset` of chunk `index`.
    pub(crate) fn id(&self, index: usize, offset: u32) -> u32 {
        ((index as u32) << self.shift) | offset
    }

    /// Chunk index and offset of `id`.
    pub(crate) fn split(&self, id: u32) -> (usize, usize) {
        (
            (id >> self.shift) as usize,
            (id & (self.chunk_len() - 1)) as usize,
        )
    }

    /// The chunk at `index` (null if none). Acquire: a chunk installed by
    /// another thread is seen fully built.
    pub(crate) fn load(&self, index: usize) -> *mut Chunk<T> {
        self.entries
            .get(index)
            .map_or(ptr::null_mut(), |e| e.load(Ordering::Acquire))
    }

    /// Installs `chunk` in the first empty entry and returns its index, or
    /// drops it and returns `None` if every entry is taken.
    pub(crate) fn install(&self, chunk: Box<Chunk<T>>) -> Option<usize> {
        let raw = Box::into_raw(chunk);
        for (index, entry) in self.entries.iter().enumerate() {
            if entry
                .compare_exchange(ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Some(index);
            }
        }
        // SAFETY: `raw` came from `Box::into_raw` above and was not published.
        drop(unsafe { Box::from_raw(raw) });
        None
    }

    /// Clears entry `index`, returning the chunk it held (null if none).
    pub(crate) fn take(&self, index: usize) -> *mut Chunk<T> {
        self.entries[index].swap(ptr::null_mut(), Ordering::AcqRel)
    }

    /// The chunk holding `id`, which the caller owns (in use, or taken off
    /// the free list): its chunk cannot be freed meanwhile.
    pub(crate) fn owned_chunk(&self, id: u32) -> &Chunk<T> {
        let chunk = self.load(self.split(id).0);
        debug_assert!(!chunk.is_null());
        // SAFETY: a chunk is freed only by `shrink`, and only once every one of
        // its slots is on the free list; `id` is not, so the chunk is alive
        // for as long as the caller owns `id`.
        unsafe { &*chunk }
    }
}

impl<T> Directory<T> {
    /// The link of `id`, a record the caller owns.
    pub(crate) fn next_owned(&self, id: u32) -> u32 {
        let offset = self.split(id).1;
        self.owned_chunk(id).links[offset].load(Ordering::Relaxed)
    }
}

impl<T> Links for Directory<T> {
    fn next(&self, id: u32) -> Option<u32> {
        let (index, offset) = self.split(id);
        let chunk = self.load(index);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: the caller is pinned (`FreeStack::pop`'s contract) and
        // `shrink` frees chunks through the epoch collector after clearing
        // their entry, so a chunk read from the directory stays allocated
        // until the caller unpins. Its contents may be stale; the pop's
        // compare-exchange then fails.
        let chunk = unsafe { &*chunk };
        chunk.links.get(offset).map(|l| l.load(Ordering::Relaxed))
    }

    fn set_next(&self, id: u32, next: u32) {
        let offset = self.split(id).1;
        self.owned_chunk(id).links[offset].store(next, Ordering::Relaxed);
    }
}

impl<T> Drop for Directory<T> {
    fn drop(&mut self) {
        for entry in self.entries.iter() {
            let chunk = entry.swap(ptr::null_mut(), Ordering::Acquire);
            if !chunk.is_null() {
                // SAFETY: the directory is being dropped, so nobody else can
                // reach the chunk; it came from `Box::into_raw` in `install`.
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}
