//! Spreading over several workers, threads and processes, on
//! timely-dataflow (the `timely` feature).
//!
//! Why timely: level-synchronous spreading is rounds of messages between
//! the owners of nodes, and timely-dataflow is a dataflow engine built
//! around exactly that: workers as threads and processes (TCP between
//! them), records routed to the worker that owns them, and progress
//! tracking that tells every worker when a round is complete everywhere.
//! axonal adds no cluster runtime of its own.
//!
//! - [`Partition`]: a worker's node range of a graph (in memory, or an
//!   `.axg` file mapped so that a worker touches only its rows), balanced
//!   by edges.
//! - [`DistributedSpreader`]: a worker's share of every query, behind the
//!   same hop driver as every other backend; the results are the same bits
//!   as [`Spreader`](crate::spread::Spreader)'s on the whole graph, on every
//!   worker, for any number of workers. One query at a time
//!   ([`spread`](DistributedSpreader::spread)), or up to 32 in flight in the
//!   same rounds ([`spread_batch`](DistributedSpreader::spread_batch): the
//!   batch lanes of [`MultiSpreader`](crate::spread::MultiSpreader) over each
//!   worker's rows, for wide queries that overlap); given to every worker,
//!   or to one that sends them on
//!   ([`spread_from`](DistributedSpreader::spread_from),
//!   [`spread_batch_from`](DistributedSpreader::spread_batch_from)).
//!
//! ```
//! use axonal::distributed::{DistributedSpreader, Partition};
//! use axonal::graph::generate;
//! use axonal::spread::{Seed, SpreadParams};
//!
//! // Two worker threads in this process (`timely::execute_from_args` takes
//! // `-w`, `-n`, `-p`, `-h` for threads, processes and hosts).
//! let graph = std::sync::Arc::new(generate::barabasi_albert(2_000, 3, 7));
//! let config = timely::Config::process(2);
//! let guards = timely::execute(config, move |worker| {
//!     let part = Partition::new(&*graph, worker.peers(), worker.index()).unwrap();
//!     let mut spreader = DistributedSpreader::new(worker, &part).unwrap();
//!     let mut results = Vec::new();
//!     let seeds = [Seed::new(0, 1.0)];
//!     spreader.spread(worker, &part, &seeds, &SpreadParams::default(), &mut results).unwrap();
//!     results.len()
//! })
//! .unwrap();
//! let counts: Vec<usize> = guards.join().into_iter().map(Result::unwrap).collect();
//! assert_eq!(counts[0], counts[1]); // every worker holds the whole answer
//! ```

mod batch;
mod error;
mod input;
mod net;
mod partition;
mod spreader;

pub use error::DistributedError;
pub use partition::Partition;
pub use spreader::{DEFAULT_TIMEOUT, DistributedSpreader, ExchangeStats};
