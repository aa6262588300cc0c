//! Pull: every node gathers from its in-edges.
//!
//! Once a frontier's out-edges are a sizeable share of the graph, reading all
//! in-edges sequentially beats scattering writes: the edge arrays stream from
//! memory at full bandwidth and the only random reads are into the per-source
//! strength array (4 bytes per node). This is also one dense sparse
//! matrix-vector product, exposed as [`dense_hop`].
//!
//! The loop over nodes is written once ([`pull_rows`]); a row kernel sums one
//! node's in-edges. The scalar kernel is the reference; on x86-64 with AVX2 a
//! kernel gathers eight strengths per instruction. Both compute every
//! contribution with the same `f32` operations (multiply, add `0.5`, truncate;
//! never a fused multiply-add) and sum integers, so they return the same bits.
//! (Soft-float x86-64 targets such as `x86_64-unknown-none` keep vector
//! registers off; they compile only the scalar kernel.)

use core::ops::Range;

use super::SpreadError;
use super::fixed::{SCALE, UNIT, contribution};
use super::isa::Isa;
#[cfg(any(feature = "cache", test))]
use crate::graph::targets_below;
use crate::graph::{CsrView, GraphView};

/// The row kernel for a graph of `nodes` nodes: the spreading kernels'
/// [`Isa`], unless node ids do not fit the AVX2 gather's signed 32-bit
/// indices.
fn row_isa(nodes: usize) -> Isa {
    if nodes <= i32::MAX as usize {
        Isa::best()
    } else {
        Isa::Scalar
    }
}

/// A pulled row's `u64` sum as the `u32` a settle takes (saturated: a sum
/// that large caps the node at 1 anyway).
#[inline(always)]
pub(crate) fn saturate(units: u64) -> u32 {
    units.min(u64::from(u32::MAX)) as u32
}

/// Rows `first..first + offsets.len() - 1` of an in-edge CSR: row `v`'s
/// sources and weights are `sources[offsets[i] - base..offsets[i + 1] -
/// base]` (and the same of `weights`), `i = v - first`. A whole graph's
/// rows ([`RowBlock::of`]) or one block of them read from a cache
/// ([`RowBlock::new`]).
#[derive(Clone, Copy)]
pub(crate) struct RowBlock<'a> {
    first: u32,
    offsets: &'a [u64],
    base: u64,
    sources: &'a [u32],
    weights: &'a [f32],
    /// Every id in `sources` is below this.
    nodes: usize,
}

impl<'a> RowBlock<'a> {
    /// Rows `rows` of `inc`.
    ///
    /// # Panics
    /// If `rows` is not a range of `inc`'s nodes.
    #[inline(always)]
    pub(crate) fn of(inc: CsrView<'a>, rows: Range<u32>) -> RowBlock<'a> {
        RowBlock {
            first: rows.start,
            offsets: &inc.offsets()[rows.start as usize..=rows.end as usize],
            base: 0,
            sources: inc.targets(),
            weights: inc.weights(),
            nodes: inc.node_count(),
        }
    }

    /// Rows from `first` with `offsets` (one more than rows, non-decreasing)
    /// over a block holding exactly their edges. `None` unless the lengths
    /// agree and every source is below `nodes`.
    #[cfg(any(feature = "cache", test))]
    pub(crate) fn new(
        first: u32,
        offsets: &'a [u64],
        sources: &'a [u32],
        weights: &'a [f32],
        nodes: usize,
    ) -> Option<RowBlock<'a>> {
        let (&base, &end) = (offsets.first()?, offsets.last()?);
        let fits = end.checked_sub(base) == Some(sources.len() as u64)
            && weights.len() == sources.len()
            && offsets.windows(2).all(|w| w[0] <= w[1])
            && targets_below(sources, nodes as u64);
        fits.then_some(RowBlock {
            first,
            offsets,
            base,
            sources,
            weights,
            nodes,
        })
    }

    /// The rows.
    #[cfg(test)]
    pub(crate) fn rows(&self) -> Range<u32> {
        self.first..self.first + (self.offsets.len() - 1) as u32
    }
}

/// Calls `settle(v, units)` for every node `v` in `rows` whose in-edges carry
/// a non-zero fixed-point sum, in ascending `v`. `strength[u] * scale` is source `u`'s
/// strength in fixed-point units (0 for nodes outside the frontier); `scale`
/// must be a power of two, so that the product is exact.
///
/// # Panics
/// If `strength` does not hold one value per node, or `rows` is not a range
/// of nodes.
#[inline(always)]
pub(crate) fn pull(
    inc: CsrView<'_>,
    rows: Range<u32>,
    strength: &[f32],
    scale: f32,
    settle: impl FnMut(u32, u64),
) {
    pull_with(
        row_isa(inc.node_count()),
        RowBlock::of(inc, rows),
        strength,
        scale,
        settle,
    );
}

/// [`pull`] over one block of rows.
///
/// # Panics
/// If `strength` does not hold one value per node of the block's graph.
#[cfg(any(feature = "cache", test))]
#[inline(always)]
pub(crate) fn pull_block(
    block: RowBlock<'_>,
    strength: &[f32],
    scale: f32,
    settle: impl FnMut(u32, u64),
) {
    pull_with(row_isa(block.nodes), block, strength, scale, settle);
}

/// [`pull`] on a given kernel.
#[inline(always)]
pub(crate) fn pull_with(
    kernel: Isa,
    block: RowBlock<'_>,
    strength: &[f32],
    scale: f32,
    settle: impl FnMut(u32, u64),
) {
    assert_eq!(strength.len(), block.nodes, "one strength per node");
    match kernel {
        Isa::Scalar => pull_rows(block, settle, |sources, weights| {
            row_units_scalar(sources, weights, strength, scale)
        }),
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Isa::Avx2 => {
            assert!(Isa::Avx2.is_available() && block.nodes <= i32::MAX as usize);
            // SAFETY: AVX2 is available (checked above); every source id is
            // below `block.nodes` (a `RowBlock` invariant: `CsrView`'s, or
            // checked by `RowBlock::new`), which is `strength.len()` and at
            // most `i32::MAX`.
            unsafe { avx2::pull(block, strength, scale, settle) }
        }
    }
}

/// The loop over a block's rows, shared by every kernel: `row(sources,
/// weights)` sums one node's in-edges.
#[inline(always)]
fn pull_rows(
    block: RowBlock<'_>,
    mut settle: impl FnMut(u32, u64),
    mut row: impl FnMut(&[u32], &[f32]) -> u64,
) {
    let (sources, weights, base) = (block.sources, block.weights, block.base);
    for (v, bounds) in (block.first..).zip(block.offsets.windows(2)) {
        let range = (bounds[0] - base) as usize..(bounds[1] - base) as usize;
        let sum = row(&sources[range.clone()], &weights[range]);
        if sum != 0 {
            settle(v, sum);
        }
    }
}

/// One node's fixed-point sum, one edge at a time.
#[inline(always)]
fn row_units_scalar(sources: &[u32], weights: &[f32], strength: &[f32], scale: f32) -> u64 {
    sources
        .iter()
        .zip(weights)
        .map(|(&u, &w)| u64::from(contribution(strength[u as usize] * scale, w)))
        .sum()
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod avx2 {
    use core::arch::x86_64::*;

    use super::{RowBlock, pull_rows};

    /// [`pull_rows`] with the AVX2 row kernel, compiled for AVX2.
    ///
    /// # Safety
    /// AVX2 must be available, and every source id of `block` below
    /// `strength.len()` and at most `i32::MAX`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn pull(
        block: RowBlock<'_>,
        strength: &[f32],
        scale: f32,
        settle: impl FnMut(u32, u64),
    ) {
        pull_rows(block, settle, |sources, weights| {
            // SAFETY: AVX2 is available and the ids are in range (this
            // function's contract).
            unsafe { row_units(sources, weights, strength, scale) }
        });
    }

    /// One node's fixed-point sum, eight edges at a time; the last (partial)
    /// group is loaded and gathered under a lane mask, so short rows need no
    /// scalar tail. Lanes sum in `u64`, exactly like the scalar kernel.
    ///
    /// # Safety
    /// AVX2 must be available; `sources.len() == weights.len()`; every id in
    /// `sources` is below `strength.len()` and at most `i32::MAX`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn row_units(sources: &[u32], weights: &[f32], strength: &[f32], scale: f32) -> u64 {
        debug_assert_eq!(sources.len(), weights.len());
        let (half, scale) = (_mm256_set1_ps(0.5), _mm256_set1_ps(scale));
        let mut sum = _mm256_setzero_si256();
        let base = strength.as_ptr();
        let mut sources = sources.chunks_exact(8);
        let mut weights = weights.chunks_exact(8);
        for (ids, ws) in (&mut sources).zip(&mut weights) {
            // SAFETY: each chunk holds 8 elements (unaligned loads); the ids
            // index `strength` (contract), so all 8 gathered reads are in bounds.
            let units = unsafe {
                let ids = _mm256_loadu_si256(ids.as_ptr().cast());
                let s = _mm256_mul_ps(_mm256_i32gather_ps::<4>(base, ids), scale);
                let w = _mm256_loadu_ps(ws.as_ptr());
                _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(s, w), half))
            };
            sum = add_widened(sum, units);
        }
        let (ids, ws) = (sources.remainder(), weights.remainder());
        if !ids.is_empty() {
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(ids.len() as i32), lane);
            // SAFETY: masked loads read only the lanes below `ids.len()`, which
            // exist, and never fault on the others; the gather reads only
            // those lanes, whose ids index `strength` (contract). Masked-off
            // lanes hold strength 0 and weight 0: `trunc(0 * 0 + 0.5)` adds 0.
            let units = unsafe {
                let idx = _mm256_maskload_epi32(ids.as_ptr().cast(), mask);
                let w = _mm256_maskload_ps(ws.as_ptr(), mask);
                let s = _mm256_mask_i32gather_ps::<4>(
                    _mm256_setzero_ps(),
                    base,
                    idx,
                    _mm256_castsi256_ps(mask),
                );
                let s = _mm256_mul_ps(s, scale);
                _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(s, w), half))
            };
            sum = add_widened(sum, units);
        }
        let pair = _mm_add_epi64(
            _mm256_castsi256_si128(sum),
            _mm256_extracti128_si256::<1>(sum),
        );
        (_mm_cvtsi128_si64(pair) as u64).wrapping_add(_mm_extract_epi64::<1>(pair) as u64)
    }

    /// `sum + units`, the eight `u32` lanes of `units` widened to `u64` and
    /// added pairwise into the four lanes of `sum`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn add_widened(sum: __m256i, units: __m256i) -> __m256i {
        let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(units));
        let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(units));
        _mm256_add_epi64(sum, _mm256_add_epi64(lo, hi))
    }
}

/// One dense hop: `out[v] = sum over edges u -> v of x[u] * w(u, v)`.
///
/// This is the sparse matrix-vector product under spreading (with every node
/// active), computed by the spreading kernel's own pull loop and fixed-point
/// arithmetic: each term is rounded to a multiple of `2^-30`, and the result is
/// bit-identical whatever the order of summation. `x` must hold one value in
/// `[0, 1]` per node; `out` one slot per node.
pub fn dense_hop<'g>(
    graph: impl Into<GraphView<'g>>,
    x: &[f32],
    out: &mut [f32],
) -> Result<(), SpreadError> {
    let graph = graph.into();
    let n = graph.node_count();
    check_dense_hop(n, x, n, out)?;
    // Scaling by a power of two is exact: the strength of `u` is `x[u]` in units.
    out.fill(0.0);
    pull(graph.in_edges(), 0..n as u32, x, SCALE, |v, sum| {
        out[v as usize] = units_to_activation(sum);
    });
    Ok(())
}

/// The arguments of a dense hop over `nodes` nodes whose rows `rows` are
/// computed: one `x` per node, each in `[0, 1]`, one `out` slot per row.
pub(crate) fn check_dense_hop(
    nodes: usize,
    x: &[f32],
    rows: usize,
    out: &[f32],
) -> Result<(), SpreadError> {
    for (expected, found) in [(nodes, x.len()), (rows, out.len())] {
        if expected != found {
            return Err(SpreadError::LengthMismatch { expected, found });
        }
    }
    if let Some(index) = x.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(SpreadError::InvalidValue {
            index,
            value: x[index],
        });
    }
    Ok(())
}

/// One dense-hop row: the activation that in-edges `sources`/`weights`
/// bring from `x` (exactly what [`dense_hop`] computes for the row).
#[cfg(feature = "store")]
#[inline]
pub(crate) fn dense_hop_row(sources: &[u32], weights: &[f32], x: &[f32]) -> f32 {
    units_to_activation(row_units_scalar(sources, weights, x, SCALE))
}

/// A dense-hop row's fixed-point sum as activation.
#[inline(always)]
fn units_to_activation(sum: u64) -> f32 {
    // A node has fewer than 2^32 in-edges, so `sum < 2^62`: the signed
    // conversion (one instruction, unlike `u64 as f64`) is exact in range.
    (sum as i64 as f64 * UNIT) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, GraphBuilder};
    use crate::rng::SplitMix64;
    use alloc::vec::Vec;

    /// A graph whose in-degrees run over every length the AVX2 kernel treats
    /// differently (empty, partial group, whole groups, groups plus a tail).
    fn graph(n: u32, seed: u64) -> Graph {
        let mut rng = SplitMix64::new(seed);
        let mut b = GraphBuilder::with_node_count(n);
        for v in 0..n {
            for _ in 0..(v % 27) {
                let u = rng.below(u64::from(n)) as u32;
                let w = match rng.below(8) {
                    0 => 1.0,
                    1 => f32::MIN_POSITIVE,
                    _ => rng.next_f32().max(1e-3),
                };
                b.add_edge(u, v, w).unwrap();
            }
        }
        b.build().unwrap()
    }

    fn run(kernel: Isa, g: &Graph, strength: &[f32], scale: f32) -> Vec<(u32, u64)> {
        let mut sums = Vec::new();
        let rows = RowBlock::of(g.in_edges(), 0..g.node_count() as u32);
        pull_with(kernel, rows, strength, scale, |v, s| sums.push((v, s)));
        sums
    }

    /// A block of rows with its own copy of their edges sums as the whole
    /// graph does; a block with a source out of range is refused.
    #[test]
    fn blocks_of_rows_pull_as_the_whole_graph() {
        let g = graph(60, 3);
        let strength: Vec<f32> = (0..60).map(|u| (u % 7) as f32 * 0.1).collect();
        let want = run(Isa::best(), &g, &strength, SCALE);
        let inc = g.in_edges();
        let mut got = Vec::new();
        for rows in [0..17u32, 17..18, 18..18, 18..60] {
            let edges = inc.offsets()[rows.start as usize] as usize
                ..inc.offsets()[rows.end as usize] as usize;
            let (sources, weights) = (
                inc.targets()[edges.clone()].to_vec(),
                inc.weights()[edges].to_vec(),
            );
            let offsets = &inc.offsets()[rows.start as usize..=rows.end as usize];
            let block = RowBlock::new(rows.start, offsets, &sources, &weights, 60).unwrap();
            assert_eq!(block.rows(), rows);
            pull_block(block, &strength, SCALE, |v, s| got.push((v, s)));
        }
        assert_eq!(got, want);
        let offsets = &inc.offsets()[..=60];
        let mut sources = inc.targets().to_vec();
        sources[5] = 60;
        assert!(RowBlock::new(0, offsets, &sources, inc.weights(), 60).is_none());
        assert!(RowBlock::new(0, &offsets[..3], inc.targets(), inc.weights(), 60).is_none());
    }

    #[test]
    fn scalar_kernel_sums_contributions_per_node() {
        let g = graph(40, 1);
        let strength: Vec<f32> = (0..40).map(|u| (u as f32) * 1000.0).collect();
        let got = run(Isa::Scalar, &g, &strength, 1.0);
        let mut want = alloc::vec![0u64; 40];
        for (u, v, w) in g.edges() {
            want[v as usize] += u64::from(contribution(strength[u as usize], w));
        }
        let want: Vec<(u32, u64)> = (0..40u32)
            .filter(|&v| want[v as usize] != 0)
            .map(|v| (v, want[v as usize]))
            .collect();
        assert_eq!(got, want);
    }

    /// Every kernel this CPU runs returns the scalar kernel's bits.
    #[test]
    fn kernels_agree_bit_for_bit() {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        let kernels: &[Isa] = if Isa::Avx2.is_available() {
            &[Isa::Avx2]
        } else {
            std::println!("SKIPPED: AVX2 pull kernel (CPU lacks AVX2)");
            &[]
        };
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        let kernels: &[Isa] = &[];
        let n = if cfg!(miri) { 60 } else { 300 };
        for seed in 0..4 {
            let g = graph(n, seed);
            let mut rng = SplitMix64::new(seed + 100);
            // Units (spreader) and activations scaled by 2^30 (dense hop),
            // with zeros (nodes outside the frontier), denormals and extremes.
            let units: Vec<f32> = (0..n)
                .map(|_| match rng.below(6) {
                    0 => 0.0,
                    1 => SCALE,
                    2 => f32::from_bits(1),
                    _ => rng.next_f32() * SCALE,
                })
                .collect();
            let unit: Vec<f32> = units.iter().map(|s| s / SCALE).collect();
            for (strength, scale) in [(&units, 1.0), (&unit, SCALE)] {
                let want = run(Isa::Scalar, &g, strength, scale);
                for &k in kernels {
                    assert_eq!(run(k, &g, strength, scale), want, "{k:?}, seed {seed}");
                }
            }
        }
    }
}
