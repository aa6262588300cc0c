//! NEON: four `f32` lanes. This module is compiled only when the target
//! enables NEON (`target_feature = "neon"`, the baseline of every hard-float
//! aarch64 target), so the entry points need no runtime detection; soft-float
//! targets such as `aarch64-unknown-none-softfloat` fall back to scalar.

use core::arch::aarch64::*;

use crate::simd::vector::{IntVector, Vector};
use crate::simd::{Backend, RowWalk, generic};

#[derive(Clone, Copy)]
pub(crate) struct F32x4(float32x4_t);

impl Vector for F32x4 {
    const LANES: usize = 4;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        F32x4(unsafe { vdupq_n_f32(0.0) })
    }
    #[inline(always)]
    unsafe fn load(ptr: *const f32) -> Self {
        // SAFETY: 4 readable floats at `ptr` (trait contract).
        F32x4(unsafe { vld1q_f32(ptr) })
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, acc: Self) -> Self {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        F32x4(unsafe { vfmaq_f32(acc.0, self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        F32x4(unsafe { vaddq_f32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        F32x4(unsafe { vsubq_f32(self.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        unsafe { vaddvq_f32(self.0) }
    }
    #[inline(always)]
    unsafe fn load_f16(ptr: *const u16) -> Self {
        // SAFETY: 4 readable halves at `ptr` (trait contract). The halves
        // are zero or normal (trait contract): the magnitude's bits moved
        // to an `f32`'s place are the value scaled by 2^-112, which one
        // exact multiplication restores, and the sign bit moves as it is.
        unsafe {
            let h = vmovl_u16(vld1_u16(ptr));
            let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
            let magnitude = vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x7fff)));
            let value = vmulq_f32(
                vreinterpretq_f32_u32(magnitude),
                vdupq_n_f32(f32::from_bits((127 + 112) << 23)),
            );
            F32x4(vreinterpretq_f32_u32(vorrq_u32(
                vreinterpretq_u32_f32(value),
                sign,
            )))
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct I32x4(int32x4_t);

impl IntVector for I32x4 {
    const STEP: usize = 16;
    type Query = int8x16_t;

    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        I32x4(unsafe { vdupq_n_s32(0) })
    }
    #[inline(always)]
    unsafe fn load_query(query: *const i8) -> Self::Query {
        // SAFETY: 16 readable bytes at `query` (trait contract).
        unsafe { vld1q_s8(query) }
    }
    #[inline(always)]
    unsafe fn madd(self, row: *const i8, query: Self::Query) -> Self {
        // SAFETY: 16 readable bytes at `row` (trait contract): products
        // widened to i16 (at most 127 * 127), pairs added into i32.
        unsafe {
            let row = vld1q_s8(row);
            let low = vmull_s8(vget_low_s8(row), vget_low_s8(query));
            let high = vmull_high_s8(row, query);
            I32x4(vpadalq_s16(vpadalq_s16(self.0, low), high))
        }
    }
    #[inline(always)]
    unsafe fn sum(self) -> i32 {
        // SAFETY: NEON is enabled for this build (the module's `cfg`).
        unsafe { vaddvq_s32(self.0) }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: NEON is enabled for this build (the module's `cfg`); lengths
    // checked by the caller.
    unsafe { generic::dot::<F32x4>(a, b) }
}
fn dot_norms(a: &[f32], b: &[f32]) -> [f32; 3] {
    // SAFETY: as above.
    unsafe { generic::dot_norms::<F32x4>(a, b) }
}
fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as above.
    unsafe { generic::l2_squared::<F32x4>(a, b) }
}
fn dot_rows(q: &[f32], rows: &[f32], stride: usize, walk: RowWalk, out: &mut [f32]) {
    // SAFETY: as above.
    unsafe { generic::dot_rows::<F32x4>(q, rows, stride, walk, out) }
}
fn dot_rows4(q: [&[f32]; 4], rows: &[f32], stride: usize, out: &mut [[f32; 4]]) {
    // SAFETY: as above.
    unsafe { generic::dot_rows4::<F32x4, 2>(q, rows, stride, out) }
}

/// # Safety
/// As for `generic::dot_rows_f16` (the safe caller checks the lengths).
unsafe fn dot_rows_f16(q: &[f32], rows: &[u16], stride: usize, out: &mut [f32]) {
    // SAFETY: NEON is enabled for this build; the rest is the caller's
    // contract.
    unsafe { generic::dot_rows_f16::<F32x4>(q, rows, stride, out) }
}
/// # Safety
/// As for `generic::dot_rows_i8` (the safe caller checks the lengths).
unsafe fn dot_rows_i8(q: &[i8], rows: &[i8], stride: usize, out: &mut [i32]) {
    // SAFETY: NEON is enabled for this build; the rest is the caller's
    // contract.
    unsafe { generic::dot_rows_i8::<I32x4>(q, rows, stride, out) }
}

pub(crate) static KERNELS: crate::simd::RawKernels = crate::simd::RawKernels {
    backend: Backend::Neon,
    dot,
    dot_norms,
    l2_squared,
    dot_rows,
    // Not measured; one four-lane chain per row would read about 4 bytes a
    // cycle, below a core's memory bandwidth.
    streams_large: false,
    dot_rows4,
    dot_rows_f16,
    dot_rows_i8,
};
