//! Cache figures as counted: [`CacheCounts`] and why they may be missing
//! ([`Unavailable`]). Plain data, so that metrics have the same fields with
//! or without `std`; reading the hardware counters
//! ([`HardwareCounters`](super::HardwareCounters)) needs `std`.

use core::fmt;

/// Counts read from the hardware counters (`None`: not available here).
///
/// Later versions may add counters (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheCounts {
    /// Last-level cache references.
    pub references: Option<u64>,
    /// Last-level cache misses.
    pub misses: Option<u64>,
    /// L1 data prefetch requests.
    pub prefetches: Option<u64>,
    /// L1 data prefetches that brought a line in (missed L1): the useful
    /// ones; a prefetch that finds its line already there was wasted.
    pub prefetch_fills: Option<u64>,
}

impl CacheCounts {
    /// `self - earlier`, field by field (a field missing in either is `None`).
    pub fn since(&self, earlier: &CacheCounts) -> CacheCounts {
        self.zip(earlier, u64::saturating_sub)
    }

    /// `self + other`, field by field (a field missing in either is `None`).
    pub fn plus(&self, other: &CacheCounts) -> CacheCounts {
        self.zip(other, u64::saturating_add)
    }

    /// `op` field by field, `None` where either is `None`.
    fn zip(&self, other: &CacheCounts, op: fn(u64, u64) -> u64) -> CacheCounts {
        let f = |a: Option<u64>, b: Option<u64>| Some(op(a?, b?));
        CacheCounts {
            references: f(self.references, other.references),
            misses: f(self.misses, other.misses),
            prefetches: f(self.prefetches, other.prefetches),
            prefetch_fills: f(self.prefetch_fills, other.prefetch_fills),
        }
    }

    /// Misses per reference of the last-level cache.
    pub fn miss_rate(&self) -> Option<f64> {
        ratio(self.misses?, self.references?)
    }

    /// Share of L1 data prefetches that brought a line in.
    pub fn prefetch_useful_rate(&self) -> Option<f64> {
        ratio(self.prefetch_fills?, self.prefetches?)
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Why a counter could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// Not Linux, running under Miri, or built without `std` (no way to
    /// open the counters).
    Unsupported,
    /// `perf_event_open` failed with this `errno` (`ENOENT`: the event does
    /// not exist on this CPU; `EACCES` / `EPERM`: not allowed; ...).
    Errno(i32),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Unsupported => write!(f, "no perf_event_open on this platform"),
            #[cfg(feature = "std")]
            Unavailable::Errno(e) => write!(
                f,
                "perf_event_open failed: {}",
                std::io::Error::from_raw_os_error(*e)
            ),
            #[cfg(not(feature = "std"))]
            Unavailable::Errno(e) => write!(f, "perf_event_open failed: errno {e}"),
        }
    }
}
