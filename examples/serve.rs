//! Serving recall queries under a latency budget, on one thread: how many
//! deadlines are missed at 80% of the measured capacity (with the serving
//! metrics), how well the latency predictor does on a mixed workload (and how
//! well any predictor could: how close a query's rerun comes to its first
//! run), and where the adaptive batcher settles for batched `query_wide`
//! queries under a batch latency objective.
//!
//! ```text
//! cargo run --release --example serve
//! cargo run --release --example serve -- --budget-us 2000 --load 0.8 --queries 5000 --objective-ms 400
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
    AdaptiveBatcher, BatcherConfig, BatcherPhase, DeadlineSpreader, LatencyPredictor,
    PredictorConfig, RequestShape, SystemClock,
};
use axonal::graph::generate::SplitMix64;
use axonal::graph::generate::standard::SeedPool;
use axonal::graph::{Graph, Ordering, generate};
use axonal::machine::topology::Topology;
use axonal::metrics::{ErrorHistogram, HardwareCounters, SpreadingPerformanceMetrics};
use axonal::spread::{Fan, MAX_BATCH, MultiSpreader, Seed, SpreadParams, Spreader, Threshold};
use axonal::tuning::Tuning;

struct Args {
    budget: Duration,
    load: f64,
    queries: usize,
    objective: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        budget: Duration::from_micros(2_000),
        load: 0.8,
        queries: 5_000,
        objective: Duration::from_millis(400),
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
            "--objective-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .map_err(|e| format!("--objective-ms: {e}"))?;
                args.objective = Duration::from_millis(ms);
            }
            "-h" | "--help" => {
                return Err(
                    "usage: serve [--budget-us N] [--load F] [--queries N] [--objective-ms N]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if !(args.load > 0.0 && args.load.is_finite()) || args.queries == 0 {
        return Err("--load must be positive and --queries at least 1".into());
    }
    if args.objective.is_zero() {
        return Err("--objective-ms must be at least 1".into());
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
    println!("{}", axonal::simd::Platform::detect());
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
    let mut metrics = SpreadingPerformanceMetrics::new();
    let counters = HardwareCounters::open();
    let before = counters.read();
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
        let missed = took > args.budget.as_secs_f64();
        misses += usize::from(missed);
        truncated += usize::from(stats.truncated);
        hops += u64::from(stats.hops);
        metrics.record_query(Duration::from_secs_f64(took), None);
        metrics.record_deadline(stats.truncated, missed);
    }
    metrics.record_cache(counters.read().since(&before), counters.unavailable());
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
    println!("  serving metrics (response times):");
    for line in metrics.report().to_string().lines() {
        println!("    {line}");
    }
    if let Some(why) = metrics.cache_unavailable {
        println!("    (cache counters: {why})");
    }

    // Prediction on a mixed workload: seeds 1-32, hops 1-6, thresholds
    // varied. A query's service time includes clearing its own state
    // (`Spreader::clear`), so none of it lands on the next query. Each query
    // then runs again at once: how close its rerun comes to its first run
    // bounds what any predictor could do on this machine.
    let mut predictor =
        LatencyPredictor::new(PredictorConfig::default()).map_err(|e| e.to_string())?;
    let mut spreader = Spreader::new(graph.node_count());
    let mut predicted = SpreadingPerformanceMetrics::new();
    let mut rerun = ErrorHistogram::new();
    let mut covered = 0usize;
    let timed = |spreader: &mut Spreader, seeds: &[Seed], p: &SpreadParams, out: &mut Vec<_>| {
        let t = Instant::now();
        let result = spreader.spread(&graph, seeds, p, out).map(|_| ());
        spreader.clear();
        result.map(|()| t.elapsed()).map_err(|e| e.to_string())
    };
    for i in 0..1_100 {
        let count = 1 + rng.below(32) as usize;
        let seeds = query(&mut rng, count);
        let p = SpreadParams {
            max_hops: 1 + rng.below(6) as usize,
            threshold: Threshold::Uniform([0.01, 0.05, 0.1, 0.2][rng.below(4) as usize]),
            fan: Fan::Sqrt,
            ..SpreadParams::default()
        };
        let shape = RequestShape::for_query(&graph, &seeds, &p);
        let guess = predictor.predict(&shape);
        let took = timed(&mut spreader, &seeds, &p, &mut results)?;
        let again = timed(&mut spreader, &seeds, &p, &mut results)?;
        if i >= 100 {
            covered += usize::from(took.as_secs_f64() * 1e6 <= guess.upper_us);
            let guess = Duration::from_secs_f64(guess.median_us * 1e-6);
            predicted.record_query(took, Some(guess));
            rerun.record(again.as_secs_f64(), took.as_secs_f64());
        }
        predictor
            .observe(&shape, took.as_secs_f64() * 1e6)
            .map_err(|e| e.to_string())?;
    }
    let report = predicted.report();
    println!(
        "latency prediction, mixed workload ({} queries after 100 warm-up, predicted before each ran): {:.1}% within +-10%, {:.1}% within +-20%",
        report.predictions,
        100.0 * report.predicted_within_10pct,
        100.0 * report.predicted_within_20pct
    );
    println!(
        "  the predicted P95 bound covered {:.1}% of them",
        100.0 * covered as f64 / report.predictions as f64
    );
    println!(
        "  the same queries rerun at once: {:.1}% within +-10% of their first run, {:.1}% within +-20% (service time P50 {:.0?}, P95 {:.0?})",
        100.0 * rerun.fraction_within(10),
        100.0 * rerun.fraction_within(20),
        report.p50.unwrap_or_default(),
        report.p95.unwrap_or_default()
    );

    adaptive_batching(&graph, &pool, args.objective)
}

/// Batched `query_wide` queries on a `MultiSpreader`, sized by an
/// `AdaptiveBatcher` toward the most queries per second whose batches meet
/// `objective` at the 95th percentile.
fn adaptive_batching(graph: &Graph, pool: &SeedPool, objective: Duration) -> Result<(), String> {
    let topology = Topology::detect();
    let tuning = Tuning::load_or_default();
    println!(
        "adaptive batching, query_wide, batch objective {objective:?} ({}):",
        tuning.1
    );
    // A batch keeps one activation lane per query per reached node: ~4 bytes
    // per node of the graph for a wide query.
    let sizing = tuning
        .0
        .batch_sizing(&topology, 4 * graph.node_count() as u64);
    let initial = sizing.initial(1, MAX_BATCH as u32);
    println!(
        "  start: {initial} (cache {:.1}, cores {:.0}, bandwidth {:.1}: geometric mean)",
        sizing.estimates()[0],
        sizing.estimates()[1],
        sizing.estimates()[2]
    );
    let config = BatcherConfig::default()
        .with_objective(objective)
        .with_window(4);
    let mut batcher = AdaptiveBatcher::new(config, initial).map_err(|e| e.to_string())?;
    let mut multi = MultiSpreader::new(graph.node_count(), MAX_BATCH).map_err(|e| e.to_string())?;
    let mut rng = SplitMix64::new(7);
    let mut results = Vec::new();
    let mut metrics = SpreadingPerformanceMetrics::new();
    let mut path = Vec::new();
    let mut settled_at = None;
    for batch in 1..=80 {
        let size = batcher.size();
        let queries: Vec<Vec<Seed>> = (0..size)
            .map(|_| {
                (0..8)
                    .map(|_| Seed::new(pool.draw(&mut rng).expect("rmat20 has edges"), 1.0))
                    .collect()
            })
            .collect();
        let t = Instant::now();
        multi
            .spread_batch(graph, &queries, &SpreadParams::default(), &mut results)
            .map_err(|e| e.to_string())?;
        let took = t.elapsed();
        metrics.record_batch(size, size);
        if settled_at.is_some() {
            metrics.record_query(took, None);
        }
        if let Some(window) = batcher.record(size, took) {
            path.push(format!(
                "{}: {:.1} q/s, p95 {:.0?}",
                window.size, window.throughput, window.p95
            ));
            if batcher.phase() == BatcherPhase::Settled && settled_at.is_none() {
                settled_at = Some(batch);
            }
        }
        if settled_at.is_some_and(|at| batch >= at + 12) {
            break;
        }
    }
    println!("  windows: {}", path.join("; "));
    match settled_at {
        Some(at) => {
            let report = metrics.report();
            println!(
                "  settled at {} queries per batch after {at} batches; then batch latency P50 {:.0?}, P95 {:.0?} (objective {objective:?})",
                batcher.size(),
                report.p50.unwrap_or_default(),
                report.p95.unwrap_or_default()
            );
        }
        None => println!("  still searching after 80 batches, at {}", batcher.size()),
    }
    Ok(())
}
