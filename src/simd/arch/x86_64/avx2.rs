//! AVX2 + FMA: eight `f32` lanes.

use core::arch::x86_64::*;

use crate::simd::Backend;
use crate::simd::vector::Vector;

#[derive(Clone, Copy)]
pub(crate) struct F32x8(__m256);

impl Vector for F32x8 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX is available (trait contract).
        F32x8(unsafe { _mm256_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> Self {
        // SAFETY: 8 readable floats at `ptr` (trait contract); unaligned load.
        F32x8(unsafe { _mm256_loadu_ps(ptr) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, acc: Self) -> Self {
        // SAFETY: FMA is available (trait contract).
        F32x8(unsafe { _mm256_fmadd_ps(self.0, b.0, acc.0) })
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: AVX is available (trait contract).
        F32x8(unsafe { _mm256_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: AVX is available (trait contract).
        F32x8(unsafe { _mm256_sub_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: AVX is available (trait contract).
        unsafe {
            let quad = _mm_add_ps(
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            );
            let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
            _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps::<0b01>(pair, pair)))
        }
    }
}

super::target_kernels!(Backend::Avx2Fma, F32x8, "avx2,fma");
