//! What is known about a request before it runs ([`RequestShape`]), the
//! prior's guess from it, and the features the fit is linear in. Kept apart
//! from the fit: new features change this file and the feature count, not
//! the solver.

use crate::graph::GraphView;
use crate::spread::{Seed, SpreadParams, fixed};

/// Number of features in a [`RequestShape`]'s feature vector.
pub(super) const FEATURES: usize = 16;

/// What is known about a request before it runs.
///
/// [`RequestShape::for_query`] measures one spreading query. Later versions
/// may add fields (`#[non_exhaustive]`): to describe a request by hand,
/// start from [`default()`](RequestShape::default) (one query, nothing
/// known) and set fields with the `with_*` methods.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct RequestShape {
    /// Queries in the request (1 for a single query; 0 counts as 1).
    pub batch: u32,
    /// Seeds over all its queries.
    pub seeds: u32,
    /// Out-edges of the seeds: the first hop's work.
    pub seed_edges: u64,
    /// Out-edges of the seeds' out-neighbours: the second hop's work if every
    /// neighbour spreads (a cheap look-ahead at whether a query reaches hubs).
    pub two_hop_edges: u64,
    /// Of those, the out-edges of the neighbours that one seed alone lifts to
    /// the threshold of hop 1: the second hop's work as far as single seeds
    /// decide it (0 if not computed).
    pub spreading_edges: u64,
    /// Hops asked for.
    pub hops: u32,
    /// The activation threshold (the smallest of a schedule); 0 if unknown.
    pub threshold: f32,
    /// Embedding vectors scanned to find the seeds (0 if the seeds are given).
    pub vectors: u64,
}

/// Thresholds are taken as at least this (and 0, unknown, as this).
const THRESHOLD_FLOOR: f64 = 1e-4;

/// The prior's terms, microseconds: the seed design's 100 us + 200 us per
/// hop + 50 ns per vector scanned.
const PRIOR_US: [f64; 3] = [100.0, 200.0, 0.05];

impl RequestShape {
    /// This shape with [`batch`](RequestShape::batch) = `batch`.
    #[must_use]
    pub const fn with_batch(mut self, batch: u32) -> RequestShape {
        self.batch = batch;
        self
    }

    /// This shape with [`seeds`](RequestShape::seeds) = `seeds`.
    #[must_use]
    pub const fn with_seeds(mut self, seeds: u32) -> RequestShape {
        self.seeds = seeds;
        self
    }

    /// This shape with [`seed_edges`](RequestShape::seed_edges) = `seed_edges`.
    #[must_use]
    pub const fn with_seed_edges(mut self, seed_edges: u64) -> RequestShape {
        self.seed_edges = seed_edges;
        self
    }

    /// This shape with [`two_hop_edges`](RequestShape::two_hop_edges) = `two_hop_edges`.
    #[must_use]
    pub const fn with_two_hop_edges(mut self, two_hop_edges: u64) -> RequestShape {
        self.two_hop_edges = two_hop_edges;
        self
    }

    /// This shape with [`spreading_edges`](RequestShape::spreading_edges) = `spreading_edges`.
    #[must_use]
    pub const fn with_spreading_edges(mut self, spreading_edges: u64) -> RequestShape {
        self.spreading_edges = spreading_edges;
        self
    }

    /// This shape with [`hops`](RequestShape::hops) = `hops`.
    #[must_use]
    pub const fn with_hops(mut self, hops: u32) -> RequestShape {
        self.hops = hops;
        self
    }

    /// This shape with [`threshold`](RequestShape::threshold) = `threshold`.
    #[must_use]
    pub const fn with_threshold(mut self, threshold: f32) -> RequestShape {
        self.threshold = threshold;
        self
    }

    /// This shape with [`vectors`](RequestShape::vectors) = `vectors`.
    #[must_use]
    pub const fn with_vectors(mut self, vectors: u64) -> RequestShape {
        self.vectors = vectors;
        self
    }

    /// The shape of one spreading query: its seeds, their degrees, the
    /// two-hop look-ahead ([`two_hop_edges`](RequestShape::two_hop_edges),
    /// [`spreading_edges`](RequestShape::spreading_edges)), hops and
    /// threshold. Costs one pass over the seeds' out-edges. Seeds outside
    /// the graph are counted but not followed.
    pub fn for_query<'g>(
        graph: impl Into<GraphView<'g>>,
        seeds: &[Seed],
        params: &SpreadParams,
    ) -> RequestShape {
        let out = graph.into().out_edges();
        let decay = params.decay.at(1) as f32;
        let (first, second) = (params.threshold.at(0), params.threshold.at(1));
        let mut shape = RequestShape {
            batch: 1,
            seeds: seeds.len() as u32,
            hops: params.max_hops as u32,
            threshold: (0..=params.max_hops)
                .map(|h| params.threshold.at(h))
                .fold(1.0, f32::min),
            ..RequestShape::default()
        };
        for seed in seeds
            .iter()
            .filter(|s| (s.node as usize) < out.node_count())
        {
            let degree = out.degree(seed.node);
            shape.seed_edges += u64::from(degree);
            // The kernels' strength, in activation units (an unscaled decay).
            let strength = fixed::strength(seed.activation.min(1.0), decay, params.fan, degree);
            let spreads = seed.activation >= first;
            let (neighbours, weights) = out.neighbors(seed.node);
            for (&v, &w) in neighbours.iter().zip(weights) {
                let edges = u64::from(out.degree(v));
                shape.two_hop_edges += edges;
                if spreads && strength * w >= second {
                    shape.spreading_edges += edges;
                }
            }
        }
        shape
    }

    /// The prior's prediction: 100 us + 200 us per hop + 50 ns per vector.
    pub fn prior_us(&self) -> f64 {
        PRIOR_US[0] + PRIOR_US[1] * f64::from(self.hops) + PRIOR_US[2] * self.vectors as f64
    }

    /// The feature vector the log-ratio to the prior is linear in, in the
    /// order the [`LatencyPredictor`](super::LatencyPredictor) docs list.
    pub(super) fn features(&self) -> [f64; FEATURES] {
        let hops = f64::from(self.hops);
        let ln1p = |x: f64| libm::log1p(x);
        let threshold = libm::log(f64::from(self.threshold).clamp(THRESHOLD_FLOOR, 1.0));
        let two_hop = ln1p(self.two_hop_edges as f64);
        let spreading = ln1p(self.spreading_edges as f64);
        [
            1.0,
            hops,
            hops * hops,
            hops.min(2.0),
            libm::log(f64::from(self.batch.max(1))),
            ln1p(f64::from(self.seeds)),
            ln1p(self.seed_edges as f64),
            two_hop,
            threshold,
            ln1p(self.vectors as f64),
            hops * threshold,
            hops * two_hop,
            threshold * two_hop,
            spreading,
            hops * spreading,
            threshold * spreading,
        ]
    }
}
