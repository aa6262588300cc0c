//! The main job: recall queries end to end (seed by exact top-k similarity,
//! then spread), with a latency report.
//!
//! ```text
//! cargo run --release --example recall                        # the `recall` workload
//! cargo run --release --example recall -- --workload rmat20_query_std
//! cargo run --release --example recall -- --workload rmat20_query_wide --queries 100
//! cargo run --release --example recall -- --graph my.mtx      # your graph
//! cargo run --release --example recall -- --graph my.axg      # your graph, memory-mapped
//! cargo run --release --example recall -- --save rmat17.axg   # write what runs as .axg
//! cargo run --release --example recall -- --order none        # skip locality reordering
//! cargo run --release --example recall -- --workload rmat20_query_wide --threads 2
//! cargo run --release --example recall -- --graph rmat17.axg --memory-budget 256MiB
//! cargo run --release --features vulkan --example recall -- --gpu
//! ```
//!
//! `--seeding i8|f16|f32` chooses the seeding scan (default `i8`): the
//! exact quantized scan over an i8 (or f16) copy of the embeddings
//! (`QuantizedMatrix`, built once), which returns the `f32` scan's hits and
//! score bits while reading a quarter (half) of its bytes, or the `f32`
//! scan itself. The warm-up queries are checked against the `f32` scan
//! bit for bit; the `seeding:` line says what ran.
//!
//! `--threads N` spreads each query on `N` pinned workers (a
//! `ParallelSpreader`, bit-identical results); the default is one thread.
//!
//! The machine's tuning profile (`cargo bench --bench tune` writes it; see
//! `axonal::tuning`), when there is one, chooses the SIMD backend of the
//! similarity scans and the push/pull switch point of spreading; the
//! `tuning:` line says which profile ran (or why none), and the `graph:`
//! line names the backend.
//!
//! Queries are drawn in the graph's own ids; the graph is renumbered for
//! locality first (`--order degree` by default) and seeds are mapped through
//! the permutation, so every order runs the very same queries.
//!
//! `--graph FILE` runs on your graph: an edge list or Matrix Market file
//! (read and renumbered as above), or an `.axg` file (recognised by its
//! magic bytes), memory-mapped with its structure verified and run in its
//! stored order, zero-copy; its embeddings, if it has them, seed the
//! queries (else random ones do, as for every other graph). The file must
//! not change while the example runs (the map's contract). `--save FILE`
//! writes the graph that runs, in its running order, with its embeddings
//! (rows in that order) and the original ids, as `.axg`: `--graph FILE`
//! then runs on the same graph and embeddings.
//!
//! `--memory-budget SIZE` (with `--graph FILE.axg`) runs the job out of
//! core: the file is read through a block cache (`axonal::cache`), never
//! mapped, and the offsets, the spreader's workspace and the cache
//! together stay within `SIZE` bytes (`256MiB`, `1GiB`, ...). Seeding scans
//! the stored embeddings block by block through the same cache; spreading
//! runs on an `OutOfCoreSpreader` (results bit-identical to the in-memory
//! run). It prints the cache's report and the peak resident memory.
//!
//! `--gpu` (built with the `vulkan` feature) runs seeding and spreading on
//! the best Vulkan device (`axonal::gpu`): the graph and embeddings are
//! uploaded once, each query's seeds are the device's top-k, its spreading
//! a `GpuSpreader`; the warm-up queries are checked bit for bit against
//! `Spreader` on the CPU first.
//!
//! The last line printed is one JSON object with the headline figures.

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use axonal::cache::{DEFAULT_BLOCK_EDGES, OutOfCoreGraph, OutOfCoreSpreader};
use axonal::graph::generate::SplitMix64;
use axonal::graph::{CsrView, Graph, GraphBuilder, GraphView, Ordering, Permutation, generate, io};
use axonal::layout::{EmbeddingMatrix, EmbeddingView, Quantization, QuantizedMatrix};
use axonal::machine::workers::Workers;
use axonal::simd::{Hit, Kernels, TopK};
use axonal::spread::{
    Activation, ParallelSpreader, Seed, Spread, SpreadParams, SpreadStats, Spreader,
};
use axonal::store::{self, AxgStore, Contents, Verify};
use axonal::tuning::Tuning;
use common::{parse_size, peak_rss, percentile};

const DIM: usize = 384;
const SEEDS_PER_QUERY: usize = 16;
const QUERY_NOISE: f64 = 0.03;

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Recall,
    QueryStd,
    QueryWide,
}

struct Args {
    workload: Workload,
    queries: usize,
    graph: Option<String>,
    save: Option<String>,
    order: Option<Ordering>,
    threads: usize,
    memory_budget: Option<u64>,
    gpu: bool,
    /// The seeding scan's form (`None`: the `f32` scan).
    seeding: Option<Quantization>,
}

/// Where the job runs: the CPU (the SIMD scans, and one spreader behind
/// the one spreading interface: on the calling thread or on pinned
/// workers), or a GPU.
enum Backend {
    Cpu {
        spreader: Box<dyn Spread>,
        kernels: Kernels,
        top: TopK,
        threads: usize,
        /// The embeddings in quantized form: seeding runs the exact
        /// quantized scan over them.
        quantized: Option<QuantizedMatrix>,
        /// Rows the exact quantized scans rescored, over all queries.
        rescored: usize,
        /// Queries whose seeds were checked against the `f32` scan.
        checked: usize,
    },
    #[cfg(feature = "vulkan")]
    Gpu(Box<gpu::Job>),
}

impl Backend {
    fn new(
        args: &Args,
        graph: GraphView<'_>,
        matrix: Option<EmbeddingView<'_>>,
        tuning: &Tuning,
    ) -> Result<Backend, String> {
        if args.gpu {
            #[cfg(feature = "vulkan")]
            return Ok(Backend::Gpu(Box::new(gpu::Job::new(graph, matrix)?)));
        }
        let threads = args.threads;
        let quantized = match (args.seeding, matrix) {
            (Some(form), Some(m)) => {
                let t = Instant::now();
                let q = QuantizedMatrix::new(m, form).map_err(|e| e.to_string())?;
                println!(
                    "seeding: exact {form} scan over a {} x {} QuantizedMatrix ({:.1} MiB, built in {:.2?}), rescoring in f32 the rows that can reach the top {SEEDS_PER_QUERY}",
                    q.rows(),
                    q.dim(),
                    q.memory_bytes() as f64 / (1 << 20) as f64,
                    t.elapsed()
                );
                Some(q)
            }
            (None, Some(_)) => {
                println!("seeding: f32 scan (--seeding f32)");
                None
            }
            (_, None) => None,
        };
        let config = tuning.spreader_config(graph.node_count());
        let spreader: Box<dyn Spread> = if threads == 1 {
            Box::new(Spreader::with_config(graph.node_count(), config))
        } else {
            let workers = Workers::new(threads).map_err(|e| e.to_string())?;
            Box::new(ParallelSpreader::with_config(graph, &workers, config))
        };
        Ok(Backend::Cpu {
            spreader,
            kernels: tuning.kernels(),
            top: TopK::new(SEEDS_PER_QUERY),
            threads,
            quantized,
            rescored: 0,
            checked: 0,
        })
    }

    /// The best `SEEDS_PER_QUERY` rows of `matrix` for `query`.
    fn seed(
        &mut self,
        query: &[f32],
        matrix: EmbeddingView<'_>,
        hits: &mut Vec<Hit>,
    ) -> Result<(), String> {
        match self {
            Backend::Cpu {
                kernels,
                top,
                quantized,
                rescored,
                ..
            } => {
                match quantized {
                    Some(q) => {
                        let scan = kernels
                            .top_k_cosine_exact(query, q, matrix, top)
                            .map_err(|e| e.to_string())?;
                        *rescored += scan.rescored;
                    }
                    None => kernels
                        .top_k_cosine(query, matrix, top)
                        .map_err(|e| e.to_string())?,
                }
                top.drain_sorted(hits);
                Ok(())
            }
            #[cfg(feature = "vulkan")]
            Backend::Gpu(job) => job.seed(query, hits),
        }
    }

    fn spread(
        &mut self,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, String> {
        match self {
            Backend::Cpu { spreader, .. } => spreader
                .spread(graph, seeds, params, results)
                .map_err(|e| e.to_string()),
            #[cfg(feature = "vulkan")]
            Backend::Gpu(job) => job.spread(seeds, params, results),
        }
    }

    /// Checks a query's seeds against the `f32` scan where they came from
    /// the quantized one (its contract: the same hits, the same bits).
    fn check_seeds(
        &mut self,
        query: &[f32],
        matrix: EmbeddingView<'_>,
        hits: &[Hit],
    ) -> Result<(), String> {
        if let Backend::Cpu {
            kernels,
            quantized: Some(_),
            checked,
            ..
        } = self
        {
            let (mut top, mut expected) = (TopK::new(SEEDS_PER_QUERY), Vec::new());
            kernels
                .top_k_cosine(query, matrix, &mut top)
                .map_err(|e| e.to_string())?;
            top.drain_sorted(&mut expected);
            let bits = |h: &[Hit]| {
                h.iter()
                    .map(|h| (h.id, h.score.to_bits()))
                    .collect::<Vec<_>>()
            };
            if bits(hits) != bits(&expected) {
                return Err(format!(
                    "the exact quantized scan's seeds differ from the f32 scan's: {hits:?} vs {expected:?}"
                ));
            }
            *checked += 1;
        }
        Ok(())
    }

    /// What seeding did, in words, for the report.
    fn describe_seeding(&self, queries: usize) -> Option<String> {
        match self {
            Backend::Cpu {
                quantized: Some(q),
                rescored,
                checked,
                ..
            } => Some(format!(
                "seeding: {} exact, {:.1} rows rescored in f32 per query (of {}); the seeds of {checked} warm-up queries checked: identical to the f32 scan's",
                q.quantization(),
                *rescored as f64 / queries as f64,
                q.rows()
            )),
            _ => None,
        }
    }

    /// Bytes of the quantized embeddings, if seeding uses them.
    fn quantized_bytes(&self) -> usize {
        match self {
            Backend::Cpu {
                quantized: Some(q), ..
            } => q.memory_bytes(),
            _ => 0,
        }
    }

    /// Checks a query's results against `Spreader` where the backend is
    /// not a CPU one (its contract: the same bits).
    fn check(
        &mut self,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &[Activation],
    ) -> Result<(), String> {
        match self {
            Backend::Cpu { .. } => {
                let _ = (graph, seeds, params, results);
                Ok(())
            }
            #[cfg(feature = "vulkan")]
            Backend::Gpu(job) => job.check(graph, seeds, params, results),
        }
    }

    /// Bytes of spreading workspace (device memory on a GPU).
    fn memory_bytes(&self) -> usize {
        match self {
            Backend::Cpu { spreader, .. } => spreader.memory_bytes(),
            #[cfg(feature = "vulkan")]
            Backend::Gpu(job) => job.spreader.memory_bytes() as usize,
        }
    }

    /// How each query runs, in words.
    fn describe(&self) -> String {
        match self {
            Backend::Cpu { threads: 1, .. } => "single thread".into(),
            Backend::Cpu { threads, .. } => format!("each spread on {threads} pinned workers"),
            #[cfg(feature = "vulkan")]
            Backend::Gpu(job) => job.describe(),
        }
    }
}

/// The job on a GPU.
#[cfg(feature = "vulkan")]
mod gpu {
    use axonal::gpu::{Gpu, GpuEmbeddings, GpuGraph, GpuSpreader};
    use axonal::graph::GraphView;
    use axonal::layout::EmbeddingView;
    use axonal::simd::Hit;
    use axonal::spread::{Activation, Seed, SpreadParams, SpreadStats, Spreader};

    use super::SEEDS_PER_QUERY;

    pub(super) struct Job {
        gpu: Gpu,
        graph: GpuGraph,
        matrix: Option<GpuEmbeddings>,
        pub(super) spreader: GpuSpreader,
        batch: Vec<Vec<Hit>>,
        reference: Spreader,
        expected: Vec<Activation>,
        checked: usize,
    }

    impl Job {
        pub(super) fn new(
            graph: GraphView<'_>,
            matrix: Option<EmbeddingView<'_>>,
        ) -> Result<Job, String> {
            let t = std::time::Instant::now();
            let gpu = Gpu::new().map_err(|e| e.to_string())?;
            let on_device = GpuGraph::upload(&gpu, graph).map_err(|e| e.to_string())?;
            let matrix = matrix
                .map(|m| GpuEmbeddings::upload(&gpu, m))
                .transpose()
                .map_err(|e| e.to_string())?;
            let spreader = GpuSpreader::new(&gpu, graph.node_count()).map_err(|e| e.to_string())?;
            println!(
                "gpu: {} ({:?}), graph{} uploaded in {:.2?}, {:.1} MiB of device memory",
                gpu.info().name,
                gpu.info().kind,
                if matrix.is_some() {
                    " and embeddings"
                } else {
                    ""
                },
                t.elapsed(),
                gpu.memory_bytes() as f64 / (1 << 20) as f64
            );
            Ok(Job {
                graph: on_device,
                matrix,
                spreader,
                batch: Vec::new(),
                reference: Spreader::new(graph.node_count()),
                expected: Vec::new(),
                checked: 0,
                gpu,
            })
        }

        pub(super) fn seed(&mut self, query: &[f32], hits: &mut Vec<Hit>) -> Result<(), String> {
            let matrix = self.matrix.as_mut().expect("seeding runs with embeddings");
            matrix
                .top_k_cosine_batch(&[query], SEEDS_PER_QUERY, &mut self.batch)
                .map_err(|e| e.to_string())?;
            hits.clear();
            hits.append(&mut self.batch[0]);
            Ok(())
        }

        pub(super) fn spread(
            &mut self,
            seeds: &[Seed],
            params: &SpreadParams,
            results: &mut Vec<Activation>,
        ) -> Result<SpreadStats, String> {
            self.spreader
                .spread(&self.graph, seeds, params, results)
                .map_err(|e| e.to_string())
        }

        pub(super) fn check(
            &mut self,
            graph: GraphView<'_>,
            seeds: &[Seed],
            params: &SpreadParams,
            results: &[Activation],
        ) -> Result<(), String> {
            self.reference
                .spread(graph, seeds, params, &mut self.expected)
                .map_err(|e| e.to_string())?;
            let same = results.len() == self.expected.len()
                && results.iter().zip(&self.expected).all(|(a, b)| {
                    (a.node, a.activation.to_bits(), a.hop)
                        == (b.node, b.activation.to_bits(), b.hop)
                });
            if !same {
                return Err(format!(
                    "the GPU's results differ from Spreader's on warm-up query {}",
                    self.checked
                ));
            }
            self.checked += 1;
            Ok(())
        }

        pub(super) fn describe(&self) -> String {
            format!(
                "seeding and spreading on {} ({} warm-up queries checked bit for bit against Spreader; {} hops)",
                self.gpu.info().name,
                self.checked,
                if self.spreader.pushes() {
                    "push and pull"
                } else {
                    "pull-only"
                }
            )
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        workload: Workload::Recall,
        queries: 1000,
        graph: None,
        save: None,
        order: Some(Ordering::DegreeDescending),
        threads: 1,
        memory_budget: None,
        gpu: false,
        seeding: Some(Quantization::I8),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--workload" => {
                args.workload = match value()?.as_str() {
                    "recall" => Workload::Recall,
                    "rmat20_query_std" => Workload::QueryStd,
                    "rmat20_query_wide" => Workload::QueryWide,
                    other => return Err(format!("unknown workload `{other}` (recall, rmat20_query_std, rmat20_query_wide)")),
                }
            }
            "--queries" => args.queries = value()?.parse().map_err(|e| format!("--queries: {e}"))?,
            "--graph" => args.graph = Some(value()?),
            "--save" => args.save = Some(value()?),
            "--threads" => args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--memory-budget" => args.memory_budget = Some(parse_size(&value()?)?),
            "--gpu" => args.gpu = true,
            "--seeding" => {
                args.seeding = match value()?.as_str() {
                    "i8" => Some(Quantization::I8),
                    "f16" => Some(Quantization::F16),
                    "f32" => None,
                    other => return Err(format!("unknown seeding `{other}` (i8, f16, f32)")),
                }
            }
            "--order" => {
                args.order = match value()?.as_str() {
                    "degree" => Some(Ordering::DegreeDescending),
                    "bfs" => Some(Ordering::BreadthFirst),
                    "none" => None,
                    other => return Err(format!("unknown order `{other}` (degree, bfs, none)")),
                }
            }
            "-h" | "--help" => {
                return Err("usage: recall [--workload recall|rmat20_query_std|rmat20_query_wide] [--queries N] [--graph FILE] [--save FILE.axg] [--order degree|bfs|none] [--threads N] [--memory-budget SIZE] [--gpu] [--seeding i8|f16|f32]".into())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if args.queries == 0 {
        return Err("--queries must be at least 1".into());
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if args.gpu && (args.threads > 1 || args.memory_budget.is_some()) {
        return Err("--gpu runs on the device: not with --threads or --memory-budget".into());
    }
    if args.gpu && cfg!(not(feature = "vulkan")) {
        return Err("--gpu needs the vulkan feature: cargo run --release --features vulkan --example recall -- --gpu".into());
    }
    if args.memory_budget.is_some() && (args.graph.is_none() || args.save.is_some()) {
        return Err("--memory-budget runs an .axg file out of core: it needs --graph FILE.axg (and no --save)".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("recall: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Unit vectors with i.i.d. Gaussian coordinates, one row per node.
fn embeddings(rows: usize, seed: u64) -> EmbeddingMatrix {
    let mut rng = SplitMix64::new(seed);
    let mut m = EmbeddingMatrix::with_capacity(DIM, rows).expect("valid dimension");
    let mut row = vec![0f32; DIM];
    for _ in 0..rows {
        unit_gaussian(&mut rng, &mut row);
        m.push(&row).expect("finite row");
    }
    m
}

fn unit_gaussian(rng: &mut SplitMix64, row: &mut [f32]) {
    let mut norm = 0.0;
    for x in row.iter_mut() {
        let g = rng.next_gaussian();
        norm += g * g;
        *x = g as f32;
    }
    let inv = 1.0 / norm.sqrt();
    row.iter_mut()
        .for_each(|x| *x = (f64::from(*x) * inv) as f32);
}

struct Sample {
    seed: Duration,
    spread: Duration,
    stats: SpreadStats,
    results: usize,
}

/// The graph the queries run on.
enum Loaded {
    /// Generated, or read from an edge list, then renumbered; the seed pool
    /// is in the ids before renumbering.
    Memory {
        graph: Graph,
        perm: Permutation,
        pool: generate::standard::SeedPool,
    },
    /// Mapped from an `.axg` file, its structure verified: run as stored.
    Stored(AxgStore),
}

/// Whether the file at `path` starts with the `.axg` magic bytes.
fn is_axg(path: &str) -> Result<bool, String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut magic = [0u8; 8];
    Ok(file.read_exact(&mut magic).is_ok() && magic == store::MAGIC)
}

fn load(args: &Args) -> Result<(String, Loaded), String> {
    let (name, graph) = match (&args.graph, args.workload) {
        (Some(path), _) if is_axg(path)? => {
            // SAFETY: the example's documented contract: the file is not
            // modified or truncated while the example runs.
            let stored = unsafe { AxgStore::map(path, Verify::Structure) }
                .map_err(|e| format!("{path}: {e}"))?;
            return Ok((path.clone(), Loaded::Stored(stored)));
        }
        (Some(path), _) => (
            path.clone(),
            io::read_path(path, GraphBuilder::new()).map_err(|e| format!("{path}: {e}"))?,
        ),
        (None, Workload::Recall) => (
            "recall (rmat17 + 384-d embeddings)".into(),
            generate::standard::rmat17(),
        ),
        (None, Workload::QueryStd) => ("rmat20_query_std".into(), generate::standard::rmat20()),
        (None, Workload::QueryWide) => ("rmat20_query_wide".into(), generate::standard::rmat20()),
    };
    let pool = generate::standard::SeedPool::new(&graph);
    let (graph, perm) = match args.order {
        Some(order) => graph.reorder(order),
        None => {
            let n = graph.node_count() as u32;
            (graph, Permutation::identity(n))
        }
    };
    Ok((name, Loaded::Memory { graph, perm, pool }))
}

/// Writes `graph` with the original ids (`perm`'s) and `matrix`'s rows
/// renumbered as the graph is: row `v` of the file is node `v`'s.
fn save(
    path: &str,
    graph: GraphView<'_>,
    perm: &Permutation,
    matrix: Option<EmbeddingView<'_>>,
) -> Result<(), String> {
    let t = Instant::now();
    let ids: Vec<u64> = perm.new_to_old().iter().map(|&v| u64::from(v)).collect();
    let rows = match matrix {
        Some(m) => {
            let mut rows =
                EmbeddingMatrix::with_capacity(m.dim(), m.rows()).map_err(|e| e.to_string())?;
            for &old in perm.new_to_old() {
                rows.push(m.row(old as usize).expect("one row per node"))
                    .map_err(|e| e.to_string())?;
            }
            Some(rows)
        }
        None => None,
    };
    let mut contents = Contents::new(graph)
        .with_id_map(&ids)
        .map_err(|e| e.to_string())?;
    if let Some(rows) = &rows {
        contents = contents.with_embeddings(rows).map_err(|e| e.to_string())?;
    }
    store::write_file(path, &contents).map_err(|e| e.to_string())?;
    println!(
        "saved {path}: {} nodes, {} edges, {}, in {:.2?}",
        graph.node_count(),
        graph.edge_count(),
        rows.as_ref().map_or("no embeddings".into(), |r| format!(
            "{} x {} embeddings",
            r.rows(),
            r.dim()
        )),
        t.elapsed()
    );
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    println!("{}", axonal::simd::Platform::detect());
    // The machine's tuning profile (`cargo bench --bench tune`), if there
    // is one: its SIMD backend and push/pull switch point run the job.
    let (tuning, profile) = Tuning::load_or_default();
    println!("tuning: {profile}");
    if let (Some(budget), Some(path)) = (args.memory_budget, &args.graph) {
        if !is_axg(path)? {
            return Err(format!("{path}: --memory-budget needs an .axg file"));
        }
        return run_out_of_core(&args, path, budget as usize, &tuning);
    }
    let t = Instant::now();
    let (name, loaded) = load(&args)?;
    let build_graph = t.elapsed();
    let (identity, stored_file, stored_pool);
    let (graph, perm, pool, stored_rows) = match &loaded {
        Loaded::Memory { graph, perm, pool } => (graph.view(), perm, pool, None),
        Loaded::Stored(stored) => {
            stored_file = stored.file().map_err(|e| format!("{name}: {e}"))?;
            let view = stored_file.graph().expect("verified when opened");
            identity = Permutation::identity(view.node_count() as u32);
            stored_pool = generate::standard::SeedPool::new(view);
            (view, &identity, &stored_pool, stored_file.embeddings())
        }
    };
    if graph.node_count() == 0 {
        return Err("the graph has no nodes".into());
    }
    if args.graph.is_some() {
        let source = match &loaded {
            Loaded::Memory { .. } => {
                "an edge list or Matrix Market file, read and renumbered".to_string()
            }
            Loaded::Stored(stored) => format!(
                "an .axg file of {:.1} MiB, {}, structure verified",
                stored.len() as f64 / (1 << 20) as f64,
                if stored.is_mapped() {
                    "memory-mapped"
                } else {
                    "read"
                }
            ),
        };
        let rows = stored_rows.map_or("no stored embeddings".into(), |m| {
            format!("{} x {} stored embeddings", m.rows(), m.dim())
        });
        println!(
            "loaded {name}: {} nodes, {} edges, {rows}, from {source}, in {build_graph:.2?}",
            graph.node_count(),
            graph.edge_count()
        );
    }
    let seeded = args.workload == Workload::Recall;
    let t = Instant::now();
    let generated = (seeded && stored_rows.is_none()).then(|| embeddings(graph.node_count(), 7));
    let matrix = match seeded {
        true => stored_rows.or(generated.as_ref().map(EmbeddingMatrix::view)),
        false => None,
    };
    let build_embeddings = t.elapsed();
    if let Some(path) = &args.save {
        save(path, graph, perm, matrix)?;
    }

    let params = match args.workload {
        Workload::QueryWide => SpreadParams::default(),
        _ => SpreadParams::query_std(),
    };
    let kernels = tuning.kernels();
    let mut backend = Backend::new(&args, graph, matrix, &tuning)?;
    let mut results: Vec<Activation> = Vec::with_capacity(params.top_k);
    let mut hits: Vec<Hit> = Vec::with_capacity(SEEDS_PER_QUERY);
    let mut seeds: Vec<Seed> = Vec::with_capacity(SEEDS_PER_QUERY);
    let mut query = vec![0f32; matrix.map_or(DIM, |m| m.dim())];
    let mut rng = SplitMix64::new(2024);
    if pool.is_empty() {
        return Err("the graph has no edges".into());
    }

    let mut samples = Vec::with_capacity(args.queries);
    // On a GPU, at least 10 warm-up queries, each checked against Spreader.
    let warmup = (args.queries / 20).clamp(if args.gpu { 10 } else { 1 }, 20);
    let wall = Instant::now();
    let mut measured_wall = Duration::ZERO;
    for q in 0..warmup + args.queries {
        if q == warmup {
            measured_wall = wall.elapsed();
        }
        let t0 = Instant::now();
        seeds.clear();
        if let Some(m) = matrix {
            let target = rng.below(m.rows() as u64) as usize;
            for (x, &e) in query.iter_mut().zip(m.row(target).expect("row exists")) {
                *x = e + (QUERY_NOISE * rng.next_gaussian()) as f32;
            }
            backend.seed(&query, m, &mut hits)?;
            if q < warmup {
                backend.check_seeds(&query, m, &hits)?;
            }
            for h in &hits {
                let a0 = 1.0 / (1.0 + (-(f64::from(h.score) - 0.4) / 0.5).exp());
                seeds.push(Seed::new(perm.to_new(h.id), a0.clamp(0.0, 1.0) as f32));
            }
        } else {
            for _ in 0..8 {
                let node = pool.draw(&mut rng).expect("the pool is not empty");
                seeds.push(Seed::new(perm.to_new(node), 1.0));
            }
        }
        let t1 = Instant::now();
        let stats = backend.spread(graph, &seeds, &params, &mut results)?;
        let t2 = Instant::now();
        if q >= warmup {
            samples.push(Sample {
                seed: t1 - t0,
                spread: t2 - t1,
                stats,
                results: results.len(),
            });
        } else {
            backend.check(graph, &seeds, &params, &results)?;
        }
    }
    let measured_wall = wall.elapsed() - measured_wall;
    let order = match (&loaded, args.order) {
        (Loaded::Stored(_), _) => "as stored",
        (_, Some(Ordering::DegreeDescending)) => "degree",
        (_, Some(_)) => "bfs",
        (_, None) => "none",
    };
    let setup = Setup {
        name: format!("{name}, order {order}"),
        graph,
        stored: matches!(loaded, Loaded::Stored(_)),
        matrix,
        embeddings_stored: stored_rows.is_some(),
        build_graph,
        build_embeddings,
    };
    if let Some(line) = backend.describe_seeding(warmup + args.queries) {
        println!("{line}");
    }
    report(
        &setup,
        [backend.memory_bytes(), backend.quantized_bytes()],
        &backend.describe(),
        &samples,
        measured_wall,
        kernels,
    );
    Ok(())
}

/// The job out of core (`--memory-budget`): the same queries as in
/// memory, the graph and embeddings read through one block cache.
fn run_out_of_core(args: &Args, path: &str, budget: usize, tuning: &Tuning) -> Result<(), String> {
    let t = Instant::now();
    let graph: OutOfCoreGraph = OutOfCoreGraph::with_budget(path, budget, 1, DEFAULT_BLOCK_EDGES)
        .map_err(|e| format!("{path}: {e}"))?;
    let n = graph.node_count();
    let dim = graph.blocks().embedding_dim();
    println!(
        "opened {path} out of core in {:.2?}: {n} nodes, {} edges, {}; memory budget {:.1} MiB: offsets {:.1} MiB, cache {:.1} MiB decoded (the workspace's {:.1} MiB and its growth included) + {:.1} MiB compressed",
        t.elapsed(),
        graph.edge_count(),
        if dim > 0 {
            format!("{n} x {dim} stored embeddings")
        } else {
            "no stored embeddings (seeds drawn as in query_std)".into()
        },
        budget as f64 / (1 << 20) as f64,
        graph.blocks().memory_bytes() as f64 / (1 << 20) as f64,
        graph.cache().config().memory as f64 / (1 << 20) as f64,
        OutOfCoreSpreader::workspace_bytes(n) as f64 / (1 << 20) as f64,
        graph.cache().config().compressed as f64 / (1 << 20) as f64,
    );
    let params = match args.workload {
        Workload::QueryWide => SpreadParams::default(),
        _ => SpreadParams::query_std(),
    };
    let kernels = tuning.kernels();
    let mut spreader = OutOfCoreSpreader::with_config(n, tuning.spreader_config(n));
    let mut results: Vec<Activation> = Vec::with_capacity(params.top_k);
    let mut top = TopK::new(SEEDS_PER_QUERY);
    let mut hits: Vec<Hit> = Vec::with_capacity(SEEDS_PER_QUERY);
    let mut seeds: Vec<Seed> = Vec::with_capacity(SEEDS_PER_QUERY);
    let (mut query, mut row) = (vec![0f32; dim], vec![0f32; dim]);
    let offsets = graph.blocks().out_offsets();
    if offsets[n] == 0 {
        return Err("the graph has no edges".into());
    }
    let mut rng = SplitMix64::new(2024);
    let mut samples = Vec::with_capacity(args.queries);
    let warmup = (args.queries / 20).clamp(1, 20);
    let mut measured = Instant::now();
    for q in 0..warmup + args.queries {
        if q == warmup {
            measured = Instant::now();
        }
        let t0 = Instant::now();
        seeds.clear();
        if dim > 0 {
            let target = rng.below(n as u64) as u32;
            graph
                .embedding(target, &mut row)
                .map_err(|e| e.to_string())?;
            for (x, &e) in query.iter_mut().zip(&row) {
                *x = e + (QUERY_NOISE * rng.next_gaussian()) as f32;
            }
            graph
                .top_k_cosine(kernels, &query, &mut top)
                .map_err(|e| e.to_string())?;
            top.drain_sorted(&mut hits);
            for h in &hits {
                let a0 = 1.0 / (1.0 + (-(f64::from(h.score) - 0.4) / 0.5).exp());
                seeds.push(Seed::new(h.id, a0.clamp(0.0, 1.0) as f32));
            }
        } else {
            while seeds.len() < 8 {
                let v = rng.below(n as u64) as usize;
                if offsets[v + 1] > offsets[v] {
                    seeds.push(Seed::new(v as u32, 1.0));
                }
            }
        }
        let t1 = Instant::now();
        let stats = spreader
            .spread(&graph, &seeds, &params, &mut results)
            .map_err(|e| e.to_string())?;
        let t2 = Instant::now();
        if q >= warmup {
            samples.push(Sample {
                seed: t1 - t0,
                spread: t2 - t1,
                stats,
                results: results.len(),
            });
        }
    }
    let wall = measured.elapsed();
    println!(
        "queries: {} measured (after warm-up), single thread, out of core\n",
        samples.len()
    );
    let (total, spread) = print_stages(&samples, dim > 0);
    println!(
        "\nthroughput: {:.0} queries/s; peak resident memory (VmHWM) {}",
        samples.len() as f64 / wall.as_secs_f64(),
        peak_rss()
    );
    println!("{}", graph.stats());
    println!(
        "{{\"workload\":\"out_of_core\",\"budget\":{budget},\"queries\":{},\"p50_us\":{:.1},\"p95_us\":{:.1},\"p99_us\":{:.1},\"spread_p50_us\":{:.1},\"spread_p95_us\":{:.1},\"qps\":{:.1},\"hit_ratio\":{:.4}}}",
        samples.len(),
        percentile(&total, 0.5),
        percentile(&total, 0.95),
        percentile(&total, 0.99),
        percentile(&spread, 0.5),
        percentile(&spread, 0.95),
        samples.len() as f64 / wall.as_secs_f64(),
        graph.stats().hit_ratio().unwrap_or(0.0),
    );
    Ok(())
}

/// Prints the latency table of `samples` (the seeding stage if `seeded`);
/// returns the sorted total and spreading latencies in microseconds.
fn print_stages(samples: &[Sample], seeded: bool) -> (Vec<f64>, Vec<f64>) {
    let total = micros(samples, |s| s.seed + s.spread);
    let seed = micros(samples, |s| s.seed);
    let spread = micros(samples, |s| s.spread);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "stage", "mean us", "p50 us", "p95 us", "p99 us", "max us"
    );
    for (stage, v) in [("seed", &seed), ("spread", &spread), ("total", &total)] {
        if stage == "seed" && !seeded {
            continue;
        }
        println!(
            "{:<10} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            stage,
            mean(v),
            percentile(v, 0.5),
            percentile(v, 0.95),
            percentile(v, 0.99),
            v[v.len() - 1]
        );
    }
    (total, spread)
}

/// What ran: the graph and embeddings, where they came from, how long they
/// took to make.
struct Setup<'a> {
    name: String,
    graph: GraphView<'a>,
    /// The graph is mapped from an `.axg` file (else built in memory).
    stored: bool,
    matrix: Option<EmbeddingView<'a>>,
    embeddings_stored: bool,
    build_graph: Duration,
    build_embeddings: Duration,
}

/// Bytes of both adjacency directions.
/// Bytes of one direction's CSR arrays.
fn csr_bytes(csr: CsrView<'_>) -> usize {
    csr.offsets().len() * 8 + csr.targets().len() * 4 + csr.weights().len() * 4
}

fn micros(samples: &[Sample], f: impl Fn(&Sample) -> Duration) -> Vec<f64> {
    let mut v: Vec<f64> = samples.iter().map(|s| f(s).as_secs_f64() * 1e6).collect();
    v.sort_by(f64::total_cmp);
    v
}

fn report(
    setup: &Setup<'_>,
    [workspace_bytes, quantized_bytes]: [usize; 2],
    backend: &str,
    samples: &[Sample],
    wall: Duration,
    kernels: Kernels,
) {
    let (name, graph, matrix) = (setup.name.as_str(), setup.graph, setup.matrix);
    let n = samples.len() as f64;
    let spread_secs: f64 = samples.iter().map(|s| s.spread.as_secs_f64()).sum();
    let edges: u64 = samples.iter().map(|s| s.stats.edges_traversed).sum();
    let mut edges_per_query: Vec<f64> = samples
        .iter()
        .map(|s| s.stats.edges_traversed as f64)
        .collect();
    edges_per_query.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let qps = n / wall.as_secs_f64();
    let edges_per_s = edges as f64 / spread_secs;
    let mib = |b: usize| b as f64 / (1 << 20) as f64;

    println!("axonal recall: {name}");
    println!(
        "graph: {} nodes, {} edges ({} in {:.2?}); SIMD backend: {}",
        graph.node_count(),
        graph.edge_count(),
        if setup.stored {
            "mapped and verified"
        } else {
            "built and reordered"
        },
        setup.build_graph,
        kernels.backend()
    );
    if let Some(m) = matrix {
        if setup.embeddings_stored {
            println!(
                "embeddings: {} x {} f32 (stored in the file)",
                m.rows(),
                m.dim()
            );
        } else {
            println!(
                "embeddings: {} x {} f32 (built in {:.2?})",
                m.rows(),
                m.dim(),
                setup.build_embeddings
            );
        }
    }
    println!(
        "queries: {} measured (after warm-up), {backend}\n",
        samples.len()
    );
    let (total, spread) = print_stages(samples, matrix.is_some());
    let hops: f64 = samples.iter().map(|s| f64::from(s.stats.hops)).sum::<f64>() / n;
    let pulls: f64 = samples
        .iter()
        .map(|s| f64::from(s.stats.pull_hops))
        .sum::<f64>()
        / n;
    let activated: f64 = samples
        .iter()
        .map(|s| f64::from(s.stats.activated))
        .sum::<f64>()
        / n;
    let returned: f64 = samples.iter().map(|s| s.results as f64).sum::<f64>() / n;
    println!();
    println!(
        "throughput: {qps:.0} queries/s, {:.1} M edges/s while spreading",
        edges_per_s / 1e6
    );
    println!(
        "per query: {:.0} edges traversed (p50 {:.0}, p95 {:.0}), {hops:.2} hops ({pulls:.2} pulled), {activated:.0} nodes reached, {returned:.1} returned",
        mean(&edges_per_query),
        percentile(&edges_per_query, 0.5),
        percentile(&edges_per_query, 0.95)
    );
    let emb = matrix.map_or(0, |m| m.as_padded_slice().len() * 4 + m.rows() * 4);
    let mapped = if setup.stored { ", mapped" } else { "" };
    // What the optimisation structures add to the data itself (the seed
    // design's goal: under 10%): the in-edges (the transpose, for pull
    // hops) and the spreader's workspace, over the out-edges and embeddings;
    // the quantized embeddings of the seeding scan beside them.
    let (bare, transpose) = (csr_bytes(graph.out_edges()), csr_bytes(graph.in_edges()));
    let share = |bytes: usize| bytes as f64 / (bare + emb) as f64 * 100.0;
    println!(
        "memory: out-edges {:.1} MiB{mapped} and embeddings {:.1} MiB; added for speed: in-edges (the transpose) {:.1} MiB, spreader workspace {:.1} MiB: {:.1}% of the out-edges and embeddings{}",
        mib(bare),
        mib(emb),
        mib(transpose),
        mib(workspace_bytes),
        share(transpose + workspace_bytes),
        if quantized_bytes > 0 {
            format!(
                "; with the quantized embeddings that seeding reads ({:.1} MiB), {:.1}%",
                mib(quantized_bytes),
                share(transpose + workspace_bytes + quantized_bytes)
            )
        } else {
            String::new()
        }
    );
    println!(
        "{{\"workload\":\"{}\",\"queries\":{},\"p50_us\":{:.1},\"p95_us\":{:.1},\"p99_us\":{:.1},\"spread_p50_us\":{:.1},\"spread_p95_us\":{:.1},\"qps\":{:.1},\"edges_per_s\":{:.0},\"edges_per_query\":{:.0}}}",
        name.split([' ', ',']).next().unwrap_or(name),
        samples.len(),
        percentile(&total, 0.5),
        percentile(&total, 0.95),
        percentile(&total, 0.99),
        percentile(&spread, 0.5),
        percentile(&spread, 0.95),
        qps,
        edges_per_s,
        mean(&edges_per_query)
    );
}
