//! [`Lanes`] in one AVX2 register.
//!
//! A group of eight values of `w` bits is `w` bytes: values 0 to 3 lie in
//! its first 16 bytes, values 4 to 7 in the 16 from byte `w / 2`, so one
//! 128-bit load per half and a byte shuffle per half (from a table per
//! width) put each value's bytes in its lane; a variable shift and a mask
//! finish it. A value of 26 to 30 bits at an odd bit offset spans five
//! bytes: a second shuffle brings the fifth, shifted up into place.
//!
//! The running sum restarts at every row start, so it is a *segmented*
//! prefix scan: the row starts' ids are moved into the lanes of their
//! zero steps (a permutation from a table indexed by those lanes' mask),
//! then three steps add each lane the lane 1, 2 and 4 below it unless a
//! row starts in between, and the lanes before the group's first row
//! start add the previous group's last id.

use core::arch::x86_64::*;

use super::{GROUP, GROUP_WINDOW, Lanes, Reader, width_of_code};
use crate::cache::CacheError;

/// [`decode_streams`](super::decode_streams) on AVX2.
///
/// # Safety
/// The CPU must have AVX2 and POPCNT.
#[target_feature(enable = "avx2,popcnt")]
pub(super) unsafe fn decode_streams(
    reader: &mut Reader<'_>,
    ids: &mut [u32],
    starts: usize,
) -> Result<usize, CacheError> {
    // SAFETY: the CPU has AVX2 (contract), all `Avx2` needs.
    unsafe { super::decode_streams::<Avx2>(reader, ids, starts) }
}

/// How a group of one width is unpacked.
#[repr(C, align(32))]
struct Unpack {
    /// Per lane, the 4 bytes that hold the value's first bits (within
    /// each 128-bit half).
    low: [u8; 32],
    /// Per lane, the fifth byte of a value that spans five, in the lane's
    /// lowest byte (`0x80`, a zero byte, elsewhere).
    high: [u8; 32],
    /// Per lane, the value's bit offset in its first byte.
    shift_low: [u32; GROUP],
    /// Per lane, `32 -` that offset: where the fifth byte's bits go.
    shift_high: [u32; GROUP],
    /// The width's mask, in every lane.
    mask: [u32; GROUP],
    /// The byte the second half's values start in: `width / 2`.
    half_start: usize,
}

/// [`Unpack`] of every width code (aligned to 32 bytes: each entry's
/// vectors lie in one cache line or two whole ones).
static UNPACK: [Unpack; 32] = unpack_table();

const fn unpack_table() -> [Unpack; 32] {
    let mut table = [const {
        Unpack {
            low: [0; 32],
            high: [0x80; 32],
            shift_low: [0; GROUP],
            shift_high: [32; GROUP],
            mask: [0; GROUP],
            half_start: 0,
        }
    }; 32];
    let mut code = 0;
    while code < 32 {
        let width = width_of_code(code);
        let entry = &mut table[code];
        entry.half_start = width / 2;
        let mut lane = 0;
        while lane < GROUP {
            // The second half's bytes start at byte `width / 2`.
            let half_start = if lane < 4 { 0 } else { width / 2 };
            let bit = lane * width - 8 * half_start;
            let (byte, shift) = (bit / 8, bit % 8);
            assert!(byte + 4 <= 16, "a value's first 4 bytes in its half");
            let mut k = 0;
            while k < 4 {
                entry.low[4 * lane + k] = (byte + k) as u8;
                k += 1;
            }
            if shift + width > 32 {
                assert!(byte + 5 <= 16, "a value's fifth byte in its half");
                entry.high[4 * lane] = (byte + 4) as u8;
            }
            entry.shift_low[lane] = shift as u32;
            entry.shift_high[lane] = 32 - shift as u32;
            entry.mask[lane] = (u32::MAX as u64 >> (32 - width)) as u32;
            lane += 1;
        }
        code += 1;
    }
    table
}

/// Per mask of a group's row-start lanes, the lane of the row starts each
/// of them takes: lane `i` the `k`-th, `k` the row starts below `i`.
#[repr(C, align(32))]
struct Expand([[u32; GROUP]; 256]);

static EXPAND: Expand = {
    let mut table = [[0; GROUP]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut lane = 0;
        while lane < GROUP {
            table[mask][lane] = (mask & ((1 << lane) - 1)).count_ones();
            lane += 1;
        }
        mask += 1;
    }
    Expand(table)
};

/// Eight `u32` lanes in one AVX2 register.
#[derive(Clone, Copy)]
struct Avx2(__m256i);

/// Loads 32 bytes of a table.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn load<T>(table: &T) -> __m256i {
    const { assert!(size_of::<T>() == 32) };
    // SAFETY: `table` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256((table as *const T).cast()) }
}

/// `x`'s lanes moved up by `LANES` (1, 2 or 4; `BYTES` = 16 - 4 x
/// `LANES`), zeros below.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn shift_up<const LANES: i32, const BYTES: i32>(x: __m256i) -> __m256i {
    // SAFETY: AVX2 is available (contract).
    unsafe {
        // The low half zero, the high half `x`'s low half.
        let below = _mm256_permute2x128_si256::<0x08>(x, x);
        if LANES == 4 {
            below
        } else {
            _mm256_alignr_epi8::<BYTES>(x, below)
        }
    }
}

/// The group of width code `code` at `group`, one value a lane.
///
/// # Safety
/// AVX2 must be available; `group..group + GROUP_WINDOW` readable.
#[inline(always)]
pub(super) unsafe fn unpack(group: *const u8, code: usize) -> __m256i {
    let unpack = &UNPACK[code & 31];
    const { assert!(GROUP_WINDOW >= 32) };
    // SAFETY: AVX2 is available (contract); the two 16-byte loads end at
    // most 32 bytes past `group`, inside its window.
    unsafe {
        let bytes = _mm256_loadu2_m128i(group.add(unpack.half_start).cast(), group.cast());
        let low = _mm256_srlv_epi32(
            _mm256_shuffle_epi8(bytes, load(&unpack.low)),
            load(&unpack.shift_low),
        );
        let high = _mm256_sllv_epi32(
            _mm256_shuffle_epi8(bytes, load(&unpack.high)),
            load(&unpack.shift_high),
        );
        _mm256_and_si256(_mm256_or_si256(low, high), load(&unpack.mask))
    }
}

impl Lanes for Avx2 {
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX2 is available (trait contract).
        Avx2(unsafe { _mm256_setzero_si256() })
    }

    #[inline(always)]
    unsafe fn unpack(group: *const u8, code: usize) -> Self {
        // SAFETY: forwarded contract.
        Avx2(unsafe { unpack(group, code) })
    }

    #[inline(always)]
    unsafe fn sum(self, previous: Self, starts: *const u32, available: usize) -> (Self, usize) {
        // SAFETY: AVX2 is available (trait contract); the masked load
        // reads only the first `min(available, 8)` lanes at `starts`,
        // which are readable (contract).
        unsafe {
            let steps = self.0;
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let row_starts = _mm256_cmpeq_epi32(steps, _mm256_setzero_si256());
            let mask = _mm256_movemask_ps(_mm256_castsi256_ps(row_starts)) as usize;
            let readable =
                _mm256_cmpgt_epi32(_mm256_set1_epi32(available.min(GROUP) as i32), lanes);
            let starts = _mm256_maskload_epi32(starts.cast(), readable);
            let starts = _mm256_permutevar8x32_epi32(starts, load(&EXPAND.0[mask]));
            // Each lane: its step, or at a row start the row's first id.
            let mut ids = _mm256_or_si256(steps, _mm256_and_si256(starts, row_starts));
            // `started`: whether a row starts in the lanes summed so far.
            let mut started = row_starts;
            macro_rules! scan {
                ($lanes:literal, $bytes:literal) => {
                    let below = shift_up::<$lanes, $bytes>(ids);
                    ids = _mm256_add_epi32(ids, _mm256_andnot_si256(started, below));
                    started = _mm256_or_si256(started, shift_up::<$lanes, $bytes>(started));
                };
            }
            scan!(1, 12);
            scan!(2, 8);
            scan!(4, 0);
            let last = _mm256_permutevar8x32_epi32(previous.0, _mm256_set1_epi32(7));
            ids = _mm256_add_epi32(ids, _mm256_andnot_si256(started, last));
            (Avx2(ids), mask.count_ones() as usize)
        }
    }

    #[inline(always)]
    unsafe fn to_array(self) -> [u32; GROUP] {
        let mut values = [0; GROUP];
        // SAFETY: AVX2 is available (trait contract); 32 writable bytes.
        unsafe { self.store(values.as_mut_ptr()) };
        values
    }

    #[inline(always)]
    unsafe fn store(self, out: *mut u32) {
        // SAFETY: AVX2 is available; 8 writable `u32`s (trait contract).
        unsafe { _mm256_storeu_si256(out.cast(), self.0) };
    }
}
