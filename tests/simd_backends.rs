//! Every SIMD backend against an `f64` reference, for every length 0..=1100,
//! with unaligned starts and tails.

use axonal::graph::generate::SplitMix64;
use axonal::simd::{Backend, Kernels};

fn reference(a: &[f32], b: &[f32]) -> (f64, f64, f64, f64, f64) {
    let mut dot = 0.0;
    let mut l2 = 0.0;
    let (mut aa, mut bb, mut mag) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        l2 += (x - y) * (x - y);
        aa += x * x;
        bb += y * y;
        mag += (x * y).abs();
    }
    let cos = if aa > 0.0 && bb > 0.0 {
        dot / (aa.sqrt() * bb.sqrt())
    } else {
        0.0
    };
    (dot, l2, cos, mag, aa.max(bb))
}

/// Worst-case rounding bound of an `n`-term f32 sum of terms whose absolute
/// values sum to `mag`: `n * eps * mag`, plus a hair for the final rounding.
fn bound(n: usize, mag: f64) -> f64 {
    (n as f64 + 2.0) * f64::from(f32::EPSILON) * mag + 1e-30
}

/// Lengths checked: all of 0..=1100 natively; under Miri (which interprets
/// every lane) every length up to 80 plus a few long ones.
fn lengths() -> Vec<usize> {
    if cfg!(miri) {
        (0..=80).chain([127, 128, 129, 1100]).collect()
    } else {
        (0..=1100).collect()
    }
}

fn check_backend(kernels: Kernels) {
    let mut rng = SplitMix64::new(0xA11CE);
    let buf_a: Vec<f32> = (0..1100 + 16).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
    let buf_b: Vec<f32> = (0..1100 + 16).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
    for len in lengths() {
        for (off_a, off_b) in [(0, 0), (1, 3), (7, 0), (5, 11)] {
            let a = &buf_a[off_a..off_a + len];
            let b = &buf_b[off_b..off_b + len];
            let (dot, l2, cos, mag, _) = reference(a, b);
            let got = f64::from(kernels.dot(a, b).unwrap());
            assert!(
                (got - dot).abs() <= bound(len, mag),
                "{kernels:?} dot len {len}: {got} vs {dot}"
            );
            let got = f64::from(kernels.l2_squared(a, b).unwrap());
            assert!(
                (got - l2).abs() <= bound(len, l2),
                "{kernels:?} l2 len {len}: {got} vs {l2}"
            );
            let got = f64::from(kernels.cosine(a, b).unwrap());
            assert!(
                (got - cos).abs() <= 1e-5 + bound(len, 1.0) * 4.0,
                "{kernels:?} cosine len {len}: {got} vs {cos}"
            );
        }
    }
    // Zero vectors and mismatched lengths.
    assert_eq!(kernels.cosine(&[0.0; 9], &[1.0; 9]).unwrap(), 0.0);
    assert!(kernels.dot(&[1.0; 3], &[1.0; 4]).is_err());
    assert!(kernels.cosine(&[1.0; 3], &[1.0; 4]).is_err());
    assert!(kernels.l2_squared(&[1.0; 3], &[]).is_err());
}

#[test]
fn scalar_matches_reference() {
    check_backend(Kernels::scalar());
}

#[test]
fn avx2_matches_reference() {
    run_or_skip(Backend::Avx2Fma);
}

#[test]
fn avx512_matches_reference() {
    run_or_skip(Backend::Avx512);
}

#[test]
fn neon_matches_reference() {
    run_or_skip(Backend::Neon);
}

fn run_or_skip(backend: Backend) {
    match Kernels::for_backend(backend) {
        Some(k) => check_backend(k),
        None => eprintln!("SKIPPED: this CPU has no {backend} backend; its test did not run here"),
    }
}

#[test]
fn best_is_the_fastest_available() {
    let best = Kernels::best().backend();
    if std::env::var_os("AXONAL_SIMD").is_none() {
        let first = Backend::ALL.into_iter().find(|b| b.is_available()).unwrap();
        assert_eq!(best, first);
    }
    assert!(best.is_available());
}

/// The batch scan gives every query exactly the one-query scan's hits (ids
/// and score bits), on every backend, for any batch size (short groups of
/// three, several passes) and dimensions through every tail of the kernel.
#[test]
fn batch_scan_matches_one_query_scans_on_every_backend() {
    use axonal::layout::{EmbeddingError, EmbeddingMatrix};
    use axonal::simd::{Hit, SCAN_BATCH, TopK};

    let mut rng = SplitMix64::new(77);
    let dims: &[usize] = if cfg!(miri) {
        &[7, 40]
    } else {
        &[1, 7, 8, 31, 32, 33, 100, 384]
    };
    let rows = if cfg!(miri) { 70 } else { 300 };
    let counts: &[usize] = if cfg!(miri) {
        &[1, 4]
    } else {
        &[1, 2, 3, 4, 7, SCAN_BATCH + 2]
    };
    let kernels: Vec<Kernels> = Backend::ALL
        .into_iter()
        .filter_map(Kernels::for_backend)
        .collect();
    for &dim in dims {
        let flat: Vec<f32> = (0..rows * dim)
            .map(|_| rng.next_f32() * 2.0 - 1.0)
            .collect();
        let matrix = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
        for &count in counts {
            let queries: Vec<Vec<f32>> = (0..count)
                .map(|q| {
                    (0..dim)
                        .map(|_| if q == 1 { 0.0 } else { rng.next_f32() - 0.5 })
                        .collect()
                })
                .collect();
            for &k in &kernels {
                for cosine in [false, true] {
                    let mut tops: Vec<TopK> =
                        (0..count).map(|q| TopK::new([10, 0, 3][q % 3])).collect();
                    if cosine {
                        k.top_k_cosine_batch(&queries, &matrix, &mut tops).unwrap();
                    } else {
                        k.top_k_dot_batch(&queries, &matrix, &mut tops).unwrap();
                    }
                    for (q, top) in tops.iter_mut().enumerate() {
                        let mut one = TopK::new(top.k());
                        if cosine {
                            k.top_k_cosine(&queries[q], &matrix, &mut one).unwrap();
                        } else {
                            k.top_k_dot(&queries[q], &matrix, &mut one).unwrap();
                        }
                        let (mut got, mut want): (Vec<Hit>, Vec<Hit>) = (Vec::new(), Vec::new());
                        top.drain_sorted(&mut got);
                        one.drain_sorted(&mut want);
                        let bits = |h: &[Hit]| {
                            h.iter()
                                .map(|h| (h.id, h.score.to_bits()))
                                .collect::<Vec<_>>()
                        };
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "{k:?} dim {dim} batch {count} query {q} cosine {cosine}"
                        );
                    }
                }
            }
        }
    }

    // Errors name the query and leave the selectors alone.
    let matrix = EmbeddingMatrix::from_rows(4, &[1.0; 8]).unwrap();
    let k = Kernels::best();
    let mut tops = vec![TopK::new(2), TopK::new(2)];
    let bad = [vec![1.0; 4], vec![1.0, f32::NAN, 0.0, 0.0]];
    assert_eq!(
        k.top_k_dot_batch(&bad, &matrix, &mut tops),
        Err(EmbeddingError::NonFinite { row: 1, col: 1 })
    );
    assert_eq!(
        k.top_k_cosine_batch(&[vec![1.0; 3]], &matrix, &mut tops[..1]),
        Err(EmbeddingError::DimensionMismatch {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        k.top_k_dot_batch(&[vec![1.0; 4]], &matrix, &mut tops),
        Err(EmbeddingError::BatchMismatch {
            queries: 1,
            selectors: 2
        })
    );
    let mut out = Vec::new();
    tops[0].drain_sorted(&mut out);
    assert!(out.is_empty(), "a rejected batch offered nothing");
}
