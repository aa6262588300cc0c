//! Model checks of the pool's lock-free paths with loom: every interleaving
//! of 2-3 threads acquiring, releasing, trading with the shared list and
//! shrinking. Run with:
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg crossbeam_loom" \
//!     cargo test --release --test pool_loom
//! ```
#![cfg(crossbeam_loom)]

use std::sync::atomic::{AtomicU32, Ordering};

use axonal::pool::{Growth, Pool, PoolConfig};
use loom::sync::Arc;
use loom::thread;

/// Tiny chunks and magazines, so that a few operations already trade with
/// the shared list, grow and refuse.
fn pool(capacity: usize) -> Arc<Pool<AtomicU32>> {
    let config = PoolConfig::default()
        .with_chunk_len(2)
        .with_magazine(2)
        .with_growth(Growth::Bounded { capacity })
        .with_max_records(capacity);
    Arc::new(Pool::new(config, || AtomicU32::new(0)).unwrap())
}

/// Takes `n` (1 or 2) records, checking each is unowned, then gives them back.
fn work(pool: &Pool<AtomicU32>, me: u32, n: usize) {
    let local = pool.local();
    let a = local.try_acquire();
    let b = if n > 1 { local.try_acquire() } else { None };
    for r in [&a, &b].into_iter().flatten() {
        assert_eq!(r.swap(me, Ordering::Relaxed), 0, "record handed out twice");
    }
    for r in [a, b].into_iter().flatten() {
        assert_eq!(r.swap(0, Ordering::Relaxed), me);
    }
    // Dropping `local` flushes its magazine to the shared list.
}

fn balanced(pool: &Pool<AtomicU32>, capacity: u64) {
    let m = pool.metrics();
    assert_eq!(m.acquires, m.releases, "{m:?}");
    assert_eq!((m.in_use, m.checked_out), (0, 0), "{m:?}");
    assert!(m.high_water <= capacity, "{m:?}");
}

#[test]
fn two_threads_acquire_and_release() {
    loom::model(|| {
        let pool = pool(3);
        let other = {
            let pool = pool.clone();
            thread::spawn(move || work(&pool, 1, 2))
        };
        work(&pool, 2, 2);
        other.join().unwrap();
        balanced(&pool, 3);
    });
}

#[test]
fn shrink_races_acquire_and_release() {
    loom::model(|| {
        let pool = pool(4);
        // Free records on the shared list, so that the worker's first
        // acquire pops while the shrink may free the chunks it reads.
        pool.reserve(4);
        let shrinker = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.shrink();
            })
        };
        work(&pool, 1, 2);
        shrinker.join().unwrap();
        balanced(&pool, 4);
        pool.shrink();
        assert_eq!(pool.metrics().records, 0);
    });
}

#[test]
fn three_threads_two_workers_and_a_shrink() {
    loom::model(|| {
        let pool = pool(4);
        let workers: Vec<_> = (1..=2)
            .map(|me| {
                let pool = pool.clone();
                thread::spawn(move || work(&pool, me, 1))
            })
            .collect();
        pool.shrink();
        for w in workers {
            w.join().unwrap();
        }
        balanced(&pool, 4);
    });
}
