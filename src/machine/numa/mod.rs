//! NUMA-placed buffers.
//!
//! On a machine with several NUMA nodes, memory on the far node costs about
//! 1.5-2x the latency and a fraction of the bandwidth. A spreading hop
//! streams the graph and writes per-node state, so each worker should find
//! its share of both on its own node. [`NumaBuffer`] is a zeroed array whose
//! pages follow a placement [`Policy`] (Linux `mbind`, through `libc`), with
//! transparent huge pages advised for large buffers (fewer TLB misses on the
//! random reads of a pull hop), and [`NumaBuffer::first_touch`] to have
//! pinned workers fault in their own parts (the kernel's default policy puts
//! a page on the node of the thread that first touches it).
//!
//! Placement is a performance hint, never a condition: on a one-node
//! machine, a kernel without NUMA, a platform without `mbind`, or without
//! permission, the buffer is still allocated and usable, and
//! [`NumaStats::applied`] says why the policy was not applied.
//!
//! ```
//! use axonal::machine::numa::{NumaBuffer, Policy};
//!
//! let mut buf = NumaBuffer::<u32>::new(1 << 20, Policy::Interleave([0].into_iter().collect()))?;
//! buf[7] = 7;
//! assert_eq!(buf.iter().map(|&x| u64::from(x)).sum::<u64>(), 7);
//! // On a one-node machine: allocated, policy not applied.
//! println!("{:?}", buf.stats());
//! # Ok::<(), axonal::machine::numa::NumaError>(())
//! ```

mod buffer;
mod policy;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(not(target_os = "linux"))]
#[path = "sys_portable.rs"]
mod sys;

pub use buffer::{HUGE_PAGE_BYTES, NumaBuffer, NumaError, NumaStats};
pub use policy::{NodeSet, NotApplied, Policy, place_parts};
