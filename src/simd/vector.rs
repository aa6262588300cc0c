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

    /// Loads `LANES` IEEE half-precision values from `ptr` (no alignment
    /// required), each widened to `f32` exactly.
    ///
    /// The values must not be f16 subnormals, infinities or NaNs (a
    /// [`QuantizedMatrix`] never stores them), so that backends widen by
    /// moving bits; others give wrong values, never unsound ones.
    ///
    /// # Safety
    /// `ptr..ptr + LANES` must be readable.
    ///
    /// [`QuantizedMatrix`]: crate::layout::QuantizedMatrix
    unsafe fn load_f16(ptr: *const u16) -> Self;
}

/// The integer side of a backend: the exact dot product of `i8` rows with
/// an `i8` query, in `i32` lanes.
///
/// # Safety
/// As for [`Vector`]: only sound where the CPU supports the instruction set.
pub(crate) trait IntVector: Copy {
    /// `i8` values one [`madd`](Self::madd) consumes.
    const STEP: usize;

    /// `STEP` values of the query, in the form `madd` wants (prepared once
    /// for all the rows of a block).
    type Query: Copy;

    /// All lanes zero.
    unsafe fn zero() -> Self;

    /// Loads `STEP` query values.
    ///
    /// # Safety
    /// `query..query + STEP` must be readable.
    unsafe fn load_query(query: *const i8) -> Self::Query;

    /// Adds to the lanes the products `row[i] * query[i]` of `STEP` values
    /// (in groups, in `i32`).
    ///
    /// # Safety
    /// `row..row + STEP` must be readable. Rows and query hold values in
    /// `-127..=127` (so that no intermediate saturates) and the caller
    /// keeps every partial sum within `i32`.
    unsafe fn madd(self, row: *const i8, query: Self::Query) -> Self;

    /// Sum of all lanes (within `i32`, by the caller's bound).
    unsafe fn sum(self) -> i32;
}
