//! Per-architecture vector types and `#[target_feature]` entry points.
//!
//! Each backend supplies only a [`Vector`](super::vector::Vector)
//! implementation and a [`Kernels`](super::Kernels) table whose entries
//! instantiate the generic algorithms with the right target features
//! enabled. `scalar` is the portable fallback, written without SIMD.

pub(crate) mod scalar;

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;

#[cfg(target_arch = "aarch64")]
pub(crate) mod aarch64;
