//! AVX-512F: sixteen `f32` lanes.

use core::arch::x86_64::*;

use crate::simd::Backend;
use crate::simd::vector::Vector;

#[derive(Clone, Copy)]
pub(crate) struct F32x16(__m512);

impl Vector for F32x16 {
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        F32x16(unsafe { _mm512_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> Self {
        // SAFETY: 16 readable floats at `ptr` (trait contract); unaligned load.
        F32x16(unsafe { _mm512_loadu_ps(ptr) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, acc: Self) -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        F32x16(unsafe { _mm512_fmadd_ps(self.0, b.0, acc.0) })
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        F32x16(unsafe { _mm512_add_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        F32x16(unsafe { _mm512_sub_ps(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: AVX-512F is available (trait contract).
        unsafe { _mm512_reduce_add_ps(self.0) }
    }
}

super::target_kernels!(Backend::Avx512, F32x16, "avx512f");
