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
use axonal::spread::{MAX_HOPS, MultiSpreader, Seed, SpreadParams, SpreadStats, Spreader};
use common::{bits, param_sets, random_graph, random_seeds, seed_sets};

type Bits = Vec<(u32, u32, u8, u32)>;

/// The statistics that do not depend on how a hop was run.
fn semantic(s: &SpreadStats) -> (u32, u64, u32, [u32; MAX_HOPS + 1]) {
    (s.hops, s.edges_traversed, s.activated, s.frontier)
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
            for seeds in seed_sets(graph.node_count() as u32) {
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
        for seeds in seed_sets(graph.node_count() as u32) {
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
        if name == "rmat11" {
            assert!(
                want.iter().any(|(_, s)| s.pull_hops > 0),
                "some queries pull"
            );
        }
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
                        // The same decisions as one machine: the same pulls.
                        assert_eq!(gs, cs, "{at}");
                    }
                }
            }
        }
    }
}

/// Batches of 5, 13 and 32 queries (the seed sets, then random ones of
/// 1 to 40 seeds), and an empty one.
fn batches(n: u32) -> Vec<Vec<Vec<Seed>>> {
    let random = |count: usize, salt: u64| -> Vec<Vec<Seed>> {
        (0..count as u64)
            .map(|i| random_seeds(salt + i, n, 1 + (i as usize * 7) % 40))
            .collect()
    };
    let mut thirteen = seed_sets(n);
    thirteen.extend(random(8, 100));
    vec![seed_sets(n), thirteen, random(32, 200), Vec::new()]
}

/// Every batch's results and per-query statistics on `workers` threads.
fn batches_on(graph: &Arc<Graph>, workers: usize) -> Vec<Vec<(Vec<Bits>, Vec<SpreadStats>)>> {
    let graph = graph.clone();
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let part = Partition::new(&*graph, worker.peers(), worker.index()).unwrap();
        let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
        let mut results = Vec::new();
        let mut out = Vec::new();
        for params in param_sets() {
            for batch in batches(graph.node_count() as u32) {
                let stats = spreader
                    .spread_batch(worker, &part, &batch, &params, &mut results)
                    .unwrap();
                assert_eq!(stats.queries as usize, batch.len());
                assert_eq!(results.len(), batch.len());
                let per_query = spreader.query_stats().to_vec();
                out.push((results.iter().map(|r| bits(r)).collect(), per_query));
            }
        }
        out
    })
    .unwrap();
    guards.join().into_iter().map(Result::unwrap).collect()
}

#[test]
fn batches_give_every_query_spreaders_bits_and_multis_stats() {
    let graphs = [
        ("random", random_graph(3, 1_500, 9_000, false)),
        ("rmat11", Rmat::graph500(11).generate()),
        ("ba", generate::barabasi_albert(2_000, 3, 9)),
        ("fan", generate::fan(800, 0.8)),
    ];
    for (name, graph) in graphs {
        // Each query alone on one machine, and each batch's statistics
        // from `MultiSpreader`.
        let n = graph.node_count();
        let (mut alone, mut multi) = (Spreader::new(n), MultiSpreader::new(n, 32).unwrap());
        let (mut one, mut many) = (Vec::new(), Vec::new());
        let mut want = Vec::new();
        for params in param_sets() {
            for batch in batches(n as u32) {
                let results = batch
                    .iter()
                    .map(|seeds| {
                        alone.spread(&graph, seeds, &params, &mut one).unwrap();
                        bits(&one)
                    })
                    .collect::<Vec<_>>();
                multi
                    .spread_batch(&graph, &batch, &params, &mut many)
                    .unwrap();
                want.push((results, multi.query_stats().to_vec()));
            }
        }
        if name == "rmat11" {
            let pulls = want.iter().flat_map(|(_, s)| s).any(|s| s.pull_hops > 0);
            assert!(pulls, "some batches pull");
        }
        let graph = Arc::new(graph);
        for workers in 1..=4 {
            for (w, per_worker) in batches_on(&graph, workers).iter().enumerate() {
                for (b, (got, want)) in per_worker.iter().zip(&want).enumerate() {
                    let at = format!("{name}, {workers} workers, worker {w}, batch {b}");
                    assert_eq!(got, want, "{at}");
                }
            }
        }
    }
}

#[test]
fn a_batch_too_large_is_refused_and_a_late_worker_fails_the_whole_batch() {
    let graph = Arc::new(Rmat::graph500(10).generate());
    let n = graph.node_count() as u32;
    let p = SpreadParams::query_std();
    let mut alone = Spreader::new(n as usize);
    let want: Vec<Bits> = batches(n)[1]
        .iter()
        .map(|seeds| {
            let mut one = Vec::new();
            alone.spread(&*graph, seeds, &p, &mut one).unwrap();
            bits(&one)
        })
        .collect();
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let timeout = std::time::Duration::from_millis(1500);
        let part = Partition::new(&*graph, 2, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::with_timeout(worker, &part, timeout).unwrap();
        let batch = &batches(n)[1];
        let mut results = vec![Vec::new(); 2];
        let too_many: Vec<Vec<Seed>> = (0..33).map(|_| vec![Seed::new(0, 1.0)]).collect();
        let refused = spreader.spread_batch(worker, &part, &too_many, &p, &mut results);
        assert!(
            matches!(refused, Err(DistributedError::Spread(_))),
            "{refused:?}"
        );
        assert_eq!(results.len(), 2, "a refused batch changes nothing");
        if worker.index() == 1 {
            // Past worker 0's timeout of this batch, well before that of
            // the next, which worker 0 starts waiting for at once.
            std::thread::sleep(timeout * 3 / 2);
        }
        let late = spreader.spread_batch(worker, &part, batch, &p, &mut results);
        assert!(late.is_err(), "{late:?}");
        assert!(spreader.query_stats().is_empty());
        assert!(results.iter().all(Vec::is_empty), "no partial results");
        spreader
            .spread_batch(worker, &part, batch, &p, &mut results)
            .unwrap();
        results.iter().map(|r| bits(r)).collect::<Vec<_>>()
    })
    .unwrap();
    for got in guards.join() {
        assert_eq!(got.unwrap(), want, "the batch after the failed one");
    }
}

#[test]
fn more_workers_than_nodes_and_a_late_worker() {
    // Empty parts: 4 workers, 2 nodes.
    let mut b = axonal::graph::GraphBuilder::with_node_count(2);
    b.add_edge(0, 1, 0.5).unwrap();
    let tiny = Arc::new(b.build().unwrap());
    let got = run_on(&tiny, 4, true);
    let want = on_one_machine(&tiny);
    for per_worker in &got {
        assert_eq!(
            per_worker.iter().map(|(b, _)| b).collect::<Vec<_>>(),
            want.iter().map(|(b, _)| b).collect::<Vec<_>>()
        );
    }
    // And in batches.
    let mut alone = Spreader::new(2);
    let mut one = Vec::new();
    let want: Vec<Vec<Bits>> = param_sets()
        .iter()
        .flat_map(|p| batches(2).into_iter().map(move |b| (p, b)))
        .map(|(p, batch)| {
            batch
                .iter()
                .map(|seeds| {
                    alone.spread(&*tiny, seeds, p, &mut one).unwrap();
                    bits(&one)
                })
                .collect()
        })
        .collect();
    for per_worker in batches_on(&tiny, 4) {
        let got: Vec<_> = per_worker.into_iter().map(|(b, _)| b).collect();
        assert_eq!(got, want);
    }
    // A worker late past the timeout fails that query on every worker
    // (typed), and the next query is whole again on both.
    let graph = Arc::new(Rmat::graph500(10).generate());
    let reference = Arc::new(on_one_machine(&graph));
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let timeout = std::time::Duration::from_millis(1500);
        let part = Partition::new(&*graph, 2, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::with_timeout(worker, &part, timeout).unwrap();
        let seeds = seed_sets(graph.node_count() as u32);
        let p = param_sets()[0];
        let mut results = Vec::new();
        spreader
            .spread(worker, &part, &seeds[1], &p, &mut results)
            .unwrap();
        if worker.index() == 1 {
            // Past worker 0's timeout of this query, well before that of
            // the next, which worker 0 starts waiting for at once.
            std::thread::sleep(timeout * 3 / 2);
        }
        let late = spreader.spread(worker, &part, &seeds[1], &p, &mut results);
        assert!(late.is_err() && results.is_empty(), "{late:?}");
        spreader
            .spread(worker, &part, &seeds[2], &p, &mut results)
            .unwrap();
        bits(&results)
    })
    .unwrap();
    for got in guards.join() {
        assert_eq!(
            got.unwrap(),
            reference[2].0,
            "the query after the failed one"
        );
    }
}

#[test]
fn workers_given_different_queries_fail_them_and_stay_in_step() {
    let graph = Arc::new(Rmat::graph500(10).generate());
    let n = graph.node_count() as u32;
    let shared = graph.clone();
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let part = Partition::new(&*shared, 2, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
        let (w, p) = (worker.index(), SpreadParams::query_std());
        let mut results = Vec::new();
        let mut failures = Vec::new();
        // Other seeds, other parameters, other batches.
        let seeds = [Seed::new(w as u32, 1.0)];
        failures.push(
            spreader
                .spread(worker, &part, &seeds, &p, &mut results)
                .err(),
        );
        assert!(results.is_empty());
        let other = SpreadParams { top_k: 10 + w, ..p };
        let same = [Seed::new(0, 1.0)];
        failures.push(
            spreader
                .spread(worker, &part, &same, &other, &mut results)
                .err(),
        );
        let batch = &batches(n)[1][..5 + 8 * w];
        let mut lists = Vec::new();
        failures.push(
            spreader
                .spread_batch(worker, &part, batch, &p, &mut lists)
                .err(),
        );
        assert!(lists.iter().all(Vec::is_empty));
        // Still in step: the same query runs.
        spreader
            .spread(worker, &part, &same, &p, &mut results)
            .unwrap();
        (failures, bits(&results))
    })
    .unwrap();
    let mut alone = Spreader::new(n as usize);
    let mut want = Vec::new();
    let p = SpreadParams::query_std();
    alone
        .spread(&*graph, &[Seed::new(0, 1.0)], &p, &mut want)
        .unwrap();
    for got in guards.join() {
        let (failures, results) = got.unwrap();
        for failure in failures {
            assert!(
                matches!(failure, Some(DistributedError::Mismatch { .. })),
                "{failure:?}"
            );
        }
        assert_eq!(results, bits(&want));
    }
}

/// One query's or batch's results and statistics.
type Outcome = (Vec<Bits>, Vec<SpreadStats>);

#[test]
fn queries_given_to_one_worker_reach_every_worker() {
    let graph = Arc::new(Rmat::graph500(10).generate());
    let n = graph.node_count() as u32;
    // On one machine: each single query on `Spreader`, each batch on
    // `MultiSpreader` (its statistics) and each of its queries alone.
    let mut alone = Spreader::new(n as usize);
    let mut multi = MultiSpreader::new(n as usize, 32).unwrap();
    let (mut one, mut many) = (Vec::new(), Vec::new());
    let mut want: Vec<Outcome> = Vec::new();
    for p in param_sets() {
        for seeds in seed_sets(n) {
            let stats = alone.spread(&*graph, &seeds, &p, &mut one).unwrap();
            want.push((vec![bits(&one)], vec![stats]));
        }
        for batch in batches(n) {
            let results = batch
                .iter()
                .map(|seeds| {
                    alone.spread(&*graph, seeds, &p, &mut one).unwrap();
                    bits(&one)
                })
                .collect();
            multi.spread_batch(&*graph, &batch, &p, &mut many).unwrap();
            want.push((results, multi.query_stats().to_vec()));
        }
    }
    let shared = graph.clone();
    let guards = timely::execute(timely::Config::process(3), move |worker| {
        let part = Partition::new(&*shared, 3, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
        let leads = worker.index() == 1;
        let none: &[Vec<Seed>] = &[];
        let mut got: Vec<Outcome> = Vec::new();
        let (mut results, mut lists) = (Vec::new(), Vec::new());
        for p in param_sets() {
            for seeds in seed_sets(n) {
                let given = if leads { &seeds[..] } else { &[] };
                let stats = spreader
                    .spread_from(worker, &part, 1, given, &p, &mut results)
                    .unwrap();
                got.push((vec![bits(&results)], vec![stats]));
            }
            for batch in batches(n) {
                let given = if leads { &batch[..] } else { none };
                spreader
                    .spread_batch_from(worker, &part, 1, given, &p, &mut lists)
                    .unwrap();
                let results = lists.iter().map(|r| bits(r)).collect();
                got.push((results, spreader.query_stats().to_vec()));
            }
        }
        // Refused alike on every worker, which stay in step: a leader
        // that is not a worker, a batch too large.
        let p = SpreadParams::default();
        let seeds = [Seed::new(0, 1.0)];
        let no_leader = spreader.spread_from(worker, &part, 3, &seeds, &p, &mut results);
        assert!(
            matches!(no_leader, Err(DistributedError::Spread(_))),
            "{no_leader:?}"
        );
        let too_many: Vec<Vec<Seed>> = (0..33).map(|_| seeds.to_vec()).collect();
        let given = if leads { &too_many[..] } else { none };
        lists = vec![Vec::new(); 2];
        let refused = spreader.spread_batch_from(worker, &part, 1, given, &p, &mut lists);
        assert!(
            matches!(refused, Err(DistributedError::Spread(_))),
            "{refused:?}"
        );
        assert_eq!(lists.len(), 2, "a refused batch changes nothing");
        assert!(spreader.query_stats().is_empty());
        let given = if leads { &seeds[..] } else { &[] };
        spreader
            .spread_from(worker, &part, 1, given, &p, &mut results)
            .unwrap();
        (got, bits(&results))
    })
    .unwrap();
    let mut last = Vec::new();
    let p = SpreadParams::default();
    alone
        .spread(&*graph, &[Seed::new(0, 1.0)], &p, &mut last)
        .unwrap();
    for got in guards.join() {
        let (got, after) = got.unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (got, want)) in got.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "query or batch {i}");
        }
        assert_eq!(after, bits(&last), "the query after the refused ones");
    }
}

#[test]
fn a_late_worker_or_another_leader_fails_the_input_not_the_next_query() {
    let graph = Arc::new(Rmat::graph500(10).generate());
    let p = SpreadParams::query_std();
    let seeds = [Seed::new(3, 1.0), Seed::new(40, 0.5)];
    let mut want = Vec::new();
    Spreader::new(graph.node_count())
        .spread(&*graph, &seeds, &p, &mut want)
        .unwrap();
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let timeout = std::time::Duration::from_millis(1500);
        let part = Partition::new(&*graph, 2, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::with_timeout(worker, &part, timeout).unwrap();
        let given = if worker.index() == 0 { &seeds[..] } else { &[] };
        let mut results = Vec::new();
        let mut outcomes = Vec::new();
        // Worker 1 comes to the input round late: the query fails (typed)
        // on both, and the next one is whole.
        if worker.index() == 1 {
            std::thread::sleep(timeout * 3 / 2);
        }
        let late = spreader.spread_from(worker, &part, 0, given, &p, &mut results);
        assert!(results.is_empty(), "no partial results");
        outcomes.push(late.err());
        spreader
            .spread_from(worker, &part, 0, given, &p, &mut results)
            .unwrap();
        assert_eq!(bits(&results), bits(&want));
        // Worker 0 names a leader that does not exist, worker 1 names
        // worker 0: both fail, typed, and stay in step.
        let leader = if worker.index() == 0 { 5 } else { 0 };
        let other = spreader.spread_from(worker, &part, leader, given, &p, &mut results);
        outcomes.push(other.err());
        spreader
            .spread_from(worker, &part, 0, given, &p, &mut results)
            .unwrap();
        assert_eq!(bits(&results), bits(&want));
        outcomes
    })
    .unwrap();
    for (w, outcomes) in guards.join().into_iter().enumerate() {
        for failure in outcomes.unwrap() {
            assert!(
                matches!(
                    failure,
                    Some(
                        DistributedError::Timeout { .. }
                            | DistributedError::Lost { .. }
                            | DistributedError::Spread(_)
                    )
                ),
                "worker {w}: {failure:?}"
            );
        }
    }
}

#[test]
fn a_spreader_refuses_another_partition() {
    let graph = Arc::new(generate::barabasi_albert(500, 3, 1));
    let other = Arc::new(generate::barabasi_albert(500, 3, 2));
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let part = Partition::new(&*graph, 2, worker.index()).unwrap();
        let wrong = Partition::new(&*other, 2, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
        let mut results = Vec::new();
        let p = SpreadParams::default();
        let refused = spreader.spread(worker, &wrong, &[Seed::new(0, 1.0)], &p, &mut results);
        // Still in step: the next query, on the right part, runs.
        spreader
            .spread(worker, &part, &[Seed::new(0, 1.0)], &p, &mut results)
            .unwrap();
        refused.err()
    })
    .unwrap();
    for refused in guards.join() {
        assert!(matches!(
            refused.unwrap(),
            Some(DistributedError::Mismatch { .. })
        ));
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

#[test]
fn a_worker_that_leaves_fails_the_query_not_silently() {
    let graph = Arc::new(Rmat::graph500(10).generate());
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let timeout = std::time::Duration::from_millis(500);
        let part = Partition::new(&*graph, 2, worker.index()).unwrap();
        let mut spreader = DistributedSpreader::with_timeout(worker, &part, timeout).unwrap();
        if worker.index() == 1 {
            return None; // leaves: its end of the dataflow is dropped
        }
        let mut results = vec![axonal::spread::Activation {
            node: 9,
            activation: 1.0,
            hop: 0,
            confidence: 1.0,
        }];
        let seeds = [Seed::new(0, 1.0), Seed::new(700, 1.0)];
        let p = SpreadParams::default();
        let failed = spreader.spread(worker, &part, &seeds, &p, &mut results);
        assert!(results.is_empty(), "no partial results");
        failed.err()
    })
    .unwrap();
    let errors: Vec<_> = guards.join().into_iter().map(Result::unwrap).collect();
    assert!(
        matches!(
            errors[0],
            Some(DistributedError::Lost { .. } | DistributedError::Timeout { .. })
        ),
        "{:?}",
        errors[0]
    );
}

/// The entry point of the processes the multi-process tests start (this
/// test binary, run again with `AXONAL_DIST_CHILD` set): not a test of its
/// own.
#[test]
#[ignore = "entry point of the processes the multi-process tests start"]
fn child_process() {
    let Ok(spec) = std::env::var("AXONAL_DIST_CHILD") else {
        return;
    };
    // "<mode> <process> <hostfile>"
    let parts: Vec<&str> = spec.splitn(3, ' ').collect();
    let (mode, process, hosts) = (parts[0].to_string(), parts[1].to_string(), parts[2]);
    let args = ["-w", "1", "-n", "2", "-p", &process, "-h", hosts].map(String::from);
    let config = timely::Config::from_args(args.into_iter()).unwrap();
    let graph = Arc::new(Rmat::graph500(11).generate());
    let want = Arc::new(on_one_machine(&graph));
    let guards = timely::execute(config, move |worker| {
        // Long enough for a loaded 2-core machine; a dead peer is noticed
        // at once anyway (its connection breaks).
        let timeout = std::time::Duration::from_secs(20);
        let part = Partition::new(&*graph, worker.peers(), worker.index()).unwrap();
        let mut spreader = DistributedSpreader::with_timeout(worker, &part, timeout).unwrap();
        let mut results = Vec::new();
        let mut q = 0;
        for params in param_sets() {
            for seeds in seed_sets(graph.node_count() as u32) {
                if mode == "die" && q == 3 && worker.index() == 1 {
                    // Gone without a word, in the middle of the run.
                    std::process::exit(0);
                }
                // Worker 0 may meet the loss in query 3, or already in
                // the end of query 2 (the other process left as soon as
                // its own part of that query was done).
                let started = std::time::Instant::now();
                let outcome = spreader.spread(worker, &part, &seeds, &params, &mut results);
                if let (true, Err(error)) = (mode == "die" && q >= 2, &outcome) {
                    let waited = started.elapsed();
                    assert!(results.is_empty(), "no partial results");
                    assert!(waited < std::time::Duration::from_secs(30), "{waited:?}");
                    assert!(
                        matches!(
                            error,
                            DistributedError::Disconnected { .. }
                                | DistributedError::Timeout { .. }
                                | DistributedError::Lost { .. }
                        ),
                        "{error:?}"
                    );
                    println!("FAILED AS EXPECTED in query {q}, in {waited:?}: {error}");
                    // The next query fails too, with a typed error.
                    let again = spreader.spread(worker, &part, &seeds, &params, &mut results);
                    assert!(again.is_err());
                    // Timely's threads are down: leave without joining them.
                    std::process::exit(0);
                }
                assert!(mode != "die" || q < 4, "a query past the loss succeeded");
                let stats = outcome.unwrap();
                let (c, cs) = &want[q];
                assert_eq!(&bits(&results), c, "query {q}");
                assert_eq!(semantic(&stats), semantic(cs), "query {q}");
                q += 1;
            }
        }
        // The same queries in batches, one per parameter set.
        let mut batch_results = Vec::new();
        for (b, params) in param_sets().into_iter().enumerate() {
            let batch = seed_sets(graph.node_count() as u32);
            spreader
                .spread_batch(worker, &part, &batch, &params, &mut batch_results)
                .unwrap();
            for (i, got) in batch_results.iter().enumerate() {
                assert_eq!(
                    bits(got),
                    want[b * batch.len() + i].0,
                    "batch {b}, query {i}"
                );
            }
        }
        println!("ALL {q} QUERIES IDENTICAL, ALONE AND IN BATCHES");
    })
    .unwrap();
    for g in guards.join() {
        g.unwrap();
    }
}

/// Starts this binary's `child_process` as processes 0 and 1 of a
/// two-process computation on 127.0.0.1 in `mode`; returns each one's exit
/// status and output, killing both after `limit`.
fn two_processes(mode: &str, limit: std::time::Duration) -> Vec<(bool, String)> {
    use std::process::{Command, Stdio};
    // One pair of processes at a time: the tests run in parallel.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let ports: Vec<u16> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let dir = std::env::temp_dir().join(format!("axonal-dist-{}-{mode}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts.txt");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();
    // Output to files: a child writing more than a pipe holds while
    // nobody reads would block, and never finish.
    let logs: Vec<_> = (0..2)
        .map(|p| dir.join(format!("process-{p}.log")))
        .collect();
    let mut children: Vec<_> = (0..2)
        .map(|p| {
            let log = std::fs::File::create(&logs[p]).unwrap();
            Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", "child_process", "--nocapture"])
                .env(
                    "AXONAL_DIST_CHILD",
                    format!("{mode} {p} {}", hosts.display()),
                )
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap()
        })
        .collect();
    let started = std::time::Instant::now();
    let mut statuses = vec![None; 2];
    while statuses.iter().any(Option::is_none) {
        for (c, s) in children.iter_mut().zip(statuses.iter_mut()) {
            if s.is_none() {
                *s = c.try_wait().unwrap();
            }
        }
        if started.elapsed() > limit {
            for c in &mut children {
                let _ = c.kill();
                let _ = c.wait();
            }
            let tails: Vec<String> = logs
                .iter()
                .map(|log| {
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    text.lines()
                        .filter(|l| !l.starts_with(' '))
                        .take(40)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .collect();
            let _ = std::fs::remove_dir_all(&dir);
            panic!("the processes did not finish within {limit:?} ({statuses:?}):\n{tails:#?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let outcome = statuses
        .into_iter()
        .zip(&logs)
        .map(|(s, log)| (s.unwrap().success(), std::fs::read_to_string(log).unwrap()))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

#[test]
#[cfg_attr(miri, ignore = "starts processes")]
fn two_processes_on_localhost_give_spreaders_bits() {
    let outcome = two_processes("spread", std::time::Duration::from_secs(120));
    for (p, (ok, out)) in outcome.iter().enumerate() {
        assert!(
            *ok && out.contains("ALL 25 QUERIES IDENTICAL, ALONE AND IN BATCHES"),
            "process {p}:\n{out}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "starts processes")]
fn a_dead_process_fails_the_query_in_bounded_time() {
    let outcome = two_processes("die", std::time::Duration::from_secs(120));
    let (ok, out) = &outcome[0];
    assert!(
        *ok && out.contains("FAILED AS EXPECTED"),
        "process 0:\n{out}"
    );
}
