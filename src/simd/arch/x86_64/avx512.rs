//! AVX-512 (F and BW): sixteen `f32` lanes, sixteen `i32` lanes for the
//! `i8` scan; two tables, one for CPUs with VNNI (`vpdpbusd`: multiply
//! groups of four bytes and add, in one instruction) and one without.

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
        // AVX-512F is available. The halves are zero or normal (trait
        // contract): the magnitude's bits moved to an `f32`'s place are the
        // value scaled by 2^-112, which one exact multiplication restores,
        // and the sign bit moves as it is. (Integer steps rather than
        // `vcvtph2ps`: they compile for soft-float targets such as
        // `x86_64-unknown-none` and run under Miri, and are as fast here.)
        unsafe {
            let h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(ptr.cast()));
            let magnitude =
                _mm512_and_si512(_mm512_slli_epi32::<13>(h), _mm512_set1_epi32(0x0fff_e000));
            let sign = _mm512_and_si512(_mm512_slli_epi32::<16>(h), _mm512_set1_epi32(i32::MIN));
            let value = _mm512_mul_ps(
                _mm512_castsi512_ps(magnitude),
                _mm512_set1_ps(f32::from_bits((127 + 112) << 23)),
            );
            F32x16(_mm512_castsi512_ps(_mm512_or_si512(
                _mm512_castps_si512(value),
                sign,
            )))
        }
    }
}

/// The `i8` scan's lanes with AVX-512BW alone: `vpmaddubsw` adds pairs of
/// products into i16, `vpmaddwd` by ones widens them to i32.
#[derive(Clone, Copy)]
pub(crate) struct I32x16(__m512i);

/// The `i8` scan's lanes with VNNI: `vpdpbusd` multiplies groups of four
/// bytes and adds them to the lanes in one instruction.
#[derive(Clone, Copy)]
pub(crate) struct I32x16Vnni(__m512i);

/// The query as both kinds of lanes want it: its magnitudes (unsigned
/// bytes) and where it is negative.
type Query512 = (__m512i, __mmask64);

/// Loads 64 query bytes as magnitudes and signs.
///
/// # Safety
/// 64 readable bytes at `query`; AVX-512BW available.
#[inline(always)]
unsafe fn load_query(query: *const i8) -> Query512 {
    // SAFETY: the caller's contract.
    unsafe {
        let q = _mm512_loadu_si512(query.cast());
        (_mm512_abs_epi8(q), _mm512_movepi8_mask(q))
    }
}

/// 64 row bytes, negated where the query is negative (no value is -128,
/// so negation is exact): the products of the magnitudes with these are
/// the products of the query with the row.
///
/// # Safety
/// 64 readable bytes at `row`; AVX-512BW available.
#[inline(always)]
unsafe fn signed_row(row: *const i8, negative: __mmask64) -> __m512i {
    // SAFETY: the caller's contract.
    unsafe {
        let row = _mm512_loadu_si512(row.cast());
        _mm512_mask_sub_epi8(row, negative, _mm512_setzero_si512(), row)
    }
}

impl IntVector for I32x16 {
    const STEP: usize = 64;
    type Query = Query512;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        I32x16(unsafe { _mm512_setzero_si512() })
    }
    #[inline(always)]
    unsafe fn load_query(query: *const i8) -> Self::Query {
        // SAFETY: 64 readable bytes (trait contract); AVX-512BW.
        unsafe { load_query(query) }
    }
    #[inline(always)]
    unsafe fn madd(self, row: *const i8, (magnitude, negative): Self::Query) -> Self {
        // SAFETY: 64 readable bytes at `row` (trait contract); AVX-512BW.
        // Pairs of products stay within i16 (at most 2 * 127 * 127) for
        // values in -127..=127, so `vpmaddubsw` does not saturate.
        unsafe {
            let pairs = _mm512_maddubs_epi16(magnitude, signed_row(row, negative));
            let quads = _mm512_madd_epi16(pairs, _mm512_set1_epi16(1));
            I32x16(_mm512_add_epi32(self.0, quads))
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> i32 {
        // SAFETY: AVX-512F is available (trait contract).
        unsafe { _mm512_reduce_add_epi32(self.0) }
    }
}

impl IntVector for I32x16Vnni {
    const STEP: usize = 64;
    type Query = Query512;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX-512F is available (trait contract).
        I32x16Vnni(unsafe { _mm512_setzero_si512() })
    }
    #[inline(always)]
    unsafe fn load_query(query: *const i8) -> Self::Query {
        // SAFETY: 64 readable bytes (trait contract); AVX-512BW.
        unsafe { load_query(query) }
    }
    #[inline(always)]
    unsafe fn madd(self, row: *const i8, (magnitude, negative): Self::Query) -> Self {
        // SAFETY: 64 readable bytes at `row` (trait contract); AVX-512BW and
        // VNNI: `vpdpbusd` adds the products of unsigned magnitudes and
        // signed row bytes, four per lane, in i32 without saturation.
        unsafe {
            I32x16Vnni(_mm512_dpbusd_epi32(
                self.0,
                magnitude,
                signed_row(row, negative),
            ))
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> i32 {
        // SAFETY: AVX-512F is available (trait contract).
        unsafe { _mm512_reduce_add_epi32(self.0) }
    }
}

// Large one-query scans do not stream (`false`): on Zen 5 four rows side by
// side read DRAM faster than one row after another (and than
// `stream_read`).
super::target_kernels!(
    KERNELS,
    entry,
    Backend::Avx512,
    F32x16,
    4,
    false,
    I32x16,
    "avx512f,avx512bw"
);
super::target_kernels!(
    KERNELS_VNNI,
    entry_vnni,
    Backend::Avx512,
    F32x16,
    4,
    false,
    I32x16Vnni,
    "avx512f,avx512bw,avx512vnni"
);
