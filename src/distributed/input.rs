//! Queries given to one worker: the leader sends them to every worker in
//! the query's first round.
//!
//! Why: an engine's requests arrive at one process, not at every worker.
//! [`spread`](DistributedSpreader::spread) needs the same seeds on every
//! worker; [`spread_from`](DistributedSpreader::spread_from) and
//! [`spread_batch_from`](DistributedSpreader::spread_batch_from) need them
//! on one (the parameters, a deployment's configuration, on all: the
//! workers compare a fingerprint of both). The query then runs as if every
//! worker had been given it, one round later.

use timely::worker::Worker;

use super::net::{INPUT, Message, ROUNDS};
use super::{DistributedError, DistributedSpreader, Partition};
use crate::spread::{
    Activation, BatchStats, MAX_BATCH, Seed, SpreadError, SpreadParams, SpreadStats,
};

/// The queries received in an input round, kept between queries.
#[derive(Default)]
pub(super) struct Input {
    queries: Vec<Vec<Seed>>,
    /// The input round's records.
    messages: Vec<Message>,
    /// Per received seed slot: whether it was filled (lane by lane).
    filled: Vec<bool>,
    /// What the input round cost: bytes sent and time waited (added to
    /// the query's [`ExchangeStats`](super::ExchangeStats)).
    sent: u64,
    waited: core::time::Duration,
}

impl DistributedSpreader {
    /// [`spread`](Self::spread) of a query only worker `leader` was given:
    /// the leader passes its `seeds`, every other worker passes any (they
    /// are not read; `&[]`), and every worker gets the whole results. Every
    /// worker calls this method with the same `leader` and `params`.
    pub fn spread_from(
        &mut self,
        worker: &mut Worker,
        partition: &Partition<'_>,
        leader: usize,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, DistributedError> {
        let mut input = core::mem::take(&mut self.input);
        let outcome = self
            .receive(worker, leader, core::slice::from_ref(&seeds), &mut input)
            .and_then(|()| match input.queries.as_slice() {
                [seeds] => self.spread(worker, partition, seeds, params, results),
                _ => {
                    // The leader ran a batch: this query is not whole.
                    self.query += 1;
                    Err(incomplete(
                        leader,
                        "call (the leader ran spread_batch_from)",
                    ))
                }
            });
        self.add_input_costs(&input);
        self.input = input;
        if outcome.is_err() {
            results.clear();
        }
        outcome
    }

    /// [`spread_batch`](Self::spread_batch) of a batch only worker `leader`
    /// was given: the leader passes its `queries`, every other worker
    /// passes any (they are not read; `&[] as &[&[Seed]]`), and every
    /// worker gets the whole results of each. Every worker calls this
    /// method with the same `leader` and `params`.
    pub fn spread_batch_from<Q: AsRef<[Seed]>>(
        &mut self,
        worker: &mut Worker,
        partition: &Partition<'_>,
        leader: usize,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut Vec<Vec<Activation>>,
    ) -> Result<BatchStats, DistributedError> {
        self.batch_failed();
        let mut input = core::mem::take(&mut self.input);
        let outcome = match self.receive(worker, leader, queries, &mut input) {
            Ok(()) => self.spread_batch(worker, partition, &input.queries, params, results),
            // Refused (as `spread_batch` refuses): `results` untouched.
            Err(e @ DistributedError::Spread(_)) => Err(e),
            Err(e) => {
                // Failed (as a batch fails): no results.
                results.clear();
                Err(e)
            }
        };
        self.add_input_costs(&input);
        self.input = input;
        outcome
    }

    /// Adds what the input round cost to the query's exchange statistics.
    fn add_input_costs(&mut self, input: &Input) {
        self.stats.control_bytes += input.sent;
        self.stats.waited += input.waited;
    }

    /// The input round of the next query: the leader sends `queries` to
    /// every worker (itself included), and every worker puts what it
    /// received in `input`. A refused or failed round counts as the query
    /// (as [`spread`](Self::spread) counts refused queries), so that the
    /// workers stay in step.
    fn receive<Q: AsRef<[Seed]>>(
        &mut self,
        worker: &mut Worker,
        leader: usize,
        queries: &[Q],
        input: &mut Input,
    ) -> Result<(), DistributedError> {
        (input.sent, input.waited) = (0, core::time::Duration::ZERO);
        let received = self.receive_round(worker, leader, queries, input);
        if received.is_err() {
            self.query += 1;
        }
        received
    }

    fn receive_round<Q: AsRef<[Seed]>>(
        &mut self,
        worker: &mut Worker,
        leader: usize,
        queries: &[Q],
        input: &mut Input,
    ) -> Result<(), DistributedError> {
        if leader >= self.net.peers() {
            return Err(SpreadError::InvalidParameter {
                name: "leader",
                expected: "the index of a worker of the computation",
            }
            .into());
        }
        // The round of the next query's first phase.
        self.net.take_waited();
        self.net.start((self.query + 1) * ROUNDS + INPUT);
        if self.net.index() == leader {
            let count = u32::try_from(queries.len()).unwrap_or(u32::MAX);
            self.net.broadcast(Message::Queries { count });
            // A batch too large to run is announced, not sent: every
            // worker refuses it alike.
            if queries.len() <= MAX_BATCH {
                for (lane, seeds) in queries.iter().enumerate() {
                    let lane = lane as u8;
                    let seeds = seeds.as_ref();
                    let count = u32::try_from(seeds.len()).unwrap_or(u32::MAX);
                    self.net.broadcast(Message::Query { lane, seeds: count });
                    for (index, seed) in seeds.iter().enumerate() {
                        self.net.broadcast(Message::Seed {
                            lane,
                            index: index as u32,
                            node: seed.node,
                            activation: seed.activation,
                        });
                    }
                }
            }
        }
        input.sent = self.net.sent;
        let messages = &mut input.messages;
        messages.clear();
        let received = self.net.finish(worker, |m| messages.push(m));
        input.waited = self.net.take_waited();
        received?;
        rebuild(input, leader)
    }
}

/// Rebuilds the leader's queries in `input` from its records, which
/// arrive in any order: the count, each query's length, each seed in its
/// place; every lane and every place exactly once.
fn rebuild(input: &mut Input, leader: usize) -> Result<(), DistributedError> {
    let messages = &input.messages;
    let mut counts = messages.iter().filter_map(|m| match *m {
        Message::Queries { count } => Some(count),
        _ => None,
    });
    let (Some(count), None) = (counts.next(), counts.next()) else {
        return Err(incomplete(leader, "input (the leader's queries, once)"));
    };
    if count as usize > MAX_BATCH {
        return Err(too_many_queries());
    }
    let lanes = count as usize;
    // Seeds per lane as received, which bounds what a header may ask for.
    let mut arrived = [0usize; MAX_BATCH];
    let mut lengths = [None::<usize>; MAX_BATCH];
    for m in messages {
        match *m {
            Message::Seed { lane, .. } if usize::from(lane) < lanes => {
                arrived[usize::from(lane)] += 1;
            }
            Message::Query { lane, seeds } if usize::from(lane) < lanes => {
                let length = &mut lengths[usize::from(lane)];
                if length.replace(seeds as usize).is_some() {
                    return Err(incomplete(leader, "input (a query's length, once)"));
                }
            }
            Message::Queries { .. } => {}
            _ => return Err(incomplete(leader, "input (records of no query)")),
        }
    }
    let queries = &mut input.queries;
    queries.resize_with(lanes, Vec::new);
    let mut first = [0usize; MAX_BATCH + 1];
    for (lane, seeds) in queries.iter_mut().enumerate() {
        match lengths[lane] {
            Some(length) if length == arrived[lane] => {
                seeds.clear();
                seeds.resize(length, Seed::new(0, 0.0));
                first[lane + 1] = first[lane] + length;
            }
            _ => return Err(incomplete(leader, "input (a query's seeds, all of them)")),
        }
    }
    input.filled.clear();
    input.filled.resize(first[lanes], false);
    for m in messages {
        if let Message::Seed {
            lane,
            index,
            node,
            activation,
        } = *m
        {
            let lane = usize::from(lane);
            let seed = queries[lane].get_mut(index as usize);
            let filled = input.filled.get_mut(first[lane] + index as usize);
            match (seed, filled) {
                (Some(seed), Some(filled)) if !*filled => {
                    *seed = Seed::new(node, activation);
                    *filled = true;
                }
                _ => return Err(incomplete(leader, "input (each seed, once)")),
            }
        }
    }
    Ok(())
}

/// The refusal of a batch of more than [`MAX_BATCH`] queries.
pub(super) fn too_many_queries() -> DistributedError {
    SpreadError::InvalidParameter {
        name: "queries",
        expected: "at most MAX_BATCH (32)",
    }
    .into()
}

/// The failure of a query whose input did not arrive whole from `leader`.
fn incomplete(leader: usize, what: &'static str) -> DistributedError {
    DistributedError::Mismatch {
        what,
        worker: leader,
    }
}
