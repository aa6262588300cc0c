//! The dataflow the workers talk through: one long-lived timely dataflow
//! of rounds.
//!
//! Every worker sends its records of a round at that round's timestamp,
//! routed to the worker they name (timely's exchange: a queue between
//! threads, TCP between processes), and steps its timely worker until the
//! round is complete everywhere (the probe's frontier has passed it:
//! timely's progress tracking says no record of that timestamp is left in
//! flight anywhere). A round's timestamp carries the query and the step:
//! `query * ROUNDS + phase` ([`INPUT`]: a query given to one worker, sent to
//! all; [`SEEDED`]: the seeds' frontier; [`hop_phases`]: hop `h`'s
//! contributions and its frontier's size; [`RANK`]: the merge of results).

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

use super::DistributedError;
use crate::spread::MAX_HOPS;

/// Rounds a query may take: input, seeding, two per hop, ranking.
pub(crate) const ROUNDS: u64 = 128;

/// The phase of the round in which a query given to one worker reaches
/// every worker (only queries given so).
pub(crate) const INPUT: u64 = 0;

/// The phase of the round that shares the seeds' frontier.
pub(crate) const SEEDED: u64 = 1;

/// The phases of hop `h` (1 to `MAX_HOPS`): its contributions, then its
/// frontier's size (at most `2 * MAX_HOPS + 1 < RANK`).
pub(crate) fn hop_phases(h: usize) -> (u64, u64) {
    debug_assert!((1..=MAX_HOPS).contains(&h));
    (2 * h as u64, 2 * h as u64 + 1)
}

const _: () = assert!(2 * MAX_HOPS as u64 + 1 < RANK);

/// The phase of a query's ranking round.
pub(crate) const RANK: u64 = ROUNDS - 1;

/// What workers tell each other.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// At start: the graph and cut a worker holds.
    Hello {
        worker: u32,
        nodes: u64,
        edges: u64,
        fingerprint: u64,
        first: u32,
        end: u32,
    },
    /// Worker `from`'s share of the next frontier: nodes, their
    /// out-edges, the nodes it reached so far, the bytes of contributions
    /// it sent this hop, and the fingerprint of the query it runs.
    Sizes {
        from: u32,
        nodes: u64,
        edges: u64,
        reached: u64,
        sent: u64,
        query: u64,
    },
    /// Fixed-point units for a node the receiver owns (a push hop).
    Units { node: u32, units: u32 },
    /// A frontier node's strength, for every worker to pull from (a pull
    /// hop).
    Strength { node: u32, strength: f32 },
    /// A batch's push hop: a node's sums for eight queries (`lane..lane +
    /// 8`), for its owner.
    Sums { node: u32, lane: u8, sums: [u32; 8] },
    /// A batch's pull hop: a frontier node's strengths for eight queries.
    Strengths {
        node: u32,
        lane: u8,
        strengths: [f32; 8],
    },
    /// One of a worker's best results for the query of `lane` (0 for a
    /// single query): its rank key and hop.
    Ranked { lane: u8, key: u64, hop: u8 },
    /// A worker's share of a batch query's statistics: the nodes it
    /// reached, the edges its frontiers traversed and its push hops read.
    LaneStats {
        lane: u8,
        activated: u32,
        traversed: u64,
        pushed: u64,
    },
    /// A worker's share of a batch query's frontier at hop `hop`.
    LaneFrontier { lane: u8, hop: u8, nodes: u32 },
    /// The leader's input: how many queries it was given (the first of
    /// its records in an input round).
    Queries { count: u32 },
    /// The leader's query `lane` has `seeds` seeds.
    Query { lane: u8, seeds: u32 },
    /// Seed `index` of the leader's query `lane`.
    Seed {
        lane: u8,
        index: u32,
        node: u32,
        activation: f32,
    },
    /// The last record a worker sends each worker in a round: how many it
    /// sent that worker before. A round that completes without one from
    /// every worker, or with records missing, lost a worker.
    End { records: u32 },
}

impl Message {
    /// Bytes a record of this message takes on the wire: its fields, and
    /// the header every record carries (destination and round).
    pub(crate) fn wire_bytes(&self) -> u64 {
        HEADER
            + match self {
                Message::Hello { .. } => 36,
                Message::Sizes { .. } => 44,
                Message::Units { .. } => 8,
                Message::Strength { .. } => 8,
                Message::Sums { .. } | Message::Strengths { .. } => 37,
                Message::Ranked { .. } => 10,
                Message::LaneStats { .. } => 21,
                Message::LaneFrontier { .. } => 6,
                Message::Queries { .. } => 4,
                Message::Query { .. } => 5,
                Message::Seed { .. } => 13,
                Message::End { .. } => 4,
            }
    }
}

/// Bytes of a record's destination and round.
const HEADER: u64 = 12;

/// A record: its destination worker, its round, the message.
pub(crate) type Record = (u32, u64, Message);

/// One worker's end of the dataflow.
pub(crate) struct Net {
    /// Always `Some` but in `Drop` (see there).
    input: Option<InputHandleVec<u64, Record>>,
    /// The current round's records for other workers, handed to timely
    /// when the round closes (inside the guard against its panics).
    outgoing: Vec<Record>,
    probe: ProbeHandle<u64>,
    /// Records delivered to this worker, any round.
    inbox: Rc<RefCell<Vec<Record>>>,
    index: u32,
    peers: usize,
    /// Records of the current round for this worker itself (never on the
    /// wire).
    local: Vec<Message>,
    /// Records sent to each worker in the current round.
    counts: Vec<u32>,
    /// The round to send at next.
    round: u64,
    /// Bytes this worker put on the wire in the current round so far.
    pub(crate) sent: u64,
    /// Time spent waiting for rounds to complete (see
    /// [`take_waited`](Self::take_waited)).
    waited: Duration,
    timeout: Duration,
    /// Set once timely's communication failed (its panic's message).
    lost: Option<String>,
}

/// Whether a panic's message is timely's report of a broken connection
/// (its receive thread's, or a worker's meeting the poisoned queue).
fn is_communication_failure(reason: &str) -> bool {
    reason.starts_with("timely communication error") || reason.contains("MergeQueue poisoned")
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a timely thread panicked".into())
}

impl Net {
    /// Builds the dataflow on `worker` (every worker of the computation
    /// must, in the same order as its other dataflows).
    pub(crate) fn new(worker: &mut Worker, timeout: Duration) -> Net {
        let mut input = InputHandleVec::new();
        let probe = ProbeHandle::new();
        let inbox = Rc::new(RefCell::new(Vec::new()));
        let sink = inbox.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            scope
                .input_from(&mut input)
                .container::<Vec<Record>>()
                .exchange(|r: &Record| u64::from(r.0))
                .inspect(move |r: &Record| sink.borrow_mut().push(*r))
                .probe_with(&probe);
        });
        Net {
            input: Some(input),
            outgoing: Vec::new(),
            probe,
            inbox,
            index: worker.index() as u32,
            peers: worker.peers(),
            local: Vec::new(),
            counts: vec![0; worker.peers()],
            round: 0,
            sent: 0,
            waited: Duration::ZERO,
            timeout,
            lost: None,
        }
    }

    /// This worker's index.
    pub(crate) fn index(&self) -> usize {
        self.index as usize
    }

    /// Workers in the computation.
    pub(crate) fn peers(&self) -> usize {
        self.peers
    }

    /// Moves to round `round` (never back).
    pub(crate) fn start(&mut self, round: u64) {
        debug_assert!(round >= self.round);
        self.round = round;
        self.sent = 0;
        self.counts.fill(0);
    }

    /// Sends `message` to worker `to` in the current round.
    pub(crate) fn send(&mut self, to: usize, message: Message) {
        self.counts[to] += 1;
        self.post(to, message);
    }

    fn post(&mut self, to: usize, message: Message) {
        if to == self.index as usize {
            self.local.push(message);
        } else if self.lost.is_none() {
            self.sent += message.wire_bytes();
            self.outgoing.push((to as u32, self.round, message));
        }
    }

    /// Sends `message` to every worker.
    pub(crate) fn broadcast(&mut self, message: Message) {
        for to in 0..self.peers {
            self.send(to, message);
        }
    }

    /// Sends `message` to every worker but this one.
    pub(crate) fn send_others(&mut self, message: Message) {
        let me = self.index as usize;
        for to in (0..self.peers).filter(|&to| to != me) {
            self.send(to, message);
        }
    }

    /// The time spent waiting for rounds since the last call.
    pub(crate) fn take_waited(&mut self) -> Duration {
        core::mem::take(&mut self.waited)
    }

    /// Closes the current round, steps `worker` until every worker's
    /// records of it are delivered, and hands this worker's to `receive`
    /// (its own first, then the others' in arrival order). The next round
    /// is the following timestamp.
    pub(crate) fn finish(
        &mut self,
        worker: &mut Worker,
        mut receive: impl FnMut(Message),
    ) -> Result<(), DistributedError> {
        let round = self.round;
        if let Some(reason) = &self.lost {
            self.local.clear();
            return Err(DistributedError::Disconnected {
                round,
                reason: reason.clone(),
            });
        }
        for to in 0..self.peers {
            let records = self.counts[to];
            self.post(to, Message::End { records });
        }
        self.round += 1;
        // Timely's threads panic when a connection breaks, to take the
        // computation down; this worker catches that once, reports it,
        // and never steps its worker again.
        let started = Instant::now();
        let stepped = panic::catch_unwind(AssertUnwindSafe(|| {
            let input = self.input.as_mut().expect("taken only in drop");
            for record in self.outgoing.drain(..) {
                input.send(record);
            }
            input.advance_to(self.round);
            let started = Instant::now();
            while self.probe.less_than(&self.round) {
                let waited = started.elapsed();
                if waited > self.timeout {
                    return Err(DistributedError::Timeout { round, waited });
                }
                worker.step_or_park(Some(Duration::from_millis(1)));
            }
            Ok(())
        }));
        self.waited += started.elapsed();
        let stepped = stepped.unwrap_or_else(|payload| {
            let reason = panic_message(payload.as_ref());
            if !is_communication_failure(&reason) {
                // A bug, not a lost peer: it stays a panic.
                panic::resume_unwind(payload);
            }
            self.lost = Some(reason.clone());
            Err(DistributedError::Disconnected { round, reason })
        });
        if let Err(e) = stepped {
            self.local.clear();
            self.outgoing.clear();
            return Err(e);
        }
        let (mut ends, mut promised, mut got) = (0, 0u64, 0u64);
        let mut take = |m: Message| match m {
            Message::End { records } => {
                ends += 1;
                promised += u64::from(records);
            }
            m => {
                got += 1;
                receive(m);
            }
        };
        for m in self.local.drain(..) {
            take(m);
        }
        let mut inbox = self.inbox.borrow_mut();
        // Records of later rounds (a faster worker's) stay for their round.
        inbox.retain(|&(_, r, m)| {
            if r == round {
                take(m);
            }
            r > round
        });
        if ends != self.peers || promised != got {
            return Err(DistributedError::Lost {
                round,
                heard: ends,
                workers: self.peers,
            });
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if self.lost.is_some() {
            // Closing the input would push into the poisoned queue and
            // panic again, in a drop: leave it to the process's exit.
            core::mem::forget(self.input.take());
        }
    }
}
