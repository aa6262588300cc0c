//! The same multi-hop traversal over axonal's layout (64-byte node records +
//! CSR, degree-reordered) and over the layout an engine writes first (a node
//! struct holding its own `Vec` of neighbours, in insertion order).

mod common;

use std::hint::black_box;
use std::time::Duration;

use axonal::layout::{AlignedBuf, Node};
use criterion::{Criterion, Throughput, criterion_group};

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

/// What the traversal needs from a node layout.
trait Layout {
    fn hop(&self, v: u32) -> u16;
    fn activation(&self, v: u32) -> f32;
    /// Sets `v`'s hop and adds to its activation.
    fn visit(&mut self, v: u32, hop: u16, add: f32);
    fn reset(&mut self, v: u32);
    fn degree(&self, u: u32) -> usize;
    fn neighbor(&self, u: u32, i: usize) -> (u32, f32);
}

/// The first layout an engine writes, indexed by node id.
struct Naive(Vec<NaiveNode>);

impl Layout for Naive {
    #[inline(always)]
    fn hop(&self, v: u32) -> u16 {
        self.0[v as usize].hop_count
    }
    #[inline(always)]
    fn activation(&self, v: u32) -> f32 {
        self.0[v as usize].activation
    }
    #[inline(always)]
    fn visit(&mut self, v: u32, hop: u16, add: f32) {
        let n = &mut self.0[v as usize];
        n.hop_count = hop;
        n.activation += add;
    }
    #[inline(always)]
    fn reset(&mut self, v: u32) {
        let n = &mut self.0[v as usize];
        n.hop_count = u16::MAX;
        n.activation = 0.0;
    }
    #[inline(always)]
    fn degree(&self, u: u32) -> usize {
        self.0[u as usize].neighbors.len()
    }
    #[inline(always)]
    fn neighbor(&self, u: u32, i: usize) -> (u32, f32) {
        let (v, w) = self.0[u as usize].neighbors[i];
        (v as u32, w)
    }
}

/// axonal's layout: 64-byte records and CSR arrays.
struct Node64<'g> {
    nodes: AlignedBuf<Node>,
    targets: &'g [u32],
    weights: &'g [f32],
}

impl Layout for Node64<'_> {
    #[inline(always)]
    fn hop(&self, v: u32) -> u16 {
        self.nodes[v as usize].hop_count
    }
    #[inline(always)]
    fn activation(&self, v: u32) -> f32 {
        self.nodes[v as usize].activation
    }
    #[inline(always)]
    fn visit(&mut self, v: u32, hop: u16, add: f32) {
        let n = &mut self.nodes[v as usize];
        n.hop_count = hop;
        n.activation += add;
    }
    #[inline(always)]
    fn reset(&mut self, v: u32) {
        let n = &mut self.nodes[v as usize];
        n.hop_count = u16::MAX;
        n.activation = 0.0;
    }
    #[inline(always)]
    fn degree(&self, u: u32) -> usize {
        self.nodes[u as usize].edge_count as usize
    }
    #[inline(always)]
    fn neighbor(&self, u: u32, i: usize) -> (u32, f32) {
        let e = self.nodes[u as usize].edge_start as usize + i;
        (self.targets[e], self.weights[e])
    }
}

/// Scratch lists of one traversal.
#[derive(Default)]
struct Lists {
    frontier: Vec<u32>,
    next: Vec<u32>,
    touched: Vec<u32>,
}

/// Breadth-first expansion for `HOPS` hops, accumulating `activation * w / 2`
/// into every neighbour; returns edges read. Leaves the nodes as it found them.
fn traverse_layout<L: Layout>(layout: &mut L, seeds: &[u32], lists: &mut Lists) -> u64 {
    let mut edges = 0;
    lists.frontier.clear();
    lists.touched.clear();
    for &s in seeds {
        if layout.hop(s) == u16::MAX {
            layout.visit(s, 0, 1.0);
            lists.frontier.push(s);
            lists.touched.push(s);
        }
    }
    for h in 1..=HOPS {
        lists.next.clear();
        for &u in &lists.frontier {
            let a = layout.activation(u);
            for i in 0..layout.degree(u) {
                let (v, w) = layout.neighbor(u, i);
                let first = layout.hop(v) == u16::MAX;
                layout.visit(v, if first { h } else { layout.hop(v) }, a * w * 0.5);
                if first {
                    lists.next.push(v);
                    lists.touched.push(v);
                }
                edges += 1;
            }
        }
        std::mem::swap(&mut lists.frontier, &mut lists.next);
    }
    for &v in &lists.touched {
        layout.reset(v);
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
    let mut naive = Naive(naive);
    let out = w.reordered.out_edges();
    let mut node64 = Node64 {
        nodes: w.reordered.node_records(),
        targets: out.targets(),
        weights: out.weights(),
    };

    let mut lists = Lists::default();
    let edges: u64 = queries
        .iter()
        .map(|q| traverse_layout(&mut naive, q, &mut lists))
        .sum();
    let edges64: u64 = mapped
        .iter()
        .map(|q| traverse_layout(&mut node64, q, &mut lists))
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
                black_box(traverse_layout(&mut node64, q, &mut lists));
            }
        })
    });
    group.bench_function("naive", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(traverse_layout(&mut naive, q, &mut lists));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, traverse);
common::bench_main!(benches);
