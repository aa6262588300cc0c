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
/// Bytes of a frame's raw form: key deltas, then weights.
const FRAME_RAW: usize = FRAME_EDGES * 12;
/// Memory a run being merged holds: its frame raw and compressed, the
/// decoded keys and weights, the read buffer.
pub(super) const MERGE_BYTES_PER_RUN: usize = 3 * FRAME_RAW + READ_BUF;
/// Read buffer of a run being merged.
const READ_BUF: usize = 64 << 10;

pub(super) fn key(src: u32, dst: u32) -> u64 {
    u64::from(src) << 32 | u64::from(dst)
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
        let n = BUILDS.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!(".axonal-build-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Spill {
            dir,
            out_runs: Vec::new(),
            in_runs: Vec::new(),
            files: 0,
            bytes: 0,
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
        buffer.sort_unstable_by_key(|r| r.key);
        merge_duplicates(buffer);
        let run = self.write_run(buffer)?;
        self.out_runs.push(run);
        for r in buffer.iter_mut() {
            r.key = r.key.rotate_left(32);
        }
        buffer.sort_unstable_by_key(|r| r.key);
        let run = self.write_run(buffer)?;
        self.in_runs.push(run);
        buffer.clear();
        Ok(())
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

/// Writes a run: frames of up to [`FRAME_EDGES`] edges, each `u32` edge
/// count, `u32` compressed length, `u64` xxh3 of the raw frame, then the
/// LZ4 block of the raw frame (key deltas as `u64`, then weights as `f32`,
/// little-endian).
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
            self.raw
                .extend_from_slice(&k.wrapping_sub(prev).to_le_bytes());
            prev = k;
        }
        for &w in &self.weights {
            self.raw.extend_from_slice(&w.to_le_bytes());
        }
        let len = lz4_flex::block::compress_into(&self.raw, &mut self.packed)
            .expect("the output holds the worst case");
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&(self.keys.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        head[8..].copy_from_slice(&xxh3_64(&self.raw).to_le_bytes());
        self.out
            .write_all(&head)
            .and_then(|()| self.out.write_all(&self.packed[..len]))
            .map_err(io(&self.path))?;
        self.edges += self.keys.len() as u64;
        self.bytes += (head.len() + len) as u64;
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
        let mut head = [0u8; 16];
        match self.input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(io(self.path)(e)),
        }
        let count = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
        let len = u32::from_le_bytes(head[4..8].try_into().expect("4")) as usize;
        let sum = u64::from_le_bytes(head[8..].try_into().expect("8"));
        if count == 0
            || count > FRAME_EDGES
            || len > lz4_flex::block::get_maximum_output_size(FRAME_RAW)
        {
            return Err(corrupt());
        }
        self.packed.resize(len, 0);
        self.input
            .read_exact(&mut self.packed)
            .map_err(io(self.path))?;
        let raw = &mut self.raw[..count * 12];
        let decoded = lz4_flex::block::decompress_into(&self.packed, raw);
        if decoded.ok() != Some(count * 12) || xxh3_64(raw) != sum {
            return Err(corrupt());
        }
        let (deltas, weights) = raw.split_at(count * 8);
        self.keys.clear();
        let mut key = 0u64;
        for d in deltas.chunks_exact(8) {
            key = key.wrapping_add(u64::from_le_bytes(d.try_into().expect("8")));
            self.keys.push(key);
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

/// Merges sorted runs into one sorted stream without duplicates (the
/// largest weight of equal keys), handed to `emit` in key order.
pub(super) fn merge(
    runs: &[Run],
    emit: &mut dyn FnMut(u64, f32) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use core::cmp::Reverse;
    use std::collections::BinaryHeap;
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
    while let Some(Reverse((key, i))) = heap.pop() {
        let w = weights[i];
        pending = match pending {
            Some((k, pw)) if k == key => Some((k, pw.max(w))),
            Some((k, pw)) => {
                emit(k, pw)?;
                Some((key, w))
            }
            None => Some((key, w)),
        };
        if let Some((next, nw)) = readers[i].next()? {
            weights[i] = nw;
            heap.push(Reverse((next, i)));
        }
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
        let dir = spill.dir.clone();
        drop(spill);
        assert!(!dir.exists());
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
