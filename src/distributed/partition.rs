//! Cutting a graph into node ranges, one per worker, balanced by edges.

use core::ops::Range;

use super::DistributedError;
use crate::graph::GraphView;
use crate::spread::driver::GraphShape;

/// One worker's part of a graph: the rows `rows()` of its out- and
/// in-edges, which it alone reads, and where every other node lives.
///
/// The ranges are contiguous node ids, balanced by what a worker does per
/// node: its out-edges (pushes), in-edges (pulls) and the node itself
/// (a pulled row's fixed cost, settling). Graphs reordered by degree (`Graph::reorder`) put hubs
/// first, so a range of few nodes may hold many edges, which is what the
/// balance accounts for.
#[derive(Clone, Debug)]
pub struct Partition<'g> {
    graph: GraphView<'g>,
    /// `bounds[i]..bounds[i + 1]` is part `i`'s rows.
    bounds: Vec<u32>,
    index: usize,
    fingerprint: u64,
}

impl<'g> Partition<'g> {
    /// Part `index` of `graph` cut into `parts` ranges.
    ///
    /// `graph` may be a whole graph in memory or a memory-mapped `.axg`
    /// file (`store::AxgStore::map`): a worker then touches only the pages
    /// of its own rows' edges, and the offsets (16 bytes a node), which
    /// the cut and the graph's fingerprint read.
    pub fn new(
        graph: impl Into<GraphView<'g>>,
        parts: usize,
        index: usize,
    ) -> Result<Partition<'g>, DistributedError> {
        if index >= parts {
            return Err(DistributedError::Partition { parts, index });
        }
        let graph = graph.into();
        Ok(Partition {
            bounds: balanced_bounds(graph, parts),
            fingerprint: fingerprint(graph),
            graph,
            index,
        })
    }

    /// This part's rows.
    pub fn rows(&self) -> Range<u32> {
        self.bounds[self.index]..self.bounds[self.index + 1]
    }

    /// This part's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Parts.
    pub fn parts(&self) -> usize {
        self.bounds.len() - 1
    }

    /// The part that owns node `v`.
    #[inline]
    pub fn owner(&self, v: u32) -> usize {
        self.bounds.partition_point(|&b| b <= v) - 1
    }

    /// The first node of every part, then the node count.
    pub fn bounds(&self) -> &[u32] {
        &self.bounds
    }

    /// Nodes of the whole graph.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Edges of the whole graph.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The whole graph's view (a worker reads only its rows of it).
    pub(crate) fn graph(&self) -> GraphView<'g> {
        self.graph
    }

    /// A hash of the graph's size and offsets: workers compare theirs at
    /// start.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl GraphShape for &Partition<'_> {
    fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }
}

/// What a node costs a worker beyond its edges, in edges: a pulled row's
/// fixed cost (its gather loop's set-up and tail, its settling) is about
/// that of 24 edges (`examples/distributed.rs`, R-MAT 20 `query_wide` on 2
/// workers, Zen 4: 16 to 32 equally best; 0 left the worker holding the
/// short rows 1.4x slower than the one holding the hubs).
const NODE_COST: u64 = 24;

/// Boundaries of `parts` ranges with about equal out-edges + in-edges +
/// [`NODE_COST`] x nodes each.
fn balanced_bounds(graph: GraphView<'_>, parts: usize) -> Vec<u32> {
    let (out, inc) = (graph.out_edges().offsets(), graph.in_edges().offsets());
    let n = graph.node_count();
    let work = |v: usize| out[v] + inc[v] + NODE_COST * v as u64;
    let total = work(n);
    let mut bounds: Vec<u32> = (0..parts)
        .map(|i| {
            let target = (total as u128 * i as u128 / parts as u128) as u64;
            first_at_least(n, target, work) as u32
        })
        .collect();
    bounds.push(n as u32);
    bounds
}

/// The first `v` in `0..=n` with `work(v) >= target` (`work` ascending).
fn first_at_least(n: usize, target: u64, work: impl Fn(usize) -> u64) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if work(mid) < target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Rows of each direction whose targets and weights the fingerprint
/// hashes too: one every this many (a few pages of a mapped file).
const SAMPLE_EVERY: usize = 4096;

/// xxh3 of the node and edge counts, both offset arrays, and the targets
/// and weights of a sample of rows: graphs of the same degrees but other
/// edges or weights differ (a graph that differs only outside the sample
/// does not: compare its file's checksum where that matters).
fn fingerprint(graph: GraphView<'_>) -> u64 {
    use xxhash_rust::xxh3::Xxh3;
    let mut h = Xxh3::new();
    h.update(&(graph.node_count() as u64).to_le_bytes());
    h.update(&(graph.edge_count() as u64).to_le_bytes());
    h.update(bytemuck::cast_slice(graph.out_edges().offsets()));
    h.update(bytemuck::cast_slice(graph.in_edges().offsets()));
    for csr in [graph.out_edges(), graph.in_edges()] {
        for v in (0..graph.node_count()).step_by(SAMPLE_EVERY) {
            let (targets, weights) = csr.neighbors(v as u32);
            h.update(bytemuck::cast_slice(targets));
            h.update(bytemuck::cast_slice(weights));
        }
    }
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::generate;

    #[test]
    fn parts_tile_the_nodes_and_balance_work() {
        let graph = generate::Rmat::graph500(12).generate();
        let (graph, _) = graph.reorder(crate::graph::Ordering::DegreeDescending);
        for parts in 1..=5 {
            let all: Vec<_> = (0..parts)
                .map(|i| Partition::new(&graph, parts, i).unwrap())
                .collect();
            assert_eq!(all[0].rows().start, 0);
            assert_eq!(all[parts - 1].rows().end as usize, graph.node_count());
            for pair in all.windows(2) {
                assert_eq!(pair[0].rows().end, pair[1].rows().start);
            }
            // Work: out-edges + in-edges + NODE_COST a node; each part's
            // within one node's work of an even share.
            let (out, inc) = (graph.out_edges(), graph.in_edges());
            let node = |v: u32| u64::from(out.degree(v) + inc.degree(v)) + NODE_COST;
            let heaviest = (0..graph.node_count() as u32).map(node).max().unwrap();
            let total: u64 = (0..graph.node_count() as u32).map(node).sum();
            for p in &all {
                let work: u64 = p.rows().map(node).sum();
                assert!(
                    work.abs_diff(total / parts as u64) <= heaviest + 1,
                    "{parts}: {work}"
                );
                for v in p.rows() {
                    assert_eq!(all[0].owner(v), p.index());
                }
            }
        }
        assert!(matches!(
            Partition::new(&graph, 2, 2),
            Err(DistributedError::Partition { parts: 2, index: 2 })
        ));
    }
}
