//! Shared bench fixtures: the standard workloads (built once per process),
//! their query sets, the `baseline` implementation of the contract, the
//! top-k agreement check every bench runs before timing, and `bench_main!`,
//! which names the machine before any figure is printed.
#![allow(dead_code)]

pub mod baseline;
pub mod probes;

use std::collections::HashMap;
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

/// R-MAT at `scale` (Graph500 shape) reordered by degree, and `count`
/// queries of [`rmat_queries`] in its ids (the graph as generated is
/// dropped: at scale 22 each copy is over 1 GiB).
pub fn rmat_reordered(scale: u32, count: usize, seed: u64) -> (Graph, Vec<Vec<Seed>>) {
    let w = Workload::new(generate::Rmat::graph500(scale).generate());
    let queries = rmat_queries(&w.original, count, seed)
        .iter()
        .map(|q| w.to_reordered(q))
        .collect();
    (w.reordered, queries)
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

/// `criterion_main!`, printing first the CPU model and the SIMD backend
/// this run uses (`axonal::simd::Platform`): a figure is only reproducible
/// with the machine it came from. (Unused by `tune`, which is not criterion.)
#[allow(unused_macros)]
macro_rules! bench_main {
    ($($group:path),+ $(,)?) => {
        fn main() {
            println!("{}", axonal::simd::Platform::detect());
            $($group();)+
            criterion::Criterion::default()
                .configure_from_args()
                .final_summary();
        }
    };
}
#[allow(unused_imports)]
pub(crate) use bench_main;

/// Asserts that two ranked top-`k` lists of `(id, value)` (highest first)
/// are the same results, exactly up to documented ties: an id in both must
/// have values within `tol(id)` of each other; an id in only one list may
/// only be a tie at a boundary of the other, that is, within `tol(id)` of
/// the other list's `k`-th value (when it holds `k`) or of `floor` (the
/// minimum a result must reach). `tol(id)` is the most the two sides may
/// differ by for that id. Returns how many ids were such boundary ties.
pub fn assert_same_top(
    what: &str,
    ours: &[(u64, f64)],
    theirs: &[(u64, f64)],
    k: usize,
    floor: f64,
    tol: impl Fn(u64) -> f64,
) -> usize {
    assert!(
        ours.len() <= k && theirs.len() <= k,
        "{what}: more than k = {k} results"
    );
    let mut ties = 0;
    for (a, b, side) in [(ours, theirs, "only ours"), (theirs, ours, "only theirs")] {
        let others: HashMap<u64, f64> = b.iter().copied().collect();
        for &(id, value) in a {
            let t = tol(id);
            match others.get(&id) {
                Some(&other) => assert!(
                    (value - other).abs() <= t,
                    "{what}: id {id} is {value} vs {other} (tolerance {t})"
                ),
                None => {
                    let at_kth = b.len() == k && value <= b[k - 1].1 + t;
                    let at_floor = value < floor + t;
                    assert!(
                        at_kth || at_floor,
                        "{what}: id {id} ({value}) is {side} and not a tie at a boundary \
                         (tolerance {t}): {ours:?} vs {theirs:?}"
                    );
                    ties += 1;
                }
            }
        }
    }
    ties
}
