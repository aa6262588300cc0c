//! Pull: every node gathers from its in-edges.
//!
//! Once a frontier's out-edges are a sizeable share of the graph, reading all
//! in-edges sequentially beats scattering writes: the edge arrays stream from
//! memory at full bandwidth and the only random reads are into the per-source
//! strength array (4 bytes per node). This is also one dense sparse
//! matrix-vector product, exposed as [`dense_hop`].

use super::SpreadError;
use super::fixed::{SCALE, UNIT, contribution};
use crate::graph::{CsrView, GraphView};

/// Calls `settle(v, units)` for every node `v` whose in-edges carry a non-zero
/// fixed-point sum, in ascending `v`. `strength(u)` is source `u`'s strength
/// (0 for nodes outside the frontier).
#[inline(always)]
pub(crate) fn pull(
    inc: CsrView<'_>,
    strength: impl Fn(usize) -> f32,
    mut settle: impl FnMut(u32, u64),
) {
    let offsets = inc.offsets();
    let (sources, weights) = (inc.targets(), inc.weights());
    for v in 0..inc.node_count() {
        let range = offsets[v] as usize..offsets[v + 1] as usize;
        let mut sum = 0u64;
        for (&u, &w) in sources[range.clone()].iter().zip(&weights[range]) {
            sum += u64::from(contribution(strength(u as usize), w));
        }
        if sum != 0 {
            settle(v as u32, sum);
        }
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
    for len in [x.len(), out.len()] {
        if len != n {
            return Err(SpreadError::LengthMismatch {
                expected: n,
                found: len,
            });
        }
    }
    if let Some(index) = x.iter().position(|v| !(0.0..=1.0).contains(v)) {
        return Err(SpreadError::InvalidValue {
            index,
            value: x[index],
        });
    }
    // Scaling by a power of two is exact: the strength of `u` is `x[u]` in units.
    out.fill(0.0);
    pull(
        graph.in_edges(),
        |u| x[u] * SCALE,
        |v, sum| out[v as usize] = (sum as f64 * UNIT) as f32,
    );
    Ok(())
}
