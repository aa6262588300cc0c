//! Encoded blocks: the compressed tier's and the spill file's form.
//!
//! A block leaving tier 0 is kept compressed, so the same memory holds
//! more of the graph. LZ4 alone does little for arrays of numbers: the
//! bytes of one `u32` differ, the same byte of neighbouring `u32`s often
//! does not. So a block first goes through a *filter* that lines those
//! bytes up: a byte shuffle (every element's byte 0, then every byte 1,
//! ...) for `u32` / `f32` / `u64` arrays, and for sorted ids the
//! differences of neighbours shuffled (small numbers: whole planes of zero
//! bytes). CSR target ids, ascending row by row, have a filter of their
//! own that replaces LZ4 rather than prepares for it: each id's step
//! within its row, bit-packed in small groups (see `row_delta`; LZ4 cannot
//! exploit steps whose widths spread over 0 to 22 bits, bit-packing can:
//! degree-reordered rmat22 blocks 2.6x against 2.2x for delta + shuffle +
//! LZ4). Which filter pays depends on the data, so [`encode_block`]
//! tries the candidates of the block's kind on a sample of it (a few
//! evenly spaced windows) and keeps the smallest; when even that does not
//! save a sixteenth of the bytes the block is stored raw, since then the
//! few bytes saved would cost a decompression on every hit.
//!
//! An encoding is self-describing (8 header bytes, then the payload):
//!
//! | bytes | field |
//! |---|---|
//! | 0 | `0xB1`: an encoded block, format 1 |
//! | 1 | the [`Filter`]'s code |
//! | 2 | the [`BlockKind`]'s code |
//! | 3 | zero (reserved) |
//! | 4..8 | the decoded length, `u32` little-endian, at most 1 GiB |
//! | 8.. | the payload: the bytes (raw), an LZ4 block of the filtered bytes, or the packed steps ([`Filter::RowDeltaPacked`]) |
//!
//! [`decode_block`] checks every field before it allocates: a length above
//! the cap, or above what the payload could decompress to, is refused, so
//! no input makes it allocate more than 255 times the input's size.
//!
//! **Decoding allocates nothing** but the growth of its output: LZ4
//! decompresses straight into the output for unfiltered blocks, packed
//! steps are summed straight into it; a shuffled block decompresses into a
//! per-thread scratch buffer, reused by every later decode on that thread,
//! and is unshuffled from there into the output, its delta undone in the
//! same pass (an in-place transposition would be much slower). The scratch is
//! as large as the largest shuffled block the thread decoded, up to 4 MiB
//! kept; a larger one is freed after use.

use std::cell::RefCell;

use super::{BlockBuf, BlockKind, CacheError};

mod row_delta;

/// The filter an encoded block went through before LZ4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Filter {
    /// Stored as it is (compression did not pay).
    Raw,
    /// LZ4 of the bytes as they are.
    Lz4,
    /// Byte-shuffled by element size, then LZ4.
    Shuffle,
    /// Delta-coded `u32`s, byte-shuffled, then LZ4.
    DeltaShuffle,
    /// Ascending runs of `u32`s (CSR rows of target ids): each id's step
    /// from the one before within its row, bit-packed in groups of 8 at
    /// the group's width; no LZ4.
    RowDeltaPacked,
}

impl Filter {
    /// Every filter, in the order of their codes.
    const ALL: [Filter; 5] = [
        Filter::Raw,
        Filter::Lz4,
        Filter::Shuffle,
        Filter::DeltaShuffle,
        Filter::RowDeltaPacked,
    ];

    /// The filter's code in encoded blocks.
    const fn code(self) -> u8 {
        match self {
            Filter::Raw => 0,
            Filter::Lz4 => 1,
            Filter::Shuffle => 2,
            Filter::DeltaShuffle => 3,
            Filter::RowDeltaPacked => 4,
        }
    }

    /// The filter of a code.
    fn from_code(code: u8) -> Option<Filter> {
        Filter::ALL.get(usize::from(code)).copied()
    }

    /// Whether blocks of `kind` can go through this filter: a shuffle needs
    /// elements of several bytes, the delta needs `u32`-sized ones.
    fn fits(self, kind: BlockKind) -> bool {
        match self {
            Filter::Raw | Filter::Lz4 => true,
            Filter::Shuffle => matches!(kind.element_size(), 4 | 8),
            Filter::DeltaShuffle | Filter::RowDeltaPacked => kind.element_size() == 4,
        }
    }

    /// The filters [`encode_block`] tries on blocks of `kind` (besides
    /// [`Raw`](Filter::Raw), the fallback).
    fn candidates(kind: BlockKind) -> &'static [Filter] {
        match kind {
            BlockKind::Bytes => &[Filter::Lz4],
            BlockKind::U32 | BlockKind::F32 | BlockKind::U64 => &[Filter::Lz4, Filter::Shuffle],
            BlockKind::SortedU32 => &[
                Filter::Lz4,
                Filter::Shuffle,
                Filter::DeltaShuffle,
                Filter::RowDeltaPacked,
            ],
        }
    }
}

/// The first header byte: an encoded block, format 1.
const MAGIC: u8 = 0xB1;
/// Bytes of the header before the payload.
const HEADER_LEN: usize = 8;
/// The longest block an encoding holds (1 GiB): a cap on what a corrupt
/// header can make [`decode_block`] allocate.
pub(crate) const MAX_BLOCK_LEN: usize = 1 << 30;
/// An encoding is kept only when it saves at least `1 / MIN_SAVING` of the
/// bytes; otherwise the block is stored raw.
const MIN_SAVING: usize = 16;
/// Bytes of one window of the sample filters are tried on.
const SAMPLE_WINDOW: usize = 8 << 10;
/// Windows of the sample, evenly spaced over the block.
const SAMPLE_WINDOWS: usize = 4;
/// Bytes of decode scratch a thread keeps between decodes.
const SCRATCH_KEPT: usize = 4 << 20;

/// Encodes `data`, a block of `kind`, into `out` (cleared first): the
/// filter that makes it smallest on a sample of the block, then LZ4, or the
/// bytes raw when that does not pay. The encoding is self-describing
/// ([`decode_block`] needs nothing else). Returns the filter chosen.
///
/// Raw is chosen when the best filter saves less than a sixteenth of the
/// bytes, on the sample or on the whole block: a hit on a raw block in the
/// compressed tier is a copy, not a decompression.
///
/// # Panics
/// If `data` is longer than 1 GiB (no cache block is near that).
pub fn encode_block(kind: BlockKind, data: &[u8], out: &mut Vec<u8>) -> Filter {
    let filter = best_on_sample(kind, data);
    let encode = |filter, out: &mut Vec<u8>| {
        encode_with(filter, kind, data, out)
            .expect("a block of at most 1 GiB, a filter of its kind")
    };
    if filter != Filter::Raw {
        encode(filter, out);
        if pays(data.len(), out.len() - HEADER_LEN) {
            return filter;
        }
    }
    encode(Filter::Raw, out);
    Filter::Raw
}

/// Decodes an [`encode_block`] encoding into `out` and returns the block's
/// kind. Any bytes at all are safe to pass: what is not an encoding is a
/// [`CacheError::Corrupt`] (and `out` is then left empty).
pub fn decode_block(encoded: &[u8], out: &mut BlockBuf) -> Result<BlockKind, CacheError> {
    let result = decode_checked(encoded, out);
    if result.is_err() {
        out.clear();
    }
    result
}

/// The decoded length an encoding's header gives (`None` if the header is
/// not one): what decoding it will make room for.
pub(crate) fn decoded_len(encoded: &[u8]) -> Option<usize> {
    Header::parse(encoded).ok().map(|header| header.len)
}

/// The filter of an encoding (`None` if the header is not one).
pub fn encoded_filter(encoded: &[u8]) -> Option<Filter> {
    Header::parse(encoded).ok().map(|header| header.filter)
}

/// Encodes `data`, a block of `kind`, through `filter` (then LZ4, unless
/// [`Raw`](Filter::Raw) or [`RowDeltaPacked`](Filter::RowDeltaPacked))
/// into `out`, cleared first, whether or not that
/// pays: for measuring filters against each other, or for data whose best
/// filter the caller knows. [`decode_block`] decodes it like any other.
///
/// Refused ([`CacheError::Config`]) when `filter` does not fit `kind` (a
/// shuffle needs elements of 4 or 8 bytes, the delta elements of 4) or
/// `data` is longer than 1 GiB.
pub fn encode_with(
    filter: Filter,
    kind: BlockKind,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CacheError> {
    if !filter.fits(kind) {
        return Err(CacheError::Config {
            field: "filter",
            expected: "one that fits the block kind (a shuffle needs 4- or 8-byte \
                       elements, the delta 4-byte ones)",
        });
    }
    if data.len() > MAX_BLOCK_LEN {
        return Err(CacheError::Config {
            field: "block length",
            expected: "at most 1 GiB",
        });
    }
    out.clear();
    out.extend_from_slice(&[MAGIC, filter.code(), kind.code(), 0]);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    if filter == Filter::Raw {
        out.extend_from_slice(data);
    } else {
        let mut scratch = Vec::new();
        compress_filtered(filter, kind, data, &mut scratch, out);
    }
    Ok(())
}

/// Whether an encoding of `payload` bytes saves enough on `len` bytes.
fn pays(len: usize, payload: usize) -> bool {
    payload <= len - len / MIN_SAVING && payload < len
}

/// The candidate of `kind` whose LZ4 output on a sample of `data` is
/// smallest, or [`Filter::Raw`] if none pays there.
fn best_on_sample(kind: BlockKind, data: &[u8]) -> Filter {
    let windows = sample_windows(data, kind.element_size());
    let sampled: usize = windows.iter().map(|w| w.len()).sum();
    let (mut filtered, mut compressed) = (Vec::new(), Vec::new());
    let mut best = (Filter::Raw, sampled);
    for &filter in Filter::candidates(kind) {
        let size: usize = windows
            .iter()
            .map(|window| {
                compressed.clear();
                compress_filtered(filter, kind, window, &mut filtered, &mut compressed)
            })
            .sum();
        if size < best.1 {
            best = (filter, size);
        }
    }
    if pays(sampled, best.1) {
        best.0
    } else {
        Filter::Raw
    }
}

/// The windows of `data` filters are tried on: at most a quarter of the
/// block (at least [`SAMPLE_WINDOW`] / 2 bytes, or the whole block when it
/// is shorter), in up to [`SAMPLE_WINDOWS`] windows evenly spaced, each
/// starting on an element. Every candidate is tried on the sample, so the
/// sample bounds what choosing costs: blocks are encoded on every demotion
/// from tier 0, on the readers' threads.
fn sample_windows(data: &[u8], element_size: usize) -> Vec<&[u8]> {
    let sample = (data.len() / 4).max(SAMPLE_WINDOW / 2);
    if data.len() <= sample {
        return vec![data];
    }
    let windows = sample.div_ceil(SAMPLE_WINDOW).min(SAMPLE_WINDOWS);
    let window = (sample / windows).min(SAMPLE_WINDOW);
    let window = window - window % element_size.max(1);
    if windows == 1 {
        let start = (data.len() - window) / 2;
        let start = start - start % element_size.max(1);
        return vec![&data[start..start + window]];
    }
    let last_start = data.len() - window;
    (0..windows)
        .map(|i| {
            let start = last_start * i / (windows - 1);
            let start = start - start % element_size;
            &data[start..start + window]
        })
        .collect()
}

/// Appends to `out` the payload of `data` through `filter` (not raw): the
/// LZ4 block of the filtered bytes, using `scratch` for them, or the packed
/// values; returns the bytes appended.
fn compress_filtered(
    filter: Filter,
    kind: BlockKind,
    data: &[u8],
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> usize {
    let filtered = match filter {
        Filter::RowDeltaPacked => {
            let start = out.len();
            row_delta::encode(data, out);
            return out.len() - start;
        }
        Filter::Raw | Filter::Lz4 => data,
        Filter::Shuffle => {
            shuffle(kind.element_size(), data, scratch);
            scratch.as_slice()
        }
        Filter::DeltaShuffle => {
            let mut deltas = data.to_vec();
            encode_delta(&mut deltas);
            shuffle(4, &deltas, scratch);
            scratch.as_slice()
        }
    };
    let start = out.len();
    out.resize(
        start + lz4_flex::block::get_maximum_output_size(filtered.len()),
        0,
    );
    let len = lz4_flex::block::compress_into(filtered, &mut out[start..])
        .expect("the output holds LZ4's worst case");
    out.truncate(start + len);
    len
}

/// An encoding's header, checked.
struct Header {
    filter: Filter,
    kind: BlockKind,
    /// The decoded block's length.
    len: usize,
}

impl Header {
    /// Reads and checks the header of `encoded` (not the payload).
    fn parse(encoded: &[u8]) -> Result<Header, CacheError> {
        let corrupt = |reason| Err(CacheError::Corrupt { reason });
        let Some((&[magic, filter, kind, reserved, l0, l1, l2, l3], _)) =
            encoded.split_first_chunk::<HEADER_LEN>()
        else {
            return corrupt("shorter than a block header");
        };
        if magic != MAGIC {
            return corrupt("not an encoded block (first byte)");
        }
        let Some(filter) = Filter::from_code(filter) else {
            return corrupt("unknown filter code");
        };
        let Some(kind) = BlockKind::from_code(kind) else {
            return corrupt("unknown block kind code");
        };
        if reserved != 0 {
            return corrupt("reserved header byte not zero");
        }
        if !filter.fits(kind) {
            return corrupt("filter does not fit the block kind's element size");
        }
        let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        if len > MAX_BLOCK_LEN {
            return corrupt("decoded length above 1 GiB");
        }
        Ok(Header { filter, kind, len })
    }
}

/// [`decode_block`], leaving `out` as it is on an error.
fn decode_checked(encoded: &[u8], out: &mut BlockBuf) -> Result<BlockKind, CacheError> {
    let header = Header::parse(encoded)?;
    let payload = &encoded[HEADER_LEN..];
    if header.filter == Filter::Raw {
        if payload.len() != header.len {
            return Err(CacheError::Corrupt {
                reason: "raw payload length differs from the decoded length",
            });
        }
        out.resize(header.len).copy_from_slice(payload);
        return Ok(header.kind);
    }
    // An LZ4 sequence expands at most 255-fold (a match length byte of 255
    // per input byte), plus the last literals; packed values at most
    // 52-fold (64 zero-width values in a run of 5 bytes).
    if header.len > payload.len().saturating_mul(255).saturating_add(16) {
        return Err(CacheError::Corrupt {
            reason: "decoded length more than the payload can hold",
        });
    }
    match header.filter {
        Filter::RowDeltaPacked => {
            let (ids, tail) = out.resize(header.len).split_at_mut(header.len / 4 * 4);
            // A `BlockBuf`'s bytes are aligned to cache lines: never a panic.
            let ids = bytemuck::cast_slice_mut(ids);
            row_delta::decode(payload, ids, tail)?;
            Ok(header.kind)
        }
        Filter::Shuffle | Filter::DeltaShuffle => with_scratch(header.len, |shuffled| {
            decompress(payload, shuffled)?;
            let out = out.resize(header.len);
            if header.filter == Filter::DeltaShuffle {
                unshuffle_undoing_delta(shuffled, out);
            } else {
                unshuffle(header.kind.element_size(), shuffled, out);
            }
            Ok(header.kind)
        }),
        _ => {
            decompress(payload, out.resize(header.len))?;
            Ok(header.kind)
        }
    }
}

/// Decompresses the LZ4 block `payload` into all of `out`: exactly
/// `out.len()` bytes or an error.
fn decompress(payload: &[u8], out: &mut [u8]) -> Result<(), CacheError> {
    match lz4_flex::block::decompress_into(payload, out) {
        Ok(len) if len == out.len() => Ok(()),
        Ok(_) => Err(CacheError::Corrupt {
            reason: "LZ4 payload decompresses to fewer bytes than claimed",
        }),
        Err(_) => Err(CacheError::Corrupt {
            reason: "LZ4 payload does not decompress to the length claimed",
        }),
    }
}

/// Runs `f` on this thread's decode scratch, `len` bytes of it.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < len {
            scratch.resize(len, 0);
        }
        let result = f(&mut scratch[..len]);
        if scratch.capacity() > SCRATCH_KEPT {
            *scratch = Vec::new();
        }
        result
    })
}

/// Elements the shuffles move per step: a fixed-width transposition the
/// compiler turns into vector code.
const LANES: usize = 32;

/// `data` byte-shuffled by `element_size` (4 or 8) into `out`: every
/// element's byte 0, then every byte 1, ...; the tail bytes that are not a
/// whole element follow as they are.
fn shuffle(element_size: usize, data: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(data.len(), 0);
    match element_size {
        4 => shuffle_by::<u32>(data, out),
        _ => shuffle_by::<u64>(data, out),
    }
}

/// Undoes [`shuffle`]: `shuffled` into `out`, of the same length.
fn unshuffle(element_size: usize, shuffled: &[u8], out: &mut [u8]) {
    match element_size {
        4 => unshuffle_by::<u32>(shuffled, out, |element| element),
        _ => unshuffle_by::<u64>(shuffled, out, |element| element),
    }
}

/// An element the shuffles take apart: `u32` or `u64`, its bytes little-endian.
trait Element: bytemuck::Pod + Default {
    /// The element of little-endian `bytes`.
    fn read_le(bytes: &[u8]) -> Self;
    /// The element whose byte `b` is `byte` and the others are zero.
    fn with_byte(byte: u8, b: usize) -> Self;
    /// Byte `b` (little-endian order).
    fn byte(self, b: usize) -> u8;
    /// The bits of both.
    fn or(self, other: Self) -> Self;
    /// Its little-endian bytes written to `out`.
    fn write_le(self, out: &mut [u8]);
}

macro_rules! element {
    ($t:ty) => {
        impl Element for $t {
            fn read_le(bytes: &[u8]) -> $t {
                let mut le = [0; size_of::<$t>()];
                le.copy_from_slice(bytes);
                <$t>::from_le_bytes(le)
            }
            fn with_byte(byte: u8, b: usize) -> $t {
                <$t>::from(byte) << (8 * b)
            }
            fn byte(self, b: usize) -> u8 {
                (self >> (8 * b)) as u8
            }
            fn or(self, other: $t) -> $t {
                self | other
            }
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
        }
    };
}
element!(u32);
element!(u64);

/// [`shuffle`] of `E`s (`out` as long as `data`).
fn shuffle_by<E: Element>(data: &[u8], out: &mut [u8]) {
    let w = size_of::<E>();
    let n = data.len() / w;
    let (elements, tail) = data.split_at(n * w);
    let (planes, out_tail) = out.split_at_mut(n * w);
    out_tail.copy_from_slice(tail);
    let groups = elements.chunks_exact(w * LANES);
    let rest = groups.remainder();
    for (g, group) in groups.enumerate() {
        let words: [E; LANES] = core::array::from_fn(|i| E::read_le(&group[i * w..(i + 1) * w]));
        for b in 0..w {
            let lane = &mut planes[b * n + g * LANES..][..LANES];
            for (byte, word) in lane.iter_mut().zip(words) {
                *byte = word.byte(b);
            }
        }
    }
    let start = n / LANES * LANES;
    for (i, element) in rest.chunks_exact(w).enumerate() {
        for (b, &byte) in element.iter().enumerate() {
            planes[b * n + start + i] = byte;
        }
    }
}

/// [`unshuffle`] of `E`s (`out` as long as `shuffled`), each element
/// through `finish` (in order) before it is written.
fn unshuffle_by<E: Element>(shuffled: &[u8], out: &mut [u8], mut finish: impl FnMut(E) -> E) {
    let w = size_of::<E>();
    let n = shuffled.len() / w;
    let (planes, tail) = shuffled.split_at(n * w);
    let (elements, out_tail) = out.split_at_mut(n * w);
    out_tail.copy_from_slice(tail);
    let mut groups = elements.chunks_exact_mut(w * LANES);
    for (g, group) in (&mut groups).enumerate() {
        let mut words = [E::default(); LANES];
        for b in 0..w {
            let lane = &planes[b * n + g * LANES..][..LANES];
            for (word, &byte) in words.iter_mut().zip(lane) {
                *word = word.or(E::with_byte(byte, b));
            }
        }
        for (element, word) in group.chunks_exact_mut(w).zip(words) {
            finish(word).write_le(element);
        }
    }
    let start = n / LANES * LANES;
    for (i, element) in groups.into_remainder().chunks_exact_mut(w).enumerate() {
        let word = (0..w).fold(E::default(), |word, b| {
            word.or(E::with_byte(planes[b * n + start + i], b))
        });
        finish(word).write_le(element);
    }
}

/// Replaces each little-endian `u32` of `bytes` by its wrapping difference
/// from the one before (the first from 0); a tail is left as it is. (A
/// zigzag code of the steps, so that a new row's step down is small too,
/// measured worse on R-MAT targets: it doubles every step up.)
fn encode_delta(bytes: &mut [u8]) {
    let mut previous = 0u32;
    for word in bytes.chunks_exact_mut(4) {
        let value = u32::read_le(word);
        value.wrapping_sub(previous).write_le(word);
        previous = value;
    }
}

/// Undoes [`shuffle`] by 4 and then [`encode_delta`] in one pass: the
/// running wrapping sum taken as the elements come together.
fn unshuffle_undoing_delta(shuffled: &[u8], out: &mut [u8]) {
    let mut sum = 0u32;
    unshuffle_by::<u32>(shuffled, out, |delta| {
        sum = sum.wrapping_add(delta);
        sum
    });
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `count` ascending `u32`s in steps of 0..`max_step` from `first`, as bytes,
    /// followed by `tail` extra bytes.
    fn sorted_ids(count: usize, first: u32, max_step: u32, tail: usize) -> Vec<u8> {
        let mut state = 0x9E37_79B9_u32;
        let mut value = first;
        let mut bytes = Vec::with_capacity(count * 4 + tail);
        for _ in 0..count {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            value = value.wrapping_add(state % max_step);
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend((0..tail).map(|i| i as u8));
        bytes
    }

    /// CSR rows of target ids as bytes: rows of 0..`max_degree` ids, each
    /// strictly ascending from a random start below `nodes`, in steps of
    /// 1..`nodes / 8`.
    fn csr_rows(rows: usize, max_degree: u32, nodes: u32, seed: u32) -> Vec<u8> {
        let mut state = seed | 1;
        let mut next = |bound: u32| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state % bound.max(1)
        };
        let mut bytes = Vec::new();
        for _ in 0..rows {
            let mut id = next(nodes);
            for _ in 0..next(max_degree) {
                bytes.extend_from_slice(&id.to_le_bytes());
                id = id.saturating_add(1 + next(nodes / 8));
            }
        }
        bytes
    }

    /// Decodes `encoded`, expecting `data` of `kind`.
    fn assert_decodes_to(encoded: &[u8], kind: BlockKind, data: &[u8]) {
        let mut out = BlockBuf::from_bytes(&[0xEE; 3]);
        assert_eq!(decode_block(encoded, &mut out).unwrap(), kind);
        assert_eq!(out.as_bytes(), data);
    }

    /// The filters that fit `kind`.
    fn fitting(kind: BlockKind) -> impl Iterator<Item = Filter> {
        Filter::ALL.into_iter().filter(move |f| f.fits(kind))
    }

    fn corrupt_reason(encoded: &[u8]) -> &'static str {
        let mut out = BlockBuf::from_bytes(&[1, 2, 3]);
        match decode_block(encoded, &mut out) {
            Err(CacheError::Corrupt { reason }) => {
                assert!(out.is_empty(), "{reason}: the output is left empty");
                reason
            }
            other => panic!("expected a corrupt block, got {other:?}"),
        }
    }

    /// Random bytes, sorted ids with a tail, CSR rows, or a repeated byte,
    /// of 0..6 KiB.
    fn block_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..6000),
            (0usize..1500, any::<u32>(), 1u32..300, 0usize..8)
                .prop_map(|(n, first, step, tail)| sorted_ids(n, first, step, tail)),
            (0usize..100, 1u32..40, 1u32..=u32::MAX, any::<u32>())
                .prop_map(|(rows, degree, nodes, seed)| csr_rows(rows, degree, nodes, seed)),
            (0usize..6000, any::<u8>()).prop_map(|(n, byte)| vec![byte; n]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn encode_block_round_trips(kind in 0..5usize, data in block_bytes()) {
            let kind = BlockKind::ALL[kind];
            let mut encoded = Vec::new();
            let filter = encode_block(kind, &data, &mut encoded);
            prop_assert!(filter == Filter::Raw || Filter::candidates(kind).contains(&filter));
            prop_assert_eq!(encoded_filter(&encoded), Some(filter));
            prop_assert!(encoded.len() <= HEADER_LEN + data.len());
            assert_decodes_to(&encoded, kind, &data);
        }

        #[test]
        fn every_fitting_filter_round_trips(kind in 0..5usize, data in block_bytes()) {
            let kind = BlockKind::ALL[kind];
            let mut encoded = Vec::new();
            for filter in fitting(kind) {
                encode_with(filter, kind, &data, &mut encoded).unwrap();
                prop_assert_eq!(encoded_filter(&encoded), Some(filter));
                assert_decodes_to(&encoded, kind, &data);
            }
        }

        #[test]
        fn arbitrary_bytes_decode_or_fail(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut out = BlockBuf::new();
            if decode_block(&bytes, &mut out).is_ok() {
                prop_assert_eq!(out.len(), u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize);
            }
        }
    }

    #[test]
    fn shuffle_lays_out_byte_planes_and_keeps_the_tail() {
        let data: Vec<u8> = (1..=11).collect();
        let mut shuffled = Vec::new();
        shuffle(4, &data, &mut shuffled);
        assert_eq!(shuffled, [1, 5, 2, 6, 3, 7, 4, 8, 9, 10, 11]);
        shuffle(8, &data, &mut shuffled);
        assert_eq!(shuffled, data);
        // Past one group of lanes, with a remainder of elements.
        let data: Vec<u8> = (0..=255).cycle().take(8 * (LANES + 3) + 5).collect();
        for size in [4, 8] {
            shuffle(size, &data, &mut shuffled);
            let n = data.len() / size;
            for i in 0..n * size {
                assert_eq!(shuffled[(i % size) * n + i / size], data[i]);
            }
            assert_eq!(shuffled[n * size..], data[n * size..]);
            let mut back = vec![0; data.len()];
            unshuffle(size, &shuffled, &mut back);
            assert_eq!(back, data);
        }
    }

    #[test]
    fn delta_wraps_and_undoes() {
        let mut bytes = sorted_ids(5, u32::MAX - 100, 60, 0);
        bytes.extend_from_slice(&[7, 0, 0, 0, 5, 0, 0, 0]);
        let original = bytes.clone();
        encode_delta(&mut bytes);
        // A step of -2, wrapped.
        assert_eq!(bytes[bytes.len() - 4..], (-2i32 as u32).to_le_bytes());
        bytes.push(9);
        let original = [&original[..], &[9]].concat();
        let mut shuffled = Vec::new();
        shuffle(4, &bytes, &mut shuffled);
        let mut undone = vec![0; bytes.len()];
        unshuffle_undoing_delta(&shuffled, &mut undone);
        assert_eq!(undone, original);
    }

    #[test]
    fn the_sample_picks_the_filter_that_pays() {
        let mut encoded = Vec::new();
        // Sorted ids in small steps, larger than the sample.
        let ids = sorted_ids(40_000, 7, 40, 0);
        assert!(ids.len() > SAMPLE_WINDOW * SAMPLE_WINDOWS);
        let filter = encode_block(BlockKind::SortedU32, &ids, &mut encoded);
        assert_eq!(filter, Filter::RowDeltaPacked);
        assert!(
            encoded.len() < ids.len() / 2,
            "{} of {}",
            encoded.len(),
            ids.len()
        );
        assert_decodes_to(&encoded, BlockKind::SortedU32, &ids);
        // Repetitive opaque bytes: plain LZ4.
        let text = b"spreading activation over blocks; ".repeat(2000);
        assert_eq!(
            encode_block(BlockKind::Bytes, &text, &mut encoded),
            Filter::Lz4
        );
        assert_decodes_to(&encoded, BlockKind::Bytes, &text);
        // Noise does not compress: stored raw.
        let mut state = 1u64;
        let noise: Vec<u8> = (0..50_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        assert_eq!(
            encode_block(BlockKind::F32, &noise, &mut encoded),
            Filter::Raw
        );
        assert_eq!(encoded.len(), HEADER_LEN + noise.len());
        assert_decodes_to(&encoded, BlockKind::F32, &noise);
        // Nothing to save on an empty block.
        assert_eq!(encode_block(BlockKind::U32, &[], &mut encoded), Filter::Raw);
        assert_decodes_to(&encoded, BlockKind::U32, &[]);
    }

    #[test]
    fn headers_that_are_not_encodings_are_refused() {
        let ids = sorted_ids(300, 0, 10, 0);
        let mut valid = Vec::new();
        encode_with(Filter::Shuffle, BlockKind::U32, &ids, &mut valid).unwrap();
        let with = |at: usize, byte: u8| {
            let mut bytes = valid.clone();
            bytes[at] = byte;
            bytes
        };
        assert_eq!(corrupt_reason(&[]), "shorter than a block header");
        assert_eq!(corrupt_reason(&valid[..7]), "shorter than a block header");
        assert_eq!(
            corrupt_reason(&with(0, 0xB2)),
            "not an encoded block (first byte)"
        );
        assert_eq!(corrupt_reason(&with(1, 5)), "unknown filter code");
        assert_eq!(corrupt_reason(&with(2, 5)), "unknown block kind code");
        assert_eq!(corrupt_reason(&with(3, 1)), "reserved header byte not zero");
        assert_eq!(
            corrupt_reason(&with(2, BlockKind::Bytes.code())),
            "filter does not fit the block kind's element size"
        );
        let mut delta_u64 = with(1, Filter::DeltaShuffle.code());
        delta_u64[2] = BlockKind::U64.code();
        assert_eq!(
            corrupt_reason(&delta_u64),
            "filter does not fit the block kind's element size"
        );
        assert_eq!(corrupt_reason(&with(7, 0x40)), "decoded length above 1 GiB");
        assert_eq!(
            corrupt_reason(&with(6, 0x30)),
            "decoded length more than the payload can hold"
        );
        assert_eq!(
            corrupt_reason(&with(1, Filter::Raw.code())),
            "raw payload length differs from the decoded length"
        );
        // Claims one byte more or less than the stream holds.
        let len = ids.len() as u32;
        let mut longer = valid.clone();
        longer[4..8].copy_from_slice(&(len + 1).to_le_bytes());
        assert_eq!(
            corrupt_reason(&longer),
            "LZ4 payload decompresses to fewer bytes than claimed"
        );
        let mut shorter = valid.clone();
        shorter[4..8].copy_from_slice(&(len - 1).to_le_bytes());
        assert_eq!(
            corrupt_reason(&shorter),
            "LZ4 payload does not decompress to the length claimed"
        );
        assert_eq!(encoded_filter(&valid), Some(Filter::Shuffle));
        assert_eq!(encoded_filter(&with(1, 9)), None);
        assert_eq!(encoded_filter(&valid[..3]), None);
        // Filters that do not fit the kind are refused when encoding too.
        for (filter, kind) in [
            (Filter::Shuffle, BlockKind::Bytes),
            (Filter::DeltaShuffle, BlockKind::U64),
        ] {
            let refused = encode_with(filter, kind, &ids, &mut valid);
            assert!(matches!(
                refused,
                Err(CacheError::Config {
                    field: "filter",
                    ..
                })
            ));
        }
    }

    #[test]
    fn rows_of_targets_are_row_delta_packed() {
        let rows = csr_rows(4000, 40, 1 << 20, 3);
        let mut encoded = Vec::new();
        let filter = encode_block(BlockKind::SortedU32, &rows, &mut encoded);
        assert_eq!(filter, Filter::RowDeltaPacked);
        assert_decodes_to(&encoded, BlockKind::SortedU32, &rows);
        let mut delta_shuffled = Vec::new();
        encode_with(
            Filter::DeltaShuffle,
            BlockKind::SortedU32,
            &rows,
            &mut delta_shuffled,
        )
        .unwrap();
        assert!(encoded.len() < delta_shuffled.len());
        // Every width, 0 to 32 bits, in groups of one width each, and a
        // descending run (every id a row start).
        let mut ids: Vec<u32> = (0..=32u32)
            .flat_map(|w| {
                let step = if w == 0 { 0 } else { 1u32 << (w - 1) };
                (0..8).map(move |i| step.saturating_mul(i))
            })
            .collect();
        ids.extend((0..20).rev());
        ids.extend([u32::MAX, 0, u32::MAX]);
        let data: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
        encode_with(Filter::RowDeltaPacked, BlockKind::U32, &data, &mut encoded).unwrap();
        assert_decodes_to(&encoded, BlockKind::U32, &data);
    }

    #[test]
    fn corrupt_row_delta_payloads_are_refused() {
        // Two rows: steps 5 2 2 0 2, one row start (2), a 2-byte tail.
        let data: Vec<u8> = [5u32, 7, 9, 2, 4]
            .iter()
            .flat_map(|id| id.to_le_bytes())
            .chain([1, 2])
            .collect();
        let mut valid = Vec::new();
        encode_with(
            Filter::RowDeltaPacked,
            BlockKind::SortedU32,
            &data,
            &mut valid,
        )
        .unwrap();
        assert_decodes_to(&valid, BlockKind::SortedU32, &data);
        let header = &valid[..HEADER_LEN];
        let with_payload = |payload: &[u8]| [header, payload].concat();
        let payload = &valid[HEADER_LEN..];
        let with_starts = |starts: u32| {
            let mut payload = payload.to_vec();
            payload[..4].copy_from_slice(&starts.to_le_bytes());
            with_payload(&payload)
        };
        assert_eq!(
            corrupt_reason(&with_payload(&[1, 0])),
            "row-delta payload shorter than its row-start count"
        );
        assert_eq!(corrupt_reason(&with_starts(6)), "more row starts than ids");
        assert_eq!(
            corrupt_reason(&with_payload(&[0, 0, 0, 0, 1])),
            "row-delta payload shorter than its tail"
        );
        assert_eq!(
            corrupt_reason(&with_starts(2)),
            "row-delta steps mark a different number of row starts"
        );
        // The packed values cut short (the tail kept), or followed by more.
        let (packed, tail) = payload.split_at(payload.len() - 2);
        assert_eq!(
            corrupt_reason(&with_payload(&[&packed[..packed.len() - 1], tail].concat())),
            "row-delta payload ends inside its packed values"
        );
        assert_eq!(
            corrupt_reason(&with_payload(&[packed, &[0], tail].concat())),
            "row-delta payload longer than its packed values"
        );
    }

    /// Every single-byte flip and every truncation of small encodings of
    /// every kind and filter: an error or a block of the right length.
    #[test]
    fn flipped_and_truncated_encodings_never_panic() {
        let samples = [
            sorted_ids(40, 3, 9, 3),
            csr_rows(12, 9, 5000, 7),
            (0..90).map(|i| (i * 7) as u8).collect(),
        ];
        let mut encoded = Vec::new();
        let mut out = BlockBuf::new();
        for data in &samples {
            for kind in BlockKind::ALL {
                for filter in fitting(kind) {
                    encode_with(filter, kind, data, &mut encoded).unwrap();
                    for at in 0..encoded.len() {
                        for mask in [0x01, 0x10, 0x80, 0xFF] {
                            let mut bytes = encoded.clone();
                            bytes[at] ^= mask;
                            if decode_block(&bytes, &mut out).is_ok() {
                                assert_eq!(out.len(), data.len(), "{filter:?} {kind:?} at {at}");
                            }
                        }
                    }
                    for len in 0..encoded.len() {
                        assert!(decode_block(&encoded[..len], &mut out).is_err());
                        assert!(out.is_empty());
                    }
                    let mut longer = encoded.clone();
                    longer.push(0);
                    if decode_block(&longer, &mut out).is_ok() {
                        assert_eq!(out.len(), data.len());
                    }
                }
            }
        }
    }
}
