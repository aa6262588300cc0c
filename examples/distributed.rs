//! Spreading queries over the workers of a timely-dataflow computation:
//! threads of this process and other processes (other hosts), every
//! worker reading only its part of the graph.
//!
//! ```text
//! cargo run --release --features timely --example distributed -- -w 2                      # 2 worker threads
//! cargo run --release --features timely --example distributed -- --workload rmat20_query_wide -w 2
//! cargo run --release --features timely --example distributed -- --graph g.axg -w 4         # your graph, mapped
//! cargo run --release --features timely --example distributed -- -w 2 --no-combine          # bytes without combining
//! cargo run --release --features timely --example distributed -- --workload rmat20_query_wide -w 2 --batch 32   # 32 queries in flight
//! cargo run --release --features timely --example distributed -- -w 2 --from-leader      # queries given to worker 0 only
//! # two processes (on one host or two: each line on its host, the same hosts file):
//! cargo run --release --features timely --example distributed -- -n 2 -p 0 -h hosts.txt
//! cargo run --release --features timely --example distributed -- -n 2 -p 1 -h hosts.txt
//! ```
//!
//! `-w`, `-n`, `-p`, `-h` are timely's own flags (threads per process,
//! processes, this process's index, a file of `host:port` lines, one per
//! process). Every worker generates the same workload graph (or maps the
//! same `.axg` file) and cuts out its part; every worker runs the same
//! queries (8 seeds drawn as `query_std` draws them; with `--from-leader`
//! only worker 0 is given them, and it sends them to the others in each
//! query's first round), one by one or in batches of `--batch` queries in
//! flight, and every worker gets each query's whole results. Worker 0
//! checks its first queries against `Spreader` on the whole graph, then
//! prints per-query latency percentiles, queries/s, edges/s, the bytes the
//! workers exchanged per hop and per traversed edge, and the time each
//! worker spent waiting in rounds. The workloads: `recall` (R-MAT 17,
//! `query_std`; seeding by similarity is the engine's step before this
//! one), `rmat20_query_std`, `rmat20_query_wide`.

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use axonal::distributed::{DistributedError, DistributedSpreader, Partition};
use axonal::graph::generate::{self, SplitMix64};
use axonal::graph::{Graph, Ordering};
use axonal::spread::{
    Activation, BatchStats, MAX_BATCH, MultiSpreader, Seed, SpreadParams, SpreadStats, Spreader,
};
use axonal::store::{AxgStore, Verify};
use common::percentile;
use timely::worker::Worker;

struct Args {
    workload: String,
    queries: usize,
    graph: Option<String>,
    combining: bool,
    batch: usize,
    from_leader: bool,
    /// The flags left for timely.
    timely: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        workload: "recall".into(),
        queries: 200,
        graph: None,
        combining: true,
        batch: 1,
        from_leader: false,
        timely: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--workload" => args.workload = value()?,
            "--queries" => args.queries = value()?.parse().map_err(|e| format!("--queries: {e}"))?,
            "--graph" => args.graph = Some(value()?),
            "--no-combine" => args.combining = false,
            "--from-leader" => args.from_leader = true,
            "--batch" => args.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--help" => {
                return Err("usage: distributed [--workload recall|rmat20_query_std|rmat20_query_wide] [--queries N] [--graph FILE.axg] [--no-combine] [--batch 1..32] [--from-leader] [-w THREADS] [-n PROCESSES -p INDEX -h HOSTS]".into())
            }
            _ => args.timely.push(flag),
        }
    }
    if !["recall", "rmat20_query_std", "rmat20_query_wide"].contains(&args.workload.as_str()) {
        return Err(format!("unknown workload `{}`", args.workload));
    }
    if args.queries == 0 {
        return Err("--queries must be at least 1".into());
    }
    if !(1..=MAX_BATCH).contains(&args.batch) {
        return Err(format!("--batch must be 1 to {MAX_BATCH}"));
    }
    Ok(args)
}

/// The graph every worker holds (in memory: generated and reordered; or
/// an `.axg` file mapped, each worker touching only its rows' pages).
enum Source {
    Memory(Graph),
    Mapped(AxgStore),
}

/// Runs one query: given to every worker, or only to worker `leader`
/// (the others pass no seeds).
fn run_one(
    spreader: &mut DistributedSpreader,
    worker: &mut Worker,
    part: &Partition<'_>,
    leader: Option<usize>,
    seeds: &[Seed],
    params: &SpreadParams,
    results: &mut Vec<Activation>,
) -> Result<SpreadStats, DistributedError> {
    match leader {
        Some(leader) => {
            let given = if worker.index() == leader { seeds } else { &[] };
            spreader.spread_from(worker, part, leader, given, params, results)
        }
        None => spreader.spread(worker, part, seeds, params, results),
    }
}

/// [`run_one`] for a batch.
fn run_batch(
    spreader: &mut DistributedSpreader,
    worker: &mut Worker,
    part: &Partition<'_>,
    leader: Option<usize>,
    queries: &[Vec<Seed>],
    params: &SpreadParams,
    results: &mut Vec<Vec<Activation>>,
) -> Result<BatchStats, DistributedError> {
    match leader {
        Some(leader) => {
            let given = if worker.index() == leader {
                queries
            } else {
                &[]
            };
            spreader.spread_batch_from(worker, part, leader, given, params, results)
        }
        None => spreader.spread_batch(worker, part, queries, params, results),
    }
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("distributed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    println!("{}", axonal::simd::Platform::detect());
    let source = Arc::new(match &args.graph {
        Some(path) => {
            // SAFETY: the example's contract: the file does not change
            // while it runs.
            let stored = unsafe { AxgStore::map(path, Verify::Structure) }
                .map_err(|e| format!("{path}: {e}"))?;
            Source::Mapped(stored)
        }
        None => {
            let graph = match args.workload.as_str() {
                "recall" => generate::standard::rmat17(),
                _ => generate::standard::rmat20(),
            };
            Source::Memory(graph.reorder(Ordering::DegreeDescending).0)
        }
    });
    let params = match args.workload.as_str() {
        "rmat20_query_wide" => SpreadParams::default(),
        _ => SpreadParams::query_std(),
    };
    let config = timely::Config::from_args(args.timely.clone().into_iter())?;
    let (queries, combining, batch) = (args.queries, args.combining, args.batch);
    let leader = args.from_leader.then_some(0);
    let name = args.graph.clone().unwrap_or(args.workload.clone());
    let guards = timely::execute(config, move |worker| {
        let file;
        let graph = match &*source {
            Source::Memory(g) => g.view(),
            Source::Mapped(stored) => {
                file = stored.file().expect("verified when mapped");
                file.graph().expect("verified when mapped")
            }
        };
        let part =
            Partition::new(graph, worker.peers(), worker.index()).map_err(|e| e.to_string())?;
        let mut spreader = DistributedSpreader::new(worker, &part).map_err(|e| e.to_string())?;
        spreader.set_combining(combining);
        // The same queries on every worker: 8 seeds among nodes with edges.
        let pool = generate::standard::SeedPool::new(graph);
        let mut rng = SplitMix64::new(2024);
        let seeds: Vec<Vec<Seed>> = (0..queries + 10)
            .map(|_| {
                (0..8)
                    .map(|_| Seed::new(pool.draw(&mut rng).expect("edges"), 1.0))
                    .collect()
            })
            .collect();
        let mut reference = (worker.index() == 0).then(|| Spreader::new(graph.node_count()));
        let (mut results, mut expected) = (Vec::new(), Vec::new());
        let (mut latencies, mut edges, mut bytes, mut hops) = (Vec::new(), 0u64, 0u64, 0u64);
        let mut per_hop = [0u64; 4];
        let mut waited = std::time::Duration::ZERO;
        let (mut batch_results, mut answers) = (Vec::new(), Vec::new());
        let mut wall = Instant::now();
        for (q, query) in seeds.iter().enumerate() {
            if q == 10 {
                wall = Instant::now();
            }
            if batch > 1 {
                if q == 0 {
                    // Warm-up: the first 10 queries as one batch (which
                    // makes the batch workspace), checked query by query.
                    run_batch(
                        &mut spreader,
                        worker,
                        &part,
                        leader,
                        &seeds[..10],
                        &params,
                        &mut batch_results,
                    )
                    .map_err(|e| e.to_string())?;
                    if let Some(reference) = &mut reference {
                        for (seeds, got) in seeds.iter().zip(&batch_results) {
                            reference
                                .spread(graph, seeds, &params, &mut expected)
                                .map_err(|e| e.to_string())?;
                            if *got != expected {
                                return Err("a batch's results differ from Spreader's".into());
                            }
                        }
                    }
                }
                if q < 10 || (q - 10) % batch != 0 {
                    continue;
                }
                // The batch of queries `q..q + batch`: each waits for all.
                let chunk = &seeds[q..(q + batch).min(seeds.len())];
                let t = Instant::now();
                let stats = run_batch(
                    &mut spreader,
                    worker,
                    &part,
                    leader,
                    chunk,
                    &params,
                    &mut batch_results,
                )
                .map_err(|e| e.to_string())?;
                let took = t.elapsed().as_secs_f64() * 1e6;
                latencies.extend(chunk.iter().map(|_| took));
                let x = spreader.exchange_stats();
                waited += x.waited;
                edges += stats.edges_traversed;
                bytes += x.total_hop_bytes();
                hops += spreader
                    .query_stats()
                    .iter()
                    .map(|s| u64::from(s.hops))
                    .sum::<u64>();
                for (sum, &b) in per_hop.iter_mut().zip(&x.hop_bytes) {
                    *sum += b;
                }
                if reference.is_some() {
                    answers.extend(batch_results.iter().cloned());
                }
                continue;
            }
            let t = Instant::now();
            let stats = run_one(
                &mut spreader,
                worker,
                &part,
                leader,
                query,
                &params,
                &mut results,
            )
            .map_err(|e| e.to_string())?;
            let took = t.elapsed();
            if q < 10 {
                // Warm-up: the first queries checked against one machine.
                if let Some(reference) = &mut reference {
                    let one = reference
                        .spread(graph, query, &params, &mut expected)
                        .map_err(|e| e.to_string())?;
                    if results != expected || one != stats {
                        return Err(format!(
                            "query {q}: the workers' results differ from Spreader's"
                        ));
                    }
                }
                continue;
            }
            let x = spreader.exchange_stats();
            waited += x.waited;
            latencies.push(took.as_secs_f64() * 1e6);
            edges += stats.edges_traversed;
            bytes += x.total_hop_bytes();
            hops += u64::from(stats.hops);
            for (sum, &b) in per_hop.iter_mut().zip(&x.hop_bytes) {
                *sum += b;
            }
        }
        let wall = wall.elapsed().as_secs_f64();
        // Every worker: how much of the time it waited for the others.
        println!(
            "worker {}: {:.0}% of the measured time in rounds after its own work (exchange, waiting for the slowest worker)",
            worker.index(),
            waited.as_secs_f64() / wall * 100.0
        );
        // One `Spreader` on the whole graph, the same measured queries, the
        // same process (worker 0 alone: the other workers are done); with
        // batches, one `MultiSpreader` on the same batches too, and every
        // batch's results checked against `Spreader`'s.
        let alone = reference.as_mut().map(|reference| {
            let mut want = Vec::new();
            let t = Instant::now();
            for seeds in &seeds[10..] {
                reference
                    .spread(graph, seeds, &params, &mut expected)
                    .expect("valid queries");
                if batch > 1 {
                    want.push(expected.clone());
                }
            }
            (t.elapsed().as_secs_f64(), want)
        });
        let (alone, multi) = match alone {
            Some((alone, want)) if batch > 1 => {
                if want != answers {
                    return Err("a batch's results differ from Spreader's".into());
                }
                let mut multi = MultiSpreader::new(graph.node_count(), batch).expect("1..=32");
                // Warmed up as the workers were.
                for chunk in seeds[..10].chunks(batch) {
                    multi
                        .spread_batch(graph, chunk, &params, &mut batch_results)
                        .expect("valid queries");
                }
                let t = Instant::now();
                for chunk in seeds[10..].chunks(batch) {
                    multi
                        .spread_batch(graph, chunk, &params, &mut batch_results)
                        .expect("valid queries");
                }
                (Some(alone), Some(t.elapsed().as_secs_f64()))
            }
            Some((alone, _)) => (Some(alone), None),
            None => (None, None),
        };
        if worker.index() == 0 {
            latencies.sort_by(f64::total_cmp);
            let n = latencies.len() as f64;
            println!(
                "axonal distributed: {name}, {} nodes, {} edges, {} workers (worker 0 holds {} rows), combining {combining}, batches of {batch}",
                part.node_count(),
                part.edge_count(),
                worker.peers(),
                part.rows().len()
            );
            println!(
                "queries: {} measured after 10 checked against Spreader (identical; batches: every query)",
                latencies.len()
            );
            println!(
                "latency us: p50 {:.1}, p95 {:.1}, p99 {:.1}; {:.0} queries/s; {:.1} M edges/s",
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.95),
                percentile(&latencies, 0.99),
                n / wall,
                edges as f64 / wall / 1e6
            );
            if let Some(alone) = alone {
                println!(
                    "one Spreader on the whole graph, same queries: {:.0} queries/s; the workers: {:.2}x",
                    n / alone,
                    alone / wall
                );
            }
            if let Some(multi) = multi {
                println!(
                    "one MultiSpreader on the whole graph, same batches of {batch}: {:.0} queries/s; the workers: {:.2}x",
                    n / multi,
                    multi / wall
                );
            }
            println!(
                "exchanged: {:.0} bytes a query, {:.3} bytes per traversed edge; per hop (mean over queries): {}",
                bytes as f64 / n,
                bytes as f64 / edges.max(1) as f64,
                per_hop
                    .iter()
                    .enumerate()
                    .map(|(h, b)| format!("hop {} {:.0}", h + 1, *b as f64 / n))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!(
                "{{\"workload\":\"{name}\",\"workers\":{},\"combining\":{combining},\"batch\":{batch},\"p50_us\":{:.1},\"p95_us\":{:.1},\"qps\":{:.1},\"edges_per_s\":{:.0},\"bytes_per_query\":{:.0},\"bytes_per_edge\":{:.4},\"hops\":{:.2}}}",
                worker.peers(),
                percentile(&latencies, 0.5),
                percentile(&latencies, 0.95),
                n / wall,
                edges as f64 / wall,
                bytes as f64 / n,
                bytes as f64 / edges.max(1) as f64,
                hops as f64 / n,
            );
        }
        Ok::<(), String>(())
    })?;
    for result in guards.join() {
        result??;
    }
    Ok(())
}
