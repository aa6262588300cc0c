//! A counter that many threads add to without a locked instruction.
//!
//! A tier-0 hit is a few nanoseconds of work; an atomic add on a shared
//! counter (a locked read-modify-write, and a cache line that moves between
//! cores) would be a large share of it. [`Counter`] gives each thread a
//! cell of its own that only it writes: an add is a relaxed load and a
//! relaxed store of that cell, and a read sums the cells. Threads take cell
//! indices from a process-wide bit mask when they first count and give
//! them back when they exit (neither allocates); threads beyond [`CELLS`]
//! at once share one extra cell with atomic adds. Sums are exact either
//! way.
//!
//! The index an add reads is a `const` thread-local without a destructor
//! (one load, no lazy-initialisation check); a second thread-local, set up
//! on the thread's first add, gives the index back when the thread exits
//! ([`thread_cell`]).

use core::cell::Cell as LocalCell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Relaxed, Release};

/// Cells with a single writer each.
pub(crate) const CELLS: usize = 64;

/// One cell, alone on its cache line.
#[derive(Default)]
#[repr(align(64))]
struct Cell(AtomicU64);

/// A sum of per-thread cells (see the [module docs](self)).
pub(crate) struct Counter {
    /// One cell per thread index (an array: indexing it checks against a
    /// constant).
    cells: Box<[Cell; CELLS]>,
    /// The cell of threads without an index of their own.
    shared: Cell,
}

impl Default for Counter {
    fn default() -> Counter {
        Counter {
            cells: Box::new(core::array::from_fn(|_| Cell::default())),
            shared: Cell::default(),
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
        match thread_cell().and_then(|index| self.cells.get(index)) {
            // Only this thread writes this cell while it holds the index.
            Some(cell) => cell.0.store(cell.0.load(Relaxed) + 1, Relaxed),
            None => {
                self.shared.0.fetch_add(1, Relaxed);
            }
        }
    }

    /// The sum (each cell read once; adds in flight may be missed).
    pub(crate) fn get(&self) -> u64 {
        let own: u64 = self.cells.iter().map(|c| c.0.load(Relaxed)).sum();
        own + self.shared.0.load(Relaxed)
    }
}

/// The calling thread's cell index (below [`CELLS`]), taken on its first
/// call; `None` for a thread beyond [`CELLS`] at once, or exiting.
#[inline]
pub(crate) fn thread_cell() -> Option<usize> {
    let index = INDEX.get();
    if index < CELLS {
        Some(index)
    } else {
        take_cell()
    }
}

/// [`thread_cell`] for a thread without an index: takes one if it never
/// had one.
#[cold]
fn take_cell() -> Option<usize> {
    // Sets `INDEX` (to `SHARED` if every cell is taken); fails if the
    // thread's locals are being torn down.
    if INDEX.get() == UNTAKEN && HOLDER.try_with(|_| ()).is_err() {
        INDEX.set(SHARED);
    }
    Some(INDEX.get()).filter(|&index| index < CELLS)
}

/// `INDEX` of a thread that has not counted yet.
const UNTAKEN: usize = usize::MAX;

/// `INDEX` of a thread that counts in the shared cell.
const SHARED: usize = CELLS;

/// Cells a living thread holds: bit `i` for cell `i` (a bit mask, so
/// taking and giving back a cell never allocates). A cell changes hands
/// through it: the giver's release, the taker's acquire, so that the
/// giver's last add happens before the taker's first.
static TAKEN: AtomicU64 = AtomicU64::new(0);

const _: () = assert!(CELLS <= 64, "one bit per cell");

/// Holds the calling thread's cell index while the thread lives.
struct Holder {
    index: usize,
}

impl Holder {
    /// Takes a free cell (or the shared one) for the calling thread.
    fn take() -> Holder {
        let mut taken = TAKEN.load(Relaxed);
        let index = loop {
            let index = (!taken).trailing_zeros() as usize;
            if index >= CELLS {
                break SHARED;
            }
            match TAKEN.compare_exchange_weak(taken, taken | 1 << index, AcqRel, Relaxed) {
                Ok(_) => break index,
                Err(now) => taken = now,
            }
        };
        INDEX.set(index);
        Holder { index }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // Later adds of this thread (other locals' destructors) go to the
        // shared cell.
        INDEX.set(SHARED);
        if self.index < CELLS {
            // The thread no longer writes the cell: free it for others.
            TAKEN.fetch_and(!(1 << self.index), Release);
        }
    }
}

thread_local! {
    /// The calling thread's cell: [`UNTAKEN`], an index below [`CELLS`],
    /// or [`SHARED`].
    static INDEX: LocalCell<usize> = const { LocalCell::new(UNTAKEN) };
    /// Gives the index back when the thread exits.
    static HOLDER: Holder = Holder::take();
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
