//! Latency prediction: how long will this request take, before it starts?
//! (See [`LatencyPredictor`].)
//!
//! Three concerns, three files: what a request looks like before it runs
//! and the features derived from it (`shape.rs`, [`RequestShape`]), the
//! ridge least-squares algebra (`ridge.rs`), and here the online predictor
//! that keeps the window of samples, refits, and turns a fit into a
//! median, a mean and an upper bound.

mod ridge;
mod shape;

use alloc::vec::Vec;
use core::fmt;

use ridge::{Matrix, accumulate, cholesky_solve, dot};
use shape::FEATURES;
pub use shape::RequestShape;

/// How the predictor learns.
///
/// Later versions may add fields (`#[non_exhaustive]`): start from
/// [`default()`](PredictorConfig::default) and set fields with the `with_*` methods.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct PredictorConfig {
    /// Samples kept (the fit's window); at least the number of features
    /// (16, listed in the [`LatencyPredictor`] docs).
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

impl PredictorConfig {
    /// This configuration with [`window`](PredictorConfig::window) = `window`.
    #[must_use]
    pub const fn with_window(mut self, window: usize) -> PredictorConfig {
        self.window = window;
        self
    }

    /// This configuration with [`retrain_every`](PredictorConfig::retrain_every) = `retrain_every`.
    #[must_use]
    pub const fn with_retrain_every(mut self, retrain_every: usize) -> PredictorConfig {
        self.retrain_every = retrain_every;
        self
    }

    /// This configuration with [`ridge`](PredictorConfig::ridge) = `ridge`.
    #[must_use]
    pub const fn with_ridge(mut self, ridge: f64) -> PredictorConfig {
        self.ridge = ridge;
        self
    }

    /// This configuration with [`min_samples`](PredictorConfig::min_samples) = `min_samples`.
    #[must_use]
    pub const fn with_min_samples(mut self, min_samples: usize) -> PredictorConfig {
        self.min_samples = min_samples;
        self
    }

    /// This configuration with [`quantile`](PredictorConfig::quantile) = `quantile`.
    #[must_use]
    pub const fn with_quantile(mut self, quantile: f64) -> PredictorConfig {
        self.quantile = quantile;
        self
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
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
impl std::error::Error for PredictorError {}

/// A prediction, in microseconds (`#[non_exhaustive]`: later versions may
/// report more).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Prediction {
    /// Median latency: the accuracy figures judge this one.
    pub median_us: f64,
    /// Mean latency (latencies are skewed: a few slow requests pull the mean
    /// above the median). For throughput planning.
    pub mean_us: f64,
    /// Upper bound at the configured quantile (the 95th percentile by default).
    pub upper_us: f64,
    /// Whether this is the prior (not enough samples yet).
    pub from_prior: bool,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    x: [f64; FEATURES],
    /// `ln(measured / prior)`: what the model fits.
    y: f64,
    /// `measured / predicted` (the median), predicted before this sample
    /// was learned.
    ratio: f64,
    /// Whether that prediction came from a fit (not from the prior).
    fitted: bool,
}

/// Online ridge regression of log latency on [`RequestShape`] features.
///
/// An engine with a latency budget must decide, per request, how much work
/// fits: how many queries to batch, how many hops to allow. It knows the
/// request's shape beforehand (seeds, their degrees, hops asked for, the
/// threshold, batch size, vectors to scan) and has measured every earlier
/// request. Latencies of spreading queries span four decades (20 us to
/// 20 ms on `rmat20`) and their errors are relative, so the
/// [`LatencyPredictor`] works in log space: it fits the **log of the ratio
/// of the latency to the prior** as a linear function of the shape's
/// features, by ridge-regularised least squares over a window of recent
/// samples. The features: a constant; hops, hops squared, hops capped at 2
/// (the first hops cost differently); the logs of the batch size, seeds,
/// seed edges, two-hop edges, threshold and vectors; hops x log threshold,
/// hops x log two-hop edges, log threshold x log two-hop edges (how far a
/// query spreads depends on both together); and the log of the spreading
/// edges, alone and times hops and log threshold. The fit:
///
/// - the normal equations are updated with every sample (and the sample that
///   leaves the window is taken out), and solved again, so the model follows
///   a drifting workload at once; every `retrain_every` samples they are
///   rebuilt from the window, so rounding errors of the running sums never
///   accumulate, and the residual factors below are refreshed;
/// - the ridge pulls every weight toward zero, that is the prediction toward
///   the **prior** (the seed design's 100 us + 50 ns per vector + 200 us per
///   hop, [`RequestShape::prior_us`]), in proportion to each feature's own
///   scale: with few samples the prediction is the prior, and features the
///   workload never varies leave it alone;
/// - a fit in log space gives the geometric mean; the median and the mean
///   are that times the median and the mean of the fit's residual factors
///   over the window (Duan's smearing: a few slow requests pull the mean
///   above the median); the upper bound for the 95th percentile is the
///   median times the 95th percentile of `measured / predicted` over the
///   window, each ratio taken *before* its sample was learned, by a fit
///   (honest out-of-sample errors).
///
/// The predictor keeps no clock; callers time requests with whatever clock
/// they use (tests use a simulated one).
///
/// ```
/// use axonal::batch::{LatencyPredictor, PredictorConfig, RequestShape};
///
/// let mut p = LatencyPredictor::new(PredictorConfig::default())?;
/// let shape = |hops| RequestShape::default().with_seeds(8).with_hops(hops);
/// assert!(p.predict(&shape(4)).from_prior); // 100 us + 4 x 200 us
/// assert_eq!(p.predict(&shape(4)).median_us, 900.0);
/// for i in 0..200 {
///     let hops = 1 + i % 6;
///     p.observe(&shape(hops), 40.0 * f64::from(hops * hops))?; // measured
/// }
/// let guess = p.predict(&shape(4));
/// assert!((guess.median_us / 640.0 - 1.0).abs() < 0.05, "{guess:?}");
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
    /// Median and mean of the fit's residual factors over the window.
    median_factor: f64,
    mean_factor: f64,
    /// Quantile of the out-of-sample `measured / predicted`.
    upper_factor: f64,
    since_rebuild: usize,
    observed: u64,
}

impl LatencyPredictor {
    /// A predictor that starts from the prior ([`RequestShape::prior_us`]).
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
            weights: [0.0; FEATURES],
            median_factor: 1.0,
            mean_factor: 1.0,
            upper_factor: DEFAULT_UPPER_FACTOR,
            since_rebuild: 0,
            observed: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> PredictorConfig {
        self.config
    }

    /// The current weights of the log-ratio to the prior, one per feature
    /// in the order the [`LatencyPredictor`] docs list them; all zero: the
    /// prior. For diagnostics: the features (and so this length) may change
    /// between versions.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Samples learned so far (not only those in the window).
    pub fn observed(&self) -> u64 {
        self.observed
    }

    /// Predicts the latency of a request of this shape.
    pub fn predict(&self, shape: &RequestShape) -> Prediction {
        let typical = self.typical_us(shape, &shape.features());
        let median_us = typical * self.median_factor;
        Prediction {
            median_us,
            mean_us: typical * self.mean_factor,
            upper_us: median_us * self.upper_factor.max(1.0),
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
        let predicted = self.typical_us(shape, &x) * self.median_factor;
        let measured_us = measured_us.max(MIN_LATENCY_US);
        let sample = Sample {
            x,
            y: libm::log(measured_us / shape.prior_us()),
            ratio: measured_us / predicted,
            fitted: self.samples.len() >= self.config.min_samples,
        };
        if self.samples.len() < self.config.window {
            self.samples.push(sample);
        } else {
            let old = core::mem::replace(&mut self.samples[self.next], sample);
            self.next = (self.next + 1) % self.config.window;
            accumulate(&mut self.normal, &mut self.moment, &old.x, old.y, -1.0);
        }
        accumulate(&mut self.normal, &mut self.moment, &sample.x, sample.y, 1.0);
        self.observed += 1;
        self.since_rebuild += 1;
        if self.since_rebuild >= self.config.retrain_every {
            self.rebuild();
        }
        if self.samples.len() >= self.config.min_samples {
            self.solve();
            if self.since_rebuild == 0 {
                self.refresh_factors();
            }
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

    /// The model's geometric-mean latency for a shape with features `x`.
    fn typical_us(&self, shape: &RequestShape, x: &[f64; FEATURES]) -> f64 {
        let log_ratio = dot(&self.weights, x).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO);
        shape.prior_us() * libm::exp(log_ratio)
    }

    /// Recomputes the normal equations from the window.
    fn rebuild(&mut self) {
        self.since_rebuild = 0;
        self.normal = [[0.0; FEATURES]; FEATURES];
        self.moment = [0.0; FEATURES];
        for s in &self.samples {
            accumulate(&mut self.normal, &mut self.moment, &s.x, s.y, 1.0);
        }
    }

    /// Recomputes, from the window, the factors that turn the fitted
    /// geometric mean into a median and a mean (the median and the mean of
    /// the fit's residuals `measured / fitted`: Duan's smearing), and the
    /// upper-bound factor (the quantile of the out-of-sample `measured /
    /// predicted` of predictions made by a fit, not by the prior).
    fn refresh_factors(&mut self) {
        let mut residuals: Vec<f64> = self
            .samples
            .iter()
            .map(|s| {
                libm::exp((s.y - dot(&self.weights, &s.x)).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO))
            })
            .collect();
        residuals.sort_by(f64::total_cmp);
        self.median_factor = quantile(&residuals, 0.5);
        self.mean_factor = residuals.iter().sum::<f64>() / residuals.len() as f64;
        let mut ratios: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.fitted)
            .map(|s| s.ratio)
            .collect();
        if ratios.len() >= self.config.min_samples {
            ratios.sort_by(f64::total_cmp);
            self.upper_factor = quantile(&ratios, self.config.quantile);
        }
    }

    /// Solves `(X^T X + ridge D) w = X^T y`, `D` the diagonal of `X^T X`
    /// (so the pull toward zero, the prior, is relative to each feature's
    /// scale). Keeps the old weights if the system is singular.
    fn solve(&mut self) {
        let mut a = self.normal;
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += row[i] * self.config.ridge + RIDGE_FLOOR;
        }
        if let Some(w) = cholesky_solve(a, self.moment) {
            self.weights = w;
        }
    }
}

/// Upper-bound factor before the window has enough samples.
const DEFAULT_UPPER_FACTOR: f64 = 1.5;

/// Added to every diagonal term: keeps features the workload never sets
/// (all zeros) at weight zero instead of making the system singular.
const RIDGE_FLOOR: f64 = 1e-9;

/// Measured latencies are taken as at least this (a log needs a positive
/// number).
const MIN_LATENCY_US: f64 = 1e-3;

/// Predictions stay within `e^(+-40)` of the prior, whatever the weights.
const MAX_LOG_RATIO: f64 = 40.0;

/// The `q` quantile of sorted, non-empty `values` (the `ceil((n - 1) q)`-th).
fn quantile(values: &[f64], q: f64) -> f64 {
    values[libm::ceil((values.len() - 1) as f64 * q) as usize]
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
            spreading_edges: rng.below(500_000),
            hops: 1 + rng.below(6) as u32,
            threshold: [0.01, 0.05, 0.1, 0.2][rng.below(4) as usize],
            vectors: 0,
        }
    }

    /// Latency `scale x prior x e^(w . features)`, with +-2% noise.
    fn latency(s: &RequestShape, w: &[f64; FEATURES], scale: f64, rng: &mut SplitMix64) -> f64 {
        scale * s.prior_us() * libm::exp(dot(w, &s.features())) * (0.98 + 0.04 * rng.next_f64())
    }

    /// Known coefficients; the vectors' weight (9) is never exercised.
    const TRUE_W: [f64; FEATURES] = [
        -1.0, 0.3, -0.02, 0.2, 0.1, 0.15, 0.1, 0.05, -0.3, 0.0, -0.05, 0.01, -0.01, 0.04, 0.01,
        -0.005,
    ];

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
        assert!((guess.median_us - (100.0 + 600.0 + 50.0)).abs() < 1e-9);
        assert!((guess.upper_us - guess.median_us * DEFAULT_UPPER_FACTOR).abs() < 1e-9);
    }

    #[test]
    fn learns_known_coefficients_and_bounds_the_95th_percentile() {
        let mut rng = SplitMix64::new(1);
        // A light ridge: the features are far from orthogonal (hops, hops
        // squared, hops capped at 2), so the default ridge's pull toward the
        // prior would show in the weights (not in the predictions).
        let config = PredictorConfig {
            ridge: 1e-7,
            ..PredictorConfig::default()
        };
        let mut p = LatencyPredictor::new(config).unwrap();
        for _ in 0..1000 {
            let s = shape(&mut rng);
            p.observe(&s, latency(&s, &TRUE_W, 1.0, &mut rng)).unwrap();
        }
        // Each weight, times its feature's largest value, moves the log
        // latency by less than 0.05 (5%) from the true one: what the +-2%
        // noise allows with 1000 samples and these correlated features
        // (seen: at most 0.026, hops).
        let w = p.weights();
        let largest = RequestShape {
            batch: 32,
            seeds: 32,
            seed_edges: 5_000,
            two_hop_edges: 2_000_000,
            spreading_edges: 500_000,
            hops: 6,
            threshold: 0.01,
            vectors: 0,
        }
        .features();
        for i in 0..FEATURES {
            let off = (w[i] - TRUE_W[i]).abs() * largest[i].abs();
            assert!(off < 0.05, "weight {i}: {} vs {} ({off})", w[i], TRUE_W[i]);
        }
        // Never set: stays at zero (the prior).
        assert!(w[9].abs() < 1e-9);
        // Fresh requests: within 10%, and under the upper bound 95% of the time.
        let (mut within, mut under) = (0, 0);
        for _ in 0..1000 {
            let s = shape(&mut rng);
            let (guess, real) = (p.predict(&s), latency(&s, &TRUE_W, 1.0, &mut rng));
            assert!(!guess.from_prior);
            within += usize::from((real - guess.median_us).abs() <= 0.1 * real);
            under += usize::from(real <= guess.upper_us);
        }
        assert!(within >= 990, "{within} of 1000 within 10%");
        assert!(under >= 930, "{under} of 1000 under the upper bound");
        let (a10, a20) = p.accuracy();
        assert!(a10 > 0.9 && a20 >= a10, "{a10} {a20}");
    }

    #[test]
    fn mean_and_upper_bound_follow_skewed_latencies() {
        // One request in ten takes 3x as long (a cache-cold outlier): the
        // median stays at the base, the mean is 1.2x it, the 95th
        // percentile 3x.
        let mut rng = SplitMix64::new(3);
        let mut p = LatencyPredictor::new(PredictorConfig::default()).unwrap();
        let base = |s: &RequestShape| s.prior_us() * libm::exp(dot(&TRUE_W, &s.features()));
        for _ in 0..1000 {
            let s = shape(&mut rng);
            let slow = if rng.below(10) == 0 { 3.0 } else { 1.0 };
            let noise = 0.99 + 0.02 * rng.next_f64();
            p.observe(&s, base(&s) * slow * noise).unwrap();
        }
        let s = shape(&mut rng);
        let guess = p.predict(&s);
        let want = base(&s);
        assert!(
            (guess.median_us / want - 1.0).abs() < 0.05,
            "{guess:?} vs {want}"
        );
        assert!(
            (guess.mean_us / want - 1.2).abs() < 0.06,
            "{guess:?} vs {want}"
        );
        assert!(
            (guess.upper_us / want - 3.0).abs() < 0.15,
            "{guess:?} vs {want}"
        );
    }

    #[test]
    fn follows_a_workload_shift_within_a_window_and_a_retraining() {
        let mut rng = SplitMix64::new(2);
        let config = PredictorConfig {
            window: 256,
            ..PredictorConfig::default()
        };
        let mut p = LatencyPredictor::new(config).unwrap();
        for _ in 0..300 {
            let s = shape(&mut rng);
            p.observe(&s, latency(&s, &TRUE_W, 1.0, &mut rng)).unwrap();
        }
        // The machine got twice as slow. The weights follow with every
        // sample; the residual factors at the next retraining once the
        // window holds only the new samples.
        for _ in 0..config.window + config.retrain_every {
            let s = shape(&mut rng);
            p.observe(&s, latency(&s, &TRUE_W, 2.0, &mut rng)).unwrap();
        }
        let s = RequestShape {
            batch: 4,
            seeds: 8,
            seed_edges: 1000,
            two_hop_edges: 100_000,
            spreading_edges: 20_000,
            hops: 4,
            threshold: 0.05,
            vectors: 0,
        };
        let want = 2.0 * s.prior_us() * libm::exp(dot(&TRUE_W, &s.features()));
        let got = p.predict(&s).median_us;
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
        assert_eq!(p.weights(), [0.0; FEATURES]);
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
}
