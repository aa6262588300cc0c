//! AVX2 + FMA: eight `f32` lanes, eight `i32` lanes for the `i8` scan.

use core::arch::x86_64::*;

use crate::simd::Backend;
use crate::simd::vector::{IntVector, Vector};

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
    #[inline(always)]
    unsafe fn load_f16(ptr: *const u16) -> Self {
        // SAFETY: 8 readable halves (16 bytes) at `ptr` (trait contract);
        // AVX2 is available. The halves are zero or normal (trait
        // contract): the magnitude's bits moved to an `f32`'s place are the
        // value scaled by 2^-112, which one exact multiplication restores,
        // and the sign bit moves as it is. (Integer steps rather than F16C's
        // `vcvtph2ps`: they compile for soft-float targets such as
        // `x86_64-unknown-none`.)
        unsafe {
            let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(ptr.cast()));
            let magnitude =
                _mm256_and_si256(_mm256_slli_epi32::<13>(h), _mm256_set1_epi32(0x0fff_e000));
            let sign = _mm256_and_si256(_mm256_slli_epi32::<16>(h), _mm256_set1_epi32(i32::MIN));
            let value = _mm256_mul_ps(
                _mm256_castsi256_ps(magnitude),
                _mm256_set1_ps(f32::from_bits((127 + 112) << 23)),
            );
            F32x8(_mm256_castsi256_ps(_mm256_or_si256(
                _mm256_castps_si256(value),
                sign,
            )))
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct I32x8(__m256i);

impl IntVector for I32x8 {
    const STEP: usize = 32;
    /// The query's magnitudes (as unsigned bytes) and the query itself
    /// (whose signs `vpsignb` moves onto the row).
    type Query = (__m256i, __m256i);

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX is available (trait contract).
        I32x8(unsafe { _mm256_setzero_si256() })
    }
    #[inline(always)]
    unsafe fn load_query(query: *const i8) -> Self::Query {
        // SAFETY: 32 readable bytes at `query` (trait contract); AVX2.
        unsafe {
            let q = _mm256_loadu_si256(query.cast());
            (_mm256_abs_epi8(q), q)
        }
    }
    #[inline(always)]
    unsafe fn madd(self, row: *const i8, (magnitude, query): Self::Query) -> Self {
        // SAFETY: 32 readable bytes at `row` (trait contract); AVX2.
        // `|q| * (row * sign q)` is `q * row`; `vpmaddubsw` adds adjacent
        // products into i16 (at most 2 * 127 * 127: no saturation with
        // values in -127..=127), `vpmaddwd` by ones widens pairs to i32.
        unsafe {
            let row = _mm256_sign_epi8(_mm256_loadu_si256(row.cast()), query);
            let pairs = _mm256_maddubs_epi16(magnitude, row);
            let quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
            I32x8(_mm256_add_epi32(self.0, quads))
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> i32 {
        // SAFETY: AVX2 is available (trait contract).
        unsafe {
            let quad = _mm_add_epi32(
                _mm256_castsi256_si128(self.0),
                _mm256_extracti128_si256::<1>(self.0),
            );
            let pair = _mm_add_epi32(quad, _mm_shuffle_epi32::<0b01_00_11_10>(quad));
            _mm_cvtsi128_si32(_mm_add_epi32(
                pair,
                _mm_shuffle_epi32::<0b10_11_00_01>(pair),
            ))
        }
    }
}

// Large one-query scans stream (`true`): on Zen 5 four rows side by side
// read DRAM below `stream_read`'s speed, one row after another at it.
super::target_kernels!(
    KERNELS,
    entry,
    Backend::Avx2Fma,
    F32x8,
    2,
    true,
    I32x8,
    "avx2,fma"
);
