//! Where a push hop sums its contributions: the [`Accumulate`] interface and
//! the sparse accumulator for small hops.
//!
//! (The dense accumulator is the `pending` field of every node's state cell,
//! next to its activation: see `state.rs`.) Like the dense one, the sparse
//! one remembers which nodes it touched, so a hop costs time in the number
//! of edges it reads, never in the graph size.

#[cfg(test)]
use alloc::vec;
use alloc::vec::Vec;

/// Where a push hop sums its contributions.
pub(crate) trait Accumulate {
    fn add(&mut self, node: u32, units: u32);

    /// Hints that `node` will be added to soon. Accumulators whose writes
    /// miss cache start the load early; the default does nothing.
    #[inline(always)]
    fn prefetch(&self, _node: u32) {}
}

/// An open-addressing hash map `node -> sum` of fixed power-of-two capacity,
/// for hops that touch few nodes: it stays in L1/L2 where a dense array
/// would spread the same writes over megabytes.
pub(crate) struct SparseAccumulator {
    keys: Vec<u32>,
    sums: Vec<u32>,
    used: Vec<u32>,
    shift: u32,
}

const EMPTY: u32 = u32::MAX;

impl SparseAccumulator {
    /// A map of `capacity` slots (rounded up to a power of two, at least 16).
    pub(crate) fn new(capacity: usize) -> SparseAccumulator {
        let capacity = capacity.next_power_of_two().max(16);
        SparseAccumulator {
            keys: alloc::vec![EMPTY; capacity],
            sums: alloc::vec![0; capacity],
            used: Vec::with_capacity(capacity),
            shift: 32 - capacity.trailing_zeros(),
        }
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// Distinct nodes held.
    #[cfg(feature = "timely")]
    pub(crate) fn len(&self) -> usize {
        self.used.len()
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        (self.keys.len() + self.sums.len() + self.used.capacity()) * 4
    }

    /// Adds `units` to `node`. The caller guarantees fewer than `capacity`
    /// distinct nodes per hop (it sends at most `capacity / 2` edges here).
    #[inline(always)]
    pub(crate) fn add(&mut self, node: u32, units: u32) {
        let mask = self.keys.len() - 1;
        let mut slot = (node.wrapping_mul(0x9E37_79B1) >> self.shift) as usize;
        loop {
            let key = self.keys[slot];
            if key == node {
                self.sums[slot] = self.sums[slot].saturating_add(units);
                return;
            }
            if key == EMPTY {
                self.keys[slot] = node;
                self.sums[slot] = units;
                self.used.push(slot as u32);
                return;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Hands every `(node, sum)` with a non-zero sum to `f` and empties the map.
    #[inline(always)]
    pub(crate) fn drain(&mut self, mut f: impl FnMut(u32, u32)) {
        for &slot in &self.used {
            let slot = slot as usize;
            let node = core::mem::replace(&mut self.keys[slot], EMPTY);
            let sum = core::mem::take(&mut self.sums[slot]);
            if sum != 0 {
                f(node, sum);
            }
        }
        self.used.clear();
    }
}

impl Accumulate for SparseAccumulator {
    #[inline(always)]
    fn add(&mut self, node: u32, units: u32) {
        SparseAccumulator::add(self, node, units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_skip_zero_and_reset() {
        let mut sparse = SparseAccumulator::new(64);
        for round in 0..3 {
            for (node, units) in [
                (5u32, 3u32),
                (999, 1),
                (5, 4),
                (17, 0),
                (64, u32::MAX),
                (64, 9),
            ] {
                sparse.add(node, units.saturating_add(round));
            }
            let mut got = Vec::new();
            sparse.drain(|n, s| got.push((n, s)));
            got.sort_unstable();
            let mut want = vec![(5, 7 + 2 * round), (64, u32::MAX), (999, 1 + round)];
            if round > 0 {
                want.push((17, round));
            }
            want.sort_unstable();
            assert_eq!(got, want);
        }
        assert_eq!(sparse.capacity(), 64);
    }
}
