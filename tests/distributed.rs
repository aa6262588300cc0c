//! Distributed spreading on timely-dataflow workers gives every worker the
//! same bits as `Spreader` on the whole graph, for 1 to 4 worker threads
//! in one process, with and without combining contributions; refuses
//! workers that hold different graphs or parts.

#![cfg(feature = "timely")]

mod common;

use std::sync::Arc;

use axonal::distributed::{DistributedError, DistributedSpreader, Partition};
use axonal::graph::Graph;
use axonal::graph::generate::{self, Rmat};
use axonal::spread::{Decay, Fan, MAX_HOPS, Seed, SpreadParams, SpreadStats, Spreader, Threshold};
use common::{bits, random_graph, random_seeds};

type Bits = Vec<(u32, u32, u8, u32)>;

/// The statistics that do not depend on how a hop was run.
fn semantic(s: &SpreadStats) -> (u32, u64, u32, [u32; MAX_HOPS + 1]) {
    (s.hops, s.edges_traversed, s.activated, s.frontier)
}

fn param_sets() -> Vec<SpreadParams> {
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
            top_k: 7,
            ..SpreadParams::default()
        },
    ]
}

fn queries(n: u32) -> Vec<Vec<Seed>> {
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

/// Every worker's results and statistics for every query and parameter
/// set, on `workers` threads.
fn run_on(graph: &Arc<Graph>, workers: usize, combining: bool) -> Vec<Vec<(Bits, SpreadStats)>> {
    let graph = graph.clone();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let part = Partition::new(&*graph, worker.peers(), worker.index()).unwrap();
        let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
        spreader.set_combining(combining);
        let mut results = Vec::new();
        let mut out = Vec::new();
        for params in param_sets() {
            for seeds in queries(graph.node_count() as u32) {
                let stats = spreader
                    .spread(worker, &part, &seeds, &params, &mut results)
                    .unwrap();
                out.push((bits(&results), stats));
            }
        }
        out
    })
    .unwrap();
    guards.join().into_iter().map(Result::unwrap).collect()
}

fn on_one_machine(graph: &Graph) -> Vec<(Bits, SpreadStats)> {
    let mut spreader = Spreader::new(graph.node_count());
    let mut results = Vec::new();
    let mut out = Vec::new();
    for params in param_sets() {
        for seeds in queries(graph.node_count() as u32) {
            let stats = spreader
                .spread(graph, &seeds, &params, &mut results)
                .unwrap();
            out.push((bits(&results), stats));
        }
    }
    out
}

#[test]
fn any_number_of_workers_gives_spreaders_bits() {
    let graphs = [
        ("random", random_graph(1, 2_000, 12_000, false)),
        ("rmat11", Rmat::graph500(11).generate()),
        ("ba", generate::barabasi_albert(3_000, 3, 9)),
        ("chain", generate::chain(200, 0.97)),
        ("fan", generate::fan(1_000, 0.8)),
    ];
    for (name, graph) in graphs {
        let want = on_one_machine(&graph);
        let graph = Arc::new(graph);
        for workers in 1..=4 {
            for combining in [true, false] {
                if !combining && workers != 3 {
                    continue;
                }
                let got = run_on(&graph, workers, combining);
                assert_eq!(got.len(), workers);
                for (w, per_worker) in got.iter().enumerate() {
                    for (q, ((g, gs), (c, cs))) in per_worker.iter().zip(&want).enumerate() {
                        let at = format!(
                            "{name}, {workers} workers (combining {combining}), worker {w}, query {q}"
                        );
                        assert_eq!(g, c, "{at}");
                        assert_eq!(semantic(gs), semantic(cs), "{at}");
                    }
                }
            }
        }
    }
}

#[test]
fn workers_with_different_graphs_or_parts_are_refused() {
    // Worker 1 holds another graph of the same size.
    let a = Arc::new(generate::barabasi_albert(500, 3, 1));
    let b = Arc::new(generate::barabasi_albert(500, 3, 2));
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let graph = if worker.index() == 0 { &*a } else { &*b };
        let part = Partition::new(graph, 2, worker.index()).unwrap();
        DistributedSpreader::new(worker, &part).err()
    })
    .unwrap();
    for refused in guards.join() {
        assert!(matches!(
            refused.unwrap(),
            Some(DistributedError::Mismatch { .. })
        ));
    }
    // A worker given another worker's part, or parts for another count.
    let g = Arc::new(generate::barabasi_albert(500, 3, 1));
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let wrong = Partition::new(&*g, 2, 1 - worker.index()).unwrap();
        let three = Partition::new(&*g, 3, worker.index()).unwrap();
        (
            DistributedSpreader::new(worker, &wrong).err(),
            DistributedSpreader::new(worker, &three).err(),
        )
    })
    .unwrap();
    for result in guards.join() {
        let (wrong, three) = result.unwrap();
        assert!(
            matches!(wrong, Some(DistributedError::Mismatch { .. })),
            "{wrong:?}"
        );
        assert!(
            matches!(three, Some(DistributedError::Workers { .. })),
            "{three:?}"
        );
    }
}
