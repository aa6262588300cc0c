//! Sorted runs: the buffer sorted and spilled, LZ4-compressed frames on
//! disk, and their k-way merge.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

use super::super::StoreError;
use super::super::file::io;
use super::super::progress::{Phase, Progress, ProgressReport, check};
use crate::graph::Permutation;

/// One edge in the sort buffer: `src << 32 | dst` (or swapped, for the
/// in-edge runs), so a sort by key is a sort by row then column.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rec {
    pub(super) key: u64,
    pub(super) weight: f32,
}

/// Bytes a buffered edge takes.
pub(super) const REC_BYTES: usize = core::mem::size_of::<Rec>();
/// Edges per compressed frame of a run.
const FRAME_EDGES: usize = 16 << 10;
/// Bytes of a frame's raw form at most: key deltas as LEB128 varints (at
/// most 10 bytes each), then weights.
const FRAME_RAW: usize = FRAME_EDGES * 14;
/// Bytes of a frame's head: edge count, varint bytes, compressed bytes
/// (`u32` each), xxh3 of the raw frame (`u64`).
const HEAD: usize = 20;
/// Memory a run being merged holds: its frame raw and compressed, the
/// decoded keys and weights, the read buffer.
pub(super) const MERGE_BYTES_PER_RUN: usize = 3 * FRAME_RAW + READ_BUF;
/// Read buffer of a run being merged.
const READ_BUF: usize = 64 << 10;

pub(super) fn key(src: u32, dst: u32) -> u64 {
    u64::from(src) << 32 | u64::from(dst)
}

/// Bits of one radix-sort digit.
const DIGIT_BITS: u32 = 11;

/// Sorts `recs` by key: least significant digit first, over the bits in
/// which keys differ (11-bit digits within each 32-bit half: two passes a
/// half for node ids below 2^22), each pass a stable scatter into `scratch`
/// (grown to `recs`' length, kept for the next run). Several times
/// pdqsort's speed on runs of millions of edges, for the memory of a
/// second buffer.
fn radix_sort(recs: &mut Vec<Rec>, scratch: &mut Vec<Rec>) {
    if recs.len() < 1024 {
        recs.sort_unstable_by_key(|r| r.key);
        return;
    }
    scratch.resize(
        recs.len(),
        Rec {
            key: 0,
            weight: 0.0,
        },
    );
    for shift in digit_shifts(varying_bits(recs), &[0, 32]) {
        scatter(recs, scratch, shift, |key| key);
        core::mem::swap(recs, scratch);
    }
}

/// The bits in which the keys of `recs` differ.
fn varying_bits(recs: &[Rec]) -> u64 {
    let (any, all) = recs
        .iter()
        .fold((0u64, !0u64), |(any, all), r| (any | r.key, all & r.key));
    any ^ all
}

/// The shifts of the digits that cover the `varying` bits of the 32-bit
/// halves starting at `halves`, least significant first.
fn digit_shifts(varying: u64, halves: &[u32]) -> Vec<u32> {
    let mut shifts = Vec::with_capacity(6);
    for &half in halves {
        let bits = (varying >> half) as u32;
        let (mut low, high) = (bits.trailing_zeros(), 32 - bits.leading_zeros());
        while low < high {
            shifts.push(half + low);
            low += DIGIT_BITS;
        }
    }
    shifts
}

/// One stable pass of the radix sort: `from` into `to` (as long) by the
/// digit at `shift` of each record's key mapped by `map`, stored mapped.
fn scatter(from: &[Rec], to: &mut [Rec], shift: u32, map: impl Fn(u64) -> u64) {
    let digit = |key: u64| (map(key) >> shift) as usize & ((1 << DIGIT_BITS) - 1);
    let mut slots = [0usize; 1 << DIGIT_BITS];
    for r in from {
        slots[digit(r.key)] += 1;
    }
    let mut next = 0;
    for slot in slots.iter_mut() {
        (*slot, next) = (next, next + *slot);
    }
    for r in from {
        let slot = &mut slots[digit(r.key)];
        to[*slot] = Rec {
            key: map(r.key),
            weight: r.weight,
        };
        *slot += 1;
    }
}

/// Merges runs of equal keys of a sorted buffer into their first, keeping
/// the largest weight.
fn merge_duplicates(buffer: &mut Vec<Rec>) {
    let mut write = 0;
    for read in 0..buffer.len() {
        let r = buffer[read];
        if write > 0 && buffer[write - 1].key == r.key {
            buffer[write - 1].weight = buffer[write - 1].weight.max(r.weight);
        } else {
            buffer[write] = r;
            write += 1;
        }
    }
    buffer.truncate(write);
}

/// The temporary directory of one build and the runs in it; removed
/// with everything in it when dropped.
#[derive(Debug)]
pub(super) struct Spill {
    pub(super) dir: PathBuf,
    pub(super) out_runs: Vec<Run>,
    pub(super) in_runs: Vec<Run>,
    files: u64,
    pub(super) bytes: u64,
    /// The radix sort's second buffer, as large as the sort buffer.
    scratch: Vec<Rec>,
}

/// A sorted run on disk.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) path: PathBuf,
    pub(super) edges: u64,
}

impl Spill {
    pub(super) fn new(parent: &Path) -> Result<Spill, StoreError> {
        static BUILDS: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(parent).map_err(io(parent))?;
        // A name no other build holds: `create_dir` fails on one that
        // exists (two processes of the same pid in two containers, say).
        let dir = loop {
            let n = BUILDS.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!(".axonal-build-{}-{n}", std::process::id()));
            match fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&dir)(e)),
            }
        };
        Ok(Spill {
            dir,
            out_runs: Vec::new(),
            in_runs: Vec::new(),
            files: 0,
            bytes: 0,
            scratch: Vec::new(),
        })
    }

    pub(super) fn run_writer(&mut self) -> Result<RunWriter, StoreError> {
        let path = self.dir.join(format!("run-{}", self.files));
        self.files += 1;
        let file = File::create(&path).map_err(io(&path))?;
        Ok(RunWriter {
            out: BufWriter::with_capacity(READ_BUF, file),
            path,
            keys: Vec::with_capacity(FRAME_EDGES),
            weights: Vec::with_capacity(FRAME_EDGES),
            raw: Vec::with_capacity(FRAME_RAW),
            packed: vec![0; lz4_flex::block::get_maximum_output_size(FRAME_RAW)],
            edges: 0,
            bytes: 0,
        })
    }

    /// Sorts `buffer` by key, merges its duplicates and spills it as an
    /// out-edge run, then by the swapped key as an in-edge run; empties it.
    pub(super) fn sort_and_spill(&mut self, buffer: &mut Vec<Rec>) -> Result<(), StoreError> {
        radix_sort(buffer, &mut self.scratch);
        merge_duplicates(buffer);
        // The same edges by (target, source): sorted by source as they are,
        // a stable sort by target alone gives that order, in the passes of
        // the target's digits only. The first reads the buffer while a
        // second thread writes the out-edge run from it.
        let shifts = digit_shifts(varying_bits(buffer).rotate_left(32), &[32]);
        let transposed = |key: u64| key.rotate_left(32);
        let mut out = self.run_writer()?;
        let scratch = &mut self.scratch;
        scratch.resize(
            buffer.len(),
            Rec {
                key: 0,
                weight: 0.0,
            },
        );
        let edges: &[Rec] = buffer;
        let written = std::thread::scope(|scope| {
            let writing = scope.spawn(move || {
                edges
                    .iter()
                    .try_for_each(|r| out.push(r.key, r.weight))
                    .map(|()| out)
            });
            match shifts.first() {
                Some(&shift) => scatter(edges, scratch, shift, transposed),
                None => scratch.iter_mut().zip(edges).for_each(|(to, r)| {
                    *to = Rec {
                        key: transposed(r.key),
                        ..*r
                    }
                }),
            }
            writing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        let run = written?.finish(&mut self.bytes)?;
        self.out_runs.push(run);
        core::mem::swap(buffer, &mut self.scratch);
        for &shift in shifts.iter().skip(1) {
            scatter(buffer, &mut self.scratch, shift, |key| key);
            core::mem::swap(buffer, &mut self.scratch);
        }
        let run = self.write_run(buffer)?;
        self.in_runs.push(run);
        buffer.clear();
        Ok(())
    }

    /// Frees the radix sort's second buffer (once no run is left to sort).
    pub(super) fn free_scratch(&mut self) {
        self.scratch = Vec::new();
    }

    /// Merges runs `fan_in` at a time until each direction has at most
    /// `fan_in` (the merges' open files and read buffers).
    pub(super) fn reduce_runs(
        &mut self,
        fan_in: usize,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        for inward in [false, true] {
            while self.runs(inward).len() > fan_in {
                check(progress, ProgressReport::new(Phase::Merge))?;
                let group: Vec<Run> = self.runs(inward).drain(..fan_in).collect();
                let mut merged = self.run_writer()?;
                merge(&group, &mut |key, weight| merged.push(key, weight))?;
                let run = merged.finish(&mut self.bytes)?;
                self.runs(inward).push(run);
                for run in group {
                    let _ = fs::remove_file(&run.path);
                }
            }
        }
        Ok(())
    }

    fn runs(&mut self, inward: bool) -> &mut Vec<Run> {
        if inward {
            &mut self.in_runs
        } else {
            &mut self.out_runs
        }
    }

    /// Renumbers the nodes of the spilled edges by `perm` (old to new):
    /// the edges are merged from the out-edge runs, renamed, and sorted
    /// into new runs through a buffer of `capacity` edges; the old runs are
    /// removed.
    pub(super) fn renumber(
        &mut self,
        perm: &Permutation,
        capacity: usize,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let old_out = core::mem::take(&mut self.out_runs);
        for run in core::mem::take(&mut self.in_runs) {
            let _ = fs::remove_file(&run.path);
        }
        let mut buffer: Vec<Rec> = Vec::with_capacity(capacity);
        let new = perm.old_to_new();
        merge(&old_out, &mut |k, weight| {
            let (src, dst) = ((k >> 32) as usize, k as u32 as usize);
            buffer.push(Rec {
                key: key(new[src], new[dst]),
                weight,
            });
            if buffer.len() == capacity {
                check(progress, ProgressReport::new(Phase::Sort))?;
                self.sort_and_spill(&mut buffer)?;
            }
            Ok(())
        })?;
        self.sort_and_spill(&mut buffer)?;
        for run in old_out {
            let _ = fs::remove_file(&run.path);
        }
        Ok(())
    }

    /// Each node's total degree (out + in) in the spilled edges.
    pub(super) fn degrees(&self, nodes: u32) -> Result<Vec<u32>, StoreError> {
        let mut degree = vec![0u32; nodes as usize];
        // Out-edge runs are keyed by source, in-edge runs by target.
        for runs in [&self.out_runs, &self.in_runs] {
            merge(runs, &mut |k, _| {
                degree[(k >> 32) as usize] += 1;
                Ok(())
            })?;
        }
        Ok(degree)
    }

    /// Writes a sorted, merged buffer as a run.
    pub(super) fn write_run(&mut self, buffer: &[Rec]) -> Result<Run, StoreError> {
        let mut w = self.run_writer()?;
        for r in buffer {
            w.push(r.key, r.weight)?;
        }
        w.finish(&mut self.bytes)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Writes a run: frames of up to [`FRAME_EDGES`] edges, each a head of
/// [`HEAD`] bytes (edge count, bytes of the key deltas as LEB128 varints,
/// bytes of their LZ4 block, as `u32`; xxh3 of the varints followed by the
/// weights, `u64`; little-endian), the LZ4 block of the varints, then the
/// weights as `f32`.
pub(super) struct RunWriter {
    out: BufWriter<File>,
    path: PathBuf,
    keys: Vec<u64>,
    weights: Vec<f32>,
    raw: Vec<u8>,
    packed: Vec<u8>,
    edges: u64,
    bytes: u64,
}

impl RunWriter {
    pub(super) fn push(&mut self, key: u64, weight: f32) -> Result<(), StoreError> {
        self.keys.push(key);
        self.weights.push(weight);
        if self.keys.len() == FRAME_EDGES {
            self.frame()?;
        }
        Ok(())
    }

    fn frame(&mut self) -> Result<(), StoreError> {
        if self.keys.is_empty() {
            return Ok(());
        }
        self.raw.clear();
        let mut prev = 0u64;
        for &k in &self.keys {
            put_varint(&mut self.raw, k.wrapping_sub(prev));
            prev = k;
        }
        let varints = self.raw.len();
        for &w in &self.weights {
            self.raw.extend_from_slice(&w.to_le_bytes());
        }
        // Weights are noise to LZ4: only the key deltas are compressed.
        let len = lz4_flex::block::compress_into(&self.raw[..varints], &mut self.packed)
            .expect("the output holds the worst case");
        let mut head = [0u8; HEAD];
        head[..4].copy_from_slice(&(self.keys.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&(varints as u32).to_le_bytes());
        head[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        head[12..].copy_from_slice(&xxh3_64(&self.raw).to_le_bytes());
        self.out
            .write_all(&head)
            .and_then(|()| self.out.write_all(&self.packed[..len]))
            .and_then(|()| self.out.write_all(&self.raw[varints..]))
            .map_err(io(&self.path))?;
        self.edges += self.keys.len() as u64;
        self.bytes += (HEAD + len + self.raw.len() - varints) as u64;
        self.keys.clear();
        self.weights.clear();
        Ok(())
    }

    /// Flushes the run, adding its bytes to `bytes`.
    pub(super) fn finish(mut self, bytes: &mut u64) -> Result<Run, StoreError> {
        self.frame()?;
        self.out.flush().map_err(io(&self.path))?;
        *bytes += self.bytes;
        Ok(Run {
            path: self.path,
            edges: self.edges,
        })
    }
}

/// Reads a run back, frame by frame.
struct RunReader<'r> {
    input: BufReader<File>,
    path: &'r Path,
    packed: Vec<u8>,
    raw: Vec<u8>,
    keys: Vec<u64>,
    weights: Vec<f32>,
    at: usize,
    /// Edges the run holds, and those decoded so far: a run that ends
    /// early (a truncated file) is corrupt, not short.
    edges: u64,
    decoded: u64,
}

impl<'r> RunReader<'r> {
    fn open(run: &'r Run) -> Result<RunReader<'r>, StoreError> {
        let file = File::open(&run.path).map_err(io(&run.path))?;
        Ok(RunReader {
            input: BufReader::with_capacity(READ_BUF, file),
            path: &run.path,
            packed: Vec::new(),
            raw: vec![0; FRAME_RAW],
            keys: Vec::with_capacity(FRAME_EDGES),
            weights: Vec::with_capacity(FRAME_EDGES),
            at: 0,
            edges: run.edges,
            decoded: 0,
        })
    }

    /// The next edge, `None` at the end of the run.
    fn next(&mut self) -> Result<Option<(u64, f32)>, StoreError> {
        if self.at == self.keys.len() && !self.frame()? {
            return Ok(None);
        }
        let edge = (self.keys[self.at], self.weights[self.at]);
        self.at += 1;
        Ok(Some(edge))
    }

    /// Decodes the next frame; `false` at the end of the run.
    fn frame(&mut self) -> Result<bool, StoreError> {
        let corrupt = || StoreError::Io {
            path: self.path.display().to_string(),
            kind: std::io::ErrorKind::InvalidData,
        };
        if self.decoded == self.edges {
            return Ok(false);
        }
        let mut head = [0u8; HEAD];
        match self.input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(corrupt()),
            Err(e) => return Err(io(self.path)(e)),
        }
        let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4")) as usize;
        let (count, varints, len) = (word(0), word(4), word(8));
        let sum = u64::from_le_bytes(head[12..].try_into().expect("8"));
        if count == 0
            || count > FRAME_EDGES
            || varints > 10 * count
            || len > lz4_flex::block::get_maximum_output_size(10 * FRAME_EDGES)
        {
            return Err(corrupt());
        }
        self.packed.resize(len, 0);
        let raw = &mut self.raw[..varints + 4 * count];
        self.input
            .read_exact(&mut self.packed)
            .and_then(|()| self.input.read_exact(&mut raw[varints..]))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => corrupt(),
                _ => io(self.path)(e),
            })?;
        let decoded = lz4_flex::block::decompress_into(&self.packed, &mut raw[..varints]);
        if decoded.ok() != Some(varints) || xxh3_64(raw) != sum {
            return Err(corrupt());
        }
        let (deltas, weights) = raw.split_at(varints);
        self.keys.clear();
        let (mut key, mut at) = (0u64, 0);
        while at < deltas.len() {
            let (delta, used) = varint(&deltas[at..]).ok_or_else(corrupt)?;
            key = key.wrapping_add(delta);
            self.keys.push(key);
            at += used;
        }
        self.decoded += count as u64;
        if self.keys.len() != count || self.decoded > self.edges {
            return Err(corrupt());
        }
        self.weights.clear();
        self.weights.extend(
            weights
                .chunks_exact(4)
                .map(|w| f32::from_le_bytes(w.try_into().expect("4"))),
        );
        self.at = 0;
        Ok(true)
    }
}

/// Appends `v` as an LEB128 varint (7 bits a byte, low first).
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The LEB128 varint at the start of `bytes` and the bytes it takes;
/// `None` if it is cut short or longer than a `u64`.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Merges sorted runs into one sorted stream without duplicates (the
/// largest weight of equal keys), handed to `emit` in key order.
pub(super) fn merge(
    runs: &[Run],
    emit: &mut dyn FnMut(u64, f32) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use core::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::collections::binary_heap::PeekMut;
    let mut readers = runs
        .iter()
        .map(RunReader::open)
        .collect::<Result<Vec<_>, _>>()?;
    let mut weights = vec![0f32; readers.len()];
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some((key, w)) = r.next()? {
            weights[i] = w;
            heap.push(Reverse((key, i)));
        }
    }
    let mut pending: Option<(u64, f32)> = None;
    while let Some(mut top) = heap.peek_mut() {
        let Reverse((key, i)) = *top;
        let w = weights[i];
        // The run's next edge replaces it in place: one sift, not two.
        match readers[i].next()? {
            Some((next, nw)) => {
                weights[i] = nw;
                *top = Reverse((next, i));
            }
            None => drop(PeekMut::pop(top)),
        }
        pending = match pending {
            Some((k, pw)) if k == key => Some((k, pw.max(w))),
            Some((k, pw)) => {
                emit(k, pw)?;
                Some((key, w))
            }
            None => Some((key, w)),
        };
    }
    if let Some((k, w)) = pending {
        emit(k, w)?;
    }
    Ok(())
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_and_a_flipped_byte_is_caught() {
        let parent = std::env::temp_dir();
        let mut spill = Spill::new(&parent).unwrap();
        let recs: Vec<Rec> = (0..40_000u64)
            .map(|i| Rec {
                key: i * 3 + (i % 7),
                weight: (i % 100 + 1) as f32 / 100.0,
            })
            .collect();
        let run = spill.write_run(&recs).unwrap();
        assert_eq!(run.edges, recs.len() as u64);
        let mut back = Vec::new();
        merge(core::slice::from_ref(&run), &mut |k, w| {
            back.push((k, w));
            Ok(())
        })
        .unwrap();
        assert!(
            back.iter()
                .zip(&recs)
                .all(|(&(k, w), r)| k == r.key && w == r.weight)
        );
        assert_eq!(back.len(), recs.len());

        let mut bytes = fs::read(&run.path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        fs::write(&run.path, &bytes).unwrap();
        let err = merge(core::slice::from_ref(&run), &mut |_, _| Ok(())).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Io {
                    kind: std::io::ErrorKind::InvalidData,
                    ..
                }
            ),
            "{err}"
        );
        // Cut short, inside a frame and at the end of one (the run's edge
        // count): corrupt, never a shorter run.
        let frame_end =
            HEAD + u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize + 4 * FRAME_EDGES;
        for cut in [bytes.len() / 3, frame_end] {
            fs::write(&run.path, &bytes[..cut]).unwrap();
            let err = merge(core::slice::from_ref(&run), &mut |_, _| Ok(())).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::Io {
                        kind: std::io::ErrorKind::InvalidData,
                        ..
                    }
                ),
                "cut at {cut}: {err}"
            );
        }
        let dir = spill.dir.clone();
        drop(spill);
        assert!(!dir.exists());
    }

    #[test]
    fn the_radix_sort_sorts_as_the_comparison_sort_does() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for (n, mask) in [
            (10, !0),
            (5_000, 0xFF_FFFF_0000_00FF),
            (20_000, !0),
            (3_000, 0),
        ] {
            let mut recs: Vec<Rec> = (0..n)
                .map(|i| Rec {
                    key: rng.next_u64() & mask,
                    weight: i as f32,
                })
                .collect();
            let mut want = recs.clone();
            // Stable, as the radix sort is: equal keys keep their order.
            want.sort_by_key(|r| r.key);
            radix_sort(&mut recs, &mut Vec::new());
            let bits = |v: &[Rec]| {
                v.iter()
                    .map(|r| (r.key, r.weight.to_bits()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&recs), bits(&want), "{n} keys, mask {mask:x}");
        }
    }

    #[test]
    fn duplicates_merge_to_the_largest_weight() {
        let mut b = vec![
            Rec {
                key: 1,
                weight: 0.5,
            },
            Rec {
                key: 1,
                weight: 0.75,
            },
            Rec {
                key: 2,
                weight: 0.25,
            },
            Rec {
                key: 2,
                weight: 0.125,
            },
            Rec {
                key: 3,
                weight: 1.0,
            },
        ];
        merge_duplicates(&mut b);
        let got: Vec<(u64, f32)> = b.iter().map(|r| (r.key, r.weight)).collect();
        assert_eq!(got, [(1, 0.75), (2, 0.25), (3, 1.0)]);
    }
}
