//! Machine-limit probes: loops that do only part of what a pull hop does, so
//! that a kernel's figure reads against what this machine allows, measured
//! in the same criterion run (on a shared, noisy machine only figures of one
//! run compare).
//!
//! Each probe computes what the kernel computes, one value per row (node)
//! written to `out`, over the in-edge rows `first..first + out.len()`: nothing
//! can be skipped, and the memory traffic is the kernel's minus what the
//! probe leaves out. They are compiled like any user code (for the baseline
//! target, no runtime dispatch), which is the point of `plain_pull`.

use std::ops::Range;

use axonal::graph::CsrView;

/// The in-edges of row `v`.
fn row(inc: CsrView<'_>, v: usize) -> Range<usize> {
    inc.offsets()[v] as usize..inc.offsets()[v + 1] as usize
}

/// `out[v] = sum of w(u, v) * x[u]` over `v`'s in-edges, in `f32`: the plain
/// pull loop a user would write (a textbook SpMV row), without the kernel's
/// fixed point, saturation or frontier. Measures what a pull hop costs as
/// plain arithmetic over the same arrays.
pub fn plain_pull(inc: CsrView<'_>, x: &[f32], first: usize, out: &mut [f32]) {
    let (sources, weights) = (inc.targets(), inc.weights());
    for (i, y) in out.iter_mut().enumerate() {
        let e = row(inc, first + i);
        *y = sources[e.clone()]
            .iter()
            .zip(&weights[e])
            .map(|(&u, &w)| w * x[u as usize])
            .sum();
    }
}

/// `out[v] = wrapping sum of the bits of x[u]` over `v`'s in-edge sources
/// `u`: only the random gather of source strengths (integer adds, so no
/// float latency chain; no weights). Measures the memory-latency limit of any
/// pull hop: the kernel gathers exactly these values.
pub fn gather_only(inc: CsrView<'_>, x: &[f32], first: usize, out: &mut [u32]) {
    let sources = inc.targets();
    for (i, y) in out.iter_mut().enumerate() {
        *y = sources[row(inc, first + i)]
            .iter()
            .fold(0u32, |a, &u| a.wrapping_add(x[u as usize].to_bits()));
    }
}

/// `out[v] = wrapping sum of v's in-edge sources and weight bits`: a
/// sequential read of the arrays a pull reads (offsets, sources, weights),
/// with no gather. Measures the edges per second the memory bandwidth allows.
pub fn stream_edges(inc: CsrView<'_>, first: usize, out: &mut [u32]) {
    let (sources, weights) = (inc.targets(), inc.weights());
    for (i, y) in out.iter_mut().enumerate() {
        let e = row(inc, first + i);
        let s = sources[e.clone()]
            .iter()
            .fold(0u32, |a, &u| a.wrapping_add(u));
        *y = weights[e]
            .iter()
            .fold(s, |a, &w| a.wrapping_add(w.to_bits()));
    }
}
