//! `baseline`: the obvious implementation shaped like the seed design, kept
//! in the benches only (see the `axonal::spread` module docs): a `HashMap<u64,
//! Box<Record>>` of activation records allocated per node touched, a
//! `Vec<Vec<(u64, f32)>>` adjacency, a FIFO task queue per hop, the same
//! semantics in `f32`.

use std::collections::{HashMap, VecDeque};

use axonal::graph::Graph;
use axonal::spread::{Fan, Seed, SpreadParams};

pub struct Record {
    pub node: u64,
    pub activation: f32,
    pub hop: u8,
    pub confidence: f32,
}

pub struct Baseline {
    adjacency: Vec<Vec<(u64, f32)>>,
}

impl Baseline {
    pub fn new(graph: &Graph) -> Baseline {
        let mut adjacency = vec![Vec::new(); graph.node_count()];
        for (u, v, w) in graph.edges() {
            adjacency[u as usize].push((u64::from(v), w));
        }
        Baseline { adjacency }
    }

    /// Runs a query; returns `(node, activation)` ranked, top-k.
    pub fn query(&self, seeds: &[Seed], p: &SpreadParams) -> Vec<(u64, f32)> {
        self.query_counting(seeds, p, |_| {})
    }

    /// [`query`](Baseline::query), calling `contribution(v)` for every
    /// contribution node `v` receives (seeds included): the `c_v` of the
    /// numerical contract's tolerance. The timed `query` passes a no-op,
    /// which compiles away.
    pub fn query_counting(
        &self,
        seeds: &[Seed],
        p: &SpreadParams,
        mut contribution: impl FnMut(u64),
    ) -> Vec<(u64, f32)> {
        let mut records: HashMap<u64, Box<Record>> = HashMap::new();
        for s in seeds {
            contribution(u64::from(s.node));
            let r = records.entry(u64::from(s.node)).or_insert_with(|| {
                Box::new(Record {
                    node: u64::from(s.node),
                    activation: 0.0,
                    hop: 0,
                    confidence: 0.0,
                })
            });
            r.activation = (r.activation + s.activation).min(1.0);
        }
        let mut queue: VecDeque<(u64, f32)> = VecDeque::new();
        let mut seen = Vec::new();
        for s in seeds {
            let node = u64::from(s.node);
            if !seen.contains(&node) {
                seen.push(node);
                let a = records[&node].activation;
                if a >= p.threshold.at(0) && a > 0.0 && p.max_hops > 0 {
                    queue.push_back((node, a));
                }
            }
        }
        for h in 1..=p.max_hops {
            if queue.is_empty() {
                break;
            }
            let decay = p.decay.at(h) as f32;
            let mut deltas: HashMap<u64, f32> = HashMap::new();
            while let Some((u, d)) = queue.pop_front() {
                let edges = &self.adjacency[u as usize];
                let fan = match p.fan {
                    Fan::None => 1.0,
                    Fan::Divide => 1.0 / edges.len() as f32,
                    Fan::Sqrt => 1.0 / (edges.len() as f32).sqrt(),
                };
                for &(v, w) in edges {
                    contribution(v);
                    *deltas.entry(v).or_insert(0.0) += d * w * fan * decay;
                }
            }
            let mut incoming: Vec<(u64, f32)> = deltas.into_iter().collect();
            incoming.sort_unstable_by_key(|x| x.0);
            let theta = p.threshold.at(h);
            for (v, delta) in incoming {
                let r = records.entry(v).or_insert_with(|| {
                    Box::new(Record {
                        node: v,
                        activation: 0.0,
                        hop: u8::MAX,
                        confidence: 0.0,
                    })
                });
                let new = (r.activation + delta).min(1.0);
                let applied = new - r.activation;
                r.activation = new;
                if applied > 0.0 && r.hop == u8::MAX {
                    r.hop = h as u8;
                }
                if h < p.max_hops && applied > 0.0 && applied >= theta {
                    queue.push_back((v, applied));
                }
            }
        }
        let mut results: Vec<(u64, f32)> = records
            .values_mut()
            .filter(|r| r.activation >= p.min_activation && r.activation > 0.0)
            .map(|r| {
                r.confidence = r.activation * p.confidence.at(r.hop);
                (r.node, r.activation)
            })
            .collect();
        results.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        results.truncate(p.top_k);
        results
    }
}
