//! [`Lanes`] in one 256-bit register with AVX-512 (F and VL): groups are
//! unpacked as on AVX2 ([`avx2::unpack`]), but the row starts move into
//! their lanes by one expand, and the segmented scan shifts lanes with
//! `valignd` and adds under masks computed in general registers, half the
//! shuffles of AVX2's (which this kernel's speed is bound by).

use core::arch::x86_64::*;

use super::avx2::unpack;
use super::{GROUP, Lanes, Reader};
use crate::cache::CacheError;

/// [`decode_streams`](super::decode_streams) on AVX-512.
///
/// # Safety
/// The CPU must have AVX2, AVX-512F, AVX-512VL and POPCNT.
#[target_feature(enable = "avx2,avx512f,avx512vl,popcnt")]
pub(super) unsafe fn decode_streams(
    reader: &mut Reader<'_>,
    ids: &mut [u32],
    starts: usize,
) -> Result<usize, CacheError> {
    // SAFETY: the CPU has what `Avx512` needs (contract).
    unsafe { super::decode_streams::<Avx512>(reader, ids, starts) }
}

/// Eight `u32` lanes in one 256-bit register.
#[derive(Clone, Copy)]
struct Avx512(__m256i);

impl Lanes for Avx512 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX is available (trait contract).
        Avx512(unsafe { _mm256_setzero_si256() })
    }

    #[inline(always)]
    unsafe fn unpack(group: *const u8, code: usize) -> Self {
        // SAFETY: AVX2 is available, the window readable (trait contract).
        Avx512(unsafe { unpack(group, code) })
    }

    #[inline(always)]
    unsafe fn sum(self, previous: Self, starts: *const u32, available: usize) -> (Self, usize) {
        // SAFETY: AVX-512F and VL are available (trait contract); the
        // masked load reads only the first `min(available, 8)` lanes at
        // `starts`, which are readable (contract), and faults on no other.
        unsafe {
            let zero = _mm256_setzero_si256();
            let row_starts = _mm256_cmpeq_epi32_mask(self.0, zero);
            let readable = (1u32 << available.min(GROUP)).wrapping_sub(1) as __mmask8;
            let starts = _mm256_maskz_loadu_epi32(readable, starts.cast());
            let mut ids = _mm256_mask_expand_epi32(self.0, row_starts, starts);
            // Whether a row starts in the lanes summed so far.
            let mut started = row_starts;
            macro_rules! scan {
                ($lanes:literal) => {
                    let below = _mm256_alignr_epi32::<{ 8 - $lanes }>(ids, zero);
                    ids = _mm256_mask_add_epi32(ids, !started, ids, below);
                    started |= started << $lanes;
                };
            }
            scan!(1);
            scan!(2);
            scan!(4);
            let last = _mm256_permutevar8x32_epi32(previous.0, _mm256_set1_epi32(7));
            ids = _mm256_mask_add_epi32(ids, !started, ids, last);
            (Avx512(ids), row_starts.count_ones() as usize)
        }
    }

    #[inline(always)]
    unsafe fn to_array(self) -> [u32; GROUP] {
        let mut values = [0; GROUP];
        // SAFETY: AVX is available (trait contract); 32 writable bytes.
        unsafe { self.store(values.as_mut_ptr()) };
        values
    }

    #[inline(always)]
    unsafe fn store(self, out: *mut u32) {
        // SAFETY: AVX is available; 8 writable `u32`s (trait contract).
        unsafe { _mm256_storeu_si256(out.cast(), self.0) };
    }
}
