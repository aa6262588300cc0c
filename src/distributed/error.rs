//! What distributed spreading can fail with.

use core::fmt;
use std::time::Duration;

use crate::spread::SpreadError;

/// Why a distributed query or set-up failed. A failed query presents no
/// results (never a partial answer as a whole one); the spreader can run
/// the next query if the workers are all still there.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DistributedError {
    /// A partition that does not exist (`index >= parts`, or no parts).
    Partition {
        /// Parts asked for.
        parts: usize,
        /// The index asked for.
        index: usize,
    },
    /// Another worker holds a different graph or cuts it differently (a
    /// wrong file, a wrong part): refused at start. Or it ran another
    /// query or batch than this one (other seeds or parameters): that
    /// query fails on every worker.
    Mismatch {
        /// What differs.
        what: &'static str,
        /// The worker whose view differs from this one's.
        worker: usize,
    },
    /// A round of the dataflow did not complete in time: a worker died,
    /// hangs, or cannot be reached.
    Timeout {
        /// The round (dataflow timestamp) that did not complete.
        round: u64,
        /// How long this worker waited.
        waited: Duration,
    },
    /// The connection to another process broke (it died, or the network
    /// failed). Timely-dataflow takes its whole computation down then:
    /// this worker fails every later query with this error, and the
    /// process should leave the computation (timely's own threads have
    /// stopped; dropping its worker guards panics).
    Disconnected {
        /// The round under way.
        round: u64,
        /// What timely reported.
        reason: String,
    },
    /// A round completed without every worker's records: a worker left the
    /// computation (its thread returned, or it stopped running queries),
    /// so the query's results would be partial; they are not given.
    Lost {
        /// The round.
        round: u64,
        /// Workers heard from in it.
        heard: usize,
        /// Workers in the computation.
        workers: usize,
    },
    /// The workers count differs from the partition's parts.
    Workers {
        /// Workers of the timely computation.
        workers: usize,
        /// Parts of the partition.
        parts: usize,
    },
    /// Bad query input (seeds, parameters).
    Spread(SpreadError),
}

impl fmt::Display for DistributedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistributedError::Partition { parts, index } => {
                write!(f, "no partition #{index} of {parts}")
            }
            DistributedError::Mismatch { what, worker } => {
                write!(f, "worker {worker} holds a different {what}")
            }
            DistributedError::Timeout { round, waited } => write!(
                f,
                "round {round} did not complete within {waited:?}: a worker died or cannot be reached"
            ),
            DistributedError::Disconnected { round, reason } => {
                write!(
                    f,
                    "the computation lost a process in round {round}: {reason}"
                )
            }
            DistributedError::Lost {
                round,
                heard,
                workers,
            } => write!(
                f,
                "round {round} heard from {heard} of {workers} workers: a worker left the computation"
            ),
            DistributedError::Workers { workers, parts } => {
                write!(f, "a partition into {parts} parts run by {workers} workers")
            }
            DistributedError::Spread(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DistributedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DistributedError::Spread(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SpreadError> for DistributedError {
    fn from(e: SpreadError) -> DistributedError {
        DistributedError::Spread(e)
    }
}
