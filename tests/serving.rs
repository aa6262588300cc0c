//! The serving pieces composed through the public API, on a simulated clock:
//! an `AdaptiveBatcher` sizing batches of real `MultiSpreader` work whose
//! latency is a deterministic function of what the batch did, a
//! `LatencyPredictor` learning it, and `SpreadingPerformanceMetrics`
//! recording it all.

mod common;

use core::time::Duration;

use axonal::batch::{
    AdaptiveBatcher, BatcherConfig, BatcherPhase, Clock, LatencyPredictor, ManualClock,
    PredictorConfig, RequestShape,
};
use axonal::graph::generate;
use axonal::metrics::SpreadingPerformanceMetrics;
use axonal::spread::{MultiSpreader, SpreadParams};

/// A simulated machine: a batch costs 200 us, plus 5 ns per edge it reads,
/// plus 40 us per query (ranking, results).
fn batch_cost(edges_scanned: u64, queries: u32) -> Duration {
    Duration::from_nanos(200_000 + 5 * edges_scanned + 40_000 * u64::from(queries))
}

#[test]
fn a_batcher_sized_multi_query_loop_settles_and_its_metrics_add_up() {
    let graph = generate::barabasi_albert(if cfg!(miri) { 200 } else { 5_000 }, 4, 3);
    let params = SpreadParams {
        max_hops: 3,
        ..SpreadParams::query_std()
    };
    let config = BatcherConfig::default()
        .with_objective(Duration::from_millis(2))
        .with_window(4);
    let mut batcher = AdaptiveBatcher::new(config, 2).unwrap();
    let mut multi = MultiSpreader::new(graph.node_count(), 32).unwrap();
    let mut predictor = LatencyPredictor::new(PredictorConfig::default()).unwrap();
    let mut metrics = SpreadingPerformanceMetrics::new();
    let clock = ManualClock::new();
    let mut results = Vec::new();
    let (mut sizes, mut next_seed) = (Vec::new(), 0u64);
    let batches = if cfg!(miri) { 40 } else { 300 };
    for _ in 0..batches {
        let size = batcher.size();
        let queries: Vec<_> = (0..size)
            .map(|_| {
                next_seed += 1;
                common::random_seeds(next_seed, graph.node_count() as u32, 4)
            })
            .collect();
        let shape = RequestShape::default()
            .with_batch(size)
            .with_seeds(4 * size)
            .with_hops(params.max_hops as u32);
        let predicted = predictor.predict(&shape);
        let start = clock.now();
        let stats = multi
            .spread_batch(&graph, &queries, &params, &mut results)
            .unwrap();
        assert_eq!(results.len(), size as usize);
        clock.advance(batch_cost(stats.edges_scanned, size));
        let took = clock.now() - start;
        predictor.observe(&shape, took.as_secs_f64() * 1e6).unwrap();
        metrics.record_batch(size, size);
        metrics.record_query(
            took,
            Some(Duration::from_secs_f64(predicted.median_us * 1e-6)),
        );
        batcher.record(size, took);
        sizes.push(size);
    }
    let report = metrics.report();
    assert_eq!(report.queries, batches as u64);
    assert_eq!(report.batch_utilisation, Some(1.0));
    let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / sizes.len() as f64;
    assert!((report.mean_batch.unwrap() - mean).abs() < 1e-9);
    if cfg!(miri) {
        return;
    }
    // Settled, inside the objective, and still since.
    assert_eq!(batcher.phase(), BatcherPhase::Settled);
    let last = batcher.last_window().unwrap();
    assert!(last.p95 <= config.objective, "{last:?}");
    let settled = batcher.size();
    let tail = &sizes[sizes.len() - 100..];
    assert!(tail.iter().all(|&s| s == settled), "{tail:?}");
    // Fixed costs shared by the batch: more than one query per batch pays.
    assert!(settled > 1, "{sizes:?}");
    // Batches of one size cost about the same: the predictor learns them.
    assert!(report.predicted_within_20pct > 0.5, "{report:?}");
}
