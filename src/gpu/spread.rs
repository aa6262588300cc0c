//! [`GpuSpreader`]: spreading on the device, one lane per query, behind the
//! shared hop driver.
//!
//! The driver runs on the host as for every backend (validation, seeds,
//! the pull-or-push choice, gates, statistics); each hop is one submission
//! of device kernels, after which only the lanes' counters (frontier size,
//! its out-edges, nodes reached: 64 bytes a lane) come back for the
//! driver's next decision. Ranking runs on the device too (compaction,
//! rank keys, radix select), so a query reads back only its top-k.
//!
//! Results are the same bits as [`Spreader`](crate::spread::Spreader)'s:
//! every contribution is the CPU's `f32` multiply and add (never fused:
//! SPIR-V `NoContraction`), sums are 64-bit fixed point (atomic adds on
//! push hops, plain sums on pull hops, order-free either way) saturated
//! where the CPU saturates, and a node settles in `f64` as on the CPU.

use std::sync::Arc;

use super::GpuError;
use super::device::{Context, Gpu};
use super::graph::GpuGraph;
use super::kernel::{Binding, Kernel, Launch, PUSH_TEAM, TILE, counter, groups};
use super::memory::{Buffer, DescriptorSet, KernelTimes, Place, Recorder, Stream};
use super::select;
use crate::spread::driver::{self, Driver, FrontierSize, HopBackend, HopKind, HopStep};
use crate::spread::{
    Activation, HopPlan, MAX_BATCH, Seed, SpreadError, SpreadParams, SpreadStats, SpreaderConfig,
};

/// One seed as the seeding kernel reads it (`seed.wgsl`'s `SeedEntry`).
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct SeedEntry {
    lane: u32,
    node: u32,
    activation: f32,
    /// Place on the first frontier, or `u32::MAX`.
    slot: u32,
}

/// Workgroups pushing the heavy frontier nodes together.
const PUSH_HEAVY_GROUPS: u32 = 1024;

/// `hop` value of a node not reached (the CPU's `UNREACHED`).
const UNREACHED: u32 = u8::MAX as u32;

/// Runs spreading queries on a [`GpuGraph`], up to `lanes` at once, with
/// results bit-identical to [`Spreader`](crate::spread::Spreader)'s.
///
/// ```no_run
/// use axonal::gpu::{Gpu, GpuGraph, GpuSpreader};
/// use axonal::graph::generate;
/// use axonal::spread::{Seed, SpreadParams};
///
/// let gpu = Gpu::new()?;
/// let graph = generate::barabasi_albert(10_000, 4, 7);
/// let on_device = GpuGraph::upload(&gpu, &graph)?;
/// let mut spreader = GpuSpreader::new(&gpu, graph.node_count())?;
/// let mut results = Vec::new();
/// spreader.spread(&on_device, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut results)?;
/// # Ok::<(), axonal::gpu::GpuError>(())
/// ```
pub struct GpuSpreader {
    ctx: Arc<Context>,
    driver: Driver,
    nodes: usize,
    lanes: usize,
    /// Lanes of the query or batch running.
    active: usize,
    state: LaneState,
    set: DescriptorSet,
    stream: Stream,
    /// Seeds of a batch (host memory the seeding kernel reads).
    seeds: Buffer,
    /// Results each lane's output holds.
    capacity: usize,
    /// Counters, then each lane's output keys and hops, as read back.
    readback: Buffer,
    /// The lanes' counters after the last submission.
    counters: Vec<u32>,
    /// Which half of a lane's list holds the frontier.
    parity: u32,
    /// The device has 64-bit atomics: push hops run as pushes.
    push: bool,
    /// An error of a step that cannot return one (seeding, ranking): the
    /// query fails with it once the driver returns.
    failed: Option<GpuError>,
    /// The graph-sized scratch: each lane's hub chunk sums (pull hops) and
    /// its two lists of heavy frontier nodes (push hops), with the sizes
    /// they hold a lane, and whether they are bound in the descriptor set.
    chunk_sums: Buffer,
    heavy_frontier: Buffer,
    chunk_capacity: u32,
    heavy_capacity: u32,
    fitted: bool,
    /// Invocations per row of a pull hop, if set (else the graph's).
    pull_team: Option<u32>,
    /// Whether the pending sums and strengths are all zero (false after a
    /// run that failed part way: the next one clears them).
    clean: bool,
    ranked: Vec<(u64, u32)>,
}

/// The per-lane arrays on the device.
struct LaneState {
    activation: Buffer,
    hop: Buffer,
    pending: Buffer,
    strength: Buffer,
    gain: Buffer,
    flags: Buffer,
    lists: Buffer,
    blocks: Buffer,
    counters: Buffer,
    keys: Buffer,
    histogram: Buffer,
    /// Each lane's top-k keys and their hops (`capacity` a lane).
    out_keys: Buffer,
    out_hops: Buffer,
}

impl GpuSpreader {
    /// A spreader for graphs of `nodes` nodes, one query at a time.
    pub fn new(gpu: &Gpu, nodes: usize) -> Result<GpuSpreader, GpuError> {
        GpuSpreader::with_lanes(gpu, nodes, 1)
    }

    /// A spreader for graphs of `nodes` nodes running up to `lanes` queries
    /// at once (at most [`MAX_BATCH`]).
    ///
    /// Errors: [`GpuError::MissingFeature`] on a device without 64-bit
    /// integers and floats in shaders; [`GpuError::TooLarge`] where the
    /// lanes' arrays exceed the device's buffers or `u32` indices.
    pub fn with_lanes(gpu: &Gpu, nodes: usize, lanes: usize) -> Result<GpuSpreader, GpuError> {
        let ctx = &gpu.ctx;
        // Every spreading kernel but the pushes (without them every hop
        // pulls).
        let needed = Kernel::ALL.iter().filter(|&&k| {
            !matches!(
                k,
                Kernel::Push | Kernel::PushHeavy | Kernel::Scores | Kernel::ScoresBatch
            )
        });
        if let Some(feature) = needed.filter_map(|k| k.missing(&ctx.info)).next() {
            return Err(GpuError::MissingFeature {
                device: ctx.info.name.clone(),
                feature,
            });
        }
        if lanes == 0 || lanes > MAX_BATCH {
            return Err(SpreadError::InvalidParameter {
                name: "lanes",
                expected: "in 1..=MAX_BATCH",
            }
            .into());
        }
        let cells = (lanes as u64).saturating_mul(nodes as u64);
        if cells.saturating_mul(2) > u64::from(u32::MAX) {
            return Err(GpuError::TooLarge {
                what: "lane lists (u32 indices)",
                bytes: 8 * cells,
                limit: u64::from(u32::MAX) * 4,
            });
        }
        let blocks = blocks(nodes) as u64;
        let dev = |what, bytes| Buffer::new(ctx, what, bytes, Place::Device);
        let state = LaneState {
            activation: dev("activations", 4 * cells)?,
            hop: dev("hops", 4 * cells)?,
            pending: dev("pending sums", 8 * cells)?,
            strength: dev("strengths", 4 * cells)?,
            gain: dev("gains", 4 * cells)?,
            flags: dev("flags", 4 * cells)?,
            lists: dev("frontier lists", 8 * cells)?,
            blocks: dev("compaction tiles", 4 * blocks * lanes as u64)?,
            counters: dev("counters", counter_bytes(lanes))?,
            keys: dev("rank keys", 8 * cells)?,
            histogram: dev("histograms", 4 * 256 * lanes as u64)?,
            out_keys: dev("results", 16)?,
            out_hops: dev("results", 16)?,
        };
        let mut config = SpreaderConfig::for_nodes(nodes);
        let push = ctx.info.atomic64;
        if !push {
            // Every hop pulls; the statistics say so.
            config = config.with_pull_fraction(0.0);
        }
        let mut this = GpuSpreader {
            ctx: ctx.clone(),
            driver: Driver::new(config),
            nodes,
            lanes,
            active: 0,
            set: DescriptorSet::new(ctx)?,
            stream: Stream::new(ctx)?,
            seeds: Buffer::new(ctx, "seeds", 16 * 64, Place::Host)?,
            capacity: 0,
            readback: Buffer::new(ctx, "read-back", counter_bytes(lanes), Place::Host)?,
            counters: vec![0; lanes * counter::PER_LANE],
            parity: 0,
            push,
            failed: None,
            pull_team: None,
            chunk_sums: dev("hub chunk sums", 16)?,
            heavy_frontier: dev("heavy frontier nodes", 16)?,
            chunk_capacity: 0,
            heavy_capacity: 0,
            fitted: false,
            clean: false,
            ranked: Vec::new(),
            state,
        };
        this.bind_state();
        Ok(this)
    }

    fn bind_state(&mut self) {
        let s = &self.state;
        self.set.bind_all(&[
            (Binding::Activation, &s.activation),
            (Binding::Hop, &s.hop),
            (Binding::Pending, &s.pending),
            (Binding::Strength, &s.strength),
            (Binding::Gain, &s.gain),
            (Binding::Flags, &s.flags),
            (Binding::Lists, &s.lists),
            (Binding::Blocks, &s.blocks),
            (Binding::Counters, &s.counters),
            (Binding::Keys, &s.keys),
            (Binding::Histogram, &s.histogram),
            (Binding::OutKeys, &s.out_keys),
            (Binding::OutHops, &s.out_hops),
            (Binding::Seeds, &self.seeds),
        ]);
    }

    /// Nodes of the graphs this spreader serves.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Queries it runs at once.
    pub fn lanes(&self) -> usize {
        self.lanes
    }

    /// Whether push hops run as pushes (the device has 64-bit atomics);
    /// otherwise every hop pulls.
    pub fn pushes(&self) -> bool {
        self.push
    }

    /// The configuration of the driver's choices.
    pub fn config(&self) -> SpreaderConfig {
        self.driver.config
    }

    /// Turns per-kernel timing on the device on or off (timestamps after
    /// every launch: a little slower). Errors on a device without
    /// timestamps on its compute queue.
    pub fn profile(&mut self, on: bool) -> Result<(), GpuError> {
        self.stream.profile(on)
    }

    /// Device time per kernel over the queries run while profiling.
    pub fn kernel_times(&self) -> &KernelTimes {
        &self.stream.times
    }

    /// Forgets the kernel times.
    pub fn clear_kernel_times(&mut self) {
        self.stream.times.clear();
    }

    /// Sets how many invocations sum each row of a pull hop (a power of two
    /// from 1 to 32; rows of more than 256 in-edges take a workgroup
    /// whatever this says), or `None` for the graph's default: the largest
    /// power of two up to its average in-degree. A knob for
    /// `cargo bench --bench gpu` to tune on a device; results never depend
    /// on it.
    pub fn set_pull_team(&mut self, team: Option<u32>) -> Result<(), GpuError> {
        if let Some(t) = team
            && !(t.is_power_of_two() && t <= 32)
        {
            return Err(SpreadError::InvalidParameter {
                name: "pull_team",
                expected: "a power of two from 1 to 32",
            }
            .into());
        }
        self.pull_team = team;
        Ok(())
    }

    /// Sets the driver's choices (when to pull, as for every backend). On a
    /// device without 64-bit atomics every hop pulls whatever it says.
    pub fn set_config(&mut self, config: SpreaderConfig) {
        self.driver = Driver::new(if self.push {
            config
        } else {
            config.with_pull_fraction(0.0)
        });
    }

    /// Bytes of device memory held.
    pub fn memory_bytes(&self) -> u64 {
        let s = &self.state;
        [
            &s.activation,
            &s.hop,
            &s.pending,
            &s.strength,
            &s.gain,
            &s.flags,
            &s.lists,
            &s.blocks,
            &s.counters,
            &s.keys,
            &s.histogram,
            &s.out_keys,
            &s.out_hops,
            &self.seeds,
            &self.readback,
            &self.chunk_sums,
            &self.heavy_frontier,
        ]
        .iter()
        .map(|b| b.bytes)
        .sum()
    }

    /// Runs one query and writes its ranked results into `results`
    /// (cleared first): [`Spreader::spread`](crate::spread::Spreader::spread)
    /// on the device.
    pub fn spread(
        &mut self,
        graph: &GpuGraph,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, GpuError> {
        self.spread_gated(graph, seeds, params, results, |_| true)
    }

    /// [`spread`](Self::spread), asking `gate` before every hop whether it
    /// runs.
    pub fn spread_gated(
        &mut self,
        graph: &GpuGraph,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
        mut gate: impl FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, GpuError> {
        let mut out = [core::mem::take(results)];
        let outcome = self.run(graph, &[seeds], params, &mut out, &mut gate);
        *results = core::mem::take(&mut out[0]);
        outcome
    }

    /// Runs every query of `queries` (at most [`lanes`](Self::lanes)), one
    /// lane each, and writes query `q`'s ranked results into `results[q]`
    /// (resized to the batch). The statistics are the batch's: frontiers
    /// and edges summed over its lanes.
    pub fn spread_batch<Q: AsRef<[Seed]>>(
        &mut self,
        graph: &GpuGraph,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut Vec<Vec<Activation>>,
    ) -> Result<SpreadStats, GpuError> {
        if queries.len() > self.lanes {
            return Err(SpreadError::InvalidParameter {
                name: "queries",
                expected: "at most the spreader's lanes",
            }
            .into());
        }
        let before = results.len();
        results.resize_with(before.max(queries.len()), Vec::new);
        let outcome = self.run(
            graph,
            queries,
            params,
            &mut results[..queries.len()],
            &mut |_| true,
        );
        results.truncate(if outcome.is_ok() {
            queries.len()
        } else {
            before
        });
        outcome
    }

    fn run<Q: AsRef<[Seed]>>(
        &mut self,
        graph: &GpuGraph,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut [Vec<Activation>],
        gate: &mut dyn FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, GpuError> {
        if !graph.on(&self.ctx) {
            return Err(GpuError::OtherDevice);
        }
        self.fit(graph)?;
        self.set.bind_all(&[
            (Binding::OutOffsets, &graph.out[0]),
            (Binding::OutTargets, &graph.out[1]),
            (Binding::OutWeights, &graph.out[2]),
            (Binding::InOffsets, &graph.inc[0]),
            (Binding::InSources, &graph.inc[1]),
            (Binding::InWeights, &graph.inc[2]),
            (Binding::Fan, &graph.fan),
            (Binding::HeavyRows, &graph.heavy_rows),
            (Binding::HeavyChunks, &graph.heavy_chunks),
        ]);
        self.active = queries.len();
        self.failed = None;
        let stats = driver::run(self, graph, queries, params, results, gate);
        let outcome = match self.failed.take() {
            Some(e) => Err(e),
            None => stats,
        };
        if matches!(outcome, Err(ref e) if !matches!(e, GpuError::Spread(_))) {
            self.clean = false;
        }
        outcome
    }

    /// Sizes the graph-dependent scratch for `graph` (grown, never shrunk;
    /// both made before either is replaced).
    fn fit(&mut self, graph: &GpuGraph) -> Result<(), GpuError> {
        let (chunks, heavy) = (graph.chunk_count, graph.push_heavy_count);
        if self.fitted && chunks <= self.chunk_capacity && heavy <= self.heavy_capacity {
            return Ok(());
        }
        let chunks = chunks.max(self.chunk_capacity);
        let heavy = heavy.max(self.heavy_capacity);
        let lanes = self.lanes as u64;
        let ctx = &self.ctx;
        let sums = Buffer::new(
            ctx,
            "hub chunk sums",
            8 * lanes * u64::from(chunks),
            Place::Device,
        )?;
        let lists = Buffer::new(
            ctx,
            "heavy frontier nodes",
            8 * lanes * u64::from(heavy),
            Place::Device,
        )?;
        (self.chunk_sums, self.heavy_frontier) = (sums, lists);
        (self.chunk_capacity, self.heavy_capacity) = (chunks, heavy);
        self.set.bind(Binding::ChunkSums, &self.chunk_sums);
        self.set.bind(Binding::HeavyFrontier, &self.heavy_frontier);
        self.fitted = true;
        Ok(())
    }

    /// Activation of every node after the last query (lane 0), by node id
    /// (read back from the device: for inspection, not the hot path).
    pub fn activations(&mut self) -> Result<Vec<f32>, GpuError> {
        let mut out = vec![0f32; self.nodes];
        self.read_lane(|s| &s.activation, &mut out)?;
        Ok(out)
    }

    /// The hop at which every node was first reached in the last query
    /// (lane 0; `None`: not reached).
    pub fn hops(&mut self) -> Result<Vec<Option<u8>>, GpuError> {
        let mut raw = vec![0u32; self.nodes];
        self.read_lane(|s| &s.hop, &mut raw)?;
        Ok(raw
            .into_iter()
            .map(|h| (h != UNREACHED).then_some(h as u8))
            .collect())
    }

    fn read_lane<T: bytemuck::Pod>(
        &mut self,
        array: impl Fn(&LaneState) -> &Buffer,
        out: &mut [T],
    ) -> Result<(), GpuError> {
        let bytes = size_of_val(out) as u64;
        let host = Buffer::new(&self.ctx, "read-back", bytes, Place::Host)?;
        let src = array(&self.state);
        self.stream.run(None, |r| r.copy(src, 0, &host, 0, bytes))?;
        host.read(0, out);
        Ok(())
    }

    /// The launch parameters every kernel of this run shares.
    fn launch(&self, graph: &GpuGraph) -> Launch {
        Launch {
            nodes: self.nodes as u32,
            lanes: self.active.max(1) as u32,
            parity: self.parity,
            blocks: blocks(self.nodes),
            fan_len: graph.fan_len,
            heavy_capacity: self.heavy_capacity,
            ..Launch::default()
        }
    }

    /// Submits `work` and reads the counters back.
    fn submit(
        &mut self,
        work: impl FnOnce(&Recorder<'_>, &LaneState, &Buffer),
    ) -> Result<(), GpuError> {
        let (state, readback) = (&self.state, &self.readback);
        let bytes = counter_bytes(self.active.max(1));
        self.stream.run(Some(&self.set), |r| {
            work(r, state, readback);
            r.copy(&state.counters, 0, readback, 0, bytes);
        })?;
        let n = self.active.max(1) * counter::PER_LANE;
        self.readback.read(0, &mut self.counters[..n]);
        Ok(())
    }

    fn lane_counters(&self) -> impl Iterator<Item = &[u32]> {
        self.counters.chunks(counter::PER_LANE).take(self.active)
    }

    /// Seeds the lanes: merged on the host exactly as the CPU merges them,
    /// written by the seeding kernel.
    fn seed<Q: AsRef<[Seed]>>(
        &mut self,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) -> Result<(), GpuError> {
        let mut entries = Vec::new();
        let mut init = vec![0u32; queries.len().max(1) * counter::PER_LANE];
        for (lane, seeds) in queries.iter().enumerate() {
            let mut merged: Vec<(u32, usize, f32)> = seeds
                .as_ref()
                .iter()
                .enumerate()
                .map(|(i, s)| (s.node, i, s.activation))
                .collect();
            merged.sort_unstable_by_key(|&(node, i, _)| (node, i));
            let mut slot = 0;
            let mut reached = 0;
            for run in merged.chunk_by(|a, b| a.0 == b.0) {
                let activation = run.iter().fold(0f32, |a, s| (a + s.2).min(1.0));
                if activation > 0.0 {
                    reached += 1;
                    let on_frontier = spreads && activation >= theta0;
                    entries.push(SeedEntry {
                        lane: lane as u32,
                        node: run[0].0,
                        activation,
                        slot: if on_frontier { slot } else { u32::MAX },
                    });
                    slot += u32::from(on_frontier);
                }
            }
            let c = &mut init[lane * counter::PER_LANE..];
            c[counter::CUR_LEN] = slot;
            c[counter::REACHED] = reached;
        }
        let bytes = size_of_val(entries.as_slice()) as u64;
        if bytes > self.seeds.bytes {
            self.seeds = Buffer::new(&self.ctx, "seeds", bytes.next_power_of_two(), Place::Host)?;
            self.set.bind(Binding::Seeds, &self.seeds);
        }
        self.seeds.write(0, &entries);
        self.readback.write(0, &init);
        self.parity = 0;
        let launch = Launch {
            nodes: self.nodes as u32,
            items: entries.len() as u32,
            heavy_capacity: self.heavy_capacity,
            ..Launch::default()
        };
        let init_bytes = size_of_val(init.as_slice()) as u64;
        // The lanes in use start unreached; pending sums and strengths are
        // zero between hops already (settling and pulling clear what they
        // use), unless a run failed part way.
        let cells = (queries.len().max(1) * self.nodes) as u64;
        let clean = core::mem::replace(&mut self.clean, true);
        self.submit(|r, s, readback| {
            if cells > 0 {
                r.fill_range(&s.activation, 0, 4 * cells, 0);
                r.fill_range(&s.hop, 0, 4 * cells, UNREACHED);
            }
            if !clean {
                r.fill(&s.pending, 0);
                r.fill(&s.strength, 0);
            }
            r.copy(readback, 0, &s.counters, 0, init_bytes);
            if launch.items > 0 {
                r.dispatch_flat(Kernel::Seed, &launch, groups(launch.items as usize));
            }
        })
    }

    /// Ranks each lane's reached nodes on the device and reads back the
    /// top `params.top_k` of each.
    fn rank_lanes(
        &mut self,
        graph_launch: Launch,
        params: &SpreadParams,
        results: &mut [Vec<Activation>],
    ) -> Result<(), GpuError> {
        let k = params.top_k.min(self.nodes);
        if k == 0 || self.active == 0 {
            results.iter_mut().for_each(Vec::clear);
            return Ok(());
        }
        self.reserve_results(k)?;
        let lanes = self.active;
        let launch = Launch {
            min_activation: params.min_activation,
            k: k as u32,
            capacity: self.capacity as u32,
            count_slot: counter::RANK_COUNT as u32,
            ..graph_launch
        };
        let n = self.nodes;
        let cap = self.capacity as u64;
        let out_base = counter_bytes(self.lanes);
        let all_lanes = self.lanes as u64;
        self.submit(|r, s, readback| {
            r.dispatch(Kernel::RankFlag, &launch, groups(n));
            compact(r, &launch);
            r.dispatch(Kernel::RankKeys, &launch, groups(n));
            select::record(r, &launch, &s.histogram, n);
            r.dispatch(Kernel::RankHops, &launch, groups(k));
            r.copy(&s.out_keys, 0, readback, out_base, 8 * cap * lanes as u64);
            r.copy(
                &s.out_hops,
                0,
                readback,
                out_base + 8 * cap * all_lanes,
                4 * cap * lanes as u64,
            );
        })?;
        for (lane, results) in results.iter_mut().enumerate() {
            // Exactly min(k, candidates) by radix select's construction.
            let count =
                (self.counters[lane * counter::PER_LANE + counter::OUT_COUNT] as usize).min(k);
            let mut keys = vec![0u64; count];
            let mut hops = vec![0u32; count];
            self.readback
                .read(out_base + 8 * cap * lane as u64, &mut keys);
            self.readback.read(
                out_base + 8 * cap * self.lanes as u64 + 4 * cap * lane as u64,
                &mut hops,
            );
            self.ranked.clear();
            self.ranked.extend(keys.into_iter().zip(hops));
            self.ranked.sort_unstable_by_key(|&(key, _)| key);
            results.clear();
            results.extend(self.ranked.iter().map(|&(key, hop)| {
                let activation = f32::from_bits(!((key >> 32) as u32));
                driver::activation_at(key as u32, activation, hop as u8, params)
            }));
        }
        Ok(())
    }

    /// Makes the result buffers hold `k` results a lane.
    fn reserve_results(&mut self, k: usize) -> Result<(), GpuError> {
        if k <= self.capacity {
            return Ok(());
        }
        let k = k.next_power_of_two().min(self.nodes.max(1));
        let lanes = self.lanes as u64;
        let ctx = &self.ctx;
        let keys = Buffer::new(ctx, "results", 8 * k as u64 * lanes, Place::Device)?;
        let hops = Buffer::new(ctx, "results", 4 * k as u64 * lanes, Place::Device)?;
        let readback = Buffer::new(
            ctx,
            "read-back",
            counter_bytes(self.lanes) + 12 * k as u64 * lanes,
            Place::Host,
        )?;
        self.state.out_keys = keys;
        self.state.out_hops = hops;
        self.readback = readback;
        self.capacity = k;
        self.set.bind(Binding::OutKeys, &self.state.out_keys);
        self.set.bind(Binding::OutHops, &self.state.out_hops);
        Ok(())
    }
}

/// Compaction of the lanes' flags into the lists' other half (three
/// launches), its total in `launch.count_slot`.
fn compact(r: &Recorder<'_>, launch: &Launch) {
    let tiles = launch.blocks.min(65_535);
    r.dispatch(Kernel::CompactCount, launch, tiles);
    r.dispatch(Kernel::CompactOffsets, launch, 1);
    r.dispatch(Kernel::CompactScatter, launch, tiles);
}

/// Compaction tiles of `nodes` nodes.
fn blocks(nodes: usize) -> u32 {
    nodes.div_ceil(TILE as usize).max(1) as u32
}

fn counter_bytes(lanes: usize) -> u64 {
    (lanes * counter::PER_LANE * 4) as u64
}

impl<'a> HopBackend<&'a GpuGraph> for GpuSpreader {
    type Results = [Vec<Activation>];
    type Error = GpuError;

    fn node_count(&self) -> usize {
        self.nodes
    }

    fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    fn start<Q: AsRef<[Seed]>>(
        &mut self,
        _graph: &'a GpuGraph,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        if let Err(e) = self.seed(queries, theta0, spreads) {
            self.failed = Some(e);
        }
    }

    fn frontier(&self, _graph: &'a GpuGraph) -> FrontierSize {
        if self.failed.is_some() {
            return FrontierSize::default();
        }
        self.lane_counters()
            .fold(FrontierSize::default(), |f, c| FrontierSize {
                nodes: f.nodes + c[counter::CUR_LEN] as usize,
                edges: f.edges + u64::from(c[counter::CUR_EDGES]),
            })
    }

    fn reached_count(&self) -> usize {
        self.lane_counters()
            .map(|c| c[counter::REACHED] as usize)
            .sum()
    }

    fn hop(&mut self, graph: &'a GpuGraph, step: HopStep) -> Result<(), GpuError> {
        let launch = Launch {
            hop: u32::from(step.hop.index),
            decay_scaled: step.decay_scaled,
            threshold: step.hop.threshold,
            spreads_on: u32::from(step.hop.spreads_on),
            fan_mode: GpuGraph::fan_mode(step.fan),
            count_slot: counter::NEXT_LEN as u32,
            ..self.launch(graph)
        };
        let longest = self
            .lane_counters()
            .map(|c| c[counter::CUR_LEN] as usize)
            .max()
            .unwrap_or(0);
        let pull = step.kind == HopKind::Pull || !self.push;
        // Whether any lane's frontier holds a node of more than
        // PUSH_HEAVY out-edges (the counters of the last submission).
        let heavy_now = self.lane_counters().any(|c| c[counter::CUR_HEAVY] > 0);
        let n = self.nodes;
        let team = self.pull_team.unwrap_or(graph.pull_team);
        let light = Launch { team, ..launch };
        let hubs = Launch {
            items: graph.chunk_count,
            hubs: graph.heavy_count,
            ..launch
        };
        self.submit(|r, _, _| {
            if pull {
                r.dispatch(Kernel::StrengthAssign, &launch, groups(longest));
                // Hub chunks and the other rows write different memory.
                if hubs.hubs > 0 {
                    r.dispatch_alongside(Kernel::PullHeavy, &hubs, hubs.items.min(65_535));
                }
                r.dispatch(Kernel::PullLight, &light, groups(n * team as usize));
                if hubs.hubs > 0 {
                    r.dispatch(Kernel::PullFinish, &hubs, groups(hubs.hubs as usize));
                }
                r.dispatch(Kernel::StrengthReset, &launch, groups(longest));
            } else {
                // Atomic adds commute: light and heavy frontier nodes alike
                // (pushed side by side, then one barrier).
                let team_groups = groups(longest * PUSH_TEAM as usize);
                if heavy_now {
                    r.dispatch_alongside(Kernel::Push, &launch, team_groups);
                    r.dispatch(Kernel::PushHeavy, &launch, PUSH_HEAVY_GROUPS);
                } else {
                    r.dispatch(Kernel::Push, &launch, team_groups);
                }
            }
            r.dispatch(Kernel::Settle, &launch, groups(n));
            if step.hop.spreads_on {
                compact(r, &launch);
            }
            r.dispatch(Kernel::Advance, &launch, 1);
        })?;
        self.parity ^= 1;
        Ok(())
    }

    fn rank(&mut self, params: &SpreadParams, results: &mut [Vec<Activation>]) {
        if self.failed.is_some() {
            return;
        }
        let launch = Launch {
            nodes: self.nodes as u32,
            lanes: self.active.max(1) as u32,
            parity: self.parity,
            blocks: blocks(self.nodes),
            ..Launch::default()
        };
        if let Err(e) = self.rank_lanes(launch, params, results) {
            self.failed = Some(e);
        }
    }
}
