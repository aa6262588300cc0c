//! Prints what axonal detects about this machine: packages, NUMA nodes,
//! cores, SMT siblings and caches (compare with `lscpu` / `lstopo`).

use axonal::topology::Topology;

fn main() {
    let t = Topology::detect();
    println!("source: {:?}", t.source());
    println!(
        "CPUs: {}, cores: {}, packages: {}, NUMA nodes: {}",
        t.cpus().len(),
        t.cores().count(),
        t.packages().len(),
        t.nodes().len()
    );
    for node in t.nodes() {
        let memory = node
            .memory_bytes
            .map_or("memory unknown".to_string(), |m| format!("{} MiB", m >> 20));
        println!("node {}: CPUs {:?}, {memory}", node.id, node.cpus);
    }
    for cpu in t.cpus() {
        println!(
            "cpu {}: package {}, core {}, node {}, SMT siblings {:?}",
            cpu.id,
            cpu.package,
            cpu.core,
            cpu.node,
            t.smt_siblings(cpu.id)
        );
    }
    for cache in t.caches() {
        println!(
            "L{} {:?}: {} KiB, {}-byte lines, shared by CPUs {:?}",
            cache.level,
            cache.kind,
            cache.size_bytes >> 10,
            cache.line_bytes,
            cache.cpus
        );
    }
}
