//! [`DistributedSpreader`]: one worker's share of a query, behind the
//! shared hop driver.
//!
//! Every worker runs the same queries through `spread` in the same order
//! (each is an executor of the one driver loop); the driver's decisions
//! depend only on the frontier's size summed over every worker, which each
//! learns in the same round, so all take the same steps, and pull exactly
//! where `Spreader` pulls. A push hop: each worker pushes its own frontier
//! along its own rows' out-edges, combining contributions per destination
//! (integer sums: combining and arrival order change nothing), sends every
//! remote destination's sum to its owner, and settles its own nodes from
//! what it received, with the very code `Spreader` settles with. A pull
//! hop (wide frontiers): each worker sends its frontier's strengths to
//! every worker (a node's strength once, not a contribution per edge),
//! and each pulls its own rows' in-edges with `Spreader`'s pull kernel.
//! Results: each worker's top-k, merged exactly by every worker.

use std::time::Duration;

use timely::worker::Worker;

use super::batch::Batch;
use super::input::Input;
use super::net::{Message, Net, RANK, ROUNDS, SEEDED, hop_phases};
use super::{DistributedError, Partition};
use crate::spread::accumulator::{Accumulate, SparseAccumulator};
use crate::spread::driver::{self, Driver, FrontierSize, HopBackend, HopKind, HopStep};
use crate::spread::fixed::strength;
use crate::spread::list::NodeList;
use crate::spread::pull::pull;
use crate::spread::push::push_row;
use crate::spread::state::{FrontierEntry, NodeState, key_node, top_keys};
use crate::spread::{Activation, MAX_HOPS, Seed, SpreadParams, SpreadStats, SpreaderConfig};

/// How long a worker waits for a round before it fails the query
/// ([`DistributedError::Timeout`]), unless set. A round lasts as long as
/// its slowest worker's hop, page faults of a cold mapped file included:
/// set it above that on large graphs.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Slots of the table that combines contributions to other workers'
/// nodes: sent whenever half full, so that it stays in L2 (768 KiB) and
/// its memory bounded. A table sized for a hop's every edge missed cache on
/// each add, and combining cost more time than it saved bytes in one
/// process (`examples/distributed.rs --no-combine`).
const COMBINE_SLOTS: usize = 1 << 16;

/// What one worker sent and waited for in the last query or batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Bytes of contributions every worker sent to the others, per hop
    /// (index `h - 1` for hop `h`; summed over all workers).
    pub hop_bytes: [u64; MAX_HOPS],
    /// Bytes of everything else this worker sent: frontier sizes, results
    /// and (batches) each query's statistics.
    pub control_bytes: u64,
    /// Time this worker spent in rounds once its own work of the round
    /// was done: handing its records over, the exchange, and waiting for
    /// the slowest worker (how far the partition is from balanced for this
    /// work).
    pub waited: Duration,
}

impl ExchangeStats {
    /// Contribution bytes of every hop, all workers.
    pub fn total_hop_bytes(&self) -> u64 {
        self.hop_bytes.iter().sum()
    }
}

/// One worker's spreader: its own nodes' state, its end of the dataflow.
///
/// Build one on every worker of a timely computation (in the same order
/// as the workers' other dataflows), each with its own [`Partition`] of
/// the same graph, then run the same queries on all of them: each returns
/// the whole query's results, the same bits as [`Spreader`](crate::spread::Spreader)
/// on the whole graph.
pub struct DistributedSpreader {
    pub(super) driver: Driver,
    pub(super) net: Net,
    state: NodeState,
    frontier: NodeList<FrontierEntry>,
    next: NodeList<FrontierEntry>,
    /// Sums for other workers' nodes, one per destination (combining).
    remote: SparseAccumulator,
    combining: bool,
    /// Pull hops: every frontier node's strength, 0 elsewhere (allocated
    /// at the first pull hop: one `f32` a node of the whole graph).
    strengths: Vec<f32>,
    /// The nodes whose strength is set.
    pulled_from: Vec<u32>,
    ranked: Vec<u64>,
    merged: Vec<(u64, u8)>,
    /// The frontier and reach summed over every worker.
    pub(super) global: FrontierSize,
    pub(super) reached: u64,
    pub(super) stats: ExchangeStats,
    pub(super) query: u64,
    /// An error of a step that cannot return one (seeding, ranking).
    pub(super) failed: Option<DistributedError>,
    /// The partition it was made with: its graph's fingerprint and rows.
    holds: (u64, core::ops::Range<u32>),
    /// Batches' workspace ([`spread_batch`](Self::spread_batch)).
    pub(super) batch: Batch,
    /// The current query's fingerprint, and what computes them.
    fingerprint: u64,
    fingerprints: Fingerprints,
    /// Queries given to one worker ([`spread_from`](Self::spread_from)).
    pub(super) input: Input,
}

impl DistributedSpreader {
    /// Joins the computation of `worker` with `partition` (this worker's
    /// part; every worker must call this). Checks, in one round, that
    /// every worker holds the same graph and the parts tile it: a wrong
    /// part or another graph is refused here.
    pub fn new(
        worker: &mut Worker,
        partition: &Partition<'_>,
    ) -> Result<DistributedSpreader, DistributedError> {
        DistributedSpreader::with_timeout(worker, partition, DEFAULT_TIMEOUT)
    }

    /// [`new`](Self::new) with a round `timeout` instead of
    /// [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(
        worker: &mut Worker,
        partition: &Partition<'_>,
        timeout: Duration,
    ) -> Result<DistributedSpreader, DistributedError> {
        let mut net = Net::new(worker, timeout);
        if net.peers() != partition.parts() {
            return Err(DistributedError::Workers {
                workers: net.peers(),
                parts: partition.parts(),
            });
        }
        if net.index() != partition.index() {
            return Err(DistributedError::Mismatch {
                what: "part index (worker i must hold part i)",
                worker: net.index(),
            });
        }
        let rows = partition.rows();
        net.start(0);
        net.broadcast(Message::Hello {
            worker: net.index() as u32,
            nodes: partition.node_count() as u64,
            edges: partition.edge_count() as u64,
            fingerprint: partition.fingerprint(),
            first: rows.start,
            end: rows.end,
        });
        let mut hellos = Vec::new();
        net.finish(worker, |m| hellos.push(m))?;
        check_hellos(partition, &hellos)?;
        let n = partition.node_count();
        let own = rows.len();
        Ok(DistributedSpreader {
            driver: Driver::new(SpreaderConfig::for_nodes(n)),
            net,
            state: NodeState::new(rows.start, own),
            frontier: NodeList::with_capacity(own),
            next: NodeList::with_capacity(own),
            remote: SparseAccumulator::new(COMBINE_SLOTS),
            combining: true,
            strengths: Vec::new(),
            pulled_from: Vec::new(),
            ranked: Vec::new(),
            merged: Vec::new(),
            global: FrontierSize::default(),
            reached: 0,
            stats: ExchangeStats::default(),
            query: 0,
            failed: None,
            holds: (partition.fingerprint(), partition.rows()),
            batch: Batch::default(),
            fingerprint: 0,
            fingerprints: Fingerprints::default(),
            input: Input::default(),
        })
    }

    /// Whether contributions are summed per destination before they are
    /// sent (the default); without, every edge's contribution travels on
    /// its own (to measure what combining saves; results are the same).
    pub fn set_combining(&mut self, on: bool) {
        self.combining = on;
    }

    /// What was exchanged in the last query.
    pub fn exchange_stats(&self) -> &ExchangeStats {
        &self.stats
    }

    /// This worker's own nodes' activation in the last single query
    /// ([`spread`](Self::spread); 0 elsewhere or unreached).
    pub fn activation(&self, node: u32) -> f32 {
        let base = self.state.base();
        if node >= base && ((node - base) as usize) < self.state.len() {
            self.state.activation(node)
        } else {
            0.0
        }
    }

    /// Runs one query (the same on every worker, in the same order) and
    /// writes its ranked results into `results`: the whole graph's top
    /// `params.top_k`, on every worker.
    pub fn spread(
        &mut self,
        worker: &mut Worker,
        partition: &Partition<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, DistributedError> {
        self.begin(partition, false, &[seeds], params)?;
        let mut run = Run {
            spreader: self,
            worker,
            partition,
        };
        let mut out = [core::mem::take(results)];
        let stats = driver::run(&mut run, partition, &[seeds], params, &mut out, &mut |_| {
            true
        });
        self.stats.waited = self.net.take_waited();
        let [out] = out;
        match (stats, self.failed.take()) {
            (Ok(stats), None) => {
                *results = out;
                Ok(stats)
            }
            (Err(e), _) | (Ok(_), Some(e)) => {
                *results = out;
                results.clear();
                Err(e)
            }
        }
    }

    /// [`share_sizes`](Self::share_sizes) of the single query's frontier.
    fn share_frontier(
        &mut self,
        worker: &mut Worker,
        partition: &Partition<'_>,
        phase: u64,
        hop: usize,
    ) -> Result<(), DistributedError> {
        let out = partition.graph().out_edges();
        let own = FrontierSize {
            nodes: self.frontier.len(),
            edges: self
                .frontier
                .iter()
                .map(|e| u64::from(out.degree(e.node)))
                .sum(),
        };
        let reached = self.state.activated.len();
        self.share_sizes(worker, phase, hop, own, reached)
    }

    /// The frontier summed over every worker in the last round: none once
    /// the query failed (the driver stops, and ranking is skipped).
    pub(super) fn frontier(&self) -> FrontierSize {
        match self.failed {
            Some(_) => FrontierSize::default(),
            None => self.global,
        }
    }

    /// Counts a query (or a `batch`) and checks its `partition`; takes
    /// its fingerprint, which the workers compare in its first round.
    pub(super) fn begin<Q: AsRef<[Seed]>>(
        &mut self,
        partition: &Partition<'_>,
        batch: bool,
        queries: &[Q],
        params: &SpreadParams,
    ) -> Result<(), DistributedError> {
        // Every worker counts the query, even a refused one, so that they
        // stay in step.
        self.query += 1;
        self.failed = None;
        self.fingerprint = self.fingerprints.of(batch, queries, params);
        if self.holds != (partition.fingerprint(), partition.rows()) {
            return Err(DistributedError::Mismatch {
                what: "partition (not the one the spreader was made with)",
                worker: self.net.index(),
            });
        }
        self.stats = ExchangeStats::default();
        self.net.take_waited();
        Ok(())
    }

    /// The round of `phase` of the current query.
    pub(super) fn round(&self, phase: u64) -> u64 {
        self.query * ROUNDS + phase
    }

    /// Tells every worker this one's share of the frontier (`own`) and of
    /// the nodes reached; sums them into `global` and `reached`.
    pub(super) fn share_sizes(
        &mut self,
        worker: &mut Worker,
        phase: u64,
        hop: usize,
        own: FrontierSize,
        reached: usize,
    ) -> Result<(), DistributedError> {
        let sent = self.net.sent;
        self.net.start(self.round(phase));
        let query = self.fingerprint;
        self.net.broadcast(Message::Sizes {
            from: self.net.index() as u32,
            nodes: own.nodes as u64,
            edges: own.edges,
            reached: reached as u64,
            sent,
            query,
        });
        let (mut global, mut reached, mut hop_bytes) = (FrontierSize::default(), 0, 0);
        let mut other = None;
        self.net.finish(worker, |m| {
            if let Message::Sizes {
                from,
                nodes,
                edges,
                reached: r,
                sent,
                query: q,
            } = m
            {
                global.nodes += nodes as usize;
                global.edges += edges;
                reached += r;
                hop_bytes += sent;
                if q != query {
                    other = Some(from as usize);
                }
            }
        })?;
        if let Some(worker) = other {
            // Every worker sees every fingerprint: all fail here alike.
            return Err(DistributedError::Mismatch {
                what: "query (the workers ran different queries or batches)",
                worker,
            });
        }
        self.stats.control_bytes += self.net.sent;
        if hop > 0 {
            self.stats.hop_bytes[hop - 1] = hop_bytes;
        }
        (self.global, self.reached) = (global, reached);
        Ok(())
    }
}

/// Fingerprints of queries: a hash of their seeds and parameters, so that
/// workers that were handed different queries fail them (typed) instead
/// of merging the results of different queries.
#[derive(Default)]
struct Fingerprints {
    /// The last parameters and their hash (engines repeat them).
    params: Option<(SpreadParams, u64)>,
}

impl Fingerprints {
    /// The fingerprint of `queries` (a `batch`, or one query) run with
    /// `params`.
    fn of<Q: AsRef<[Seed]>>(&mut self, batch: bool, queries: &[Q], params: &SpreadParams) -> u64 {
        use core::fmt::Write;
        use xxhash_rust::xxh3::Xxh3;
        /// Feeds formatted text to the hash.
        struct Text<'h>(&'h mut Xxh3);
        impl Write for Text<'_> {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                self.0.update(s.as_bytes());
                Ok(())
            }
        }
        let params_hash = match self.params {
            Some((p, h)) if p == *params => h,
            _ => {
                // `Debug` writes every field, floats so that they read back.
                let mut h = Xxh3::new();
                write!(Text(&mut h), "{params:?}").expect("hashing cannot fail");
                let hash = h.digest();
                self.params = Some((*params, hash));
                hash
            }
        };
        let mut h = Xxh3::new();
        h.update(&params_hash.to_le_bytes());
        h.update(&[u8::from(batch)]);
        h.update(&(queries.len() as u64).to_le_bytes());
        for seeds in queries {
            let seeds = seeds.as_ref();
            h.update(&(seeds.len() as u64).to_le_bytes());
            for seed in seeds {
                h.update(&seed.node.to_le_bytes());
                h.update(&seed.activation.to_bits().to_le_bytes());
            }
        }
        h.digest()
    }
}

/// Writes into `results` the best `top_k` of every worker's best `top_k`
/// (rank keys and hops, in `merged`): exactly the whole graph's (keys are
/// unique, ties broken by id).
pub(super) fn merge_ranked(
    merged: &mut Vec<(u64, u8)>,
    params: &SpreadParams,
    results: &mut Vec<Activation>,
) {
    merged.sort_unstable_by_key(|&(key, _)| key);
    merged.truncate(params.top_k);
    results.clear();
    results.extend(merged.iter().map(|&(key, hop)| {
        let activation = f32::from_bits(!((key >> 32) as u32));
        driver::activation_at(key_node(key), activation, hop, params)
    }));
}

/// Refuses a computation whose workers disagree on the graph or its cut.
fn check_hellos(partition: &Partition<'_>, hellos: &[Message]) -> Result<(), DistributedError> {
    let bounds = partition.bounds();
    let mut seen = vec![false; partition.parts()];
    for &m in hellos {
        let Message::Hello {
            worker,
            nodes,
            edges,
            fingerprint,
            first,
            end,
        } = m
        else {
            continue;
        };
        let worker = worker as usize;
        let mismatch = |what| Err(DistributedError::Mismatch { what, worker });
        if nodes != partition.node_count() as u64 || edges != partition.edge_count() as u64 {
            return mismatch("graph size");
        }
        if fingerprint != partition.fingerprint() {
            return mismatch("graph (fingerprint)");
        }
        if worker >= seen.len()
            || seen[worker]
            || bounds[worker] != first
            || bounds[worker + 1] != end
        {
            return mismatch("part");
        }
        seen[worker] = true;
    }
    match seen.iter().position(|s| !s) {
        Some(worker) => Err(DistributedError::Mismatch {
            what: "part (missing)",
            worker,
        }),
        None => Ok(()),
    }
}

/// Where a push hop's contributions go: this worker's own nodes into its
/// dense state (the CPU's push accumulator), other workers' nodes combined
/// per destination (or, not combining, straight onto the wire). The CPU's
/// `push_row` drives it, prefetching as on one machine.
struct Route<'r, 'g> {
    state: &'r mut NodeState,
    remote: &'r mut SparseAccumulator,
    net: &'r mut Net,
    partition: &'r Partition<'g>,
    rows: core::ops::Range<u32>,
    combining: bool,
}

impl Accumulate for Route<'_, '_> {
    #[inline(always)]
    fn add(&mut self, node: u32, units: u32) {
        if self.rows.contains(&node) {
            self.state.add(node, units);
        } else if self.combining {
            self.remote.add(node, units);
            if self.remote.len() == COMBINE_SLOTS / 2 {
                // Full: send what it holds, and go on combining.
                let (net, partition) = (&mut *self.net, self.partition);
                self.remote.drain(|node, units| {
                    net.send(partition.owner(node), Message::Units { node, units })
                });
            }
        } else {
            let to = self.partition.owner(node);
            self.net.send(to, Message::Units { node, units });
        }
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        if self.rows.contains(&node) {
            self.state.prefetch(node);
        }
    }
}

/// A query in progress: the spreader, the timely worker it steps, and the
/// partition, as the driver's backend.
struct Run<'a, 'g> {
    spreader: &'a mut DistributedSpreader,
    worker: &'a mut Worker,
    partition: &'a Partition<'g>,
}

impl Run<'_, '_> {
    /// A pull hop: the frontier's strengths to every worker, then each
    /// pulls its own rows.
    fn pull_hop(&mut self, step: HopStep) -> Result<(), DistributedError> {
        let s = &mut *self.spreader;
        let (graph, partition) = (self.partition.graph(), self.partition);
        let out = graph.out_edges();
        let h = usize::from(step.hop.index);
        if s.strengths.is_empty() {
            s.strengths = vec![0.0; partition.node_count()];
        }
        let (contributions, sizes) = hop_phases(h);
        s.net.start(s.round(contributions));
        for e in s.frontier.iter() {
            let degree = out.degree(e.node);
            if degree > 0 {
                let strength = strength(e.delta, step.decay_scaled, step.fan, degree);
                s.net.broadcast(Message::Strength {
                    node: e.node,
                    strength,
                });
            }
        }
        let (strengths, pulled_from) = (&mut s.strengths, &mut s.pulled_from);
        let received = s.net.finish(self.worker, |m| {
            if let Message::Strength { node, strength } = m {
                strengths[node as usize] = strength;
                pulled_from.push(node);
            }
        });
        if received.is_ok() {
            let reached_before = s.state.activated.len();
            s.next.clear();
            let (state, next) = (&mut s.state, &mut s.next);
            pull(
                graph.in_edges(),
                partition.rows(),
                &s.strengths,
                1.0,
                state.pull_settler(next, step.hop),
            );
            s.state.record_hops(reached_before, step.hop.index);
            core::mem::swap(&mut s.frontier, &mut s.next);
        }
        for v in s.pulled_from.drain(..) {
            s.strengths[v as usize] = 0.0;
        }
        received?;
        s.share_frontier(self.worker, partition, sizes, h)
    }
}

impl<'a, 'g> HopBackend<&'a Partition<'g>> for Run<'a, 'g> {
    type Results = [Vec<Activation>];
    type Error = DistributedError;

    fn node_count(&self) -> usize {
        self.partition.node_count()
    }

    fn driver(&mut self) -> &mut Driver {
        &mut self.spreader.driver
    }

    fn start<Q: AsRef<[Seed]>>(
        &mut self,
        _graph: &'a Partition<'g>,
        queries: &[Q],
        theta0: f32,
        spreads: bool,
    ) {
        let s = &mut *self.spreader;
        s.state.reset();
        let rows = self.partition.rows();
        // Every seed in order, as the CPU applies them: a node's seeds sum
        // in the same order on its owner.
        for seed in queries.iter().flat_map(AsRef::as_ref) {
            if rows.contains(&seed.node) {
                s.state.seed(seed.node, seed.activation);
            }
        }
        s.frontier.clear();
        if spreads {
            s.state.seed_frontier(&mut s.frontier, theta0);
        }
        if let Err(e) = s.share_frontier(self.worker, self.partition, SEEDED, 0) {
            s.failed = Some(e);
        }
    }

    fn frontier(&self, _graph: &'a Partition<'g>) -> FrontierSize {
        self.spreader.frontier()
    }

    fn reached_count(&self) -> usize {
        self.spreader.reached as usize
    }

    fn hop(&mut self, _graph: &'a Partition<'g>, step: HopStep) -> Result<(), DistributedError> {
        if step.kind == HopKind::Pull {
            return self.pull_hop(step);
        }
        let s = &mut *self.spreader;
        let (graph, partition) = (self.partition.graph(), self.partition);
        let out = graph.out_edges();
        let rows = partition.rows();
        let h = usize::from(step.hop.index);
        let (contributions, sizes) = hop_phases(h);
        s.net.start(s.round(contributions));
        let mut route = Route {
            state: &mut s.state,
            remote: &mut s.remote,
            net: &mut s.net,
            partition,
            rows: rows.clone(),
            combining: s.combining,
        };
        for &e in s.frontier.iter() {
            let (targets, weights) = out.neighbors(e.node);
            push_row(e, targets, weights, step.decay_scaled, step.fan, &mut route);
        }
        let net = &mut s.net;
        s.remote
            .drain(|node, units| net.send(partition.owner(node), Message::Units { node, units }));
        let state = &mut s.state;
        let received = s.net.finish(self.worker, |m| {
            if let Message::Units { node, units } = m {
                state.add(node, units);
            }
        });
        if let Err(e) = received {
            s.state.discard_pending();
            return Err(e);
        }
        let reached_before = s.state.activated.len();
        s.next.clear();
        s.state.drain_dense(&mut s.next, step.hop);
        s.state.record_hops(reached_before, step.hop.index);
        core::mem::swap(&mut s.frontier, &mut s.next);
        s.share_frontier(self.worker, partition, sizes, h)
    }

    fn rank(&mut self, params: &SpreadParams, results: &mut [Vec<Activation>]) {
        let s = &mut *self.spreader;
        if s.failed.is_some() {
            return;
        }
        s.ranked.clear();
        s.state.rank_keys(params.min_activation, &mut s.ranked);
        top_keys(&mut s.ranked, params.top_k);
        s.net.start(s.round(RANK));
        for &key in &s.ranked {
            let hop = s.state.hop(key_node(key));
            s.net.broadcast(Message::Ranked { lane: 0, key, hop });
        }
        let control = s.net.sent;
        s.merged.clear();
        let merged = &mut s.merged;
        if let Err(e) = s.net.finish(self.worker, |m| {
            if let Message::Ranked { key, hop, .. } = m {
                merged.push((key, hop));
            }
        }) {
            s.failed = Some(e);
            return;
        }
        s.stats.control_bytes += control;
        merge_ranked(&mut s.merged, params, &mut results[0]);
    }
}
