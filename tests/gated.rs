//! A gate that stops a query before hop `k + 1` leaves exactly the results of
//! the same query with `max_hops = k`, flagged truncated; the gate sees what
//! each hop would do; the parallel spreader's gate sees the same plans.

mod common;

use axonal::spread::{Fan, HopPlan, SpreadParams, Spreader};
use common::{random_graph, random_seeds};

fn params(hops: usize) -> SpreadParams {
    SpreadParams {
        max_hops: hops,
        fan: Fan::Sqrt,
        top_k: 500,
        ..SpreadParams::default()
    }
}

#[test]
fn stopping_before_hop_k_plus_1_equals_max_hops_k() {
    let n = if cfg!(miri) { 60 } else { 2_000 };
    let graph = random_graph(11, n, n * 6, false);
    let seeds = random_seeds(3, n, 6);
    let mut s = Spreader::new(graph.node_count());
    let (mut gated, mut plain) = (Vec::new(), Vec::new());
    let full = params(6);
    for k in 0..6 {
        let mut plans: Vec<HopPlan> = Vec::new();
        let stats = s
            .spread_gated(&graph, &seeds, &full, &mut gated, |plan| {
                plans.push(*plan);
                plan.hop as usize <= k
            })
            .unwrap();
        let gated_activations: Vec<u32> = s.activations().into_iter().map(f32::to_bits).collect();
        let want = s.spread(&graph, &seeds, &params(k), &mut plain).unwrap();
        let plain_activations: Vec<u32> = s.activations().into_iter().map(f32::to_bits).collect();
        assert_eq!(gated, plain, "k = {k}");
        assert_eq!(gated_activations, plain_activations, "k = {k}");
        assert_eq!(stats.hops, want.hops);
        assert_eq!(stats.edges_traversed, want.edges_traversed);
        // Truncated exactly when the gate refused a hop that had a frontier.
        assert_eq!(stats.truncated, plans.len() > k, "k = {k}");
        for (i, plan) in plans.iter().enumerate() {
            assert_eq!(plan.hop as usize, i + 1);
            assert!(plan.frontier > 0);
            let read = if plan.pull {
                graph.edge_count() as u64
            } else {
                plan.frontier_edges
            };
            assert_eq!(plan.edges_to_read, read);
        }
    }
}

#[cfg(feature = "parallel")]
#[test]
fn the_parallel_gate_sees_the_same_plans_and_stops_the_same_way() {
    use axonal::machine::workers::Workers;
    use axonal::spread::ParallelSpreader;

    let n = if cfg!(miri) { 60 } else { 3_000 };
    let graph = random_graph(12, n, n * 8, true);
    let seeds = random_seeds(5, n, 8);
    let workers = Workers::unpinned(3).unwrap();
    let mut parallel = ParallelSpreader::new(&graph, &workers);
    let mut serial = Spreader::new(graph.node_count());
    let full = params(5);
    for k in 0..5 {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut plans_a, mut plans_b) = (Vec::new(), Vec::new());
        let sa = serial
            .spread_gated(&graph, &seeds, &full, &mut a, |p| {
                plans_a.push(*p);
                p.hop as usize <= k
            })
            .unwrap();
        let sb = parallel
            .spread_gated(&graph, &seeds, &full, &mut b, |p| {
                plans_b.push(*p);
                p.hop as usize <= k
            })
            .unwrap();
        assert_eq!(plans_a, plans_b);
        assert_eq!(sa, sb);
        assert_eq!(a, b);
    }
}
