//! The validating graph builder.

use alloc::vec::Vec;

use super::GraphError;
use super::csr::{Csr, Graph, MAX_NODES};

/// One weighted, directed edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Source node id.
    pub src: u32,
    /// Target node id.
    pub dst: u32,
    /// Weight in `(0, 1]`.
    pub weight: f32,
}

/// Builds a [`Graph`] from `(src, dst, weight)` triples.
///
/// Every edge is validated as it is added ([`add_edge`](Self::add_edge)
/// returns a [`GraphError`] naming it, and leaves the builder unchanged);
/// [`build`](Self::build) then sorts adjacency lists by target, merges
/// duplicate edges (keeping the largest weight), drops self loops and, if
/// asked, adds every edge's reverse.
///
/// ```
/// use axonal::graph::GraphBuilder;
/// let mut b = GraphBuilder::new().symmetrize(true);
/// b.add_edge(0, 1, 0.5)?;
/// b.add_edge(1, 2, 0.25)?;
/// b.add_edge(0, 1, 0.75)?; // duplicate: the larger weight wins
/// assert!(b.add_edge(2, 3, 1.5).is_err()); // weights live in (0, 1]
/// let g = b.build()?;
/// assert_eq!((g.node_count(), g.edge_count()), (3, 4));
/// assert_eq!(g.out_edges().neighbors(1), (&[0, 2][..], &[0.75, 0.25][..]));
/// # Ok::<(), axonal::graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
pub struct GraphBuilder {
    edges: Vec<Edge>,
    node_count: Option<u32>,
    max_nodes: u32,
    max_id: Option<u32>,
    added: usize,
    symmetrize: bool,
}

impl Default for GraphBuilder {
    fn default() -> Self {
        GraphBuilder {
            edges: Vec::new(),
            node_count: None,
            max_nodes: MAX_NODES,
            max_id: None,
            added: 0,
            symmetrize: false,
        }
    }
}

impl GraphBuilder {
    /// An empty builder; the node count will be one more than the largest id seen.
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// An empty builder for a graph of exactly `node_count` nodes (ids
    /// `0..node_count`); ids at or above it are rejected.
    pub fn with_node_count(node_count: u32) -> GraphBuilder {
        GraphBuilder {
            node_count: Some(node_count),
            ..GraphBuilder::default()
        }
    }

    /// Rejects ids at or above `limit` (default [`MAX_NODES`]). The graph's
    /// per-node arrays are sized by the largest id, so set this when reading
    /// untrusted files: an edge list naming node 4,000,000,000 would
    /// otherwise ask for a 4-billion-node graph.
    pub fn max_nodes(mut self, limit: u32) -> GraphBuilder {
        self.max_nodes = limit;
        self
    }

    /// The id limit in force (see [`max_nodes`](Self::max_nodes)).
    pub fn node_limit(&self) -> u32 {
        self.node_count
            .unwrap_or(self.max_nodes)
            .min(self.max_nodes)
    }

    /// Also add the reverse of every edge (an association in both directions).
    pub fn symmetrize(mut self, yes: bool) -> GraphBuilder {
        self.symmetrize = yes;
        self
    }

    /// Reserves room for `additional` more edges.
    pub fn reserve(&mut self, additional: usize) {
        self.edges.reserve(additional);
    }

    /// The node count in force: declared, or inferred from the ids seen so far.
    pub fn node_count(&self) -> u32 {
        self.node_count.unwrap_or(self.max_id.map_or(0, |m| m + 1))
    }

    /// Whether reverse edges will be added.
    pub fn is_symmetrized(&self) -> bool {
        self.symmetrize
    }

    /// Edges added so far (including self loops, before merging).
    pub fn edges_added(&self) -> usize {
        self.added
    }

    /// Adds the edge `src -> dst` with `weight`, after validating it.
    pub fn add_edge(&mut self, src: u32, dst: u32, weight: f32) -> Result<(), GraphError> {
        let edge = self.added;
        let limit = self.node_limit();
        for node in [src, dst] {
            if node >= limit {
                return Err(GraphError::NodeOutOfRange {
                    edge,
                    node,
                    node_count: u64::from(limit),
                });
            }
        }
        if !(weight > 0.0 && weight <= 1.0) {
            return Err(GraphError::InvalidWeight {
                edge,
                src,
                dst,
                weight,
            });
        }
        self.added += 1;
        self.max_id = Some(self.max_id.unwrap_or(0).max(src).max(dst));
        if src != dst {
            self.edges.push(Edge { src, dst, weight });
        }
        Ok(())
    }

    /// Adds every edge of `edges`; stops at the first invalid one (the edges
    /// before it stay added).
    pub fn extend<I: IntoIterator<Item = Edge>>(&mut self, edges: I) -> Result<(), GraphError> {
        for e in edges {
            self.add_edge(e.src, e.dst, e.weight)?;
        }
        Ok(())
    }

    /// Builds the graph: CSR by counting sort on the source, per-node sort and
    /// merge of targets, then the transpose. Fails only if memory runs out.
    pub fn build(self) -> Result<Graph, GraphError> {
        let n = self.node_count() as usize;
        let sym = self.symmetrize;
        let mut degree = try_filled(n + 1, 0u64)?;
        for e in &self.edges {
            degree[e.src as usize + 1] += 1;
            if sym {
                degree[e.dst as usize + 1] += 1;
            }
        }
        for i in 0..n {
            degree[i + 1] += degree[i];
        }
        let total = degree[n] as usize;
        let mut cursor = try_filled(n, 0u64)?;
        cursor.copy_from_slice(&degree[..n]);
        let mut pairs = try_filled(total, (0u32, 0f32))?;
        let mut place = |from: u32, to: u32, w: f32| {
            let slot = &mut cursor[from as usize];
            pairs[*slot as usize] = (to, w);
            *slot += 1;
        };
        for e in &self.edges {
            place(e.src, e.dst, e.weight);
            if sym {
                place(e.dst, e.src, e.weight);
            }
        }
        drop(self.edges);

        // Sort each list by target and merge duplicates in place, compacting.
        let mut offsets = try_filled(n + 1, 0u64)?;
        let mut write = 0usize;
        for v in 0..n {
            let list = &mut pairs[degree[v] as usize..degree[v + 1] as usize];
            list.sort_unstable_by_key(|&(t, _)| t);
            let start = write;
            for i in degree[v] as usize..degree[v + 1] as usize {
                let (t, w) = pairs[i];
                if write > start && pairs[write - 1].0 == t {
                    pairs[write - 1].1 = pairs[write - 1].1.max(w);
                } else {
                    pairs[write] = (t, w);
                    write += 1;
                }
            }
            offsets[v + 1] = write as u64;
        }
        pairs.truncate(write);
        let (targets, weights) = pairs.into_iter().unzip();
        Ok(Graph::from_out_csr(Csr {
            offsets,
            targets,
            weights,
        }))
    }
}

/// `vec![value; len]`, or [`GraphError::OutOfMemory`] where the allocator refuses.
fn try_filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, GraphError> {
    let bytes = len.saturating_mul(core::mem::size_of::<T>());
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| GraphError::OutOfMemory { bytes })?;
    v.resize(len, value);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_merges_and_drops_self_loops() {
        let mut b = GraphBuilder::new();
        for (s, d, w) in [
            (2, 0, 0.1),
            (0, 2, 0.3),
            (0, 1, 0.2),
            (0, 2, 0.9),
            (1, 1, 0.5),
            (0, 2, 0.4),
        ] {
            b.add_edge(s, d, w).unwrap();
        }
        assert_eq!(b.edges_added(), 6);
        let g = b.build().unwrap();
        assert_eq!(g.node_count(), 3);
        let edges: Vec<_> = g.edges().collect();
        assert_eq!(edges, [(0, 1, 0.2), (0, 2, 0.9), (2, 0, 0.1)]);
        assert_eq!(g.in_edges().neighbors(0), (&[2][..], &[0.1][..]));
        assert_eq!(g.in_edges().neighbors(2), (&[0][..], &[0.9][..]));
    }

    #[test]
    fn symmetrize_merges_both_directions() {
        let mut b = GraphBuilder::new().symmetrize(true);
        b.add_edge(0, 1, 0.2).unwrap();
        b.add_edge(1, 0, 0.7).unwrap();
        let g = b.build().unwrap();
        assert_eq!(g.edges().collect::<Vec<_>>(), [(0, 1, 0.7), (1, 0, 0.7)]);
    }

    #[test]
    fn rejects_bad_edges_and_keeps_the_good_ones() {
        let mut b = GraphBuilder::with_node_count(4);
        b.add_edge(0, 3, 1.0).unwrap();
        assert_eq!(
            b.add_edge(0, 4, 0.5),
            Err(GraphError::NodeOutOfRange {
                edge: 1,
                node: 4,
                node_count: 4
            })
        );
        for w in [
            0.0,
            -0.5,
            1.0001,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            let err = b.add_edge(1, 2, w).unwrap_err();
            assert!(
                matches!(
                    err,
                    GraphError::InvalidWeight {
                        edge: 1,
                        src: 1,
                        dst: 2,
                        ..
                    }
                ),
                "{err}"
            );
        }
        let mut open = GraphBuilder::new();
        assert!(matches!(
            open.add_edge(u32::MAX, 0, 0.5),
            Err(GraphError::NodeOutOfRange { node: u32::MAX, .. })
        ));
        open.add_edge(u32::MAX - 1, 0, 0.5).unwrap();
        assert_eq!(open.node_count(), u32::MAX);
        let g = b.build().unwrap();
        assert_eq!((g.node_count(), g.edge_count()), (4, 1));
    }

    #[test]
    fn max_nodes_bounds_the_id_space() {
        let mut b = GraphBuilder::new().max_nodes(100);
        b.add_edge(99, 0, 0.5).unwrap();
        assert_eq!(
            b.add_edge(0, 4_000_000_000, 0.5),
            Err(GraphError::NodeOutOfRange {
                edge: 1,
                node: 4_000_000_000,
                node_count: 100
            })
        );
        assert_eq!(b.build().unwrap().node_count(), 100);
        assert_eq!(
            GraphBuilder::with_node_count(1000)
                .max_nodes(10)
                .node_limit(),
            10
        );
    }

    #[test]
    fn refused_allocations_are_typed_errors() {
        assert!(matches!(
            try_filled(usize::MAX / 4, 0u64),
            Err(GraphError::OutOfMemory { .. })
        ));
    }

    #[test]
    fn empty_and_edgeless_graphs() {
        let g = GraphBuilder::new().build().unwrap();
        assert_eq!((g.node_count(), g.edge_count()), (0, 0));
        let g = GraphBuilder::with_node_count(5).build().unwrap();
        assert_eq!((g.node_count(), g.edge_count()), (5, 0));
        assert_eq!(g.out_degree(4), 0);
    }

    #[test]
    fn denormal_weights_are_accepted() {
        let mut b = GraphBuilder::new();
        b.add_edge(0, 1, f32::from_bits(1)).unwrap();
        assert_eq!(b.build().unwrap().edge_count(), 1);
    }
}
