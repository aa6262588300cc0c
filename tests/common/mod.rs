//! The `f64` reference implementation of the spreading contract
//! (the contract in the `axonal::spread` module docs), and the checker that compares a kernel to it.
#![allow(dead_code)]

use axonal::graph::Graph;
use axonal::graph::generate::SplitMix64;
use axonal::spread::{Activation, Fan, Seed, SpreadParams};

/// The reference's view of one query.
pub struct Reference {
    pub activation: Vec<f64>,
    pub hop: Vec<Option<u8>>,
    /// Activation gained at the hop a node was first reached.
    pub first_gain: Vec<f64>,
    /// Contributions each node received over the query (`c_v`).
    pub contributions: Vec<u64>,
    /// Some decision (spread or not) was within tolerance of its threshold,
    /// so a correct `f32` kernel may legitimately diverge from here on.
    pub ambiguous: bool,
    /// Ranked results.
    pub results: Vec<(u32, f64)>,
}

impl Reference {
    pub fn tol(&self, v: usize) -> f64 {
        (1e-7 * self.contributions[v] as f64).max(1e-5)
    }
}

/// The algorithm of the contract, in `f64`, as written there.
pub fn reference(graph: &Graph, seeds: &[Seed], p: &SpreadParams) -> Reference {
    let n = graph.node_count();
    let out = graph.out_edges();
    let mut a = vec![0.0f64; n];
    let mut hop: Vec<Option<u8>> = vec![None; n];
    let mut c = vec![0u64; n];
    let mut first_gain = vec![0.0f64; n];
    let mut ambiguous = false;
    for s in seeds {
        let i = s.node as usize;
        a[i] = (a[i] + f64::from(s.activation)).min(1.0);
    }
    let mut frontier: Vec<(u32, f64)> = Vec::new();
    let mut seen = vec![false; n];
    for s in seeds {
        let i = s.node as usize;
        if seen[i] || a[i] <= 0.0 {
            continue;
        }
        seen[i] = true;
        hop[i] = Some(0);
        first_gain[i] = a[i];
        let theta = f64::from(p.threshold.at(0));
        if (a[i] - theta).abs() <= 1e-5 {
            ambiguous = true;
        }
        if a[i] >= theta && p.max_hops > 0 {
            frontier.push((s.node, a[i]));
        }
    }
    for h in 1..=p.max_hops {
        if frontier.is_empty() {
            break;
        }
        let decay = p.decay.at(h);
        let mut delta = vec![0.0f64; n];
        let mut touched = vec![false; n];
        for &(u, d) in &frontier {
            let (targets, weights) = out.neighbors(u);
            let deg = targets.len() as f64;
            let fan = match p.fan {
                Fan::None => 1.0,
                Fan::Divide => 1.0 / deg,
                Fan::Sqrt => 1.0 / deg.sqrt(),
            };
            for (&v, &w) in targets.iter().zip(weights) {
                delta[v as usize] += d * f64::from(w) * fan * decay;
                touched[v as usize] = true;
                c[v as usize] += 1;
            }
        }
        frontier.clear();
        let theta = f64::from(p.threshold.at(h));
        for v in 0..n {
            if !touched[v] {
                continue;
            }
            let new = (a[v] + delta[v]).min(1.0);
            let applied = new - a[v];
            a[v] = new;
            let tol = (1e-7 * c[v] as f64).max(1e-5);
            if applied > 0.0 && hop[v].is_none() {
                hop[v] = Some(h as u8);
                first_gain[v] = applied;
            }
            if h < p.max_hops && out.degree(v as u32) > 0 && (applied - theta).abs() <= tol {
                ambiguous = true;
            }
            if h < p.max_hops && applied > 0.0 && applied >= theta {
                frontier.push((v as u32, applied));
            }
        }
    }
    let mut results: Vec<(u32, f64)> = (0..n)
        .filter(|&v| hop[v].is_some() && a[v] >= f64::from(p.min_activation) && a[v] > 0.0)
        .map(|v| (v as u32, a[v]))
        .collect();
    results.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    results.truncate(p.top_k);
    Reference {
        activation: a,
        hop,
        first_gain,
        contributions: c,
        ambiguous,
        results,
    }
}

/// Checks a kernel's activations and results against the reference, within
/// the contract's tolerance. Returns a description of the first violation.
pub fn check(
    r: &Reference,
    activations: &[f32],
    results: &[Activation],
    p: &SpreadParams,
) -> Result<(), String> {
    for (v, (&got, &want)) in activations.iter().zip(&r.activation).enumerate() {
        if (f64::from(got) - want).abs() > r.tol(v) {
            return Err(format!(
                "node {v}: activation {got} vs reference {want} (tol {})",
                r.tol(v)
            ));
        }
    }
    let min = f64::from(p.min_activation);
    let kth = if r.results.len() == p.top_k {
        r.results.last().map(|x| x.1)
    } else {
        None
    };
    let borderline = |v: usize| {
        let a = r.activation[v];
        let t = r.tol(v);
        (a - min).abs() <= t || kth.is_some_and(|k| (a - k).abs() <= t) || a <= t
    };
    for res in results {
        let v = res.node as usize;
        if !r.results.iter().any(|x| x.0 == res.node) && !borderline(v) {
            return Err(format!(
                "node {v} returned (activation {}) but not by the reference",
                res.activation
            ));
        }
        if res.activation != activations[v] {
            return Err(format!(
                "node {v}: result activation differs from the workspace"
            ));
        }
        let want_conf = res.activation * p.confidence.at(res.hop);
        if res.confidence != want_conf {
            return Err(format!(
                "node {v}: confidence {} vs {want_conf}",
                res.confidence
            ));
        }
        // A node first reached by a sub-tolerance trickle may be reached a hop
        // later by the kernel (the trickle rounds to zero); otherwise hops agree.
        if r.first_gain[v] > r.tol(v) && r.hop[v] != Some(res.hop) {
            return Err(format!(
                "node {v}: hop {} vs reference {:?}",
                res.hop, r.hop[v]
            ));
        }
    }
    for &(v, a) in &r.results {
        if !results.iter().any(|x| x.node == v) && !borderline(v as usize) {
            return Err(format!(
                "node {v} (reference activation {a}) missing from the results"
            ));
        }
    }
    for pair in results.windows(2) {
        if pair[0].rank(&pair[1]) != std::cmp::Ordering::Less {
            return Err(format!("results out of order: {pair:?}"));
        }
    }
    Ok(())
}

/// A random graph of `n` nodes and about `m` edges with weights in (0, 1].
pub fn random_graph(seed: u64, n: u32, m: u32, symmetric: bool) -> Graph {
    let mut rng = SplitMix64::new(seed);
    let mut b = axonal::graph::GraphBuilder::with_node_count(n).symmetrize(symmetric);
    if n > 0 {
        for _ in 0..m {
            let (u, v) = (
                rng.below(u64::from(n)) as u32,
                rng.below(u64::from(n)) as u32,
            );
            let w = 1.0 - rng.next_f32(); // (0, 1]
            b.add_edge(u, v, w).unwrap();
        }
    }
    b.build().unwrap()
}

/// `count` seeds over `n` nodes (duplicates allowed), activations in [0, 1].
pub fn random_seeds(seed: u64, n: u32, count: usize) -> Vec<Seed> {
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    (0..count)
        .map(|_| Seed::new(rng.below(u64::from(n)) as u32, rng.next_f32().min(1.0)))
        .collect()
}

/// A query's results as bits: node, activation, hop, confidence.
pub fn bits(results: &[Activation]) -> Vec<(u32, u32, u8, u32)> {
    results
        .iter()
        .map(|r| {
            (
                r.node,
                r.activation.to_bits(),
                r.hop,
                r.confidence.to_bits(),
            )
        })
        .collect()
}

/// Parameter sets the backends are checked with against `Spreader`:
/// the defaults, `query_std`, a long run with no threshold, fan by degree
/// and every node returned, no hops at all, and a short power-law one.
pub fn param_sets() -> Vec<SpreadParams> {
    use axonal::spread::{Decay, MAX_HOPS, Threshold};
    vec![
        SpreadParams::default(),
        SpreadParams::query_std(),
        SpreadParams {
            max_hops: 6,
            fan: Fan::Divide,
            threshold: Threshold::Uniform(0.0),
            decay: Decay::Table([0.85; MAX_HOPS]),
            min_activation: 0.0,
            top_k: usize::MAX,
            ..SpreadParams::default()
        },
        SpreadParams {
            max_hops: 0,
            ..SpreadParams::default()
        },
        SpreadParams {
            max_hops: 3,
            decay: Decay::PowerLaw { exponent: 0.5 },
            top_k: 7,
            ..SpreadParams::default()
        },
    ]
}

/// Seed lists over `n` nodes: node 0 alone, a few random, many random,
/// one node seeded twice (summed) beside a zero seed, none.
pub fn seed_sets(n: u32) -> Vec<Vec<Seed>> {
    vec![
        vec![Seed::new(0, 1.0)],
        random_seeds(7, n, 5),
        random_seeds(8, n, 40),
        vec![
            Seed::new(n - 1, 0.6),
            Seed::new(n - 1, 0.7),
            Seed::new(n / 2, 0.0),
        ],
        vec![],
    ]
}
