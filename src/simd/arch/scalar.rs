//! The portable scalar backend: one accumulator, in index order.
//!
//! This is also the baseline the SIMD backends are measured against.

use crate::layout::half::f16_to_f32;
use crate::simd::{Backend, RawKernels, RowWalk};

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn dot_norms(a: &[f32], b: &[f32]) -> [f32; 3] {
    let mut out = [0.0f32; 3];
    for (&x, &y) in a.iter().zip(b) {
        out[0] += x * y;
        out[1] += x * x;
        out[2] += y * y;
    }
    out
}

fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Scalar code has one chain per row anyway: every walk is one row after
/// another.
fn dot_rows(query: &[f32], rows: &[f32], stride: usize, _walk: RowWalk, out: &mut [f32]) {
    for (r, score) in out.iter_mut().enumerate() {
        *score = dot(query, &rows[r * stride..r * stride + query.len()]);
    }
}

fn dot_rows4(queries: [&[f32]; 4], rows: &[f32], stride: usize, out: &mut [[f32; 4]]) {
    for (r, scores) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..r * stride + queries[0].len()];
        *scores = queries.map(|q| dot(q, row));
    }
}

fn dot_rows_f16(query: &[f32], rows: &[u16], stride: usize, out: &mut [f32]) {
    for (r, score) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..(r + 1) * stride];
        *score = query
            .iter()
            .zip(row)
            .map(|(&q, &h)| q * f16_to_f32(h))
            .sum();
    }
}

fn dot_rows_i8(query: &[i8], rows: &[i8], stride: usize, out: &mut [i32]) {
    for (r, score) in out.iter_mut().enumerate() {
        let row = &rows[r * stride..(r + 1) * stride];
        *score = query
            .iter()
            .zip(row)
            .map(|(&q, &x)| i32::from(q) * i32::from(x))
            .sum();
    }
}

pub(crate) static KERNELS: RawKernels = RawKernels {
    backend: Backend::Scalar,
    dot,
    dot_norms,
    l2_squared,
    dot_rows,
    streams_large: false,
    dot_rows4,
    dot_rows_f16,
    dot_rows_i8,
};
