//! NEON: four `f32` lanes. This module is compiled only when the target
//! enables NEON (`target_feature = "neon"`, the baseline of every hard-float
//! aarch64 target), so the entry points need no runtime detection; soft-float
//! targets such as `aarch64-unknown-none-softfloat` fall back to scalar.

use core::arch::aarch64::*;

use crate::simd::vector::Vector;
use crate::simd::{Backend, generic};

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
fn dot_rows(q: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    // SAFETY: as above.
    unsafe { generic::dot_rows::<F32x4>(q, rows, stride, out) }
}
fn dot_rows4(q: [&[f32]; 4], rows: &[f32], stride: usize, out: &mut [[f32; 4]]) {
    // SAFETY: as above.
    unsafe { generic::dot_rows4::<F32x4>(q, rows, stride, out) }
}

pub(crate) static KERNELS: crate::simd::RawKernels = crate::simd::RawKernels {
    backend: Backend::Neon,
    dot,
    dot_norms,
    l2_squared,
    dot_rows,
    dot_rows4,
};
