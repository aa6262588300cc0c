//! A byte budget shared by every shard: the cache's one lock-free piece.
//!
//! Each tier's budget is global (one small budget serves many shards), so
//! reserving bytes must not take a lock: a compare-and-swap loop adds the
//! bytes only if the sum stays within the limit, and releasing subtracts
//! them. The sum of what is reserved is therefore never above the limit,
//! at any instant. The atomics switch to loom's under
//! `--cfg crossbeam_loom` (see `pool::sync`) for the model check below.

use crate::pool::sync::{AtomicUsize, Ordering};

/// Bytes reserved against a fixed limit.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes, none reserved.
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// The limit.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Reserves `bytes` if they fit beside what is reserved.
    pub(crate) fn try_reserve(&self, bytes: usize) -> bool {
        // Relaxed: the counter orders nothing else; read-modify-writes of
        // one location are totally ordered whatever the ordering, so no
        // two reservations can both see the same room.
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            match used.checked_add(bytes) {
                Some(after) if after <= self.limit => {}
                _ => return false,
            }
            match self.used.compare_exchange_weak(
                used,
                used + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Gives back `bytes` reserved earlier.
    pub(crate) fn release(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "released more than was reserved");
    }

    /// Bytes reserved now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(crossbeam_loom)))]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_limit_only() {
        let b = Budget::new(10);
        assert!(b.try_reserve(6));
        assert!(!b.try_reserve(5));
        assert!(b.try_reserve(4));
        assert!(!b.try_reserve(1));
        assert!(!b.try_reserve(usize::MAX));
        b.release(6);
        assert_eq!(b.used(), 4);
        assert!(b.try_reserve(6));
    }
}

/// Every interleaving of threads reserving and releasing: what is reserved
/// never exceeds the limit and all of it comes back. Run with
/// `RUSTFLAGS="--cfg crossbeam_loom" cargo test --release --lib cache::budget`.
#[cfg(all(test, crossbeam_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn reservations_never_exceed_the_limit() {
        loom::model(|| {
            let budget = Arc::new(Budget::new(3));
            let threads: Vec<_> = [2, 2]
                .into_iter()
                .map(|bytes| {
                    let budget = Arc::clone(&budget);
                    thread::spawn(move || {
                        let got = budget.try_reserve(bytes);
                        assert!(budget.used() <= budget.limit());
                        if got {
                            budget.release(bytes);
                        }
                        got
                    })
                })
                .collect();
            let got: Vec<bool> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            assert!(got.contains(&true), "one of two must fit");
            assert_eq!(budget.used(), 0);
        });
    }

    #[test]
    fn both_fit_when_there_is_room() {
        loom::model(|| {
            let budget = Arc::new(Budget::new(4));
            let other = Arc::clone(&budget);
            let t = thread::spawn(move || other.try_reserve(2));
            let mine = budget.try_reserve(2);
            assert!(t.join().unwrap() && mine);
            assert_eq!(budget.used(), 4);
            assert!(!budget.try_reserve(1));
        });
    }
}
