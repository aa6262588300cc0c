//! Out-of-core spreading: an R-MAT graph built to an `.axg` file with the
//! bounded-memory builder, then `query_std` queries through the block cache
//! within a memory budget, cold and warm, checked against the in-memory
//! `Spreader` where the graph fits.
//!
//! ```text
//! cargo run --release --example out_of_core                     # R-MAT scale 22, budget 25% of the file
//! cargo run --release --example out_of_core -- --budget 256MiB --queries 2000
//! cargo run --release --example out_of_core -- --scale 26 --budget 4GiB --map   # a billion edges
//! ```
//!
//! - `--scale S` (22): Graph500 R-MAT, edge factor 16, degree-reordered.
//!   The file is built once into the temporary directory (or `--file
//!   PATH`), in a child process, with the bounded builder under the budget
//!   (1 GiB without `--budget`; 64 MiB to 4 GiB), and kept for later runs
//!   (scale 22: 1.1 GB, about a minute here; scale 26, a billion edges:
//!   18.6 GB built in 8.3 minutes under 4 GiB, then about two minutes of
//!   queries with `--map`; the builder's temporary runs also need disk
//!   space while it runs).
//! - `--budget SIZE` (25% of the file's bytes): all the RAM the queries may
//!   use: the offsets, the spreader's workspace and the cache (see
//!   `OutOfCoreGraph::with_budget`).
//! - `--queries N` (1000): `query_std` queries (8 seeds among nodes with
//!   out-degree >= 1, `fan = Sqrt`), run twice: cold (the file's pages
//!   dropped from the page cache first, where the system allows, and the
//!   cache empty) and warm (the same queries again).
//! - `--no-compare`: skip loading the graph in memory to check every
//!   result bit for bit and compare throughput (needs the graph to fit).
//! - `--map`: compare against the file memory-mapped rather than read
//!   (for a file near the machine's memory: its pages are the page
//!   cache's), after one untimed pass that faults them in.
//! - `--block-edges N` (`DEFAULT_BLOCK_EDGES`): edges per cached block.
//! - `--trace FILE`: writes the blocks the first (cold) pass asked the
//!   cache for, in order, as `examples/cache_hit_ratio.rs --trace` reads
//!   them (12-byte records: `AxgBlock::to_u64` and the block's bytes in
//!   the cache, little-endian).
//! - `--prefetch SIZE` (an eighth of the decoded tier): the prefetcher's
//!   bound (`OutOfCoreGraph::with_prefetch`); the cold pass runs twice,
//!   without a prefetcher and with one (each on a fresh cache and a
//!   dropped page cache), and the warm pass runs with it. `--prefetch 0`:
//!   no prefetcher (one cold pass).
//!
//! It prints the build (time, file size, builder's peak), the query
//! latencies P50 / P95 / P99 cold and warm, queries/s, the cold pass's
//! time over the warm one (what a prefetcher could gain at most), the peak resident
//! memory (`VmHWM`) after the out-of-core queries against the bound
//! `budget x 1.1 + 32 MiB`, the cache report, and, comparing, the
//! throughput ratio to `Spreader` and whether every result was identical.
//! The last line is one JSON object with the headline figures.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axonal::cache::{
    BlockBuf, BlockSource, CacheError, DEFAULT_BLOCK_EDGES, OutOfCoreGraph, OutOfCoreSpreader,
};
use axonal::graph::generate::{Rmat, SplitMix64};
use axonal::spread::{Activation, Seed, SpreadParams, Spreader};
use axonal::store::{AxgBuilder, AxgStore, Verify};
use common::{parse_size, peak_rss_mib, percentile};

struct Args {
    scale: u32,
    budget: Option<u64>,
    queries: usize,
    file: Option<PathBuf>,
    compare: bool,
    /// Compare against the file mapped, not read.
    map: bool,
    prefetch: Option<u64>,
    block_edges: usize,
    trace: Option<PathBuf>,
    /// Internal: build the file and exit (the parent measures its own
    /// peak memory, which a build in the same process would inflate).
    build_only: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        scale: 22,
        budget: None,
        queries: 1000,
        file: None,
        compare: true,
        map: false,
        prefetch: None,
        block_edges: DEFAULT_BLOCK_EDGES,
        trace: None,
        build_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} takes a value"));
        match flag.as_str() {
            "--scale" => args.scale = value()?.parse().map_err(|_| "--scale takes an integer")?,
            "--budget" => args.budget = Some(parse_size(&value()?)?),
            "--queries" => {
                args.queries = value()?.parse().map_err(|_| "--queries takes an integer")?
            }
            "--file" => args.file = Some(PathBuf::from(value()?)),
            "--no-compare" => args.compare = false,
            "--map" => args.map = true,
            "--build-only" => args.build_only = true,
            "--trace" => args.trace = Some(PathBuf::from(value()?)),
            "--block-edges" => {
                args.block_edges = value()?
                    .parse()
                    .map_err(|_| "--block-edges takes an integer")?
            }
            "--prefetch" => args.prefetch = Some(parse_size(&value()?)?),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if !(10..=30).contains(&args.scale) {
        return Err("--scale takes 10 to 30".into());
    }
    Ok(args)
}

const USAGE: &str = "usage: out_of_core [--scale S] [--budget SIZE] [--queries N] [--file PATH] [--no-compare] [--map] [--prefetch SIZE] [--block-edges N] [--trace FILE]";

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let path = args.file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("axonal-out-of-core-rmat{}.axg", args.scale))
    });
    if args.build_only {
        let budget = args.budget.unwrap_or(1 << 30).clamp(64 << 20, 4 << 30) as usize;
        return build(&path, args.scale, budget);
    }
    if !path.exists() {
        // In a child process: this one's peak memory is the queries'.
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args().skip(1))
            .arg("--build-only")
            .status()?;
        if !status.success() {
            return Err("building the graph failed".into());
        }
    }
    let file_bytes = std::fs::metadata(&path)?.len();
    let budget = args.budget.unwrap_or(file_bytes / 4) as usize;
    println!(
        "{}: {:.2} GiB; memory budget {:.1} MiB ({:.1}% of the file)",
        path.display(),
        file_bytes as f64 / f64::from(1 << 30),
        budget as f64 / f64::from(1 << 20),
        100.0 * budget as f64 / file_bytes as f64
    );

    let open = |prefetch: bool| -> Result<OutOfCoreGraph, Box<dyn std::error::Error>> {
        drop_page_cache(&path);
        let graph = match OutOfCoreGraph::with_budget(&path, budget, 1, args.block_edges) {
            Err(CacheError::Budget { needed, .. }) => {
                return Err(format!(
                    "a budget of {budget} bytes is too small: the offsets, one workspace and \
                     four blocks need {needed}"
                )
                .into());
            }
            other => other?,
        };
        let bytes = match args.prefetch {
            Some(bytes) => bytes as usize,
            None => graph.cache().config().memory / 8,
        };
        Ok(graph.with_prefetch(if prefetch { bytes } else { 0 })?)
    };
    let mut graph = open(false)?;
    graph.record_trace(args.trace.is_some());
    let n = graph.node_count();
    println!(
        "graph: {n} nodes, {} edges; offsets {:.1} MiB resident; cache {:.1} MiB decoded (less the workspace as it grows: {:.1} MiB at first) + {:.1} MiB compressed",
        graph.edge_count(),
        mib(graph.blocks().memory_bytes()),
        mib(graph.cache().config().memory),
        mib(OutOfCoreSpreader::workspace_bytes(n)),
        mib(graph.cache().config().compressed),
    );
    let queries = query_std_seeds(graph.blocks().out_offsets(), args.queries, 42);
    let params = SpreadParams::query_std();
    let mut spreader = OutOfCoreSpreader::new(n);
    let mut results = Vec::new();

    let (cold, cold_total) = timed(&queries, |seeds| {
        spreader.spread(&graph, seeds, &params, &mut results)?;
        Ok(results.len())
    })?;
    report("cold, no prefetcher", &cold);
    if let Some(file) = &args.trace {
        write_trace(file, &graph)?;
    }
    let prefetching = args.prefetch != Some(0);
    let mut cold_ratio = None;
    if prefetching {
        drop(graph);
        graph = open(true)?;
        let (cold_prefetched, total) = timed(&queries, |seeds| {
            spreader.spread(&graph, seeds, &params, &mut results)?;
            Ok(results.len())
        })?;
        report("cold, prefetcher", &cold_prefetched);
        let ratio = cold_total.as_secs_f64() / total.as_secs_f64();
        let p = graph.stats().prefetch;
        println!(
            "prefetcher on a cold cache: {ratio:.2}x the throughput without; {} blocks prefetched, {} used, {} evicted unread (accuracy {})",
            p.issued,
            p.used,
            p.wasted,
            p.accuracy()
                .map_or("-".into(), |a| format!("{:.1}%", 100.0 * a))
        );
        cold_ratio = Some(ratio);
    }
    let mut ooc_results: Vec<Vec<Activation>> = Vec::with_capacity(queries.len());
    let (warm, warm_total) = timed(&queries, |seeds| {
        spreader.spread(&graph, seeds, &params, &mut results)?;
        ooc_results.push(results.clone());
        Ok(results.len())
    })?;
    let peak = peak_rss_mib();
    let bound = mib(budget) * 1.1 + 32.0;
    report("warm", &warm);
    println!(
        "workspace after the queries: {:.1} MiB",
        mib(spreader.memory_bytes())
    );
    let qps = queries.len() as f64 / warm_total.as_secs_f64();
    println!("warm throughput: {qps:.0} queries/s");
    // The probe of the prefetcher's goal: a prefetcher that hid every read
    // of the cold pass would make it a warm pass at best.
    println!(
        "cold pass (no prefetcher) / warm pass time: {:.2}x (the most a prefetcher can gain here)",
        cold_total.as_secs_f64() / warm_total.as_secs_f64()
    );
    match peak {
        Some(p) => println!(
            "peak resident memory (VmHWM): {p:.1} MiB; bound budget x 1.1 + 32 MiB = {bound:.1} MiB: {}",
            if p <= bound { "within" } else { "OVER" }
        ),
        None => println!("peak resident memory: unknown (no /proc/self/status)"),
    }
    println!("{}", graph.stats());

    let mut ratio = None;
    if args.compare || args.map {
        let store = if args.map {
            // SAFETY: this example wrote the file and nothing changes it
            // while it runs.
            unsafe { AxgStore::map(&path, Verify::Structure)? }
        } else {
            AxgStore::read(&path, Verify::Structure)?
        };
        let file = store.file()?;
        let in_memory = file.graph().ok_or("the file has no graph")?;
        let mut reference = Spreader::new(n);
        let mut want = Vec::new();
        let mut identical = 0;
        let mut run = || {
            timed(&queries, |seeds| {
                reference.spread(in_memory, seeds, &params, &mut want)?;
                Ok(want.len())
            })
        };
        if args.map {
            run()?;
        }
        let (latencies, total) = run()?;
        report("in memory (Spreader)", &latencies);
        for (seeds, got) in queries.iter().zip(&ooc_results) {
            reference.spread(in_memory, seeds, &params, &mut want)?;
            identical += usize::from(same_bits(got, &want));
        }
        let mem_qps = queries.len() as f64 / total.as_secs_f64();
        ratio = Some(qps / mem_qps);
        println!(
            "in memory (Spreader): {mem_qps:.0} queries/s; out of core / in memory = {:.2}x; results bit-identical: {identical} of {}",
            qps / mem_qps,
            queries.len()
        );
    }
    let (cp, wp) = (micros(&cold), micros(&warm));
    println!(
        "{{\"scale\":{},\"file_bytes\":{file_bytes},\"budget\":{budget},\"queries\":{},\"cold_p50_us\":{:.1},\"cold_p95_us\":{:.1},\"cold_p99_us\":{:.1},\"warm_p50_us\":{:.1},\"warm_p95_us\":{:.1},\"warm_p99_us\":{:.1},\"qps\":{qps:.1},\"vm_hwm_mib\":{},\"ratio_to_memory\":{},\"prefetch_cold_ratio\":{}}}",
        args.scale,
        queries.len(),
        percentile(&cp, 0.5),
        percentile(&cp, 0.95),
        percentile(&cp, 0.99),
        percentile(&wp, 0.5),
        percentile(&wp, 0.95),
        percentile(&wp, 0.99),
        peak.map_or("null".into(), |p| format!("{p:.1}")),
        ratio.map_or("null".into(), |r| format!("{r:.3}")),
        cold_ratio.map_or("null".into(), |r| format!("{r:.3}")),
    );
    Ok(())
}

/// Writes the blocks `graph` recorded (see `--trace`).
fn write_trace(file: &Path, graph: &OutOfCoreGraph) -> Result<(), Box<dyn std::error::Error>> {
    let trace = graph.take_trace();
    let mut bytes = Vec::with_capacity(trace.len() * 12);
    for block in &trace {
        let len = graph.blocks().len(*block).unwrap_or(0);
        bytes.extend_from_slice(&block.to_u64().to_le_bytes());
        bytes.extend_from_slice(&(BlockBuf::storage_for(len) as u32).to_le_bytes());
    }
    std::fs::write(file, bytes)?;
    println!(
        "trace: {} block requests written to {}",
        trace.len(),
        file.display()
    );
    Ok(())
}

/// Builds the R-MAT file at `path` with the bounded builder.
fn build(path: &Path, scale: u32, budget: usize) -> Result<(), Box<dyn std::error::Error>> {
    let rmat = Rmat::graph500(scale);
    println!(
        "building R-MAT scale {scale} ({} nodes, {} edges generated) with the bounded builder ({} MiB)...",
        1u64 << scale,
        (1u64 << scale) * u64::from(rmat.edge_factor),
        budget >> 20
    );
    let started = Instant::now();
    let temp = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut builder = AxgBuilder::new(budget)
        .node_count(1 << scale)
        .reorder_by_degree(true)
        .temp_dir(temp);
    for e in rmat.edges() {
        builder.add_edge(u64::from(e.src), u64::from(e.dst), e.weight)?;
    }
    let summary = builder.finish(path, &mut ())?;
    println!(
        "built: {} nodes, {} edges, {:.2} GiB in {:.1} s; builder's peak resident memory {}",
        summary.nodes,
        summary.edges,
        std::fs::metadata(path)?.len() as f64 / f64::from(1 << 30),
        started.elapsed().as_secs_f64(),
        peak_rss_mib().map_or("unknown".into(), |p| format!("{p:.1} MiB")),
    );
    Ok(())
}

/// `count` `query_std` seed sets: 8 nodes drawn uniformly among those with
/// out-degree >= 1 (by rejection), activation 1.
fn query_std_seeds(offsets: &[u64], count: usize, seed: u64) -> Vec<Vec<Seed>> {
    let n = offsets.len() as u64 - 1;
    let mut rng = SplitMix64::new(seed);
    let mut draw = || loop {
        let v = rng.below(n) as usize;
        if offsets[v + 1] > offsets[v] {
            return Seed::new(v as u32, 1.0);
        }
    };
    (0..count)
        .map(|_| (0..8).map(|_| draw()).collect())
        .collect()
}

/// Runs `query` on every seed set, timing each; returns the latencies and
/// the total.
fn timed(
    queries: &[Vec<Seed>],
    mut query: impl FnMut(&[Seed]) -> Result<usize, Box<dyn std::error::Error>>,
) -> Result<(Vec<Duration>, Duration), Box<dyn std::error::Error>> {
    let mut latencies = Vec::with_capacity(queries.len());
    let all = Instant::now();
    for seeds in queries {
        let started = Instant::now();
        std::hint::black_box(query(seeds)?);
        latencies.push(started.elapsed());
    }
    Ok((latencies, all.elapsed()))
}

fn micros(latencies: &[Duration]) -> Vec<f64> {
    let mut v: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn report(what: &str, latencies: &[Duration]) {
    let us = micros(latencies);
    println!(
        "{what}: P50 {:.0} us, P95 {:.0} us, P99 {:.0} us over {} queries",
        percentile(&us, 0.5),
        percentile(&us, 0.95),
        percentile(&us, 0.99),
        us.len()
    );
}

fn same_bits(a: &[Activation], b: &[Activation]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.node == y.node
                && x.activation.to_bits() == y.activation.to_bits()
                && x.hop == y.hop
                && x.confidence.to_bits() == y.confidence.to_bits()
        })
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Asks the kernel to drop the file's pages from the page cache, so that
/// the first queries read from the disk (Linux; elsewhere a no-op).
fn drop_page_cache(path: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = std::fs::File::open(path) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: `posix_fadvise` only reads its arguments; the descriptor
        // is open for the duration of the call.
        let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}
