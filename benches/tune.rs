//! `cargo bench --bench tune`: measures this machine and writes the tuning
//! profile that `axonal::tuning::Tuning::load_or_default` reads (the path is
//! `$AXONAL_TUNING`, else `$XDG_CONFIG_HOME/axonal/tuning.json`, else
//! `$HOME/.config/axonal/tuning.json`; `-- --dry-run` prints without
//! writing). About a minute: it measures
//!
//! - the memory read bandwidth of one core (a 256 MiB streaming sum);
//! - the cache sizes in effect (dependent loads over working sets of 16 KiB
//!   to 128 MiB: where they stop costing L2 time, and memory time);
//! - the fastest SIMD backend (cosine top-16 over 2,000 x 384 in cache,
//!   among the backends within 10% of the fastest over 100,000 x 384 from
//!   memory);
//! - the push/pull switch point (`query_wide` on `rmat20` under six
//!   `pull_fraction`s);
//! - the batch size with the most queries per second (32 `query_wide`
//!   queries on `rmat20` in batches of 1 to 32), and what one query reads
//!   per second alone.
//!
//! Under `cargo test --benches` (no `--bench` argument) it does nothing, and
//! a `cargo bench` filter that does not match `tune` skips it.

mod common;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axonal::graph::generate::SplitMix64;
use axonal::layout::EmbeddingMatrix;
use axonal::simd::{Backend, Kernels, Platform, TopK};
use axonal::spread::{MultiSpreader, Seed, SpreadParams, Spreader, SpreaderConfig};
use axonal::tuning::{MachineId, Tuning};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let dry_run = args.iter().any(|a| a == "--dry-run");
    if let Some(filter) = args.iter().find(|a| !a.starts_with("--"))
        && !"tune".contains(filter.as_str())
    {
        return ExitCode::SUCCESS;
    }

    println!("{}", Platform::detect());
    let here = MachineId::detect();
    println!("tune: {here}");
    let bandwidth = stream_bandwidth();
    println!(
        "  memory read bandwidth, one core: {:.1} GB/s",
        bandwidth / 1e9
    );
    let (l2, llc) = caches_in_effect();
    println!(
        "  caches in effect: L2 {} KiB, last level {} KiB",
        l2 >> 10,
        llc >> 10
    );
    let simd = fastest_backend();
    let w = common::rmat20();
    let queries: Vec<Vec<Seed>> = common::rmat_queries(&w.original, 32, 11)
        .iter()
        .map(|q| w.to_reordered(q))
        .collect();
    let pull_fraction = switch_point(&w.reordered, &queries[..8]);
    let (batch_size, query_bandwidth) = best_batch(&w.reordered, &queries);
    // Every field measured: a field added to `Tuning` later starts as
    // "not measured" until this bench learns to measure it.
    let mut tuning = Tuning::default();
    tuning.simd = Some(simd);
    tuning.pull_fraction = Some(pull_fraction);
    tuning.batch_size = Some(batch_size);
    tuning.bandwidth = Some(bandwidth);
    tuning.query_bandwidth = Some(query_bandwidth);
    tuning.l2_effective_bytes = Some(l2);
    tuning.llc_effective_bytes = Some(llc);
    if dry_run {
        print!("{}", tuning.to_json(&here));
        return ExitCode::SUCCESS;
    }
    let Some(path) = Tuning::path() else {
        eprintln!("tune: no profile path: set AXONAL_TUNING (or HOME)");
        return ExitCode::FAILURE;
    };
    match tuning.save(&path, &here) {
        Ok(()) => {
            println!("tune: wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tune: could not write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// The fastest of `rounds` runs of `f`.
fn best_of(rounds: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one round")
}

/// Bytes per second of a streaming sum over 256 MiB.
fn stream_bandwidth() -> f64 {
    let words: Vec<u64> = (0..(256u64 << 20) / 8).collect();
    let took = best_of(5, || {
        let mut sums = [0u64; 4];
        for chunk in words.chunks_exact(4) {
            for (s, &w) in sums.iter_mut().zip(chunk) {
                *s = s.wrapping_add(w);
            }
        }
        black_box(sums);
    });
    (words.len() * 8) as f64 / took.as_secs_f64()
}

/// Working-set sizes at which dependent loads stop costing L2 time (at most
/// 1.5x the time at 64 KiB) and stop being well faster than memory (at most
/// a third of the time at 128 MiB).
fn caches_in_effect() -> (u64, u64) {
    let sizes: Vec<u64> = (14..=27).map(|shift| 1u64 << shift).collect();
    let times: Vec<f64> = sizes.iter().map(|&bytes| chase_ns(bytes)).collect();
    for (bytes, ns) in sizes.iter().zip(&times) {
        println!(
            "    dependent load, {:>7} KiB working set: {ns:5.1} ns",
            bytes >> 10
        );
    }
    let at = |bytes: u64| times[sizes.iter().position(|&b| b == bytes).expect("measured")];
    let largest = |limit: f64| {
        sizes
            .iter()
            .zip(&times)
            .filter(|&(_, &ns)| ns <= limit)
            .map(|(&b, _)| b)
            .max()
            .unwrap_or(sizes[0])
    };
    let memory = times[times.len() - 1];
    (largest(1.5 * at(64 << 10)), largest(memory / 3.0))
}

/// Nanoseconds per load of a random cyclic pointer chase, one load per
/// 64-byte line, over `bytes`.
fn chase_ns(bytes: u64) -> f64 {
    const STRIDE: usize = 16; // u32s per line
    let lines = (bytes / 64) as usize;
    // Sattolo's algorithm: one cycle through every line.
    let mut order: Vec<u32> = (0..lines as u32).collect();
    let mut rng = SplitMix64::new(bytes);
    for i in (1..lines).rev() {
        let j = rng.below(i as u64) as usize;
        order.swap(i, j);
    }
    let mut next = vec![0u32; lines * STRIDE];
    for i in 0..lines {
        next[order[i] as usize * STRIDE] = order[(i + 1) % lines];
    }
    let steps = 1usize << 20;
    let took = best_of(2, || {
        let mut at = 0u32;
        for _ in 0..steps {
            at = next[at as usize * STRIDE];
        }
        black_box(at);
    });
    took.as_secs_f64() * 1e9 / steps as f64
}

/// The fastest SIMD backend, by the cosine top-16 scan: the fastest on rows
/// in cache (2,000 x 384, where the backends' arithmetic differs) among the
/// backends within 10% of the fastest on rows from memory (100,000 x 384,
/// where every backend waits on DRAM: choosing on that scan alone picked
/// AVX2 over AVX-512 on a Zen 5 by 4.02 vs 4.30 ms, a backend 1.9x slower
/// at cosine and 1.5x at the batch scan).
fn fastest_backend() -> Backend {
    let dim = 384;
    let mut rng = SplitMix64::new(3);
    let mut matrix = |rows: usize| {
        let flat: Vec<f32> = (0..dim * rows).map(|_| rng.next_f32() - 0.5).collect();
        EmbeddingMatrix::from_rows(dim, &flat).expect("valid matrix")
    };
    let (memory, cached) = (matrix(100_000), matrix(2_000));
    let query = memory.row(0).expect("a row").to_vec();
    let scan = |kernels: Kernels, matrix: &EmbeddingMatrix, times: usize| {
        let mut top = TopK::new(16);
        best_of(5, || {
            for _ in 0..times {
                top.clear();
                kernels
                    .top_k_cosine(&query, matrix, &mut top)
                    .expect("matching dimensions");
            }
        })
    };
    let timed: Vec<(Backend, Duration, Duration)> = Backend::ALL
        .into_iter()
        .filter_map(|backend| {
            let kernels = Kernels::for_backend(backend)?;
            let (from_memory, in_cache) = (scan(kernels, &memory, 1), scan(kernels, &cached, 50));
            println!(
                "  simd {:>6}: scan from memory {from_memory:.2?}, in cache (50 x 2,000 rows) {in_cache:.2?}",
                backend.name()
            );
            Some((backend, from_memory, in_cache))
        })
        .collect();
    let fastest_from_memory = timed
        .iter()
        .map(|t| t.1)
        .min()
        .expect("scalar is always there");
    let best = timed
        .iter()
        .filter(|t| t.1.as_secs_f64() <= 1.1 * fastest_from_memory.as_secs_f64())
        .min_by_key(|t| t.2)
        .expect("the fastest from memory qualifies");
    println!("  fastest simd backend: {}", best.0.name());
    best.0
}

/// The `pull_fraction` under which `queries` (`query_wide`) run fastest.
fn switch_point(graph: &axonal::graph::Graph, queries: &[Vec<Seed>]) -> f32 {
    let params = SpreadParams::default();
    let fractions = [0.02f32, 0.05, 0.1, 0.2, 0.3, 0.5];
    let mut spreaders: Vec<Spreader> = fractions
        .iter()
        .map(|&pull_fraction| {
            let config =
                SpreaderConfig::for_nodes(graph.node_count()).with_pull_fraction(pull_fraction);
            Spreader::with_config(graph.node_count(), config)
        })
        .collect();
    let mut results = Vec::new();
    let mut best = vec![Duration::MAX; fractions.len()];
    // Rounds interleave the fractions, so drift on a noisy machine hits all.
    for _ in 0..3 {
        for (spreader, best) in spreaders.iter_mut().zip(&mut best) {
            let t = Instant::now();
            for q in queries {
                black_box(
                    spreader
                        .spread(graph, q, &params, &mut results)
                        .expect("valid query"),
                );
            }
            *best = (*best).min(t.elapsed());
        }
    }
    let (i, _) = best
        .iter()
        .enumerate()
        .min_by_key(|&(_, t)| *t)
        .expect("fractions");
    for (f, t) in fractions.iter().zip(&best) {
        println!(
            "  pull_fraction {f:4}: {} query_wide in {t:.1?}",
            queries.len()
        );
    }
    println!("  push/pull switch point: {}", fractions[i]);
    fractions[i]
}

/// The batch size with the most queries per second, and bytes per second
/// one query reads alone.
fn best_batch(graph: &axonal::graph::Graph, queries: &[Vec<Seed>]) -> (u32, f64) {
    let params = SpreadParams::default();
    let mut single = Spreader::new(graph.node_count());
    let (mut many, mut one) = (Vec::new(), Vec::new());
    let mut edges_read = 0u64;
    let alone = best_of(1, || {
        for q in queries {
            let stats = single
                .spread(graph, q, &params, &mut one)
                .expect("valid query");
            edges_read += stats.edges_scanned;
        }
    });
    // An edge read is a 4-byte id and a 4-byte weight.
    let query_bandwidth = (edges_read * 8) as f64 / alone.as_secs_f64();
    let per_second = |took: Duration| queries.len() as f64 / took.as_secs_f64();
    println!("  batch  1: {:6.1} queries/s", per_second(alone));
    let mut best = (1u32, per_second(alone));
    for size in [2usize, 4, 8, 16, 32] {
        // Sized for this batch: lanes are rounded up to 8, not to 32.
        let mut multi = MultiSpreader::new(graph.node_count(), size).expect("at most 32");
        let took = best_of(1, || {
            for chunk in queries.chunks(size) {
                black_box(
                    multi
                        .spread_batch(graph, chunk, &params, &mut many)
                        .expect("valid batch"),
                );
            }
        });
        println!("  batch {size:2}: {:6.1} queries/s", per_second(took));
        if per_second(took) > best.1 {
            best = (size as u32, per_second(took));
        }
    }
    println!(
        "  best batch size: {}; one query reads {:.2} GB/s alone",
        best.0,
        query_bandwidth / 1e9
    );
    (best.0, query_bandwidth)
}
