//! The content checks of raw CSR arrays: offsets that never decrease,
//! targets below the node count, weights in `(0, 1]`.
//!
//! [`CsrView::new`](super::CsrView::new) runs them over whole arrays; the
//! `.axg` verifier runs them over each 1 MiB block of a file while the block
//! is in cache for hashing (and on all cores). Each check is a branch-free
//! reduction that holds for an array exactly when it holds for every part
//! (offsets: parts that overlap by one element), so both get the same answer
//! from the same code, and only a failure pays for finding the offender.
//!
//! Why runtime dispatch: a file's arrays are hundreds of megabytes, and
//! baseline x86-64 (SSE2) has no unsigned 32-bit maximum and no 64-bit
//! compare, so the reductions compiled for it run at about half the speed
//! of a plain read. With `std` on x86-64 they run as AVX2 code when the CPU
//! has it (the same source, compiled a second time for AVX2).

/// Bits of `1.0f32`: a weight's bits minus one fall below this exactly when
/// the weight is in `(0, 1]` (positive floats order as their bits; zero
/// wraps to `u32::MAX`; negative floats, infinities and NaNs lie above).
const ONE_BITS: u32 = 0x3F80_0000;

/// Compiles `$name` twice, portable and (with `std` on x86-64) for AVX2,
/// and picks the one this CPU runs.
macro_rules! dispatched {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> bool $body:block) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) -> bool {
            #[inline(always)]
            fn portable($($arg: $ty),*) -> bool $body
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> bool {
                    portable($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (just detected), the only
                    // requirement of a `target_feature` function.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

dispatched! {
    /// Whether `offsets` never decreases.
    fn non_decreasing(offsets: &[u64]) -> bool {
        offsets.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]))
    }
}

dispatched! {
    /// Whether every target is below `node_count`.
    fn targets_below(targets: &[u32], node_count: u64) -> bool {
        let max = targets.iter().fold(0u32, |m, &t| m.max(t));
        targets.is_empty() || u64::from(max) < node_count
    }
}

dispatched! {
    /// Whether every weight is in `(0, 1]` (a NaN is not).
    fn weights_valid(weights: &[f32]) -> bool {
        // One unsigned maximum instead of two float compares per weight.
        let max = weights
            .iter()
            .fold(0u32, |m, w| m.max(w.to_bits().wrapping_sub(1)));
        max < ONE_BITS
    }
}

/// Whether every target is below `node_count` and every weight in `(0, 1]`.
pub(crate) fn edges_valid(targets: &[u32], weights: &[f32], node_count: usize) -> bool {
    targets_below(targets, node_count as u64) && weights_valid(weights)
}

/// Whether `w` is a valid weight: the per-element form of
/// [`weights_valid`].
pub(crate) fn weight_valid(w: f32) -> bool {
    w > 0.0 && w <= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_reduction_agrees_with_the_comparison() {
        let special = [
            0.0f32,
            -0.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            1.0,
            f32::from_bits(ONE_BITS + 1),
            f32::from_bits(ONE_BITS - 1),
            -1.0,
            0.5,
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::from_bits(1),
        ];
        for w in special {
            assert_eq!(weights_valid(&[w]), weight_valid(w), "{w:e}");
            assert_eq!(weights_valid(&[0.5, w, 1.0]), weight_valid(w), "{w:e}");
        }
        assert!(weights_valid(&[]));
    }

    #[test]
    fn the_reductions_hold_for_parts_exactly_when_for_the_whole() {
        assert!(non_decreasing(&[0, 0, 3, 3, 9]));
        assert!(!non_decreasing(&[0, 4, 3]));
        assert!(non_decreasing(&[]) && non_decreasing(&[7]));
        assert!(targets_below(&[0, 4, 2], 5));
        assert!(!targets_below(&[0, 5, 2], 5));
        assert!(targets_below(&[], 0));
        assert!(!targets_below(&[0], 0));
        assert!(targets_below(&[u32::MAX - 1], u64::from(u32::MAX)));
        assert!(edges_valid(&[3; 37], &[1.0; 37], 4));
        assert!(!edges_valid(&[4; 37], &[1.0; 37], 4));
        assert!(!edges_valid(&[3; 37], &[0.0; 37], 4));
        assert!(edges_valid(&[], &[], 0));
    }
}
