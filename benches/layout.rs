//! The same multi-hop traversal over axonal's layout (64-byte node records +
//! CSR, degree-reordered) and over the layout an engine writes first (a node
//! struct holding its own `Vec` of neighbours, in insertion order).

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::layout::{AlignedBuf, Node};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const HOPS: u16 = 2;

/// The first layout an engine writes: every field of the seed design's node,
/// adjacency in a `Vec` per node.
#[allow(dead_code)]
struct NaiveNode {
    memory_id: u64,
    activation: f32,
    confidence: f32,
    hop_count: u16,
    storage_tier: u8,
    flags: u8,
    embedding: Option<Box<[f32]>>,
    neighbors: Vec<(u64, f32)>,
    last_access: f64,
    creation_time: f64,
    access_count: u32,
    tier_migration_history: u32,
}

/// Breadth-first expansion for `HOPS` hops, accumulating `activation * w / 2`
/// into every neighbour; returns edges read. Leaves the nodes as it found them.
fn traverse_naive(
    nodes: &mut [NaiveNode],
    seeds: &[u32],
    frontier: &mut Vec<u64>,
    next: &mut Vec<u64>,
    touched: &mut Vec<u64>,
) -> u64 {
    let mut edges = 0;
    frontier.clear();
    touched.clear();
    for &s in seeds {
        let n = &mut nodes[s as usize];
        if n.hop_count == u16::MAX {
            n.hop_count = 0;
            n.activation = 1.0;
            frontier.push(u64::from(s));
            touched.push(u64::from(s));
        }
    }
    for h in 1..=HOPS {
        next.clear();
        for &u in frontier.iter() {
            let a = nodes[u as usize].activation;
            for i in 0..nodes[u as usize].neighbors.len() {
                let (v, w) = nodes[u as usize].neighbors[i];
                let n = &mut nodes[v as usize];
                if n.hop_count == u16::MAX {
                    n.hop_count = h;
                    next.push(v);
                    touched.push(v);
                }
                n.activation += a * w * 0.5;
                edges += 1;
            }
        }
        std::mem::swap(frontier, next);
    }
    for &v in touched.iter() {
        nodes[v as usize].hop_count = u16::MAX;
        nodes[v as usize].activation = 0.0;
    }
    edges
}

/// The same over 64-byte records and CSR arrays.
fn traverse_node64(
    nodes: &mut [Node],
    targets: &[u32],
    weights: &[f32],
    seeds: &[u32],
    frontier: &mut Vec<u32>,
    next: &mut Vec<u32>,
    touched: &mut Vec<u32>,
) -> u64 {
    let mut edges = 0;
    frontier.clear();
    touched.clear();
    for &s in seeds {
        let n = &mut nodes[s as usize];
        if n.hop_count == u16::MAX {
            n.hop_count = 0;
            n.activation = 1.0;
            frontier.push(s);
            touched.push(s);
        }
    }
    for h in 1..=HOPS {
        next.clear();
        for &u in frontier.iter() {
            let node = nodes[u as usize];
            let range = node.edge_range();
            let range = range.start as usize..range.end as usize;
            for (&v, &w) in targets[range.clone()].iter().zip(&weights[range]) {
                let n = &mut nodes[v as usize];
                if n.hop_count == u16::MAX {
                    n.hop_count = h;
                    next.push(v);
                    touched.push(v);
                }
                n.activation += node.activation * w * 0.5;
                edges += 1;
            }
        }
        std::mem::swap(frontier, next);
    }
    for &v in touched.iter() {
        nodes[v as usize].hop_count = u16::MAX;
        nodes[v as usize].activation = 0.0;
    }
    edges
}

fn traverse(c: &mut Criterion) {
    let w = common::rmat20();
    let queries: Vec<Vec<u32>> = common::rmat_queries(&w.original, 16, 9)
        .iter()
        .map(|q| q.iter().map(|s| s.node).collect())
        .collect();
    let mapped: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| q.iter().map(|&v| w.perm.to_new(v)).collect())
        .collect();

    let mut naive: Vec<NaiveNode> = (0..w.original.node_count() as u64)
        .map(|id| NaiveNode {
            memory_id: id,
            activation: 0.0,
            confidence: 0.0,
            hop_count: u16::MAX,
            storage_tier: 0,
            flags: 0,
            embedding: None,
            neighbors: Vec::new(),
            last_access: 0.0,
            creation_time: 0.0,
            access_count: 0,
            tier_migration_history: 0,
        })
        .collect();
    for (u, v, wt) in w.original.edges() {
        naive[u as usize].neighbors.push((u64::from(v), wt));
    }
    let mut nodes: AlignedBuf<Node> = w.reordered.node_records();
    let out = w.reordered.out_edges();
    let (targets, weights) = (out.targets(), out.weights());

    let (mut f64s, mut n64s, mut t64s) = (Vec::new(), Vec::new(), Vec::new());
    let (mut f32s, mut n32s, mut t32s) = (Vec::new(), Vec::new(), Vec::new());
    let edges: u64 = queries
        .iter()
        .map(|q| traverse_naive(&mut naive, q, &mut f64s, &mut n64s, &mut t64s))
        .sum();
    let edges64: u64 = mapped
        .iter()
        .map(|q| {
            traverse_node64(
                &mut nodes, targets, weights, q, &mut f32s, &mut n32s, &mut t32s,
            )
        })
        .sum();
    assert_eq!(edges, edges64, "both layouts must do the same traversal");

    let mut group = c.benchmark_group("layout/traverse");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(edges));
    group.bench_function("node64", |b| {
        b.iter(|| {
            for q in &mapped {
                black_box(traverse_node64(
                    &mut nodes, targets, weights, q, &mut f32s, &mut n32s, &mut t32s,
                ));
            }
        })
    });
    group.bench_function("naive", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(traverse_naive(
                    &mut naive, q, &mut f64s, &mut n64s, &mut t64s,
                ));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, traverse);
criterion_main!(benches);
