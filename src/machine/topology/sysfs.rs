//! The topology from Linux's sysfs (`/sys/devices/system`).
//!
//! Files that older kernels or containers lack (NUMA nodes, cache
//! descriptions, package ids) are optional and default to one node, unknown
//! caches and package 0; a file that exists but does not parse is an error.

use std::fs;
use std::path::{Path, PathBuf};

use alloc::string::String;
use alloc::vec::Vec;

use super::{Cache, CacheKind, Cpu, NumaNode, Source, Topology, TopologyError, cpulist};

pub(super) fn read(root: &Path) -> Result<Topology, TopologyError> {
    let cpu_dir = root.join("cpu");
    let online = list(&cpu_dir.join("online"))?;
    if online.is_empty() {
        return Err(TopologyError::NoCpus);
    }
    let nodes = read_nodes(&root.join("node"), &online)?;

    // A core is named by its lowest SMT sibling; numbered in that order.
    let mut cpus = Vec::with_capacity(online.len());
    let mut core_names = Vec::with_capacity(online.len());
    for &id in &online {
        let dir = cpu_dir.join(alloc::format!("cpu{id}/topology"));
        let package = optional(&dir.join("physical_package_id"))?
            .map(|t| number(&dir.join("physical_package_id"), &t))
            .transpose()?
            .unwrap_or(0);
        let siblings = match optional(&dir.join("thread_siblings_list"))? {
            Some(text) => parse_list(&dir.join("thread_siblings_list"), &text)?,
            None => alloc::vec![id],
        };
        let core_name = siblings.first().copied().unwrap_or(id).min(id);
        let node = nodes
            .iter()
            .find(|n| n.cpus.contains(&id))
            .map_or(0, |n| n.id);
        core_names.push(core_name);
        cpus.push(Cpu {
            id,
            package,
            core: core_name,
            node,
        });
    }
    core_names.sort_unstable();
    core_names.dedup();
    for cpu in &mut cpus {
        cpu.core = core_names.binary_search(&cpu.core).unwrap_or(0) as u32;
    }

    let mut caches: Vec<Cache> = Vec::new();
    for &id in &online {
        let dir = cpu_dir.join(alloc::format!("cpu{id}/cache"));
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut indices: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("index"))
            })
            .collect();
        indices.sort();
        for index in indices {
            let cache = read_cache(&index)?;
            if !caches
                .iter()
                .any(|c| c.level == cache.level && c.kind == cache.kind && c.cpus == cache.cpus)
            {
                caches.push(cache);
            }
        }
    }
    Ok(Topology::new(cpus, nodes, caches, Source::Sysfs))
}

/// NUMA nodes with CPUs or memory; one node holding every CPU if the kernel
/// has no NUMA directory.
fn read_nodes(dir: &Path, online: &[u32]) -> Result<Vec<NumaNode>, TopologyError> {
    let mut nodes = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix("node"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let cpus: Vec<u32> = list(&path.join("cpulist"))?
                .into_iter()
                .filter(|c| online.contains(c))
                .collect();
            let memory_bytes = optional(&path.join("meminfo"))?.and_then(|m| mem_total(&m));
            if !cpus.is_empty() || memory_bytes.is_some_and(|m| m > 0) {
                nodes.push(NumaNode {
                    id,
                    cpus,
                    memory_bytes,
                });
            }
        }
    }
    if nodes.iter().all(|n| n.cpus.is_empty()) {
        nodes = alloc::vec![NumaNode {
            id: 0,
            cpus: online.to_vec(),
            memory_bytes: nodes.first().and_then(|n| n.memory_bytes),
        }];
    }
    Ok(nodes)
}

fn read_cache(dir: &Path) -> Result<Cache, TopologyError> {
    let field = |name: &str| -> Result<(PathBuf, String), TopologyError> {
        let path = dir.join(name);
        let text = text(&path)?;
        Ok((path, text))
    };
    let (path, level) = field("level")?;
    let level = number(&path, &level)? as u8;
    let (path, kind) = field("type")?;
    let kind = match kind.as_str() {
        "Data" => CacheKind::Data,
        "Instruction" => CacheKind::Instruction,
        "Unified" => CacheKind::Unified,
        _ => return Err(parse_error(&path, &kind)),
    };
    let (path, size) = field("size")?;
    let size_bytes = bytes(&size).ok_or_else(|| parse_error(&path, &size))?;
    let (path, line) = field("coherency_line_size")?;
    let line_bytes = number(&path, &line)?;
    let (path, shared) = field("shared_cpu_list")?;
    let cpus = parse_list(&path, &shared)?;
    Ok(Cache {
        level,
        kind,
        size_bytes,
        line_bytes,
        cpus,
    })
}

/// `MemTotal` of a node's `meminfo` ("Node 0 MemTotal:  7825184 kB").
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.contains("MemTotal:"))?;
    let mut words = line.split_whitespace().rev();
    let unit = words.next()?;
    let value: u64 = words.next()?.parse().ok()?;
    (unit == "kB").then_some(value * 1024)
}

/// "32K", "512K", "32768K", "1M", "64" -> bytes.
fn bytes(text: &str) -> Option<u64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'K' => (&text[..text.len() - 1], 1 << 10),
        b'M' => (&text[..text.len() - 1], 1 << 20),
        b'G' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

fn text(path: &Path) -> Result<String, TopologyError> {
    fs::read_to_string(path)
        .map(|t| String::from(t.trim()))
        .map_err(|source| TopologyError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// The file's text, or `None` if it does not exist.
fn optional(path: &Path) -> Result<Option<String>, TopologyError> {
    match text(path) {
        Ok(t) => Ok(Some(t)),
        Err(TopologyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn list(path: &Path) -> Result<Vec<u32>, TopologyError> {
    parse_list(path, &text(path)?)
}

fn parse_list(path: &Path, text: &str) -> Result<Vec<u32>, TopologyError> {
    cpulist::parse(text).ok_or_else(|| parse_error(path, text))
}

fn number(path: &Path, text: &str) -> Result<u32, TopologyError> {
    text.parse().map_err(|_| parse_error(path, text))
}

fn parse_error(path: &Path, text: &str) -> TopologyError {
    TopologyError::Parse {
        path: path.to_path_buf(),
        text: String::from(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fake `/sys/devices/system` in a fresh temporary directory.
    struct FakeSys(PathBuf);

    impl FakeSys {
        fn new() -> FakeSys {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(alloc::format!(
                "axonal-sysfs-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            FakeSys(dir)
        }

        fn file(&self, path: &str, text: &str) -> &Self {
            let path = self.0.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
            self
        }

        /// CPU `id`: package, thread siblings, and its caches
        /// (level, type, size, shared list).
        fn cpu(
            &self,
            id: u32,
            package: u32,
            siblings: &str,
            caches: &[(u8, &str, &str, &str)],
        ) -> &Self {
            let t = alloc::format!("cpu/cpu{id}/topology");
            self.file(
                &alloc::format!("{t}/physical_package_id"),
                &alloc::format!("{package}\n"),
            );
            self.file(&alloc::format!("{t}/thread_siblings_list"), siblings);
            for (i, (level, kind, size, shared)) in caches.iter().enumerate() {
                let c = alloc::format!("cpu/cpu{id}/cache/index{i}");
                self.file(&alloc::format!("{c}/level"), &alloc::format!("{level}\n"));
                self.file(&alloc::format!("{c}/type"), kind);
                self.file(&alloc::format!("{c}/size"), size);
                self.file(&alloc::format!("{c}/coherency_line_size"), "64\n");
                self.file(&alloc::format!("{c}/shared_cpu_list"), shared);
            }
            self
        }
    }

    impl Drop for FakeSys {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn two_nodes_with_smt_and_shared_caches() {
        let sys = FakeSys::new();
        sys.file("cpu/online", "0-3\n")
            .file("node/node0/cpulist", "0-1\n")
            .file(
                "node/node0/meminfo",
                "Node 0 MemTotal:  1024 kB\nNode 0 MemFree: 5 kB\n",
            )
            .file("node/node1/cpulist", "2-3\n")
            .file("node/possible", "0-1\n");
        for id in 0..4 {
            let pair = if id < 2 { "0-1" } else { "2-3" };
            sys.cpu(
                id,
                id / 2,
                pair,
                &[(1, "Data", "32K", pair), (3, "Unified", "16M", pair)],
            );
        }
        let t = read(&sys.0).unwrap();
        assert_eq!(t.source(), Source::Sysfs);
        assert_eq!(t.cpus().len(), 4);
        assert_eq!(t.packages(), [0, 1]);
        assert_eq!(t.cores().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(t.smt_siblings(3), [2, 3]);
        assert_eq!(t.nodes().len(), 2);
        assert_eq!(t.nodes()[0].memory_bytes, Some(1 << 20));
        assert_eq!(t.cpu(2).map(|c| c.node), Some(1));
        assert_eq!(t.cache_size(1), Some(32 << 10));
        assert_eq!(t.cache_size(3), Some(16 << 20));
        assert_eq!(t.caches().len(), 4, "instances deduplicated");
    }

    #[test]
    fn missing_optional_files_default_and_bad_files_are_errors() {
        let sys = FakeSys::new();
        sys.file("cpu/online", "0-1\n");
        let t = read(&sys.0).unwrap();
        assert_eq!(
            (t.cpus().len(), t.nodes().len(), t.cores().count()),
            (2, 1, 2)
        );
        assert_eq!(t.cache_size(1), None);

        sys.file("cpu/cpu1/topology/physical_package_id", "one\n");
        assert!(matches!(read(&sys.0), Err(TopologyError::Parse { .. })));
        sys.file("cpu/cpu1/topology/physical_package_id", "0\n")
            .cpu(0, 0, "0", &[(1, "Weird", "32K", "0")]);
        assert!(matches!(read(&sys.0), Err(TopologyError::Parse { .. })));
        let empty = FakeSys::new();
        assert!(matches!(read(&empty.0), Err(TopologyError::Io { .. })));
        empty.file("cpu/online", "\n");
        assert!(matches!(read(&empty.0), Err(TopologyError::NoCpus)));
    }

    #[test]
    fn sizes_and_meminfo() {
        assert_eq!(bytes("32K"), Some(32 << 10));
        assert_eq!(bytes("1M"), Some(1 << 20));
        assert_eq!(bytes("64"), Some(64));
        assert_eq!(bytes("K"), None);
        assert_eq!(
            mem_total("Node 0 MemTotal:   7825184 kB"),
            Some(7825184 * 1024)
        );
        assert_eq!(mem_total("nothing"), None);
    }
}
