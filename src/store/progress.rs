//! Progress reports and cancellation for long operations.
//!
//! Building, converting, verifying and passing over a large file take
//! seconds to minutes; a caller wants to show how far it got and to stop it.
//! Every long operation of [`store`](super) takes a [`Progress`] and calls
//! it between units of work (a block of bytes, a batch of edges: never per
//! item, so an observer costs nothing measurable). Returning
//! [`ControlFlow::Break`] cancels the operation: it stops at the next unit,
//! removes what it created and returns [`StoreError::Cancelled`](super::StoreError::Cancelled).
//!
//! Operations take `&mut dyn Progress`: `&mut ()` is the observer that
//! never cancels; any `FnMut(&ProgressReport) -> ControlFlow<()>` is one.
//!
//! ```
//! use core::ops::ControlFlow;
//! use axonal::store::{Phase, Progress, ProgressReport};
//!
//! let mut last = None;
//! let mut observer = |r: &ProgressReport| {
//!     last = Some((r.phase, r.fraction()));
//!     ControlFlow::Continue(())
//! };
//! let report = ProgressReport::new(Phase::Verify).items(5, Some(10));
//! assert!(observer.report(&report).is_continue());
//! assert_eq!(last, Some((Phase::Verify, Some(0.5))));
//! ```

use core::fmt;
use core::ops::ControlFlow;

/// What a long operation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Reading input (edges from a file or an iterator).
    Read,
    /// Sorting edges into runs (and spilling them).
    Sort,
    /// Merging sorted runs into the file's sections.
    Merge,
    /// Writing the file.
    Write,
    /// Checking a file's structure or checksums.
    Verify,
    /// Passing over a file's sections chunk by chunk.
    Scan,
}

impl Phase {
    /// The phase's name, lower case (`"merge"`).
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Read => "read",
            Phase::Sort => "sort",
            Phase::Merge => "merge",
            Phase::Write => "write",
            Phase::Verify => "verify",
            Phase::Scan => "scan",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How far a long operation got: its phase, the items (edges, nodes,
/// blocks: the phase says which) and bytes done, and the totals where known
/// (`None` while reading input of unknown length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgressReport {
    /// What the operation is doing.
    pub phase: Phase,
    /// Items done in this phase.
    pub items_done: u64,
    /// Items this phase will do, if known.
    pub items_total: Option<u64>,
    /// Bytes done in this phase.
    pub bytes_done: u64,
    /// Bytes this phase will do, if known.
    pub bytes_total: Option<u64>,
}

impl ProgressReport {
    /// Nothing done yet in `phase`, totals unknown.
    pub const fn new(phase: Phase) -> ProgressReport {
        ProgressReport {
            phase,
            items_done: 0,
            items_total: None,
            bytes_done: 0,
            bytes_total: None,
        }
    }

    /// With `done` items of `total`.
    pub const fn items(mut self, done: u64, total: Option<u64>) -> ProgressReport {
        self.items_done = done;
        self.items_total = total;
        self
    }

    /// With `done` bytes of `total`.
    pub const fn bytes(mut self, done: u64, total: Option<u64>) -> ProgressReport {
        self.bytes_done = done;
        self.bytes_total = total;
        self
    }

    /// The fraction done in `[0, 1]`, by bytes where their total is known,
    /// else by items; `None` if neither total is known.
    pub fn fraction(&self) -> Option<f64> {
        let (done, total) = match (self.bytes_total, self.items_total) {
            (Some(t), _) if t > 0 => (self.bytes_done, t),
            (_, Some(t)) if t > 0 => (self.items_done, t),
            (Some(_), _) | (_, Some(_)) => return Some(1.0),
            (None, None) => return None,
        };
        Some((done as f64 / total as f64).min(1.0))
    }
}

/// Sees the progress of a long operation and may cancel it.
pub trait Progress {
    /// Called between units of work. [`ControlFlow::Break`] cancels the
    /// operation (it then returns [`StoreError::Cancelled`](super::StoreError::Cancelled)).
    fn report(&mut self, report: &ProgressReport) -> ControlFlow<()>;
}

/// No observer: never cancels.
impl Progress for () {
    fn report(&mut self, _: &ProgressReport) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl<F: FnMut(&ProgressReport) -> ControlFlow<()>> Progress for F {
    fn report(&mut self, report: &ProgressReport) -> ControlFlow<()> {
        self(report)
    }
}

/// Reports `report` to `progress`; a cancellation becomes the error.
pub(crate) fn check(
    progress: &mut dyn Progress,
    report: ProgressReport,
) -> Result<(), super::StoreError> {
    match progress.report(&report) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(super::StoreError::Cancelled {
            phase: report.phase,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_prefers_bytes_and_handles_empty_totals() {
        let r = ProgressReport::new(Phase::Merge)
            .items(1, Some(4))
            .bytes(3, Some(4));
        assert_eq!(r.fraction(), Some(0.75));
        assert_eq!(
            ProgressReport::new(Phase::Read).items(7, None).fraction(),
            None
        );
        assert_eq!(
            ProgressReport::new(Phase::Read)
                .items(0, Some(0))
                .fraction(),
            Some(1.0)
        );
    }

    #[test]
    fn a_break_is_a_typed_cancellation() {
        let mut calls = 0;
        let mut stop_second = |_: &ProgressReport| {
            calls += 1;
            if calls == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        assert!(check(&mut stop_second, ProgressReport::new(Phase::Sort)).is_ok());
        assert_eq!(
            check(&mut stop_second, ProgressReport::new(Phase::Sort)),
            Err(super::super::StoreError::Cancelled { phase: Phase::Sort })
        );
        assert!(check(&mut (), ProgressReport::new(Phase::Scan)).is_ok());
    }
}
