//! Serving queries under a latency budget.
//!
//! Engines receive a stream of recall queries, each with a budget. Meeting it
//! takes knowing how long work will take, before and while it runs:
//!
//! - [`LatencyPredictor`] learns, online, how long a request of a given shape
//!   (seeds, their degrees, hops, batch size) takes, for admission and
//!   batching decisions made before it starts;
//! - [`DeadlineSpreader`] decides hop by hop: it stops a query whose next hop
//!   would end after the deadline and returns the partial results, flagged.
//!
//! Time comes from a [`Clock`]: the [`SystemClock`], or a [`ManualClock`]
//! in tests and simulations, so that every decision can be replayed exactly.
//! - [`AdaptiveBatcher`] chooses how many queries share a pass: it starts
//!   from the machine ([`BatchSizing`]) and searches, damped, for the most
//!   queries per second whose batches meet the latency objective.

mod batcher;
mod clock;
mod deadline;
mod predictor;

pub use batcher::{
    AdaptiveBatcher, BatchSizing, BatcherConfig, BatcherError, BatcherPhase, WindowReport,
};
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use clock::SystemClock;
pub use clock::{Clock, ManualClock};
pub use deadline::{CostLine, DeadlineSpreader, HopCostModel};
pub use predictor::{LatencyPredictor, Prediction, PredictorConfig, PredictorError, RequestShape};
