//! The block cache against its peers and its own parts.
//!
//! - Compression figures (printed once, before the decode timings): R-MAT scale
//!   22's out-edge targets cut into node-range blocks of about 256 KiB
//!   (whole rows), encoded as plain LZ4, shuffled, delta + shuffled, per-row
//!   delta bit-packed, and as `encode_block` chooses, in the generated order
//!   and degree-reordered (the `.axg` files' usual order); the same rows'
//!   weights; unit-norm random embeddings (`f32`, 384 dimensions) in blocks
//!   of 256 KiB. Ratios are decoded bytes over encoded bytes (axonal's
//!   8-byte headers included).
//! - `cache/decode/*`, over 64 MiB of the degree-reordered target blocks
//!   (what out-of-core spreading reads: every third block, so that hubs'
//!   rows and the tail's are both in), throughput in decoded bytes:
//!   - `axonal`: `decode_block` of every block as `encode_block` encoded it;
//!   - `lz4_flex`: plain `lz4_flex::block::decompress_into` of plain-LZ4
//!     encodings of the same blocks (which barely compress: nearly a copy);
//!   - `axonal_delta_shuffle` and `lz4_flex_filtered`: `decode_block` of
//!     the blocks' delta + shuffle encodings, and the LZ4 decompression of
//!     those payloads alone, without undoing the filter: the difference is
//!     the filter's cost.
//!
//! - `cache/get_hit/{axonal,quick_cache,moka}`: a tier-0 hit on one
//!   thread: 4096 resident blocks of 4 KiB, keys in a scattered order, the
//!   block's handle taken and its first byte read (each peer holds
//!   `Arc<Vec<u8>>` values, so a hit is a lookup and a reference count, as
//!   axonal's).
//!
//! The graph is generated once per run (Graph500 R-MAT scale 22, seed 42:
//! about 10-20 s and 1.1 GB), and degree-reordered once (as much again),
//! only when a decode bench runs: the compression figures are printed then
//! (`-- get_hit` starts at once).

mod common;

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axonal::cache::{
    BlockBuf, BlockCache, BlockKind, BlockSource, CacheConfig, CacheError, Filter, decode_block,
    encode_block, encode_with,
};
use axonal::graph::generate::{Rmat, SplitMix64};
use axonal::graph::{Graph, Ordering};
use criterion::{Criterion, Throughput, criterion_group};

/// Bytes a node-range block aims at.
const BLOCK_BYTES: usize = 256 << 10;

/// R-MAT scale 22 (Graph500 parameters), generated once.
fn rmat22() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(|| {
        let start = Instant::now();
        let graph = Rmat::graph500(22).generate();
        eprintln!("rmat22 generated in {:.1} s", start.elapsed().as_secs_f64());
        graph
    })
}

/// rmat22 degree-reordered (`Ordering::DegreeDescending`), once.
fn rmat22_reordered() -> &'static Graph {
    static GRAPH: OnceLock<Graph> = OnceLock::new();
    GRAPH.get_or_init(|| rmat22().reorder(Ordering::DegreeDescending).0)
}

/// A graph's out-edge targets' and weights' blocks: node ranges of
/// whole rows, each about [`BLOCK_BYTES`] of targets (a longer row alone).
struct EdgeBlocks<'g> {
    targets: Vec<&'g [u8]>,
    weights: Vec<&'g [u8]>,
}

/// rmat22's [`EdgeBlocks`], cut once.
fn edge_blocks() -> &'static EdgeBlocks<'static> {
    static BLOCKS: OnceLock<EdgeBlocks<'static>> = OnceLock::new();
    BLOCKS.get_or_init(|| cut_blocks(rmat22()))
}

/// Degree-reordered rmat22's [`EdgeBlocks`], cut once.
fn reordered_blocks() -> &'static EdgeBlocks<'static> {
    static BLOCKS: OnceLock<EdgeBlocks<'static>> = OnceLock::new();
    BLOCKS.get_or_init(|| cut_blocks(rmat22_reordered()))
}

/// The filters of sorted target blocks compared.
const TARGET_FILTERS: [Filter; 4] = [
    Filter::Lz4,
    Filter::Shuffle,
    Filter::DeltaShuffle,
    Filter::RowDeltaPacked,
];

/// `graph`'s out-edge blocks (see [`EdgeBlocks`]).
fn cut_blocks(graph: &Graph) -> EdgeBlocks<'_> {
    let out = graph.out_edges();
    let offsets = out.offsets();
    let targets: &[u8] = bytemuck::cast_slice(out.targets());
    let weights: &[u8] = bytemuck::cast_slice(out.weights());
    let mut blocks = EdgeBlocks {
        targets: Vec::new(),
        weights: Vec::new(),
    };
    let mut push = |range: std::ops::Range<usize>| {
        blocks
            .targets
            .push(&targets[range.start * 4..range.end * 4]);
        blocks
            .weights
            .push(&weights[range.start * 4..range.end * 4]);
    };
    // Rows are added while they fit; a row that does not starts the next block.
    let mut start = 0usize;
    for row in offsets.windows(2) {
        let (row_start, row_end) = (row[0] as usize, row[1] as usize);
        if (row_end - start) * 4 > BLOCK_BYTES && row_start > start {
            push(start..row_start);
            start = row_start;
        }
    }
    let edges = targets.len() / 4;
    if edges > start {
        push(start..edges);
    }
    blocks
}

/// Unit-norm random embeddings: `rows` rows of 384 `f32`s, as bytes.
fn embeddings(rows: usize) -> Vec<u8> {
    const DIMS: usize = 384;
    let mut rng = SplitMix64::new(11);
    let mut values = Vec::with_capacity(rows * DIMS);
    for _ in 0..rows {
        let row: Vec<f32> = (0..DIMS).map(|_| 2.0 * rng.next_f32() - 1.0).collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        values.extend(row.iter().map(|x| x / norm));
    }
    bytemuck::cast_slice(&values).to_vec()
}

/// Decoded bytes over encoded bytes of `blocks`, each encoded by `encode`.
fn ratio<'a>(
    blocks: impl IntoIterator<Item = &'a [u8]>,
    mut encode: impl FnMut(&[u8], &mut Vec<u8>),
) -> f64 {
    let (mut decoded, mut encoded) = (0usize, 0usize);
    let mut out = Vec::new();
    for block in blocks {
        encode(block, &mut out);
        decoded += block.len();
        encoded += out.len();
    }
    decoded as f64 / encoded as f64
}

/// Prints the compression of `blocks` of `kind` through each of `filters`
/// and as [`encode_block`] chooses (how often each filter won, and the
/// rough encoding speed).
fn compression_of(what: &str, kind: BlockKind, blocks: &[&[u8]], filters: &[Filter]) {
    let bytes: usize = blocks.iter().map(|b| b.len()).sum();
    let mut line = format!(
        "{what}: {} blocks, {:.1} MiB;",
        blocks.len(),
        bytes as f64 / (1 << 20) as f64
    );
    for &filter in filters {
        let r = ratio(blocks.iter().copied(), |block, out| {
            encode_with(filter, kind, block, out).expect("a filter of the kind")
        });
        line += &format!(" {filter:?} {r:.2}x,");
    }
    let mut chosen: Vec<(Filter, usize)> = Vec::new();
    let start = Instant::now();
    let r = ratio(blocks.iter().copied(), |block, out| {
        let filter = encode_block(kind, block, out);
        match chosen.iter_mut().find(|(f, _)| *f == filter) {
            Some((_, count)) => *count += 1,
            None => chosen.push((filter, 1)),
        }
    });
    let speed = bytes as f64 / start.elapsed().as_secs_f64() / 1e9;
    println!("{line} chosen {r:.2}x {chosen:?} (encode_block {speed:.2} GB/s, rough)");
}

/// The compression figures of rmat22's targets and weights and of
/// embeddings, printed once.
fn compression_report() {
    let blocks = edge_blocks();
    compression_of(
        "rmat22 out-edge targets",
        BlockKind::SortedU32,
        &blocks.targets,
        &TARGET_FILTERS,
    );
    compression_of(
        "rmat22 degree-reordered out-edge targets",
        BlockKind::SortedU32,
        &reordered_blocks().targets,
        &TARGET_FILTERS,
    );
    compression_of(
        "rmat22 out-edge weights",
        BlockKind::F32,
        &blocks.weights,
        &[Filter::Lz4, Filter::Shuffle],
    );
    let embeddings = embeddings(8192);
    let rows: Vec<&[u8]> = embeddings.chunks(BLOCK_BYTES).collect();
    compression_of(
        "unit-norm embeddings (384 f32)",
        BlockKind::F32,
        &rows,
        &[Filter::Lz4, Filter::Shuffle],
    );
}

/// Decoded bytes of the decode benches' blocks: a fixed figure, so that
/// the group's throughput is known before the graph is built (and a run
/// that filters the decode benches out never builds it).
const DECODE_BYTES: usize = 64 << 20;

/// The decode benches' blocks (see the module docs): every third of
/// degree-reordered rmat22's target blocks (so that hubs' rows and the
/// tail's are both in), until [`DECODE_BYTES`] (the last one cut short: a
/// prefix of a block is still sorted within runs), with their encodings.
struct DecodeSet {
    blocks: Vec<&'static [u8]>,
    /// As `encode_block` chooses.
    chosen: Vec<Vec<u8>>,
    /// Delta + shuffle.
    delta_shuffled: Vec<Vec<u8>>,
    /// Plain LZ4 (`lz4_flex::block::compress`).
    plain: Vec<Vec<u8>>,
}

/// The [`DecodeSet`], made by the first decode bench that runs (the
/// compression report is printed then).
fn decode_set() -> &'static DecodeSet {
    static SET: OnceLock<DecodeSet> = OnceLock::new();
    SET.get_or_init(|| {
        compression_report();
        let mut left = DECODE_BYTES;
        let blocks: Vec<&[u8]> = reordered_blocks()
            .targets
            .iter()
            .step_by(3)
            .map_while(|block| {
                let taken = &block[..block.len().min(left)];
                left -= taken.len();
                (!taken.is_empty()).then_some(taken)
            })
            .collect();
        assert_eq!(
            left, 0,
            "rmat22 has DECODE_BYTES of targets in a third of its blocks"
        );
        let encoded_by = |filter: Option<Filter>| -> Vec<Vec<u8>> {
            let kind = BlockKind::SortedU32;
            let encode = |block: &&[u8]| {
                let mut out = Vec::new();
                match filter {
                    Some(filter) => encode_with(filter, kind, block, &mut out).expect("fits"),
                    None => _ = encode_block(kind, block, &mut out),
                }
                out
            };
            blocks.iter().map(encode).collect()
        };
        DecodeSet {
            chosen: encoded_by(None),
            delta_shuffled: encoded_by(Some(Filter::DeltaShuffle)),
            plain: blocks
                .iter()
                .map(|block| lz4_flex::block::compress(block))
                .collect(),
            blocks,
        }
    })
}

/// The codec's figures: the compression report, then `cache/decode/*`
/// over the [`DecodeSet`] (see the module docs).
fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache/decode");
    group.throughput(Throughput::Bytes(DECODE_BYTES as u64));
    let mut decode_all = |name: &str, encoded: fn(&DecodeSet) -> &[Vec<u8>]| {
        group.bench_function(name, |b| {
            let encoded = encoded(decode_set());
            let mut out = BlockBuf::new();
            b.iter(|| {
                for block in encoded {
                    decode_block(black_box(block), &mut out).expect("just encoded");
                    black_box(out.as_bytes());
                }
            })
        });
    };
    decode_all("axonal", |set| &set.chosen);
    decode_all("axonal_delta_shuffle", |set| &set.delta_shuffled);
    // (`lz4_flex_filtered`: the LZ4 payloads of the delta + shuffle
    // encodings, past the header.)
    let mut lz4_all = |name: &str, payload_at: usize, encoded: fn(&DecodeSet) -> &[Vec<u8>]| {
        group.bench_function(name, |b| {
            let set = decode_set();
            let encoded = encoded(set);
            let mut out = vec![0u8; set.blocks.iter().map(|b| b.len()).max().unwrap_or(0)];
            b.iter(|| {
                for (block, decoded) in encoded.iter().zip(&set.blocks) {
                    let out = &mut out[..decoded.len()];
                    lz4_flex::block::decompress_into(black_box(&block[payload_at..]), out)
                        .expect("just encoded");
                    black_box(&*out);
                }
            })
        });
    };
    lz4_all("lz4_flex", 0, |set| &set.plain);
    lz4_all("lz4_flex_filtered", 8, |set| &set.delta_shuffled);
    group.finish();
}

/// A source of 4 KiB blocks filled with their key's low byte.
struct Filled;

impl BlockSource for Filled {
    type Key = u64;

    fn read(&self, key: u64, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        buf.resize(HIT_BLOCK).fill(key as u8);
        Ok(BlockKind::Bytes)
    }
}

const HIT_BLOCK: usize = 4096;
const HIT_KEYS: u64 = 4096;

/// The `i`-th key of a scattered walk over the resident keys.
fn hit_key(i: u64) -> u64 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20) % HIT_KEYS
}

/// One hit on each cache, resident keys only (every peer sized to hold
/// them all).
fn get_hit(c: &mut Criterion) {
    let cache: BlockCache<Filled> =
        BlockCache::new(Filled, CacheConfig::new(64 << 20)).expect("a valid configuration");
    let qc = quick_cache::sync::Cache::<u64, Arc<Vec<u8>>>::new(4 * HIT_KEYS as usize);
    let moka = moka::sync::Cache::<u64, Arc<Vec<u8>>>::new(4 * HIT_KEYS);
    for k in 0..HIT_KEYS {
        cache.get(k).expect("fits");
        let block = Arc::new(vec![k as u8; HIT_BLOCK]);
        qc.insert(k, Arc::clone(&block));
        moka.insert(k, block);
    }
    moka.run_pending_tasks();
    let mut group = c.benchmark_group("cache/get_hit");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("axonal", |b| {
        b.iter(|| {
            i += 1;
            let block = cache.get(hit_key(i)).expect("resident");
            black_box(block.bytes()[0])
        })
    });
    group.bench_function("quick_cache", |b| {
        b.iter(|| {
            i += 1;
            black_box(qc.get(&hit_key(i)).expect("resident")[0])
        })
    });
    group.bench_function("moka", |b| {
        b.iter(|| {
            i += 1;
            black_box(moka.get(&hit_key(i)).expect("resident")[0])
        })
    });
    group.finish();
    assert_eq!(cache.stats().misses, HIT_KEYS, "every timed get was a hit");
}

criterion_group!(benches, codec, get_hit);
common::bench_main!(benches);
