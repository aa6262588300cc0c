//! CPU hints that change speed, never results.

// The SIMD scans use them in every build; spreading only with `alloc`, and
// a target without SIMD backends (soft-float aarch64) not at all without it.
#![cfg_attr(not(feature = "alloc"), allow(dead_code))]

/// Starts loading the cache line of `slice[index]` (if `index` is in bounds;
/// otherwise nothing useful happens, and nothing wrong either). For scattered
/// accesses known a few iterations ahead: the load overlaps the work between.
#[inline(always)]
#[cfg_attr(
    not(all(target_arch = "x86_64", target_feature = "sse")),
    allow(unused_variables)
)]
pub(crate) fn prefetch<T>(slice: &[T], index: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // `wrapping_add`: computing the address is defined even out of bounds.
        let ptr = slice.as_ptr().wrapping_add(index).cast::<i8>();
        // SAFETY: a prefetch is a hint: it reads nothing the program can
        // observe and never faults, whatever the address; this build enables
        // SSE (the `cfg` above).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ptr) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefetch_accepts_any_index() {
        let v = [1u64, 2, 3];
        super::prefetch(&v, 0);
        super::prefetch(&v, 2);
        super::prefetch(&v, 3);
        super::prefetch(&v, usize::MAX);
        super::prefetch::<u8>(&[], 0);
        assert_eq!(v, [1, 2, 3]);
    }
}
