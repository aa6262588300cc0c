//! Latency prediction: how long will this request take, before it starts?
//!
//! An engine with a latency budget must decide, per request, how much work
//! fits: how many queries to batch, how many hops to allow. It knows the
//! request's shape beforehand (seeds, their degrees, hops asked for, batch
//! size, vectors to scan) and has measured every earlier request. The
//! [`LatencyPredictor`] fits latency as a linear function of that shape by
//! ridge-regularised least squares over a window of recent samples:
//!
//! - the normal equations are updated with every sample (and the sample that
//!   leaves the window is taken out), and solved again, so the model follows
//!   a drifting workload at once; every `retrain_every` samples they are
//!   rebuilt from the window, so rounding errors of the running sums never
//!   accumulate;
//! - the ridge pulls the weights toward the **prior** (the seed design's
//!   100 us + 50 ns per vector + 200 us per hop) rather than toward zero, in
//!   proportion to each feature's own scale: with few samples the prediction
//!   is the prior, and features the workload never varies keep their prior
//!   weight;
//! - the upper bound for the 95th percentile is the prediction times the
//!   95th percentile of `measured / predicted` over the window, each ratio
//!   taken *before* its sample was learned (honest out-of-sample errors).
//!
//! The predictor keeps no clock; callers time requests with whatever clock
//! they use (tests use a simulated one).

use alloc::vec::Vec;
use core::fmt;

/// Number of features in a [`RequestShape`]'s feature vector.
pub const FEATURES: usize = 8;

/// What is known about a request before it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestShape {
    /// Queries in the request (1 for a single query).
    pub batch: u32,
    /// Seeds over all its queries.
    pub seeds: u32,
    /// Out-edges of the seeds: the first hop's work.
    pub seed_edges: u64,
    /// Out-edges of the seeds' out-neighbours: the second hop's work if every
    /// neighbour spreads (a cheap look-ahead at whether a query reaches hubs).
    pub two_hop_edges: u64,
    /// Hops asked for.
    pub hops: u32,
    /// Embedding vectors scanned to find the seeds (0 if the seeds are given).
    pub vectors: u64,
}

impl RequestShape {
    /// The feature vector the model is linear in: a constant, hops, vectors,
    /// seeds, seed edges, two-hop edges, batch size, and hops x batch.
    pub fn features(&self) -> [f64; FEATURES] {
        [
            1.0,
            f64::from(self.hops),
            self.vectors as f64,
            f64::from(self.seeds),
            self.seed_edges as f64,
            self.two_hop_edges as f64,
            f64::from(self.batch),
            f64::from(self.hops) * f64::from(self.batch),
        ]
    }
}

/// The seed design's prior, in microseconds per feature: 100 us + 50 ns per
/// vector + 200 us per hop.
pub const PRIOR_US: [f64; FEATURES] = [100.0, 200.0, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0];

/// How the predictor learns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictorConfig {
    /// Samples kept (the fit's window); at least [`FEATURES`].
    pub window: usize,
    /// Rebuild the normal equations from the window every this many samples.
    pub retrain_every: usize,
    /// Ridge strength, relative to each feature's own scale; finite, >= 0.
    pub ridge: f64,
    /// Samples before the fit replaces the prior.
    pub min_samples: usize,
    /// The quantile the upper bound covers, in `(0, 1)`.
    pub quantile: f64,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            window: 1024,
            retrain_every: 100,
            ridge: 1e-3,
            min_samples: 2 * FEATURES,
            quantile: 0.95,
        }
    }
}

/// Why a configuration or sample was rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum PredictorError {
    /// A configuration field is out of range.
    InvalidConfig {
        /// The field.
        field: &'static str,
    },
    /// A measured latency that is not a finite, non-negative number of
    /// microseconds.
    InvalidLatency(f64),
}

impl fmt::Display for PredictorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PredictorError::InvalidConfig { field } => {
                write!(f, "invalid predictor configuration: `{field}` out of range")
            }
            PredictorError::InvalidLatency(us) => write!(f, "invalid latency sample: {us} us"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PredictorError {}

/// A prediction, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Expected latency.
    pub mean_us: f64,
    /// Upper bound at the configured quantile (the 95th percentile by default).
    pub upper_us: f64,
    /// Whether this is the prior (not enough samples yet).
    pub from_prior: bool,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    x: [f64; FEATURES],
    us: f64,
    /// `measured / predicted`, predicted before this sample was learned.
    ratio: f64,
}

type Matrix = [[f64; FEATURES]; FEATURES];

/// Online ridge regression of latency on [`RequestShape`] features.
///
/// ```
/// use axonal::batch::{LatencyPredictor, PredictorConfig, RequestShape};
///
/// let mut p = LatencyPredictor::new(PredictorConfig::default())?;
/// let shape = |hops| RequestShape { batch: 1, seeds: 8, hops, ..Default::default() };
/// assert!(p.predict(&shape(4)).from_prior); // 100 us + 4 x 200 us
/// for i in 0..200 {
///     let hops = 1 + i % 6;
///     p.observe(&shape(hops), 40.0 + 150.0 * f64::from(hops))?; // measured
/// }
/// let guess = p.predict(&shape(4));
/// assert!((guess.mean_us - 640.0).abs() < 1.0);
/// # Ok::<(), axonal::batch::PredictorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LatencyPredictor {
    config: PredictorConfig,
    /// Ring buffer of the last `window` samples; `next` is the oldest once full.
    samples: Vec<Sample>,
    next: usize,
    /// `X^T X` and `X^T y` over the window.
    normal: Matrix,
    moment: [f64; FEATURES],
    weights: [f64; FEATURES],
    /// Quantile of `measured / predicted` over the window.
    upper_factor: f64,
    since_rebuild: usize,
    observed: u64,
}

impl LatencyPredictor {
    /// A predictor that starts from [`PRIOR_US`].
    pub fn new(config: PredictorConfig) -> Result<LatencyPredictor, PredictorError> {
        let invalid = |field| Err(PredictorError::InvalidConfig { field });
        if config.window < FEATURES {
            return invalid("window");
        }
        if config.retrain_every == 0 {
            return invalid("retrain_every");
        }
        if !(config.ridge.is_finite() && config.ridge >= 0.0) {
            return invalid("ridge");
        }
        if !(config.quantile > 0.0 && config.quantile < 1.0) {
            return invalid("quantile");
        }
        Ok(LatencyPredictor {
            config,
            samples: Vec::with_capacity(config.window),
            next: 0,
            normal: [[0.0; FEATURES]; FEATURES],
            moment: [0.0; FEATURES],
            weights: PRIOR_US,
            upper_factor: DEFAULT_UPPER_FACTOR,
            since_rebuild: 0,
            observed: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> PredictorConfig {
        self.config
    }

    /// The current weights, microseconds per feature (see
    /// [`RequestShape::features`]).
    pub fn weights(&self) -> [f64; FEATURES] {
        self.weights
    }

    /// Samples learned so far (not only those in the window).
    pub fn observed(&self) -> u64 {
        self.observed
    }

    /// Predicts the latency of a request of this shape.
    pub fn predict(&self, shape: &RequestShape) -> Prediction {
        let mean_us = dot(&self.weights, &shape.features()).max(0.0);
        Prediction {
            mean_us,
            upper_us: mean_us * self.upper_factor.max(1.0),
            from_prior: self.samples.len() < self.config.min_samples,
        }
    }

    /// Learns that a request of this shape took `measured_us` microseconds.
    /// A latency that is not finite and non-negative is rejected and nothing
    /// changes.
    pub fn observe(
        &mut self,
        shape: &RequestShape,
        measured_us: f64,
    ) -> Result<(), PredictorError> {
        if !(measured_us.is_finite() && measured_us >= 0.0) {
            return Err(PredictorError::InvalidLatency(measured_us));
        }
        let x = shape.features();
        let predicted = dot(&self.weights, &x).max(f64::MIN_POSITIVE);
        let sample = Sample {
            x,
            us: measured_us,
            ratio: measured_us / predicted,
        };
        if self.samples.len() < self.config.window {
            self.samples.push(sample);
        } else {
            let old = core::mem::replace(&mut self.samples[self.next], sample);
            self.next = (self.next + 1) % self.config.window;
            accumulate(&mut self.normal, &mut self.moment, &old, -1.0);
        }
        accumulate(&mut self.normal, &mut self.moment, &sample, 1.0);
        self.observed += 1;
        self.since_rebuild += 1;
        if self.since_rebuild >= self.config.retrain_every {
            self.rebuild();
        }
        if self.samples.len() >= self.config.min_samples {
            self.solve();
        }
        Ok(())
    }

    /// Fractions of the window's samples whose out-of-sample prediction was
    /// within 10% and within 20% of the measured latency.
    pub fn accuracy(&self) -> (f64, f64) {
        let n = self.samples.len().max(1) as f64;
        let within = |tolerance: f64| {
            self.samples
                .iter()
                .filter(|s| (s.ratio - 1.0).abs() <= tolerance)
                .count() as f64
                / n
        };
        (within(0.1), within(0.2))
    }

    /// Recomputes the normal equations and the upper-bound factor from the
    /// window.
    fn rebuild(&mut self) {
        self.since_rebuild = 0;
        self.normal = [[0.0; FEATURES]; FEATURES];
        self.moment = [0.0; FEATURES];
        for s in &self.samples {
            accumulate(&mut self.normal, &mut self.moment, s, 1.0);
        }
        if self.samples.len() >= self.config.min_samples {
            let mut ratios: Vec<f64> = self.samples.iter().map(|s| s.ratio).collect();
            ratios.sort_by(f64::total_cmp);
            let i = libm::ceil((ratios.len() - 1) as f64 * self.config.quantile) as usize;
            self.upper_factor = ratios[i];
        }
    }

    /// Solves `(X^T X + ridge D) w = X^T y + ridge D prior`, `D` the diagonal
    /// of `X^T X` (so the pull toward the prior is relative to each feature's
    /// scale). Keeps the old weights if the system is singular.
    fn solve(&mut self) {
        let mut a = self.normal;
        let mut b = self.moment;
        for i in 0..FEATURES {
            let d = self.normal[i][i] * self.config.ridge + RIDGE_FLOOR;
            a[i][i] += d;
            b[i] += d * PRIOR_US[i];
        }
        if let Some(w) = cholesky_solve(a, b) {
            self.weights = w;
        }
    }
}

/// Upper-bound factor before the window has enough samples.
const DEFAULT_UPPER_FACTOR: f64 = 1.5;

/// Added to every diagonal term: keeps features the workload never sets
/// (all zeros) at their prior weight instead of making the system singular.
const RIDGE_FLOOR: f64 = 1e-9;

fn dot(a: &[f64; FEATURES], b: &[f64; FEATURES]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Adds (`sign = 1`) or removes (`-1`) one sample's terms.
fn accumulate(normal: &mut Matrix, moment: &mut [f64; FEATURES], s: &Sample, sign: f64) {
    for ((row, m), &xi) in normal.iter_mut().zip(moment.iter_mut()).zip(&s.x) {
        *m += sign * xi * s.us;
        for (cell, &xj) in row.iter_mut().zip(&s.x) {
            *cell += sign * xi * xj;
        }
    }
}

/// Solves `a w = b` for symmetric positive definite `a`; `None` otherwise.
fn cholesky_solve(a: Matrix, b: [f64; FEATURES]) -> Option<[f64; FEATURES]> {
    // a = L L^T, L lower triangular.
    let mut l = [[0.0; FEATURES]; FEATURES];
    for i in 0..FEATURES {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - sum;
                if !(d > 0.0 && d.is_finite()) {
                    return None;
                }
                l[i][i] = libm::sqrt(d);
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    // L z = b, then L^T w = z.
    let mut z = [0.0; FEATURES];
    for i in 0..FEATURES {
        z[i] = (b[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let mut w = [0.0; FEATURES];
    for i in (0..FEATURES).rev() {
        w[i] = (z[i] - (i + 1..FEATURES).map(|k| l[k][i] * w[k]).sum::<f64>()) / l[i][i];
    }
    w.iter().all(|v| v.is_finite()).then_some(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn shape(rng: &mut SplitMix64) -> RequestShape {
        RequestShape {
            batch: 1 + rng.below(32) as u32,
            seeds: 1 + rng.below(32) as u32,
            seed_edges: rng.below(5_000),
            two_hop_edges: rng.below(2_000_000),
            hops: 1 + rng.below(6) as u32,
            vectors: 0,
        }
    }

    /// Latency with known coefficients and +-2% multiplicative noise.
    fn latency(s: &RequestShape, w: &[f64; FEATURES], rng: &mut SplitMix64) -> f64 {
        dot(w, &s.features()) * (0.98 + 0.04 * rng.next_f64())
    }

    const TRUE_W: [f64; FEATURES] = [50.0, 120.0, 0.0, 3.0, 0.02, 0.004, 10.0, 5.0];

    #[test]
    fn starts_from_the_prior() {
        let p = LatencyPredictor::new(PredictorConfig::default()).unwrap();
        let s = RequestShape {
            hops: 3,
            vectors: 1000,
            ..Default::default()
        };
        let guess = p.predict(&s);
        assert!(guess.from_prior);
        assert!((guess.mean_us - (100.0 + 600.0 + 50.0)).abs() < 1e-9);
        assert!((guess.upper_us - guess.mean_us * DEFAULT_UPPER_FACTOR).abs() < 1e-9);
    }

    #[test]
    fn learns_known_coefficients_and_bounds_the_95th_percentile() {
        let mut rng = SplitMix64::new(1);
        let mut p = LatencyPredictor::new(PredictorConfig::default()).unwrap();
        for _ in 0..600 {
            let s = shape(&mut rng);
            p.observe(&s, latency(&s, &TRUE_W, &mut rng)).unwrap();
        }
        // Each weight, times its feature's largest value, is off by less than
        // 0.5% of the largest latency of the workload (~10 ms): what the +-2%
        // noise allows with 600 samples.
        let w = p.weights();
        let largest = RequestShape {
            batch: 32,
            seeds: 32,
            seed_edges: 5_000,
            two_hop_edges: 2_000_000,
            hops: 6,
            vectors: 0,
        }
        .features();
        let bound = 0.005 * dot(&TRUE_W, &largest);
        for i in 0..FEATURES {
            let off = (w[i] - TRUE_W[i]).abs() * largest[i];
            assert!(
                off < bound,
                "weight {i}: {} vs {} ({off} us)",
                w[i],
                TRUE_W[i]
            );
        }
        // Never set: stays at the prior.
        assert!((w[2] - PRIOR_US[2]).abs() < 1e-6);
        // Fresh requests: within 10%, and under the upper bound 95% of the time.
        let (mut within, mut under) = (0, 0);
        for _ in 0..1000 {
            let s = shape(&mut rng);
            let (guess, real) = (p.predict(&s), latency(&s, &TRUE_W, &mut rng));
            assert!(!guess.from_prior);
            within += usize::from((real - guess.mean_us).abs() <= 0.1 * real);
            under += usize::from(real <= guess.upper_us);
        }
        assert!(within >= 990, "{within} of 1000 within 10%");
        assert!(under >= 930, "{under} of 1000 under the upper bound");
        let (a10, a20) = p.accuracy();
        assert!(a10 > 0.9 && a20 >= a10, "{a10} {a20}");
    }

    #[test]
    fn follows_a_workload_shift_within_one_window() {
        let mut rng = SplitMix64::new(2);
        let config = PredictorConfig {
            window: 256,
            ..PredictorConfig::default()
        };
        let mut p = LatencyPredictor::new(config).unwrap();
        for _ in 0..300 {
            let s = shape(&mut rng);
            p.observe(&s, latency(&s, &TRUE_W, &mut rng)).unwrap();
        }
        // The machine got twice as slow.
        let slower = TRUE_W.map(|w| 2.0 * w);
        for _ in 0..config.window {
            let s = shape(&mut rng);
            p.observe(&s, latency(&s, &slower, &mut rng)).unwrap();
        }
        let s = RequestShape {
            batch: 4,
            seeds: 8,
            seed_edges: 1000,
            two_hop_edges: 100_000,
            hops: 4,
            vectors: 0,
        };
        let want = dot(&slower, &s.features());
        let got = p.predict(&s).mean_us;
        assert!((got - want).abs() / want < 0.05, "{got} vs {want}");
    }

    #[test]
    fn rejects_bad_samples_and_configs_without_changing_anything() {
        let mut p = LatencyPredictor::new(PredictorConfig::default()).unwrap();
        let s = RequestShape::default();
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            assert!(matches!(
                p.observe(&s, bad),
                Err(PredictorError::InvalidLatency(_))
            ));
        }
        assert_eq!(p.observed(), 0);
        assert_eq!(p.weights(), PRIOR_US);
        let d = PredictorConfig::default();
        for (config, field) in [
            (PredictorConfig { window: 3, ..d }, "window"),
            (
                PredictorConfig {
                    retrain_every: 0,
                    ..d
                },
                "retrain_every",
            ),
            (
                PredictorConfig {
                    ridge: f64::NAN,
                    ..d
                },
                "ridge",
            ),
            (PredictorConfig { quantile: 1.0, ..d }, "quantile"),
        ] {
            assert_eq!(
                LatencyPredictor::new(config).unwrap_err(),
                PredictorError::InvalidConfig { field }
            );
        }
    }

    #[test]
    fn cholesky_solves_and_refuses_singular_systems() {
        let mut a = [[0.0; FEATURES]; FEATURES];
        for (i, row) in a.iter_mut().enumerate() {
            row[i] = (i + 1) as f64;
        }
        a[0][1] = 0.5;
        a[1][0] = 0.5;
        let want = [1.0, -2.0, 3.0, 0.5, 0.0, 7.0, -1.0, 2.0];
        let b: [f64; FEATURES] = core::array::from_fn(|i| dot(&a[i], &want));
        let got = cholesky_solve(a, b).unwrap();
        assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-12));
        a[3][3] = 0.0;
        assert!(cholesky_solve(a, b).is_none());
    }
}
