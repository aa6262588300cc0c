//! The shared free list: a lock-free stack of slot ids (Treiber's stack).
//!
//! Slots are named by `u32` ids, and each slot's "next" link lives in its
//! chunk (see [`Links`]), so pushing and popping never allocate. The head is
//! one `u64`: the top id and a 32-bit tag incremented by every successful
//! update.
//!
//! **ABA.** A pop reads the head `A`, then `A`'s link `B`, then swings the
//! head from `A` to `B`. If meanwhile `A` was popped, other slots moved, and
//! `A` was pushed back, a pointer-only head would still read `A` and the swing
//! would install a stale `B`. Here that swing compares the tag too, and the tag
//! has moved on with every intervening push and pop. **Reclamation** is the
//! other half: the link of `A` lives in `A`'s chunk, which `Pool::shrink` may
//! free while a popper still holds `A`. Poppers read links only while pinned
//! to the pool's `crossbeam-epoch` collector, and `shrink` frees chunks
//! through that collector, so a chunk outlives every pop that could still read
//! it.
//!
//! **The ABA bound, exactly.** Every successful update of the head (a push, a
//! pop, a `take_all`) adds 1 to the tag, modulo `2^32`. A pop that loaded
//! `(tag t, top A)` and then sees `k` other updates before its compare-exchange
//! finds the tag `t + k mod 2^32`; the compare-exchange wrongly succeeds only
//! if `k` is a non-zero multiple of `2^32` (at least 4,294,967,296 updates)
//! *and* `A` is on top again at that instant. Only then can a record be
//! handed out twice (or free records be lost). The window is one pop: its
//! load, at most `magazine / 2` link reads, its compare-exchange. Every update
//! is a magazine refill or spill, a grown chunk's surplus, or a shrink, so
//! other threads must trade with the shared list 2^32 times while one thread
//! is stopped inside that window: even at 10 ns per update (faster than one
//! contended compare-exchange), 43 s of non-stop trading while that thread is
//! descheduled, stopped (`SIGSTOP`, a debugger, a paused VM) or starved. It is
//! improbable, not impossible.
//!
//! **Why not impossible.** No design found makes it impossible at no cost:
//! - A wider tag (128-bit compare-exchange: `cmpxchg16b`, `casp`) is not in
//!   every target's baseline (x86-64 v1 lacks it; Rust has no stable
//!   `AtomicU128`; emulations take a lock), and is still a bound, only a
//!   larger one. The 64-bit head has no spare bits: ids use all 32 (pools of
//!   up to `u32::MAX - 1` records).
//! - Deferring reuse by epoch, as `crossbeam-epoch` does for pointers (a popped
//!   id goes back on the list only once every thread pinned at the time has
//!   unpinned): released records would wait in limbo, which a bounded pool
//!   must count as taken (refusing acquires meanwhile), and
//!   `crossbeam-epoch`'s `defer` allocates when its bags fill, breaking
//!   allocation-free recycling.
//! - Hazard ids (each pop publishes its top id with a `SeqCst` fence; each
//!   push scans every thread's published id): a fence and a scan on every
//!   magazine trade, and per-thread registration.
//! - A grace period at tag boundaries (before an update makes the tag a
//!   multiple of `2^31`, wait until every thread pinned at that moment has
//!   unpinned; two boundaries per wrap, because a pop may load during the
//!   wait): impossible ABA at no cost on the magazine path, but the pool stops
//!   being lock-free: one thread stalled inside a pop (the very case above)
//!   would block every trade with the shared list at the next boundary. It
//!   also needs a grace-period wait that `crossbeam-epoch` does not offer
//!   (only `defer` and flushing in a loop). This trades a safety bound for a
//!   progress bound; it is left as an option, not taken here.
use super::sync::{AtomicU64, Ordering};

/// The id that ends a chain and marks the empty stack.
pub(crate) const NIL: u32 = u32::MAX;

/// Where the links of slot ids live.
pub(crate) trait Links {
    /// The link of `id`, or `None` if `id`'s chunk is gone (a concurrent
    /// shrink freed it; the caller's compare-exchange will then fail).
    fn next(&self, id: u32) -> Option<u32>;
    /// Sets the link of `id`, a slot the caller owns.
    fn set_next(&self, id: u32, next: u32);
}

/// A chain of slots, linked through [`Links`]: `first` to `last`, `len` slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chain {
    pub(crate) first: u32,
    pub(crate) last: u32,
    pub(crate) len: u32,
}

pub(crate) struct FreeStack {
    /// `tag << 32 | top id`.
    head: AtomicU64,
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

fn pack(tag: u32, id: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(id)
}

impl FreeStack {
    pub(crate) fn new() -> FreeStack {
        FreeStack {
            head: AtomicU64::new(pack(0, NIL)),
        }
    }

    /// Pushes a chain the caller owns (its links already joined, `last`'s
    /// link about to be overwritten).
    pub(crate) fn push(&self, chain: Chain, links: &impl Links) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let (tag, top) = unpack(head);
            links.set_next(chain.last, top);
            // Release: the links just written (and the slots' contents) are
            // visible to whoever pops these slots.
            match self.head.compare_exchange_weak(
                head,
                pack(tag.wrapping_add(1), chain.first),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Pops up to `max` slots as one chain, with one compare-exchange. The
    /// caller must be pinned (see the module docs) while this runs.
    pub(crate) fn pop(&self, max: u32, links: &impl Links) -> Option<Chain> {
        debug_assert!(max > 0);
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (tag, top) = unpack(head);
            if top == NIL {
                return None;
            }
            // Walk up to `max` links. If the head is unchanged when the
            // compare-exchange runs, none of these slots was popped (a pop
            // moves the head), so the walked chain is the stack's own.
            let (mut last, mut len) = (top, 1);
            let mut rest = links.next(last);
            while len < max {
                match rest {
                    Some(next) if next != NIL => {
                        last = next;
                        len += 1;
                        rest = links.next(next);
                    }
                    _ => break,
                }
            }
            if let Some(rest) = rest {
                // Acquire: pairs with the Release of the push that made these
                // slots free, so their links and contents are visible.
                match self.head.compare_exchange_weak(
                    head,
                    pack(tag.wrapping_add(1), rest),
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        return Some(Chain {
                            first: top,
                            last,
                            len,
                        });
                    }
                    Err(now) => head = now,
                }
            } else {
                // A chunk on the walk was freed: the head has moved on.
                head = self.head.load(Ordering::Acquire);
            }
        }
    }

    /// Takes the whole stack (for `shrink`), leaving it empty.
    pub(crate) fn take_all(&self) -> u32 {
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (tag, top) = unpack(head);
            if top == NIL {
                return NIL;
            }
            match self.head.compare_exchange_weak(
                head,
                pack(tag.wrapping_add(1), NIL),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return top,
                Err(now) => head = now,
            }
        }
    }
}

#[cfg(all(test, not(crossbeam_loom)))]
mod tests {
    use super::*;
    use crate::pool::sync::AtomicU32;
    use alloc::vec::Vec;

    struct Array(Vec<AtomicU32>);

    impl Links for Array {
        fn next(&self, id: u32) -> Option<u32> {
            Some(self.0[id as usize].load(Ordering::Relaxed))
        }
        fn set_next(&self, id: u32, next: u32) {
            self.0[id as usize].store(next, Ordering::Relaxed);
        }
    }

    fn chain(links: &Array, ids: &[u32]) -> Chain {
        for pair in ids.windows(2) {
            links.set_next(pair[0], pair[1]);
        }
        Chain {
            first: ids[0],
            last: *ids.last().unwrap(),
            len: ids.len() as u32,
        }
    }

    fn drain(stack: &FreeStack, links: &Array, max: u32) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(c) = stack.pop(max, links) {
            let mut id = c.first;
            for _ in 0..c.len {
                out.push(id);
                id = links.next(id).unwrap();
            }
            assert_eq!(out.last(), Some(&c.last));
        }
        out
    }

    #[test]
    fn pushes_and_pops_chains_last_in_first_out() {
        let links = Array((0..10).map(|_| AtomicU32::new(NIL)).collect());
        let stack = FreeStack::new();
        assert_eq!(stack.pop(4, &links), None);
        stack.push(chain(&links, &[0, 1, 2]), &links);
        stack.push(chain(&links, &[5, 6]), &links);
        stack.push(chain(&links, &[9]), &links);
        let c = stack.pop(2, &links).unwrap();
        assert_eq!((c.first, c.last, c.len), (9, 5, 2));
        assert_eq!(drain(&stack, &links, 3), [6, 0, 1, 2]);
    }

    #[test]
    fn take_all_empties_the_stack() {
        let links = Array((0..4).map(|_| AtomicU32::new(NIL)).collect());
        let stack = FreeStack::new();
        assert_eq!(stack.take_all(), NIL);
        stack.push(chain(&links, &[3, 1]), &links);
        assert_eq!(stack.take_all(), 3);
        assert_eq!(links.next(3), Some(1));
        assert_eq!(links.next(1), Some(NIL));
        assert_eq!(stack.pop(1, &links), None);
    }

    #[test]
    fn tags_change_on_every_update() {
        let links = Array((0..2).map(|_| AtomicU32::new(NIL)).collect());
        let stack = FreeStack::new();
        let before = stack.head.load(Ordering::Relaxed);
        stack.push(chain(&links, &[0]), &links);
        stack.pop(1, &links).unwrap();
        // Same top (empty) again, different tag: a stale compare-exchange fails.
        let after = stack.head.load(Ordering::Relaxed);
        assert_eq!(unpack(before).1, unpack(after).1);
        assert_ne!(before, after);
    }
}
