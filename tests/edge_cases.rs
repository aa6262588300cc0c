//! Every edge case of the issue has a defined result or a typed error.

use axonal::graph::{Graph, GraphBuilder, GraphError};
use axonal::spread::{Decay, MAX_HOPS, Seed, SpreadError, SpreadParams, Spreader, Threshold};

fn run(g: &Graph, seeds: &[Seed], p: &SpreadParams) -> Result<Vec<(u32, f32, u8)>, SpreadError> {
    let mut s = Spreader::new(g.node_count());
    let mut out = Vec::new();
    s.spread(g, seeds, p, &mut out)?;
    Ok(out.iter().map(|a| (a.node, a.activation, a.hop)).collect())
}

fn line(weights: &[f32]) -> Graph {
    let mut b = GraphBuilder::new();
    for (i, &w) in weights.iter().enumerate() {
        b.add_edge(i as u32, i as u32 + 1, w).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn empty_graph_rejects_every_seed_and_accepts_none() {
    let g = GraphBuilder::new().build().unwrap();
    assert_eq!(run(&g, &[], &SpreadParams::default()).unwrap(), []);
    assert_eq!(
        run(&g, &[Seed::new(0, 1.0)], &SpreadParams::default()),
        Err(SpreadError::InvalidSeed {
            index: 0,
            node: 0,
            activation: 1.0
        })
    );
}

#[test]
fn isolated_seeds_return_only_themselves() {
    let g = GraphBuilder::with_node_count(10).build().unwrap();
    let out = run(
        &g,
        &[Seed::new(3, 0.5), Seed::new(7, 0.9)],
        &SpreadParams::default(),
    )
    .unwrap();
    assert_eq!(out, [(7, 0.9, 0), (3, 0.5, 0)]);
}

#[test]
fn max_hops_zero_returns_the_seeds() {
    let g = line(&[1.0, 1.0]);
    let p = SpreadParams {
        max_hops: 0,
        ..SpreadParams::default()
    };
    assert_eq!(run(&g, &[Seed::new(0, 1.0)], &p).unwrap(), [(0, 1.0, 0)]);
}

#[test]
fn duplicate_seeds_sum_and_cap() {
    let g = line(&[1.0]);
    let p = SpreadParams {
        max_hops: 0,
        ..SpreadParams::default()
    };
    assert_eq!(
        run(&g, &[Seed::new(0, 0.25), Seed::new(0, 0.25)], &p).unwrap(),
        [(0, 0.5, 0)]
    );
    assert_eq!(
        run(&g, &[Seed::new(0, 0.75), Seed::new(0, 0.75)], &p).unwrap(),
        [(0, 1.0, 0)]
    );
}

#[test]
fn zero_activation_seeds_reach_nothing() {
    let g = line(&[1.0]);
    assert_eq!(
        run(&g, &[Seed::new(0, 0.0)], &SpreadParams::default()).unwrap(),
        []
    );
}

#[test]
fn invalid_seeds_are_typed_errors_and_change_nothing() {
    let g = line(&[1.0, 1.0]);
    let mut s = Spreader::new(3);
    let mut out = Vec::new();
    s.spread(&g, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut out)
        .unwrap();
    let before = (s.activations(), out.clone());
    for (i, bad) in [
        Seed::new(3, 0.5),
        Seed::new(u32::MAX, 0.5),
        Seed::new(0, f32::NAN),
        Seed::new(0, 1.5),
        Seed::new(0, -0.1),
    ]
    .into_iter()
    .enumerate()
    {
        let seeds = [Seed::new(1, 0.5), bad];
        let err = s
            .spread(&g, &seeds, &SpreadParams::default(), &mut out)
            .unwrap_err();
        assert!(
            matches!(err, SpreadError::InvalidSeed { index: 1, .. }),
            "case {i}: {err}"
        );
        assert_eq!(
            s.activations(),
            before.0,
            "a rejected query leaves the last result in place"
        );
        assert_eq!(out, before.1);
    }
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let g = line(&[1.0]);
    let p = SpreadParams {
        max_hops: MAX_HOPS + 1,
        ..SpreadParams::default()
    };
    assert!(matches!(
        run(&g, &[], &p),
        Err(SpreadError::InvalidParameter {
            name: "max_hops",
            ..
        })
    ));
    let p = SpreadParams {
        min_activation: f32::NAN,
        ..SpreadParams::default()
    };
    assert!(matches!(
        run(&g, &[], &p),
        Err(SpreadError::InvalidParameter {
            name: "min_activation",
            ..
        })
    ));
}

#[test]
fn workspace_of_another_size_is_an_error() {
    let g = line(&[1.0]);
    let mut s = Spreader::new(5);
    assert_eq!(
        s.spread(&g, &[], &SpreadParams::default(), &mut Vec::new()),
        Err(SpreadError::WorkspaceMismatch {
            workspace: 5,
            graph: 2
        })
    );
}

#[test]
fn zero_weights_are_rejected_and_denormal_weights_carry_nothing() {
    let mut b = GraphBuilder::new();
    assert!(matches!(
        b.add_edge(0, 1, 0.0),
        Err(GraphError::InvalidWeight { edge: 0, .. })
    ));
    let g = line(&[f32::from_bits(1), f32::MIN_POSITIVE]);
    let p = SpreadParams {
        min_activation: 0.0,
        ..SpreadParams::default()
    };
    // Contributions below 2^-31 round to zero: the neighbours are never reached.
    assert_eq!(run(&g, &[Seed::new(0, 1.0)], &p).unwrap(), [(0, 1.0, 0)]);
}

#[test]
fn top_k_zero_and_beyond_the_graph() {
    let g = line(&[1.0, 1.0, 1.0]);
    let seeds = [Seed::new(0, 1.0)];
    let p = SpreadParams {
        top_k: 0,
        ..SpreadParams::default()
    };
    assert_eq!(run(&g, &seeds, &p).unwrap(), []);
    let p = SpreadParams {
        top_k: usize::MAX,
        decay: Decay::Table([1.0; MAX_HOPS]),
        ..SpreadParams::default()
    };
    let out = run(&g, &seeds, &p).unwrap();
    assert_eq!(out, [(0, 1.0, 0), (1, 1.0, 1), (2, 1.0, 2), (3, 1.0, 3)]);
}

#[test]
fn saturated_nodes_stop_spreading() {
    // 0 -> 1 -> 0 cycle at weight 1, no decay: 1 saturates at hop 1 and 0 gains
    // nothing at hop 2, so the query ends after two hops.
    let g = GraphBuilder::new().symmetrize(true);
    let mut g = g;
    g.add_edge(0, 1, 1.0).unwrap();
    let g = g.build().unwrap();
    let p = SpreadParams {
        max_hops: 10,
        decay: Decay::Table([1.0; MAX_HOPS]),
        threshold: Threshold::Uniform(0.0),
        ..SpreadParams::default()
    };
    let mut s = Spreader::new(2);
    let stats = s
        .spread(&g, &[Seed::new(0, 1.0)], &p, &mut Vec::new())
        .unwrap();
    assert_eq!(stats.hops, 2);
    assert_eq!(s.activations(), [1.0, 1.0]);
}

#[test]
fn ids_next_to_u32_max() {
    let mut b = GraphBuilder::new();
    assert!(matches!(
        b.add_edge(u32::MAX, 1, 0.5),
        Err(GraphError::NodeOutOfRange { node: u32::MAX, .. })
    ));
    assert!(matches!(
        b.add_edge(1, u32::MAX, 0.5),
        Err(GraphError::NodeOutOfRange { node: u32::MAX, .. })
    ));
    // The largest id the builder accepts is u32::MAX - 1 (the count is then u32::MAX).
    b.add_edge(u32::MAX - 1, 1, 0.5).unwrap();
    assert_eq!(b.node_count(), u32::MAX);
    let g = line(&[1.0]);
    assert!(matches!(
        run(&g, &[Seed::new(u32::MAX, 1.0)], &SpreadParams::default()),
        Err(SpreadError::InvalidSeed { .. })
    ));
}

#[test]
fn changed_parameters_take_effect_on_a_reused_spreader() {
    let g = line(&[1.0, 1.0, 1.0]);
    let seeds = [Seed::new(0, 1.0)];
    let variants = [
        SpreadParams::default(),
        SpreadParams {
            decay: Decay::Exponential { rate: 0.1 },
            ..SpreadParams::default()
        },
        SpreadParams {
            max_hops: 1,
            ..SpreadParams::default()
        },
        SpreadParams {
            threshold: Threshold::Uniform(0.9),
            ..SpreadParams::default()
        },
        SpreadParams::default(),
    ];
    let mut reused = Spreader::new(g.node_count());
    let mut out = Vec::new();
    for p in &variants {
        reused.spread(&g, &seeds, p, &mut out).unwrap();
        assert_eq!(out, {
            let mut fresh = Vec::new();
            Spreader::new(g.node_count())
                .spread(&g, &seeds, p, &mut fresh)
                .unwrap();
            fresh
        });
    }
    let bad = SpreadParams {
        decay: Decay::Exponential { rate: f32::NAN },
        ..SpreadParams::default()
    };
    assert!(matches!(
        reused.spread(&g, &seeds, &bad, &mut out),
        Err(SpreadError::InvalidParameter { .. })
    ));
}

#[test]
fn results_are_weighted_and_recorded_by_hop_tier() {
    use axonal::layout::HopTier;
    let g = line(&[1.0; 5]);
    let p = SpreadParams::default();
    let mut s = Spreader::new(g.node_count());
    let mut out = Vec::new();
    s.spread(&g, &[Seed::new(0, 1.0)], &p, &mut out).unwrap();
    let hops: Vec<u8> = out.iter().map(|a| a.hop).collect();
    assert!(
        hops.contains(&0) && hops.contains(&1) && hops.contains(&3),
        "{hops:?}"
    );
    for a in &out {
        let tier = HopTier::of_hop(a.hop);
        let factor = match tier {
            HopTier::Hot => p.confidence.hot,
            HopTier::Warm => p.confidence.warm,
            HopTier::Cold => p.confidence.cold,
        };
        assert_eq!(a.confidence, a.activation * factor, "{a:?}");
        assert_eq!(a.to_record(7).tier, tier as u8, "{a:?}");
    }
}
