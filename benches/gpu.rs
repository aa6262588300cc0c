//! GPU benches (the `vulkan` feature), each beside its bandwidth probe in
//! the same run:
//!
//! - `gpu/scan_f32_384x1000000/{q1,q32,copy}`: the similarity top-k of 1 and
//!   32 queries over 1,000,000 x 384 f32 rows (scores and radix select), in
//!   device time (timestamps); `copy` is a device-to-device copy of the
//!   matrix's bytes. Throughput in bytes of the matrix: a scan at the copy's
//!   GiB/s reads the matrix as fast as the device moves memory (the copy's
//!   throughput counts the bytes it reads and writes: its traffic).
//! - `gpu/rmat22_query_wide/{gpu,cpu}`: one `query_wide` query on R-MAT
//!   scale 22 (4 M nodes, 67 M edges), wall time per query, on the device
//!   and on a `ParallelSpreader` over every core (results checked equal
//!   first).
//! - `gpu/rmat22_pull_hop/{gpu,team1,team4,team8,team16,team32,copy}`: one
//!   pull hop of that query (the `pull` kernels' device time per hop: rows
//!   by teams of invocations, the graph's default team for `gpu`, each size
//!   for `teamN`; hubs by workgroups; every hop of the query pulls) and a
//!   copy of the bytes a pull
//!   hop must move (in-edge offsets, sources and weights read, the sums
//!   written).
//!
//! Without a Vulkan device the benches print why and register nothing.
//! `AXONAL_GPU_BENCH_SMALL=1` runs them on 50,000 rows and R-MAT scale 16
//! instead (IDs named after those sizes): a check of the benches on a CPU
//! device such as lavapipe, whose buffers are too small for the real sizes.

mod common;

use std::time::Duration;

use axonal::gpu::{Gpu, GpuEmbeddings, GpuGraph, GpuSpreader};
use axonal::graph::generate;
use axonal::layout::EmbeddingMatrix;
use axonal::machine::workers::Workers;
use axonal::spread::{ParallelSpreader, SpreadParams, SpreaderConfig};
use criterion::{Criterion, Throughput, criterion_group};

/// Whether to run the small sizes (`AXONAL_GPU_BENCH_SMALL=1`).
fn small() -> bool {
    std::env::var_os("AXONAL_GPU_BENCH_SMALL").is_some_and(|v| v == "1")
}

fn device() -> Option<Gpu> {
    match Gpu::new() {
        Ok(gpu) => {
            let info = gpu.info();
            println!(
                "GPU: {} ({:?}; 64-bit atomics: {}, f64: {})",
                info.name, info.kind, info.atomic64, info.float64
            );
            Some(gpu)
        }
        Err(e) => {
            println!("gpu benches skipped: no Vulkan device ({e})");
            None
        }
    }
}

/// Runs `f` `iters` times and returns the device time it reports.
fn device_time(iters: u64, mut f: impl FnMut() -> f64) -> Duration {
    let nanos: f64 = (0..iters).map(|_| f()).sum();
    Duration::from_nanos(nanos as u64)
}

fn scan(c: &mut Criterion) {
    let Some(gpu) = device() else { return };
    let (rows, dim) = (if small() { 50_000 } else { 1_000_000 }, 384);
    let mut rng = generate::SplitMix64::new(5);
    let flat: Vec<f32> = (0..rows * dim).map(|_| rng.next_f32() - 0.5).collect();
    let matrix = EmbeddingMatrix::from_rows(dim, &flat).expect("finite rows");
    drop(flat);
    let mut on_device = match GpuEmbeddings::upload(&gpu, &matrix) {
        Ok(m) => m,
        Err(e) => return println!("gpu/scan skipped: {e}"),
    };
    on_device.profile(true).expect("timestamps");
    let queries: Vec<Vec<f32>> = (0..32)
        .map(|q| matrix.row(q * 1000 % rows).unwrap().to_vec())
        .collect();
    let bytes = (rows * matrix.stride() * 4) as u64;
    let mut group = c.benchmark_group(format!("gpu/scan_f32_384x{rows}"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(bytes));
    let mut hits = Vec::new();
    for q in [1, 32] {
        group.bench_function(format!("q{q}"), |b| {
            b.iter_custom(|iters| {
                device_time(iters, || {
                    on_device.clear_kernel_times();
                    on_device
                        .top_k_cosine_batch(&queries[..q], 16, &mut hits)
                        .unwrap();
                    on_device.kernel_times().total_nanos()
                })
            })
        });
    }
    // A copy reads and writes every byte: its traffic is twice its size.
    group.throughput(Throughput::Bytes(2 * bytes));
    group.bench_function("copy", |b| {
        b.iter_custom(|iters| gpu.copy_time(bytes, iters).unwrap() * iters as u32)
    });
    group.finish();
}

fn rmat22(c: &mut Criterion) {
    let Some(gpu) = device() else { return };
    let scale = if small() { 16 } else { 22 };
    let (graph, queries) = common::rmat_reordered(scale, 4, 7);
    let p = SpreadParams::default();
    let on_device = match GpuGraph::upload(&gpu, &graph) {
        Ok(g) => g,
        Err(e) => return println!("gpu/rmat22 skipped: {e}"),
    };
    let mut spreader = GpuSpreader::new(&gpu, graph.node_count()).expect("a spreader");
    let workers = Workers::per_core().expect("worker threads");
    let mut cpu = ParallelSpreader::new(&graph, &workers);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for q in &queries {
        spreader.spread(&on_device, q, &p, &mut got).unwrap();
        cpu.spread(&graph, q, &p, &mut want).unwrap();
        assert_eq!(got, want, "the device's results are the CPU's");
    }
    println!(
        "gpu/rmat{scale}_query_wide: device {} pushes: {}; CPU on {} workers",
        gpu.info().name,
        spreader.pushes(),
        workers.threads()
    );
    let mut group = c.benchmark_group(format!("gpu/rmat{scale}_query_wide"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("gpu", |b| {
        b.iter(|| {
            for q in &queries {
                spreader.spread(&on_device, q, &p, &mut got).unwrap();
            }
        })
    });
    group.bench_function("cpu", |b| {
        b.iter(|| {
            for q in &queries {
                cpu.spread(&graph, q, &p, &mut want).unwrap();
            }
        })
    });
    group.finish();

    // One pull hop against a copy of the bytes it moves (every hop pulls:
    // each is a sample).
    spreader.profile(true).expect("timestamps");
    spreader.set_config(SpreaderConfig::for_nodes(graph.node_count()).with_pull_fraction(0.0));
    let n = graph.node_count() as u64;
    let edges = graph.edge_count() as u64;
    let moved = 4 * (n + 1) + 8 * edges + 8 * n;
    let mut group = c.benchmark_group(format!("gpu/rmat{scale}_pull_hop"));
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(moved));
    // The graph's default team of invocations per row, then each team
    // size (the knob `GpuSpreader::set_pull_team` tunes).
    for team in [None, Some(1), Some(4), Some(8), Some(16), Some(32)] {
        spreader.set_pull_team(team).unwrap();
        let id = team.map_or("gpu".to_string(), |t| format!("team{t}"));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                device_time(iters, || {
                    spreader.clear_kernel_times();
                    spreader
                        .spread(&on_device, &queries[0], &p, &mut got)
                        .unwrap();
                    let times = spreader.kernel_times();
                    let light = times.get("pull.light").expect("a pull hop");
                    let heavy = times.get("pull.heavy").map_or(0.0, |t| t.nanos);
                    (light.nanos + heavy) / light.launches as f64
                })
            })
        });
    }
    spreader.set_pull_team(None).unwrap();
    group.throughput(Throughput::Bytes(2 * moved));
    group.bench_function("copy", |b| {
        b.iter_custom(|iters| gpu.copy_time(moved, iters).unwrap() * iters as u32)
    });
    group.finish();
}

criterion_group!(benches, scan, rmat22);
common::bench_main!(benches);
