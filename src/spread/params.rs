//! Query parameters, their defaults and their validation.

use super::SpreadError;
use crate::layout::HopTier;

/// The largest `max_hops` accepted.
pub const MAX_HOPS: usize = 32;

/// How much of a node's new activation survives the hop to its neighbours;
/// `decay(h)` is applied to contributions arriving at hop `h >= 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// `exp(-rate * h)`; `rate >= 0`.
    Exponential {
        /// Decay rate.
        rate: f32,
    },
    /// `(h + 1)^(-exponent)`; `exponent >= 0`.
    PowerLaw {
        /// Exponent.
        exponent: f32,
    },
    /// `max(0, 1 - slope * h)`; `slope >= 0`.
    Linear {
        /// Slope.
        slope: f32,
    },
    /// `table[h - 1]`; entries in `[0, 1]`.
    Table([f32; MAX_HOPS]),
}

impl Decay {
    /// `decay(h)` in `f64` (the exact value the kernels round to `f32` once).
    pub fn at(&self, hop: usize) -> f64 {
        let h = hop as f64;
        match *self {
            Decay::Exponential { rate } => libm::exp(-f64::from(rate) * h),
            Decay::PowerLaw { exponent } => libm::pow(h + 1.0, -f64::from(exponent)),
            Decay::Linear { slope } => (1.0 - f64::from(slope) * h).max(0.0),
            Decay::Table(t) => f64::from(t[hop - 1]),
        }
    }

    fn validate(&self) -> Result<(), SpreadError> {
        let bad = |expected| {
            Err(SpreadError::InvalidParameter {
                name: "decay",
                expected,
            })
        };
        match *self {
            Decay::Exponential { rate: x }
            | Decay::PowerLaw { exponent: x }
            | Decay::Linear { slope: x } => {
                if !(x.is_finite() && x >= 0.0) {
                    return bad("a finite, non-negative rate, exponent or slope");
                }
            }
            Decay::Table(t) => {
                if !t.iter().all(|x| (0.0..=1.0).contains(x)) {
                    return bad("a table of values in [0, 1]");
                }
            }
        }
        Ok(())
    }
}

/// The activation a node must newly gain at hop `h` to spread further.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Hop 0 uses `hot`, hops 1-2 `warm`, hops 3+ `cold`.
    Tiered {
        /// Hop 0.
        hot: f32,
        /// Hops 1 and 2.
        warm: f32,
        /// Hops 3 and beyond.
        cold: f32,
    },
    /// The same threshold at every hop.
    Uniform(f32),
}

impl Threshold {
    /// `theta(h)`.
    pub fn at(&self, hop: usize) -> f32 {
        match *self {
            Threshold::Uniform(x) => x,
            Threshold::Tiered { hot, warm, cold } => match HopTier::of_hop(hop.min(255) as u8) {
                HopTier::Hot => hot,
                HopTier::Warm => warm,
                HopTier::Cold => cold,
            },
        }
    }
}

/// How a node's outgoing activation is shared among its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fan {
    /// Every edge carries `w`.
    #[default]
    None,
    /// Every edge carries `w / outdeg(u)`.
    Divide,
    /// Every edge carries `w / sqrt(outdeg(u))`.
    Sqrt,
}

/// Confidence factor of a result by the tier of the hop it was reached at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierConfidence {
    /// Hop 0 (seeds).
    pub hot: f32,
    /// Hops 1-2.
    pub warm: f32,
    /// Hops 3+.
    pub cold: f32,
}

impl TierConfidence {
    /// The factor for a node first reached at `hop`.
    pub fn at(&self, hop: u8) -> f32 {
        match HopTier::of_hop(hop) {
            HopTier::Hot => self.hot,
            HopTier::Warm => self.warm,
            HopTier::Cold => self.cold,
        }
    }
}

impl Default for TierConfidence {
    fn default() -> Self {
        TierConfidence {
            hot: 1.0,
            warm: 0.95,
            cold: 0.9,
        }
    }
}

/// Everything a query needs besides its seeds. `Default` is the contract's
/// defaults: 4 hops, exponential decay 0.7, tiered thresholds
/// 0.01/0.05/0.10, no fan division, top 100 results above 0.01.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadParams {
    /// Hops to spread, `0..=32`.
    pub max_hops: usize,
    /// Per-hop decay.
    pub decay: Decay,
    /// Per-hop spreading threshold.
    pub threshold: Threshold,
    /// Sharing of activation among a node's edges.
    pub fan: Fan,
    /// Results returned at most (0 returns none; more than the graph has returns all).
    pub top_k: usize,
    /// Nodes below this activation are not returned; nodes never reached are
    /// never returned, even when this is 0.
    pub min_activation: f32,
    /// Confidence factors by tier.
    pub confidence: TierConfidence,
}

impl Default for SpreadParams {
    fn default() -> Self {
        SpreadParams {
            max_hops: 4,
            decay: Decay::Exponential { rate: 0.7 },
            threshold: Threshold::Tiered {
                hot: 0.01,
                warm: 0.05,
                cold: 0.10,
            },
            fan: Fan::None,
            top_k: 100,
            min_activation: 0.01,
            confidence: TierConfidence::default(),
        }
    }
}

impl SpreadParams {
    /// The `query_std` workload's parameters: the defaults with `fan = Sqrt`.
    pub fn query_std() -> SpreadParams {
        SpreadParams {
            fan: Fan::Sqrt,
            ..SpreadParams::default()
        }
    }

    /// Checks every parameter against its range.
    pub fn validate(&self) -> Result<(), SpreadError> {
        let unit = |x: f32| (0.0..=1.0).contains(&x);
        let check = |ok: bool, name, expected| {
            if ok {
                Ok(())
            } else {
                Err(SpreadError::InvalidParameter { name, expected })
            }
        };
        check(self.max_hops <= MAX_HOPS, "max_hops", "at most 32")?;
        self.decay.validate()?;
        let thresholds = match self.threshold {
            Threshold::Uniform(x) => [x; 3],
            Threshold::Tiered { hot, warm, cold } => [hot, warm, cold],
        };
        check(thresholds.into_iter().all(unit), "threshold", "in [0, 1]")?;
        check(unit(self.min_activation), "min_activation", "in [0, 1]")?;
        let c = self.confidence;
        check(
            [c.hot, c.warm, c.cold].into_iter().all(unit),
            "confidence",
            "in [0, 1]",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_shapes() {
        let want = (-2.0 * f64::from(0.7f32)).exp();
        assert!((Decay::Exponential { rate: 0.7 }.at(2) - want).abs() <= 1e-15 * want);
        assert!((Decay::PowerLaw { exponent: 2.0 }.at(1) - 0.25).abs() < 1e-15);
        assert_eq!(Decay::Linear { slope: 0.4 }.at(3), 0.0);
        let mut t = [0.0; MAX_HOPS];
        t[1] = 0.5;
        assert_eq!(Decay::Table(t).at(2), 0.5);
    }

    #[test]
    fn thresholds_by_tier() {
        let t = SpreadParams::default().threshold;
        assert_eq!(
            [t.at(0), t.at(1), t.at(2), t.at(3), t.at(32)],
            [0.01, 0.05, 0.05, 0.10, 0.10]
        );
    }

    #[test]
    fn validation_rejects_out_of_range_parameters() {
        assert!(SpreadParams::default().validate().is_ok());
        let bad = [
            SpreadParams {
                max_hops: 33,
                ..Default::default()
            },
            SpreadParams {
                decay: Decay::Exponential { rate: -1.0 },
                ..Default::default()
            },
            SpreadParams {
                decay: Decay::PowerLaw { exponent: f32::NAN },
                ..Default::default()
            },
            SpreadParams {
                decay: Decay::Table([1.5; MAX_HOPS]),
                ..Default::default()
            },
            SpreadParams {
                threshold: Threshold::Uniform(f32::NAN),
                ..Default::default()
            },
            SpreadParams {
                threshold: Threshold::Tiered {
                    hot: 0.0,
                    warm: -0.1,
                    cold: 0.1,
                },
                ..Default::default()
            },
            SpreadParams {
                min_activation: 2.0,
                ..Default::default()
            },
            SpreadParams {
                confidence: TierConfidence {
                    hot: 1.0,
                    warm: f32::INFINITY,
                    cold: 0.0,
                },
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(
                matches!(p.validate(), Err(SpreadError::InvalidParameter { .. })),
                "{p:?}"
            );
        }
    }
}
