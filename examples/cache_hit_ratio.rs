//! Hit ratio of the block cache's eviction policies against `quick_cache`
//! and `moka`, at equal capacity in bytes, on the same traces.
//!
//! ```sh
//! cargo run --release --example cache_hit_ratio                    # generated traces
//! cargo run --release --example cache_hit_ratio -- --requests 5000000
//! cargo run --release --example cache_hit_ratio -- --trace FILE    # a recorded trace
//! ```
//!
//! The first column is the block cache itself (`BlockCache`, S3-FIFO,
//! its shards as chosen by default, tier 0 only: the budget is the
//! capacity, blocks cost their storage), over a source that makes each
//! block at its size. Then each policy ([`S3Fifo`], [`Lru`], [`Clock`])
//! runs in a simulated shard
//! that drives it exactly as a shard of the block cache does: a map from
//! key to slot, the block's bytes per slot, a hit reported to the policy
//! ([`Eviction::hit`], or [`Eviction::hit_exclusive`] for LRU), and on a
//! miss evictions until the block fits, then an insert. The shard holds
//! the whole capacity (one shard), as does `quick_cache`'s unsynchronised
//! cache (column `qc 1 shard`); `quick_cache::sync::Cache` (column
//! `quick_cache`) and `moka::sync::Cache` split it over their shards as
//! they do by default. A miss inserts the block (every cache admits it,
//! except moka, whose TinyLFU admission may refuse it). Hits are counted
//! over the whole trace, cold misses included.
//!
//! Generated traces (deterministic; 2 M requests each by default):
//! Zipf over 100,000 keys of 4 KiB blocks (alpha 0.8, 1.0, 1.2), the same
//! with block sizes from 1 to 64 KiB, Zipf mixed with sequential scans
//! (every 20,000 requests a scan of 5,000 blocks that are not reused
//! soon), each at a capacity of 1% and 10% of the keys' bytes, and a loop
//! over 1.2 times the capacity's blocks.
//!
//! `--trace FILE` replays a recorded trace instead, at 1% and 10% of its
//! distinct keys' bytes. The file is a sequence of 12-byte records, no
//! header: the key as a little-endian `u64`, then the block's bytes as a
//! little-endian `u32`.

use std::collections::HashMap;
use std::hash::BuildHasher;

use axonal::cache::{
    BlockBuf, BlockCache, BlockKind, BlockSource, CacheConfig, CacheError, Clock, Eviction, Lru,
    S3Fifo,
};
use axonal::graph::generate::SplitMix64;

/// One request: a block and its size.
#[derive(Debug, Clone, Copy)]
struct Request {
    key: u64,
    bytes: u32,
}

/// A trace and the capacity to replay it at.
struct Run {
    name: String,
    requests: std::sync::Arc<Vec<Request>>,
    capacity: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut requests = 2_000_000;
    let mut file = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => requests = args.next().ok_or("--requests N")?.parse()?,
            "--trace" => file = Some(args.next().ok_or("--trace FILE")?),
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    let runs = match file {
        Some(path) => recorded_runs(&path)?,
        None => generated_runs(requests),
    };
    println!(
        "| trace | capacity | BlockCache | S3Fifo | Lru | Clock | quick_cache | qc 1 shard | moka | BlockCache >= quick_cache |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for run in &runs {
        let ratios = [
            block_cache(run),
            simulated::<S3Fifo>(run),
            simulated::<Lru>(run),
            simulated::<Clock>(run),
            quick_cache_sync(run),
            quick_cache_unsync(run),
            moka(run),
        ];
        let cells: Vec<String> = ratios
            .iter()
            .map(|r| format!("{:.2}%", r * 100.0))
            .collect();
        let beats = ratios[0] >= ratios[4] && ratios[0] >= ratios[5];
        println!(
            "| {} | {} | {} | {} |",
            run.name,
            mib(run.capacity),
            cells.join(" | "),
            if beats { "yes" } else { "NO" }
        );
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

// ---------------------------------------------------------------- traces

/// Keys of the Zipf traces.
const KEYS: usize = 100_000;

/// The generated traces, each at its capacities.
fn generated_runs(requests: usize) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut at_capacities = |name: String, trace: Vec<Request>, keys_bytes: u64| {
        let trace = std::sync::Arc::new(trace);
        for percent in [1, 10] {
            runs.push(Run {
                name: format!("{name}, {percent}% of keys"),
                requests: trace.clone(),
                capacity: keys_bytes * percent / 100,
            });
        }
    };
    for alpha in [0.8, 1.0, 1.2] {
        let trace = zipf_trace(alpha, requests, 1, fixed_size);
        at_capacities(format!("zipf {alpha:.1}"), trace, KEYS as u64 * 4096);
    }
    let varied_bytes = (0..KEYS as u64)
        .map(|r| u64::from(varied_size(key_of(r))))
        .sum();
    at_capacities(
        "zipf 1.0, 1-64 KiB".to_string(),
        zipf_trace(1.0, requests, 2, varied_size),
        varied_bytes,
    );
    at_capacities(
        "zipf 1.0 + scans".to_string(),
        zipf_with_scans(requests),
        KEYS as u64 * 4096,
    );
    let blocks = KEYS / 10;
    let looped = (blocks + blocks / 5) as u64;
    runs.push(Run {
        name: "loop over 1.2x capacity".to_string(),
        requests: std::sync::Arc::new(
            (0..requests as u64)
                .map(|i| Request {
                    key: key_of(i % looped),
                    bytes: 4096,
                })
                .collect(),
        ),
        capacity: blocks as u64 * 4096,
    });
    runs
}

/// The key of rank `rank`: a bijection, so popular keys are spread over
/// the hash space rather than consecutive.
fn key_of(rank: u64) -> u64 {
    (rank + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn fixed_size(_key: u64) -> u32 {
    4096
}

/// 1 KiB to 64 KiB, by powers of two, fixed per key.
fn varied_size(key: u64) -> u32 {
    1024 << (SplitMix64::new(key).next_u64() % 7)
}

/// Draws ranks `0..n` with probability proportional to `1 / (rank + 1)^alpha`
/// (an inverse-CDF table and a binary search).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, alpha: f64) -> Zipf {
        let mut sum = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|r| {
                sum += (r as f64).powf(-alpha);
                sum
            })
            .collect();
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut SplitMix64) -> u64 {
        let u = rng.next_f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64
    }
}

fn zipf_trace(alpha: f64, requests: usize, seed: u64, size: fn(u64) -> u32) -> Vec<Request> {
    let zipf = Zipf::new(KEYS, alpha);
    let mut rng = SplitMix64::new(seed);
    (0..requests)
        .map(|_| {
            let key = key_of(zipf.sample(&mut rng));
            Request {
                key,
                bytes: size(key),
            }
        })
        .collect()
}

/// Zipf 1.0 with a scan of 5,000 blocks every 20,000 requests; scans walk
/// a range of 10 x KEYS blocks, so a scanned block comes back only after
/// 40 M requests.
fn zipf_with_scans(requests: usize) -> Vec<Request> {
    let zipf = Zipf::new(KEYS, 1.0);
    let mut rng = SplitMix64::new(3);
    let mut scanned = 0u64;
    let mut trace = Vec::with_capacity(requests);
    while trace.len() < requests {
        let key = if trace.len() % 20_000 < 5_000 {
            scanned += 1;
            key_of(KEYS as u64 + scanned % (10 * KEYS as u64))
        } else {
            key_of(zipf.sample(&mut rng))
        };
        trace.push(Request { key, bytes: 4096 });
    }
    trace
}

/// The trace in `path` (see the module docs for the format).
fn recorded_runs(path: &str) -> Result<Vec<Run>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path)?;
    if bytes.len() % 12 != 0 {
        return Err(format!("{path}: {} bytes, not a multiple of 12", bytes.len()).into());
    }
    let trace: Vec<Request> = bytes
        .chunks_exact(12)
        .map(|r| Request {
            key: u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
            bytes: u32::from_le_bytes(r[8..].try_into().expect("4 bytes")),
        })
        .collect();
    let mut sizes = HashMap::new();
    for r in &trace {
        sizes.insert(r.key, u64::from(r.bytes));
    }
    let keys_bytes: u64 = sizes.values().sum();
    let trace = std::sync::Arc::new(trace);
    Ok([1, 10]
        .map(|percent| Run {
            name: format!("{path}, {percent}% of keys"),
            requests: trace.clone(),
            capacity: keys_bytes * percent / 100,
        })
        .into())
}

// ---------------------------------------------------------------- caches

/// Makes every block of a trace at its size (zeroed).
struct Sized(HashMap<u64, u32>);

impl BlockSource for Sized {
    type Key = u64;

    fn read(&self, key: u64, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        buf.resize(self.0.get(&key).copied().unwrap_or(0) as usize);
        Ok(BlockKind::Bytes)
    }

    fn len(&self, key: u64) -> Option<usize> {
        self.0.get(&key).map(|&n| n as usize)
    }
}

/// The block cache's hit ratio on `run`.
fn block_cache(run: &Run) -> f64 {
    let sizes = run.requests.iter().map(|r| (r.key, r.bytes)).collect();
    let cache: BlockCache<Sized> =
        BlockCache::new(Sized(sizes), CacheConfig::new(run.capacity as usize))
            .expect("a valid configuration");
    for r in run.requests.iter() {
        // A block larger than the capacity is a miss every time.
        let _ = cache.get(r.key);
    }
    let stats = cache.stats();
    stats.tiers[0].hits as f64 / run.requests.len() as f64
}

/// A shard of the block cache reduced to its bookkeeping: which key is in
/// which slot, how many bytes each holds, and the policy.
struct SimulatedShard<P: Eviction> {
    policy: P,
    slot_of: HashMap<u64, u32>,
    key_in: Vec<u64>,
    bytes_in: Vec<u64>,
    free: Vec<u32>,
    resident: u64,
    capacity: u64,
}

impl<P: Eviction> SimulatedShard<P> {
    fn new(capacity: u64, slots: usize) -> Self {
        SimulatedShard {
            policy: P::new(capacity as usize, slots),
            slot_of: HashMap::with_capacity(slots),
            key_in: Vec::new(),
            bytes_in: Vec::new(),
            free: Vec::new(),
            resident: 0,
            capacity,
        }
    }

    /// Whether `request` hits; on a miss the block is loaded.
    fn access(&mut self, request: Request, hash: u64) -> bool {
        if let Some(&slot) = self.slot_of.get(&request.key) {
            if P::EXCLUSIVE_HIT {
                self.policy.hit_exclusive(slot);
            } else {
                self.policy.hit(slot);
            }
            return true;
        }
        let bytes = u64::from(request.bytes);
        if bytes > self.capacity {
            return false;
        }
        while self.resident + bytes > self.capacity {
            let slot = self.policy.evict(&mut |_| true).expect("nothing is pinned");
            self.slot_of.remove(&self.key_in[slot as usize]);
            self.resident -= self.bytes_in[slot as usize];
            self.free.push(slot);
        }
        let slot = self.free.pop().unwrap_or_else(|| {
            self.key_in.push(0);
            self.bytes_in.push(0);
            (self.key_in.len() - 1) as u32
        });
        self.key_in[slot as usize] = request.key;
        self.bytes_in[slot as usize] = bytes;
        self.slot_of.insert(request.key, slot);
        self.resident += bytes;
        self.policy.insert(slot, hash, request.bytes as usize);
        false
    }
}

/// The blocks `run`'s capacity holds, at the trace's mean block size.
fn blocks_held(run: &Run) -> usize {
    let sample = &run.requests[..run.requests.len().min(100_000)];
    let mean = sample.iter().map(|r| u64::from(r.bytes)).sum::<u64>() / sample.len().max(1) as u64;
    (run.capacity / mean.max(1)).max(1) as usize
}

fn simulated<P: Eviction>(run: &Run) -> f64 {
    let mut shard = SimulatedShard::<P>::new(run.capacity, blocks_held(run));
    let hasher = std::hash::RandomState::new();
    let hits = run
        .requests
        .iter()
        .filter(|&&r| shard.access(r, hasher.hash_one(r.key)))
        .count();
    hits as f64 / run.requests.len() as f64
}

#[derive(Clone)]
struct Bytes;

impl quick_cache::Weighter<u64, u32> for Bytes {
    fn weight(&self, _key: &u64, bytes: &u32) -> u64 {
        u64::from(*bytes)
    }
}

fn quick_cache_sync(run: &Run) -> f64 {
    let cache = quick_cache::sync::Cache::with_weighter(blocks_held(run), run.capacity, Bytes);
    let hits = run
        .requests
        .iter()
        .filter(|r| {
            let hit = cache.get(&r.key).is_some();
            if !hit {
                cache.insert(r.key, r.bytes);
            }
            hit
        })
        .count();
    hits as f64 / run.requests.len() as f64
}

fn quick_cache_unsync(run: &Run) -> f64 {
    let mut cache =
        quick_cache::unsync::Cache::with_weighter(blocks_held(run), run.capacity, Bytes);
    let hits = run
        .requests
        .iter()
        .filter(|r| {
            let hit = cache.get(&r.key).is_some();
            if !hit {
                cache.insert(r.key, r.bytes);
            }
            hit
        })
        .count();
    hits as f64 / run.requests.len() as f64
}

fn moka(run: &Run) -> f64 {
    let cache: moka::sync::Cache<u64, u32> = moka::sync::Cache::builder()
        .max_capacity(run.capacity)
        .weigher(|_key, bytes: &u32| *bytes)
        .build();
    let hits = run
        .requests
        .iter()
        .filter(|r| {
            let hit = cache.get(&r.key).is_some();
            if !hit {
                cache.insert(r.key, r.bytes);
            }
            hit
        })
        .count();
    cache.run_pending_tasks();
    hits as f64 / run.requests.len() as f64
}
