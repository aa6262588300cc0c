//! The block cache against a source whose blocks carry their own key and a
//! checksum of their contents, so that a wrong, duplicated or lost block
//! is caught wherever it is returned: budgets after every step, pinning,
//! tiers 1 and 2, invalidation, and threads doing random gets, inserts and
//! invalidations (`std::thread::scope`). Small sizes: the tests also run
//! under Miri (`cargo +nightly miri test --test cache`), except those with
//! a spill file.
#![cfg(feature = "cache")]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use axonal::cache::{
    BlockBuf, BlockCache, BlockKind, BlockRef, BlockSource, CacheConfig, CacheError, CacheStats,
    Eviction, Lru, S3Fifo, SpillConfig,
};
use xxhash_rust::xxh3::xxh3_64;

/// Blocks of 64 to 256 bytes: the key, the xxh3 of the payload, the
/// payload (words derived from the key, half of them repeating, so that
/// compression has something to do).
#[derive(Debug, Default)]
struct Checked {
    reads: AtomicU64,
    /// Whether [`BlockSource::len`] answers.
    sized: bool,
}

/// The largest block (bytes).
const MAX_BLOCK: usize = 256;

fn block_len(key: u64) -> usize {
    64 + (key % 4) as usize * 64
}

/// Block `key` as the source makes it, or with `salt` mixed into the
/// payload (what an insert of new contents puts).
fn make_block(key: u64, salt: u64) -> BlockBuf {
    let mut buf = BlockBuf::new();
    let words = block_len(key) / 8;
    let bytes = buf.resize(words * 8);
    for i in 2..words {
        let w = if i % 2 == 0 {
            key ^ salt
        } else {
            (key * 31 + i as u64).wrapping_mul(0x9e37_79b9)
        };
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    let sum = xxh3_64(&bytes[16..]);
    bytes[..8].copy_from_slice(&key.to_le_bytes());
    bytes[8..16].copy_from_slice(&sum.to_le_bytes());
    buf
}

impl BlockSource for Checked {
    type Key = u64;
    fn read(&self, key: u64, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        *buf = make_block(key, 0);
        Ok(BlockKind::U64)
    }
    fn len(&self, key: u64) -> Option<usize> {
        self.sized.then(|| block_len(key))
    }
}

/// Block `key` read twice (and checked): a reused block, which the cache
/// keeps encoded when it leaves tier 0 (a block read once it drops).
fn read_twice<P: Eviction>(cache: &BlockCache<Checked, P>, key: u64) -> BlockRef {
    verify(key, &cache.get(key).unwrap());
    let block = cache.get(key).unwrap();
    verify(key, &block);
    block
}

/// Checks a returned block: its key, its checksum, its length; returns its
/// payload's salt (0: the source's contents).
fn verify(key: u64, block: &BlockRef) -> u64 {
    let words: &[u64] = block.as_slice().expect("u64 aligned");
    assert_eq!(words[0], key, "block of another key");
    assert_eq!(
        words[1],
        xxh3_64(&block.bytes()[16..]),
        "block {key}: contents damaged"
    );
    assert_eq!(block.len(), block_len(key), "block {key}: wrong length");
    assert_eq!(block.kind(), BlockKind::U64);
    words[2] ^ key
}

/// Tier-0 bytes as the counters say and as the blocks sum, within budget.
fn check_budget<P: Eviction>(cache: &BlockCache<Checked, P>) -> CacheStats {
    let stats = cache.stats();
    let held = cache.audit();
    assert!(
        held.bytes[0] <= cache.config().memory as u64,
        "tier 0 over budget"
    );
    assert!(
        held.bytes[1] <= cache.config().compressed as u64,
        "tier 1 over budget"
    );
    assert_eq!(held.bytes[0], stats.tiers[0].bytes);
    assert_eq!(held.bytes[1], stats.tiers[1].bytes);
    assert_eq!(held.blocks[0], stats.tiers[0].blocks);
    assert_eq!(held.blocks[1], stats.tiers[1].blocks);
    stats
}

/// A tiny xorshift for reproducible random operations.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn cache(memory: usize, compressed: usize) -> BlockCache<Checked, S3Fifo> {
    let config = CacheConfig::new(memory).compressed(compressed).shards(4);
    BlockCache::new(Checked::default(), config).unwrap()
}

#[test]
fn a_miss_reads_the_source_once_then_hits() {
    let cache = cache(4096, 0);
    let a = cache.get(7).unwrap();
    let b = cache.get(7).unwrap();
    verify(7, &a);
    assert!(std::ptr::eq(a.bytes(), b.bytes()), "one copy per key");
    assert!(cache.get_resident(8).is_none());
    let stats = check_budget(&cache);
    assert_eq!((stats.misses, stats.tiers[0].hits), (1, 1));
    assert_eq!(stats.source_bytes, block_len(7) as u64);
    assert_eq!(cache.source().reads.load(Ordering::Relaxed), 1);
    assert_eq!(stats.hit_ratio(), Some(0.5));
}

#[test]
fn budget_holds_after_every_step() {
    for sized in [false, true] {
        let source = Checked {
            sized,
            ..Checked::default()
        };
        let config = CacheConfig::new(4 * MAX_BLOCK).shards(2);
        let cache: BlockCache<Checked> = BlockCache::new(source, config).unwrap();
        let mut rng = Rng(5);
        for _ in 0..if cfg!(miri) { 60 } else { 600 } {
            let key = rng.below(24);
            verify(key, &cache.get(key).unwrap());
            check_budget(&cache);
        }
        let stats = cache.stats();
        assert!(stats.tiers[0].evictions > 0 && stats.misses > 0);
        assert_eq!(cache.audit().pinned_bytes, 0);
    }
}

#[test]
fn pinned_blocks_survive_eviction_pressure() {
    let cache = cache(6 * MAX_BLOCK, 0);
    let pinned: Vec<BlockRef> = (0..3).map(|k| cache.get(k).unwrap()).collect();
    for key in 3..60 {
        verify(key, &cache.get(key).unwrap());
        check_budget(&cache);
    }
    for (key, block) in (0..3).zip(&pinned) {
        let again = cache
            .get_resident(key)
            .expect("a pinned block stays resident");
        assert!(std::ptr::eq(again.bytes(), block.bytes()));
    }
    let held = cache.audit();
    assert_eq!(
        held.pinned_bytes,
        (0..3).map(|k| block_len(k) as u64).sum::<u64>()
    );
}

#[test]
fn all_pinned_is_refused_until_a_reader_lets_go() {
    // Two blocks of 256 bytes fill the budget.
    let cache = cache(2 * MAX_BLOCK, 0);
    let a = cache.get(3).unwrap();
    let b = cache.get(7).unwrap();
    match cache.get(11) {
        Err(CacheError::Budget {
            needed,
            budget,
            pinned,
        }) => {
            assert_eq!(
                (needed, budget, pinned),
                (MAX_BLOCK, 2 * MAX_BLOCK, 2 * MAX_BLOCK)
            );
        }
        other => panic!("expected a budget refusal, got {other:?}"),
    }
    assert_eq!(cache.stats().pinned_refusals, 1);
    drop(a);
    verify(11, &cache.get(11).unwrap());
    assert!(
        cache.get_resident(3).is_none(),
        "the unpinned block made room"
    );
    verify(7, &b);
    check_budget(&cache);
}

#[test]
fn a_block_larger_than_the_budget_is_refused_at_once() {
    let cache = cache(128, 0);
    let block = BlockBuf::from_bytes(&[0; 200]);
    // What a block costs is its storage: whole cache lines.
    let needed = block.capacity_bytes();
    assert_eq!(needed, 256);
    let err = cache.insert(1, BlockKind::Bytes, block).unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::Budget {
                needed: 256,
                budget: 128,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        cache.get(3),
        Err(CacheError::Budget { needed: 256, .. })
    ));
    assert_eq!(cache.stats().pinned_refusals, 0);
    // A sized source is refused before the read.
    let source = Checked {
        sized: true,
        ..Checked::default()
    };
    let sized: BlockCache<Checked> = BlockCache::new(source, CacheConfig::new(128)).unwrap();
    assert!(sized.get(3).is_err());
    assert_eq!(sized.source().reads.load(Ordering::Relaxed), 0);
    check_budget(&sized);
}

#[test]
fn evicted_blocks_are_compressed_and_promoted_back() {
    let cache = cache(4 * MAX_BLOCK, 64 * MAX_BLOCK);
    for key in 0..16 {
        read_twice(&cache, key);
        check_budget(&cache);
    }
    for key in 0..16 {
        verify(key, &cache.get(key).unwrap());
        check_budget(&cache);
    }
    let stats = cache.stats();
    assert_eq!(
        stats.misses, 16,
        "every block read once: the rest came from tier 1"
    );
    assert!(stats.tiers[1].hits > 0);
    assert_eq!(stats.promotions, stats.tiers[1].hits);
    let c = stats.compression_of(BlockKind::U64);
    assert_eq!(c.blocks, stats.tiers[0].evictions);
    assert!(c.raw_bytes > 0 && c.encoded_bytes > 0);
    let report = stats.to_string();
    assert!(report.contains("tier 1 (compressed):"), "{report}");
}

#[test]
fn only_blocks_read_again_are_kept_encoded() {
    let cache = cache(2 * MAX_BLOCK, 16 * MAX_BLOCK);
    // Read once each: dropped when pushed out, never encoded.
    for key in 0..8 {
        verify(key, &cache.get(key).unwrap());
    }
    let stats = check_budget(&cache);
    assert!(stats.tiers[0].evictions > 0);
    assert_eq!(stats.tiers[1].blocks, 0);
    assert_eq!(stats.compression_of(BlockKind::U64).blocks, 0);
    // Read twice: kept encoded.
    for key in 10..18 {
        read_twice(&cache, key);
    }
    assert!(check_budget(&cache).tiers[1].blocks > 0);
    let misses = cache.stats().misses;
    verify(10, &cache.get(10).unwrap());
    assert_eq!(cache.stats().misses, misses, "10 came back from tier 1");
    // A promoted block was read again: pushed out by blocks read once, it
    // is kept encoded again.
    for key in 20..30 {
        verify(key, &cache.get(key).unwrap());
    }
    verify(10, &cache.get(10).unwrap());
    assert_eq!(cache.stats().misses, misses + 10, "10 came back again");
    check_budget(&cache);
}

#[test]
fn tier_one_drops_its_oldest_when_full() {
    let cache = cache(2 * MAX_BLOCK, 3 * MAX_BLOCK);
    for key in 0..40 {
        read_twice(&cache, key);
        check_budget(&cache);
    }
    let stats = cache.stats();
    assert!(stats.tiers[1].evictions > 0);
    assert!(stats.tiers[1].blocks > 0);
}

#[test]
fn invalidate_removes_every_copy() {
    let cache = cache(2 * MAX_BLOCK, 16 * MAX_BLOCK);
    for key in 0..8 {
        read_twice(&cache, key);
    }
    let held = cache.audit();
    assert!(held.blocks[0] > 0 && held.blocks[1] > 0);
    for key in 0..8 {
        assert!(cache.invalidate(key), "block {key} was held");
        assert!(!cache.invalidate(key));
    }
    assert_eq!(cache.audit(), Default::default());
    let stats = check_budget(&cache);
    assert_eq!((stats.tiers[0].bytes, stats.tiers[1].bytes), (0, 0));
    verify(5, &cache.get(5).unwrap());
    assert_eq!(cache.stats().misses, 9);
}

#[test]
fn insert_replaces_any_copy_and_readers_keep_theirs() {
    let cache = cache(4 * MAX_BLOCK, 16 * MAX_BLOCK);
    let old = cache.get(2).unwrap();
    let new = cache.insert(2, BlockKind::U64, make_block(2, 77)).unwrap();
    assert_eq!(verify(2, &old), 0);
    assert_eq!(verify(2, &new), 77);
    assert_eq!(verify(2, &cache.get(2).unwrap()), 77);
    drop(new);
    // Pushed down to tier 1 and back: still the inserted contents.
    for key in 10..20 {
        cache.get(key).unwrap();
    }
    assert_eq!(verify(2, &cache.get(2).unwrap()), 77);
    assert_eq!(
        check_budget(&cache).tiers[0].blocks,
        cache.audit().blocks[0]
    );
}

/// A fresh folder for a spill file.
fn spill_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("axonal-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A spill file of `capacity` bytes in 4 KiB segments.
fn spill_config(dir: &std::path::Path, capacity: u64) -> SpillConfig {
    let mut config = SpillConfig::new(dir, capacity);
    config.segment = 4096;
    config
}

/// Tier 0 of two blocks, tier 1 of two, a spill file behind.
fn spilling(dir: &std::path::Path) -> BlockCache<Checked> {
    let config = CacheConfig::new(2 * MAX_BLOCK)
        .compressed(2 * MAX_BLOCK)
        .spill(spill_config(dir, 64 << 10))
        .shards(2);
    BlockCache::new(Checked::default(), config).unwrap()
}

#[test]
#[cfg_attr(miri, ignore = "a spill file")]
fn spilled_blocks_come_back_from_tier_two() {
    let dir = spill_dir("tier2");
    {
        let cache = spilling(&dir);
        for round in 0..2 {
            for key in 0..32 {
                if round == 0 {
                    read_twice(&cache, key);
                } else {
                    verify(key, &cache.get(key).unwrap());
                }
                check_budget(&cache);
            }
            cache.flush().unwrap();
            if round == 0 {
                assert!(cache.stats().spill_writes > 0);
            }
        }
        let stats = cache.stats();
        assert_eq!(stats.misses, 32, "the second round came from the tiers");
        assert!(stats.tiers[2].hits > 0 && stats.spill_reads > 0);
        assert_eq!(stats.checksum_failures, 0);
        assert!(cache.invalidate(0));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(miri, ignore = "a spill file")]
fn corrupt_spilled_blocks_are_read_again_never_returned() {
    let dir = spill_dir("corrupt");
    {
        let cache = spilling(&dir);
        for key in 0..32 {
            read_twice(&cache, key);
        }
        cache.flush().unwrap();
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            for b in bytes.iter_mut().step_by(61) {
                *b ^= 0x5a;
            }
            std::fs::write(&path, &bytes).unwrap();
        }
        for key in 0..32 {
            verify(key, &cache.get(key).unwrap());
        }
        let stats = cache.stats();
        assert!(stats.checksum_failures > 0, "{stats}");
        assert_eq!(stats.misses, 32 + stats.checksum_failures);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `threads` threads doing random gets (holding up to two blocks),
/// inserts of source-identical blocks and invalidations over 64 keys, on a
/// budget of 16 blocks: every block returned is checked, the budget after
/// each step, the counters against the blocks at the end.
fn stress<P: Eviction>(threads: u64, spill: Option<&std::path::Path>) {
    let mut config = CacheConfig::new(16 * MAX_BLOCK)
        .compressed(8 * MAX_BLOCK)
        .shards(4);
    if let Some(dir) = spill {
        // Small enough that segments are recycled under the blocks.
        config = config.spill(spill_config(dir, 8 << 10));
    }
    let cache: BlockCache<Checked, P> = BlockCache::new(Checked::default(), config).unwrap();
    let ops = if cfg!(miri) { 40 } else { 3000 };
    std::thread::scope(|s| {
        for t in 0..threads {
            let cache = &cache;
            s.spawn(move || {
                let mut rng = Rng(0x1234_5678 + t);
                let mut held: Option<(u64, BlockRef)> = None;
                for _ in 0..ops {
                    let key = rng.below(64);
                    match rng.below(10) {
                        0 => drop(cache.invalidate(key)),
                        1 => drop(verify(
                            key,
                            &cache
                                .insert(key, BlockKind::U64, make_block(key, 0))
                                .unwrap(),
                        )),
                        2 => {
                            let block = cache.get(key).unwrap();
                            verify(key, &block);
                            held = Some((key, block));
                        }
                        _ => drop(read_twice(cache, key)),
                    };
                    if let Some((key, block)) = &held {
                        verify(*key, block);
                    }
                    let stats = cache.stats();
                    assert!(stats.tiers[0].bytes <= stats.tiers[0].budget);
                    assert!(stats.tiers[1].bytes <= stats.tiers[1].budget);
                }
            });
        }
    });
    let stats = check_budget(&cache);
    assert_eq!(cache.audit().pinned_bytes, 0);
    assert_eq!(stats.pinned_refusals, 0);
    assert!(stats.tiers[0].hits > 0 && stats.misses > 0);
    if spill.is_some() {
        assert!(
            stats.spill_writes > 0 && stats.tiers[2].evictions > 0,
            "{stats}"
        );
    }
    for key in 0..64 {
        assert_eq!(verify(key, &cache.get(key).unwrap()), 0);
    }
    check_budget(&cache);
}

#[test]
fn stress_two_threads() {
    stress::<S3Fifo>(2, None);
}

#[test]
fn stress_four_threads() {
    stress::<S3Fifo>(4, None);
}

#[test]
fn stress_four_threads_lru() {
    stress::<Lru>(4, None);
}

#[test]
#[cfg_attr(miri, ignore = "a spill file")]
fn stress_four_threads_with_a_spill_file() {
    let dir = spill_dir("stress");
    stress::<S3Fifo>(4, Some(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn prefetches_are_counted_as_used_or_wasted() {
    let cache = cache(1024, 0);
    assert!(cache.prefetch(1).unwrap(), "loaded");
    assert!(!cache.prefetch(1).unwrap(), "already resident");
    verify(1, &cache.get(1).unwrap());
    verify(1, &cache.get(1).unwrap());
    let p = cache.stats().prefetch;
    assert_eq!(
        (p.issued, p.used, p.wasted),
        (1, 1, 0),
        "used once, however often read"
    );
    // Prefetched, never read, then pushed out by reads of other blocks.
    assert!(cache.prefetch(2).unwrap());
    for key in 10..60 {
        verify(key, &cache.get(key).unwrap());
    }
    assert!(cache.get_resident(2).is_none(), "evicted");
    let p = cache.stats().prefetch;
    assert_eq!((p.issued, p.used, p.wasted), (2, 1, 1));
    assert_eq!(p.accuracy(), Some(0.5));
    check_budget(&cache);
}
