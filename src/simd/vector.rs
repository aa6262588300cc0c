//! The small vector abstraction the generic kernels are written over.

/// A SIMD vector of `f32` lanes.
///
/// # Safety
/// Implementors are only sound to use when the CPU supports their instruction
/// set; every method is `unsafe` for that reason, and the generic kernels are
/// only reached through a `#[target_feature]` entry point (or, for features
/// the build's target enables, such as NEON on hard-float aarch64,
/// unconditionally).
pub(crate) trait Vector: Copy {
    /// Lanes per vector.
    const LANES: usize;

    /// All lanes zero.
    unsafe fn zero() -> Self;

    /// Loads `LANES` floats from `ptr` (no alignment required).
    ///
    /// # Safety
    /// `ptr..ptr + LANES` must be readable.
    unsafe fn load(ptr: *const f32) -> Self;

    /// `self * b + acc`, fused.
    unsafe fn mul_add(self, b: Self, acc: Self) -> Self;

    /// Lane-wise `self + b`.
    unsafe fn add(self, b: Self) -> Self;

    /// Lane-wise `self - b`.
    unsafe fn sub(self, b: Self) -> Self;

    /// Sum of all lanes.
    unsafe fn sum(self) -> f32;
}
