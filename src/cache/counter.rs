//! A counter that many threads add to without a locked instruction.
//!
//! A tier-0 hit is a few nanoseconds of work; an atomic add on a shared
//! counter (a locked read-modify-write, and a cache line that moves between
//! cores) would be a large share of it. [`Counter`] gives each thread a
//! cell of its own that only it writes: an add is a relaxed load and a
//! relaxed store of that cell, and a read sums the cells. Threads take cell
//! indices from a process-wide bit mask when they first count and give
//! them back when they exit (neither allocates); threads beyond [`CELLS`] at once share one
//! extra cell with atomic adds. Sums are exact either way.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, PoisonError};

/// Cells with a single writer each.
pub(crate) const CELLS: usize = 64;

/// One cell, alone on its cache line.
#[derive(Default)]
#[repr(align(64))]
struct Cell(AtomicU64);

/// A sum of per-thread cells (see the [module docs](self)).
pub(crate) struct Counter {
    /// `CELLS` single-writer cells, then the shared one.
    cells: Box<[Cell]>,
}

impl Default for Counter {
    fn default() -> Counter {
        Counter {
            cells: (0..=CELLS).map(|_| Cell::default()).collect(),
        }
    }
}

impl core::fmt::Debug for Counter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Counter").field(&self.get()).finish()
    }
}

impl Counter {
    /// Adds one.
    #[inline]
    pub(crate) fn bump(&self) {
        // (A thread counting while its thread-locals are torn down uses
        // the shared cell.)
        let index = THREAD_CELL.try_with(|cell| cell.index).unwrap_or(CELLS);
        match self.cells.get(index) {
            // Only this thread writes this cell while it holds the index.
            Some(cell) if index < CELLS => cell.0.store(cell.0.load(Relaxed) + 1, Relaxed),
            _ => {
                self.cells[CELLS].0.fetch_add(1, Relaxed);
            }
        }
    }

    /// The sum (each cell read once; adds in flight may be missed).
    pub(crate) fn get(&self) -> u64 {
        self.cells.iter().map(|c| c.0.load(Relaxed)).sum()
    }
}

/// Cells a living thread holds: bit `i` for cell `i` (a bit mask, so
/// taking and giving back a cell never allocates).
static TAKEN: Mutex<u64> = Mutex::new(0);

const _: () = assert!(CELLS <= 64, "one bit per cell");

/// The calling thread's cell index, given back when the thread exits.
struct ThreadCell {
    index: usize,
}

impl ThreadCell {
    fn take() -> ThreadCell {
        let mut taken = TAKEN.lock().unwrap_or_else(PoisonError::into_inner);
        let index = (!*taken).trailing_zeros() as usize;
        if index < CELLS {
            *taken |= 1 << index;
        }
        ThreadCell {
            index: index.min(CELLS),
        }
    }
}

impl Drop for ThreadCell {
    fn drop(&mut self) {
        if self.index < CELLS {
            // The thread is done: no later add of it can touch the cell.
            *TAKEN.lock().unwrap_or_else(PoisonError::into_inner) &= !(1 << self.index);
        }
    }
}

thread_local! {
    static THREAD_CELL: ThreadCell = ThreadCell::take();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_exact_across_threads_and_thread_churn() {
        let counter = Counter::default();
        // More threads over the test than cells: indices are recycled, and
        // threads beyond the cells (at once) share the atomic one.
        let rounds = if cfg!(miri) { 2 } else { 4 };
        let (threads, adds) = if cfg!(miri) {
            (3, 50)
        } else {
            (CELLS + 8, 2000)
        };
        for _ in 0..rounds {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| (0..adds).for_each(|_| counter.bump()));
                }
            });
        }
        assert_eq!(counter.get(), (rounds * threads * adds) as u64);
    }
}
