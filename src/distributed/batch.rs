//! Batches: up to [`MAX_BATCH`] queries in flight at once on a distributed
//! computation.
//!
//! Why: a round costs every worker a wait for the slowest one and a record
//! per destination and round, whatever it carries, and a wide query's pull
//! hop reads every in-edge of the worker's rows for a single query. A batch
//! shares both: every round carries every query of the batch, and each
//! worker runs the batch lanes of [`MultiSpreader`] over its own rows (one
//! read of an edge serves every query; the workspace holds its own nodes'
//! activations only). A push hop sends each remote target one record of
//! sums per eight queries that reached it (combined in the worker: a
//! target's row sums every contribution it gets there); a pull hop sends
//! every other worker one record per frontier node and eight queries with
//! a strength (its own are in its table already).
//!
//! Every query's results are the bits [`Spreader`](crate::spread::Spreader)
//! gives it alone (the lanes' contract, and integer sums that arrive in
//! any order), and its statistics are those [`MultiSpreader`] reports for
//! it in the same batch: each worker's share, summed in the ranking round.

use timely::worker::Worker;

use super::input::too_many_queries;
use super::net::{Message, RANK, SEEDED, hop_phases};
use super::spreader::merge_ranked;
use super::{DistributedError, DistributedSpreader, Partition};
use crate::spread::driver::{self, Driver, FrontierSize, HopBackend, HopKind, HopStep};
use crate::spread::multi::count_hop;
use crate::spread::multi::lanes::GROUP as LANES;
use crate::spread::state::key_node;
use crate::spread::{
    Activation, BatchStats, MAX_BATCH, MAX_HOPS, MultiSpreader, Seed, SpreadParams, SpreadStats,
};

/// A worker's workspace for batches, kept between them.
#[derive(Default)]
pub(super) struct Batch {
    /// The batch lanes of its own rows: made by the first batch, remade
    /// for a larger one.
    lanes: Option<MultiSpreader>,
    /// `pulled[h - 1]`: whether hop `h` of the current batch pulled.
    pulled: [bool; MAX_HOPS],
    /// Hops the current batch ran.
    hops: usize,
    /// Each query's statistics, summed over every worker.
    stats: Vec<SpreadStats>,
    /// Each query's best results of every worker: rank key and hop.
    merged: Vec<Vec<(u64, u8)>>,
}

impl DistributedSpreader {
    /// Runs a batch of up to [`MAX_BATCH`] queries (the same on every
    /// worker, in the same order as its other queries) in one pass of
    /// rounds, and writes query `q`'s ranked results into `results[q]`
    /// (resized to the batch): each the whole graph's top `params.top_k`,
    /// the same bits as [`Spreader`](crate::spread::Spreader) running the
    /// query alone, on every worker. Each query's statistics are in
    /// [`query_stats`](Self::query_stats).
    ///
    /// The hops run in the direction the batch's union frontier calls
    /// for, as [`MultiSpreader`] runs them; contributions are always
    /// combined per destination ([`set_combining`](Self::set_combining)
    /// applies to single queries). Batches pay where queries overlap
    /// (wide ones share their hops' edges); narrow queries reach disjoint
    /// nodes and run faster one by one with [`spread`](Self::spread).
    ///
    /// Bad queries (more than [`MAX_BATCH`], bad seeds or parameters) are
    /// refused before any round, `results` untouched; a failure during the
    /// batch (a lost worker, a timeout, workers that ran different batches)
    /// fails every query of it, and `results` holds empty lists.
    ///
    /// ```
    /// use axonal::distributed::{DistributedSpreader, Partition};
    /// use axonal::graph::generate;
    /// use axonal::spread::{Seed, SpreadParams, Spreader};
    ///
    /// let graph = std::sync::Arc::new(generate::barabasi_albert(2_000, 3, 7));
    /// let g = graph.clone();
    /// let guards = timely::execute(timely::Config::process(2), move |worker| {
    ///     let part = Partition::new(&*g, worker.peers(), worker.index()).unwrap();
    ///     let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
    ///     let queries = [vec![Seed::new(1, 1.0)], vec![Seed::new(1_500, 0.8)]];
    ///     let mut results = Vec::new();
    ///     spreader
    ///         .spread_batch(worker, &part, &queries, &SpreadParams::default(), &mut results)
    ///         .unwrap();
    ///     results
    /// })
    /// .unwrap();
    /// let mut alone = Spreader::new(graph.node_count());
    /// let mut want = Vec::new();
    /// alone.spread(&*graph, &[Seed::new(1_500, 0.8)], &SpreadParams::default(), &mut want)?;
    /// for results in guards.join() {
    ///     assert_eq!(results.unwrap()[1], want);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spread_batch<Q: AsRef<[Seed]>>(
        &mut self,
        worker: &mut Worker,
        partition: &Partition<'_>,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut Vec<Vec<Activation>>,
    ) -> Result<BatchStats, DistributedError> {
        self.batch.stats.clear();
        self.begin(partition, true, queries, params)?;
        if queries.len() > MAX_BATCH {
            return Err(too_many_queries());
        }
        let lanes_needed = queries.len().max(1);
        if self
            .batch
            .lanes
            .as_ref()
            .is_none_or(|l| l.max_queries() < lanes_needed)
        {
            self.batch.lanes = None;
            self.batch.lanes = Some(MultiSpreader::for_rows(
                partition.node_count(),
                partition.rows(),
                lanes_needed.next_multiple_of(LANES),
                self.driver.config,
            )?);
        }
        let before = results.len();
        results.resize_with(before.max(queries.len()), Vec::new);
        let mut run = BatchRun {
            spreader: self,
            worker,
            partition,
        };
        let outcome = driver::run(
            &mut run,
            partition,
            queries,
            params,
            &mut results[..queries.len()],
            &mut |_| true,
        );
        self.stats.waited = self.net.take_waited();
        match (outcome, self.failed.take()) {
            (Ok(union), None) => {
                results.truncate(queries.len());
                let stats = &self.batch.stats;
                Ok(BatchStats {
                    queries: queries.len() as u32,
                    hops: union.hops,
                    pull_hops: union.pull_hops,
                    edges_scanned: union.edges_scanned,
                    edges_traversed: stats.iter().map(|s| s.edges_traversed).sum(),
                    reached: union.activated,
                })
            }
            (Err(e @ DistributedError::Spread(_)), _) => {
                // Refused before it started: nothing changed.
                results.truncate(before);
                Err(e)
            }
            (Err(e), _) | (Ok(_), Some(e)) => {
                // No partial result presented as whole.
                results.truncate(queries.len());
                results.iter_mut().for_each(Vec::clear);
                self.batch.stats.clear();
                Err(e)
            }
        }
    }

    /// Forgets the last batch's statistics (a batch failed before it ran).
    pub(super) fn batch_failed(&mut self) {
        self.batch.stats.clear();
    }

    /// Each query's statistics in the last batch, as
    /// [`MultiSpreader::query_stats`] reports them for the same batch
    /// (empty after a failed or refused one).
    pub fn query_stats(&self) -> &[SpreadStats] {
        &self.batch.stats
    }
}

/// A batch in progress: the spreader, the timely worker it steps, and the
/// partition, as the driver's backend.
struct BatchRun<'a, 'g> {
    spreader: &'a mut DistributedSpreader,
    worker: &'a mut Worker,
    partition: &'a Partition<'g>,
}

impl BatchRun<'_, '_> {
    fn lanes(&self) -> &MultiSpreader {
        self.spreader
            .batch
            .lanes
            .as_ref()
            .expect("made before the batch runs")
    }

    /// Tells every worker this one's share of the union frontier and of
    /// the nodes reached, in round `phase`.
    fn share(&mut self, phase: u64, hop: usize) -> Result<(), DistributedError> {
        let lanes = self.lanes();
        let nodes = lanes.frontier_nodes();
        let own = FrontierSize {
            nodes: nodes.len(),
            edges: self
                .partition
                .graph()
                .out_edges()
                .degree_sum(nodes.iter().copied()),
        };
        let reached = lanes.reached();
        self.spreader
            .share_sizes(self.worker, phase, hop, own, reached)
    }
}

impl<'a, 'g> HopBackend<&'a Partition<'g>> for BatchRun<'a, 'g> {
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
        let batch = &mut self.spreader.batch;
        batch.hops = 0;
        let lanes = batch.lanes.as_mut().expect("made before the batch runs");
        lanes.start_batch(queries, theta0, spreads);
        if let Err(e) = self.share(SEEDED, 0) {
            self.spreader.failed = Some(e);
        }
    }

    fn frontier(&self, _graph: &'a Partition<'g>) -> FrontierSize {
        self.spreader.frontier()
    }

    fn reached_count(&self) -> usize {
        self.spreader.reached as usize
    }

    /// One hop of every query: the frontier's strengths, then a pull
    /// (strengths to every worker, each pulls its rows) or a push (sums to
    /// the targets' owners, each settles its own).
    fn hop(&mut self, _graph: &'a Partition<'g>, step: HopStep) -> Result<(), DistributedError> {
        let (graph, partition) = (self.partition.graph(), self.partition);
        let h = usize::from(step.hop.index);
        let pull = step.kind == HopKind::Pull;
        let (contributions, sizes) = hop_phases(h);
        let round = self.spreader.round(contributions);
        let DistributedSpreader { net, batch, .. } = &mut *self.spreader;
        (batch.pulled[h - 1], batch.hops) = (pull, h);
        let lanes = batch.lanes.as_mut().expect("made before the batch runs");
        lanes.strengths(graph.out_edges(), &step);
        // A record for a query past the batch, or for a node it should not
        // get, comes from a worker that ran another batch.
        let (queries, nodes, rows) = (
            lanes.query_stats().len(),
            partition.node_count() as u32,
            partition.rows(),
        );
        let mut foreign = false;
        net.start(round);
        let received = if pull {
            for (node, row) in lanes.strength_rows() {
                for (g, strengths) in row.chunks_exact(LANES).enumerate() {
                    if strengths.iter().any(|&s| s != 0.0) {
                        net.send_others(Message::Strengths {
                            node,
                            lane: (g * LANES) as u8,
                            strengths: strengths.try_into().expect("eight lanes"),
                        });
                    }
                }
            }
            // Its own strengths are in the table already.
            lanes.frontier_as_sources();
            net.finish(self.worker, |m| {
                if let Message::Strengths {
                    node,
                    lane,
                    strengths,
                } = m
                {
                    if usize::from(lane) < queries && node < nodes && !rows.contains(&node) {
                        lanes.add_strengths(node, usize::from(lane), &strengths);
                    } else {
                        foreign = true;
                    }
                }
            })
            .and_then(|()| whole(foreign, net.index()))
            .map(|()| lanes.pull_received(graph.in_edges(), &step))
        } else {
            lanes.push(graph.out_edges());
            lanes.send_remote_sums(|node, row| {
                let owner = partition.owner(node);
                for (g, sums) in row.chunks_exact(LANES).enumerate() {
                    if sums.iter().any(|&s| s != 0) {
                        net.send(
                            owner,
                            Message::Sums {
                                node,
                                lane: (g * LANES) as u8,
                                sums: sums.try_into().expect("eight lanes"),
                            },
                        );
                    }
                }
            });
            net.finish(self.worker, |m| {
                if let Message::Sums { node, lane, sums } = m {
                    if usize::from(lane) < queries && rows.contains(&node) {
                        lanes.add_sums(node, usize::from(lane), &sums);
                    } else {
                        foreign = true;
                    }
                }
            })
            .and_then(|()| whole(foreign, net.index()))
            .map(|()| lanes.settle_pushed(&step))
        };
        if let Err(e) = received {
            lanes.forget_touched();
            return Err(e);
        }
        self.share(sizes, h)
    }

    /// Every worker's best results and statistics per query to every
    /// worker; each merges them exactly.
    fn rank(&mut self, params: &SpreadParams, results: &mut [Vec<Activation>]) {
        let s = &mut *self.spreader;
        if s.failed.is_some() {
            return;
        }
        let queries = results.len();
        let round = s.round(RANK);
        let DistributedSpreader {
            net, batch, stats, ..
        } = &mut *s;
        let lanes = batch.lanes.as_mut().expect("made before the batch runs");
        lanes.rank_keys(params, queries);
        net.start(round);
        for (q, keys) in lanes.ranked(queries).iter().enumerate() {
            for &key in keys {
                let hop = lanes.hop_at(key_node(key), q);
                net.broadcast(Message::Ranked {
                    lane: q as u8,
                    key,
                    hop,
                });
            }
        }
        for (q, own) in lanes.query_stats().iter().enumerate() {
            let lane = q as u8;
            net.broadcast(Message::LaneStats {
                lane,
                activated: own.activated,
                traversed: own.edges_traversed,
                pushed: own.edges_scanned,
            });
            for (hop, &nodes) in own.frontier.iter().enumerate().filter(|(_, n)| **n > 0) {
                let hop = hop as u8;
                net.broadcast(Message::LaneFrontier { lane, hop, nodes });
            }
        }
        stats.control_bytes += net.sent;
        batch
            .merged
            .resize_with(batch.merged.len().max(queries), Vec::new);
        batch.merged.iter_mut().for_each(Vec::clear);
        batch.stats.clear();
        batch.stats.resize(queries, SpreadStats::default());
        let (merged, sums) = (&mut batch.merged, &mut batch.stats);
        let mut foreign = false;
        let heard = net.finish(self.worker, |m| match m {
            Message::Ranked { lane, .. }
            | Message::LaneStats { lane, .. }
            | Message::LaneFrontier { lane, .. }
                if usize::from(lane) >= queries =>
            {
                foreign = true;
            }
            Message::LaneFrontier { hop, .. } if usize::from(hop) > MAX_HOPS => {
                foreign = true;
            }
            Message::Ranked { lane, key, hop } => merged[usize::from(lane)].push((key, hop)),
            Message::LaneStats {
                lane,
                activated,
                traversed,
                pushed,
            } => {
                let s = &mut sums[usize::from(lane)];
                s.activated += activated;
                s.edges_traversed += traversed;
                s.edges_scanned += pushed;
            }
            Message::LaneFrontier { lane, hop, nodes } => {
                sums[usize::from(lane)].frontier[usize::from(hop)] += nodes;
            }
            _ => {}
        });
        let heard = heard.and_then(|()| whole(foreign, net.index()));
        if let Err(e) = heard {
            s.failed = Some(e);
            return;
        }
        // Each query's own view of the hops, from its whole frontiers.
        let edges = self.partition.edge_count();
        for stats in &mut batch.stats {
            for h in 1..=batch.hops {
                count_hop(stats, h, batch.pulled[h - 1], edges);
            }
        }
        for (merged, out) in batch.merged.iter_mut().zip(results) {
            merge_ranked(merged, params, out);
        }
    }
}

/// Whether a round's records were all of this worker's batch: if not
/// (`foreign`), the error of a worker that got another batch's records.
fn whole(foreign: bool, worker: usize) -> Result<(), DistributedError> {
    match foreign {
        false => Ok(()),
        true => Err(DistributedError::Mismatch {
            what: "batch (the workers ran different batches)",
            worker,
        }),
    }
}
