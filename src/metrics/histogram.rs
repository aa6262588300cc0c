//! Fixed-size histograms: recording is a few instructions and never
//! allocates, so they can stay on in production.

use alloc::boxed::Box;
use alloc::vec;

/// Sub-buckets per power of two: values are kept to 1/16 (6.25%).
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every `u64`: 16 exact small values, then 16 per power of two.
const BUCKETS: usize = ((64 - SUB_BITS) * SUB as u32 + SUB as u32) as usize;

/// A log-linear histogram of `u64` values (latencies in nanoseconds, say):
/// exact below 16, then 16 buckets per power of two, so a quantile is within
/// 6.25% of the true value (and never above the largest value recorded).
/// Recording is branch-light and allocation-free; histograms of several
/// threads [`merge`](Histogram::merge).
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl core::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram (about 8 KiB).
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, value: u64) {
        self.counts[bucket(value)] += 1;
        self.count += 1;
        self.sum += u128::from(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest value recorded (`None` if empty).
    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value recorded (`None` if empty).
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The exact mean (`None` if empty).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value at quantile `q` (0.95 for the 95th percentile): the upper
    /// end of the bucket holding the `ceil(q * count)`-th smallest value,
    /// capped at the largest value recorded. `None` if empty or `q` is not
    /// in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = libm::ceil(q * self.count as f64).max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(upper(i).min(self.max).max(self.min));
            }
        }
        Some(self.max)
    }

    /// Adds another histogram's values to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.sum = 0;
        self.min = u64::MAX;
        self.max = 0;
    }
}

/// The bucket of `value`.
#[inline]
fn bucket(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= SUB_BITS
    let mantissa = value >> (exponent - SUB_BITS); // in [SUB, 2 SUB)
    ((exponent - SUB_BITS + 1) as u64 * SUB + (mantissa - SUB)) as usize
}

/// The smallest value of bucket `i`.
fn lower(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exponent = i / SUB - 1 + u64::from(SUB_BITS);
    (SUB + i % SUB) << (exponent - u64::from(SUB_BITS))
}

/// The largest value of bucket `i`.
fn upper(i: usize) -> u64 {
    if i + 1 >= BUCKETS {
        u64::MAX
    } else {
        lower(i + 1) - 1
    }
}

/// Bins of relative prediction error, `predicted / measured - 1`, one per
/// percent from -100% to +400% (errors beyond fall in the last bin).
#[derive(Clone, PartialEq, Eq)]
pub struct ErrorHistogram {
    bins: Box<[u64]>,
    count: u64,
}

/// Bins of [`ErrorHistogram`]: -100% .. +400% in 1% steps, the last open.
const ERROR_BINS: usize = 501;

impl core::fmt::Debug for ErrorHistogram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ErrorHistogram")
            .field("count", &self.count)
            .field("within_10pct", &self.fraction_within(10))
            .finish_non_exhaustive()
    }
}

impl Default for ErrorHistogram {
    fn default() -> Self {
        ErrorHistogram::new()
    }
}

impl ErrorHistogram {
    /// An empty histogram.
    pub fn new() -> ErrorHistogram {
        ErrorHistogram {
            bins: vec![0; ERROR_BINS].into_boxed_slice(),
            count: 0,
        }
    }

    /// Records one prediction against the measurement (any units, both the
    /// same). A non-positive or non-finite measurement is not recorded.
    #[inline]
    pub fn record(&mut self, predicted: f64, measured: f64) {
        if !(measured > 0.0 && measured.is_finite() && predicted.is_finite()) {
            return;
        }
        let percent = libm::round((predicted / measured - 1.0) * 100.0);
        let bin = (percent + 100.0).clamp(0.0, (ERROR_BINS - 1) as f64) as usize;
        self.bins[bin] += 1;
        self.count += 1;
    }

    /// Predictions recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Share of predictions within `percent`% of the measurement (errors
    /// rounded to the percent); 0 if none.
    pub fn fraction_within(&self, percent: u32) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let p = percent.min(100) as usize;
        let inside: u64 = self.bins[100 - p..=(100 + percent as usize).min(ERROR_BINS - 1)]
            .iter()
            .sum();
        inside as f64 / self.count as f64
    }

    /// Count of predictions whose error rounds to `percent`% (-100 to 400;
    /// 400 holds every larger error).
    pub fn at(&self, percent: i32) -> u64 {
        usize::try_from(percent + 100)
            .ok()
            .and_then(|i| self.bins.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Adds another histogram's predictions to this one.
    pub fn merge(&mut self, other: &ErrorHistogram) {
        for (a, b) in self.bins.iter_mut().zip(other.bins.iter()) {
            *a += b;
        }
        self.count += other.count;
    }

    /// Forgets every prediction.
    pub fn clear(&mut self) {
        self.bins.fill(0);
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use alloc::vec::Vec;

    #[test]
    fn buckets_tile_every_u64_in_order() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(15), 15);
        assert_eq!(bucket(16), 16);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        for i in 0..BUCKETS - 1 {
            assert_eq!(bucket(lower(i)), i, "lower({i})");
            assert_eq!(bucket(upper(i)), i, "upper({i})");
            assert_eq!(upper(i) + 1, lower(i + 1));
            // Width at most 1/16 of the bucket's values.
            assert!((upper(i) - lower(i)) as f64 <= lower(i) as f64 / 16.0 + 1.0);
        }
    }

    #[test]
    fn quantiles_are_within_a_sixteenth_of_the_exact_ones() {
        let mut rng = SplitMix64::new(4);
        let mut h = Histogram::new();
        let mut values: Vec<u64> = (0..10_000)
            .map(|_| {
                // Log-uniform from 1 us to 100 ms, in ns.
                libm::exp(libm::log(1e3) + rng.next_f64() * libm::log(1e5)) as u64
            })
            .collect();
        for &v in &values {
            h.record(v);
        }
        values.sort_unstable();
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let rank = (libm::ceil(q * values.len() as f64) as usize).max(1);
            let exact = values[rank - 1];
            let got = h.quantile(q).unwrap();
            assert!(got >= exact, "q{q}: {got} < {exact}");
            assert!(
                got as f64 <= exact as f64 * (1.0 + 1.0 / 16.0),
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.quantile(1.0), Some(values[values.len() - 1]));
        assert_eq!(h.min(), Some(values[0]));
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        assert!((h.mean().unwrap() - mean).abs() < 1e-6 * mean);
        assert_eq!(h.quantile(1.5), None);
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..1_000u64 {
            let v = v * v * 7;
            if v % 3 == 0 { &mut a } else { &mut b }.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        a.clear();
        assert_eq!(a, Histogram::new());
    }

    #[test]
    fn prediction_errors_by_the_percent() {
        let mut e = ErrorHistogram::new();
        e.record(100.0, 100.0); // 0%
        e.record(110.0, 100.0); // +10%
        e.record(89.0, 100.0); // -11%
        e.record(300.0, 100.0); // +200%
        e.record(1e9, 1.0); // beyond: the last bin
        e.record(0.0, 100.0); // -100%
        e.record(1.0, 0.0); // not recorded
        e.record(f64::NAN, 1.0); // not recorded
        assert_eq!(e.count(), 6);
        assert_eq!(
            (
                e.at(0),
                e.at(10),
                e.at(-11),
                e.at(200),
                e.at(400),
                e.at(-100)
            ),
            (1, 1, 1, 1, 1, 1)
        );
        assert_eq!(e.fraction_within(10), 2.0 / 6.0);
        assert_eq!(e.fraction_within(11), 3.0 / 6.0);
        assert_eq!(e.fraction_within(100), 4.0 / 6.0);
        let mut f = ErrorHistogram::new();
        f.merge(&e);
        f.merge(&e);
        assert_eq!(f.count(), 12);
        assert_eq!(f.fraction_within(10), 2.0 / 6.0);
        f.clear();
        assert_eq!(f.fraction_within(10), 0.0);
    }
}
