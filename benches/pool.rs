//! Record pools: one 64-byte record acquired and released, on one thread and
//! on two at once, against `Box` (the system allocator) and the pool crates
//! `sharded-slab` and `lockfree-object-pool`, in the same run; and
//! `register_only`, a probe that touches no memory: how far its throughput
//! scales from one thread to two is how far this machine lets any loop
//! scale, the bound of the pools' 2-thread figures.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use axonal::pool::{ActivationRecord, ActivationRecordPool, PoolConfig};
use criterion::{Criterion, Throughput, criterion_group};
use lockfree_object_pool::LinearObjectPool;
use sharded_slab::Clear;

/// `sharded_slab::Pool` wants its entries to know how to clear themselves.
#[derive(Default)]
struct Slab(ActivationRecord);

impl Clear for Slab {
    fn clear(&mut self) {}
}

/// The pools under test, shared by the threads that use them.
struct Pools {
    axonal: ActivationRecordPool,
    slab: sharded_slab::Pool<Slab>,
    linear: LinearObjectPool<ActivationRecord>,
}

impl Pools {
    fn new() -> Pools {
        Pools {
            axonal: ActivationRecordPool::with_default(PoolConfig::default()).unwrap(),
            slab: sharded_slab::Pool::new(),
            linear: LinearObjectPool::new(ActivationRecord::default, |_| {}),
        }
    }
}

/// `n` acquire + release pairs of one contender, each record touched once.
fn run(pools: &Pools, name: &str, n: u64) {
    match name {
        "axonal" => {
            let local = pools.axonal.local();
            for i in 0..n {
                let mut r = local.acquire();
                r.node = i as u32;
                black_box(&*r);
            }
        }
        "box" => {
            for i in 0..n {
                let mut r = Box::new(ActivationRecord::default());
                r.node = i as u32;
                black_box(&*r);
            }
        }
        "sharded_slab" => {
            for i in 0..n {
                let mut r = pools.slab.create().unwrap();
                r.0.node = i as u32;
                let key = r.key();
                black_box(&*r);
                drop(r);
                pools.slab.clear(key);
            }
        }
        "register_only" => {
            // A dependent multiply-add per iteration (about a pool pair's
            // length), in registers: no loads, no stores, nothing shared.
            let mut x = 1u64;
            for i in 0..n {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i);
            }
            black_box(x);
        }
        "lockfree_object_pool" => {
            for i in 0..n {
                let mut r = pools.linear.pull();
                r.node = i as u32;
                black_box(&*r);
            }
        }
        _ => unreachable!(),
    }
}

const CONTENDERS: [&str; 5] = [
    "axonal",
    "box",
    "sharded_slab",
    "lockfree_object_pool",
    "register_only",
];

/// One group: each contender's acquire + release pairs on `threads`
/// threads at once, sharing one pool (throughput counts every thread's).
fn bench(c: &mut Criterion, group_name: &str, threads: usize) {
    let pools = Pools::new();
    let mut group = c.benchmark_group(group_name);
    group
        .throughput(Throughput::Elements(threads as u64))
        .measurement_time(Duration::from_secs(3));
    for name in CONTENDERS {
        // Warm each pool up, then time batches on a front end made once per
        // batch (what a worker thread does).
        run(&pools, name, 1000);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                if threads == 1 {
                    run(&pools, name, iters);
                } else {
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| run(&pools, name, iters));
                        }
                    });
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn acquire_release(c: &mut Criterion) {
    bench(c, "pool/acquire_release", 1);
}

fn acquire_release_2t(c: &mut Criterion) {
    bench(c, "pool/acquire_release_2t", 2);
}

criterion_group!(benches, acquire_release, acquire_release_2t);
common::bench_main!(benches);
