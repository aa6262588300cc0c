//! Spreading benches: the standard workloads against `baseline` and `sprs`,
//! in one run. Criterion IDs are fixed (see BENCHMARKS.md) so runs compare.
//!
//! axonal runs on the degree-reordered graph (its layout), `baseline` on the
//! graph as generated, with the same queries (seeds mapped through the
//! permutation); `sprs` gets the very arrays axonal's dense hop reads.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use axonal::graph::{Graph, generate};
use axonal::machine::workers::Workers;
use axonal::spread::{
    Activation, ConcurrentSpreader, Decay, Fan, MAX_HOPS, ParallelSpreader, QueryJob, Seed,
    SpreadParams, Spreader, SpreaderConfig, Threshold, dense_hop,
};
use common::baseline::Baseline;
use common::probes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group};

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

/// Checks, before timing, that axonal and `baseline` return the same top
/// results for every query benched: the same nodes, activations within
/// tolerance, except nodes tied at the top-k or `min_activation` boundary.
/// Both sides are within `tol_v = max(1e-5, 1e-7 * c_v)` of the exact
/// evaluation (the numerical contract, `axonal::spread` module docs; `c_v`:
/// contributions node `v` received, counted by the baseline), so they may
/// differ by twice that. `queries` are in the baseline's ids, `mapped` the
/// same in `graph`'s, `to_old` maps `graph`'s ids back.
fn agree(
    label: &str,
    graph: &Graph,
    base: &Baseline,
    to_old: impl Fn(u32) -> u32,
    queries: &[Vec<Seed>],
    mapped: &[Vec<Seed>],
    p: &SpreadParams,
) {
    let mut s = Spreader::new(graph.node_count());
    let mut out: Vec<Activation> = Vec::new();
    let mut ties = 0;
    for (i, (q, m)) in queries.iter().zip(mapped).enumerate() {
        s.spread(graph, m, p, &mut out).unwrap();
        let ours: Vec<(u64, f64)> = out
            .iter()
            .map(|a| (u64::from(to_old(a.node)), f64::from(a.activation)))
            .collect();
        let mut contributions: HashMap<u64, u64> = HashMap::new();
        let theirs: Vec<(u64, f64)> = base
            .query_counting(q, p, |v| *contributions.entry(v).or_default() += 1)
            .into_iter()
            .map(|(v, a)| (v, f64::from(a)))
            .collect();
        ties += common::assert_same_top(
            &format!("{label} query {i}: axonal vs baseline"),
            &ours,
            &theirs,
            p.top_k,
            f64::from(p.min_activation),
            |v| {
                2.0 * f64::max(
                    1e-5,
                    1e-7 * contributions.get(&v).copied().unwrap_or(0) as f64,
                )
            },
        );
    }
    println!(
        "{label}: axonal and baseline agree on all {} queries ({ties} nodes tied at a boundary)",
        queries.len()
    );
}

fn rmat20_queries(c: &mut Criterion) {
    let w = common::rmat20();
    let base = Baseline::new(&w.original);
    let queries = common::rmat_queries(&w.original, 64, 7);
    let mapped: Vec<Vec<Seed>> = queries.iter().map(|q| w.to_reordered(q)).collect();
    let std_p = SpreadParams::query_std();
    let batch = 16;
    agree(
        "spread/rmat20_query_std",
        &w.reordered,
        &base,
        |v| w.perm.to_old(v),
        &queries[..batch],
        &mapped[..batch],
        &std_p,
    );

    let mut group = c.benchmark_group("spread/rmat20_query_std");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
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
    group.throughput(Throughput::Elements(w.reordered.edge_count() as u64));
    for threads in thread_counts() {
        bench_probes_on_workers(&mut group, &w.reordered, threads);
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

/// `spread/<group>/{stream_edges,gather_only}_t<threads>`: the probes of
/// `common::probes` over every in-edge once, on `threads` pinned workers,
/// each over its own node range (a `ParallelSpreader`'s split). How far this
/// machine's bandwidth and random gather scale with workers bounds how far
/// `t<threads>` can scale over `t1`.
fn bench_probes_on_workers(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    graph: &Graph,
    threads: usize,
) {
    let workers = Workers::new(threads).expect("worker threads");
    let bounds: Vec<usize> = ParallelSpreader::new(graph, &workers)
        .bounds()
        .iter()
        .map(|&b| b as usize)
        .collect();
    let (inc, x) = (graph.in_edges(), dense_input(graph.node_count()));
    let mut out = vec![0u32; graph.node_count()];
    group.bench_function(format!("stream_edges_t{threads}"), |b| {
        b.iter(|| {
            workers.run_split(&mut out, &bounds, |w, part| {
                probes::stream_edges(inc, bounds[w], part)
            });
            black_box(&out);
        })
    });
    group.bench_function(format!("gather_only_t{threads}"), |b| {
        b.iter(|| {
            workers.run_split(&mut out, &bounds, |w, part| {
                probes::gather_only(inc, black_box(&x), bounds[w], part)
            });
            black_box(&out);
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
        // Checked before timing: the timed closure does not run when a
        // filter skips this bench.
        spreaders.spread(g, &p, &mut jobs);
        assert!(jobs.iter().all(|j| matches!(j.outcome, Some(Ok(_)))));
        group.bench_function(format!("t{threads}"), |b| {
            b.iter(|| spreaders.spread(g, &p, &mut jobs))
        });
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
    let (graph, queries) = common::rmat_reordered(22, 4, 7);
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
/// fall back to push). The probes run once per hop on the same workers, each
/// over its worker's node range: `stream_read` is `probes::stream_edges`
/// (the edges/s the memory bandwidth allows), `gather_only` the random
/// gather of source strengths alone (the limit of any pull). All count edges
/// scanned.
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
    let config = SpreaderConfig::for_nodes(g.node_count()).with_pull_fraction(0.0);
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
    let inc = g.in_edges();
    let bounds: Vec<usize> = spreader.bounds().iter().map(|&b| b as usize).collect();
    let x = dense_input(g.node_count());
    let mut probed = vec![0u32; g.node_count()];
    group.bench_function("stream_read", |b| {
        b.iter(|| {
            for _ in 0..hops {
                workers.run_split(&mut probed, &bounds, |w, part| {
                    probes::stream_edges(inc, bounds[w], part)
                });
                black_box(&probed);
            }
        })
    });
    group.bench_function("gather_only", |b| {
        b.iter(|| {
            for _ in 0..hops {
                workers.run_split(&mut probed, &bounds, |w, part| {
                    probes::gather_only(inc, black_box(&x), bounds[w], part)
                });
                black_box(&probed);
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

/// The largest difference between two dense hops' outputs, relative to the
/// second (absolute below 1).
fn worst_relative_error(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0f32, f32::max)
}

/// The input of a dense hop: one value in `[0, 1)` per node (seeded).
fn dense_input(n: usize) -> Vec<f32> {
    let mut rng = axonal::graph::generate::SplitMix64::new(5);
    (0..n).map(|_| rng.next_f32()).collect()
}

/// `spread/rmat20_spmv/{axonal,sprs}`: one dense hop against the `sprs`
/// crate's CSR matrix-vector product on the same arrays.
fn rmat20_spmv(c: &mut Criterion) {
    let g = &common::rmat20().reordered;
    let n = g.node_count();
    let x = dense_input(n);
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
    let worst = worst_relative_error(&y, &y_sprs);
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

/// `spread/rmat20_pull_limits/{axonal,plain_pull,gather_only,stream_edges}`:
/// one pull over all of `rmat20`'s in-edges on one thread, by axonal
/// (`dense_hop`: the pull hop's loop with its exact fixed-point sums) and by
/// the probes of `common::probes` (the plain `f32` loop, the random gather
/// alone, the edge arrays streamed), so that a pull hop's figure reads
/// against this machine's limits of the same run.
fn rmat20_pull_limits(c: &mut Criterion) {
    let g = &common::rmat20().reordered;
    let (n, inc) = (g.node_count(), g.in_edges());
    let x = dense_input(n);
    let (mut y, mut plain, mut bits) = (vec![0f32; n], vec![0f32; n], vec![0u32; n]);
    dense_hop(g, &x, &mut y).unwrap();
    probes::plain_pull(inc, &x, 0, &mut plain);
    let worst = worst_relative_error(&y, &plain);
    assert!(worst < 1e-4, "dense_hop and plain_pull disagree by {worst}");

    let mut group = c.benchmark_group("spread/rmat20_pull_limits");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(g.edge_count() as u64));
    group.bench_function("axonal", |b| {
        b.iter(|| dense_hop(g, black_box(&x), &mut y).unwrap())
    });
    group.bench_function("plain_pull", |b| {
        b.iter(|| {
            probes::plain_pull(inc, black_box(&x), 0, &mut plain);
            black_box(&plain);
        })
    });
    group.bench_function("gather_only", |b| {
        b.iter(|| {
            probes::gather_only(inc, black_box(&x), 0, &mut bits);
            black_box(&bits);
        })
    });
    group.bench_function("stream_edges", |b| {
        b.iter(|| {
            probes::stream_edges(inc, 0, &mut bits);
            black_box(&bits);
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
        let id = format!("spread/engram_{name}");
        let one = [seeds.clone()];
        agree(&id, &graph, &base, |v| v, &one, &one, &p);
        let mut group = c.benchmark_group(id);
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
    rmat20_pull_limits,
    rmat20_query_std_8q,
    rmat20_pagerank_like,
    rmat20_query_std_concurrent,
    rmat22_query_wide
);
common::bench_main!(benches);
