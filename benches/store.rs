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

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::spread::{Seed, SpreadParams, Spreader};
use axonal::store::{self, AxgFile, AxgStore, Contents, Verify};
use criterion::{Criterion, Throughput, criterion_group};
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

criterion_group!(benches, open, rmat20_query_std);
common::bench_main!(benches);
