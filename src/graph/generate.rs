//! Seeded graph generators and the standard workloads.
//!
//! Every generator is a pure function of its parameters and seed, built on the
//! crate's own [`SplitMix64`], so the standard workloads (see
//! [`standard`]) are the same graphs on every machine. The generator is
//! exported here, as part of the workloads, so that queries over them
//! ([`SeedPool::draw`](standard::SeedPool::draw)) can be drawn the same way
//! everywhere too; it is not offered as a general-purpose random number
//! generator.

use super::{Edge, Graph, GraphBuilder};
pub use crate::rng::SplitMix64;

/// How edge weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weights {
    /// Every edge gets this weight (in `(0, 1]`).
    Constant(f32),
    /// Uniform in `[lo, hi]`, `0 < lo <= hi <= 1`.
    Uniform {
        /// Lower bound.
        lo: f32,
        /// Upper bound.
        hi: f32,
    },
}

impl Weights {
    fn draw(self, rng: &mut SplitMix64) -> f32 {
        match self {
            Weights::Constant(w) => w,
            Weights::Uniform { lo, hi } => (lo + (hi - lo) * rng.next_f32()).clamp(lo, hi),
        }
    }

    fn check(self) -> Weights {
        let ok = match self {
            Weights::Constant(w) => w > 0.0 && w <= 1.0,
            Weights::Uniform { lo, hi } => lo > 0.0 && lo <= hi && hi <= 1.0,
        };
        assert!(ok, "generator weights must lie in (0, 1]: {self:?}");
        self
    }
}

/// Parameters of the R-MAT generator (Chakrabarti, Zhan & Faloutsos, 2004).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rmat {
    /// `2^scale` nodes.
    pub scale: u32,
    /// `edge_factor * 2^scale` edges drawn (before self loops are dropped and
    /// duplicates merged).
    pub edge_factor: u32,
    /// Quadrant probabilities `a`, `b`, `c` (`d = 1 - a - b - c`).
    pub abc: [f64; 3],
    /// Edge weights.
    pub weights: Weights,
    /// RNG seed.
    pub seed: u64,
}

impl Rmat {
    /// The Graph500 shape at `scale`: edge factor 16, a=0.57 b=0.19 c=0.19,
    /// weights uniform in [0.05, 1.0], seed 42.
    pub const fn graph500(scale: u32) -> Rmat {
        Rmat {
            scale,
            edge_factor: 16,
            abc: [0.57, 0.19, 0.19],
            weights: Weights::Uniform { lo: 0.05, hi: 1.0 },
            seed: 42,
        }
    }

    /// Draws the graph (directed).
    ///
    /// # Panics
    /// If `scale > 31`, the probabilities are not a distribution, or the weights
    /// leave `(0, 1]` (programming errors in a generator call), or if memory
    /// runs out, like any collection.
    pub fn generate(&self) -> Graph {
        let n = 1u64 << self.scale.min(31);
        let mut builder = GraphBuilder::with_node_count(n as u32);
        builder.reserve((n * u64::from(self.edge_factor)) as usize);
        builder
            .extend(self.edges())
            .expect("R-MAT edges are in range with valid weights");
        builder.build().expect("out of memory building the graph")
    }

    /// The edges [`generate`](Self::generate) draws, in order, one at a
    /// time (self loops and duplicates included): for builders that do not
    /// hold them all.
    ///
    /// # Panics
    /// As [`generate`](Self::generate), on bad parameters.
    pub fn edges(&self) -> impl Iterator<Item = Edge> + use<> {
        assert!(self.scale <= 31, "R-MAT scale must be at most 31");
        let [a, b, c] = self.abc;
        assert!(
            a >= 0.0 && b >= 0.0 && c >= 0.0 && a + b + c <= 1.0,
            "R-MAT probabilities must sum to at most 1"
        );
        let weights = self.weights.check();
        let scale = self.scale;
        let m = (1u64 << scale) * u64::from(self.edge_factor);
        // Thresholds on 32-bit draws; two levels per 64-bit draw.
        let t = |p: f64| (p * 4_294_967_296.0).min(4_294_967_295.0) as u32;
        let (ta, tab, tabc) = (t(a), t(a + b), t(a + b + c));
        let mut rng = SplitMix64::new(self.seed);
        (0..m).map(move |_| {
            let (mut src, mut dst) = (0u32, 0u32);
            let mut bits = 0u64;
            for level in 0..scale {
                if level % 2 == 0 {
                    bits = rng.next_u64();
                }
                let r = (bits >> (32 * (level % 2))) as u32;
                let (down, right) = if r < ta {
                    (0, 0)
                } else if r < tab {
                    (0, 1)
                } else if r < tabc {
                    (1, 0)
                } else {
                    (1, 1)
                };
                src = (src << 1) | down;
                dst = (dst << 1) | right;
            }
            let weight = weights.draw(&mut rng);
            Edge { src, dst, weight }
        })
    }
}

/// Barabasi-Albert preferential attachment: `n` nodes, each new node linked to
/// `m` distinct earlier nodes chosen with probability proportional to degree.
/// Associations go both ways (the graph is symmetric); weights uniform in
/// [0.05, 1.0].
pub fn barabasi_albert(n: u32, m: u32, seed: u64) -> Graph {
    let weights = Weights::Uniform { lo: 0.05, hi: 1.0 };
    let mut rng = SplitMix64::new(seed);
    let mut builder = GraphBuilder::with_node_count(n).symmetrize(true);
    // Every edge endpoint, so a uniform pick is a degree-proportional pick.
    let mut endpoints: alloc::vec::Vec<u32> =
        alloc::vec::Vec::with_capacity(2 * n as usize * m as usize);
    let core = (m + 1).min(n);
    for u in 0..core {
        for v in 0..u {
            builder
                .add_edge(u, v, weights.draw(&mut rng))
                .expect("valid edge");
            endpoints.extend([u, v]);
        }
    }
    let mut chosen = alloc::vec::Vec::with_capacity(m as usize);
    for u in core..n {
        chosen.clear();
        while chosen.len() < m as usize {
            let v = endpoints[rng.below(endpoints.len() as u64) as usize];
            if !chosen.contains(&v) {
                chosen.push(v);
            }
        }
        for &v in &chosen {
            builder
                .add_edge(u, v, weights.draw(&mut rng))
                .expect("valid edge");
            endpoints.extend([u, v]);
        }
    }
    builder.build().expect("out of memory building the graph")
}

/// A path `0 - 1 - ... - (n-1)`, both directions, every weight `weight`.
pub fn chain(n: u32, weight: f32) -> Graph {
    Weights::Constant(weight).check();
    let mut b = GraphBuilder::with_node_count(n).symmetrize(true);
    for v in 1..n {
        b.add_edge(v - 1, v, weight).expect("valid edge");
    }
    b.build().expect("out of memory building the graph")
}

/// A star: hub `0` linked both ways to leaves `1..=leaves`, every weight `weight`.
pub fn fan(leaves: u32, weight: f32) -> Graph {
    Weights::Constant(weight).check();
    let mut b = GraphBuilder::with_node_count(leaves + 1).symmetrize(true);
    for v in 1..=leaves {
        b.add_edge(0, v, weight).expect("valid edge");
    }
    b.build().expect("out of memory building the graph")
}

/// The standard workloads of the spreading contract, by name.
pub mod standard {
    use super::*;

    /// `rmat20`: R-MAT scale 20, edge factor 16, Graph500 probabilities, seed 42.
    pub fn rmat20() -> Graph {
        Rmat::graph500(20).generate()
    }

    /// R-MAT scale 17 with the same parameters: the graph of the `recall` workload.
    pub fn rmat17() -> Graph {
        Rmat::graph500(17).generate()
    }

    /// Engram's `chain(64)` shape (run with 4 hops).
    pub fn engram_chain64() -> Graph {
        chain(64, 0.9)
    }

    /// Engram's `fan(32)` shape (run with 3 hops).
    pub fn engram_fan32() -> Graph {
        fan(32, 0.9)
    }

    /// Engram's Barabasi-Albert(2000, m=3) shape (run with 5 hops).
    pub fn engram_ba2000() -> Graph {
        barabasi_albert(2000, 3, 42)
    }

    /// The nodes `query_std` and `query_wide` draw their seeds from: every
    /// node with at least one out-edge, each equally likely.
    #[derive(Debug, Clone)]
    pub struct SeedPool {
        nodes: alloc::vec::Vec<u32>,
    }

    impl SeedPool {
        /// The pool of `graph` (a `&Graph` or any
        /// [`GraphView`](crate::graph::GraphView), a stored file's).
        pub fn new<'g>(graph: impl Into<crate::graph::GraphView<'g>>) -> SeedPool {
            let out = graph.into().out_edges();
            SeedPool {
                nodes: (0..out.node_count() as u32)
                    .filter(|&v| out.degree(v) > 0)
                    .collect(),
            }
        }

        /// Number of nodes in the pool.
        pub fn len(&self) -> usize {
            self.nodes.len()
        }

        /// True when the graph has no edges (nothing to draw).
        pub fn is_empty(&self) -> bool {
            self.nodes.is_empty()
        }

        /// One node drawn uniformly with `rng`, or `None` from an empty pool.
        pub fn draw(&self, rng: &mut SplitMix64) -> Option<u32> {
            (!self.is_empty()).then(|| self.nodes[rng.below(self.nodes.len() as u64) as usize])
        }
    }

    /// Engram's Barabasi-Albert(10000, m=4) shape (run with 6 hops).
    pub fn engram_ba10000() -> Graph {
        barabasi_albert(10_000, 4, 42)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmat_is_seeded_and_power_law() {
        let g = Rmat::graph500(10).generate();
        let h = Rmat::graph500(10).generate();
        assert_eq!(
            g.edges().collect::<alloc::vec::Vec<_>>(),
            h.edges().collect::<alloc::vec::Vec<_>>()
        );
        assert_eq!(g.node_count(), 1024);
        assert!(g.edge_count() > 10_000 && g.edge_count() <= 16 * 1024);
        let max = (0..1024).map(|v| g.out_degree(v)).max().unwrap();
        assert!(max > 200, "R-MAT has hubs (max out-degree {max})");
        assert!(
            g.edges()
                .all(|(u, v, w)| u != v && (0.05..=1.0).contains(&w))
        );
    }

    #[test]
    fn seed_pool_holds_exactly_the_nodes_with_out_edges() {
        let g = chain(3, 0.5);
        let mut b = GraphBuilder::with_node_count(4);
        b.add_edge(2, 0, 0.5).unwrap();
        let sparse = b.build().unwrap();
        let mut rng = SplitMix64::new(1);
        assert_eq!(standard::SeedPool::new(&g).len(), 3);
        let pool = standard::SeedPool::new(&sparse);
        assert_eq!(pool.len(), 1);
        assert!((0..20).all(|_| pool.draw(&mut rng) == Some(2)));
        let empty = standard::SeedPool::new(&GraphBuilder::with_node_count(3).build().unwrap());
        assert!(empty.is_empty());
        assert_eq!(empty.draw(&mut rng), None);
    }

    #[test]
    fn small_shapes() {
        let c = chain(64, 0.9);
        assert_eq!((c.node_count(), c.edge_count()), (64, 126));
        let f = fan(32, 0.9);
        assert_eq!(
            (f.node_count(), f.edge_count(), f.out_degree(0)),
            (33, 64, 32)
        );
        let b = barabasi_albert(2000, 3, 1);
        assert_eq!(b.node_count(), 2000);
        assert_eq!(b.edge_count(), 2 * (6 + 3 * (2000 - 4)));
        assert!((0..2000).all(|v| b.out_degree(v) >= 3));
        assert_eq!(chain(0, 0.5).node_count(), 0);
        assert_eq!(barabasi_albert(2, 3, 1).edge_count(), 2);
    }
}
