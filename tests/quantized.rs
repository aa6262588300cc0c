//! The exact quantized scans against the `f32` scan: the same hits and the
//! same score bits, on every backend, for f16 and i8 rows, on random data
//! and on data built to tie within the quantization error.

use axonal::graph::generate::SplitMix64;
use axonal::layout::{EmbeddingMatrix, Quantization, QuantizedMatrix};
use axonal::simd::{Backend, Hit, Kernels, TopK};
use proptest::prelude::*;

const FORMS: [Quantization; 2] = [Quantization::F16, Quantization::I8];

fn backends() -> impl Iterator<Item = Kernels> {
    Backend::ALL.into_iter().filter_map(Kernels::for_backend)
}

/// The `f32` scan's hits and the exact quantized scan's, for one backend;
/// also the number of rows the exact scan rescored.
fn both(
    kernels: Kernels,
    query: &[f32],
    rows: &EmbeddingMatrix,
    quantized: &QuantizedMatrix,
    k: usize,
) -> (Vec<Hit>, Vec<Hit>, usize) {
    let (mut top, mut expected, mut got) = (TopK::new(k), Vec::new(), Vec::new());
    kernels.top_k_cosine(query, rows, &mut top).unwrap();
    top.drain_sorted(&mut expected);
    let stats = kernels
        .top_k_cosine_exact(query, quantized, rows, &mut top)
        .unwrap();
    top.drain_sorted(&mut got);
    assert_eq!(stats.rows, rows.rows());
    assert!(stats.rescored <= rows.rows());
    (expected, got, stats.rescored)
}

/// Bits of every hit, so that `-0.0` and `0.0` (and any other difference
/// a float comparison would hide) count.
fn bits(hits: &[Hit]) -> Vec<(u32, u32)> {
    hits.iter().map(|h| (h.id, h.score.to_bits())).collect()
}

fn assert_exact(query: &[f32], rows: &EmbeddingMatrix, k: usize, what: &str) -> usize {
    let mut rescored = 0;
    for quantization in FORMS {
        let quantized = QuantizedMatrix::new(rows, quantization).unwrap();
        for kernels in backends() {
            let (expected, got, n) = both(kernels, query, rows, &quantized, k);
            assert_eq!(
                bits(&got),
                bits(&expected),
                "{what}: {quantization} on {:?}, k = {k}",
                kernels.backend()
            );
            rescored = rescored.max(n);
        }
    }
    rescored
}

fn random_rows(rng: &mut SplitMix64, rows: usize, dim: usize) -> EmbeddingMatrix {
    let flat: Vec<f32> = (0..rows * dim)
        .map(|_| rng.next_gaussian() as f32)
        .collect();
    EmbeddingMatrix::from_rows(dim, &flat).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 48 }))]

    #[test]
    fn random_rows_and_queries(
        seed in any::<u64>(),
        rows in 1usize..600,
        dim in 1usize..200,
        k in 1usize..40,
        near_row in any::<bool>(),
    ) {
        let mut rng = SplitMix64::new(seed);
        let m = random_rows(&mut rng, rows, dim);
        // Queries near a row (as seeding's are) or anywhere.
        let query: Vec<f32> = if near_row {
            let base = m.row(rng.below(rows as u64) as usize).unwrap();
            base.iter().map(|&x| x + 0.05 * rng.next_gaussian() as f32).collect()
        } else {
            (0..dim).map(|_| rng.next_gaussian() as f32).collect()
        };
        assert_exact(&query, &m, k, "random");
    }

    /// Every row is one vector plus a perturbation far below the
    /// quantization error (or none at all), so that the bound cannot tell
    /// rows apart and ties decide the k-th place.
    #[test]
    fn near_ties(
        seed in any::<u64>(),
        rows in 2usize..300,
        dim in 1usize..130,
        k in 1usize..20,
        spread_exp in 0i32..12,
    ) {
        let mut rng = SplitMix64::new(seed);
        let base: Vec<f32> = (0..dim).map(|_| rng.next_gaussian() as f32).collect();
        let spread = 10f32.powi(-spread_exp);
        let mut flat = Vec::with_capacity(rows * dim);
        for r in 0..rows {
            for &x in &base {
                // Some rows are exact copies: ties in score, broken by id.
                let noise = if r % 3 == 0 { 0.0 } else { spread * rng.next_gaussian() as f32 };
                flat.push(x + noise);
            }
        }
        let m = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
        let query: Vec<f32> = base.iter().map(|&x| x + 0.01 * rng.next_gaussian() as f32).collect();
        assert_exact(&query, &m, k, "near ties");
    }
}

#[test]
fn degenerate_queries_and_rows() {
    let mut rng = SplitMix64::new(11);
    let dim = 24;
    let mut m = random_rows(&mut rng, 100, dim);
    m.push(&[0.0; 24]).unwrap();
    let mut huge = vec![0.0f32; dim];
    huge[3] = 3e37;
    huge[4] = -2e37;
    m.push(&huge).unwrap();
    let mut tiny = vec![0.0f32; dim];
    tiny[0] = 1e-41; // subnormal
    tiny[9] = -3e-39;
    m.push(&tiny).unwrap();
    let mut query: Vec<f32> = (0..dim).map(|_| rng.next_gaussian() as f32).collect();
    assert_exact(&query, &m, 5, "mixed magnitudes");
    // A query that overflows `f32` dot products with the huge row.
    query[3] = 1e10;
    assert_exact(&query, &m, 5, "overflowing products");
    assert_exact(&[0.0; 24], &m, 5, "zero query");
    let mut negative_zero = vec![0.0f32; dim];
    negative_zero[7] = -0.0;
    assert_exact(&negative_zero, &m, 3, "negative zero query");
    assert_exact(&tiny, &m, 4, "tiny query");
    assert_exact(&huge, &m, 4, "huge query");
}

#[test]
fn k_beyond_the_rows_and_selectors_that_already_hold_hits() {
    let mut rng = SplitMix64::new(5);
    let m = random_rows(&mut rng, 30, 50);
    let query: Vec<f32> = (0..50).map(|_| rng.next_gaussian() as f32).collect();
    assert_exact(&query, &m, 64, "k > rows");
    assert_exact(&query, &m, 0, "k = 0");
    for quantization in FORMS {
        let quantized = QuantizedMatrix::new(&m, quantization).unwrap();
        let kernels = Kernels::best();
        let (mut top, mut expected, mut got) = (TopK::new(6), Vec::new(), Vec::new());
        // A hit from another matrix, better than most rows: it raises
        // the floor from the start.
        top.push(9000, 0.2);
        kernels.top_k_cosine(&query, &m, &mut top).unwrap();
        top.drain_sorted(&mut expected);
        top.push(9000, 0.2);
        kernels
            .top_k_cosine_exact(&query, &quantized, &m, &mut top)
            .unwrap();
        top.drain_sorted(&mut got);
        assert_eq!(bits(&got), bits(&expected), "{quantization}");
    }
}

/// On embedding-like data (a query near one row, the rest far) the bound
/// turns almost every row away: few are rescored.
#[test]
fn the_bound_prunes_embedding_like_data() {
    let mut rng = SplitMix64::new(8);
    let (rows, dim, k) = (4000, 96, 10);
    let m = random_rows(&mut rng, rows, dim);
    let query: Vec<f32> = m
        .row(1234)
        .unwrap()
        .iter()
        .map(|&x| x + 0.1 * rng.next_gaussian() as f32)
        .collect();
    let rescored = assert_exact(&query, &m, k, "pruning");
    assert!(
        rescored < rows / 10,
        "{rescored} of {rows} rows rescored: the bound prunes too little"
    );
}

/// The approximate scan reads no `f32` rows; on random data its hits are
/// mostly the exact ones, and its scores are close.
#[test]
fn approximate_scans_find_most_of_the_exact_hits() {
    let mut rng = SplitMix64::new(21);
    let (rows, dim, k) = (3000, 64, 16);
    let m = random_rows(&mut rng, rows, dim);
    for quantization in FORMS {
        let quantized = QuantizedMatrix::new(&m, quantization).unwrap();
        let mut found = 0;
        for _ in 0..20 {
            let query: Vec<f32> = (0..dim).map(|_| rng.next_gaussian() as f32).collect();
            let (mut top, mut exact, mut approx) = (TopK::new(k), Vec::new(), Vec::new());
            let kernels = Kernels::best();
            kernels.top_k_cosine(&query, &m, &mut top).unwrap();
            top.drain_sorted(&mut exact);
            kernels
                .top_k_cosine_approx(&query, &quantized, &mut top)
                .unwrap();
            top.drain_sorted(&mut approx);
            assert_eq!(approx.len(), k);
            for hit in &approx {
                let truth = Kernels::scalar()
                    .cosine(&query, m.row(hit.id as usize).unwrap())
                    .unwrap();
                assert!((hit.score - truth).abs() < 0.02, "{quantization}");
            }
            found += approx
                .iter()
                .filter(|a| exact.iter().any(|e| e.id == a.id))
                .count();
        }
        let recall = found as f64 / (20 * k) as f64;
        assert!(recall > 0.8, "{quantization}: recall@{k} {recall}");
    }
}

/// The halves a `QuantizedMatrix` stores are the `half` crate's nearest
/// halves (ties to even), zero where those would be subnormal, and decode
/// to the values `half` gives them: checked on `f32`s all over `[-1, 1]`
/// and on every half's rounding midpoint and its two neighbours.
#[test]
fn halves_are_the_nearest_and_decode_exactly() {
    use half::f16;
    let one = 1.0f32.to_bits();
    let magnitudes: Vec<u32> = (0..=one)
        .step_by(if cfg!(debug_assertions) { 16_381 } else { 1021 })
        .chain((0..0x3c00u32).flat_map(|h| {
            let mid = (h << 13) + (0x1000 + (112 << 23));
            [mid - 1, mid, mid + 1]
        }))
        .filter(|&b| b <= one)
        .collect();
    // Rows (x, 1): the largest magnitude is 1, so each x is stored as is.
    let flat: Vec<f32> = magnitudes
        .iter()
        .flat_map(|&b| [f32::from_bits(b), 1.0, -f32::from_bits(b), 1.0])
        .collect();
    let m = EmbeddingMatrix::from_rows(2, &flat).unwrap();
    let q = QuantizedMatrix::new(&m, Quantization::F16).unwrap();
    for r in 0..m.rows() {
        let x = m.row(r).unwrap()[0];
        let nearest = f16::from_f32(x);
        let expected = if !nearest.is_normal() && nearest.to_f32() != 0.0 {
            0.0f32.copysign(x)
        } else {
            nearest.to_f32()
        };
        let decoded = q.decode_row(r).unwrap()[0];
        assert_eq!(decoded.to_bits(), expected.to_bits(), "{x:e}");
    }
    assert!(m.rows() > 100_000);
}
