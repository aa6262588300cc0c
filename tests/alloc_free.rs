//! After warm-up, a spreading query makes zero heap allocations, on one
//! thread with its own workspace, on several threads sharing a pool of
//! workspaces and activation records, and on a `ParallelSpreader`'s workers.
//!
//! A counting global allocator wraps the system one; this file holds a single
//! test so no other test thread allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use std::sync::Barrier;

use axonal::graph::Graph;
use axonal::graph::generate::{Rmat, barabasi_albert};
use axonal::pool::{ActivationRecordPool, PoolConfig};
use axonal::spread::{Fan, Seed, SpreadParams, Spreader, SpreaderConfig, pool_results};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Every direction and accumulator: default, dense push only, pull only.
fn hop_configs() -> [SpreaderConfig; 3] {
    [
        SpreaderConfig::for_nodes(1 << 20),
        SpreaderConfig::for_nodes(0)
            .with_pull_fraction(f32::INFINITY)
            .with_sparse_capacity(16),
        SpreaderConfig::for_nodes(1 << 20).with_pull_fraction(-1.0),
    ]
}

/// `count` queries of 8 seeds spread over `n` nodes.
fn queries(n: u32, count: u32) -> Vec<Vec<Seed>> {
    (0..count)
        .map(|q| {
            (0..8)
                .map(|i| Seed::new((q * 7919 + i * 104_729) % n, 1.0))
                .collect()
        })
        .collect()
}

#[test]
fn queries_after_warm_up_do_not_allocate() {
    // Small graphs under Miri, which interprets every instruction.
    let (scale, ba_nodes, query_count) = if cfg!(miri) {
        (5, 60, 3u32)
    } else {
        (14, 5000, 50)
    };
    let rmat = Rmat::graph500(scale).generate();
    let ba = barabasi_albert(ba_nodes, 4, 3);
    let std_params = SpreadParams {
        fan: Fan::Sqrt,
        ..SpreadParams::default()
    };
    let wide = SpreadParams::default();
    for graph in [&rmat, &ba] {
        let n = graph.node_count() as u32;
        for config in hop_configs() {
            let mut spreader = Spreader::with_config(graph.node_count(), config);
            let mut results = Vec::with_capacity(100);
            let queries = queries(n, query_count);
            spreader
                .spread(graph, &queries[0], &wide, &mut results)
                .unwrap();
            let before = ALLOCATIONS.load(Relaxed);
            let mut pulls = 0;
            for (q, seeds) in queries.iter().enumerate() {
                let params = if q % 2 == 0 { &std_params } else { &wide };
                let stats = spreader.spread(graph, seeds, params, &mut results).unwrap();
                pulls += stats.pull_hops;
                assert!(!results.is_empty());
            }
            let after = ALLOCATIONS.load(Relaxed);
            assert_eq!(
                after - before,
                0,
                "{config:?}: {} allocations in {query_count} queries",
                after - before
            );
            if config.pull_fraction < 0.0 {
                assert!(pulls > 0);
            }
        }
    }
    pooled_queries_on_threads_do_not_allocate(&rmat, query_count);
    #[cfg(feature = "parallel")]
    parallel_queries_do_not_allocate(&rmat, query_count);
}

/// A `ParallelSpreader` allocates nothing once its push bins and result
/// buffers have grown to the queries' needs (a first pass over the same
/// queries), through every hop kind; nor does starting work on its workers.
#[cfg(feature = "parallel")]
fn parallel_queries_do_not_allocate(graph: &Graph, query_count: u32) {
    use axonal::machine::workers::Workers;
    use axonal::spread::ParallelSpreader;

    let workers = if cfg!(miri) {
        Workers::unpinned(3)
    } else {
        Workers::new(3)
    }
    .unwrap();
    let n = graph.node_count() as u32;
    let queries = queries(n, query_count);
    let params = SpreadParams::default();
    for config in hop_configs() {
        let mut spreader = ParallelSpreader::with_config(graph, &workers, config);
        let mut results = Vec::with_capacity(100);
        for seeds in &queries {
            spreader
                .spread(graph, seeds, &params, &mut results)
                .unwrap();
        }
        let before = ALLOCATIONS.load(Relaxed);
        for seeds in &queries {
            spreader
                .spread(graph, seeds, &params, &mut results)
                .unwrap();
            assert!(!results.is_empty());
        }
        let after = ALLOCATIONS.load(Relaxed);
        assert_eq!(
            after - before,
            0,
            "{config:?}: {} allocations in {query_count} parallel queries",
            after - before
        );
    }
}

/// Several threads take workspaces and result records from shared pools:
/// once each thread has warmed up, their queries allocate nothing.
fn pooled_queries_on_threads_do_not_allocate(graph: &Graph, query_count: u32) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    let workspaces = Spreader::pool(graph.node_count(), SpreaderConfig::for_nodes(1 << 20));
    let records = ActivationRecordPool::with_default(PoolConfig::default()).unwrap();
    // Peak demand: per thread, 100 results held and a full magazine.
    records.reserve(threads * (100 + PoolConfig::default().magazine));
    let n = graph.node_count() as u32;
    let params = SpreadParams::default();
    // Warmed up / counting starts / queries done / counted (threads drop
    // their front ends, which deregister and may allocate, only after that).
    let barrier = || Barrier::new(threads + 1);
    let (warm, go, done, counted) = (barrier(), barrier(), barrier(), barrier());
    std::thread::scope(|s| {
        for t in 0..threads as u32 {
            let (workspaces, records, params) = (&workspaces, &records, &params);
            let (warm, go, done, counted) = (&warm, &go, &done, &counted);
            s.spawn(move || {
                let (local, local_records) = (workspaces.local(), records.local());
                let mut results = Vec::with_capacity(100);
                let mut kept = Vec::with_capacity(100);
                let seeds: Vec<Vec<Seed>> = (0..query_count)
                    .map(|q| vec![Seed::new((t * 1_000_003 + q * 7919) % n, 1.0)])
                    .collect();
                let mut query = |seeds: &[Seed], q: u64| {
                    let mut spreader = local.acquire();
                    spreader.spread(graph, seeds, params, &mut results).unwrap();
                    kept.clear();
                    pool_results(&results, q, &local_records, &mut kept)
                };
                query(&seeds[0], 0);
                warm.wait();
                go.wait();
                let copied: usize = seeds.iter().zip(1..).map(|(s, q)| query(s, q)).sum();
                done.wait();
                counted.wait();
                assert!(copied > 0);
            });
        }
        warm.wait();
        let before = ALLOCATIONS.load(Relaxed);
        go.wait();
        done.wait();
        let after = ALLOCATIONS.load(Relaxed);
        counted.wait();
        assert_eq!(
            after - before,
            0,
            "{threads} threads: {} allocations in {query_count} pooled queries each",
            after - before
        );
    });
    assert!(workspaces.metrics().records <= threads as u64);
}
