//! The topology through the hwloc library (the `hwloc` feature).
//!
//! hwloc knows more platforms than Linux sysfs (and fixes up what firmware
//! reports wrongly); axonal keeps only what it places work by, in the same
//! shape as the sysfs reader, so the two can be compared and either used.

use alloc::string::ToString;
use alloc::vec::Vec;

use hwlocality::object::TopologyObject;
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::{CacheType, ObjectType};
use hwlocality::topology::builder::TypeFilter;

use super::{Cache, CacheKind, Cpu, NumaNode, Source, Topology, TopologyError};

pub(super) fn read() -> Result<Topology, TopologyError> {
    let library = |e: &dyn core::fmt::Display| TopologyError::Library(e.to_string());
    let topo = hwlocality::Topology::builder()
        .with_type_filter(ObjectType::L1ICache, TypeFilter::KeepAll)
        .map_err(|e| library(&e))?
        .build()
        .map_err(|e| library(&e))?;

    let nodes: Vec<NumaNode> = topo
        .objects_with_type(ObjectType::NUMANode)
        .map(|node| NumaNode {
            id: node.os_index().unwrap_or(0) as u32,
            cpus: cpus_of(node),
            memory_bytes: match node.attributes() {
                Some(ObjectAttributes::NUMANode(a)) => a.local_memory().map(|m| m.get()),
                _ => None,
            },
        })
        .collect();

    // A core is named by its lowest PU; numbered in that order (as sysfs).
    let mut core_names: Vec<u32> = topo
        .objects_with_type(ObjectType::Core)
        .filter_map(|core| cpus_of(core).first().copied())
        .collect();
    core_names.sort_unstable();
    let mut cpus = Vec::new();
    for pu in topo.objects_with_type(ObjectType::PU) {
        let Some(id) = pu.os_index() else { continue };
        let id = id as u32;
        let core_name = pu
            .first_ancestor_with_type(ObjectType::Core)
            .and_then(|c| cpus_of(c).first().copied())
            .unwrap_or(id);
        cpus.push(Cpu {
            id,
            package: pu
                .first_ancestor_with_type(ObjectType::Package)
                .and_then(TopologyObject::os_index)
                .unwrap_or(0) as u32,
            core: core_names.binary_search(&core_name).unwrap_or(0) as u32,
            node: nodes
                .iter()
                .find(|n| n.cpus.contains(&id))
                .map_or(0, |n| n.id),
        });
    }
    if cpus.is_empty() {
        return Err(TopologyError::NoCpus);
    }

    let mut caches = Vec::new();
    for ty in [
        ObjectType::L1Cache,
        ObjectType::L1ICache,
        ObjectType::L2Cache,
        ObjectType::L3Cache,
        ObjectType::L4Cache,
    ] {
        for cache in topo.objects_with_type(ty) {
            let Some(ObjectAttributes::Cache(a)) = cache.attributes() else {
                continue;
            };
            caches.push(Cache {
                level: a.depth() as u8,
                kind: match a.cache_type() {
                    CacheType::Data => CacheKind::Data,
                    CacheType::Instruction => CacheKind::Instruction,
                    _ => CacheKind::Unified,
                },
                size_bytes: a.size().map_or(0, |s| s.get()),
                line_bytes: a.line_size().map_or(0, |l| l.get() as u32),
                cpus: cpus_of(cache),
            });
        }
    }
    Ok(Topology::new(cpus, nodes, caches, Source::Hwloc))
}

/// The OS ids of the CPUs under `object`, ascending.
fn cpus_of(object: &TopologyObject) -> Vec<u32> {
    object.cpuset().map_or_else(Vec::new, |set| {
        set.iter_set().map(|i| usize::from(i) as u32).collect()
    })
}
