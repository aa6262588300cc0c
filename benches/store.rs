//! The `.axg` file against the in-memory graph and the machine's limits.
//!
//! - `store/open_rmat20/{header,structure,full,stream_read}`: opening `rmat20`'s file
//!   (mapped, warm page cache) with the header checked only; verifying every
//!   checksum and the structure of the same bytes in memory; and probe
//!   `stream_read`, a plain read of those bytes (the bound of `full`);
//!   `structure` is the part of `full` that is not hashing; probe
//!   `xxh3_only`, the hashing alone (every 1 MiB block, one thread, as
//!   `xxhash-rust` compiles it for this target). `full` and `structure` run
//!   on all cores; `taskset -c 0` gives their one-thread figures.
//! - `store/rmat20_query_std/{mapped,memory}`: 16 `query_std` queries on the
//!   memory-mapped file's graph and on the in-memory graph.
//! - `store/build_rmat22/{streaming,memory}`: the Graph500 R-MAT scale 22
//!   edges (67M, drawn once before timing) built by the bounded-memory
//!   `AxgBuilder` (256 MiB budget, spilling to the temporary directory)
//!   into an `.axg` file, and by the in-memory `GraphBuilder` into a graph;
//!   throughput in edges read. (`examples/convert.rs rmat:22
//!   --compare-memory` prints both builds' peak memory.)
//! - `store/scan_rmat22/{chunked,read}`: a whole-file chunked pass over
//!   R-MAT scale 22's file (about 1.1 GB; both edge directions, every
//!   target and weight summed, a 64 MiB budget, structure checked) against probe
//!   `read`, a plain sequential read of the same file into a reused buffer
//!   of 64 MiB; warm page cache both, throughput in bytes (the sections
//!   carried; the file). The file is generated once and kept in the
//!   temporary directory (`axonal-bench-scan-rmat22.axg`).

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::graph::GraphBuilder;
use axonal::graph::generate::Rmat;
use axonal::spread::{Seed, SpreadParams, Spreader};
use axonal::store::{self, AxgBuilder, AxgFile, AxgStore, Carry, Chunks, Contents, Verify};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use xxhash_rust::xxh3::xxh3_64;

/// `rmat20` (degree-reordered) written to a temporary `.axg` file, removed
/// when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn rmat20() -> TempFile {
        let path = std::env::temp_dir().join(format!("axonal-bench-{}.axg", std::process::id()));
        store::write_file(&path, &Contents::new(&common::rmat20().reordered))
            .expect("the temporary directory is writable");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A plain read of every byte (summed as `u64` words, so nothing is
/// optimised away): what verifying the same bytes is bounded by.
fn stream_read(bytes: &[u8]) -> u64 {
    let words: &[u64] = bytemuck::cast_slice(&bytes[..bytes.len() / 8 * 8]);
    words.iter().fold(0u64, |a, &w| a.wrapping_add(w))
}

fn open(c: &mut Criterion) {
    let file = TempFile::rmat20();
    let bytes = axonal::layout::AlignedBuf::from_slice(&std::fs::read(&file.0).unwrap());
    let mut group = c.benchmark_group("store/open_rmat20");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("header", |b| {
        b.iter(|| {
            // SAFETY: the bench's own file, not modified while mapped.
            let store = unsafe { AxgStore::map(black_box(&file.0), Verify::Header) };
            black_box(store.expect("a valid file").len())
        })
    });
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("structure", |b| {
        b.iter(|| black_box(AxgFile::parse(black_box(&bytes), Verify::Structure).is_ok()))
    });
    group.bench_function("full", |b| {
        b.iter(|| black_box(AxgFile::parse(black_box(&bytes), Verify::Full).is_ok()))
    });
    group.bench_function("stream_read", |b| {
        b.iter(|| black_box(stream_read(black_box(&bytes))))
    });
    group.bench_function("xxh3_only", |b| {
        b.iter(|| {
            let blocks = black_box(&bytes).chunks(store::BLOCK_LEN as usize);
            black_box(blocks.fold(0u64, |a, block| a ^ xxh3_64(block)))
        })
    });
    group.finish();
}

fn rmat20_query_std(c: &mut Criterion) {
    let w = common::rmat20();
    let file = TempFile::rmat20();
    // SAFETY: the bench's own file, not modified while mapped.
    let mapped = unsafe { AxgStore::map(&file.0, Verify::Full) }.expect("just written");
    let stored = mapped.file().expect("verified");
    let stored = stored.graph().expect("verified");
    let queries: Vec<Vec<Seed>> = common::rmat_queries(&w.original, 16, 7)
        .iter()
        .map(|q| w.to_reordered(q))
        .collect();
    let p = SpreadParams::query_std();
    let mut spreader = Spreader::new(w.reordered.node_count());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for q in &queries {
        spreader.spread(stored, q, &p, &mut a).unwrap();
        spreader.spread(&w.reordered, q, &p, &mut b).unwrap();
        assert_eq!(a, b, "the mapped graph gives the in-memory graph's results");
    }
    let mut group = c.benchmark_group("store/rmat20_query_std");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("mapped", |bench| {
        bench.iter(|| {
            for q in &queries {
                black_box(spreader.spread(stored, q, &p, &mut a).unwrap());
            }
        })
    });
    group.bench_function("memory", |bench| {
        bench.iter(|| {
            for q in &queries {
                black_box(spreader.spread(&w.reordered, q, &p, &mut a).unwrap());
            }
        })
    });
    group.finish();
}

fn build_rmat22(c: &mut Criterion) {
    let rmat = Rmat::graph500(22);
    let edges: Vec<_> = rmat.edges().collect();
    let path = std::env::temp_dir().join(format!("axonal-bench-build-{}.axg", std::process::id()));
    let mut group = c.benchmark_group("store/build_rmat22");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .throughput(Throughput::Elements(edges.len() as u64));
    group.bench_function("streaming", |b| {
        b.iter(|| {
            let mut builder = AxgBuilder::new(256 << 20);
            for e in &edges {
                builder
                    .add_edge(u64::from(e.src), u64::from(e.dst), e.weight)
                    .expect("valid edges");
            }
            black_box(builder.finish(&path, &mut ()).expect("room to write"))
        })
    });
    group.bench_function("memory", |b| {
        b.iter(|| {
            let mut builder = GraphBuilder::new();
            builder.extend(edges.iter().copied()).expect("valid edges");
            black_box(builder.build().expect("memory for the graph"))
        })
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

/// R-MAT scale 22's file (Graph500 parameters), made once and kept in the
/// temporary directory for later runs.
fn rmat22_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join("axonal-bench-scan-rmat22.axg");
    if Chunks::open(&path, 1 << 20, Carry::new(), Verify::Structure).is_err() {
        eprintln!("writing {} (once)", path.display());
        let graph = axonal::graph::generate::Rmat::graph500(22).generate();
        store::write_file(&path, &Contents::new(&graph))
            .expect("the temporary directory is writable");
    }
    path
}

/// A whole-file chunked pass touching every byte carried: each chunk's
/// targets and weights summed (as words, in eight lanes: bandwidth, not an
/// add chain, is the bound), both directions.
fn chunked_pass(path: &std::path::Path, budget: usize) -> u64 {
    let carry = Carry::new().out_edges().in_edges();
    let mut chunks = Chunks::open(path, budget, carry, Verify::Structure).expect("a valid file");
    let mut total = 0u64;
    while let Some(chunk) = chunks.next_chunk(&mut ()) {
        let chunk = chunk.expect("a valid file");
        for rows in [chunk.out_edges(), chunk.in_edges()].into_iter().flatten() {
            let weights: &[u32] = bytemuck::cast_slice(rows.weights());
            total = total
                .wrapping_add(sum_words(rows.targets()))
                .wrapping_add(sum_words(weights))
                .wrapping_add(rows.offsets().len() as u64);
        }
    }
    total
}

/// The wrapping sum of `words`, in eight lanes.
fn sum_words(words: &[u32]) -> u64 {
    let mut lanes = [0u32; 8];
    let exact = words.chunks_exact(8);
    let tail = exact
        .remainder()
        .iter()
        .fold(0u64, |a, &w| a + u64::from(w));
    for c in exact {
        for (lane, &w) in lanes.iter_mut().zip(c) {
            *lane = lane.wrapping_add(w);
        }
    }
    lanes.iter().fold(tail, |a, &l| a + u64::from(l))
}

/// A plain sequential read of the whole file into `buf`, reused, with the
/// chunked pass's work on every byte (words summed in eight lanes).
fn plain_read(path: &std::path::Path, buf: &mut [u8]) -> u64 {
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("a readable file");
    let mut total = 0u64;
    loop {
        let n = file.read(buf).expect("a readable file");
        if n == 0 {
            return total;
        }
        let words: &[u32] = bytemuck::cast_slice(&buf[..n / 4 * 4]);
        total = total.wrapping_add(sum_words(words));
    }
}

fn scan_rmat22(c: &mut Criterion) {
    const BUDGET: usize = 64 << 20;
    let path = rmat22_file();
    let file_len = std::fs::metadata(&path).expect("just written").len();
    let carried = {
        let chunks = Chunks::open(&path, BUDGET, Carry::new(), Verify::Structure).unwrap();
        let (n, m) = (chunks.node_count() as u64, chunks.edge_count() as u64);
        2 * (8 * (n + 1) + 8 * m)
    };
    let mut buf = axonal::layout::AlignedBuf::<u8>::zeroed(BUDGET);
    // Warm the page cache.
    black_box(plain_read(&path, &mut buf));
    let mut group = c.benchmark_group("store/scan_rmat22");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(carried));
    group.bench_function("chunked", |b| {
        b.iter(|| black_box(chunked_pass(black_box(&path), BUDGET)))
    });
    group.throughput(Throughput::Bytes(file_len));
    group.bench_function("read", |b| {
        b.iter(|| black_box(plain_read(black_box(&path), &mut buf)))
    });
    group.finish();
}

criterion_group!(benches, open, rmat20_query_std, build_rmat22, scan_rmat22);
common::bench_main!(benches);
