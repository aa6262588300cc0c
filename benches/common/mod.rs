//! Shared bench fixtures: the standard workloads (built once per process),
//! their query sets, and the `baseline` implementation of the contract.
#![allow(dead_code)]

pub mod baseline;

use std::sync::OnceLock;

use axonal::graph::generate::SplitMix64;
use axonal::graph::{Graph, Ordering, Permutation, generate};
use axonal::spread::Seed;

/// A workload graph as generated ("insertion order", what the baseline
/// and peers get) and degree-reordered (axonal's layout), with the map
/// between the two.
pub struct Workload {
    pub original: Graph,
    pub reordered: Graph,
    pub perm: Permutation,
}

impl Workload {
    fn new(original: Graph) -> Workload {
        let (reordered, perm) = original.reorder(Ordering::DegreeDescending);
        Workload {
            original,
            reordered,
            perm,
        }
    }

    /// The same seeds in the reordered graph's ids.
    pub fn to_reordered(&self, seeds: &[Seed]) -> Vec<Seed> {
        seeds
            .iter()
            .map(|s| Seed::new(self.perm.to_new(s.node), s.activation))
            .collect()
    }
}

pub fn rmat20() -> &'static Workload {
    static W: OnceLock<Workload> = OnceLock::new();
    W.get_or_init(|| Workload::new(generate::standard::rmat20()))
}

/// `count` queries of 8 seeds drawn uniformly among nodes with out-degree >= 1,
/// `a0 = 1` (the `query_std` / `query_wide` seeds), in original ids.
pub fn rmat_queries(graph: &Graph, count: usize, seed: u64) -> Vec<Vec<Seed>> {
    let pool = generate::standard::SeedPool::new(graph);
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            (0..8)
                .map(|_| Seed::new(pool.draw(&mut rng).expect("rmat20 has edges"), 1.0))
                .collect()
        })
        .collect()
}
