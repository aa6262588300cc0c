//! What the machine is made of: packages, NUMA nodes, cores, SMT siblings
//! and caches.
//!
//! Placement decisions (one worker per core, workers of a NUMA node on that
//! node's share of the graph, batch sizes that fit a cache) need the
//! machine's shape, and engines run on anything from a 2-vCPU VM to a
//! multi-socket server. [`Topology::detect`] reads Linux's sysfs
//! (`/sys/devices/system/{cpu,node}`; no C library) and falls back to
//! [`std::thread::available_parallelism`] with unknown caches elsewhere.
//! [`TopologyBuilder`] makes synthetic machines, so placement logic is
//! tested on shapes this machine does not have.
//!
//! ```
//! use axonal::machine::topology::{CacheKind, TopologyBuilder};
//!
//! // 2 packages x 2 NUMA nodes x 8 cores x 2 SMT threads.
//! let t = TopologyBuilder::new(2, 2, 8, 2).cache(2, CacheKind::Unified, 1 << 20, 1).build();
//! assert_eq!((t.cpus().len(), t.cores().count(), t.nodes().len()), (64, 32, 4));
//! assert_eq!(t.smt_siblings(0), [0, 1]);
//! assert_eq!(t.cache_size(2), Some(1 << 20));
//! ```

mod cpulist;
#[cfg(feature = "hwloc")]
mod hwloc;
#[cfg(target_os = "linux")]
mod sysfs;

use alloc::vec::Vec;
use core::fmt;

/// One logical CPU (a hardware thread), as the OS numbers it.
///
/// Later versions may add fields (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cpu {
    /// The OS's CPU number (what affinity masks use).
    pub id: u32,
    /// Package (socket).
    pub package: u32,
    /// Core: unique within the topology (not only within the package).
    pub core: u32,
    /// NUMA node.
    pub node: u32,
}

/// A NUMA node: CPUs and memory at the same distance.
///
/// Later versions may add fields, such as distances (`#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NumaNode {
    /// The OS's node number.
    pub id: u32,
    /// Its CPUs, ascending.
    pub cpus: Vec<u32>,
    /// Its memory, if known.
    pub memory_bytes: Option<u64>,
}

/// What a cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CacheKind {
    /// Data only (L1d).
    Data,
    /// Instructions only (L1i).
    Instruction,
    /// Both.
    Unified,
}

/// One cache instance and the CPUs that share it.
///
/// Later versions may add fields (`#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cache {
    /// 1 for L1, ...
    pub level: u8,
    /// What it holds.
    pub kind: CacheKind,
    /// Capacity.
    pub size_bytes: u64,
    /// Line size.
    pub line_bytes: u32,
    /// The CPUs sharing this instance, ascending.
    pub cpus: Vec<u32>,
}

/// Where a [`Topology`] came from.
///
/// Later versions may add sources (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// Linux sysfs.
    Sysfs,
    /// Only a CPU count was known (caches unknown, one node, one package).
    Fallback,
    /// Built by [`TopologyBuilder`].
    Synthetic,
    /// The hwloc library (the `hwloc` feature).
    Hwloc,
}

/// The machine's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    cpus: Vec<Cpu>,
    nodes: Vec<NumaNode>,
    caches: Vec<Cache>,
    source: Source,
}

/// Why sysfs could not be read as a topology.
#[derive(Debug)]
#[non_exhaustive]
pub enum TopologyError {
    /// A file could not be read.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file held something unexpected.
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// Its (trimmed) text.
        text: alloc::string::String,
    },
    /// No online CPU was found.
    NoCpus,
    /// The hwloc library failed (its message).
    Library(alloc::string::String),
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TopologyError::Parse { path, text } => {
                write!(f, "{}: unexpected contents {text:?}", path.display())
            }
            TopologyError::NoCpus => f.write_str("no online CPU found"),
            TopologyError::Library(message) => write!(f, "hwloc: {message}"),
        }
    }
}

impl std::error::Error for TopologyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TopologyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Topology {
    /// This machine: sysfs on Linux, else (or if sysfs is unreadable) one
    /// package and node with `available_parallelism` single-threaded cores
    /// and unknown caches.
    pub fn detect() -> Topology {
        #[cfg(target_os = "linux")]
        if let Ok(t) = Topology::from_sysfs(std::path::Path::new("/sys/devices/system")) {
            return t;
        }
        Topology::fallback(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Reads `root/cpu` and `root/node` laid out as Linux's
    /// `/sys/devices/system` (a copy of it, in tests).
    #[cfg(target_os = "linux")]
    pub fn from_sysfs(root: &std::path::Path) -> Result<Topology, TopologyError> {
        sysfs::read(root)
    }

    /// This machine through the hwloc library (packages, NUMA nodes, cores,
    /// caches as [`detect`](Topology::detect) reports them, so the two can be
    /// compared; hwloc also covers platforms without sysfs).
    #[cfg(feature = "hwloc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "hwloc")))]
    pub fn from_hwloc() -> Result<Topology, TopologyError> {
        hwloc::read()
    }

    /// `cpus` CPUs, each its own core, one package, one node, no caches known.
    pub fn fallback(cpus: usize) -> Topology {
        let mut t = TopologyBuilder::new(1, 1, cpus.max(1) as u32, 1).build();
        t.source = Source::Fallback;
        t
    }

    pub(crate) fn new(
        mut cpus: Vec<Cpu>,
        mut nodes: Vec<NumaNode>,
        mut caches: Vec<Cache>,
        source: Source,
    ) -> Topology {
        cpus.sort_unstable_by_key(|c| c.id);
        nodes.sort_unstable_by_key(|n| n.id);
        caches.sort_by(|a, b| {
            (a.level, a.kind, a.cpus.first()).cmp(&(b.level, b.kind, b.cpus.first()))
        });
        Topology {
            cpus,
            nodes,
            caches,
            source,
        }
    }

    /// Every online CPU, by id.
    pub fn cpus(&self) -> &[Cpu] {
        &self.cpus
    }

    /// NUMA nodes with CPUs or memory, by id.
    pub fn nodes(&self) -> &[NumaNode] {
        &self.nodes
    }

    /// Every cache instance, by level.
    pub fn caches(&self) -> &[Cache] {
        &self.caches
    }

    /// Where this description came from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Packages (sockets), ascending.
    pub fn packages(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.cpus.iter().map(|c| c.package).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// One CPU per core: the lowest-numbered thread of each, ascending (where
    /// to pin one worker per core).
    pub fn cores(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus
            .iter()
            .filter(|c| !self.cpus.iter().any(|o| o.core == c.core && o.id < c.id))
            .map(|c| c.id)
    }

    /// The CPUs sharing `cpu`'s core (itself included), ascending; empty if
    /// `cpu` is unknown.
    pub fn smt_siblings(&self, cpu: u32) -> Vec<u32> {
        let Some(core) = self.cpu(cpu).map(|c| c.core) else {
            return Vec::new();
        };
        self.cpus
            .iter()
            .filter(|c| c.core == core)
            .map(|c| c.id)
            .collect()
    }

    /// The description of `cpu`.
    pub fn cpu(&self, cpu: u32) -> Option<&Cpu> {
        self.cpus.iter().find(|c| c.id == cpu)
    }

    /// The size of one data (or unified) cache at `level`, if known.
    pub fn cache_size(&self, level: u8) -> Option<u64> {
        self.caches
            .iter()
            .find(|c| c.level == level && c.kind != CacheKind::Instruction)
            .map(|c| c.size_bytes)
    }

    /// The cache line size, if known (the smallest level's).
    pub fn line_size(&self) -> Option<u32> {
        self.caches.first().map(|c| c.line_bytes)
    }
}

/// Builds synthetic, regular topologies: `packages x nodes_per_package x
/// cores_per_node x threads_per_core`, CPUs numbered thread-fastest.
#[derive(Debug, Clone)]
pub struct TopologyBuilder {
    packages: u32,
    nodes_per_package: u32,
    cores_per_node: u32,
    threads_per_core: u32,
    node_memory: Option<u64>,
    /// (level, kind, size, shared by this many cores).
    caches: Vec<(u8, CacheKind, u64, u32)>,
}

impl TopologyBuilder {
    /// A machine of `packages` packages, each of `nodes_per_package` NUMA
    /// nodes of `cores_per_node` cores with `threads_per_core` threads.
    /// Zero counts are taken as 1.
    pub fn new(
        packages: u32,
        nodes_per_package: u32,
        cores_per_node: u32,
        threads_per_core: u32,
    ) -> TopologyBuilder {
        TopologyBuilder {
            packages: packages.max(1),
            nodes_per_package: nodes_per_package.max(1),
            cores_per_node: cores_per_node.max(1),
            threads_per_core: threads_per_core.max(1),
            node_memory: None,
            caches: Vec::new(),
        }
    }

    /// Memory per NUMA node.
    pub fn node_memory(mut self, bytes: u64) -> Self {
        self.node_memory = Some(bytes);
        self
    }

    /// Adds a cache of `size_bytes` at `level`, one instance per
    /// `shared_by_cores` consecutive cores (within a node); 64-byte lines.
    pub fn cache(
        mut self,
        level: u8,
        kind: CacheKind,
        size_bytes: u64,
        shared_by_cores: u32,
    ) -> Self {
        self.caches
            .push((level, kind, size_bytes, shared_by_cores.max(1)));
        self
    }

    /// The topology.
    pub fn build(&self) -> Topology {
        let (threads, cores_per_node) = (self.threads_per_core, self.cores_per_node);
        let mut cpus = Vec::new();
        let mut nodes = Vec::new();
        for package in 0..self.packages {
            for local_node in 0..self.nodes_per_package {
                let node = package * self.nodes_per_package + local_node;
                let first = cpus.len() as u32;
                for local_core in 0..cores_per_node {
                    let core = node * cores_per_node + local_core;
                    for thread in 0..threads {
                        cpus.push(Cpu {
                            id: core * threads + thread,
                            package,
                            core,
                            node,
                        });
                    }
                }
                nodes.push(NumaNode {
                    id: node,
                    cpus: (first..cpus.len() as u32).collect(),
                    memory_bytes: self.node_memory,
                });
            }
        }
        let mut caches = Vec::new();
        let total_cores = self.packages * self.nodes_per_package * cores_per_node;
        for &(level, kind, size_bytes, shared) in &self.caches {
            for first_core in (0..total_cores).step_by(shared as usize) {
                // Instances never straddle a node.
                let node_end = (first_core / cores_per_node + 1) * cores_per_node;
                let last_core = (first_core + shared).min(node_end);
                caches.push(Cache {
                    level,
                    kind,
                    size_bytes,
                    line_bytes: 64,
                    cpus: (first_core * threads..last_core * threads).collect(),
                });
            }
        }
        Topology::new(cpus, nodes, caches, Source::Synthetic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_machines_have_the_requested_shape() {
        let t = TopologyBuilder::new(2, 2, 8, 2)
            .node_memory(1 << 30)
            .cache(1, CacheKind::Data, 32 << 10, 1)
            .cache(3, CacheKind::Unified, 32 << 20, 8)
            .build();
        assert_eq!(t.cpus().len(), 64);
        assert_eq!(t.packages(), [0, 1]);
        assert_eq!(t.nodes().len(), 4);
        assert!(t.nodes().iter().all(|n| n.cpus.len() == 16));
        assert_eq!(
            t.cores().collect::<Vec<_>>(),
            (0..32).map(|c| c * 2).collect::<Vec<_>>()
        );
        assert_eq!(t.smt_siblings(37), [36, 37]);
        assert_eq!(
            t.cpu(37).map(|c| (c.package, c.node, c.core)),
            Some((1, 2, 18))
        );
        assert_eq!(t.cache_size(1), Some(32 << 10));
        assert_eq!(t.cache_size(2), None);
        assert_eq!(t.cache_size(3), Some(32 << 20));
        let l3: Vec<&Cache> = t.caches().iter().filter(|c| c.level == 3).collect();
        assert_eq!(l3.len(), 4, "one L3 per 8-core node");
        assert_eq!(l3[1].cpus, (16..32).collect::<Vec<_>>());
        assert_eq!(t.line_size(), Some(64));
        assert_eq!(t.source(), Source::Synthetic);
    }

    #[test]
    fn fallback_is_one_node_of_single_threaded_cores() {
        let t = Topology::fallback(3);
        assert_eq!(
            (t.cpus().len(), t.nodes().len(), t.cores().count()),
            (3, 1, 3)
        );
        assert_eq!((t.cache_size(1), t.line_size()), (None, None));
        assert_eq!(t.source(), Source::Fallback);
        assert_eq!(Topology::fallback(0).cpus().len(), 1);
        assert!(t.smt_siblings(99).is_empty());
    }

    #[test]
    fn this_machine_is_detected() {
        let t = Topology::detect();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Affinity or quotas may lower `available_parallelism`, never raise it.
        assert!(t.cpus().len() >= cpus, "{t:?}");
        assert!(t.cores().count() <= t.cpus().len());
        assert!(!t.nodes().is_empty());
        for cpu in t.cpus() {
            assert!(
                t.nodes()
                    .iter()
                    .any(|n| n.id == cpu.node && n.cpus.contains(&cpu.id))
            );
        }
    }
}
