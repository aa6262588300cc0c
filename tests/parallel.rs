//! Parallel spreading is bit-identical to the single-threaded kernel, for
//! 1, 2, 3, 4, 8 and 16 workers, through every hop kind (small and large
//! push, pull), and independent queries run side by side give each query's
//! own results.
#![cfg(feature = "parallel")]

mod common;

use axonal::graph::Graph;
use axonal::graph::generate::{self, Rmat};
use axonal::machine::workers::Workers;
use axonal::spread::{
    ConcurrentSpreader, Decay, Fan, MAX_HOPS, ParallelSpreader, QueryJob, Seed, SpreadParams,
    SpreadStats, Spreader, SpreaderConfig, Threshold,
};
use common::{bits, random_graph, random_seeds};

/// Worker counts checked (Miri: fewer, it runs every thread interpreted).
const THREADS: &[usize] = if cfg!(miri) {
    &[1, 3]
} else {
    &[1, 2, 3, 4, 8, 16]
};

/// Pinned workers (Miri cannot read sysfs or set affinity: unpinned there).
fn workers(threads: usize) -> Workers {
    if cfg!(miri) {
        Workers::unpinned(threads).unwrap()
    } else {
        Workers::new(threads).unwrap()
    }
}

/// What a query leaves behind, as bits.
#[derive(Debug, PartialEq)]
struct Outcome {
    results: Vec<(u32, u32, u8, u32)>,
    stats: SpreadStats,
    activations: Vec<u32>,
    hops: Vec<Option<u8>>,
}

fn serial(graph: &Graph, config: SpreaderConfig, seeds: &[Seed], p: &SpreadParams) -> Outcome {
    let mut s = Spreader::with_config(graph.node_count(), config);
    let mut results = Vec::new();
    let stats = s.spread(graph, seeds, p, &mut results).unwrap();
    Outcome {
        results: bits(&results),
        stats,
        activations: s.activations().into_iter().map(f32::to_bits).collect(),
        hops: (0..graph.node_count() as u32)
            .map(|v| s.hop_of(v))
            .collect(),
    }
}

fn parallel(s: &mut ParallelSpreader, graph: &Graph, seeds: &[Seed], p: &SpreadParams) -> Outcome {
    let mut results = Vec::new();
    let stats = s.spread(graph, seeds, p, &mut results).unwrap();
    let mut reached = s.reached();
    reached.sort_unstable();
    let hops: Vec<Option<u8>> = (0..graph.node_count() as u32)
        .map(|v| s.hop_of(v))
        .collect();
    let mut want: Vec<u32> = (0..graph.node_count() as u32)
        .filter(|&v| hops[v as usize].is_some())
        .collect();
    want.sort_unstable();
    assert_eq!(reached, want, "reached() lists every reached node once");
    Outcome {
        results: bits(&results),
        stats,
        activations: s.activations().into_iter().map(f32::to_bits).collect(),
        hops,
    }
}

fn params(fan: Fan) -> SpreadParams {
    SpreadParams {
        fan,
        top_k: 1000,
        ..SpreadParams::default()
    }
}

/// Every hop as a full pass over all nodes (`rmat20_pagerank_like`).
fn pagerank_like(hops: usize) -> SpreadParams {
    SpreadParams {
        max_hops: hops,
        threshold: Threshold::Uniform(0.0),
        decay: Decay::Table([0.85; MAX_HOPS]),
        ..SpreadParams::default()
    }
}

/// Configurations that force each hop kind: the default; pull only; dense
/// push only (no sparse hops, never pull); sparse push when small.
fn configs(nodes: usize) -> [SpreaderConfig; 4] {
    let d = SpreaderConfig::for_nodes(nodes);
    [
        d,
        d.with_pull_fraction(0.0),
        SpreaderConfig::for_nodes(0)
            .with_pull_fraction(f32::INFINITY)
            .with_sparse_capacity(16),
        SpreaderConfig::for_nodes(0)
            .with_pull_fraction(f32::INFINITY)
            .with_sparse_capacity(1 << 16),
    ]
}

fn check_all(graph: &Graph, queries: &[(Vec<Seed>, SpreadParams)]) {
    let configs = configs(graph.node_count());
    // Miri: the two hop kinds that run on the workers (pull, binned push).
    let configs = if cfg!(miri) {
        &configs[1..3]
    } else {
        &configs[..]
    };
    for &config in configs {
        let want: Vec<Outcome> = queries
            .iter()
            .map(|(seeds, p)| serial(graph, config, seeds, p))
            .collect();
        for &threads in THREADS {
            let workers = workers(threads);
            let mut s = ParallelSpreader::with_config(graph, &workers, config);
            // Twice: the second run starts from the first's state.
            for round in 0..2 {
                for ((seeds, p), want) in queries.iter().zip(&want) {
                    let got = parallel(&mut s, graph, seeds, p);
                    assert_eq!(
                        &got, want,
                        "{threads} threads, config {config:?}, round {round}, seeds {seeds:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn random_graphs_bit_identical_for_every_thread_count() {
    let (n, m, graphs) = if cfg!(miri) {
        (40, 160, 1)
    } else {
        (3_000, 30_000, 3)
    };
    for g in 0..graphs {
        let graph = random_graph(g, n, m, g % 2 == 0);
        let queries: Vec<(Vec<Seed>, SpreadParams)> = (0..3)
            .map(|q| {
                let fan = [Fan::None, Fan::Sqrt, Fan::Divide][q as usize % 3];
                (random_seeds(g * 10 + q, n, 1 + 4 * q as usize), params(fan))
            })
            .chain([(random_seeds(g, n, 8), pagerank_like(6))])
            .collect();
        check_all(&graph, &queries);
    }
}

#[test]
#[cfg_attr(miri, ignore = "large graph")]
fn power_law_graphs_bit_identical_for_every_thread_count() {
    let rmat = Rmat {
        seed: 7,
        ..Rmat::graph500(14)
    }
    .generate();
    let ba = generate::barabasi_albert(5_000, 4, 3);
    for graph in [&rmat, &ba] {
        let hubs = [Seed::new(0, 1.0), Seed::new(1, 1.0), Seed::new(5, 0.7)];
        let queries = vec![
            (hubs.to_vec(), params(Fan::None)),
            (hubs.to_vec(), params(Fan::Sqrt)),
            (
                random_seeds(9, graph.node_count() as u32, 8),
                pagerank_like(20),
            ),
        ];
        check_all(graph, &queries);
    }
}

#[test]
fn shapes_with_empty_and_tiny_ranges() {
    // More workers than nodes (empty ranges), a chain, a fan, an empty query.
    for graph in [generate::chain(5, 0.9), generate::fan(7, 0.5)] {
        let queries = vec![
            (vec![Seed::new(0, 1.0)], params(Fan::None)),
            (vec![], params(Fan::None)),
            (
                vec![Seed::new(1, 0.5), Seed::new(1, 0.75)],
                pagerank_like(3),
            ),
        ];
        check_all(&graph, &queries);
    }
}

#[test]
fn errors_leave_the_last_result_untouched() {
    let graph = random_graph(1, 100, 400, true);
    let workers = workers(2);
    let mut s = ParallelSpreader::new(&graph, &workers);
    let seeds = [Seed::new(3, 1.0)];
    let mut results = Vec::new();
    s.spread(&graph, &seeds, &params(Fan::None), &mut results)
        .unwrap();
    let before = (results.clone(), s.activations());
    let bad_seed = [Seed::new(100, 1.0)];
    assert!(
        s.spread(&graph, &bad_seed, &params(Fan::None), &mut results)
            .is_err()
    );
    let other = random_graph(1, 99, 400, true);
    assert!(
        s.spread(&other, &seeds, &params(Fan::None), &mut results)
            .is_err()
    );
    let bad = SpreadParams {
        max_hops: MAX_HOPS + 1,
        ..SpreadParams::default()
    };
    assert!(s.spread(&graph, &seeds, &bad, &mut results).is_err());
    assert_eq!((results, s.activations()), before);
}

#[test]
fn concurrent_queries_match_running_each_alone() {
    let (n, queries) = if cfg!(miri) { (40, 5) } else { (2_000, 40) };
    let graph = random_graph(5, n, n * 8, false);
    let seeds: Vec<Vec<Seed>> = (0..queries as u64)
        .map(|q| random_seeds(q, n, 1 + q as usize % 5))
        .collect();
    let p = params(Fan::Sqrt);
    let mut alone = Spreader::new(graph.node_count());
    let want: Vec<Vec<(u32, u32, u8, u32)>> = seeds
        .iter()
        .map(|s| {
            let mut r = Vec::new();
            alone.spread(&graph, s, &p, &mut r).unwrap();
            bits(&r)
        })
        .collect();
    for &threads in THREADS {
        let mut c = ConcurrentSpreader::new(graph.node_count(), &workers(threads));
        let mut jobs: Vec<QueryJob> = seeds.iter().map(|s| QueryJob::new(s)).collect();
        for _ in 0..2 {
            c.spread(&graph, &p, &mut jobs);
            for (job, want) in jobs.iter().zip(&want) {
                assert!(job.outcome.as_ref().unwrap().is_ok());
                assert_eq!(&bits(&job.results), want, "{threads} threads");
            }
        }
    }
    // A bad query fails alone.
    let bad = [Seed::new(n, 1.0)];
    let good = [Seed::new(0, 1.0)];
    let mut c = ConcurrentSpreader::new(graph.node_count(), &workers(2));
    let mut jobs = [QueryJob::new(&bad), QueryJob::new(&good)];
    c.spread(&graph, &p, &mut jobs);
    assert!(jobs[0].outcome.as_ref().unwrap().is_err());
    assert!(jobs[1].outcome.as_ref().unwrap().is_ok());
}

#[test]
#[cfg_attr(miri, ignore = "reads sysfs, calls mbind")]
fn placing_the_graph_on_nodes_changes_no_result() {
    use axonal::machine::numa::NotApplied;
    use axonal::machine::topology::Topology;

    let graph = random_graph(3, 5_000, 60_000, false);
    let seeds = random_seeds(4, 5_000, 8);
    let p = params(Fan::None);
    let want = serial(&graph, SpreaderConfig::for_nodes(5_000), &seeds, &p);
    let mut s = ParallelSpreader::new(&graph, &workers(2));
    let placed = s.place_graph(&graph);
    match Topology::detect().nodes().len() {
        1 => assert_eq!(placed, Err(NotApplied::SingleNode)),
        _ => assert!(
            matches!(placed, Ok(()) | Err(NotApplied::Refused(_))),
            "{placed:?}"
        ),
    }
    assert_eq!(parallel(&mut s, &graph, &seeds, &p), want);
    let unpinned = ParallelSpreader::new(&graph, &Workers::unpinned(2).unwrap());
    assert_eq!(
        unpinned.place_graph(&graph),
        Err(NotApplied::UnpinnedWorkers)
    );
}
