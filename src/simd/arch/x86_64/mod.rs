//! x86-64 backends: AVX2 + FMA (8 lanes) and AVX-512 F + BW (16 lanes,
//! with a VNNI table where the CPU has it).

pub(crate) mod avx2;
pub(crate) mod avx512;

/// Declares a backend's `Kernels` table `$table` (entry points in module
/// `$entry`): each entry is a `#[target_feature]` instantiation of the
/// generic kernel for vector `$v` (the batch scan `$batch_rows` rows at a
/// time, large one-query scans one row at a time if `$streams`, and `$int`
/// for the `i8` scan).
macro_rules! target_kernels {
    ($table:ident, $entry:ident, $backend:expr, $v:ty, $batch_rows:literal, $streams:literal, $int:ty, $features:literal) => {
        mod $entry {
            use super::*;
            use crate::simd::{RowWalk, generic};

            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: the table is only handed out after detecting `$features`.
                unsafe { generic::dot::<$v>(a, b) }
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot_norms(a: &[f32], b: &[f32]) -> [f32; 3] {
                // SAFETY: as above.
                unsafe { generic::dot_norms::<$v>(a, b) }
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: as above.
                unsafe { generic::l2_squared::<$v>(a, b) }
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot_rows(
                q: &[f32],
                rows: &[f32],
                stride: usize,
                walk: RowWalk,
                out: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { generic::dot_rows::<$v>(q, rows, stride, walk, out) }
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot_rows4(
                q: [&[f32]; 4],
                rows: &[f32],
                stride: usize,
                out: &mut [[f32; 4]],
            ) {
                // SAFETY: as above.
                unsafe { generic::dot_rows4::<$v, $batch_rows>(q, rows, stride, out) }
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot_rows_f16(
                q: &[f32],
                rows: &[u16],
                stride: usize,
                out: &mut [f32],
            ) {
                // SAFETY: as above.
                unsafe { generic::dot_rows_f16::<$v>(q, rows, stride, out) }
            }
            #[target_feature(enable = $features)]
            pub(super) unsafe fn dot_rows_i8(
                q: &[i8],
                rows: &[i8],
                stride: usize,
                out: &mut [i32],
            ) {
                // SAFETY: as above.
                unsafe { generic::dot_rows_i8::<$int>(q, rows, stride, out) }
            }
        }

        /// Sound to call only where the CPU has the backend's features:
        /// `Kernels::for_backend` checks before handing it out.
        pub(crate) static $table: crate::simd::RawKernels = crate::simd::RawKernels {
            backend: $backend,
            dot: $entry::dot,
            dot_norms: $entry::dot_norms,
            l2_squared: $entry::l2_squared,
            dot_rows: $entry::dot_rows,
            streams_large: $streams,
            dot_rows4: $entry::dot_rows4,
            dot_rows_f16: $entry::dot_rows_f16,
            dot_rows_i8: $entry::dot_rows_i8,
        };
    };
}
pub(crate) use target_kernels;
