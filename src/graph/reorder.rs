//! Locality reordering.
//!
//! Renumbering nodes so that nodes visited together have nearby ids turns the
//! random reads of spreading (activation, frontier and edge lookups) into
//! nearby reads. [`Graph::reorder`] returns the renumbered graph and the
//! [`Permutation`] that maps results back to the original ids.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::csr::{Csr, Graph};

/// How to renumber nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ordering {
    /// By total degree (in + out), largest first; ties by old id. Hubs, which
    /// almost every query touches, share cache lines and pages.
    DegreeDescending,
    /// Breadth-first over the undirected graph, starting from the
    /// highest-degree unvisited node of each component, neighbours in
    /// ascending degree (the Cuthill-McKee order).
    BreadthFirst,
}

/// A renumbering of `0..n`, with both directions precomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permutation {
    new_to_old: Vec<u32>,
    old_to_new: Vec<u32>,
}

impl Permutation {
    /// The identity on `n` nodes.
    pub fn identity(n: u32) -> Permutation {
        let ids: Vec<u32> = (0..n).collect();
        Permutation {
            new_to_old: ids.clone(),
            old_to_new: ids,
        }
    }

    /// A permutation from its new-to-old table, or `None` if `new_to_old`
    /// is not a permutation of `0..len`.
    pub fn from_new_to_old(new_to_old: Vec<u32>) -> Option<Permutation> {
        let mut old_to_new = alloc::vec![u32::MAX; new_to_old.len()];
        for (new, &old) in new_to_old.iter().enumerate() {
            let slot = old_to_new.get_mut(old as usize)?;
            if *slot != u32::MAX {
                return None;
            }
            *slot = new as u32;
        }
        Some(Permutation {
            new_to_old,
            old_to_new,
        })
    }

    /// [`Ordering::DegreeDescending`] of nodes of total degree `degree`:
    /// largest first, ties by old id.
    pub(crate) fn by_degree_descending(degree: &[u32]) -> Permutation {
        let mut order: Vec<u32> = (0..degree.len() as u32).collect();
        order.sort_by_key(|&v| core::cmp::Reverse(degree[v as usize]));
        Permutation::from_new_to_old(order).expect("a sorted id list is a permutation")
    }

    /// Number of nodes permuted.
    pub fn len(&self) -> usize {
        self.new_to_old.len()
    }

    /// True for the permutation of zero nodes.
    pub fn is_empty(&self) -> bool {
        self.new_to_old.is_empty()
    }

    /// The original id of renumbered node `new`.
    #[inline]
    pub fn to_old(&self, new: u32) -> u32 {
        self.new_to_old[new as usize]
    }

    /// The new id of original node `old`.
    #[inline]
    pub fn to_new(&self, old: u32) -> u32 {
        self.old_to_new[old as usize]
    }

    /// New-to-old table.
    pub fn new_to_old(&self) -> &[u32] {
        &self.new_to_old
    }

    /// Old-to-new table.
    pub fn old_to_new(&self) -> &[u32] {
        &self.old_to_new
    }
}

impl Graph {
    /// Renumbers the nodes by `ordering`. Returns the new graph and the
    /// permutation (`to_old` maps its ids back to this graph's).
    pub fn reorder(&self, ordering: Ordering) -> (Graph, Permutation) {
        let perm = match ordering {
            Ordering::DegreeDescending => self.degree_order(),
            Ordering::BreadthFirst => self.breadth_first_order(),
        };
        (self.permuted(&perm), perm)
    }

    fn total_degree(&self, v: u32) -> u32 {
        self.out_edges().degree(v) + self.in_edges().degree(v)
    }

    fn degree_order(&self) -> Permutation {
        let degree: Vec<u32> = (0..self.node_count() as u32)
            .map(|v| self.total_degree(v))
            .collect();
        Permutation::by_degree_descending(&degree)
    }

    fn breadth_first_order(&self) -> Permutation {
        let n = self.node_count();
        let by_degree = self.degree_order();
        let mut seen = alloc::vec![false; n];
        let mut order = Vec::with_capacity(n);
        let mut queue = VecDeque::new();
        let mut neighbours = Vec::new();
        for &start in by_degree.new_to_old() {
            if seen[start as usize] {
                continue;
            }
            seen[start as usize] = true;
            queue.push_back(start);
            while let Some(u) = queue.pop_front() {
                order.push(u);
                neighbours.clear();
                neighbours.extend(
                    self.out_edges()
                        .neighbors(u)
                        .0
                        .iter()
                        .chain(self.in_edges().neighbors(u).0),
                );
                neighbours.sort_by_key(|&v| (self.total_degree(v), v));
                for &v in &neighbours {
                    if !seen[v as usize] {
                        seen[v as usize] = true;
                        queue.push_back(v);
                    }
                }
            }
        }
        Permutation::from_new_to_old(order).expect("BFS visits every node once")
    }

    /// The same graph with node `v` renamed `perm.to_new(v)`.
    pub fn permuted(&self, perm: &Permutation) -> Graph {
        assert_eq!(
            perm.len(),
            self.node_count(),
            "permutation size must match the graph"
        );
        let n = self.node_count();
        let out = self.out_edges();
        let mut offsets = alloc::vec![0u64; n + 1];
        for new in 0..n {
            offsets[new + 1] = offsets[new] + u64::from(out.degree(perm.to_old(new as u32)));
        }
        let mut pairs: Vec<(u32, f32)> = Vec::with_capacity(self.edge_count());
        for new in 0..n as u32 {
            let start = pairs.len();
            let (t, w) = out.neighbors(perm.to_old(new));
            pairs.extend(t.iter().zip(w).map(|(&v, &w)| (perm.to_new(v), w)));
            pairs[start..].sort_unstable_by_key(|&(v, _)| v);
        }
        let (targets, weights) = pairs.into_iter().unzip();
        Graph::from_out_csr(Csr {
            offsets,
            targets,
            weights,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::generate;

    fn same_up_to(g: &Graph, h: &Graph, p: &Permutation) {
        assert_eq!(g.edge_count(), h.edge_count());
        let mut a: Vec<_> = g.edges().map(|(u, v, w)| (u, v, w.to_bits())).collect();
        let mut b: Vec<_> = h
            .edges()
            .map(|(u, v, w)| (p.to_old(u), p.to_old(v), w.to_bits()))
            .collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    #[test]
    fn reorderings_are_isomorphic() {
        let g = generate::barabasi_albert(500, 3, 9);
        for ordering in [Ordering::DegreeDescending, Ordering::BreadthFirst] {
            let (h, p) = g.reorder(ordering);
            same_up_to(&g, &h, &p);
            for v in 0..500 {
                assert_eq!(p.to_old(p.to_new(v)), v);
            }
        }
        let (h, p) = g.reorder(Ordering::DegreeDescending);
        let deg = |g: &Graph, v| g.out_edges().degree(v) + g.in_edges().degree(v);
        assert!((1..500).all(|v| deg(&h, v - 1) >= deg(&h, v)));
        assert_eq!(deg(&h, 0), deg(&g, p.to_old(0)));
    }

    #[test]
    fn permutation_rejects_non_permutations() {
        assert!(Permutation::from_new_to_old(alloc::vec![0, 0]).is_none());
        assert!(Permutation::from_new_to_old(alloc::vec![0, 2]).is_none());
        assert_eq!(
            Permutation::from_new_to_old(alloc::vec![1, 0])
                .unwrap()
                .to_new(1),
            0
        );
        assert!(Permutation::identity(0).is_empty());
    }
}
