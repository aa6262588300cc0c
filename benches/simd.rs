//! Similarity kernels against the `simsimd` crate, the scalar backend, and
//! the machine's limits, in one run: `simd/peak/fma` (the core's FMA peak,
//! the bound of a cosine in L1) and `stream_read` (the memory bandwidth, the
//! bound of a scan over DRAM). `simd/scan_384x100000` also times the
//! quantized scans on the same rows: `i8_exact` and `f16_exact` (the `f32`
//! scan's hits, checked bit for bit before timing) and `i8_approx` /
//! `f16_approx` (their recall is printed).

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::graph::generate::SplitMix64;
use axonal::layout::{EmbeddingMatrix, Quantization, QuantizedMatrix};
use axonal::simd::{Backend, Hit, Kernels, TopK};
use criterion::{Criterion, Throughput, criterion_group};
use simsimd::SpatialSimilarity;

fn random(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
}

fn cosine_768(c: &mut Criterion) {
    let mut rng = SplitMix64::new(1);
    let (a, b) = (random(&mut rng, 768), random(&mut rng, 768));
    let ours = Kernels::best();
    let scalar = Kernels::scalar();
    // Checked before timing: both backends within their tested bound of the
    // exact value, and simsimd (a peer with its own rounding) close to it.
    let exact = exact_cosine(&a, &b);
    for (name, got) in [
        ("axonal", ours.cosine(&a, &b).unwrap()),
        ("scalar", scalar.cosine(&a, &b).unwrap()),
    ] {
        let err = (f64::from(got) - exact).abs();
        assert!(
            err <= cosine_tolerance(768),
            "{name} is {err} off the exact cosine"
        );
    }
    let peer = 1.0 - f32::cosine(&a, &b).unwrap();
    assert!(
        (peer - exact).abs() < 1e-4,
        "simsimd is {} off the exact cosine",
        (peer - exact).abs()
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
    let kernels = Kernels::best();
    let mut top = TopK::new(16);
    let mut hits = Vec::new();
    kernels.top_k_cosine(&query, &m, &mut top).unwrap();
    top.drain_sorted(&mut hits);
    check_scan(&query, &m, &hits);
    let quantized =
        [Quantization::I8, Quantization::F16].map(|form| QuantizedMatrix::new(&m, form).unwrap());
    for q in &quantized {
        check_quantized(kernels, &query, &m, q, &hits, &mut rng);
    }
    let mut group = c.benchmark_group("simd/scan_384x100000");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("f32", |b| {
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
    for q in &quantized {
        let form = q.quantization();
        group.bench_function(format!("{form}_exact"), |b| {
            b.iter(|| {
                kernels
                    .top_k_cosine_exact(black_box(&query), q, &m, &mut top)
                    .unwrap();
                top.drain_sorted(&mut hits);
            })
        });
        group.bench_function(format!("{form}_approx"), |b| {
            b.iter(|| {
                kernels
                    .top_k_cosine_approx(black_box(&query), q, &mut top)
                    .unwrap();
                top.drain_sorted(&mut hits);
            })
        });
    }
    group.finish();
}

/// Checks, before timing, that the exact quantized scan gives the `f32`
/// scan's hits bit for bit, and prints what it rescored, what the matrix
/// costs, and the approximate scan's recall@16 over 20 random queries.
fn check_quantized(
    kernels: Kernels,
    query: &[f32],
    m: &EmbeddingMatrix,
    q: &QuantizedMatrix,
    expected: &[Hit],
    rng: &mut SplitMix64,
) {
    let form = q.quantization();
    let mut top = TopK::new(expected.len());
    let (mut got, mut exact) = (Vec::new(), Vec::new());
    let stats = kernels.top_k_cosine_exact(query, q, m, &mut top).unwrap();
    top.drain_sorted(&mut got);
    let bits = |hits: &[Hit]| -> Vec<(u32, u32)> {
        hits.iter().map(|h| (h.id, h.score.to_bits())).collect()
    };
    assert_eq!(bits(&got), bits(expected), "{form}_exact differs from f32");
    let (mut found, queries) = (0, 20);
    for _ in 0..queries {
        let query = random(rng, m.dim());
        kernels.top_k_cosine(&query, m, &mut top).unwrap();
        top.drain_sorted(&mut exact);
        kernels.top_k_cosine_approx(&query, q, &mut top).unwrap();
        top.drain_sorted(&mut got);
        found += got
            .iter()
            .filter(|a| exact.iter().any(|e| e.id == a.id))
            .count();
    }
    println!(
        "simd/scan_384x100000/{form}: exact rescored {} of {} rows; {:.1} MB beside the {:.1} MB \
         of f32 rows ({:.1}%); approx recall@{} {:.3} over {queries} queries",
        stats.rescored,
        stats.rows,
        q.memory_bytes() as f64 / 1e6,
        (m.as_padded_slice().len() * 4) as f64 / 1e6,
        100.0 * q.memory_bytes() as f64 / (m.as_padded_slice().len() * 4) as f64,
        expected.len(),
        found as f64 / (queries * expected.len()) as f64,
    );
}

/// The cosine of `a` and `b` evaluated in `f64`.
fn exact_cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        (ab, aa, bb) = (ab + x * y, aa + x * x, bb + y * y);
    }
    ab / (aa * bb).sqrt()
}

/// Cosine error bound of one backend against the exact value, for `dim`
/// terms: the bound `tests/simd_backends.rs` holds every backend to.
fn cosine_tolerance(dim: usize) -> f64 {
    1e-5 + 4.0 * (dim as f64 + 2.0) * f64::from(f32::EPSILON)
}

/// Checks, before timing, that the scan's top-k is the exact top-k: the
/// same rows, scores within `cosine_tolerance` of an `f64` evaluation,
/// except rows tied with the `k`-th within it.
fn check_scan(query: &[f32], m: &EmbeddingMatrix, hits: &[Hit]) {
    let mut exact: Vec<(u64, f64)> = (0..m.rows())
        .map(|i| (i as u64, exact_cosine(query, m.row(i).unwrap())))
        .collect();
    exact.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let k = 16;
    exact.truncate(k);
    let ours: Vec<(u64, f64)> = hits
        .iter()
        .map(|h| (u64::from(h.id), f64::from(h.score)))
        .collect();
    assert_eq!(
        ours.len(),
        k,
        "the scan returned {} of {k} rows",
        ours.len()
    );
    let tol = cosine_tolerance(m.dim());
    let ties = common::assert_same_top(
        "simd/scan_384x100000: f32 vs f64",
        &ours,
        &exact,
        k,
        f64::NEG_INFINITY,
        |_| tol,
    );
    println!("simd/scan_384x100000/f32: the exact top-{k} ({ties} rows tied at the k-th)");
}

/// Independent FMA chains in the peak loop: enough to cover FMA latency (4
/// cycles) times FMA units (2), few enough to stay in registers (16 `ymm`).
const CHAINS: usize = 12;

/// Iterations of the peak loop per call (12 chains each).
const PEAK_ITERS: u64 = 100_000;

/// Register-only FMA loops, `CHAINS` chains of `x = x * a + b` on full
/// vectors. They return the sum of every lane, so no lane can be dropped.
#[cfg(target_arch = "x86_64")]
mod fma {
    use std::arch::x86_64::*;

    use super::CHAINS;

    #[target_feature(enable = "avx2,fma")]
    pub fn avx2(iters: u64, x0: f32) -> f32 {
        let (a, b) = (_mm256_set1_ps(0.999), _mm256_set1_ps(1e-3));
        let mut acc = [_mm256_set1_ps(x0); CHAINS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let s = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
        let s = _mm_hadd_ps(s, s);
        _mm_cvtss_f32(_mm_hadd_ps(s, s))
    }

    #[target_feature(enable = "avx512f")]
    pub fn avx512(iters: u64, x0: f32) -> f32 {
        let (a, b) = (_mm512_set1_ps(0.999), _mm512_set1_ps(1e-3));
        let mut acc = [_mm512_set1_ps(x0); CHAINS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        _mm512_reduce_add_ps(
            acc.iter()
                .fold(_mm512_setzero_ps(), |s, &x| _mm512_add_ps(s, x)),
        )
    }
}

/// A peak loop: `(iterations, start value) -> sum of every lane`.
type PeakLoop = fn(u64, f32) -> f32;

/// The peak loop of `backend`'s vectors and its lanes; `None` where the
/// backend has no FMA loop here.
fn fma_loop(backend: Backend) -> Option<(u64, PeakLoop)> {
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => Some((16, |iters, x0| {
            // SAFETY: `Kernels::best` returns the AVX-512 backend only where
            // `Backend::is_available` found AVX-512F on this CPU.
            unsafe { fma::avx512(iters, x0) }
        })),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2Fma => Some((8, |iters, x0| {
            // SAFETY: `Kernels::best` returns the AVX2 backend only where
            // `Backend::is_available` found AVX2 and FMA on this CPU.
            unsafe { fma::avx2(iters, x0) }
        })),
        _ => None,
    }
}

/// `simd/peak/fma`: the core's FMA peak on the vectors the kernels use (the
/// `Kernels::best` backend), from a register-only loop; throughput in FLOPs
/// (an FMA is 2), so criterion prints FLOP/s as elements/s. A kernel whose
/// data sits in L1 (`simd/cosine_f32_768`) is bound by it.
fn peak(c: &mut Criterion) {
    let backend = Kernels::best().backend();
    let Some((lanes, fma)) = fma_loop(backend) else {
        println!("simd/peak/fma: skipped, no FMA loop for the {backend} backend");
        return;
    };
    let mut group = c.benchmark_group("simd/peak");
    group.throughput(Throughput::Elements(PEAK_ITERS * CHAINS as u64 * lanes * 2));
    group.bench_function("fma", |b| {
        b.iter(|| fma(black_box(PEAK_ITERS), black_box(1.0)))
    });
    group.finish();
}

criterion_group!(benches, peak, cosine_768, scan_384x100000);
common::bench_main!(benches);
