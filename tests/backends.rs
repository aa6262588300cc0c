//! Every backend behind the one `Spread` interface: the same results, bits,
//! first-reach hops and statistics as `Spreader`, the same gate behaviour,
//! and `DeadlineSpreader` over any of them. A new backend joins `backends()`.

mod common;

use axonal::batch::{DeadlineSpreader, ManualClock};
use axonal::graph::Graph;
use axonal::spread::{
    Activation, Fan, HopPlan, MultiSpreader, Seed, Spread, SpreadParams, SpreadStats, Spreader,
    SpreaderConfig, Threshold,
};
use common::{bits, random_graph, random_seeds};
use core::time::Duration;

/// Every backend for `graph` with `config`, by name, behind the interface.
fn backends(graph: &Graph, config: SpreaderConfig) -> Vec<(String, Box<dyn Spread>)> {
    let n = graph.node_count();
    let mut all: Vec<(String, Box<dyn Spread>)> = vec![
        (
            "spreader".into(),
            Box::new(Spreader::with_config(n, config)),
        ),
        (
            "multi".into(),
            Box::new(MultiSpreader::with_config(n, 3, config).unwrap()),
        ),
    ];
    #[cfg(feature = "parallel")]
    for threads in [1, 3] {
        let workers = axonal::machine::workers::Workers::new(threads).unwrap();
        all.push((
            format!("parallel{threads}"),
            Box::new(axonal::spread::ParallelSpreader::with_config(
                graph, &workers, config,
            )),
        ));
    }
    all
}

/// Always pull, always push (dense and sparse), the default mix.
fn configs() -> [(&'static str, SpreaderConfig); 4] {
    let base = SpreaderConfig::for_nodes(0);
    [
        ("pull", base.with_pull_fraction(-1.0)),
        (
            "dense",
            base.with_pull_fraction(f32::INFINITY)
                .with_sparse_capacity(16),
        ),
        (
            "sparse",
            base.with_pull_fraction(f32::INFINITY)
                .with_sparse_capacity(1 << 20),
        ),
        ("default", SpreaderConfig::for_nodes(1 << 20)),
    ]
}

fn params() -> [SpreadParams; 3] {
    [
        SpreadParams {
            fan: Fan::Sqrt,
            top_k: 300,
            ..SpreadParams::default()
        },
        SpreadParams {
            max_hops: 6,
            threshold: Threshold::Uniform(0.0),
            top_k: 10_000,
            min_activation: 0.0,
            ..SpreadParams::default()
        },
        SpreadParams {
            max_hops: 0,
            ..SpreadParams::default()
        },
    ]
}

/// What a query leaves behind, through the interface only.
#[derive(Debug, PartialEq)]
struct Outcome {
    results: Vec<(u32, u32, u8, u32)>,
    activations: Vec<u32>,
    hops: Vec<Option<u8>>,
    stats: SpreadStats,
}

fn outcome(s: &dyn Spread, results: &[Activation], stats: SpreadStats) -> Outcome {
    let n = s.node_count() as u32;
    Outcome {
        results: bits(results),
        activations: s.activations().into_iter().map(f32::to_bits).collect(),
        hops: (0..n).map(|v| s.hop_of(v)).collect(),
        stats,
    }
}

fn run(s: &mut dyn Spread, graph: &Graph, seeds: &[Seed], p: &SpreadParams) -> Outcome {
    let mut results = Vec::new();
    let stats = s.spread(graph.view(), seeds, p, &mut results).unwrap();
    for v in 0..graph.node_count() as u32 {
        assert_eq!(
            s.activation(v).to_bits(),
            s.activations()[v as usize].to_bits()
        );
    }
    outcome(s, &results, stats)
}

#[test]
fn every_backend_gives_the_spreaders_bits_and_stats() {
    let n = if cfg!(miri) { 50 } else { 1_500 };
    for (seed, symmetric) in [(1, false), (2, true)] {
        let graph = random_graph(seed, n, n * 5, symmetric);
        for (config_name, config) in configs() {
            let mut reference = Spreader::with_config(graph.node_count(), config);
            let mut backends = backends(&graph, config);
            for (q, p) in params().iter().enumerate() {
                let seeds = random_seeds(seed * 10 + q as u64, n, 5);
                let want = run(&mut reference, &graph, &seeds, p);
                for (name, backend) in &mut backends {
                    assert!(backend.memory_bytes() > 0, "{name}");
                    assert_eq!(backend.node_count(), graph.node_count(), "{name}");
                    let got = run(backend.as_mut(), &graph, &seeds, p);
                    let at = format!("{name}/{config_name}, graph {seed}, params {q}");
                    same(&got, &want, &at);
                }
            }
        }
    }
}

/// `got == want`, reported by part (the whole would print every node).
fn same(got: &Outcome, want: &Outcome, at: &str) {
    assert_eq!(got.results, want.results, "results, {at}");
    assert_eq!(got.stats, want.stats, "stats, {at}");
    assert_eq!(got.activations.len(), want.activations.len(), "{at}");
    let differ = got
        .activations
        .iter()
        .zip(&want.activations)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differ, 0, "activations differ, {at}");
    assert!(got.hops == want.hops, "first-reach hops differ, {at}");
}

#[test]
fn every_backend_stops_where_its_gate_says_and_sees_the_same_plans() {
    let n = if cfg!(miri) { 50 } else { 1_500 };
    let graph = random_graph(5, n, n * 5, false);
    let seeds = random_seeds(6, n, 6);
    let p = &params()[1];
    for (config_name, config) in configs() {
        let mut reference = Spreader::with_config(graph.node_count(), config);
        let mut backends = backends(&graph, config);
        for k in 0..4 {
            let gated = |s: &mut dyn Spread| {
                let (mut plans, mut results) = (Vec::<HopPlan>::new(), Vec::new());
                let stats = s
                    .spread_gated(graph.view(), &seeds, p, &mut results, &mut |plan| {
                        plans.push(*plan);
                        plan.hop as usize <= k
                    })
                    .unwrap();
                (outcome(s, &results, stats), plans)
            };
            let (want, want_plans) = gated(&mut reference);
            assert!(want.stats.truncated, "hop {} had a frontier", k + 1);
            assert_eq!(want.stats.hops as usize, k);
            for (name, backend) in &mut backends {
                let (got, plans) = gated(backend.as_mut());
                let at = format!("{name}/{config_name}, k = {k}");
                assert_eq!(plans, want_plans, "{at}");
                same(&got, &want, &at);
            }
        }
    }
}

#[test]
fn a_deadline_works_over_every_backend() {
    let n = if cfg!(miri) { 50 } else { 1_000 };
    let graph = random_graph(8, n, n * 5, false);
    let seeds = random_seeds(9, n, 4);
    let p = SpreadParams::default();
    for (name, backend) in backends(&graph, SpreaderConfig::for_nodes(n as usize)) {
        let mut s = DeadlineSpreader::new(backend, ManualClock::new());
        let mut results = Vec::new();
        // No time at all: not even the first hop runs; the seeds remain.
        let stats = s
            .spread(&graph, &seeds, &p, Duration::ZERO, &mut results)
            .unwrap();
        assert!(stats.truncated, "{name}");
        assert_eq!(stats.hops, 0, "{name}");
        assert!(results.iter().all(|r| r.hop == 0), "{name}");
        // All the time in the world (a clock that never moves): every hop.
        let stats = s
            .spread(&graph, &seeds, &p, Duration::from_secs(3600), &mut results)
            .unwrap();
        let mut alone = Vec::new();
        let want = Spreader::new(graph.node_count())
            .spread(&graph, &seeds, &p, &mut alone)
            .unwrap();
        assert!(!stats.truncated, "{name}");
        assert_eq!(bits(&results), bits(&alone), "{name}");
        assert_eq!(stats.hops, want.hops, "{name}");
        assert!(s.spreader().memory_bytes() > 0);
    }
}

#[test]
fn a_gated_batch_stops_every_query_at_the_same_hop() {
    let n = if cfg!(miri) { 50 } else { 1_500 };
    let graph = random_graph(12, n, n * 5, false);
    let queries: Vec<Vec<Seed>> = (0..5).map(|q| random_seeds(40 + q, n, 4)).collect();
    let p = &params()[1];
    let mut batch = MultiSpreader::new(graph.node_count(), 8).unwrap();
    let mut single = Spreader::new(graph.node_count());
    for k in 0..4 {
        let mut results = Vec::new();
        let stats = batch
            .spread_batch_gated(&graph, &queries, p, &mut results, |plan| {
                plan.hop as usize <= k
            })
            .unwrap();
        assert_eq!(stats.hops as usize, k);
        for (q, seeds) in queries.iter().enumerate() {
            let mut alone = Vec::new();
            let want = single
                .spread_gated(&graph, seeds, p, &mut alone, |plan| plan.hop as usize <= k)
                .unwrap();
            assert_eq!(bits(&results[q]), bits(&alone), "query {q}, k = {k}");
            let got = batch.query_stats()[q];
            assert_eq!(got.truncated, want.truncated, "query {q}, k = {k}");
            assert_eq!(
                (got.hops, got.frontier, got.activated, got.edges_traversed),
                (
                    want.hops,
                    want.frontier,
                    want.activated,
                    want.edges_traversed
                ),
                "query {q}, k = {k}"
            );
        }
    }
}
