//! The instruction set the spreading kernels run on: one decision, read by
//! every spreading kernel family (the pull rows, the multi-query lanes).
//!
//! As in `memchr`, the choice is made at one point: [`Kernels::best`]
//! (cached, overridable with `AXONAL_SIMD`) picks the SIMD backend for the
//! crate, and the spreading kernels follow it, so `AXONAL_SIMD=scalar` turns
//! every vector kernel off at once. (Soft-float x86-64 targets such as
//! `x86_64-unknown-none` keep vector registers off: they compile only the
//! scalar kernels.)
//!
//! [`Kernels::best`]: crate::simd::Kernels::best

/// The spreading kernels' instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Portable scalar code: the reference every other kernel matches bit
    /// for bit.
    Scalar,
    /// x86-64 AVX2 (eight 32-bit lanes, gathers).
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    Avx2,
}

impl Isa {
    /// AVX2 where the SIMD dispatch chose an x86 vector backend and the CPU
    /// has AVX2; scalar otherwise.
    pub(crate) fn best() -> Isa {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            use crate::simd::{Backend, Kernels};
            if matches!(
                Kernels::best().backend(),
                Backend::Avx2Fma | Backend::Avx512
            ) && Isa::Avx2.is_available()
            {
                return Isa::Avx2;
            }
        }
        Isa::Scalar
    }

    /// Whether this CPU runs it.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    pub(crate) fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => crate::simd::Backend::Avx2Fma.is_available(),
        }
    }
}
