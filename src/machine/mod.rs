//! The machine the kernels run on: what it is made of ([`topology`]), where
//! memory goes ([`numa`]), and threads pinned to its cores ([`workers`]).
//!
//! Everything else in the crate is about graphs and queries and gives the
//! same results on any machine; these three modules are the only ones that
//! ask the operating system about hardware (sysfs, hwloc, `mbind`, thread
//! affinity) and the only ones whose behaviour depends on where the code
//! runs. They live together so that the machine-facing surface is one
//! place: one place to port to a new OS, to fake in tests
//! ([`TopologyBuilder`](topology::TopologyBuilder), unpinned workers), and
//! to read when asking why two machines behave differently. Each degrades
//! rather than fails where the OS says no: a portable topology, plain
//! allocations, unpinned threads.

pub mod numa;
pub mod topology;
#[cfg(feature = "parallel")]
#[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
pub mod workers;
