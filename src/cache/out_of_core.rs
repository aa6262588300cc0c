//! Out-of-core spreading: queries over an `.axg` file whose edges live in a
//! [`BlockCache`], within a memory budget.
//!
//! [`OutOfCoreSpreader`] is one more backend of the spreading driver: the
//! same validation, direction choice, gate, statistics and ranking as
//! [`Spreader`](crate::spread::Spreader), and the same workspace; only
//! where a hop's rows come from differs. A push hop sorts its frontier by
//! node and walks it block by block, pinning a block's targets and weights
//! while it pushes that block's rows; a pull hop streams every in-edge
//! block in order. Each contribution is rounded to fixed point and summed
//! with saturating integer additions, which do not depend on order, so the
//! results are **bit-identical** to [`Spreader`](crate::spread::Spreader)'s
//! on the same graph in memory, whatever the budget (down to a few blocks).
//!
//! What stays in memory besides the cache: the file's two offset arrays
//! ([`AxgBlocks::memory_bytes`]) and each spreader's workspace
//! ([`OutOfCoreSpreader::memory_bytes`]). A workspace covers every node
//! only with what is indexed by node (9 bytes a node); its lists hold the
//! nodes a query reaches and grow with the queries, so a graph opened
//! [`with_budget`](OutOfCoreGraph::with_budget) pays for them from its
//! decoded tier as they grow: the cache gets whatever the queries leave,
//! instead of room set aside for a query that reaches every node.

use alloc::vec::Vec;
use std::path::Path;

use super::axg::{AxgBlock, AxgBlocks, embedding_norms_at};
use super::prefetch::Prefetcher;
use super::{
    BlockBuf, BlockCache, BlockRef, BlockSource, CacheConfig, CacheError, CacheStats, Eviction,
    S3Fifo,
};
use crate::layout::EmbeddingView;
use crate::simd::{Kernels, TopK};
use crate::spread::driver::{self, Driver, FrontierSize, GraphShape, HopBackend, HopStep};
use crate::spread::workspace::{Allowance, EdgeRows, Workspace};
use crate::spread::{
    Activation, FrontierEntry, HopPlan, RowBlock, Seed, SpreadParams, SpreadStats, SpreaderConfig,
    pull_block,
};
use crate::store::Section;
use std::sync::{Arc, Mutex, PoisonError};

/// An `.axg` file opened for out-of-core spreading: its offsets in memory,
/// its edge blocks in a [`BlockCache`] (policy `P`), shared by every
/// [`OutOfCoreSpreader`] that queries it (`Sync`).
pub struct OutOfCoreGraph<P: Eviction = S3Fifo> {
    cache: Arc<BlockCache<AxgBlocks, P>>,
    prefetcher: Option<Prefetcher<Ahead>>,
    /// Every block a reader asked for, in order, while recording.
    trace: Option<Mutex<Vec<AxgBlock>>>,
    /// Whether the spreaders' workspaces are paid for from the decoded
    /// tier's budget ([`with_budget`](Self::with_budget)).
    pays_workspaces: bool,
}

/// What the prefetcher is asked to load.
enum Ahead {
    /// One block.
    Block(AxgBlock),
    /// The out-edge blocks of a node's out-neighbours: the rows its next
    /// hop pushes from (a seed's two-hop look-ahead).
    Neighbours(u32),
}

impl<P: Eviction> core::fmt::Debug for OutOfCoreGraph<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutOfCoreGraph")
            .field("path", &self.blocks().path())
            .field("nodes", &self.node_count())
            .field("edges", &self.edge_count())
            .finish_non_exhaustive()
    }
}

impl<P: Eviction> OutOfCoreGraph<P> {
    /// Opens the file at `path` (see [`AxgBlocks::open`]) with blocks of
    /// about `block_edges` edges, cached within `config`.
    pub fn open(
        path: impl AsRef<Path>,
        block_edges: usize,
        config: CacheConfig,
    ) -> Result<Self, CacheError> {
        let blocks = AxgBlocks::open(path, block_edges)?;
        Ok(OutOfCoreGraph {
            cache: Arc::new(BlockCache::new(blocks, config)?),
            prefetcher: None,
            trace: None,
            pays_workspaces: false,
        })
    }

    /// Opens the file at `path` for `spreaders` spreaders within `budget`
    /// bytes of RAM in all: the offsets, then a cache of what is left
    /// (three quarters decoded, a quarter compressed, of what the
    /// spreaders' first workspaces leave), with blocks of about
    /// `block_edges` edges ([`DEFAULT_BLOCK_EDGES`](super::DEFAULT_BLOCK_EDGES)
    /// is a good start). A spreader's workspace is paid for from the
    /// decoded tier's budget while it runs queries on this graph: its
    /// per-node arrays when it first does, its lists as a query's reach
    /// grows them (blocks are evicted to make room), so the budget covers
    /// the cache and the workspaces at every instant; a query that would
    /// need more than the budget allows ends with [`CacheError::Budget`].
    /// Refused ([`CacheError::Budget`]) when the decoded tier could not
    /// hold `spreaders` first workspaces beside twice the largest blocks
    /// the spreaders and a prefetcher pin at once (two a spreader, one the
    /// prefetcher).
    pub fn with_budget(
        path: impl AsRef<Path>,
        budget: usize,
        spreaders: usize,
        block_edges: usize,
    ) -> Result<Self, CacheError> {
        let blocks = AxgBlocks::open(path, block_edges)?;
        let workspaces = spreaders * OutOfCoreSpreader::workspace_bytes(blocks.node_count());
        let block = blocks.largest_block().max(64);
        let pinned = 2 * (2 * spreaders.max(1) + 1) * block;
        let left = budget.saturating_sub(blocks.memory_bytes());
        let least = workspaces + pinned.div_ceil(3) * 4;
        if left < least {
            return Err(CacheError::Budget {
                needed: blocks.memory_bytes() + least,
                budget,
                pinned: 0,
            });
        }
        let compressed = (left - workspaces) / 4;
        let config = CacheConfig::new(left - compressed).compressed(compressed);
        Ok(OutOfCoreGraph {
            cache: Arc::new(BlockCache::new(blocks, config)?),
            prefetcher: None,
            trace: None,
            pays_workspaces: true,
        })
    }

    /// This graph with a prefetcher (see `prefetch.rs`'s docs): a thread
    /// that loads the blocks the spreaders will read next (a push hop's
    /// blocks as soon as its frontier is sorted, a pull hop's next blocks
    /// in order, a query's seeds' blocks and their out-neighbours' at
    /// admission), with at most `bytes` asked for and not yet loaded (0:
    /// none; an eighth of the decoded tier is a good start). Results do not
    /// change; its use shows in [`CacheStats::prefetch`].
    pub fn with_prefetch(mut self, bytes: usize) -> Result<Self, CacheError> {
        self.prefetcher = None;
        if bytes > 0 {
            let cache = Arc::clone(&self.cache);
            // A seed's look-ahead loads at most a quarter of the bound.
            let most = (bytes / (8 * self.blocks().largest_block().max(1))).max(1);
            self.prefetcher = Some(Prefetcher::start(bytes, move |ahead| {
                // Errors are the reader's to meet: it reads the block again.
                let _ = match ahead {
                    Ahead::Block(key) => cache.prefetch(key).map(drop),
                    Ahead::Neighbours(v) => neighbours_ahead(&cache, v, most),
                };
            })?);
        }
        Ok(self)
    }

    /// Asks the prefetcher (if any) for the out-edge blocks (targets and
    /// weights) of `index`; whether it took them.
    fn ahead(&self, out: bool, index: u32) -> bool {
        let Some(prefetcher) = &self.prefetcher else {
            return false;
        };
        let (targets, weights) = if out {
            (Section::OutTargets, Section::OutWeights)
        } else {
            (Section::InTargets, Section::InWeights)
        };
        let blocks = self.blocks();
        let bytes = |section| {
            blocks
                .len(AxgBlock { section, index })
                .map_or(0, BlockBuf::storage_for)
        };
        [targets, weights].into_iter().all(|section| {
            prefetcher.issue(Ahead::Block(AxgBlock { section, index }), bytes(section))
        })
    }

    /// Asks the prefetcher for a query's first hops: the seeds' out-edge
    /// blocks, then their out-neighbours'.
    fn seeds_ahead(&self, seeds: impl Iterator<Item = u32> + Clone) {
        let Some(prefetcher) = &self.prefetcher else {
            return;
        };
        for v in seeds.clone() {
            self.ahead(true, self.blocks().out_block_of(v));
        }
        // What a look-ahead loads at most (see `with_prefetch`): a quarter
        // of the bound, two blocks at least.
        let most = (prefetcher.limit() / 4).max(2 * self.blocks().largest_block());
        for v in seeds {
            prefetcher.issue(Ahead::Neighbours(v), most);
        }
    }

    /// Nodes of the graph.
    pub fn node_count(&self) -> usize {
        self.blocks().node_count()
    }

    /// Edges of the graph.
    pub fn edge_count(&self) -> usize {
        self.blocks().edge_count()
    }

    /// The file's blocks (offsets, block plan).
    pub fn blocks(&self) -> &AxgBlocks {
        self.cache.source()
    }

    /// The cache of its blocks.
    pub fn cache(&self) -> &BlockCache<AxgBlocks, P> {
        &self.cache
    }

    /// Starts (or stops, and forgets) recording every block the spreaders
    /// and scans ask the cache for (not the prefetcher's): the trace to
    /// tune a cache on ([`take_trace`](Self::take_trace)).
    pub fn record_trace(&mut self, on: bool) {
        self.trace = on.then(|| Mutex::new(Vec::new()));
    }

    /// The blocks asked for since recording started or was last taken, in
    /// order (empty when not recording).
    pub fn take_trace(&self) -> Vec<AxgBlock> {
        self.trace.as_ref().map_or_else(Vec::new, |t| {
            core::mem::take(&mut *t.lock().unwrap_or_else(PoisonError::into_inner))
        })
    }

    /// Block `key` through the cache, recorded if recording.
    fn get(&self, key: AxgBlock) -> Result<BlockRef, CacheError> {
        if let Some(trace) = &self.trace {
            trace
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(key);
        }
        self.cache.get(key)
    }

    /// Whether a prefetcher runs ([`with_prefetch`](Self::with_prefetch)).
    pub fn prefetches(&self) -> bool {
        self.prefetcher.is_some()
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Offers every node to `top`, scored by the cosine similarity of its
    /// embedding row with `query`, reading the rows block by block through
    /// the cache: `top` then holds exactly what
    /// [`Kernels::top_k_cosine`] over the whole matrix gives (the seeds of
    /// a recall query). `Ok(false)` if the file has no embeddings.
    pub fn top_k_cosine(
        &self,
        kernels: Kernels,
        query: &[f32],
        top: &mut TopK,
    ) -> Result<bool, CacheError> {
        let blocks = self.blocks();
        let dim = blocks.embedding_dim();
        if dim == 0 {
            return Ok(false);
        }
        let stride = blocks.embedding_stride();
        for index in 0..blocks.embedding_blocks() as u32 {
            let rows = blocks.embedding_rows(index);
            let block = self.get(AxgBlock {
                section: Section::Embeddings,
                index,
            })?;
            let count = rows.len();
            let norms_at = embedding_norms_at(count, stride) / 4;
            let floats: &[f32] = block.as_slice().unwrap_or_default();
            if floats.len() != norms_at + count {
                return Err(CacheError::Corrupt {
                    reason: "a cached embedding block does not hold its rows",
                });
            }
            // Lengths checked above, alignment by `BlockBuf`; the values
            // were checked when the block was read from the file.
            let view =
                EmbeddingView::new_unchecked(dim, &floats[..count * stride], &floats[norms_at..]);
            kernels
                .top_k_cosine_from(rows.start, query, view, top)
                .map_err(CacheError::Embedding)?;
        }
        Ok(true)
    }

    /// Copies node `v`'s embedding row (its `dim` values) into `out`,
    /// through the cache. `Ok(false)` if the file has no embeddings.
    ///
    /// # Panics
    /// If `v` is not a node or `out` is not `dim` long.
    pub fn embedding(&self, v: u32, out: &mut [f32]) -> Result<bool, CacheError> {
        let blocks = self.blocks();
        let dim = blocks.embedding_dim();
        if dim == 0 {
            return Ok(false);
        }
        assert!((v as usize) < self.node_count(), "node {v} out of range");
        assert_eq!(out.len(), dim, "one value per dimension");
        let index = v / blocks.embedding_rows(0).len() as u32;
        let block = self.get(AxgBlock {
            section: Section::Embeddings,
            index,
        })?;
        let row = (v - blocks.embedding_rows(index).start) as usize;
        let stride = blocks.embedding_stride();
        let floats: &[f32] = block.as_slice().unwrap_or_default();
        let values = floats
            .get(row * stride..row * stride + dim)
            .ok_or(CacheError::Corrupt {
                reason: "a cached embedding block does not hold its rows",
            })?;
        out.copy_from_slice(values);
        Ok(true)
    }

    /// Out-degree of `v`.
    #[inline]
    fn out_degree(&self, v: u32) -> u32 {
        let o = self.blocks().out_offsets();
        (o[v as usize + 1] - o[v as usize]) as u32
    }
}

impl<P: Eviction> GraphShape for &OutOfCoreGraph<P> {
    fn node_count(&self) -> usize {
        OutOfCoreGraph::node_count(self)
    }

    fn edge_count(&self) -> usize {
        OutOfCoreGraph::edge_count(self)
    }
}

/// Runs spreading queries over an [`OutOfCoreGraph`], one at a time, in a
/// workspace sized to the graph once; results bit-identical to
/// [`Spreader`](crate::spread::Spreader)'s: each contribution is summed in
/// fixed point, so the order blocks are read in changes nothing.
/// Many queries at once: one spreader per thread, all on one graph.
///
/// ```no_run
/// use axonal::cache::{DEFAULT_BLOCK_EDGES, OutOfCoreGraph, OutOfCoreSpreader};
/// use axonal::spread::{Seed, SpreadParams};
///
/// let graph: OutOfCoreGraph =
///     OutOfCoreGraph::with_budget("graph.axg", 256 << 20, 1, DEFAULT_BLOCK_EDGES)?;
/// let mut spreader = OutOfCoreSpreader::new(graph.node_count());
/// let mut results = Vec::new();
/// spreader.spread(&graph, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut results)?;
/// println!("{}", graph.stats());
/// # Ok::<(), axonal::cache::CacheError>(())
/// ```
pub struct OutOfCoreSpreader {
    driver: Driver,
    ws: Workspace,
    /// The cache whose budget pays for `ws`.
    payer: Payer,
}

/// Nodes a new spreader's lists have room for; they grow with the queries'
/// reach.
const FIRST_REACH: usize = 4096;

/// What pays for memory held beside a cache: its decoded tier's budget.
trait Outside: Send + Sync {
    fn reserve(&self, bytes: usize) -> Result<(), CacheError>;
    fn release(&self, bytes: usize);
}

impl<P: Eviction> Outside for BlockCache<AxgBlocks, P> {
    fn reserve(&self, bytes: usize) -> Result<(), CacheError> {
        self.reserve_outside(bytes)
    }

    fn release(&self, bytes: usize) {
        self.release_outside(bytes);
    }
}

/// The cache a spreader's workspace is paid for by, and how much it paid.
/// Weak: a spreader does not keep a dropped graph's cache alive; the bytes
/// go back when the spreader moves to another graph or is dropped.
#[derive(Default)]
struct Payer {
    cache: Option<std::sync::Weak<dyn Outside>>,
    bytes: usize,
}

impl Payer {
    /// Makes `cache` (`None`: no one) the payer of a workspace of `bytes`
    /// (the previous payer, if another, given its bytes back).
    fn switch_to(
        &mut self,
        cache: Option<&Arc<dyn Outside>>,
        bytes: usize,
    ) -> Result<(), CacheError> {
        let same = match (&self.cache, cache) {
            (Some(old), Some(new)) => core::ptr::addr_eq(old.as_ptr(), Arc::as_ptr(new)),
            (old, new) => old.is_none() && new.is_none(),
        };
        if same {
            return Ok(());
        }
        self.give_back();
        if let Some(cache) = cache {
            cache.reserve(bytes)?;
            self.cache = Some(Arc::downgrade(cache));
            self.bytes = bytes;
        }
        Ok(())
    }

    /// The payer while a query grows the workspace: `cache` if it is the
    /// one switched to.
    fn paying<'a>(&'a mut self, cache: &'a dyn Outside) -> Paying<'a> {
        Paying {
            cache: self.cache.is_some().then_some(cache),
            bytes: &mut self.bytes,
        }
    }

    fn give_back(&mut self) {
        if let Some(cache) = self.cache.take().and_then(|c| c.upgrade()) {
            cache.release(self.bytes);
        }
        self.bytes = 0;
    }
}

impl Drop for Payer {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// A payer while a query grows the workspace (no one: growth is free).
struct Paying<'a> {
    cache: Option<&'a dyn Outside>,
    bytes: &'a mut usize,
}

impl Allowance for Paying<'_> {
    type Error = CacheError;

    fn reserve(&mut self, bytes: usize) -> Result<(), CacheError> {
        if let Some(cache) = self.cache {
            cache.reserve(bytes)?;
            *self.bytes += bytes;
        }
        Ok(())
    }

    fn release(&mut self, bytes: usize) {
        if let Some(cache) = self.cache {
            cache.release(bytes);
            *self.bytes -= bytes;
        }
    }
}

impl core::fmt::Debug for OutOfCoreSpreader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutOfCoreSpreader")
            .field("nodes", &self.node_count())
            .finish_non_exhaustive()
    }
}

impl OutOfCoreSpreader {
    /// A spreader for graphs of `nodes` nodes, configured by
    /// [`SpreaderConfig::for_nodes`].
    pub fn new(nodes: usize) -> OutOfCoreSpreader {
        OutOfCoreSpreader::with_config(nodes, SpreaderConfig::for_nodes(nodes))
    }

    /// A spreader for graphs of `nodes` nodes.
    pub fn with_config(nodes: usize, config: SpreaderConfig) -> OutOfCoreSpreader {
        OutOfCoreSpreader {
            driver: Driver::new(config),
            ws: Workspace::growing(nodes, config, FIRST_REACH),
            payer: Payer::default(),
        }
    }

    /// Number of nodes this spreader serves.
    pub fn node_count(&self) -> usize {
        self.ws.state.len()
    }

    /// Bytes of workspace held: what [`workspace_bytes`](Self::workspace_bytes)
    /// says at first, more once queries that reach many nodes grew it (at
    /// most about 45 bytes a node).
    pub fn memory_bytes(&self) -> usize {
        self.ws.memory_bytes()
    }

    /// Bytes of workspace [`new`](Self::new)`(nodes)` holds, without making
    /// one: about 9 bytes a node (activations, hops) and a sparse
    /// accumulator; its lists grow with the nodes a query reaches (32 bytes
    /// each), and its first pull hop adds 4 bytes a node.
    pub fn workspace_bytes(nodes: usize) -> usize {
        Workspace::bytes_for(nodes, SpreaderConfig::for_nodes(nodes), FIRST_REACH)
    }

    /// Runs one query and writes its ranked results into `results`
    /// (cleared first). Bad seeds or parameters are refused before the
    /// query runs (the workspace may have grown for the seeds by then); a
    /// block that cannot be read, or a workspace the budget cannot grow,
    /// ends the query with its error, `results` untouched.
    pub fn spread<P: Eviction>(
        &mut self,
        graph: &OutOfCoreGraph<P>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, CacheError> {
        self.spread_gated(graph, seeds, params, results, |_| true)
    }

    /// [`spread`](Self::spread), asking `gate` before every hop whether it
    /// runs (as [`Spreader::spread_gated`](crate::spread::Spreader::spread_gated)).
    pub fn spread_gated<P: Eviction>(
        &mut self,
        graph: &OutOfCoreGraph<P>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
        mut gate: impl FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, CacheError> {
        let cache: Arc<dyn Outside> = graph.cache.clone();
        let payer = graph.pays_workspaces.then_some(&cache);
        self.payer.switch_to(payer, self.ws.memory_bytes())?;
        self.ws
            .grow_for_seeds(seeds.len(), &mut self.payer.paying(&*cache))?;
        driver::run(self, graph, &[seeds], params, results, &mut gate)
    }
}

impl<'g, P: Eviction> HopBackend<&'g OutOfCoreGraph<P>> for OutOfCoreSpreader {
    type Results = Vec<Activation>;
    type Error = CacheError;

    fn node_count(&self) -> usize {
        self.ws.state.len()
    }

    fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    fn start<Q: AsRef<[Seed]>>(
        &mut self,
        graph: &'g OutOfCoreGraph<P>,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        if spreads {
            graph.seeds_ahead(
                queries
                    .iter()
                    .flat_map(|q| q.as_ref().iter().map(|s| s.node)),
            );
        }
        self.ws.start(queries, theta0, spreads);
    }

    fn frontier(&self, graph: &'g OutOfCoreGraph<P>) -> FrontierSize {
        self.ws.frontier_size(&CachedRows { graph })
    }

    fn reached_count(&self) -> usize {
        self.ws.reached_count()
    }

    fn hop(&mut self, graph: &'g OutOfCoreGraph<P>, step: HopStep) -> Result<(), CacheError> {
        self.ws
            .grow_for_hop(&step, &mut self.payer.paying(&*graph.cache))?;
        self.ws.hop(&mut CachedRows { graph }, step)
    }

    fn rank(&mut self, params: &SpreadParams, results: &mut Vec<Activation>) {
        self.ws.rank(params, results);
    }
}

/// Prefetches the out-edge blocks of `v`'s out-neighbours (at most `most`
/// blocks), reading `v`'s own row through the cache.
fn neighbours_ahead<P: Eviction>(
    cache: &BlockCache<AxgBlocks, P>,
    v: u32,
    most: usize,
) -> Result<(), CacheError> {
    let blocks = cache.source();
    let b = blocks.out_block_of(v);
    let row = cache.get(AxgBlock {
        section: Section::OutTargets,
        index: b,
    })?;
    let (offsets, starts) = (blocks.out_offsets(), blocks.starts(true));
    let base = offsets[starts[b as usize] as usize];
    let targets: &[u32] = row.as_slice().unwrap_or_default();
    let range = (offsets[v as usize] - base) as usize..(offsets[v as usize + 1] - base) as usize;
    let mut wanted = Vec::with_capacity(most);
    for &t in targets.get(range).unwrap_or_default() {
        let index = blocks.out_block_of(t);
        if wanted.contains(&index) {
            continue;
        }
        if wanted.len() == most {
            break;
        }
        wanted.push(index);
    }
    // Unpinned before loading: the prefetcher holds one block at a time.
    drop(row);
    for index in wanted {
        for section in [Section::OutTargets, Section::OutWeights] {
            cache.prefetch(AxgBlock { section, index })?;
        }
    }
    Ok(())
}

/// Blocks a hop asks the prefetcher for ahead of the one it reads, at most
/// (besides the prefetcher's byte bound): further ahead, prefetched blocks
/// would push out the ones about to be read.
const READ_AHEAD: usize = 8;

/// A graph's rows read block by block through its cache.
struct CachedRows<'g, P: Eviction> {
    graph: &'g OutOfCoreGraph<P>,
}

impl<P: Eviction> CachedRows<'_, P> {
    /// Block `index` of `targets`' and `weights`' sections, pinned.
    fn pin(
        &self,
        targets: Section,
        weights: Section,
        index: u32,
    ) -> Result<[BlockRef; 2], CacheError> {
        let graph = self.graph;
        Ok([
            graph.get(AxgBlock {
                section: targets,
                index,
            })?,
            graph.get(AxgBlock {
                section: weights,
                index,
            })?,
        ])
    }
}

/// A block's edges as slices, checked against the length its rows need.
fn edges(blocks: &[BlockRef; 2], len: u64) -> Result<(&[u32], &[f32]), CacheError> {
    let corrupt = CacheError::Corrupt {
        reason: "a cached edge block does not hold its rows' edges",
    };
    let (targets, weights) = (blocks[0].as_slice::<u32>(), blocks[1].as_slice::<f32>());
    match (targets, weights) {
        (Some(t), Some(w)) if t.len() as u64 == len && w.len() as u64 == len => Ok((t, w)),
        _ => Err(corrupt),
    }
}

impl<P: Eviction> EdgeRows for CachedRows<'_, P> {
    type Error = CacheError;

    #[inline]
    fn out_degree(&self, v: u32) -> u32 {
        self.graph.out_degree(v)
    }

    fn push_rows(
        &mut self,
        frontier: &mut [FrontierEntry],
        mut row: impl FnMut(FrontierEntry, &[u32], &[f32]),
    ) -> Result<(), CacheError> {
        let blocks = self.graph.blocks();
        let (offsets, starts) = (blocks.out_offsets(), blocks.starts(true));
        frontier.sort_unstable_by_key(|e| e.node);
        if self.graph.prefetches() {
            // The blocks after the first (this thread reads that one now),
            // at most `READ_AHEAD` of them.
            let mut last = frontier.first().map(|e| blocks.out_block_of(e.node));
            let mut issued = 0;
            for e in frontier.iter() {
                let b = last.unwrap_or(0);
                if e.node >= starts[b as usize + 1] {
                    let next = blocks.out_block_of(e.node);
                    if issued == READ_AHEAD || !self.graph.ahead(true, next) {
                        break;
                    }
                    issued += 1;
                    last = Some(next);
                }
            }
        }
        let mut rest = &*frontier;
        while let Some(first) = rest.first() {
            let b = blocks.out_block_of(first.node) as usize;
            let end = starts[b + 1];
            let in_block = rest.partition_point(|e| e.node < end);
            let base = offsets[starts[b] as usize];
            let pinned = self.pin(Section::OutTargets, Section::OutWeights, b as u32)?;
            let (targets, weights) = edges(&pinned, offsets[end as usize] - base)?;
            for &e in &rest[..in_block] {
                let v = e.node as usize;
                let range = (offsets[v] - base) as usize..(offsets[v + 1] - base) as usize;
                row(e, &targets[range.clone()], &weights[range]);
            }
            rest = &rest[in_block..];
        }
        Ok(())
    }

    fn pull_rows(
        &mut self,
        strength: &[f32],
        mut settle: impl FnMut(u32, u64),
    ) -> Result<(), CacheError> {
        let blocks = self.graph.blocks();
        let (offsets, starts) = (blocks.in_offsets(), blocks.starts(false));
        let n = blocks.node_count();
        let mut ahead = 1;
        for (b, rows) in starts.windows(2).enumerate() {
            // Sequential read-ahead: the next blocks, as far as the
            // prefetcher's bound allows.
            ahead = ahead.max(b + 1);
            while ahead + 1 < starts.len()
                && ahead <= b + READ_AHEAD
                && self.graph.ahead(false, ahead as u32)
            {
                ahead += 1;
            }
            let offsets = &offsets[rows[0] as usize..=rows[1] as usize];
            let pinned = self.pin(Section::InTargets, Section::InWeights, b as u32)?;
            let (sources, weights) = edges(&pinned, offsets[offsets.len() - 1] - offsets[0])?;
            let block = RowBlock::new(rows[0], offsets, sources, weights, n).ok_or(
                CacheError::Corrupt {
                    reason: "a cached in-edge block names a source out of range",
                },
            )?;
            pull_block(block, strength, 1.0, &mut settle);
        }
        Ok(())
    }
}
