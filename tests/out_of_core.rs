//! Out-of-core spreading gives the bits `Spreader` gives on the graph in
//! memory: several graphs, parameter sets and budgets (down to a few
//! blocks), one query at a time and from several threads at once; bad
//! blocks are typed errors.
#![cfg(feature = "cache")]

mod common;

use std::path::PathBuf;

use axonal::cache::{
    AxgBlocks, CacheConfig, CacheError, Clock, Eviction, Lru, OutOfCoreGraph, OutOfCoreSpreader,
    S3Fifo,
};
use axonal::graph::Graph;
use axonal::graph::generate::{Rmat, barabasi_albert, chain, fan};
use axonal::layout::EmbeddingMatrix;
use axonal::simd::{Kernels, TopK};
use axonal::spread::{Fan, Seed, SpreadParams, Spreader};
use axonal::store::{ALIGN, Contents, HEADER_LEN, StoreError, write_file};
use common::{bits, random_graph, random_seeds};

/// A file in the temporary folder, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(name: &str, graph: &Graph) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("axonal-ooc-{}-{name}.axg", std::process::id()));
        write_file(&path, &Contents::new(graph)).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn graphs() -> Vec<(&'static str, Graph)> {
    let mut rmat = Rmat::graph500(10);
    rmat.seed = 7;
    vec![
        ("random", random_graph(1, 700, 6000, false)),
        ("rmat10", rmat.generate()),
        ("ba", barabasi_albert(800, 3, 5)),
        ("chain", chain(300, 0.9)),
        ("fan", fan(500, 0.8)),
    ]
}

fn params() -> Vec<SpreadParams> {
    let wide = SpreadParams {
        max_hops: 6,
        top_k: 10_000,
        min_activation: 1e-6,
        ..SpreadParams::default()
    };
    vec![
        SpreadParams::default(),
        SpreadParams::query_std(),
        wide,
        SpreadParams {
            fan: Fan::None,
            ..wide
        },
    ]
}

/// Every query of `queries` on `graph` through a cache of `config` with
/// blocks of `block_edges` edges, against `Spreader`. A `config` of
/// `memory: 0` gets room for just two of the largest blocks: the least a
/// query can run in (it pins a block's targets and weights).
fn check<P: Eviction>(name: &str, graph: &Graph, block_edges: usize, config: CacheConfig) {
    check_with::<P>(name, graph, block_edges, config, 0);
}

/// [`check`] with a prefetcher of `prefetch` bytes (0: none).
fn check_with<P: Eviction>(
    name: &str,
    graph: &Graph,
    block_edges: usize,
    mut config: CacheConfig,
    prefetch: usize,
) {
    let file = TempFile::with(name, graph);
    if config.memory == 0 {
        let blocks = AxgBlocks::open(&file.0, block_edges).unwrap();
        config.memory = 2 * blocks.largest_block();
    }
    let ooc: OutOfCoreGraph<P> = OutOfCoreGraph::open(&file.0, block_edges, config)
        .unwrap()
        .with_prefetch(prefetch)
        .unwrap();
    assert_eq!(ooc.node_count(), graph.node_count());
    let n = graph.node_count();
    let mut reference = Spreader::new(n);
    let mut spreader = OutOfCoreSpreader::new(n);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for (i, p) in params().iter().enumerate() {
        for q in 0..6u64 {
            let seeds = random_seeds(q * 31 + i as u64, n as u32, 1 + q as usize);
            let s1 = reference.spread(graph, &seeds, p, &mut want).unwrap();
            let s2 = spreader.spread(&ooc, &seeds, p, &mut got).unwrap();
            assert_eq!(bits(&got), bits(&want), "{name} params {i} query {q}");
            assert_eq!(s2, s1, "{name} params {i} query {q}");
        }
    }
    // (Whether the prefetcher or the reader loads a block first is a race:
    // only the accounting is checked.)
    let p = ooc.stats().prefetch;
    assert!(p.used + p.wasted <= p.issued, "{name}: {p:?}");
    let audit = ooc.cache().audit();
    assert!(audit.bytes[0] <= ooc.cache().config().memory as u64);
    assert_eq!(audit.pinned_bytes, 0, "no block stays pinned after a query");
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn out_of_core_results_are_the_in_memory_bits() {
    for (name, g) in graphs() {
        // The whole graph fits; then a few blocks of 64 edges (256 bytes
        // each, a longer row alone); then just the two blocks a hop pins.
        check::<S3Fifo>(name, &g, 4096, CacheConfig::new(64 << 20));
        check::<S3Fifo>(name, &g, 64, CacheConfig::new(16 << 10).compressed(4096));
        let mut least = CacheConfig::new(1);
        least.memory = 0;
        check::<S3Fifo>(name, &g, 64, least.clone());
        check::<S3Fifo>(name, &g, 64, least.compressed(2048));
        // With a prefetcher, in a roomy cache and a tight one.
        check_with::<S3Fifo>(name, &g, 64, CacheConfig::new(1 << 20), 8 << 10);
        check_with::<S3Fifo>(name, &g, 64, CacheConfig::new(16 << 10), 2 << 10);
    }
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn a_query_that_fails_part_way_leaves_nothing_behind() {
    // A cache of one block: a hop pins two, so queries fail with a budget
    // error part way through a hop (after other blocks' rows were pushed).
    // The same spreader then answers on a roomy cache as `Spreader` does.
    let mut rmat = Rmat::graph500(10);
    rmat.seed = 11;
    let g = rmat.generate();
    let file = TempFile::with("fails", &g);
    let largest = AxgBlocks::open(&file.0, 64).unwrap().largest_block();
    let tight: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 64, CacheConfig::new(largest)).unwrap();
    let roomy: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 64, CacheConfig::new(1 << 20)).unwrap();
    let n = g.node_count();
    let (mut reference, mut spreader) = (Spreader::new(n), OutOfCoreSpreader::new(n));
    let (mut want, mut got) = (Vec::new(), Vec::new());
    let mut failed = 0;
    for (i, p) in params().iter().enumerate() {
        for q in 0..8u64 {
            let seeds = random_seeds(q * 7 + i as u64, n as u32, 1 + q as usize % 5);
            match spreader.spread(&tight, &seeds, p, &mut got) {
                Err(CacheError::Budget { .. }) => failed += 1,
                Err(e) => panic!("unexpected {e}"),
                Ok(_) => {}
            }
            reference.spread(&g, &seeds, p, &mut want).unwrap();
            spreader.spread(&roomy, &seeds, p, &mut got).unwrap();
            assert_eq!(bits(&got), bits(&want), "params {i} query {q}");
        }
    }
    assert!(
        failed > 10,
        "most queries fail on the tight cache ({failed})"
    );
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn every_policy_gives_the_same_bits() {
    let g = barabasi_albert(600, 4, 9);
    check::<Lru>("lru", &g, 128, CacheConfig::new(6 * 1024).compressed(2048));
    check::<Clock>(
        "clock",
        &g,
        128,
        CacheConfig::new(6 * 1024).compressed(2048),
    );
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn many_spreaders_share_one_graph() {
    let mut rmat = Rmat::graph500(11);
    rmat.seed = 3;
    let g = rmat.generate();
    let file = TempFile::with("threads", &g);
    let ooc: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 256, CacheConfig::new(16 << 10)).unwrap();
    let n = g.node_count();
    let p = SpreadParams::query_std();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (ooc, g, p) = (&ooc, &g, &p);
            s.spawn(move || {
                let mut reference = Spreader::new(n);
                let mut spreader = OutOfCoreSpreader::new(n);
                let (mut want, mut got) = (Vec::new(), Vec::new());
                for q in 0..20 {
                    let seeds = random_seeds(t * 1000 + q, n as u32, 4);
                    reference.spread(g, &seeds, p, &mut want).unwrap();
                    spreader.spread(ooc, &seeds, p, &mut got).unwrap();
                    assert_eq!(bits(&got), bits(&want), "thread {t} query {q}");
                }
            });
        }
    });
}

/// Tier 0's bytes: its blocks (as the cache walks them) and what it lent.
fn tier0_held<P: Eviction>(ooc: &OutOfCoreGraph<P>) -> u64 {
    ooc.cache().audit().bytes[0] + ooc.stats().outside
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn a_budget_pays_for_the_workspaces_as_they_grow() {
    let mut rmat = Rmat::graph500(14);
    rmat.seed = 5;
    let g = rmat.generate();
    let n = g.node_count();
    let file = TempFile::with("budget", &g);
    let first = OutOfCoreSpreader::workspace_bytes(n);
    let open = |budget| OutOfCoreGraph::<S3Fifo>::with_budget(&file.0, budget, 1, 256);
    let ooc = open(2 << 20).unwrap();
    let limit = ooc.stats().tiers[0].budget;
    let wide = SpreadParams {
        max_hops: 6,
        top_k: 10_000,
        min_activation: 1e-6,
        ..SpreadParams::default()
    };
    let mut reference = Spreader::new(n);
    let mut spreader = OutOfCoreSpreader::new(n);
    assert_eq!(spreader.memory_bytes(), first);
    let (mut want, mut got) = (Vec::new(), Vec::new());
    for (q, p) in [SpreadParams::query_std(), wide]
        .iter()
        .cycle()
        .take(8)
        .enumerate()
    {
        let seeds = random_seeds(q as u64, n as u32, 1 + 3 * q);
        reference.spread(&g, &seeds, p, &mut want).unwrap();
        spreader.spread(&ooc, &seeds, p, &mut got).unwrap();
        assert_eq!(bits(&got), bits(&want), "query {q}");
        // What the spreader holds is what it paid, and blocks plus
        // workspace stay within the decoded tier's budget.
        assert_eq!(ooc.stats().outside, spreader.memory_bytes() as u64);
        assert!(tier0_held(&ooc) <= limit);
    }
    // Wide queries grew the lists past their first size.
    assert!(spreader.memory_bytes() > first);
    // Another graph pays from now on; the first gets its bytes back.
    let other = open(2 << 20).unwrap();
    spreader
        .spread(&other, &random_seeds(1, n as u32, 2), &wide, &mut got)
        .unwrap();
    assert_eq!(ooc.stats().outside, 0);
    assert_eq!(other.stats().outside, spreader.memory_bytes() as u64);
    drop(spreader);
    assert_eq!(other.stats().outside, 0);
    // A graph opened with a cache configuration of its own does not pay.
    let unpaid: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 256, CacheConfig::new(64 << 10)).unwrap();
    let mut spreader = OutOfCoreSpreader::new(n);
    spreader
        .spread(&unpaid, &random_seeds(2, n as u32, 2), &wide, &mut got)
        .unwrap();
    assert_eq!(unpaid.stats().outside, 0);
    // A budget that holds the first workspace and a few blocks but not a
    // wide query's lists: that query is refused with a budget error, the
    // budget still holds, and a narrow query runs after it.
    let least = match open(0) {
        Err(CacheError::Budget { needed, .. }) => needed,
        other => panic!("expected a budget error, got {other:?}"),
    };
    let tight = open(least + (64 << 10)).unwrap();
    let mut spreader = OutOfCoreSpreader::new(n);
    let all: Vec<Seed> = (0..n as u32)
        .step_by(2)
        .map(|v| Seed::new(v, 1.0))
        .collect();
    match spreader.spread(&tight, &all, &wide, &mut got) {
        Err(CacheError::Budget { .. }) => {}
        other => panic!("expected a budget error, got {other:?}"),
    }
    assert!(tier0_held(&tight) <= tight.stats().tiers[0].budget);
    let seeds = [Seed::new(0, 1.0)];
    let p = SpreadParams {
        max_hops: 1,
        ..SpreadParams::default()
    };
    reference.spread(&g, &seeds, &p, &mut want).unwrap();
    spreader.spread(&tight, &seeds, &p, &mut got).unwrap();
    assert_eq!(bits(&got), bits(&want));
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn cached_similarity_scans_are_the_whole_matrix_scan() {
    const DIM: usize = 40;
    let g = random_graph(8, 900, 4000, false);
    let flat: Vec<f32> = (0..900 * DIM)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect();
    let matrix = EmbeddingMatrix::from_rows(DIM, &flat).unwrap();
    let path = std::env::temp_dir().join(format!("axonal-ooc-{}-emb.axg", std::process::id()));
    let file = TempFile(path);
    write_file(
        &file.0,
        &Contents::new(&g).with_embeddings(&matrix).unwrap(),
    )
    .unwrap();
    let kernels = Kernels::best();
    // Blocks of 100 edges hold 8 rows of 48 floats: many blocks, a cache
    // of a few.
    let ooc: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 100, CacheConfig::new(8 << 10)).unwrap();
    assert!(ooc.blocks().embedding_blocks() > 100);
    let (mut want, mut got) = (TopK::new(25), TopK::new(25));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for q in 0..5 {
        let query = &flat[q * 97 * DIM..][..DIM];
        kernels.top_k_cosine(query, &matrix, &mut want).unwrap();
        assert!(ooc.top_k_cosine(kernels, query, &mut got).unwrap());
        want.drain_sorted(&mut a);
        got.drain_sorted(&mut b);
        assert_eq!(a, b, "query {q}");
    }
    assert!(matches!(
        ooc.top_k_cosine(kernels, &[1.0; 3], &mut got),
        Err(CacheError::Embedding(_))
    ));
    let mut row = [0f32; DIM];
    for v in [0u32, 7, 8, 450, 899] {
        assert!(ooc.embedding(v, &mut row).unwrap());
        assert_eq!(&row[..], matrix.row(v as usize).unwrap());
    }
}

#[test]
#[cfg_attr(miri, ignore = "files are system calls")]
fn bad_queries_and_bad_blocks_are_typed_errors() {
    let g = random_graph(4, 200, 1500, false);
    let file = TempFile::with("bad", &g);
    let ooc: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 100, CacheConfig::new(1 << 20)).unwrap();
    let mut spreader = OutOfCoreSpreader::new(g.node_count());
    let mut results = Vec::new();
    let p = SpreadParams::default();
    assert!(matches!(
        spreader.spread(&ooc, &[Seed::new(200, 1.0)], &p, &mut results),
        Err(CacheError::Spread(_))
    ));
    let mut small = OutOfCoreSpreader::new(10);
    assert!(matches!(
        small.spread(&ooc, &[Seed::new(0, 1.0)], &p, &mut results),
        Err(CacheError::Spread(_))
    ));
    drop(ooc);

    // A target out of range in the middle of the out-targets section.
    // (Sections start on 4 KiB boundaries in table order: the out-offsets
    // after the header page, then the out-targets.)
    let bytes = std::fs::read(&file.0).unwrap();
    let start = HEADER_LEN + (8 * 201usize).next_multiple_of(ALIGN as usize);
    assert_eq!(AxgBlocks::open(&file.0, 100).unwrap().node_count(), 200);
    let mut bad = bytes.clone();
    let at = start + 4 * 700;
    bad[at..at + 4].copy_from_slice(&5000u32.to_le_bytes());
    std::fs::write(&file.0, &bad).unwrap();
    let ooc: OutOfCoreGraph =
        OutOfCoreGraph::open(&file.0, 100, CacheConfig::new(1 << 20)).unwrap();
    let wide = SpreadParams {
        max_hops: 8,
        ..SpreadParams::default()
    };
    let mut failed = false;
    for v in 0..200 {
        match spreader.spread(&ooc, &[Seed::new(v, 1.0)], &wide, &mut results) {
            Ok(_) => {}
            Err(CacheError::Store(StoreError::Structure { offset, .. })) => {
                assert_eq!(offset, at as u64);
                failed = true;
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(failed, "some query reads the bad block");

    // Offsets that decrease: refused at open.
    let mut bad = bytes;
    let offsets = HEADER_LEN + 8 * 3;
    bad[offsets..offsets + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&file.0, &bad).unwrap();
    assert!(matches!(
        OutOfCoreGraph::<S3Fifo>::open(&file.0, 100, CacheConfig::new(1 << 20)),
        Err(CacheError::Store(StoreError::Structure { .. }))
    ));
}
