//! Hardware cache counters through Linux `perf_event_open`, where the
//! kernel and the machine allow them.
//!
//! Virtual machines often expose no performance counters, containers often
//! forbid them (`perf_event_paranoid`, seccomp), and Miri cannot make system
//! calls. None of these is an error: [`HardwareCounters::open`] always
//! returns, and what could not be opened reads as `None` with the reason
//! kept in [`HardwareCounters::unavailable`].

use super::{CacheCounts, Unavailable};

/// The calling thread's cache counters, counting from
/// [`open`](HardwareCounters::open) (user space only). Reading costs one
/// `read` system call per counter: read around batches, not single edges.
#[derive(Debug)]
pub struct HardwareCounters {
    /// References, misses, prefetches, prefetch fills.
    counters: [Result<Counter, Unavailable>; 4],
}

impl HardwareCounters {
    /// Opens and starts the counters this thread may read; the others read
    /// as `None`.
    pub fn open() -> HardwareCounters {
        HardwareCounters {
            counters: EVENTS.map(|(kind, config)| Counter::open(kind, config)),
        }
    }

    /// The counts so far.
    pub fn read(&self) -> CacheCounts {
        let [references, misses, prefetches, prefetch_fills] = self
            .counters
            .each_ref()
            .map(|c| c.as_ref().ok().and_then(Counter::read));
        CacheCounts {
            references,
            misses,
            prefetches,
            prefetch_fills,
        }
    }

    /// Why the first unavailable counter is unavailable (`None` if all
    /// opened).
    pub fn unavailable(&self) -> Option<Unavailable> {
        self.counters.iter().find_map(|c| c.as_ref().err().copied())
    }
}

/// `perf_event_attr.type` values.
const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_HW_CACHE: u32 = 3;
/// Generic hardware events.
const PERF_COUNT_HW_CACHE_REFERENCES: u64 = 2;
const PERF_COUNT_HW_CACHE_MISSES: u64 = 3;
/// `PERF_TYPE_HW_CACHE` config: cache id | op << 8 | result << 16.
const L1D_PREFETCH_ACCESS: u64 = 2 << 8;
const L1D_PREFETCH_MISS: u64 = (2 << 8) | (1 << 16);

const EVENTS: [(u32, u64); 4] = [
    (PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES),
    (PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES),
    (PERF_TYPE_HW_CACHE, L1D_PREFETCH_ACCESS),
    (PERF_TYPE_HW_CACHE, L1D_PREFETCH_MISS),
];

/// One open counter: its file descriptor, closed on drop.
#[derive(Debug)]
struct Counter {
    fd: i32,
}

/// The first 64 bytes of `struct perf_event_attr` (`PERF_ATTR_SIZE_VER0`),
/// which every kernel since 2.6.31 accepts.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit 5: `exclude_kernel`, bit 6: `exclude_hv`.
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

#[cfg(target_os = "linux")]
const _: () = assert!(core::mem::size_of::<PerfEventAttr>() == 64);

impl Counter {
    #[cfg(all(target_os = "linux", not(miri)))]
    fn open(kind: u32, config: u64) -> Result<Counter, Unavailable> {
        let attr = PerfEventAttr {
            kind,
            size: core::mem::size_of::<PerfEventAttr>() as u32,
            config,
            flags: (1 << 5) | (1 << 6),
            ..PerfEventAttr::default()
        };
        // SAFETY: `attr` is a valid, initialised `perf_event_attr` prefix
        // whose `size` field says how many bytes the kernel may read; it
        // lives across the call. pid 0 / cpu -1: this thread, any CPU; no
        // group; the flag only sets close-on-exec.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                0,
                -1,
                -1,
                libc::c_ulong::from(PERF_FLAG_FD_CLOEXEC),
            )
        };
        if fd < 0 {
            return Err(Unavailable::Errno(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ));
        }
        Ok(Counter { fd: fd as i32 })
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    fn open(_kind: u32, _config: u64) -> Result<Counter, Unavailable> {
        Err(Unavailable::Unsupported)
    }

    #[cfg(all(target_os = "linux", not(miri)))]
    fn read(&self) -> Option<u64> {
        let mut value = 0u64;
        // SAFETY: `fd` is an open perf event (owned by `self`); the kernel
        // writes at most 8 bytes (the default `read_format`: one u64) into
        // `value`, which is 8 writable bytes.
        let n = unsafe { libc::read(self.fd, (&raw mut value).cast(), 8) };
        (n == 8).then_some(value)
    }

    #[cfg(not(all(target_os = "linux", not(miri))))]
    fn read(&self) -> Option<u64> {
        None
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
const PERF_FLAG_FD_CLOEXEC: u32 = 8;

#[cfg(all(target_os = "linux", not(miri)))]
impl Drop for Counter {
    fn drop(&mut self) {
        // SAFETY: `fd` was returned by `perf_event_open`, is owned by this
        // `Counter` alone, and is closed exactly once, here.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_or_says_why_not_and_counts_only_forward() {
        let counters = HardwareCounters::open();
        let before = counters.read();
        let mut v: Vec<u64> = (0..1 << 20).collect();
        v.reverse();
        std::hint::black_box(&v);
        let after = counters.read();
        let delta = after.since(&before);
        match counters.unavailable() {
            None => {
                assert!(delta.references.is_some() && delta.misses.is_some());
            }
            Some(why) => {
                assert!(!why.to_string().is_empty());
                // What did not open reads as None, never as a number.
                for (c, count) in counters.counters.iter().zip([
                    after.references,
                    after.misses,
                    after.prefetches,
                    after.prefetch_fills,
                ]) {
                    assert_eq!(c.is_ok(), count.is_some());
                }
            }
        }
        if cfg!(miri) {
            assert_eq!(counters.unavailable(), Some(Unavailable::Unsupported));
        }
    }

    #[test]
    fn rates_from_counts() {
        let c = CacheCounts {
            references: Some(1000),
            misses: Some(250),
            prefetches: Some(400),
            prefetch_fills: Some(300),
        };
        assert_eq!(c.miss_rate(), Some(0.25));
        assert_eq!(c.prefetch_useful_rate(), Some(0.75));
        let earlier = CacheCounts {
            references: Some(200),
            misses: Some(50),
            prefetches: None,
            prefetch_fills: Some(100),
        };
        let d = c.since(&earlier);
        assert_eq!(d.references, Some(800));
        assert_eq!(d.miss_rate(), Some(0.25));
        assert_eq!(d.prefetches, None);
        assert_eq!(d.prefetch_useful_rate(), None);
        assert_eq!(CacheCounts::default().miss_rate(), None);
        assert_eq!(d.plus(&d).references, Some(1600));
        let zero = CacheCounts {
            references: Some(0),
            misses: Some(0),
            ..CacheCounts::default()
        };
        assert_eq!(zero.miss_rate(), None);
    }
}
