//! A block cache hit makes no heap allocation, with the default policy,
//! from one thread and from two at once; a miss in a full cache reuses
//! the buffer of the block it evicts.
//!
//! A counting global allocator wraps the system one (as in
//! `alloc_free.rs`); this file holds a single test so no other test thread
//! allocates while it counts.
#![cfg(feature = "cache")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use axonal::cache::{BlockBuf, BlockCache, BlockKind, BlockSource, CacheConfig, CacheError};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(new_size, Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 64-byte blocks of their key's bytes.
struct Keys;

impl BlockSource for Keys {
    type Key = u64;
    fn read(&self, key: u64, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        buf.resize(64).fill(key as u8);
        Ok(BlockKind::Bytes)
    }
}

/// 4 KiB blocks of their key's bytes, whose length the cache knows before
/// reading them.
struct Sized4K;

impl BlockSource for Sized4K {
    type Key = u64;
    fn read(&self, key: u64, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        // A buffer taken over from an evicted block comes empty.
        assert!(buf.is_empty(), "a source got another block's bytes");
        buf.resize(4096).fill(key as u8);
        Ok(BlockKind::Bytes)
    }
    fn len(&self, _: u64) -> Option<usize> {
        Some(4096)
    }
}

#[test]
fn hits_allocate_nothing() {
    let cache: BlockCache<Keys> = BlockCache::new(Keys, CacheConfig::new(1 << 16)).unwrap();
    for key in 0..64 {
        cache.get(key).unwrap();
    }
    let reads = if cfg!(miri) { 100 } else { 10_000 };
    let read_all = || {
        for i in 0..reads {
            let block = cache.get(i % 64).unwrap();
            assert_eq!(block.bytes()[0], (i % 64) as u8);
        }
    };
    let before = ALLOCATIONS.load(Relaxed);
    read_all();
    assert_eq!(ALLOCATIONS.load(Relaxed), before, "a hit allocated");
    // Two readers at once, counted between two barriers (after the
    // threads' own start-up allocations, before their exit).
    let (start, done) = (Barrier::new(3), Barrier::new(3));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                // A thread's first hit takes its hit-counter cell (a
                // thread-local set up once): warm up before the count.
                cache.get(0).unwrap();
                start.wait();
                read_all();
                done.wait();
            });
        }
        start.wait();
        let before = ALLOCATIONS.load(Relaxed);
        done.wait();
        assert_eq!(ALLOCATIONS.load(Relaxed), before, "a hit allocated");
    });
    assert_eq!(cache.stats().misses, 64);

    // Misses in a full cache: each load takes over the buffer of the block
    // it evicts, so the block bytes are never allocated again (what is
    // left is the handle and the index's bookkeeping).
    let full: BlockCache<Sized4K> =
        BlockCache::new(Sized4K, CacheConfig::new(8 * 4096).shards(1)).unwrap();
    for key in 0..8 {
        full.get(key).unwrap();
    }
    let misses = if cfg!(miri) { 20 } else { 1000 };
    let before = ALLOCATED_BYTES.load(Relaxed);
    for key in 8..8 + misses {
        assert_eq!(full.get(key).unwrap().bytes()[4095], key as u8);
    }
    let per_miss = (ALLOCATED_BYTES.load(Relaxed) - before) / misses as usize;
    assert!(per_miss < 1024, "{per_miss} bytes allocated a miss");
    assert_eq!(full.stats().misses, 8 + misses);
}
