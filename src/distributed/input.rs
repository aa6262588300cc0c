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
}

impl DistributedSpreader {
    /// [`spread`](Self::spread) of a query only worker `leader` was given:
    /// the leader passes its `seeds`, every other worker passes any (they
    /// are not read; `&[]`), and every worker gets the whole results. The
    /// `params` must be the same on every worker.
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
                _ => self.failed_input("one query"),
            });
        self.input = input;
        if outcome.is_err() {
            results.clear();
        }
        outcome
    }

    /// [`spread_batch`](Self::spread_batch) of a batch only worker `leader`
    /// was given: the leader passes its `queries`, every other worker
    /// passes any (they are not read; `&[] as &[&[Seed]]`), and every
    /// worker gets the whole results of each. The `params` must be the
    /// same on every worker.
    pub fn spread_batch_from<Q: AsRef<[Seed]>>(
        &mut self,
        worker: &mut Worker,
        partition: &Partition<'_>,
        leader: usize,
        queries: &[Q],
        params: &SpreadParams,
        results: &mut Vec<Vec<Activation>>,
    ) -> Result<BatchStats, DistributedError> {
        let mut input = core::mem::take(&mut self.input);
        let outcome = match self.receive(worker, leader, queries, &mut input) {
            Ok(()) => self.spread_batch(worker, partition, &input.queries, params, results),
            // Refused (as `spread_batch` refuses): `results` untouched.
            Err(e @ DistributedError::Spread(_)) => Err(e),
            Err(e) => {
                // Failed (as a batch fails): no results.
                results.iter_mut().for_each(Vec::clear);
                self.batch_failed();
                Err(e)
            }
        };
        self.input = input;
        outcome
    }

    /// The input round of the next query: the leader sends `queries` to
    /// every worker (itself included), and every worker puts what it
    /// received in `input`. A failed round counts as the query, so that
    /// the workers stay in step.
    fn receive<Q: AsRef<[Seed]>>(
        &mut self,
        worker: &mut Worker,
        leader: usize,
        queries: &[Q],
        input: &mut Input,
    ) -> Result<(), DistributedError> {
        if leader >= self.net.peers() {
            // Every worker refuses the same leader, before any round.
            return Err(SpreadError::InvalidParameter {
                name: "leader",
                expected: "the index of a worker of the computation",
            }
            .into());
        }
        let leads = self.net.index() == leader;
        // The round of the next query's first phase.
        self.net.start((self.query + 1) * ROUNDS + INPUT);
        if leads {
            self.net.broadcast(Message::Queries {
                count: queries.len() as u32,
            });
            // A batch too large to run is announced, not sent: every
            // worker refuses it alike.
            if queries.len() <= MAX_BATCH {
                for (lane, seeds) in queries.iter().enumerate() {
                    let lane = lane as u8;
                    let seeds = seeds.as_ref();
                    self.net.broadcast(Message::Query {
                        lane,
                        seeds: seeds.len() as u32,
                    });
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
        let messages = &mut input.messages;
        messages.clear();
        let received = self.net.finish(worker, |m| messages.push(m));
        if let Err(e) = received {
            self.query += 1;
            return Err(e);
        }
        // Records arrive in any order: the count first, then each
        // query's length, then its seeds in their places.
        let (mut count, mut whole) = (None, true);
        for m in &input.messages {
            if let Message::Queries { count: c } = *m {
                whole &= count.replace(c).is_none();
            }
        }
        let Some(count) = count else {
            return self.failed_input("the leader's queries");
        };
        if count as usize > MAX_BATCH {
            self.query += 1;
            return Err(SpreadError::InvalidParameter {
                name: "queries",
                expected: "at most MAX_BATCH (32)",
            }
            .into());
        }
        let queries = &mut input.queries;
        queries.resize_with(count as usize, Vec::new);
        queries.iter_mut().for_each(Vec::clear);
        let (mut want, mut got) = (0, 0);
        for m in &input.messages {
            match *m {
                Message::Query { lane, seeds } if usize::from(lane) < queries.len() => {
                    queries[usize::from(lane)].resize(seeds as usize, Seed::new(0, 0.0));
                    want += seeds as usize;
                }
                Message::Queries { .. } | Message::Seed { .. } => {}
                _ => whole = false,
            }
        }
        for m in &input.messages {
            if let Message::Seed {
                lane,
                index,
                node,
                activation,
            } = *m
            {
                match queries
                    .get_mut(usize::from(lane))
                    .and_then(|q| q.get_mut(index as usize))
                {
                    Some(seed) => {
                        *seed = Seed::new(node, activation);
                        got += 1;
                    }
                    None => whole = false,
                }
            }
        }
        if whole && got == want {
            Ok(())
        } else {
            self.failed_input("the leader's queries, whole")
        }
    }

    /// Fails a query whose input round did not bring `what`.
    fn failed_input<T>(&mut self, what: &'static str) -> Result<T, DistributedError> {
        self.query += 1;
        Err(DistributedError::Mismatch {
            what,
            worker: self.net.index(),
        })
    }
}
