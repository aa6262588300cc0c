//! Spreading benches: the standard workloads against `baseline` and `sprs`,
//! in one run. Criterion IDs are fixed (see the README) so runs compare.
//!
//! axonal runs on the degree-reordered graph (its layout), `baseline` on the
//! graph as generated, with the same queries (seeds mapped through the
//! permutation); `sprs` gets the very arrays axonal's dense hop reads.

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::graph::CsrView;
use axonal::graph::{Graph, generate};
use axonal::machine::workers::Workers;
use axonal::spread::{
    Activation, ConcurrentSpreader, Decay, Fan, MAX_HOPS, ParallelSpreader, QueryJob, Seed,
    SpreadParams, Spreader, SpreaderConfig, Threshold, dense_hop,
};
use common::baseline::Baseline;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// Runs `queries` on a fresh spreader; returns the edges they traverse.
fn edges_of(graph: &Graph, queries: &[Vec<Seed>], params: &SpreadParams) -> u64 {
    let mut s = Spreader::new(graph.node_count());
    let mut out = Vec::new();
    queries
        .iter()
        .map(|q| {
            s.spread(graph, q, params, &mut out)
                .unwrap()
                .edges_traversed
        })
        .sum()
}

/// Checks that baseline and axonal agree on the top results before timing them.
fn agree(
    w_graph: &Graph,
    base: &Baseline,
    to_old: impl Fn(u32) -> u32,
    seeds: &[Seed],
    reordered: &[Seed],
    p: &SpreadParams,
) {
    let mut s = Spreader::new(w_graph.node_count());
    let mut out: Vec<Activation> = Vec::new();
    s.spread(w_graph, reordered, p, &mut out).unwrap();
    let ours: Vec<u64> = out
        .iter()
        .take(10)
        .map(|a| u64::from(to_old(a.node)))
        .collect();
    let theirs: Vec<u64> = base.query(seeds, p).iter().take(10).map(|x| x.0).collect();
    let common = ours.iter().filter(|v| theirs.contains(v)).count();
    assert!(
        common + 1 >= ours.len(),
        "baseline and axonal disagree: {ours:?} vs {theirs:?}"
    );
}

fn rmat20_queries(c: &mut Criterion) {
    let w = common::rmat20();
    let base = Baseline::new(&w.original);
    let queries = common::rmat_queries(&w.original, 64, 7);
    let mapped: Vec<Vec<Seed>> = queries.iter().map(|q| w.to_reordered(q)).collect();
    let std_p = SpreadParams::query_std();
    agree(
        &w.reordered,
        &base,
        |v| w.perm.to_old(v),
        &queries[0],
        &mapped[0],
        &std_p,
    );

    let mut group = c.benchmark_group("spread/rmat20_query_std");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    let batch = 16;
    group.throughput(Throughput::Elements(edges_of(
        &w.reordered,
        &mapped[..batch],
        &std_p,
    )));
    let mut spreader = Spreader::new(w.reordered.node_count());
    let mut out = Vec::with_capacity(100);
    group.bench_function("axonal", |b| {
        b.iter(|| {
            for q in &mapped[..batch] {
                black_box(spreader.spread(&w.reordered, q, &std_p, &mut out).unwrap());
            }
        })
    });
    group.bench_function("baseline", |b| {
        b.iter(|| {
            for q in &queries[..batch] {
                black_box(base.query(q, &std_p));
            }
        })
    });
    group.finish();

    let wide_p = SpreadParams::default();
    let mut group = c.benchmark_group("spread/rmat20_query_wide");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    let batch = 4;
    group.throughput(Throughput::Elements(edges_of(
        &w.reordered,
        &mapped[..batch],
        &wide_p,
    )));
    group.bench_function("axonal", |b| {
        b.iter(|| {
            for q in &mapped[..batch] {
                black_box(spreader.spread(&w.reordered, q, &wide_p, &mut out).unwrap());
            }
        })
    });
    for threads in thread_counts() {
        bench_parallel(&mut group, &w.reordered, threads, &mapped[..batch], &wide_p);
    }
    group.finish();
}

/// Worker counts to bench: 1 and 2 always (the 2-core figure), then powers
/// of two and every core, up to the machine's CPUs.
fn thread_counts() -> Vec<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut t: Vec<usize> = [1, 2, 4, 8, 16, cpus]
        .into_iter()
        .filter(|&t| t <= cpus.max(2))
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// `spread/<group>/t<threads>`: `queries` on a `ParallelSpreader` over
/// `threads` pinned workers.
fn bench_parallel(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    graph: &Graph,
    threads: usize,
    queries: &[Vec<Seed>],
    params: &SpreadParams,
) {
    let workers = Workers::new(threads).expect("worker threads");
    let mut spreader = ParallelSpreader::new(graph, &workers);
    let mut out = Vec::with_capacity(params.top_k);
    group.bench_function(format!("t{threads}"), |b| {
        b.iter(|| {
            for q in queries {
                black_box(spreader.spread(graph, q, params, &mut out).unwrap());
            }
        })
    });
}

/// `spread/rmat20_query_std_concurrent/t<threads>`: 64 independent
/// `query_std` queries, each run whole by one worker of a
/// `ConcurrentSpreader` (throughput scaling for many small queries).
fn rmat20_query_std_concurrent(c: &mut Criterion) {
    let w = common::rmat20();
    let g = &w.reordered;
    let seeds: Vec<Vec<Seed>> = common::rmat_queries(&w.original, 64, 13)
        .iter()
        .map(|q| w.to_reordered(q))
        .collect();
    let p = SpreadParams::query_std();
    let mut group = c.benchmark_group("spread/rmat20_query_std_concurrent");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(seeds.len() as u64));
    for threads in thread_counts() {
        let workers = Workers::new(threads).expect("worker threads");
        let mut spreaders = ConcurrentSpreader::new(g.node_count(), &workers);
        let mut jobs: Vec<QueryJob> = seeds.iter().map(|s| QueryJob::new(s)).collect();
        group.bench_function(format!("t{threads}"), |b| {
            b.iter(|| spreaders.spread(g, &p, &mut jobs))
        });
        assert!(jobs.iter().all(|j| matches!(j.outcome, Some(Ok(_)))));
    }
    group.finish();
}

/// `spread/rmat22_query_wide/{t1,t<cores>}`: the scaling figure of a large
/// machine (R-MAT scale 22, same parameters as rmat20; ~1.3 GiB to build).
/// Runs on machines with at least 8 CPUs, or when `AXONAL_BENCH_RMAT22` is set.
fn rmat22_query_wide(c: &mut Criterion) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 8 && std::env::var_os("AXONAL_BENCH_RMAT22").is_none() {
        return;
    }
    let original = generate::Rmat::graph500(22).generate();
    let (graph, perm) = original.reorder(axonal::graph::Ordering::DegreeDescending);
    let queries: Vec<Vec<Seed>> = common::rmat_queries(&original, 4, 7)
        .iter()
        .map(|q| {
            q.iter()
                .map(|s| Seed::new(perm.to_new(s.node), s.activation))
                .collect()
        })
        .collect();
    drop(original);
    let p = SpreadParams::default();
    let mut group = c.benchmark_group("spread/rmat22_query_wide");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(edges_of(&graph, &queries, &p)));
    for threads in [1, cpus.min(16)] {
        bench_parallel(&mut group, &graph, threads, &queries, &p);
    }
    group.finish();
}

/// The bandwidth-bound case: every node seeded (`a0 = 0.001`), 20 hops,
/// threshold `Uniform(0.0)`, decay `Table` of 0.85, `fan = Sqrt`, and every
/// hop a pull over all in-edges (`pull_fraction = 0`: as nodes saturate, or
/// their gains fall below an `f32` step of their activation, the frontier
/// shrinks from all 1M nodes to a few hundred by hop 20, and would otherwise
/// fall back to push). `stream_read` reads the
/// same arrays (sources, weights, offsets) once per hop on the same workers,
/// doing nothing else: the edges/s the memory bandwidth allows. Both count
/// edges scanned.
fn rmat20_pagerank_like(c: &mut Criterion) {
    let g = &common::rmat20().reordered;
    let n = g.node_count() as u32;
    let hops = 20;
    let p = SpreadParams {
        max_hops: hops,
        threshold: Threshold::Uniform(0.0),
        decay: Decay::Table([0.85; MAX_HOPS]),
        fan: Fan::Sqrt,
        ..SpreadParams::default()
    };
    let seeds: Vec<Seed> = (0..n).map(|v| Seed::new(v, 0.001)).collect();
    let workers = Workers::per_core().expect("worker threads");
    let config = SpreaderConfig {
        pull_fraction: 0.0,
        ..SpreaderConfig::for_nodes(g.node_count())
    };
    let mut spreader = ParallelSpreader::with_config(g, &workers, config);
    let mut out = Vec::with_capacity(p.top_k);
    let stats = spreader.spread(g, &seeds, &p, &mut out).unwrap();
    assert_eq!(
        (stats.pull_hops, stats.edges_scanned),
        (hops as u32, hops as u64 * g.edge_count() as u64),
        "every hop pulls over every edge"
    );
    let mut group = c.benchmark_group("spread/rmat20_pagerank_like");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(stats.edges_scanned));
    group.bench_function("axonal", |b| {
        b.iter(|| black_box(spreader.spread(g, &seeds, &p, &mut out).unwrap()))
    });
    let (inc, bounds) = (g.in_edges(), spreader.bounds().to_vec());
    group.bench_function("stream_read", |b| {
        b.iter(|| {
            for _ in 0..hops {
                workers.run(&|w| {
                    black_box(stream_rows(inc, bounds[w]..bounds[w + 1]));
                });
            }
        })
    });
    group.finish();
    println!(
        "rmat20_pagerank_like: {} workers ({} pinned), {} edges per hop",
        workers.threads(),
        workers.pinned(),
        g.edge_count()
    );
}

/// Reads every array a pull over `rows` reads sequentially (offsets,
/// sources, weights), summing their bits so nothing is skipped.
fn stream_rows(inc: CsrView<'_>, rows: std::ops::Range<u32>) -> u64 {
    let offsets = &inc.offsets()[rows.start as usize..=rows.end as usize];
    let edges = offsets[0] as usize..offsets[offsets.len() - 1] as usize;
    let sum = |xs: &[u32]| xs.iter().fold(0u32, |a, &x| a.wrapping_add(x));
    let weights: &[u32] = bytemuck::cast_slice(&inc.weights()[edges.clone()]);
    u64::from(sum(&inc.targets()[edges]))
        + u64::from(sum(weights))
        + offsets.iter().fold(0u64, |a, &o| a.wrapping_add(o))
}

fn rmat20_spmv(c: &mut Criterion) {
    let g = &common::rmat20().reordered;
    let n = g.node_count();
    let mut rng = axonal::graph::generate::SplitMix64::new(5);
    let x: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
    let mut y = vec![0f32; n];
    // sprs gets the same in-edge CSR (row v, column u, value w(u, v)).
    let inc = g.in_edges();
    let indptr: Vec<usize> = inc.offsets().iter().map(|&o| o as usize).collect();
    let m = sprs::CsMatI::<f32, u32, usize>::new(
        (n, n),
        indptr,
        inc.targets().to_vec(),
        inc.weights().to_vec(),
    );
    let mut y_sprs = vec![0f32; n];
    sprs::prod::mul_acc_mat_vec_csr(m.view(), &x[..], &mut y_sprs[..]);
    dense_hop(g, &x, &mut y).unwrap();
    let worst = y
        .iter()
        .zip(&y_sprs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "dense_hop and sprs disagree by {worst}");

    let mut group = c.benchmark_group("spread/rmat20_spmv");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(g.edge_count() as u64));
    group.bench_function("axonal", |b| {
        b.iter(|| dense_hop(g, black_box(&x), &mut y).unwrap())
    });
    group.bench_function("sprs", |b| {
        b.iter(|| {
            y_sprs.fill(0.0);
            sprs::prod::mul_acc_mat_vec_csr(m.view(), black_box(&x[..]), &mut y_sprs[..]);
        })
    });
    group.finish();
}

fn engram(c: &mut Criterion) {
    let shapes: [(&str, Graph, usize, Vec<Seed>); 4] = [
        (
            "chain64",
            generate::standard::engram_chain64(),
            4,
            vec![Seed::new(0, 1.0)],
        ),
        (
            "fan32",
            generate::standard::engram_fan32(),
            3,
            vec![Seed::new(0, 1.0)],
        ),
        (
            "ba2000",
            generate::standard::engram_ba2000(),
            5,
            vec![Seed::new(17, 1.0), Seed::new(1234, 0.8)],
        ),
        (
            "ba10000",
            generate::standard::engram_ba10000(),
            6,
            vec![Seed::new(17, 1.0), Seed::new(7777, 0.8)],
        ),
    ];
    for (name, graph, hops, seeds) in shapes {
        let p = SpreadParams {
            max_hops: hops,
            ..SpreadParams::default()
        };
        let base = Baseline::new(&graph);
        agree(&graph, &base, |v| v, &seeds, &seeds, &p);
        let mut group = c.benchmark_group(format!("spread/engram_{name}"));
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(2))
            .warm_up_time(Duration::from_millis(500));
        let mut spreader = Spreader::new(graph.node_count());
        let mut out = Vec::with_capacity(100);
        group.bench_function("axonal", |b| {
            b.iter(|| {
                black_box(
                    spreader
                        .spread(&graph, black_box(&seeds), &p, &mut out)
                        .unwrap(),
                )
            })
        });
        group.bench_function("baseline", |b| {
            b.iter_batched(
                || (),
                |()| black_box(base.query(black_box(&seeds), &p)),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

/// 8 concurrent `query_std` queries on 2 threads (4 each), with workspaces
/// from a pool (`pooled`), allocated per query (`unpooled`, what an engine
/// without a pool does), or made once per thread before timing (`prebuilt`,
/// no allocation at all: the reference both overheads are measured from).
fn rmat20_query_std_8q(c: &mut Criterion) {
    let w = common::rmat20();
    let g = &w.reordered;
    let n = g.node_count();
    let queries: Vec<Vec<Seed>> = common::rmat_queries(&w.original, 8, 11)
        .iter()
        .map(|q| w.to_reordered(q))
        .collect();
    let p = SpreadParams::query_std();
    let config = SpreaderConfig::for_nodes(n);
    const THREADS: usize = 2;
    let per_thread = queries.len() / THREADS;
    let workspaces = Spreader::pool(n, config);
    let mut prebuilt: Vec<Spreader> = (0..THREADS)
        .map(|_| Spreader::with_config(n, config))
        .collect();

    let mut group = c.benchmark_group("spread/rmat20_query_std_8q");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2));
    group.bench_function("pooled", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for mine in queries.chunks(per_thread) {
                    let (workspaces, p) = (&workspaces, &p);
                    s.spawn(move || {
                        let local = workspaces.local();
                        let mut out = Vec::with_capacity(100);
                        for q in mine {
                            let mut spreader = local.acquire();
                            black_box(spreader.spread(g, q, p, &mut out).unwrap());
                        }
                    });
                }
            })
        })
    });
    group.bench_function("unpooled", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for mine in queries.chunks(per_thread) {
                    let p = &p;
                    s.spawn(move || {
                        for q in mine {
                            let mut spreader = Spreader::with_config(n, config);
                            let mut out = Vec::new();
                            black_box(spreader.spread(g, q, p, &mut out).unwrap());
                        }
                    });
                }
            })
        })
    });
    group.bench_function("prebuilt", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                for (mine, spreader) in queries.chunks(per_thread).zip(prebuilt.iter_mut()) {
                    let p = &p;
                    s.spawn(move || {
                        let mut out = Vec::with_capacity(100);
                        for q in mine {
                            black_box(spreader.spread(g, q, p, &mut out).unwrap());
                        }
                    });
                }
            })
        })
    });
    group.finish();
    let m = workspaces.metrics();
    if m.acquires > 0 {
        println!(
            "rmat20_query_std_8q: the pool made {} workspaces for {} acquires (hit rate {:.3})",
            m.records,
            m.acquires,
            m.hit_rate()
        );
    }
}

criterion_group!(
    benches,
    engram,
    rmat20_queries,
    rmat20_spmv,
    rmat20_query_std_8q,
    rmat20_pagerank_like,
    rmat20_query_std_concurrent,
    rmat22_query_wide
);
criterion_main!(benches);
