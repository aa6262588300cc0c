//! The spreading kernel against the `f64` reference, on random graphs, seeds
//! and parameters; and determinism across runs, directions and accumulators.

mod common;

use axonal::spread::{
    Activation, Decay, Fan, MAX_HOPS, SpreadParams, Spreader, SpreaderConfig, Threshold,
};
use common::{check, random_graph, random_seeds, reference};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::sync::atomic::{AtomicUsize, Ordering};

fn decay() -> impl Strategy<Value = Decay> {
    prop_oneof![
        (0.0f32..3.0).prop_map(|rate| Decay::Exponential { rate }),
        (0.0f32..3.0).prop_map(|exponent| Decay::PowerLaw { exponent }),
        (0.0f32..0.5).prop_map(|slope| Decay::Linear { slope }),
        prop::array::uniform32(0.0f32..=1.0).prop_map(Decay::Table),
    ]
}

fn threshold() -> impl Strategy<Value = Threshold> {
    prop_oneof![
        (0.0f32..0.3).prop_map(Threshold::Uniform),
        (0.0f32..0.2, 0.0f32..0.2, 0.0f32..0.3).prop_map(|(hot, warm, cold)| Threshold::Tiered {
            hot,
            warm,
            cold
        }),
    ]
}

fn params() -> impl Strategy<Value = SpreadParams> {
    (
        0usize..=8,
        decay(),
        threshold(),
        prop_oneof![Just(Fan::None), Just(Fan::Divide), Just(Fan::Sqrt)],
        0usize..300,
        0.0f32..0.2,
    )
        .prop_map(
            |(max_hops, decay, threshold, fan, top_k, min_activation)| SpreadParams {
                max_hops,
                decay,
                threshold,
                fan,
                top_k,
                min_activation,
                ..SpreadParams::default()
            },
        )
}

/// Configurations that force each direction and accumulator.
const CONFIGS: [SpreaderConfig; 4] = [
    SpreaderConfig::for_nodes(0)
        .with_pull_fraction(0.05)
        .with_sparse_capacity(1 << 14),
    SpreaderConfig::for_nodes(0)
        .with_pull_fraction(f32::INFINITY)
        .with_sparse_capacity(16), // push, dense
    SpreaderConfig::for_nodes(0)
        .with_pull_fraction(f32::INFINITY)
        .with_sparse_capacity(1 << 20), // push, sparse
    SpreaderConfig::for_nodes(0)
        .with_pull_fraction(-1.0)
        .with_sparse_capacity(16), // pull always
];

fn run(
    config: SpreaderConfig,
    graph: &axonal::graph::Graph,
    seeds: &[axonal::spread::Seed],
    p: &SpreadParams,
) -> (Vec<u32>, Vec<Activation>) {
    let mut s = Spreader::with_config(graph.node_count(), config);
    let mut out = Vec::new();
    s.spread(graph, seeds, p, &mut out).unwrap();
    (s.activations().into_iter().map(f32::to_bits).collect(), out)
}

/// Cases the reference test generated, and those it discarded because the
/// reference cannot judge them (`ambiguous`: some spread decision within
/// tolerance of its threshold, where a correct `f32` kernel may diverge).
static TRIED: AtomicUsize = AtomicUsize::new(0);
static DISCARDED: AtomicUsize = AtomicUsize::new(0);

/// At most 50 discarded cases next to the 1000 that run, under 5% of those
/// generated (about 1% are, with this seed): more means the generators have
/// drifted into ground the reference cannot judge, and proptest fails the test
/// ("Too many global rejects") instead of quietly checking fewer cases.
const MAX_DISCARDED: u32 = 50;

proptest! {
    #![proptest_config(Config { cases: 1000, rng_seed: RngSeed::Fixed(0xA7_0AA1), max_global_rejects: MAX_DISCARDED, failure_persistence: None, ..Config::default() })]

    // Not a test by itself: `kernel_meets_the_numerical_contract` runs it and
    // reports the discarded cases.
    fn kernel_matches_the_reference(
        graph_seed in any::<u64>(),
        n in 1u32..600,
        density in 0u32..24,
        symmetric in any::<bool>(),
        seed_count in 0usize..12,
        p in params(),
    ) {
        let g = random_graph(graph_seed, n, n * density, symmetric);
        let seeds = random_seeds(graph_seed, n, seed_count);
        let r = reference(&g, &seeds, &p);
        TRIED.fetch_add(1, Ordering::Relaxed);
        DISCARDED.fetch_add(usize::from(r.ambiguous), Ordering::Relaxed);
        prop_assume!(!r.ambiguous);
        let mut first: Option<(Vec<u32>, Vec<Activation>)> = None;
        for config in CONFIGS {
            let mut s = Spreader::with_config(g.node_count(), config);
            let mut out = Vec::new();
            s.spread(&g, &seeds, &p, &mut out).unwrap();
            let activations: Vec<f32> = s.activations();
            if let Err(e) = check(&r, &activations, &out, &p) {
                return Err(TestCaseError::fail(format!("{config:?}: {e}")));
            }
            let bits: Vec<u32> = s.activations().into_iter().map(f32::to_bits).collect();
            match &first {
                None => first = Some((bits, out)),
                Some((b, o)) => {
                    prop_assert_eq!(b, &bits, "activations differ between configurations");
                    prop_assert_eq!(o, &out, "results differ between configurations");
                }
            }
        }
    }
}

#[test]
fn kernel_meets_the_numerical_contract() {
    kernel_matches_the_reference();
    let (tried, discarded) = (
        TRIED.load(Ordering::Relaxed),
        DISCARDED.load(Ordering::Relaxed),
    );
    println!(
        "reference test: {discarded} of {tried} generated cases discarded as ambiguous \
         (at most {MAX_DISCARDED})"
    );
}

#[test]
fn repeated_queries_are_bit_identical_and_independent() {
    let g = random_graph(11, 3000, 30_000, false);
    let p = SpreadParams {
        max_hops: 6,
        ..SpreadParams::default()
    };
    let mut s = Spreader::new(g.node_count());
    let mut out = Vec::new();
    let queries: Vec<_> = (0..20)
        .map(|q| random_seeds(q, 3000, 1 + q as usize % 8))
        .collect();
    let first: Vec<(Vec<u32>, Vec<Activation>)> = queries
        .iter()
        .map(|seeds| {
            s.spread(&g, seeds, &p, &mut out).unwrap();
            (
                s.activations().into_iter().map(f32::to_bits).collect(),
                out.clone(),
            )
        })
        .collect();
    // Same queries, reverse order, on the same (dirty) workspace and on fresh ones.
    for (q, seeds) in queries.iter().enumerate().rev() {
        s.spread(&g, seeds, &p, &mut out).unwrap();
        let bits: Vec<u32> = s.activations().into_iter().map(f32::to_bits).collect();
        assert_eq!(bits, first[q].0, "query {q}");
        assert_eq!(out, first[q].1, "query {q}");
        assert_eq!(run(CONFIGS[3], &g, seeds, &p), first[q], "query {q}, pull");
    }
}

#[test]
fn long_chains_use_every_hop() {
    let g = axonal::graph::generate::chain(40, 1.0);
    let p = SpreadParams {
        max_hops: MAX_HOPS,
        decay: Decay::Table([1.0; MAX_HOPS]),
        threshold: Threshold::Uniform(0.5),
        ..SpreadParams::default()
    };
    let mut s = Spreader::new(40);
    let mut out = Vec::new();
    let stats = s
        .spread(&g, &[axonal::spread::Seed::new(0, 1.0)], &p, &mut out)
        .unwrap();
    assert_eq!(stats.hops, 32);
    assert_eq!(s.hop_of(32), Some(32));
    assert_eq!(s.hop_of(33), None);
    assert_eq!(out.len(), 33);
}
