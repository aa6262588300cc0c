//! The GPU kernels against the CPU ones: spreading bit-identical to
//! `Spreader` (single queries and batches, push and pull hops, on random,
//! R-MAT, Barabási-Albert, chain and fan graphs, several parameter sets),
//! similarity top-k equal to the CPU scans' within their f32 tolerance.
//!
//! Without a Vulkan device every test prints why it skipped and passes;
//! with `AXONAL_REQUIRE_GPU=1` (CI, which installs Mesa's lavapipe) a
//! missing device or validation layer fails instead, and so does any
//! message of the validation layer.

#![cfg(feature = "vulkan")]

mod common;

use axonal::gpu::{Gpu, GpuEmbeddings, GpuError, GpuGraph, GpuOptions, GpuSpreader, MAX_QUERIES};
use axonal::graph::generate::{self, Rmat};
use axonal::graph::{Graph, GraphBuilder};
use axonal::layout::{EmbeddingError, EmbeddingMatrix};
use axonal::simd::{Hit, Kernels, TopK};
use axonal::spread::{
    MAX_HOPS, Seed, SpreadError, SpreadParams, SpreadStats, Spreader, SpreaderConfig, Threshold,
};
use common::{bits, param_sets, random_graph, random_seeds, seed_sets};

/// The device, validated, or `None` (after saying why) where there is none.
fn gpu() -> Option<Gpu> {
    gpu_with(GpuOptions::default())
}

fn gpu_with(options: GpuOptions) -> Option<Gpu> {
    let required = std::env::var_os("AXONAL_REQUIRE_GPU").is_some_and(|v| v == "1");
    let options = options.with_validation(true);
    match Gpu::with_options(&options) {
        Ok(gpu) => {
            assert!(
                gpu.validating() || !required,
                "AXONAL_REQUIRE_GPU=1 but the Vulkan validation layer is not installed"
            );
            Some(gpu)
        }
        Err(e) if required => panic!("AXONAL_REQUIRE_GPU=1 but no Vulkan device: {e}"),
        Err(e) => {
            eprintln!("skipping: no Vulkan device ({e})");
            None
        }
    }
}

/// Fails on any message of the validation layer.
fn no_validation_messages(gpu: &Gpu) {
    assert_eq!(gpu.validation_errors(), 0, "validation layer messages");
}

/// The statistics that do not depend on how a hop was run.
fn semantic(s: &SpreadStats) -> (u32, u64, u32, [u32; MAX_HOPS + 1], bool) {
    (
        s.hops,
        s.edges_traversed,
        s.activated,
        s.frontier,
        s.truncated,
    )
}

fn graphs() -> Vec<(&'static str, Graph)> {
    vec![
        ("random", random_graph(1, 3_000, 20_000, false)),
        ("random_symmetric", random_graph(2, 1_500, 6_000, true)),
        ("rmat12", Rmat::graph500(12).generate()),
        ("ba", generate::barabasi_albert(4_000, 4, 9)),
        ("chain", generate::chain(300, 0.97)),
        ("fan", generate::fan(2_000, 0.8)),
        ("fan_in", fan_in(10_000)),
    ]
}

/// `leaves` nodes all pointing at node 0, which points back at each: a
/// row of more in-edges than one chunk holds (pulled in chunks on the
/// device) and a node of thousands of out-edges reached at hop 1 (pushed
/// by the whole device at hop 2).
fn fan_in(leaves: u32) -> Graph {
    let mut b = GraphBuilder::with_node_count(leaves + 1);
    for v in 1..=leaves {
        b.add_edge(v, 0, 1.0 / (1 + v % 7) as f32).unwrap();
        b.add_edge(0, v, 0.5 / (1 + v % 3) as f32).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn the_graphs_have_hubs_both_ways() {
    let graphs = graphs();
    let max = |f: &dyn Fn(&Graph, u32) -> u32| {
        graphs
            .iter()
            .map(|(_, g)| (0..g.node_count() as u32).map(|v| f(g, v)).max().unwrap())
            .max()
            .unwrap()
    };
    // More in-edges than two of pull.wgsl's chunks (4096 edges), more
    // out-edges than PUSH_HEAVY (1024), on some graph.
    assert!(max(&|g, v| g.in_edges().degree(v)) > 2 * 4096);
    assert!(max(&|g, v| g.out_edges().degree(v)) > 1024);
}

/// Always pull, never pull (where the device can push), and the default.
fn configs(nodes: usize) -> [SpreaderConfig; 3] {
    let default = SpreaderConfig::for_nodes(nodes);
    [
        default.with_pull_fraction(0.0),
        default.with_pull_fraction(2.0),
        default,
    ]
}

#[test]
fn single_queries_are_bit_identical_to_spreader() {
    let Some(gpu) = gpu() else { return };
    for (name, graph) in graphs() {
        let n = graph.node_count();
        let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
        let mut device = GpuSpreader::new(&gpu, n).unwrap();
        let mut cpu = Spreader::new(n);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        for config in configs(n) {
            device.set_config(config);
            for (p, params) in param_sets().iter().enumerate() {
                for (q, seeds) in seed_sets(n as u32).iter().enumerate() {
                    let expected = cpu.spread(&graph, seeds, params, &mut want).unwrap();
                    let stats = device.spread(&on_device, seeds, params, &mut got).unwrap();
                    let at = format!("{name}, params #{p}, seeds #{q}, {config:?}");
                    assert_eq!(bits(&got), bits(&want), "{at}");
                    assert_eq!(semantic(&stats), semantic(&expected), "{at}");
                }
            }
        }
        // Every node's state, not only the ranked ones.
        let seeds = random_seeds(3, n as u32, 10);
        let p = SpreadParams::query_std();
        cpu.spread(&graph, &seeds, &p, &mut want).unwrap();
        device.spread(&on_device, &seeds, &p, &mut got).unwrap();
        let activations = device.activations().unwrap();
        assert!(
            activations
                .iter()
                .map(|a| a.to_bits())
                .eq(cpu.activations().iter().map(|a| a.to_bits())),
            "{name}: activations"
        );
        let hops = device.hops().unwrap();
        assert!(
            (0..n as u32).all(|v| hops[v as usize] == cpu.hop_of(v)),
            "{name}: hops"
        );
    }
    no_validation_messages(&gpu);
}

#[test]
fn without_64_bit_atomics_every_hop_pulls_and_nothing_changes() {
    let Some(gpu) = gpu_with(GpuOptions::default().without_atomic64()) else {
        return;
    };
    assert!(!gpu.info().atomic64);
    for (name, graph) in graphs().into_iter().skip(1).step_by(2) {
        let n = graph.node_count();
        let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
        let mut device = GpuSpreader::new(&gpu, n).unwrap();
        assert!(!device.pushes());
        let mut cpu = Spreader::new(n);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        // A push-only configuration still pulls on this device.
        device.set_config(SpreaderConfig::for_nodes(n).with_pull_fraction(2.0));
        for params in param_sets() {
            for seeds in seed_sets(n as u32) {
                let expected = cpu.spread(&graph, &seeds, &params, &mut want).unwrap();
                let stats = device
                    .spread(&on_device, &seeds, &params, &mut got)
                    .unwrap();
                assert_eq!(bits(&got), bits(&want), "{name}");
                assert_eq!(semantic(&stats), semantic(&expected), "{name}");
                assert_eq!(stats.push_hops, 0, "{name}: {stats:?}");
            }
        }
    }
    no_validation_messages(&gpu);
}

#[test]
fn every_pull_team_gives_the_same_bits() {
    let Some(gpu) = gpu() else { return };
    for (name, graph) in graphs() {
        let n = graph.node_count();
        let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
        let mut device = GpuSpreader::with_lanes(&gpu, n, 3).unwrap();
        device.set_config(SpreaderConfig::for_nodes(n).with_pull_fraction(0.0));
        let mut cpu = Spreader::new(n);
        let queries = seed_sets(n as u32);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        for team in [Some(1), Some(2), Some(8), Some(32), None] {
            device.set_pull_team(team).unwrap();
            for params in [SpreadParams::query_std(), param_sets()[2]] {
                device
                    .spread_batch(&on_device, &queries[..3], &params, &mut got)
                    .unwrap();
                for (q, seeds) in queries[..3].iter().enumerate() {
                    cpu.spread(&graph, seeds, &params, &mut want).unwrap();
                    assert_eq!(
                        bits(&got[q]),
                        bits(&want),
                        "{name}, team {team:?}, query {q}"
                    );
                }
            }
        }
        for bad in [0, 3, 64] {
            assert!(matches!(
                device.set_pull_team(Some(bad)),
                Err(GpuError::Spread(SpreadError::InvalidParameter { .. }))
            ));
        }
    }
    no_validation_messages(&gpu);
}

#[test]
fn batches_are_bit_identical_to_queries_alone() {
    let Some(gpu) = gpu() else { return };
    for (name, graph) in graphs().into_iter().step_by(2) {
        let n = graph.node_count();
        let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
        let mut device = GpuSpreader::with_lanes(&gpu, n, 8).unwrap();
        let mut cpu = Spreader::new(n);
        let queries: Vec<Vec<Seed>> = (0..8)
            .map(|i| random_seeds(100 + i, n as u32, 1 + i as usize * 3))
            .collect();
        let mut want = Vec::new();
        let mut results = Vec::new();
        for params in param_sets() {
            for size in [1, 3, 8] {
                device
                    .spread_batch(&on_device, &queries[..size], &params, &mut results)
                    .unwrap();
                assert_eq!(results.len(), size);
                for (q, seeds) in queries[..size].iter().enumerate() {
                    cpu.spread(&graph, seeds, &params, &mut want).unwrap();
                    assert_eq!(
                        bits(&results[q]),
                        bits(&want),
                        "{name}, query {q} of {size}"
                    );
                }
            }
        }
    }
    no_validation_messages(&gpu);
}

#[test]
fn one_spreader_across_graphs_with_and_without_hubs() {
    let Some(gpu) = gpu() else { return };
    let hubs = fan_in(10_000);
    let n = hubs.node_count();
    let plain = random_graph(4, n as u32, 30_000, false);
    let mut device = GpuSpreader::with_lanes(&gpu, n, 2).unwrap();
    let mut cpu = Spreader::new(n);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    let seeds = [Seed::new(5, 1.0), Seed::new(0, 0.5)];
    for graph in [&plain, &hubs, &plain, &hubs] {
        let on_device = GpuGraph::upload(&gpu, graph).unwrap();
        for fraction in [0.0, 2.0] {
            device.set_config(SpreaderConfig::for_nodes(n).with_pull_fraction(fraction));
            for params in [SpreadParams::default(), param_sets()[2]] {
                cpu.spread(graph, &seeds, &params, &mut want).unwrap();
                device
                    .spread(&on_device, &seeds, &params, &mut got)
                    .unwrap();
                assert_eq!(bits(&got), bits(&want), "pull fraction {fraction}");
            }
        }
    }
    no_validation_messages(&gpu);
}

#[test]
fn gates_and_odd_parameters() {
    let Some(gpu) = gpu() else { return };
    let graph = Rmat::graph500(11).generate();
    let n = graph.node_count();
    let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
    let mut device = GpuSpreader::new(&gpu, n).unwrap();
    let mut cpu = Spreader::new(n);
    let seeds = random_seeds(9, n as u32, 6);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    // A gate that stops before hop 2 truncates both alike, and the next
    // query is whole.
    for stop in [1, 2, 3] {
        let p = SpreadParams::default();
        let a = device
            .spread_gated(&on_device, &seeds, &p, &mut got, |plan| plan.hop < stop)
            .unwrap();
        let b = cpu
            .spread_gated(&graph, &seeds, &p, &mut want, |plan| plan.hop < stop)
            .unwrap();
        assert_eq!(bits(&got), bits(&want), "stop before hop {stop}");
        assert_eq!(semantic(&a), semantic(&b), "stop before hop {stop}");
        device.spread(&on_device, &seeds, &p, &mut got).unwrap();
        cpu.spread(&graph, &seeds, &p, &mut want).unwrap();
        assert_eq!(bits(&got), bits(&want), "after a truncated query");
    }
    // A minimum of -0.0 is 0; tiny seeds and thresholds.
    let tiny = f32::from_bits(1);
    for p in [
        SpreadParams {
            min_activation: -0.0,
            ..SpreadParams::default()
        },
        SpreadParams {
            min_activation: tiny,
            threshold: Threshold::Uniform(tiny),
            ..SpreadParams::default()
        },
    ] {
        let seeds = [Seed::new(1, tiny), Seed::new(2, 1.0), Seed::new(3, 1e-30)];
        cpu.spread(&graph, &seeds, &p, &mut want).unwrap();
        device.spread(&on_device, &seeds, &p, &mut got).unwrap();
        assert_eq!(bits(&got), bits(&want), "{p:?}");
    }
    no_validation_messages(&gpu);
}

#[test]
fn empty_and_edgeless_graphs() {
    let Some(gpu) = gpu() else { return };
    for nodes in [0, 1, 5] {
        let graph = GraphBuilder::with_node_count(nodes).build().unwrap();
        let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
        let mut device = GpuSpreader::with_lanes(&gpu, nodes as usize, 2).unwrap();
        let mut cpu = Spreader::new(nodes as usize);
        let seeds: Vec<Seed> = (0..nodes).map(|v| Seed::new(v, 0.5)).collect();
        let (mut got, mut want) = (Vec::new(), Vec::new());
        for params in param_sets() {
            cpu.spread(&graph, &seeds, &params, &mut want).unwrap();
            device
                .spread(&on_device, &seeds, &params, &mut got)
                .unwrap();
            assert_eq!(bits(&got), bits(&want), "{nodes} nodes");
            let mut batch = Vec::new();
            device
                .spread_batch(&on_device, &[&seeds[..], &[]], &params, &mut batch)
                .unwrap();
            assert_eq!(bits(&batch[0]), bits(&want), "{nodes} nodes");
            assert!(batch[1].is_empty());
        }
    }
    no_validation_messages(&gpu);
}

#[test]
fn bad_input_is_a_typed_error_that_changes_nothing() {
    let Some(gpu) = gpu() else { return };
    let graph = generate::barabasi_albert(500, 3, 1);
    let other = generate::chain(10, 0.5);
    let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
    let other_on_device = GpuGraph::upload(&gpu, &other).unwrap();
    let mut device = GpuSpreader::with_lanes(&gpu, 500, 2).unwrap();
    let p = SpreadParams::default();
    let mut results = Vec::new();
    device
        .spread(&on_device, &[Seed::new(1, 1.0)], &p, &mut results)
        .unwrap();
    let before = bits(&results);
    let bad_seed = device.spread(&on_device, &[Seed::new(500, 1.0)], &p, &mut results);
    assert!(matches!(
        bad_seed,
        Err(GpuError::Spread(SpreadError::InvalidSeed { .. }))
    ));
    let bad_params = SpreadParams {
        top_k: 0,
        max_hops: 99,
        ..p
    };
    let bad = device.spread(&on_device, &[Seed::new(1, 1.0)], &bad_params, &mut results);
    assert!(matches!(
        bad,
        Err(GpuError::Spread(SpreadError::InvalidParameter { .. }))
    ));
    let wrong = device.spread(&other_on_device, &[Seed::new(1, 1.0)], &p, &mut results);
    assert!(matches!(
        wrong,
        Err(GpuError::Spread(SpreadError::WorkspaceMismatch { .. }))
    ));
    let mut batch = vec![vec![Seed::new(1, 1.0)]; 3];
    let mut batch_results = Vec::new();
    let too_many = device.spread_batch(&on_device, &batch, &p, &mut batch_results);
    assert!(matches!(
        too_many,
        Err(GpuError::Spread(SpreadError::InvalidParameter { .. }))
    ));
    assert!(batch_results.is_empty());
    assert_eq!(bits(&results), before, "results untouched by errors");
    batch.truncate(2);
    device
        .spread_batch(&on_device, &batch, &p, &mut batch_results)
        .unwrap();
    assert_eq!(bits(&batch_results[1]), before);
    assert!(matches!(
        GpuSpreader::with_lanes(&gpu, 10, 0),
        Err(GpuError::Spread(SpreadError::InvalidParameter { .. }))
    ));
    no_validation_messages(&gpu);
}

/// `n` rows of dimension `dim`, values in [-1, 1), a few rows repeated
/// (exact ties) and one of zero norm.
fn embeddings(n: usize, dim: usize, seed: u64) -> EmbeddingMatrix {
    let mut rng = axonal_rng(seed);
    let mut flat: Vec<f32> = (0..n * dim).map(|_| rng() * 2.0 - 1.0).collect();
    flat.copy_within(0..dim, dim * 7);
    flat.copy_within(dim * 3..dim * 4, dim * 11);
    flat[dim * 5..dim * 6].fill(0.0);
    EmbeddingMatrix::from_rows(dim, &flat).unwrap()
}

fn axonal_rng(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The GPU's hits agree with the CPU scan's: scores within `tol`, and the
/// same ids wherever the CPU's scores are not tied within `tol`.
fn same_hits(gpu: &[Hit], cpu: &[Hit], tol: f32, at: &str) {
    assert_eq!(gpu.len(), cpu.len(), "{at}");
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        assert!(
            (g.score - c.score).abs() <= tol,
            "{at}: hit {i}: {g:?} vs {c:?}"
        );
        if g.id != c.id {
            let tied = cpu
                .iter()
                .any(|o| o.id == g.id && (o.score - c.score).abs() <= 2.0 * tol)
                || (c.score - cpu.last().unwrap().score).abs() <= 2.0 * tol;
            assert!(tied, "{at}: hit {i}: {g:?} vs {c:?}");
        }
    }
}

#[test]
fn similarity_top_k_matches_the_cpu_scans() {
    let Some(gpu) = gpu() else { return };
    let cpu = Kernels::best();
    for (n, dim) in [(3_000, 384), (517, 17), (40, 8)] {
        let matrix = embeddings(n, dim, n as u64);
        let mut on_device = GpuEmbeddings::upload(&gpu, &matrix).unwrap();
        let queries: Vec<Vec<f32>> = (0..32)
            .map(|q| {
                let mut rng = axonal_rng(1000 + q);
                match q {
                    0 => matrix.row(7).unwrap().to_vec(),
                    1 => vec![0.0; dim],
                    _ => (0..dim).map(|_| rng() * 2.0 - 1.0).collect(),
                }
            })
            .collect();
        for (size, k) in [(1, 10), (5, 1), (32, 16), (3, n + 5)] {
            let batch = &queries[..size];
            for cosine in [true, false] {
                let mut hits = Vec::new();
                let mut tops: Vec<TopK> = (0..size).map(|_| TopK::new(k)).collect();
                if cosine {
                    on_device.top_k_cosine_batch(batch, k, &mut hits).unwrap();
                    cpu.top_k_cosine_batch(batch, &matrix, &mut tops).unwrap();
                } else {
                    on_device.top_k_dot_batch(batch, k, &mut hits).unwrap();
                    cpu.top_k_dot_batch(batch, &matrix, &mut tops).unwrap();
                }
                assert_eq!(hits.len(), size);
                let tol = if cosine { 1e-5 } else { 1e-5 * dim as f32 };
                for (q, top) in tops.iter_mut().enumerate() {
                    let mut want = Vec::new();
                    top.drain_sorted(&mut want);
                    let at =
                        format!("{n}x{dim}, {size} queries, k {k}, cosine {cosine}, query {q}");
                    same_hits(&hits[q], &want, tol, &at);
                }
            }
        }
        // Bad queries change nothing.
        let mut hits = vec![vec![]];
        let short = [vec![1.0f32; dim - 1]];
        assert!(matches!(
            on_device.top_k_cosine_batch(&short, 3, &mut hits),
            Err(GpuError::Embedding(
                EmbeddingError::DimensionMismatch { .. }
            ))
        ));
        let nan = [vec![f32::NAN; dim]];
        assert!(on_device.top_k_cosine_batch(&nan, 3, &mut hits).is_err());
        let many = vec![vec![0.0f32; dim]; MAX_QUERIES + 1];
        assert!(matches!(
            on_device.top_k_cosine_batch(&many, 3, &mut hits),
            Err(GpuError::TooManyQueries { .. })
        ));
        assert_eq!(hits, vec![vec![]]);
    }
    no_validation_messages(&gpu);
}

#[test]
fn threads_share_a_device() {
    let Some(gpu) = gpu() else { return };
    let graph = Rmat::graph500(11).generate();
    let on_device = GpuGraph::upload(&gpu, &graph).unwrap();
    let n = graph.node_count();
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let (gpu, graph, on_device) = (&gpu, &graph, &on_device);
            scope.spawn(move || {
                let mut device = GpuSpreader::new(gpu, n).unwrap();
                let mut cpu = Spreader::new(n);
                let (mut got, mut want) = (Vec::new(), Vec::new());
                for q in 0..10 {
                    let seeds = random_seeds(t * 100 + q, n as u32, 4);
                    let p = SpreadParams::query_std();
                    device.spread(on_device, &seeds, &p, &mut got).unwrap();
                    cpu.spread(graph, &seeds, &p, &mut want).unwrap();
                    assert_eq!(bits(&got), bits(&want), "thread {t}, query {q}");
                }
            });
        }
    });
    no_validation_messages(&gpu);
}
