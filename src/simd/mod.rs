//! Vector similarity: `dot`, `cosine`, `l2_squared` and one-vs-many top-k.
//!
//! Seeding a query means scoring it against every embedding, so these kernels
//! run over hundreds of megabytes per query and must keep up with memory
//! bandwidth. Following `memchr`, each algorithm is written once
//! (`generic.rs`) over a small `Vector` trait; each architecture
//! (`arch/x86_64/{avx2,avx512}.rs`, `arch/aarch64/neon.rs`) supplies only the
//! vector type and `#[target_feature]` entry points, and `arch/scalar.rs` is
//! the portable fallback.
//!
//! [`Kernels::best`] picks the fastest backend the CPU supports, once: at run
//! time under `std` (overridable with `AXONAL_SIMD=avx512|avx2|neon|scalar`),
//! at compile time (from the enabled target features) without it. NEON is
//! compiled in only where the target enables it (every hard-float aarch64
//! target; not soft-float ones such as `aarch64-unknown-none-softfloat`). Every
//! backend is tested against an `f64` reference; results of different
//! backends agree to rounding, not bit for bit (they sum in different orders).
//!
//! ```
//! use axonal::simd;
//! let a = [1.0, 2.0, 3.0];
//! let b = [1.0, 0.0, 1.0];
//! assert_eq!(simd::dot(&a, &b)?, 4.0);
//! assert_eq!(simd::l2_squared(&a, &b)?, 8.0);
//! assert!(simd::dot(&a, &b[..2]).is_err());
//! # Ok::<(), simd::DimensionMismatch>(())
//! ```

mod arch;
// The algorithms over `Vector`, for the SIMD backends only (scalar has its
// own): a target with neither x86-64 nor NEON compiles neither.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
mod generic;
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "sse2"),
    all(target_arch = "aarch64", target_feature = "neon")
))]
mod vector;

#[cfg(feature = "std")]
mod platform;
#[cfg(feature = "alloc")]
mod quantized;
#[cfg(feature = "alloc")]
pub(crate) mod topk;

#[cfg(feature = "std")]
pub use platform::Platform;

#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use quantized::ExactScan;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use topk::{Hit, SCAN_BATCH, TopK};

use core::fmt;

/// A SIMD instruction set the kernels can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// x86-64 AVX-512 F and BW (Skylake-SP, Zen 4 and later), 16 lanes;
    /// the `i8` scan uses VNNI where the CPU has it.
    Avx512,
    /// x86-64 AVX2 with FMA, 8 lanes.
    Avx2Fma,
    /// aarch64 NEON, 4 lanes.
    Neon,
    /// Portable scalar code.
    Scalar,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 4] = [
        Backend::Avx512,
        Backend::Avx2Fma,
        Backend::Neon,
        Backend::Scalar,
    ];

    /// Short name, as accepted by `AXONAL_SIMD`.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Avx512 => "avx512",
            Backend::Avx2Fma => "avx2",
            Backend::Neon => "neon",
            Backend::Scalar => "scalar",
        }
    }

    /// Whether this CPU (under `std`) or this build's target features
    /// (without `std`) support the backend.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Scalar => true,
            #[cfg(all(target_arch = "x86_64", feature = "std"))]
            Backend::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(all(target_arch = "x86_64", feature = "std"))]
            Backend::Avx2Fma => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
            Backend::Avx512 => cfg!(all(target_feature = "avx512f", target_feature = "avx512bw")),
            #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
            Backend::Avx2Fma => cfg!(all(target_feature = "avx2", target_feature = "fma")),
            // A compile-time property: NEON is in every hard-float aarch64
            // target's baseline, and absent (no vector registers at all) on the
            // soft-float ones such as `aarch64-unknown-none-softfloat`.
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Backend::Neon => true,
            _ => false,
        }
    }

    fn raw(self) -> Option<&'static RawKernels> {
        if !self.is_available() {
            return None;
        }
        match self {
            Backend::Scalar => Some(&arch::scalar::KERNELS),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Backend::Avx512 if has_vnni() => Some(&arch::x86_64::avx512::KERNELS_VNNI),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Backend::Avx512 => Some(&arch::x86_64::avx512::KERNELS),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Backend::Avx2Fma => Some(&arch::x86_64::avx2::KERNELS),
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Backend::Neon => Some(&arch::aarch64::neon::KERNELS),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// Whether the AVX-512 backend can use VNNI (run time under `std`, the
/// target's features without).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn has_vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avx512vnni")
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend's function table. The `unsafe fn` entries may only be called
/// where the backend is available; [`Kernels`] guarantees that.
pub(crate) struct RawKernels {
    pub(crate) backend: Backend,
    pub(crate) dot: unsafe fn(&[f32], &[f32]) -> f32,
    pub(crate) dot_norms: unsafe fn(&[f32], &[f32]) -> [f32; 3],
    pub(crate) l2_squared: unsafe fn(&[f32], &[f32]) -> f32,
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the top-k scan
    pub(crate) dot_rows: DotRows,
    /// Whether the one-query scan reads matrices beyond the caches one row
    /// after another ([`RowWalk::Streamed`]): where that was measured
    /// faster from DRAM than four rows side by side.
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the top-k scan
    pub(crate) streams_large: bool,
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the batch scan
    pub(crate) dot_rows4: DotRows4,
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the quantized scan
    pub(crate) dot_rows_f16: unsafe fn(&[f32], &[u16], usize, &mut [f32]),
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the quantized scan
    pub(crate) dot_rows_i8: unsafe fn(&[i8], &[i8], usize, &mut [i32]),
}

/// The widest i8 row the kernels take: every integer dot product of two
/// rows of values in `-127..=127` then stays within `i32`.
pub(crate) const MAX_I8_STRIDE: usize = 65_536;

/// How a one-query kernel walks a block of rows. The scores are the same
/// bits either way (each row's dot product goes through the same
/// operations); only the order of memory reads differs, and which order is
/// faster depends on where the rows come from, and on the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the top-k scan
pub(crate) enum RowWalk {
    /// Four rows side by side: four independent multiply-add chains, so
    /// rows in cache are scored at the core's speed, where one chain would
    /// wait on each multiply-add's latency.
    Blocked,
    /// One row after another: one sequential stream of reads, for backends
    /// whose four interleaved streams read DRAM slower than one
    /// (`RawKernels::streams_large`: AVX2 on Zen 5, see BENCHMARKS.md).
    Streamed,
}

/// The one-query scan's kernel: one query against a block of rows.
type DotRows = unsafe fn(&[f32], &[f32], usize, RowWalk, &mut [f32]);

/// The batch scan's kernel: four queries against a block of rows.
type DotRows4 = unsafe fn([&[f32]; 4], &[f32], usize, &mut [[f32; 4]]);

/// The kernels of one backend that this CPU supports.
///
/// A `Kernels` value can only be obtained for an available backend, so its
/// methods are safe. Copy it freely: it is one pointer.
#[derive(Clone, Copy)]
pub struct Kernels(&'static RawKernels);

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Kernels").field(&self.0.backend).finish()
    }
}

impl Kernels {
    /// The fastest available backend, chosen once and cached.
    #[inline]
    pub fn best() -> Kernels {
        #[cfg(feature = "std")]
        {
            static BEST: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
            *BEST.get_or_init(|| {
                let forced = std::env::var("AXONAL_SIMD").ok();
                let wanted = Backend::ALL
                    .into_iter()
                    .find(|b| forced.as_deref() == Some(b.name()));
                wanted
                    .and_then(Kernels::for_backend)
                    .unwrap_or_else(Kernels::detect)
            })
        }
        #[cfg(not(feature = "std"))]
        {
            Kernels::detect()
        }
    }

    fn detect() -> Kernels {
        Backend::ALL
            .into_iter()
            .find_map(Kernels::for_backend)
            .unwrap_or(Kernels::scalar())
    }

    /// The kernels of `backend`, or `None` if this CPU lacks it.
    pub fn for_backend(backend: Backend) -> Option<Kernels> {
        backend.raw().map(Kernels)
    }

    /// The portable scalar kernels (always available).
    pub fn scalar() -> Kernels {
        Kernels(&arch::scalar::KERNELS)
    }

    /// Which backend these kernels run on.
    pub fn backend(self) -> Backend {
        self.0.backend
    }

    /// `sum(a[i] * b[i])`.
    #[inline]
    pub fn dot(self, a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
        DimensionMismatch::check(a, b)?;
        // SAFETY: `self` exists only for an available backend; lengths are equal.
        Ok(unsafe { (self.0.dot)(a, b) })
    }

    /// Cosine similarity `a.b / (|a| |b|)`; 0 when either vector is all zero.
    #[inline]
    pub fn cosine(self, a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
        DimensionMismatch::check(a, b)?;
        // SAFETY: `self` exists only for an available backend; lengths are equal.
        let [ab, aa, bb] = unsafe { (self.0.dot_norms)(a, b) };
        Ok(if aa > 0.0 && bb > 0.0 {
            ab / (crate::math::sqrtf(aa) * crate::math::sqrtf(bb))
        } else {
            0.0
        })
    }

    /// Squared Euclidean distance `sum((a[i] - b[i])^2)`.
    #[inline]
    pub fn l2_squared(self, a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
        DimensionMismatch::check(a, b)?;
        // SAFETY: `self` exists only for an available backend; lengths are equal.
        Ok(unsafe { (self.0.l2_squared)(a, b) })
    }

    /// `out[r] = dot(query, row r)` for the first `out.len()` rows of a
    /// row-major matrix with `stride` floats per row, read in the order
    /// `walk` says (the scores do not depend on it).
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the top-k scan
    pub(crate) fn dot_rows(
        self,
        query: &[f32],
        rows: &[f32],
        stride: usize,
        walk: RowWalk,
        out: &mut [f32],
    ) {
        assert!(
            stride >= query.len()
                && (out.is_empty() || rows.len() >= (out.len() - 1) * stride + query.len())
        );
        // SAFETY: `self` exists only for an available backend; the bounds
        // were just checked (and the kernel slices with checks as well).
        unsafe { (self.0.dot_rows)(query, rows, stride, walk, out) }
    }

    /// [`dot_rows`](Self::dot_rows) for four queries of one length at
    /// once, `out[r][m]` the score of query `m`: each score has the bits
    /// `dot_rows` gives it, each row is read once.
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the batch scan
    pub(crate) fn dot_rows4(
        self,
        queries: [&[f32]; 4],
        rows: &[f32],
        stride: usize,
        out: &mut [[f32; 4]],
    ) {
        let dim = queries[0].len();
        assert!(
            queries.iter().all(|q| q.len() == dim)
                && stride >= dim
                && (out.is_empty() || rows.len() >= (out.len() - 1) * stride + dim)
        );
        // SAFETY: `self` exists only for an available backend; the bounds
        // were just checked (and the kernel slices with checks as well).
        unsafe { (self.0.dot_rows4)(queries, rows, stride, out) }
    }

    /// `out[r] = query . row r` for rows of `query.len()` half-precision
    /// values (the f16 form of a [`QuantizedMatrix`](crate::layout::QuantizedMatrix),
    /// whose rows are padded to a multiple of 64 bytes and hold no
    /// subnormals, infinities or NaNs).
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the quantized scan
    pub(crate) fn dot_rows_f16(self, query: &[f32], rows: &[u16], out: &mut [f32]) {
        let stride = query.len();
        assert!(stride.is_multiple_of(32) && rows.len() >= out.len() * stride);
        // SAFETY: `self` exists only for an available backend; the lengths
        // were just checked (a multiple of every backend's lanes). Halves
        // outside the promised range give wrong values, never unsound ones.
        unsafe { (self.0.dot_rows_f16)(query, rows, stride, out) }
    }

    /// `out[r] = query . row r`, exactly, for rows of `query.len()` `i8`
    /// values (the i8 form of a [`QuantizedMatrix`](crate::layout::QuantizedMatrix))
    /// and a query in `-127..=127`.
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))] // used by the quantized scan
    pub(crate) fn dot_rows_i8(self, query: &[i8], rows: &[i8], out: &mut [i32]) {
        let stride = query.len();
        assert!(
            stride.is_multiple_of(64)
                && stride <= MAX_I8_STRIDE
                && rows.len() >= out.len() * stride
        );
        debug_assert!(
            query
                .iter()
                .chain(&rows[..out.len() * stride])
                .all(|&x| x != i8::MIN)
        );
        // SAFETY: `self` exists only for an available backend; the lengths
        // were just checked (a multiple of every backend's step, short
        // enough that 127 * 127 * stride fits in `i32`). Values of -128
        // (which no quantized matrix or query holds) would give wrong
        // sums, never unsound ones.
        unsafe { (self.0.dot_rows_i8)(query, rows, stride, out) }
    }
}

/// `dot` with the [best](Kernels::best) backend.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
    Kernels::best().dot(a, b)
}

/// `cosine` with the [best](Kernels::best) backend.
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
    Kernels::best().cosine(a, b)
}

/// `l2_squared` with the [best](Kernels::best) backend.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> Result<f32, DimensionMismatch> {
    Kernels::best().l2_squared(a, b)
}

/// The two vectors of a similarity call have different lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimensionMismatch {
    /// Length of the first vector.
    pub left: usize,
    /// Length of the second vector.
    pub right: usize,
}

impl DimensionMismatch {
    #[inline]
    fn check(a: &[f32], b: &[f32]) -> Result<(), DimensionMismatch> {
        if a.len() == b.len() {
            Ok(())
        } else {
            Err(DimensionMismatch {
                left: a.len(),
                right: b.len(),
            })
        }
    }
}

impl fmt::Display for DimensionMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vectors of different lengths ({} and {})",
            self.left, self.right
        )
    }
}

impl core::error::Error for DimensionMismatch {}
