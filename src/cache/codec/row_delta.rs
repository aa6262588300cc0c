//! The [`RowDeltaPacked`](super::Filter::RowDeltaPacked) filter: the
//! target ids of CSR rows, each row's ids as steps from the one before,
//! bit-packed.
//!
//! A block of CSR targets is a run of rows, each strictly ascending. Plain
//! deltas turn every row's first id into a huge wrapped step (a new row
//! starts lower), and LZ4 over byte-shuffled deltas cannot use what is
//! left: R-MAT's steps spread over every width from 0 to 22 bits, so
//! whole byte planes are rarely zero (degree-reordered rmat22: 2.2x with
//! delta + shuffle + LZ4, 2.3x with per-row steps instead of plain deltas;
//! the steps' width-class entropy allows 2.65x). Bit-packing small groups
//! at the width of their largest value follows the widths as they change,
//! and decodes without a dictionary.
//!
//! The ids become two streams: a *step* per id (`id - previous` when the
//! id is above the previous one, else 0, which marks a row start) and the
//! ids of those row starts as they are. The payload is
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | the number of row starts, `u32` little-endian |
//! | 4.. | the row starts' ids, packed |
//! | .. | the steps, packed |
//! | last `len % 4` | the tail bytes that are not a whole id, as they are |
//!
//! A packed stream is groups of [`GROUP`] values, each stored at the bit
//! width of its largest (8 values of `w` bits fill exactly `w` bytes),
//! eight groups to a *run* that starts with their eight 5-bit width codes
//! (5 bytes). The last group is padded with zeros, which decoding ignores.
//! Any sequence of `u32`s round-trips, ascending or not: an id not above
//! its predecessor is a row start.
//!
//! Decoding needs no scratch: the row starts are unpacked into the last
//! slots of the output, and the steps' running sum, written from the
//! front, reaches each of those slots only after reading it (the `k`-th
//! row start from the end is at most `k` slots from the end).
//!
//! Decoding is the compressed tier's hit path, so it is vectorised: one
//! algorithm (`decode_streams`) over the [`Lanes`] of each instruction set
//! (scalar, the reference; AVX2; AVX-512), picked once by the crate's
//! SIMD dispatch. A group is unpacked by byte shuffles and variable shifts
//! from a table per width, and the running sum, which restarts at each row
//! start, is a segmented prefix scan of the group (three steps of lane
//! shifts and masked adds) plus the previous group's last id. Scalar, the
//! sum's branch per id is mispredicted wherever rows are short (the
//! degree-reordered tail: rows of 1 to 3 ids); the scan has no branch.

use super::{CacheError, Element};
#[cfg(target_arch = "x86_64")]
use crate::simd::Backend;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

/// Values per packed group: 8 values of `w` bits fill `w` bytes.
const GROUP: usize = 8;
/// Groups per run (one width code of 5 bits each, in [`WIDTHS_LEN`] bytes).
const GROUPS_PER_RUN: usize = 8;
/// Bytes of a run's width codes.
const WIDTHS_LEN: usize = 5;
/// Bytes a group is read through: the widest group (32 bytes) and the
/// 8-byte word read at its last value.
const GROUP_WINDOW: usize = 40;

/// Appends the [`RowDeltaPacked`](super::Filter::RowDeltaPacked) payload
/// of `data` (little-endian `u32`s and a tail) to `out`.
pub(super) fn encode(data: &[u8], out: &mut Vec<u8>) {
    let ids = data.chunks_exact(4);
    let tail = ids.remainder();
    let mut steps = Vec::with_capacity(data.len() / 4);
    let mut row_starts = Vec::new();
    let mut previous = 0u32;
    for id in ids.map(u32::read_le) {
        if id > previous {
            steps.push(id - previous);
        } else {
            steps.push(0);
            row_starts.push(id);
        }
        previous = id;
    }
    let starts = u32::try_from(row_starts.len()).expect("a block of at most 1 GiB");
    out.extend_from_slice(&starts.to_le_bytes());
    pack(&row_starts, out);
    pack(&steps, out);
    out.extend_from_slice(tail);
}

/// Decodes a [`RowDeltaPacked`](super::Filter::RowDeltaPacked) payload
/// into `ids` and `tail`, the decoded block's whole ids (native `u32`s,
/// little-endian on disk) and the bytes after them, on the best
/// [`Unpacker`] this CPU has.
pub(super) fn decode(payload: &[u8], ids: &mut [u32], tail: &mut [u8]) -> Result<(), CacheError> {
    decode_on(Unpacker::best(), payload, ids, tail)
}

/// [`decode`] on `unpacker`, which must be [available](Unpacker::is_available).
fn decode_on(
    unpacker: Unpacker,
    payload: &[u8],
    ids: &mut [u32],
    tail: &mut [u8],
) -> Result<(), CacheError> {
    let corrupt = |reason| Err(CacheError::Corrupt { reason });
    let Some((starts, rest)) = payload.split_first_chunk::<4>() else {
        return corrupt("row-delta payload shorter than its row-start count");
    };
    let starts = u32::from_le_bytes(*starts) as usize;
    if starts > ids.len() {
        return corrupt("more row starts than ids");
    }
    let Some(packed_len) = rest.len().checked_sub(tail.len()) else {
        return corrupt("row-delta payload shorter than its tail");
    };
    let (packed, packed_tail) = rest.split_at(packed_len);
    tail.copy_from_slice(packed_tail);

    let mut reader = Reader { packed, at: 0 };
    let next_start = match unpacker {
        // SAFETY: scalar code runs everywhere.
        Unpacker::Scalar => unsafe { decode_streams::<Scalar>(&mut reader, ids, starts) },
        #[cfg(target_arch = "x86_64")]
        Unpacker::Avx2 => {
            assert!(Unpacker::Avx2.is_available());
            // SAFETY: the CPU has AVX2 (just checked).
            unsafe { avx2::decode_streams(&mut reader, ids, starts) }
        }
        #[cfg(target_arch = "x86_64")]
        Unpacker::Avx512 => {
            assert!(Unpacker::Avx512.is_available());
            // SAFETY: the CPU has AVX2, AVX-512F and VL (just checked).
            unsafe { avx512::decode_streams(&mut reader, ids, starts) }
        }
    }?;
    if next_start != ids.len() {
        return corrupt("row-delta steps mark a different number of row starts");
    }
    if reader.at != packed.len() {
        return corrupt("row-delta payload longer than its packed values");
    }
    for id in ids.iter_mut() {
        *id = id.to_le();
    }
    Ok(())
}

/// The instruction sets the packed streams are decoded with: the same
/// algorithm ([`decode_streams`]) over the [`Lanes`] of each. The choice
/// follows [`Kernels::best`](crate::simd::Kernels::best) (chosen once,
/// `AXONAL_SIMD` obeyed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unpacker {
    /// Portable code: the reference.
    Scalar,
    /// AVX2: a group unpacked by two byte shuffles and variable shifts, a
    /// run of rows summed by a segmented prefix scan.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 (F and VL) on 256-bit registers: unpacked as on AVX2; the
    /// scan shifts lanes by `valignd` and adds under masks.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Unpacker {
    /// The fastest one available.
    fn best() -> Unpacker {
        #[cfg(target_arch = "x86_64")]
        {
            let backend = crate::simd::Kernels::best().backend();
            if backend == Backend::Avx512 && Unpacker::Avx512.is_available() {
                return Unpacker::Avx512;
            }
            if matches!(backend, Backend::Avx512 | Backend::Avx2Fma)
                && Unpacker::Avx2.is_available()
            {
                return Unpacker::Avx2;
            }
        }
        Unpacker::Scalar
    }

    /// Whether this CPU runs it.
    fn is_available(self) -> bool {
        match self {
            Unpacker::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Unpacker::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Unpacker::Avx512 => {
                Unpacker::Avx2.is_available()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
            }
        }
    }
}

/// The eight values of one group in an [`Unpacker`]'s registers.
///
/// # Safety
/// Every method may use the instruction set of its unpacker: they are
/// called only from code compiled for it, on a CPU that has it.
trait Lanes: Copy {
    /// Eight zeros.
    unsafe fn zero() -> Self;

    /// The group of width code `code` (below 32) at `group`.
    ///
    /// # Safety
    /// `group..group + GROUP_WINDOW` must be readable.
    unsafe fn unpack(group: *const u8, code: usize) -> Self;

    /// The ids of a group of steps that follows the group of ids
    /// `previous`: each id its predecessor plus its step, or at a step of
    /// 0 (a row start) the next of the `available` row starts at `starts`
    /// (0 past them, as [`sum_steps`] does). Returns them and the number
    /// of row starts the group has.
    ///
    /// # Safety
    /// `starts..starts + min(available, 8)` must be readable.
    unsafe fn sum(self, previous: Self, starts: *const u32, available: usize) -> (Self, usize);

    /// The eight values.
    unsafe fn to_array(self) -> [u32; GROUP];

    /// Writes the eight values to `out`.
    ///
    /// # Safety
    /// `out..out + 8` must be writable.
    unsafe fn store(self, out: *mut u32);
}

/// The portable [`Lanes`]: the reference every other one is tested
/// against.
#[derive(Clone, Copy)]
struct Scalar([u32; GROUP]);

impl Lanes for Scalar {
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar([0; GROUP])
    }

    #[inline(always)]
    unsafe fn unpack(group: *const u8, code: usize) -> Self {
        // SAFETY: `GROUP_WINDOW` bytes are readable (caller's contract).
        let window = unsafe { &*group.cast::<[u8; GROUP_WINDOW]>() };
        let width = width_of_code(code);
        let mask = (1u64 << width) - 1;
        Scalar(core::array::from_fn(|j| {
            let bit = j * width;
            // At most byte 28 (the 8th value of 32 bits): `& 31` changes
            // nothing but shows the compiler the read is in the window.
            let byte = (bit / 8) & 31;
            let word = u64::read_le(&window[byte..byte + 8]);
            ((word >> (bit % 8)) & mask) as u32
        }))
    }

    #[inline(always)]
    unsafe fn sum(self, previous: Self, starts: *const u32, available: usize) -> (Self, usize) {
        let mut ids = self.0;
        // SAFETY: forwarded contract.
        let starts = unsafe { read_starts(starts, available) };
        let taken = sum_steps(&mut ids, previous.0[GROUP - 1], &starts);
        (Scalar(ids), taken)
    }

    #[inline(always)]
    unsafe fn to_array(self) -> [u32; GROUP] {
        self.0
    }

    #[inline(always)]
    unsafe fn store(self, out: *mut u32) {
        // SAFETY: eight writable `u32`s (caller's contract).
        unsafe { out.cast::<[u32; GROUP]>().write_unaligned(self.0) };
    }
}

/// The first `min(available, 8)` row starts at `starts`, zeros after them.
///
/// # Safety
/// `starts..starts + min(available, 8)` must be readable.
#[inline(always)]
unsafe fn read_starts(starts: *const u32, available: usize) -> [u32; GROUP] {
    let mut read = [0; GROUP];
    // SAFETY: that many are readable (caller's contract), into a local.
    unsafe { core::ptr::copy_nonoverlapping(starts, read.as_mut_ptr(), available.min(GROUP)) };
    read
}

/// Turns `steps` into ids in place: each id the one before (`previous`
/// for the first) plus its step, or at a step of 0 (a row start) the next
/// of `starts`, 0 past their end. Returns the number of row starts.
#[inline(always)]
fn sum_steps(steps: &mut [u32], mut previous: u32, starts: &[u32]) -> usize {
    let mut taken = 0;
    for step in steps {
        // A branch, not a select: loading the next row start for every
        // id measured much slower.
        let id = if *step == 0 {
            taken += 1;
            starts.get(taken - 1).copied().unwrap_or(0)
        } else {
            previous.wrapping_add(*step)
        };
        *step = id;
        previous = id;
    }
    taken
}

/// Decodes the two packed streams of a payload from `reader` into `ids`:
/// the `starts` row starts into its last slots, then the steps summed into
/// all of it, from the front (see the module docs). Returns the slot after
/// the last row start the steps took: `ids.len()` when the payload is whole.
///
/// (Loops, not callbacks: the running sum must stay in a register.)
///
/// # Safety
/// `L` must run on this CPU (its [`Unpacker`] available).
#[inline(always)]
unsafe fn decode_streams<L: Lanes>(
    reader: &mut Reader<'_>,
    ids: &mut [u32],
    starts: usize,
) -> Result<usize, CacheError> {
    let len = ids.len();
    let first_start_slot = len - starts;
    let ids = ids.as_mut_ptr();
    let mut padded = [0; PADDED_RUN];
    for first in (0..starts).step_by(RUN) {
        let values = (starts - first).min(RUN);
        let mut run = reader
            .run(values, Some(&mut padded))?
            .expect("a padded run");
        for at in (0..values).step_by(GROUP) {
            let group = run.next::<L>();
            let slot = first_start_slot + first + at;
            // SAFETY: the run's values are `first..first + values` of the
            // `starts` row starts, so `slot..slot + min(values - at, 8)`
            // lies within the last `starts` slots of `ids`.
            unsafe {
                if values - at >= GROUP {
                    group.store(ids.add(slot));
                } else {
                    let valid = values - at;
                    core::ptr::copy_nonoverlapping(group.to_array().as_ptr(), ids.add(slot), valid);
                }
            }
        }
    }
    let mut sum = RunningSum {
        // SAFETY: `L` runs on this CPU (contract).
        previous: unsafe { L::zero() },
        next_start: first_start_slot,
    };
    // The runs read in place, then the last ones, whose window would pass
    // the payload's end, from a copy: the copy's calls (`memcpy`) kept
    // out of the first loop keep the running sum in a register.
    let mut first = 0;
    while len - first >= RUN {
        let Some(mut run) = reader.run(RUN, None)? else {
            break;
        };
        // SAFETY: `first..first + RUN` are slots of `ids`, which has `len`.
        unsafe { sum.groups(&mut run, RUN, ids.add(first), ids, len) };
        first += RUN;
    }
    while first < len {
        let values = (len - first).min(RUN);
        let mut run = reader
            .run(values, Some(&mut padded))?
            .expect("a padded run");
        // SAFETY: as above.
        unsafe { sum.run(&mut run, values, ids.add(first), ids, len) };
        first += RUN;
    }
    Ok(sum.next_start)
}

/// The state of the steps' running sum between runs.
struct RunningSum<L> {
    /// The ids of the last group summed.
    previous: L,
    /// The slot of `ids` that holds the next row start.
    next_start: usize,
}

impl<L: Lanes> RunningSum<L> {
    /// Sums the `values` steps of `run` into ids at `out`.
    ///
    /// # Safety
    /// `ids..ids + len` is the decoded block's ids, `out..out + values`
    /// among them; `L` runs on this CPU.
    #[inline(always)]
    unsafe fn run(
        &mut self,
        run: &mut Run<'_>,
        values: usize,
        out: *mut u32,
        ids: *mut u32,
        len: usize,
    ) {
        let whole = values / GROUP * GROUP;
        // SAFETY: forwarded contract (`whole <= values`).
        unsafe { self.groups(run, whole, out, ids, len) };
        if whole < values {
            // The stream's last group, cut short.
            let valid = values - whole;
            // SAFETY: `L` runs on this CPU (contract).
            let mut group = unsafe { run.next::<L>().to_array() };
            let available = len.saturating_sub(self.next_start);
            // SAFETY: as in `groups`; `out + whole..out + values` is within
            // `ids` (contract).
            unsafe {
                let starts = read_starts(ids.add(self.next_start.min(len)), available);
                let last = self.previous.to_array()[GROUP - 1];
                self.next_start += sum_steps(&mut group[..valid], last, &starts);
                core::ptr::copy_nonoverlapping(group.as_ptr(), out.add(whole), valid);
            }
        }
    }

    /// Sums the next `values` steps of `run`, a multiple of [`GROUP`], into
    /// ids at `out`. (No calls: the running sum stays in a register.)
    ///
    /// # Safety
    /// As for [`run`](Self::run).
    #[inline(always)]
    unsafe fn groups(
        &mut self,
        run: &mut Run<'_>,
        values: usize,
        out: *mut u32,
        ids: *mut u32,
        len: usize,
    ) {
        debug_assert_eq!(values % GROUP, 0);
        for at in (0..values).step_by(GROUP) {
            let steps = run.next::<L>();
            // The row starts left: in bounds even when corrupt steps mark
            // more row starts than there are.
            let available = len.saturating_sub(self.next_start);
            // SAFETY: `next_start.min(len)` is at most `len` slots into `ids`;
            // the `available` slots from there are in it. Every row start
            // this group takes is read before the group's ids are written;
            // the next ones lie past the group (see the module docs).
            // `out + at..out + at + 8` is within `ids` (contract).
            unsafe {
                let row_starts = ids.add(self.next_start.min(len));
                let (group, taken) = steps.sum(self.previous, row_starts, available);
                group.store(out.add(at));
                self.previous = group;
                self.next_start += taken;
            }
        }
    }
}

/// Appends `values`, packed (see the module docs), to `out`.
fn pack(values: &[u32], out: &mut Vec<u8>) {
    for run in values.chunks(GROUP * GROUPS_PER_RUN) {
        let codes = run
            .chunks(GROUP)
            .map(|group| width_code(group.iter().fold(0, |bits, &v| bits | v)));
        let widths = codes.clone().enumerate().fold(0u64, |widths, (g, code)| {
            widths | (u64::from(code) << (5 * g))
        });
        out.extend_from_slice(&widths.to_le_bytes()[..WIDTHS_LEN]);
        for (group, code) in run.chunks(GROUP).zip(codes) {
            let width = width_of_code(usize::from(code));
            let group_start = out.len();
            let (mut bits, mut held) = (0u64, 0);
            for &value in group {
                bits |= u64::from(value) << held;
                held += width;
                while held >= 8 {
                    out.push(bits as u8);
                    bits >>= 8;
                    held -= 8;
                }
            }
            // A short last group: the bits left, then zeros for padding.
            out.push(bits as u8);
            out.resize(group_start + width, 0);
        }
    }
}

/// The 5-bit code of the width of `bits`: the width itself, 31 standing
/// for 32 (a width-31 group is stored at 32 bits).
fn width_code(bits: u32) -> u8 {
    (32 - bits.leading_zeros()).min(31) as u8
}

/// The width of a 5-bit code.
const fn width_of_code(code: usize) -> usize {
    match code {
        31 => 32,
        code => code,
    }
}

/// Reads packed streams one after the other from `packed`.
struct Reader<'a> {
    packed: &'a [u8],
    /// Bytes of `packed` read.
    at: usize,
}

/// Values in a run.
const RUN: usize = GROUP * GROUPS_PER_RUN;
/// Bytes of the buffer a stream's last runs are copied to: the widest run
/// and a [`GROUP_WINDOW`] of zeros.
const PADDED_RUN: usize = 32 * GROUPS_PER_RUN + GROUP_WINDOW;

impl<'a> Reader<'a> {
    /// The next run, of `values` values: its groups are checked to be in
    /// the payload, then read in place, or if the payload ends less than a
    /// [`GROUP_WINDOW`] after them, from a copy in `padded` (with `None`,
    /// not read: `Ok(None)`).
    #[inline(always)]
    fn run<'p>(
        &mut self,
        values: usize,
        padded: Option<&'p mut [u8; PADDED_RUN]>,
    ) -> Result<Option<Run<'p>>, CacheError>
    where
        'a: 'p,
    {
        let truncated = || CacheError::Corrupt {
            reason: "row-delta payload ends inside its packed values",
        };
        let widths = self
            .packed
            .get(self.at..self.at + WIDTHS_LEN)
            .ok_or_else(truncated)?;
        let mut codes = [0; 8];
        codes[..WIDTHS_LEN].copy_from_slice(widths);
        let codes = u64::from_le_bytes(codes);
        let bytes: usize = (0..values.div_ceil(GROUP))
            .map(|g| width_of_code(((codes >> (5 * g)) & 31) as usize))
            .sum();
        let start = self.at + WIDTHS_LEN;
        let window = match (self.packed.get(start..start + bytes + GROUP_WINDOW), padded) {
            (Some(window), _) => window,
            (None, None) => return Ok(None),
            (None, Some(padded)) => {
                let groups = self
                    .packed
                    .get(start..start + bytes)
                    .ok_or_else(truncated)?;
                padded[..bytes].copy_from_slice(groups);
                padded[bytes..].fill(0);
                &padded[..bytes + GROUP_WINDOW]
            }
        };
        self.at = start + bytes;
        Ok(Some(Run {
            window,
            codes,
            offset: 0,
        }))
    }
}

/// The groups of one run, read in order.
struct Run<'p> {
    /// The run's groups and [`GROUP_WINDOW`] bytes more.
    window: &'p [u8],
    /// The width codes of the groups not read yet, the next one lowest.
    codes: u64,
    /// Where the next group starts in the window.
    offset: usize,
}

impl Run<'_> {
    /// The next group, unpacked.
    ///
    /// # Panics
    /// If the run's groups have all been read.
    #[inline(always)]
    fn next<L: Lanes>(&mut self) -> L {
        let code = (self.codes & 31) as usize;
        self.codes >>= 5;
        let at = self.offset;
        self.offset += width_of_code(code);
        // Never fails while the caller reads no more groups than the run
        // has: the window holds them and `GROUP_WINDOW` bytes more.
        assert!(at + GROUP_WINDOW <= self.window.len());
        // SAFETY: `at..at + GROUP_WINDOW` is within the window (just checked).
        unsafe { L::unpack(self.window.as_ptr().add(at), code) }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every unpacker this CPU has (the scalar one first).
    fn unpackers() -> impl Iterator<Item = Unpacker> {
        let all = [
            Unpacker::Scalar,
            #[cfg(target_arch = "x86_64")]
            Unpacker::Avx2,
            #[cfg(target_arch = "x86_64")]
            Unpacker::Avx512,
        ];
        all.into_iter().filter(|u| u.is_available())
    }

    /// `ids` and `tail` encoded, then decoded by every unpacker: each
    /// must give them back.
    fn round_trips(ids: &[u32], tail: &[u8]) {
        let mut data: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        data.extend_from_slice(tail);
        let mut payload = Vec::new();
        encode(&data, &mut payload);
        for unpacker in unpackers() {
            let mut decoded = vec![0xDEAD_BEEF; ids.len()];
            let mut decoded_tail = vec![0xEE; tail.len()];
            decode_on(unpacker, &payload, &mut decoded, &mut decoded_tail).unwrap();
            let decoded: Vec<u32> = decoded.iter().map(|id| u32::from_le(*id)).collect();
            assert_eq!(decoded, ids, "{unpacker:?}");
            assert_eq!(decoded_tail, tail, "{unpacker:?}");
        }
    }

    /// What every unpacker makes of `payload` for `len` ids: the same
    /// result as the scalar one, ids or error.
    fn agree(payload: &[u8], len: usize, tail: usize) {
        let decode = |unpacker| {
            let mut ids = vec![7; len];
            let mut tail = vec![0; tail];
            // `CacheError` has no `PartialEq`: its `Debug` is compared.
            format!(
                "{:?}",
                decode_on(unpacker, payload, &mut ids, &mut tail).map(|()| (ids, tail))
            )
        };
        let reference = decode(Unpacker::Scalar);
        for unpacker in unpackers() {
            assert_eq!(decode(unpacker), reference, "{unpacker:?}");
        }
    }

    /// Ids from `(width, start)` pairs: a row start of a random id of
    /// `width` bits, or a step up of exactly `width` bits (wrapping: then
    /// a row start too).
    fn ids_of(parts: &[(u32, bool, u32)]) -> Vec<u32> {
        let mut previous = 0u32;
        parts
            .iter()
            .map(|&(width, start, bits)| {
                let value = match width {
                    0 => 0,
                    w => (bits >> (32 - w)) | (1u32 << (w - 1)),
                };
                previous = if start {
                    value
                } else {
                    previous.wrapping_add(value)
                };
                previous
            })
            .collect()
    }

    #[test]
    fn every_width_in_every_lane_round_trips() {
        // A group of each width, one value of that width in lane `lane`
        // and small steps elsewhere, and rows of length 1.
        for lane in 0..GROUP {
            let parts: Vec<(u32, bool, u32)> = (0..=32)
                .flat_map(|width| (0..GROUP).map(move |i| (width, i == lane)))
                .map(|(width, wide)| (if wide { width } else { 1 }, false, u32::MAX))
                .collect();
            round_trips(&ids_of(&parts), &[]);
        }
        let single_rows: Vec<u32> = (0..100u32).rev().map(|i| i * 40_503).collect();
        round_trips(&single_rows, &[1, 2, 3]);
        round_trips(&[], &[]);
        round_trips(&[], &[9]);
        round_trips(&[0], &[]);
        round_trips(&[u32::MAX; 9], &[]);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn every_unpacker_decodes_what_was_encoded(
            parts in prop::collection::vec((0u32..=32, prop::bool::weighted(0.2), any::<u32>()), 0..700),
            tail in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            round_trips(&ids_of(&parts), &tail);
        }

        #[test]
        fn every_unpacker_agrees_on_damaged_payloads(
            parts in prop::collection::vec((0u32..=32, prop::bool::weighted(0.3), any::<u32>()), 1..200),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
            len_change in -9i64..9,
        ) {
            let ids = ids_of(&parts);
            let data: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
            let mut payload = Vec::new();
            encode(&data, &mut payload);
            for (at, mask) in flips {
                let at = at.index(payload.len());
                payload[at] ^= mask;
            }
            let len = (ids.len() as i64 + len_change).max(0) as usize;
            agree(&payload, len, 0);
        }
    }
}
