//! AVX-512 (F, BW and VNNI): sixteen `f32` lanes, sixteen `i32` lanes for
//! the `i8` scan (`vpdpbusd`: multiply groups of four bytes and add, in one
//! instruction).

use core::arch::x86_64::*;

use crate::simd::Backend;
use crate::simd::vector::{IntVector, Vector};

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
    #[inline(always)]
    unsafe fn load_f16(ptr: *const u16) -> Self {
        // SAFETY: 16 readable halves (32 bytes) at `ptr` (trait contract);
        // AVX-512F is available.
        F32x16(unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(ptr.cast())) })
    }

    type Int = I32x16;
}

#[derive(Clone, Copy)]
pub(crate) struct I32x16(__m512i);

impl IntVector for I32x16 {
    const STEP: usize = 64;
    /// The query's magnitudes (as unsigned bytes) and where it is negative.
    type Query = (__m512i, __mmask64);

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        I32x16(unsafe { _mm512_setzero_si512() })
    }
    #[inline(always)]
    unsafe fn load_query(query: *const i8) -> Self::Query {
        // SAFETY: 64 readable bytes at `query` (trait contract); AVX-512BW.
        unsafe {
            let q = _mm512_loadu_si512(query.cast());
            (_mm512_abs_epi8(q), _mm512_movepi8_mask(q))
        }
    }
    #[inline(always)]
    unsafe fn madd(self, row: *const i8, (magnitude, negative): Self::Query) -> Self {
        // SAFETY: 64 readable bytes at `row` (trait contract); AVX-512BW
        // and VNNI. The row is negated where the query is negative (no
        // value is -128, so negation is exact), then `vpdpbusd` adds the
        // products of unsigned magnitudes and signed rows, four per lane,
        // to the lanes in i32 without saturation.
        unsafe {
            let row = _mm512_loadu_si512(row.cast());
            let row = _mm512_mask_sub_epi8(row, negative, _mm512_setzero_si512(), row);
            I32x16(_mm512_dpbusd_epi32(self.0, magnitude, row))
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> i32 {
        // SAFETY: AVX-512F is available (trait contract).
        unsafe { _mm512_reduce_add_epi32(self.0) }
    }
}

super::target_kernels!(Backend::Avx512, F32x16, "avx512f,avx512bw,avx512vnni");
