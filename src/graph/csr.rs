//! Compressed sparse row storage and its borrowed view.

use alloc::vec::Vec;
use core::ops::Range;

use super::{GraphError, validate};
use crate::layout::{AlignedBuf, Node};

/// Largest supported node count. Ids run `0..MAX_NODES`; `u32::MAX` is
/// reserved as "no node" inside kernels.
pub const MAX_NODES: u32 = u32::MAX;

/// One direction of adjacency, owned.
#[derive(Debug, Clone, Default)]
pub(crate) struct Csr {
    pub(crate) offsets: Vec<u64>,
    pub(crate) targets: Vec<u32>,
    pub(crate) weights: Vec<f32>,
}

impl Csr {
    pub(crate) fn view(&self) -> CsrView<'_> {
        CsrView {
            offsets: &self.offsets,
            targets: &self.targets,
            weights: &self.weights,
        }
    }

    /// The transpose: in-lists come out sorted by source because sources are
    /// visited in ascending order.
    pub(crate) fn transpose(&self, node_count: usize) -> Csr {
        let mut offsets = alloc::vec![0u64; node_count + 1];
        for &t in &self.targets {
            offsets[t as usize + 1] += 1;
        }
        for i in 0..node_count {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor: Vec<u64> = offsets[..node_count].to_vec();
        let mut targets = alloc::vec![0u32; self.targets.len()];
        let mut weights = alloc::vec![0f32; self.targets.len()];
        for src in 0..node_count {
            let range = self.offsets[src] as usize..self.offsets[src + 1] as usize;
            for (&dst, &w) in self.targets[range.clone()].iter().zip(&self.weights[range]) {
                let slot = &mut cursor[dst as usize];
                targets[*slot as usize] = src as u32;
                weights[*slot as usize] = w;
                *slot += 1;
            }
        }
        Csr {
            offsets,
            targets,
            weights,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.offsets.len() * 8 + self.targets.len() * 4 + self.weights.len() * 4
    }
}

/// The row checks of [`CsrView::new`] on the rows of nodes `first_node..`
/// (a whole graph, or a chunk of a file's rows): `offsets` non-decreasing
/// (starting anywhere: they index a larger edge array, whose slice
/// `offsets[0]..offsets[last]` is `targets` and `weights`), every target
/// below `node_count`, every weight in `(0, 1]`. Edge and node numbers in
/// the errors are the larger graph's.
pub(crate) fn check_rows(
    first_node: u32,
    offsets: &[u64],
    targets: &[u32],
    weights: &[f32],
    node_count: usize,
) -> Result<(), GraphError> {
    let malformed = |reason| Err(GraphError::MalformedCsr { reason });
    if weights.len() != targets.len() {
        return malformed("targets and weights differ in length");
    }
    let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
        return malformed("offsets must not be empty");
    };
    // Branch-free reductions, then the first offender, only if any.
    if !validate::non_decreasing(offsets) {
        return malformed("offsets must not decrease");
    }
    if last - first != targets.len() as u64 {
        return malformed("last offset must equal the number of targets");
    }
    if !validate::edges_valid(targets, weights, node_count) {
        let bad_target = targets.iter().position(|&t| t as usize >= node_count);
        let bad_weight = weights.iter().position(|&w| !validate::weight_valid(w));
        // The first offending edge, its target checked before its weight.
        let e = bad_target
            .unwrap_or(usize::MAX)
            .min(bad_weight.unwrap_or(usize::MAX));
        let (dst, weight) = (targets[e], weights[e]);
        let edge = first as usize + e;
        if Some(e) == bad_target {
            return Err(GraphError::NodeOutOfRange {
                edge,
                node: dst,
                node_count: node_count as u64,
            });
        }
        let row = offsets.partition_point(|&o| o <= edge as u64) - 1;
        return Err(GraphError::InvalidWeight {
            edge,
            src: first_node + row as u32,
            dst,
            weight,
        });
    }
    Ok(())
}

/// A borrowed CSR adjacency: what the kernels read.
///
/// Invariants (checked by [`CsrView::new`], guaranteed for views of a
/// [`Graph`]): `offsets` is non-decreasing, starts at 0 and ends at
/// `targets.len() == weights.len()`; every target is below the node count
/// (`offsets.len() - 1`); every weight is finite and in `(0, 1]`.
#[derive(Debug, Clone, Copy)]
pub struct CsrView<'a> {
    offsets: &'a [u64],
    targets: &'a [u32],
    weights: &'a [f32],
}

impl<'a> CsrView<'a> {
    /// A view over raw CSR arrays (for example from a memory map), validated.
    pub fn new(
        offsets: &'a [u64],
        targets: &'a [u32],
        weights: &'a [f32],
    ) -> Result<CsrView<'a>, GraphError> {
        let view = CsrView::with_checked_contents(offsets, targets, weights)?;
        check_rows(0, offsets, targets, weights, view.node_count())?;
        Ok(view)
    }

    /// A view over raw CSR arrays whose contents the caller checked with
    /// [`validate`]'s reductions (over every part; the `.axg` verifier does
    /// so block by block): checks the rest, the arrays' shape, with
    /// [`CsrView::new`]'s errors.
    pub(crate) fn with_checked_contents(
        offsets: &'a [u64],
        targets: &'a [u32],
        weights: &'a [f32],
    ) -> Result<CsrView<'a>, GraphError> {
        let node_count = offsets.len().saturating_sub(1);
        if node_count as u64 > u64::from(MAX_NODES) {
            return Err(GraphError::TooManyNodes {
                requested: node_count as u64,
            });
        }
        let malformed = |reason| Err(GraphError::MalformedCsr { reason });
        if offsets.is_empty() || offsets[0] != 0 {
            return malformed("offsets must start with 0");
        }
        if offsets[node_count] != targets.len() as u64 {
            return malformed("last offset must equal the number of targets");
        }
        if weights.len() != targets.len() {
            return malformed("targets and weights differ in length");
        }
        Ok(CsrView {
            offsets,
            targets,
            weights,
        })
    }

    /// A view over arrays that [`CsrView::new`] accepted before and that
    /// have not changed since (the `.axg` store re-wraps what it checked
    /// when the file was opened).
    #[cfg(feature = "store")]
    pub(crate) fn new_unchecked(
        offsets: &'a [u64],
        targets: &'a [u32],
        weights: &'a [f32],
    ) -> CsrView<'a> {
        CsrView {
            offsets,
            targets,
            weights,
        }
    }

    /// Number of nodes.
    #[inline]
    pub fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of edges.
    #[inline]
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// The edge index range of node `v`.
    #[inline]
    pub fn edge_range(&self, v: u32) -> Range<usize> {
        self.offsets[v as usize] as usize..self.offsets[v as usize + 1] as usize
    }

    /// Number of edges of node `v`.
    #[inline]
    pub fn degree(&self, v: u32) -> u32 {
        (self.offsets[v as usize + 1] - self.offsets[v as usize]) as u32
    }

    /// The degrees of `nodes`, summed: a frontier's edges.
    #[inline]
    pub fn degree_sum(&self, nodes: impl IntoIterator<Item = u32>) -> u64 {
        nodes.into_iter().map(|v| u64::from(self.degree(v))).sum()
    }

    /// Neighbour ids (ascending) and edge weights of node `v`.
    #[inline]
    pub fn neighbors(&self, v: u32) -> (&'a [u32], &'a [f32]) {
        let r = self.edge_range(v);
        (&self.targets[r.clone()], &self.weights[r])
    }

    /// The `node_count + 1` edge offsets.
    #[inline]
    pub fn offsets(&self) -> &'a [u64] {
        self.offsets
    }

    /// All neighbour ids, node by node.
    #[inline]
    pub fn targets(&self) -> &'a [u32] {
        self.targets
    }

    /// All weights, parallel to [`targets`](Self::targets).
    #[inline]
    pub fn weights(&self) -> &'a [f32] {
        self.weights
    }
}

/// A directed, weighted memory graph in CSR form, with its transpose.
///
/// Made by [`GraphBuilder`](super::GraphBuilder), the readers in
/// [`io`](super::io) and the generators in [`generate`](super::generate).
#[derive(Debug, Clone)]
pub struct Graph {
    pub(crate) out: Csr,
    pub(crate) inc: Csr,
}

impl Graph {
    /// A graph from a validated, sorted, duplicate-free out-adjacency.
    pub(crate) fn from_out_csr(out: Csr) -> Graph {
        let inc = out.transpose(out.offsets.len() - 1);
        Graph { out, inc }
    }

    /// Number of nodes.
    #[inline]
    pub fn node_count(&self) -> usize {
        self.out.offsets.len() - 1
    }

    /// Number of (directed) edges.
    #[inline]
    pub fn edge_count(&self) -> usize {
        self.out.targets.len()
    }

    /// Out-edges, sorted by target within each node.
    #[inline]
    pub fn out_edges(&self) -> CsrView<'_> {
        self.out.view()
    }

    /// In-edges (the transpose), sorted by source within each node.
    #[inline]
    pub fn in_edges(&self) -> CsrView<'_> {
        self.inc.view()
    }

    /// Both directions, borrowed: what the spreading backends read
    /// (the same as `GraphView::from(&graph)`).
    #[inline]
    pub fn view(&self) -> GraphView<'_> {
        GraphView::from(self)
    }

    /// Out-degree of `v`.
    #[inline]
    pub fn out_degree(&self, v: u32) -> u32 {
        self.out_edges().degree(v)
    }

    /// Bytes held by both adjacency directions.
    pub fn memory_bytes(&self) -> usize {
        self.out.memory_bytes() + self.inc.memory_bytes()
    }

    /// Iterator over every edge as `(src, dst, weight)`, by source then target.
    pub fn edges(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        let out = self.out_edges();
        (0..self.node_count() as u32).flat_map(move |u| {
            let (t, w) = out.neighbors(u);
            t.iter().zip(w).map(move |(&v, &w)| (u, v, w))
        })
    }

    /// One 64-byte [`Node`] record per node, with its adjacency range filled
    /// in, `memory_id` = node id, and everything else at its initial value.
    pub fn node_records(&self) -> AlignedBuf<Node> {
        let mut nodes = AlignedBuf::<Node>::zeroed(self.node_count());
        for (v, node) in nodes.iter_mut().enumerate() {
            *node = Node::new(v as u64);
            node.edge_start = self.out.offsets[v];
            node.edge_count = (self.out.offsets[v + 1] - self.out.offsets[v]) as u32;
        }
        nodes
    }
}

/// Both adjacency directions of a graph, borrowed: what spreading reads.
///
/// Obtained from a [`Graph`] (`GraphView::from(&graph)`) or assembled from
/// two validated [`CsrView`]s over other storage.
#[derive(Debug, Clone, Copy)]
pub struct GraphView<'g> {
    out: CsrView<'g>,
    inc: CsrView<'g>,
}

impl<'g> GraphView<'g> {
    /// A graph from its out-edges and in-edges. `inc` must be the transpose of
    /// `out`; the node and edge counts are checked, the edges themselves are
    /// not (a wrong transpose gives wrong activations, never unsafety).
    pub fn new(out: CsrView<'g>, inc: CsrView<'g>) -> Result<GraphView<'g>, GraphError> {
        if out.node_count() != inc.node_count() || out.edge_count() != inc.edge_count() {
            return Err(GraphError::MalformedCsr {
                reason: "in-edges are not the transpose of out-edges",
            });
        }
        Ok(GraphView { out, inc })
    }

    /// Both directions, as [`GraphView::new`] accepted them before.
    #[cfg(feature = "store")]
    pub(crate) fn new_unchecked(out: CsrView<'g>, inc: CsrView<'g>) -> GraphView<'g> {
        GraphView { out, inc }
    }

    /// Number of nodes.
    #[inline]
    pub fn node_count(&self) -> usize {
        self.out.node_count()
    }

    /// Number of edges.
    #[inline]
    pub fn edge_count(&self) -> usize {
        self.out.edge_count()
    }

    /// Out-edges.
    #[inline]
    pub fn out_edges(&self) -> CsrView<'g> {
        self.out
    }

    /// In-edges.
    #[inline]
    pub fn in_edges(&self) -> CsrView<'g> {
        self.inc
    }
}

impl<'g> From<&'g Graph> for GraphView<'g> {
    fn from(graph: &'g Graph) -> GraphView<'g> {
        GraphView {
            out: graph.out_edges(),
            inc: graph.in_edges(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_validation_names_the_bad_edge() {
        let off = [0u64, 2, 3];
        assert!(CsrView::new(&off, &[0, 1, 0], &[0.5, 0.5, 1.0]).is_ok());
        assert_eq!(
            CsrView::new(&off, &[0, 2, 0], &[0.5, 0.5, 1.0]).unwrap_err(),
            GraphError::NodeOutOfRange {
                edge: 1,
                node: 2,
                node_count: 2
            }
        );
        assert!(matches!(
            CsrView::new(&off, &[0, 1, 0], &[0.5, f32::NAN, 1.0]),
            Err(GraphError::InvalidWeight { edge: 1, .. })
        ));
        assert!(matches!(
            CsrView::new(&[0, 3, 2], &[0, 1, 0], &[0.5, 0.5, 1.0]),
            Err(GraphError::MalformedCsr { .. })
        ));
        assert!(matches!(
            CsrView::new(&[], &[], &[]),
            Err(GraphError::MalformedCsr { .. })
        ));
        assert!(matches!(
            CsrView::new(&[0, 1], &[0], &[]),
            Err(GraphError::MalformedCsr { .. })
        ));
        assert_eq!(CsrView::new(&[0], &[], &[]).unwrap().node_count(), 0);
        // The first offending edge in edge order, whichever check it fails,
        // with the row it is in (empty rows skipped).
        let off = [0u64, 0, 2, 4];
        assert_eq!(
            CsrView::new(&off, &[0, 1, 2, 9], &[0.5, 0.5, 0.0, 1.0]).unwrap_err(),
            GraphError::InvalidWeight {
                edge: 2,
                src: 2,
                dst: 2,
                weight: 0.0
            }
        );
        assert!(matches!(
            CsrView::new(&off, &[0, 9, 2, 1], &[0.5, 0.5, 0.0, 1.0]),
            Err(GraphError::NodeOutOfRange { edge: 1, .. })
        ));
        assert!(matches!(
            CsrView::new(&off, &[0, 1, 2, 1], &[0.5, 2.0, 1.0, 1.0]),
            Err(GraphError::InvalidWeight {
                edge: 1,
                src: 1,
                ..
            })
        ));
    }
}
