//! Per-architecture vector types and `#[target_feature]` entry points.
//!
//! Each backend supplies only a [`Vector`](super::vector::Vector)
//! implementation and a [`Kernels`](super::Kernels) table whose entries
//! instantiate the generic algorithms with the right target features
//! enabled. `scalar` is the portable fallback, written without SIMD.

pub(crate) mod scalar;

// Soft-float x86-64 targets (`x86_64-unknown-none`) have no SSE2: LLVM
// cannot lower the integer kernels' intrinsics there, and no backend but
// scalar could be chosen anyway (without `std` the choice follows the
// target's features), so the x86 backends are not compiled there.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(crate) mod x86_64;

// Soft-float aarch64 targets (`aarch64-unknown-none-softfloat`) have no
// NEON: the backend must not even be compiled there.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
pub(crate) mod aarch64;
