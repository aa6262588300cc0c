//! After warm-up, a spreading query makes zero heap allocations.
//!
//! A counting global allocator wraps the system one; this file holds a single
//! test so no other test thread allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use axonal::graph::generate::{Rmat, barabasi_albert};
use axonal::spread::{Fan, Seed, SpreadParams, Spreader, SpreaderConfig};

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
        // Every direction and accumulator: default, dense push only, pull only.
        for config in [
            SpreaderConfig::for_nodes(1 << 20),
            SpreaderConfig {
                pull_fraction: f32::INFINITY,
                sparse_capacity: 16,
            },
            SpreaderConfig {
                pull_fraction: -1.0,
                ..SpreaderConfig::for_nodes(1 << 20)
            },
        ] {
            let mut spreader = Spreader::with_config(graph.node_count(), config);
            let mut results = Vec::with_capacity(100);
            let queries: Vec<Vec<Seed>> = (0..query_count)
                .map(|q| {
                    (0..8)
                        .map(|i| Seed::new((q * 7919 + i * 104_729) % n, 1.0))
                        .collect()
                })
                .collect();
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
}
