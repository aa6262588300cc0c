//! Serving recall queries under a latency budget, on one thread: how many
//! deadlines are missed at 80% of the measured capacity, and how well the
//! latency predictor does on a mixed workload.
//!
//! ```text
//! cargo run --release --example serve
//! cargo run --release --example serve -- --budget-us 2000 --load 0.8 --queries 5000
//! ```
//!
//! Arrivals are simulated (a seeded Poisson process in virtual time), service
//! times are real: each query runs on a `DeadlineSpreader` with what is left
//! of its budget after queueing, and its response time is its wait plus its
//! measured run. A query misses when its response time exceeds the budget;
//! partial (truncated) results on time are not misses.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use axonal::batch::{
    DeadlineSpreader, LatencyPredictor, PredictorConfig, RequestShape, SystemClock,
};
use axonal::graph::{Graph, Ordering, generate};
use axonal::rng::SplitMix64;
use axonal::spread::{Fan, Seed, SpreadParams, Spreader, Threshold};

struct Args {
    budget: Duration,
    load: f64,
    queries: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        budget: Duration::from_micros(2_000),
        load: 0.8,
        queries: 5_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--budget-us" => {
                let us: u64 = value()?.parse().map_err(|e| format!("--budget-us: {e}"))?;
                args.budget = Duration::from_micros(us);
            }
            "--load" => args.load = value()?.parse().map_err(|e| format!("--load: {e}"))?,
            "--queries" => {
                args.queries = value()?.parse().map_err(|e| format!("--queries: {e}"))?
            }
            "-h" | "--help" => {
                return Err("usage: serve [--budget-us N] [--load F] [--queries N]".into());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !(args.load > 0.0 && args.load.is_finite()) || args.queries == 0 {
        return Err("--load must be positive and --queries at least 1".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let t = Instant::now();
    let (graph, _) = generate::standard::rmat20().reorder(Ordering::DegreeDescending);
    println!(
        "graph: rmat20, {} nodes, {} edges (built in {:.1?})",
        graph.node_count(),
        graph.edge_count(),
        t.elapsed()
    );
    let pool = generate::standard::SeedPool::new(&graph);
    let mut rng = SplitMix64::new(99);
    let query = |rng: &mut SplitMix64, seeds: usize| -> Vec<Seed> {
        (0..seeds)
            .map(|_| Seed::new(pool.draw(rng).expect("rmat20 has edges"), 1.0))
            .collect()
    };
    let params = SpreadParams::query_std();

    // Capacity: query_std back to back, no budget.
    let mut spreader = Spreader::new(graph.node_count());
    let mut results = Vec::with_capacity(params.top_k);
    let warm: Vec<Vec<Seed>> = (0..500).map(|_| query(&mut rng, 8)).collect();
    for q in &warm[..50] {
        spreader
            .spread(&graph, q, &params, &mut results)
            .map_err(|e| e.to_string())?;
    }
    let t = Instant::now();
    for q in &warm[50..] {
        spreader
            .spread(&graph, q, &params, &mut results)
            .map_err(|e| e.to_string())?;
    }
    let service = t.elapsed() / (warm.len() - 50) as u32;
    let capacity = 1.0 / service.as_secs_f64();
    println!("capacity: {capacity:.0} query_std queries/s on one thread (mean {service:.1?} each)");

    // Open-loop arrivals at `load` x capacity, in virtual time.
    let rate = args.load * capacity;
    let mut served = DeadlineSpreader::new(spreader, SystemClock::new());
    let (mut arrival, mut free_at) = (0.0f64, 0.0f64);
    let (mut misses, mut truncated, mut hops) = (0usize, 0usize, 0u64);
    let mut response = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        arrival += -(1.0 - rng.next_f64()).ln() / rate;
        let start = arrival.max(free_at);
        let left = args.budget.as_secs_f64() - (start - arrival);
        let q = query(&mut rng, 8);
        let t = Instant::now();
        let stats = served
            .spread(
                &graph,
                &q,
                &params,
                Duration::from_secs_f64(left.max(0.0)),
                &mut results,
            )
            .map_err(|e| e.to_string())?;
        free_at = start + t.elapsed().as_secs_f64();
        let took = free_at - arrival;
        response.push(took);
        misses += usize::from(took > args.budget.as_secs_f64());
        truncated += usize::from(stats.truncated);
        hops += u64::from(stats.hops);
    }
    response.sort_by(f64::total_cmp);
    let pct = |p: f64| response[((response.len() - 1) as f64 * p).round() as usize] * 1e6;
    let n = args.queries as f64;
    println!(
        "offered load {:.0}% ({rate:.0} queries/s), budget {:?}, {} queries:",
        args.load * 100.0,
        args.budget,
        args.queries
    );
    println!(
        "  deadline misses {:.2}%, truncated on time {:.2}%, mean hops {:.2}",
        100.0 * misses as f64 / n,
        100.0 * truncated as f64 / n,
        hops as f64 / n
    );
    println!(
        "  response time (wait + run): P50 {:.0} us, P95 {:.0} us, P99 {:.0} us",
        pct(0.5),
        pct(0.95),
        pct(0.99)
    );

    // Prediction on a mixed workload: seeds 1-32, hops 1-6, thresholds varied.
    let mut predictor =
        LatencyPredictor::new(PredictorConfig::default()).map_err(|e| e.to_string())?;
    let mut spreader = Spreader::new(graph.node_count());
    let (mut within10, mut within20, mut judged) = (0usize, 0usize, 0usize);
    for i in 0..1_100 {
        let count = 1 + rng.below(32) as usize;
        let seeds = query(&mut rng, count);
        let p = SpreadParams {
            max_hops: 1 + rng.below(6) as usize,
            threshold: Threshold::Uniform([0.01, 0.05, 0.1, 0.2][rng.below(4) as usize]),
            fan: Fan::Sqrt,
            ..SpreadParams::default()
        };
        let shape = shape_of(&graph, &seeds, p.max_hops);
        let guess = predictor.predict(&shape);
        let t = Instant::now();
        spreader
            .spread(&graph, &seeds, &p, &mut results)
            .map_err(|e| e.to_string())?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        if i >= 100 {
            judged += 1;
            within10 += usize::from((guess.mean_us - us).abs() <= 0.1 * us);
            within20 += usize::from((guess.mean_us - us).abs() <= 0.2 * us);
        }
        predictor.observe(&shape, us).map_err(|e| e.to_string())?;
    }
    println!(
        "latency prediction, mixed workload ({judged} queries after 100 warm-up, predicted before each ran): {:.1}% within +-10%, {:.1}% within +-20%",
        100.0 * within10 as f64 / judged as f64,
        100.0 * within20 as f64 / judged as f64
    );
    Ok(())
}

/// What is known about a query before it runs.
fn shape_of(graph: &Graph, seeds: &[Seed], hops: usize) -> RequestShape {
    let out = graph.out_edges();
    let seed_edges = seeds.iter().map(|s| u64::from(out.degree(s.node))).sum();
    let two_hop_edges = seeds
        .iter()
        .flat_map(|s| out.neighbors(s.node).0)
        .map(|&v| u64::from(out.degree(v)))
        .sum();
    RequestShape {
        batch: 1,
        seeds: seeds.len() as u32,
        seed_edges,
        two_hop_edges,
        hops: hops as u32,
        vectors: 0,
    }
}
