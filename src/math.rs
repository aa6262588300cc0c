//! Square roots that work everywhere, Miri included.
//!
//! IEEE 754 square root is correctly rounded, so `f32::sqrt` (with `std`) and
//! `libm::sqrtf` (without) return the same bits; `libm`'s x86 version is
//! inline assembly, which Miri cannot run, hence the switch. Transcendental
//! functions (`exp`, `pow`) always come from `libm`, so decay tables are the
//! same bits on every platform.

#[inline]
pub(crate) fn sqrtf(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

#[cfg(feature = "alloc")]
#[inline]
pub(crate) fn sqrt(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrt(x)
    }
}
