//! The fixed-point arithmetic that makes spreading order-independent.
//!
//! A hop's incoming activation is a sum of contributions. Floating-point sums
//! depend on their order; integer sums do not. Each contribution is therefore
//! computed in `f32` exactly the same way by every kernel ([`strength`] once
//! per source, then [`contribution`] per edge), rounded to an integer number
//! of `2^-30` units, and summed with saturating `u32` additions (a saturated
//! sum of non-negative terms is `min(total, u32::MAX)` whatever the order).
//! A sum saturates only above 4.0, where the capped activation is 1.0 anyway.

use super::params::Fan;

/// Fixed-point units per 1.0 of activation.
pub(crate) const SCALE: f32 = (1u32 << 30) as f32;

/// `1 / SCALE` in `f64`, to turn a sum back into activation.
pub(crate) const UNIT: f64 = 1.0 / (1u64 << 30) as f64;

/// How strongly source `u` pushes on each of its edges at this hop, already
/// scaled to fixed-point units: `delta * decay(h) * fan(u) * 2^30`.
/// `decay_scaled` is `decay(h) * 2^30`, rounded to `f32` once per hop.
#[inline(always)]
pub(crate) fn strength(delta: f32, decay_scaled: f32, fan: Fan, out_degree: u32) -> f32 {
    delta * (decay_scaled * fan_factor(fan, out_degree))
}

/// The share of a source's activation each of its `out_degree` edges
/// carries. (The GPU kernels read it from a table by degree made with this
/// function: a device's division and square root need not round as the
/// CPU's do.)
#[inline(always)]
pub(crate) fn fan_factor(fan: Fan, out_degree: u32) -> f32 {
    match fan {
        Fan::None => 1.0,
        Fan::Divide => 1.0 / out_degree as f32,
        Fan::Sqrt => 1.0 / crate::math::sqrtf(out_degree as f32),
    }
}

/// One edge's contribution in fixed-point units: `strength * w`, rounded to
/// nearest. `strength <= 2^30` and `w <= 1`, so the value fits in `u32`.
#[inline(always)]
pub(crate) fn contribution(strength: f32, weight: f32) -> u32 {
    truncate(strength * weight + 0.5)
}

/// `x as u32` for `x` in `[0, 2^32)`, the range of every contribution.
///
/// On x86-64 with SSE this is one `cvttss2si` into a 64-bit register, the
/// same truncation `as` performs, without the clamping `as` adds for values
/// outside the range (which a contribution never is; were one to be, it would
/// wrap instead of saturating, never undefined behaviour). Elsewhere `as`
/// already compiles to one instruction (or floats are emulated anyway, as on
/// the soft-float `x86_64-unknown-none`).
#[inline(always)]
fn truncate(x: f32) -> u32 {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use core::arch::x86_64::{_mm_cvttss_si64, _mm_set_ss};
        // SAFETY: this build enables SSE (the `cfg` above).
        unsafe { _mm_cvttss_si64(_mm_set_ss(x)) as u32 }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    {
        x as u32
    }
}

/// The activation a node holds after receiving `sum` units on top of `current`:
/// `min(1, current + sum)`, rounded once to `f32`.
#[inline(always)]
pub(crate) fn apply(current: f32, sum: u32) -> f32 {
    let total = f64::from(current) + f64::from(sum) * UNIT;
    if total >= 1.0 { 1.0 } else { total as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contributions_round_to_nearest_unit() {
        assert_eq!(contribution(SCALE, 1.0), 1 << 30);
        assert_eq!(contribution(SCALE, 0.5), 1 << 29);
        assert_eq!(contribution(0.49, 1.0), 0);
        assert_eq!(contribution(0.5, 1.0), 1);
        assert_eq!(contribution(0.0, 1.0), 0);
        assert_eq!(
            contribution(SCALE, f32::from_bits(1)),
            0,
            "denormal weights contribute nothing"
        );
    }

    #[test]
    fn truncate_matches_as_over_the_contribution_range() {
        let mut x = 0.0f32;
        while x < 4.0e9 {
            assert_eq!(truncate(x), x as u32, "{x}");
            x = x * 1.37 + 0.31;
        }
        for x in [0.49, 0.5, 1.0, (1u32 << 30) as f32 + 0.5, 4294967040.0] {
            assert_eq!(truncate(x), x as u32, "{x}");
        }
    }

    #[test]
    fn saturating_sums_are_order_free_and_apply_caps() {
        let terms = [u32::MAX / 3, u32::MAX / 2, 7, u32::MAX / 5];
        let fwd = terms.iter().fold(0u32, |a, &t| a.saturating_add(t));
        let rev = terms.iter().rev().fold(0u32, |a, &t| a.saturating_add(t));
        assert_eq!((fwd, rev), (u32::MAX, u32::MAX));
        assert_eq!(apply(0.5, u32::MAX), 1.0);
        assert_eq!(apply(0.25, 1 << 29), 0.75);
        assert_eq!(apply(0.0, 0), 0.0);
    }

    #[test]
    fn strength_applies_fan() {
        assert_eq!(strength(1.0, SCALE, Fan::None, 4), SCALE);
        assert_eq!(strength(1.0, SCALE, Fan::Divide, 4), SCALE / 4.0);
        assert_eq!(strength(1.0, SCALE, Fan::Sqrt, 4), SCALE / 2.0);
    }
}
