//! Batch benches: many queries at once against one at a time, in one run.
//! Criterion IDs are fixed (see BENCHMARKS.md) so runs compare; throughput is in
//! queries.
//!
//! - `batch/rmat20_query_wide/{q1,q8,q32}`: 32 `query_wide` queries on
//!   `rmat20`, one by one on a `Spreader` (`q1`), in four batches of 8 and
//!   in one batch of 32 on a `MultiSpreader`.
//! - `batch/rmat20_query_std/{q1,q32}`: the same for `query_std`.
//! - `batch/scan_f32_384x100000/{q1,q32}`: 32 cosine top-16 scans of a
//!   100,000 x 384 matrix, one by one (`Kernels::top_k_cosine`) and as one
//!   batch (`Kernels::top_k_cosine_batch`).
//! - `batch/metrics/{record_query,report}`: what keeping the serving metrics
//!   costs: recording one query's latency and prediction (throughput in
//!   queries), and computing a report from 100,000 of them.

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::graph::generate::SplitMix64;
use axonal::layout::EmbeddingMatrix;
use axonal::metrics::SpreadingPerformanceMetrics;
use axonal::simd::{Hit, Kernels, TopK};
use axonal::spread::{MultiSpreader, Seed, SpreadParams, Spreader};
use criterion::{Criterion, Throughput, criterion_group};

const QUERIES: usize = 32;

fn rmat20_batches(c: &mut Criterion) {
    let w = common::rmat20();
    let g = &w.reordered;
    let queries: Vec<Vec<Seed>> = common::rmat_queries(&w.original, QUERIES, 11)
        .iter()
        .map(|q| w.to_reordered(q))
        .collect();
    let mut single = Spreader::new(g.node_count());
    let mut batch = MultiSpreader::new(g.node_count(), QUERIES).expect("32 queries");
    let mut one = Vec::with_capacity(100);
    let mut many = Vec::new();
    for (name, params, sizes) in [
        ("rmat20_query_wide", SpreadParams::default(), &[8, 32][..]),
        ("rmat20_query_std", SpreadParams::query_std(), &[32][..]),
    ] {
        let stats = batch.spread_batch(g, &queries, &params, &mut many).unwrap();
        println!(
            "{name}: 32 queries traverse {} M edges one by one, {} M in one batch ({} hops, {} pulled)",
            stats.edges_traversed / 1_000_000,
            stats.edges_scanned / 1_000_000,
            stats.hops,
            stats.pull_hops
        );
        let mut group = c.benchmark_group(format!("batch/{name}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10))
            .warm_up_time(Duration::from_secs(1))
            .throughput(Throughput::Elements(QUERIES as u64));
        group.bench_function("q1", |b| {
            b.iter(|| {
                for q in &queries {
                    black_box(single.spread(g, q, &params, &mut one).unwrap());
                }
            })
        });
        for &size in sizes {
            group.bench_function(format!("q{size}"), |b| {
                b.iter(|| {
                    for chunk in queries.chunks(size) {
                        black_box(batch.spread_batch(g, chunk, &params, &mut many).unwrap());
                    }
                })
            });
        }
        group.finish();
    }
}

fn scan_384x100000(c: &mut Criterion) {
    let (dim, rows) = (384, 100_000);
    let mut rng = SplitMix64::new(2);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect() };
    let matrix = EmbeddingMatrix::from_rows(dim, &random(dim * rows)).unwrap();
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| random(dim)).collect();
    let kernels = Kernels::best();
    let mut tops: Vec<TopK> = (0..QUERIES).map(|_| TopK::new(16)).collect();
    let mut hits: Vec<Hit> = Vec::new();
    let mut group = c.benchmark_group("batch/scan_f32_384x100000");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(QUERIES as u64));
    group.bench_function("q1", |b| {
        b.iter(|| {
            for (q, top) in queries.iter().zip(&mut tops) {
                kernels.top_k_cosine(q, &matrix, top).unwrap();
                top.drain_sorted(&mut hits);
            }
        })
    });
    group.bench_function("q32", |b| {
        b.iter(|| {
            kernels
                .top_k_cosine_batch(&queries, &matrix, &mut tops)
                .unwrap();
            for top in &mut tops {
                top.drain_sorted(&mut hits);
            }
        })
    });
    group.finish();
}

fn metrics(c: &mut Criterion) {
    let mut rng = SplitMix64::new(5);
    let latencies: Vec<Duration> = (0..1024)
        .map(|_| Duration::from_nanos(1_000 + rng.below(10_000_000)))
        .collect();
    let predicted = Some(Duration::from_micros(500));
    let mut m = SpreadingPerformanceMetrics::new();
    let mut group = c.benchmark_group("batch/metrics");
    group.throughput(Throughput::Elements(latencies.len() as u64));
    group.bench_function("record_query", |b| {
        b.iter(|| {
            for &latency in &latencies {
                m.record_query(black_box(latency), predicted);
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    let mut full = SpreadingPerformanceMetrics::new();
    for i in 0..100_000 {
        full.record_query(latencies[i % latencies.len()], predicted);
    }
    group.bench_function("report", |b| b.iter(|| black_box(full.report())));
    group.finish();
}

criterion_group!(benches, scan_384x100000, rmat20_batches, metrics);
common::bench_main!(benches);
