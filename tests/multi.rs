//! Multi-query spreading gives every query of a batch exactly the results
//! and statistics it gets alone, for any batch size, through every hop kind
//! (push and pull), and a batch never leaks into the next.

mod common;

use axonal::graph::Graph;
use axonal::graph::generate::{self, Rmat};
use axonal::spread::{
    Decay, MAX_BATCH, MAX_HOPS, MultiSpreader, Seed, SpreadError, SpreadParams, SpreadStats,
    Spreader, SpreaderConfig, Threshold,
};
use common::{bits, param_sets, random_graph, random_seeds};

/// The statistics that do not depend on how a hop was run.
fn semantic(s: &SpreadStats) -> (u32, u64, u32, [u32; MAX_HOPS + 1]) {
    (s.hops, s.edges_traversed, s.activated, s.frontier)
}

/// Always pull, never pull, and the default switch.
fn configs(nodes: usize) -> [SpreaderConfig; 3] {
    let default = SpreaderConfig::for_nodes(nodes);
    [
        default.with_pull_fraction(0.0),
        default.with_pull_fraction(2.0),
        default,
    ]
}

/// Runs `queries` as one batch and one by one; asserts they agree.
fn check_batch(
    batch: &mut MultiSpreader,
    config: SpreaderConfig,
    graph: &Graph,
    queries: &[Vec<Seed>],
    p: &SpreadParams,
) {
    let mut results = Vec::new();
    let stats = batch.spread_batch(graph, queries, p, &mut results).unwrap();
    assert_eq!(results.len(), queries.len());
    assert_eq!(stats.queries as usize, queries.len());
    let mut alone = Spreader::with_config(graph.node_count(), config);
    let mut one = Vec::new();
    let mut traversed = 0;
    for (q, seeds) in queries.iter().enumerate() {
        let s = alone.spread(graph, seeds, p, &mut one).unwrap();
        assert_eq!(
            bits(&results[q]),
            bits(&one),
            "query {q} of {}",
            queries.len()
        );
        let b = batch.query_stats()[q];
        assert_eq!(semantic(&b), semantic(&s), "stats of query {q}");
        assert_eq!(b.push_hops + b.pull_hops, b.hops);
        traversed += s.edges_traversed;
    }
    assert_eq!(stats.edges_traversed, traversed);
}

fn check_graph(graph: &Graph, seed: u64) {
    let n = graph.node_count() as u32;
    // Miri interprets every lane: two batch sizes (one and two lane
    // groups), pull and push, two parameter sets.
    let sizes: &[usize] = if cfg!(miri) {
        &[3, 9]
    } else {
        &[1, 5, 8, 13, 32]
    };
    let configs = &configs(graph.node_count())[..if cfg!(miri) { 2 } else { 3 }];
    let params = &param_sets()[..if cfg!(miri) { 2 } else { 5 }];
    for &config in configs {
        let mut batch = MultiSpreader::with_config(graph.node_count(), 32, config).unwrap();
        for p in params {
            for &size in sizes {
                let queries: Vec<Vec<Seed>> = (0..size)
                    .map(|q| random_seeds(seed * 1000 + q as u64, n, 1 + q % 6))
                    .collect();
                check_batch(&mut batch, config, graph, &queries, p);
            }
        }
    }
}

#[test]
fn random_graphs_every_query_as_alone() {
    let graphs: &[(u32, u32)] = if cfg!(miri) {
        &[(30, 100)]
    } else {
        &[(300, 2_000), (1_000, 3_000)]
    };
    for (i, &(n, m)) in graphs.iter().enumerate() {
        check_graph(&random_graph(i as u64, n, m, i % 2 == 0), i as u64);
    }
}

#[test]
fn power_law_and_small_shapes_every_query_as_alone() {
    if cfg!(miri) {
        return;
    }
    check_graph(&Rmat::graph500(11).generate(), 7);
    check_graph(&generate::barabasi_albert(2_000, 3, 1), 8);
    check_graph(&generate::chain(64, 0.9), 9);
    check_graph(&generate::fan(32, 0.9), 10);
}

/// Hubs as seeds: every query shares the same huge frontier, so sums cap.
#[test]
fn shared_hubs_saturate_exactly_as_alone() {
    let g = if cfg!(miri) {
        generate::barabasi_albert(60, 3, 2)
    } else {
        Rmat::graph500(12).generate()
    };
    let mut hubs: Vec<u32> = (0..g.node_count() as u32).collect();
    hubs.sort_by_key(|&v| std::cmp::Reverse(g.out_degree(v)));
    let queries: Vec<Vec<Seed>> = (0..MAX_BATCH)
        .map(|q| {
            hubs[q % 4..q % 4 + 4]
                .iter()
                .map(|&v| Seed::new(v, 1.0))
                .collect()
        })
        .collect();
    let p = SpreadParams {
        max_hops: 5,
        threshold: Threshold::Uniform(0.0),
        decay: Decay::Table([1.0; MAX_HOPS]),
        min_activation: 0.0,
        top_k: usize::MAX,
        ..SpreadParams::default()
    };
    for config in configs(g.node_count()) {
        let mut batch = MultiSpreader::with_config(g.node_count(), MAX_BATCH, config).unwrap();
        check_batch(&mut batch, config, &g, &queries, &p);
    }
}

/// Queries that each reach far more nodes than the ranking holds before it
/// cuts to the best `top_k` (4096 keys for `k` up to 1024, `4k` above):
/// the cut keeps exactly the top `k`, ties by id, for small and large `k`
/// and where the bound is exactly 4096 (`k` = 1024).
#[test]
fn ranking_many_reached_nodes_keeps_exactly_the_top_k() {
    if cfg!(miri) {
        return;
    }
    let g = Rmat::graph500(14).generate();
    let n = g.node_count() as u32;
    let queries: Vec<Vec<Seed>> = (0..12).map(|q| random_seeds(q, n, 16)).collect();
    for top_k in [1, 7, 100, 1024, 1500] {
        let p = SpreadParams {
            max_hops: 4,
            threshold: Threshold::Uniform(0.0),
            min_activation: 0.0,
            top_k,
            ..SpreadParams::default()
        };
        let config = SpreaderConfig::for_nodes(g.node_count());
        let mut batch = MultiSpreader::with_config(g.node_count(), 16, config).unwrap();
        check_batch(&mut batch, config, &g, &queries, &p);
        let reached = batch.query_stats().iter().map(|s| s.activated);
        let fewest = reached.min().unwrap();
        assert!(
            fewest > 2 * 4096,
            "every query reaches many nodes ({fewest})"
        );
    }
}

/// A wide batch (full reset) then narrow ones (sparse reset) then the wide
/// one again: no state leaks between batches.
#[test]
fn batches_do_not_leak_into_each_other() {
    let g = random_graph(3, 400, 3_000, true);
    let config = SpreaderConfig::for_nodes(400);
    let mut batch = MultiSpreader::new(400, 16).unwrap();
    let wide: Vec<Vec<Seed>> = (0..16).map(|q| random_seeds(q, 400, 8)).collect();
    let narrow = vec![vec![Seed::new(5, 0.2)]];
    let p = SpreadParams {
        threshold: Threshold::Uniform(0.0),
        min_activation: 0.0,
        top_k: usize::MAX,
        ..SpreadParams::default()
    };
    for queries in [&wide, &narrow, &wide, &narrow, &narrow] {
        check_batch(&mut batch, config, &g, queries, &p);
    }
    let mut results = Vec::new();
    batch
        .spread_batch(&g, &[] as &[Vec<Seed>], &p, &mut results)
        .unwrap();
    assert!(results.is_empty());
}

#[test]
fn bad_batches_are_rejected_and_change_nothing() {
    let g = random_graph(4, 100, 400, false);
    assert!(matches!(
        MultiSpreader::new(100, 0),
        Err(SpreadError::InvalidParameter {
            name: "max_queries",
            ..
        })
    ));
    assert!(MultiSpreader::new(100, MAX_BATCH + 1).is_err());
    let mut batch = MultiSpreader::new(100, 4).unwrap();
    let p = SpreadParams::default();
    let good: Vec<Vec<Seed>> = (0..4).map(|q| random_seeds(q, 100, 3)).collect();
    let mut results = Vec::new();
    batch.spread_batch(&g, &good, &p, &mut results).unwrap();
    let before: Vec<_> = results.iter().map(|r| bits(r)).collect();

    let too_many: Vec<Vec<Seed>> = (0..5).map(|q| random_seeds(q, 100, 3)).collect();
    let mut bad_seed = good.clone();
    bad_seed[2].push(Seed::new(100, 1.0));
    let mut bad_activation = good.clone();
    bad_activation[3][0].activation = f32::NAN;
    let bad_params = SpreadParams {
        max_hops: MAX_HOPS + 1,
        ..p
    };
    let other = random_graph(4, 101, 400, false);
    assert!(matches!(
        batch.spread_batch(&g, &too_many, &p, &mut results),
        Err(SpreadError::InvalidParameter {
            name: "queries",
            ..
        })
    ));
    assert!(matches!(
        batch.spread_batch(&g, &bad_seed, &p, &mut results),
        Err(SpreadError::InvalidSeed { node: 100, .. })
    ));
    assert!(matches!(
        batch.spread_batch(&g, &bad_activation, &p, &mut results),
        Err(SpreadError::InvalidSeed { index: 0, .. })
    ));
    assert!(
        batch
            .spread_batch(&g, &good, &bad_params, &mut results)
            .is_err()
    );
    assert!(matches!(
        batch.spread_batch(&other, &good, &p, &mut results),
        Err(SpreadError::WorkspaceMismatch { .. })
    ));
    let after: Vec<_> = results.iter().map(|r| bits(r)).collect();
    assert_eq!(before, after, "a rejected batch left the results alone");
    // And the workspace is intact: the next batch is still exact.
    check_batch(&mut batch, SpreaderConfig::for_nodes(100), &g, &good, &p);
}
