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

use super::{CacheError, Element};

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
/// little-endian on disk) and the bytes after them.
pub(super) fn decode(payload: &[u8], ids: &mut [u32], tail: &mut [u8]) -> Result<(), CacheError> {
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
    // The row starts go to the last `starts` slots (see the module docs).
    let first_start_slot = ids.len() - starts;
    reader.unpack(starts, |first, values| {
        ids[first_start_slot + first..][..values.len()].copy_from_slice(values);
    })?;
    let last_slot = ids.len().saturating_sub(1);
    let mut previous = 0u32;
    let mut next_start = first_start_slot;
    reader.unpack(ids.len(), |first, steps| {
        for (i, &step) in (first..).zip(steps) {
            // A branch, not a select: loading the next row start for every
            // id measured much slower.
            let id = if step == 0 {
                // Past the last row start (corrupt steps), the last slot:
                // in bounds, and the count check below fails.
                let start = ids[next_start.min(last_slot)];
                next_start += 1;
                start
            } else {
                previous.wrapping_add(step)
            };
            ids[i] = id;
            previous = id;
        }
    })?;
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
            let width = width_of_code(code);
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
fn width_of_code(code: u8) -> usize {
    match code {
        31 => 32,
        code => usize::from(code),
    }
}

/// Reads packed streams one after the other from `packed`.
struct Reader<'a> {
    packed: &'a [u8],
    /// Bytes of `packed` read.
    at: usize,
}

impl Reader<'_> {
    /// Unpacks the next stream of `count` values, calling `run` with the
    /// index of each run's first value and its values (a short last
    /// group's padding cut off).
    fn unpack(
        &mut self,
        count: usize,
        mut run: impl FnMut(usize, &[u32]),
    ) -> Result<(), CacheError> {
        let truncated = || CacheError::Corrupt {
            reason: "row-delta payload ends inside its packed values",
        };
        let mut values = [0u32; GROUP * GROUPS_PER_RUN];
        for first in (0..count).step_by(values.len()) {
            let widths = self
                .packed
                .get(self.at..self.at + WIDTHS_LEN)
                .ok_or_else(truncated)?;
            self.at += WIDTHS_LEN;
            let mut codes = [0; 8];
            codes[..WIDTHS_LEN].copy_from_slice(widths);
            let codes = u64::from_le_bytes(codes);
            let len = (count - first).min(values.len());
            for (g, group) in values[..len.next_multiple_of(GROUP)]
                .chunks_exact_mut(GROUP)
                .enumerate()
            {
                let code = (codes >> (5 * g)) & 31;
                group.copy_from_slice(&self.group(code).ok_or_else(truncated)?);
            }
            run(first, &values[..len]);
        }
        Ok(())
    }

    /// The next group, of the width of `code` (`None` past the end).
    #[inline(always)]
    fn group(&mut self, code: u64) -> Option<[u32; GROUP]> {
        let width = width_of_code(code as u8);
        let mut padded = [0; GROUP_WINDOW];
        let window: &[u8; GROUP_WINDOW] = match self.packed.get(self.at..self.at + GROUP_WINDOW) {
            Some(window) => window.try_into().expect("a window's length"),
            None => {
                let bytes = self.packed.get(self.at..self.at + width)?;
                padded[..bytes.len()].copy_from_slice(bytes);
                &padded
            }
        };
        self.at += width;
        let mask = (1u64 << width) - 1;
        Some(core::array::from_fn(|j| {
            let bit = j * width;
            // At most byte 28 (the 8th value of 32 bits): `& 31` changes
            // nothing but shows the compiler the read is in the window.
            let byte = (bit / 8) & 31;
            let word = u64::read_le(&window[byte..byte + 8]);
            ((word >> (bit % 8)) & mask) as u32
        }))
    }
}
