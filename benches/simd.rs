//! Similarity kernels against the `simsimd` crate, the scalar backend, and a
//! memory-bandwidth probe, in one run.

use std::hint::black_box;
use std::time::Duration;

use axonal::graph::generate::SplitMix64;
use axonal::layout::EmbeddingMatrix;
use axonal::simd::{Kernels, TopK};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use simsimd::SpatialSimilarity;

fn random(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
}

fn cosine_768(c: &mut Criterion) {
    let mut rng = SplitMix64::new(1);
    let (a, b) = (random(&mut rng, 768), random(&mut rng, 768));
    let ours = Kernels::best();
    let scalar = Kernels::scalar();
    let peer = 1.0 - f32::cosine(&a, &b).unwrap();
    assert!(
        (f64::from(ours.cosine(&a, &b).unwrap()) - peer).abs() < 1e-4,
        "axonal and simsimd disagree"
    );
    let mut group = c.benchmark_group("simd/cosine_f32_768");
    group.throughput(Throughput::Elements(1));
    group.bench_function("axonal", |bench| {
        bench.iter(|| ours.cosine(black_box(&a), black_box(&b)).unwrap())
    });
    group.bench_function("simsimd", |bench| {
        bench.iter(|| f32::cosine(black_box(&a), black_box(&b)).unwrap())
    });
    group.bench_function("scalar", |bench| {
        bench.iter(|| scalar.cosine(black_box(&a), black_box(&b)).unwrap())
    });
    group.finish();
}

/// The bandwidth probe: a plain sum over the same bytes, as integer words
/// (four independent accumulators, no dependency on float latency).
fn stream_read(data: &[f32]) -> u64 {
    let words: &[u64] = bytemuck::cast_slice(data);
    let mut acc = [0u64; 4];
    for chunk in words.chunks_exact(4) {
        for (a, &w) in acc.iter_mut().zip(chunk) {
            *a = a.wrapping_add(w);
        }
    }
    acc.iter().fold(0, |x, &y| x.wrapping_add(y))
}

fn scan_384x100000(c: &mut Criterion) {
    let (dim, rows) = (384, 100_000);
    let mut rng = SplitMix64::new(2);
    let mut m = EmbeddingMatrix::with_capacity(dim, rows).unwrap();
    for _ in 0..rows {
        m.push(&random(&mut rng, dim)).unwrap();
    }
    let query = random(&mut rng, dim);
    let bytes = m.as_padded_slice().len() * 4;
    let kernels = Kernels::best();
    let mut top = TopK::new(16);
    let mut hits = Vec::new();
    let mut group = c.benchmark_group("simd/scan_f32_384x100000");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("axonal", |b| {
        b.iter(|| {
            kernels
                .top_k_cosine(black_box(&query), &m, &mut top)
                .unwrap();
            top.drain_sorted(&mut hits);
        })
    });
    group.bench_function("stream_read", |b| {
        b.iter(|| stream_read(black_box(m.as_padded_slice())))
    });
    group.finish();
}

criterion_group!(benches, cosine_768, scan_384x100000);
criterion_main!(benches);
