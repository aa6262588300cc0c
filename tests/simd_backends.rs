//! Every SIMD backend against an `f64` reference, for every length 0..=1100,
//! with unaligned starts and tails.

use axonal::rng::SplitMix64;
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
