//! Many threads acquiring and releasing records with random holding times:
//! no record is ever held by two owners, every record comes back, and a
//! bounded pool never holds more than its capacity; and more threads than a
//! bounded pool can serve, all holding at once: exactly its capacity is
//! handed out, and every acquisition beyond it is refused.

use std::sync::Barrier;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use axonal::graph::generate::SplitMix64;
use axonal::pool::{Growth, Pool, PoolConfig};

/// A record that knows its owner (0 when free).
#[derive(Default)]
struct Tagged {
    owner: AtomicU32,
}

fn threads() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut counts = vec![2, cores.max(2)];
    counts.dedup();
    counts
}

/// Each thread runs `ops` acquire-or-release steps, holding up to `max_held`
/// records at once, and checks every record it gets is unowned.
fn hammer(pool: &Pool<Tagged>, threads: usize, ops: usize, max_held: usize) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let me = t as u32 + 1;
                let local = pool.local();
                let mut rng = SplitMix64::new(t as u64 * 7919 + 1);
                let mut held = Vec::with_capacity(max_held);
                for _ in 0..ops {
                    let take = held.is_empty() || (held.len() < max_held && rng.below(2) == 0);
                    if take {
                        if let Some(record) = local.try_acquire() {
                            let was = record.owner.swap(me, Ordering::Relaxed);
                            assert_eq!(was, 0, "record {} handed out twice", record.id());
                            held.push(record);
                        }
                    } else {
                        let i = rng.below(held.len() as u64) as usize;
                        let record = held.swap_remove(i);
                        assert_eq!(record.owner.swap(0, Ordering::Relaxed), me);
                    }
                    if rng.below(10_000) == 0 {
                        local.flush();
                    }
                }
                for record in held.drain(..) {
                    assert_eq!(record.owner.swap(0, Ordering::Relaxed), me);
                }
            });
        }
    });
}

fn ops() -> usize {
    if cfg!(miri) { 300 } else { 1_000_000 }
}

#[test]
fn bounded_pool_under_contention() {
    for threads in threads() {
        let capacity = 512;
        let config = PoolConfig::default()
            .with_chunk_len(64)
            .with_magazine(16)
            .with_growth(Growth::Bounded { capacity })
            .with_max_records(capacity);
        let pool = Pool::new(config, Tagged::default).unwrap();
        hammer(&pool, threads, ops(), 200);
        let m = pool.metrics();
        assert!(m.high_water <= capacity as u64, "{m:?}");
        assert!(m.records <= capacity as u64);
        assert_eq!(m.acquires, m.releases, "every record came back: {m:?}");
        assert_eq!((m.in_use, m.checked_out), (0, 0), "{m:?}");
    }
}

/// Whether the bound bites does not depend on the schedule here: nothing is
/// released until every thread has been refused, so the threads together must
/// end up holding every record, and none beyond.
#[test]
fn bounded_pool_refuses_beyond_its_capacity_while_every_record_is_held() {
    let capacity = if cfg!(miri) { 96 } else { 512 };
    // Each thread alone would take more than its share, on any machine.
    let threads = 4;
    let config = PoolConfig::default()
        .with_chunk_len(32)
        .with_magazine(8)
        .with_growth(Growth::Bounded { capacity })
        .with_max_records(capacity);
    let pool = Pool::new(config, Tagged::default).unwrap();
    let all_refused = Barrier::new(threads);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (pool, all_refused, total) = (&pool, &all_refused, &total);
            s.spawn(move || {
                let me = t as u32 + 1;
                let local = pool.local();
                let mut held = Vec::new();
                let mut twice = 0;
                // Acquire until refused; release nothing. (No assertion
                // before the barriers: a panicking thread would leave the
                // others waiting there.)
                while let Some(record) = local.try_acquire() {
                    twice += usize::from(record.owner.swap(me, Ordering::Relaxed) != 0);
                    held.push(record);
                    if held.len() > capacity {
                        break;
                    }
                }
                total.fetch_add(held.len(), Ordering::Relaxed);
                all_refused.wait();
                // Every record is held now (the last thread refused had
                // drained the shared list and its own magazine), so nobody
                // gets another, from this front end or a fresh one.
                let everything = total.load(Ordering::Relaxed);
                let again = local.try_acquire().is_some();
                let fresh = pool.local().try_acquire().is_some();
                all_refused.wait();
                for record in held.drain(..) {
                    assert_eq!(record.owner.swap(0, Ordering::Relaxed), me);
                }
                assert_eq!(twice, 0, "thread {t}: records handed out twice");
                assert_eq!(everything, capacity, "records held by all threads at once");
                assert!(!again, "thread {t}: a record beyond the capacity");
                assert!(
                    !fresh,
                    "thread {t}: a record beyond the capacity (fresh front end)"
                );
            });
        }
    });
    let m = pool.metrics();
    assert_eq!(
        (m.records, m.high_water),
        (capacity as u64, capacity as u64),
        "{m:?}"
    );
    assert_eq!((m.in_use, m.checked_out), (0, 0), "{m:?}");
}

#[test]
fn growing_pool_under_contention_with_shrinks() {
    for threads in threads() {
        let config = PoolConfig::default()
            .with_chunk_len(32)
            .with_magazine(8)
            .with_growth(Growth::Grow)
            .with_max_records(1 << 14);
        let pool = Pool::new(config, Tagged::default).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| hammer(&pool, threads, ops(), 64));
            s.spawn(|| {
                for _ in 0..if cfg!(miri) { 3 } else { 200 } {
                    pool.shrink();
                    std::thread::yield_now();
                }
            });
        });
        let m = pool.metrics();
        assert_eq!(m.acquires, m.releases, "{m:?}");
        assert_eq!((m.in_use, m.checked_out), (0, 0), "{m:?}");
        // Per thread: 64 held, 8 cached, and one chunk's chain in transit
        // between a grow and the push of its surplus.
        assert!(m.high_water <= (threads * (64 + 8 + 32)) as u64, "{m:?}");
        pool.shrink();
        assert_eq!(pool.metrics().records, 0, "all chunks free at the end");
    }
}
