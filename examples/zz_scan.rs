//! probe
#![allow(missing_docs)]
use axonal::graph::generate::SplitMix64;
use axonal::layout::EmbeddingMatrix;
use axonal::simd::{Kernels, TopK};
use std::time::Instant;
fn main() {
    let (dim, rows) = (384, 100_000);
    let mut rng = SplitMix64::new(2);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect() };
    let matrix = EmbeddingMatrix::from_rows(dim, &random(dim * rows)).unwrap();
    let queries: Vec<Vec<f32>> = (0..32).map(|_| random(dim)).collect();
    let k = Kernels::best();
    let mut tops: Vec<TopK> = (0..32).map(|_| TopK::new(16)).collect();
    let (mut b1, mut b32) = (f64::MAX, f64::MAX);
    for _ in 0..8 {
        let t = Instant::now();
        for (q, top) in queries.iter().zip(&mut tops) {
            top.clear();
            k.top_k_cosine(q, &matrix, top).unwrap();
        }
        b1 = b1.min(t.elapsed().as_secs_f64());
        for top in &mut tops {
            top.clear();
        }
        let t = Instant::now();
        k.top_k_cosine_batch(&queries, &matrix, &mut tops).unwrap();
        b32 = b32.min(t.elapsed().as_secs_f64());
    }
    println!(
        "q1 {:.1} ms  q32 {:.1} ms  ratio {:.2}",
        b1 * 1e3,
        b32 * 1e3,
        b1 / b32
    );
}
