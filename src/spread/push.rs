//! Push: scatter the frontier's activation along out-edges.
//!
//! Cost is proportional to the frontier's out-edges, so push wins while the
//! frontier is small. Writes are scattered; the accumulator choice (dense
//! array or small hash map) decides where they land.

use super::accumulator::Accumulate;
use super::fixed::{contribution, strength};
use super::params::Fan;
use super::state::FrontierEntry;
#[cfg(feature = "parallel")]
use crate::graph::CsrView;

/// How many edges ahead a push prefetches its target. A scattered write that
/// misses cache costs more than the loop body; 16 edges ahead keeps several
/// in flight (8 to 10% faster `rmat20_query_std` than none, 8 and 32 about
/// the same).
const PREFETCH_DISTANCE: usize = 16;

/// Adds every frontier node's contributions to its out-neighbours into `acc`.
#[cfg(feature = "parallel")]
#[inline(always)]
pub(crate) fn push<A: Accumulate>(
    out: CsrView<'_>,
    frontier: &[FrontierEntry],
    decay_scaled: f32,
    fan: Fan,
    acc: &mut A,
) {
    for &entry in frontier {
        let (targets, weights) = out.neighbors(entry.node);
        push_row(entry, targets, weights, decay_scaled, fan, acc);
    }
}

/// Adds one frontier node's contributions along its out-edges (`targets`,
/// `weights`) into `acc`.
#[inline(always)]
pub(crate) fn push_row<A: Accumulate>(
    entry: FrontierEntry,
    targets: &[u32],
    weights: &[f32],
    decay_scaled: f32,
    fan: Fan,
    acc: &mut A,
) {
    let s = strength(entry.delta, decay_scaled, fan, targets.len() as u32);
    for (i, (&v, &w)) in targets.iter().zip(weights).enumerate() {
        if let Some(&ahead) = targets.get(i + PREFETCH_DISTANCE) {
            acc.prefetch(ahead);
        }
        acc.add(v, contribution(s, w));
    }
}
