//! Prints what axonal detects about this machine: the CPU model and SIMD
//! backend, packages, NUMA nodes,
//! cores, SMT siblings and caches (compare with `lscpu` / `lstopo`), where
//! one worker per core would be pinned, and, with `--features hwloc`,
//! whether hwloc sees the same machine.
//!
//! ```sh
//! cargo run --example topology
//! cargo run --example topology --features hwloc
//! ```

use axonal::machine::topology::Topology;

fn main() {
    println!("{}", axonal::simd::Platform::detect());
    let t = Topology::detect();
    print(&t);
    #[cfg(feature = "parallel")]
    {
        let cores = t.cores().count();
        println!(
            "one worker per core would be pinned to CPUs {:?}",
            axonal::machine::workers::Workers::plan(&t, cores, None)
        );
    }
    #[cfg(feature = "hwloc")]
    match Topology::from_hwloc() {
        Ok(h) => {
            let same = h.cpus() == t.cpus() && h.nodes() == t.nodes() && h.caches() == t.caches();
            println!();
            print(&h);
            println!(
                "hwloc and {:?} {}",
                t.source(),
                if same { "agree" } else { "DISAGREE" }
            );
        }
        Err(e) => println!("hwloc failed: {e}"),
    }
}

fn print(t: &Topology) {
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
