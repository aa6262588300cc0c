//! The file being written: each section streamed to its place, hashed
//! block by block as it goes.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

use super::super::file::io;
use super::super::format::{BLOCK_LEN, HEADER_LEN, Plan, flags};
use super::super::progress::{Phase, Progress, ProgressReport, check};
use super::super::{Section, StoreError};
use super::REPORT_EVERY;
use super::runs::{Run, Spill, merge};

/// Writes one section at its place in the file through a 1 MiB buffer,
/// hashing each full block as it goes.
struct SectionWriter<'f> {
    file: &'f File,
    path: &'f Path,
    at: u64,
    buf: Vec<u8>,
    blocks: Vec<u64>,
    len: u64,
}

impl<'f> SectionWriter<'f> {
    fn new(file: &'f File, path: &'f Path, at: u64) -> SectionWriter<'f> {
        SectionWriter {
            file,
            path,
            at,
            buf: Vec::with_capacity(BLOCK_LEN as usize),
            blocks: Vec::new(),
            len: 0,
        }
    }

    fn put(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            // Up to the end of the block: each flush is one whole block.
            let room = BLOCK_LEN as usize - self.buf.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.buf.extend_from_slice(now);
            if self.buf.len() == BLOCK_LEN as usize {
                self.flush()?;
            }
            bytes = later;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.blocks.push(xxh3_64(&self.buf));
        write_at(self.file, self.at + self.len, &self.buf).map_err(io(self.path))?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// The section's block checksums.
    fn finish(mut self) -> Result<Vec<u64>, StoreError> {
        self.flush()?;
        Ok(self.blocks)
    }
}

/// Writes `bytes` at `at` of `file`.
fn write_at(mut file: &File, at: u64, bytes: &[u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.write_all(bytes)
}

/// The file being written: the merges stream into its sections.
pub(super) struct Output<'a> {
    pub(super) file: &'a File,
    pub(super) path: &'a Path,
    pub(super) nodes: u64,
    pub(super) scale: Option<f32>,
    pub(super) progress: &'a mut dyn Progress,
    pub(super) raw_edges: u64,
}

impl Output<'_> {
    /// The sections of a file of `edges` edges, in order.
    fn sections(&self, edges: u64, id_map: bool) -> Vec<(Section, u64)> {
        let n = self.nodes;
        let mut all = vec![
            (Section::OutOffsets, (n + 1) * 8),
            (Section::OutTargets, edges * 4),
            (Section::OutWeights, edges * 4),
            (Section::InOffsets, (n + 1) * 8),
            (Section::InTargets, edges * 4),
            (Section::InWeights, edges * 4),
        ];
        if id_map {
            all.push((Section::IdMap, n * 8));
        }
        all
    }

    /// Writes the whole file; its edge count and length.
    ///
    /// The two directions merge at once, the in-edges on a second thread
    /// into temporary files (where they go depends on the edge count, which
    /// only the merges find), copied into place once both are done.
    pub(super) fn write(
        &mut self,
        spill: &Spill,
        id_map: Option<&[u64]>,
    ) -> Result<(u64, u64), StoreError> {
        let flags = if id_map.is_some() { flags::ID_MAP } else { 0 };
        // Where the out-edge offsets and targets go does not depend on
        // the edge count.
        let early = Plan::new(flags, self.nodes, 0, &self.sections(0, id_map.is_some()));
        let (o_at, t_at) = (early.entries()[0].offset, early.entries()[1].offset);
        let temp = |name: &str| -> Result<(File, PathBuf), StoreError> {
            let path = spill.dir.join(name);
            let file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(io(&path))?;
            Ok((file, path))
        };
        let out_weights = temp("out-weights")?;
        let inward = [
            temp("in-offsets")?,
            temp("in-targets")?,
            temp("in-weights")?,
        ];
        let (file, path, nodes, scale) = (self.file, self.path, self.nodes, self.scale);
        let total = Some(self.raw_edges * 2);
        let progress = &mut *self.progress;
        // Set by either merge when it fails, so the other stops too.
        let (out_failed, in_failed) = (AtomicBool::new(false), AtomicBool::new(false));
        let in_done = AtomicU64::new(0);
        let (out, inn) = std::thread::scope(|scope| {
            let in_merge = scope.spawn(|| {
                let writers = inward.each_ref().map(|(f, p)| SectionWriter::new(f, p, 0));
                let merged = direction(&spill.in_runs, writers, nodes, scale, &mut |count| {
                    in_done.store(count, Ordering::Relaxed);
                    if out_failed.load(Ordering::Relaxed) {
                        return Err(StoreError::Cancelled {
                            phase: Phase::Merge,
                        });
                    }
                    Ok(())
                });
                in_failed.store(merged.is_err(), Ordering::Relaxed);
                merged
            });
            let mut stopped_by_peer = false;
            let writers = [
                SectionWriter::new(file, path, o_at),
                SectionWriter::new(file, path, t_at),
                SectionWriter::new(&out_weights.0, &out_weights.1, 0),
            ];
            let out = direction(&spill.out_runs, writers, nodes, scale, &mut |count| {
                if in_failed.load(Ordering::Relaxed) {
                    stopped_by_peer = true;
                    return Err(StoreError::Cancelled {
                        phase: Phase::Merge,
                    });
                }
                let done = count + in_done.load(Ordering::Relaxed);
                check(
                    progress,
                    ProgressReport::new(Phase::Merge).items(done, total),
                )
            });
            out_failed.store(out.is_err(), Ordering::Relaxed);
            let inn = in_merge
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            match (&out, &inn) {
                // The in-edge merge's own error, not the stop it caused.
                (Err(_), Err(_)) if stopped_by_peer => (inn, out),
                _ => (out, inn),
            }
        });
        let ([out_o, out_t, out_w], edges) = out?;
        let ([in_o, in_t, in_w], in_edges) = inn?;
        // The total counted duplicates across runs: the merge ends here.
        let done =
            ProgressReport::new(Phase::Merge).items(edges + in_edges, Some(edges + in_edges));
        check(self.progress, done)?;
        if in_edges != edges {
            return Err(StoreError::Io {
                path: spill.dir.display().to_string(),
                kind: std::io::ErrorKind::InvalidData,
            });
        }
        let mut plan = Plan::new(
            flags,
            self.nodes,
            edges,
            &self.sections(edges, id_map.is_some()),
        );
        check(self.progress, ProgressReport::new(Phase::Write))?;
        let at = |i: usize| plan.entries()[i].offset;
        let len = |i: usize| plan.entries()[i].len;
        let temps = [
            (&out_weights, 2),
            (&inward[0], 3),
            (&inward[1], 4),
            (&inward[2], 5),
        ];
        for ((from, from_path), i) in temps {
            copy(from, from_path, file, path, at(i), len(i))?;
            let _ = fs::remove_file(from_path);
        }
        let mut sums = vec![out_o, out_t, out_w, in_o, in_t, in_w];
        if let Some(ids) = id_map {
            let mut w = SectionWriter::new(file, path, at(6));
            for chunk in ids.chunks(BLOCK_LEN as usize / 8) {
                w.put(bytemuck::cast_slice(chunk))?;
            }
            sums.push(w.finish()?);
        }
        let blocks: Vec<u64> = sums.concat();
        let last = plan.entries().last().expect("the block checksums").offset;
        write_at(file, last, bytemuck::cast_slice(&blocks)).map_err(io(path))?;
        let header = plan.seal(&blocks);
        debug_assert_eq!(header.len(), HEADER_LEN);
        write_at(file, 0, &header).map_err(io(path))?;
        file.set_len(plan.file_len()).map_err(io(path))?;
        Ok((edges, plan.file_len()))
    }
}

/// Merges one direction's runs into its offsets, targets and weights
/// writers (weights divided by `scale`, if any); their block checksums,
/// and the edge count. `report` sees the edges merged so far, every
/// [`REPORT_EVERY`], and may stop the merge with its error.
fn direction(
    runs: &[Run],
    [mut offsets, mut targets, mut weights]: [SectionWriter<'_>; 3],
    nodes: u64,
    scale: Option<f32>,
    report: &mut dyn FnMut(u64) -> Result<(), StoreError>,
) -> Result<([Vec<u64>; 3], u64), StoreError> {
    let mut count = 0u64;
    // Offsets written: those of rows `0..=row`.
    let mut row = 0u64;
    offsets.put(&0u64.to_le_bytes())?;
    merge(runs, &mut |key, w| {
        let (src, dst) = ((key >> 32), key as u32);
        while row < src {
            offsets.put(&count.to_le_bytes())?;
            row += 1;
        }
        // Not zero: `finish` refused an underflow of the smallest weight.
        let w = match scale {
            Some(max) => w / max,
            None => w,
        };
        targets.put(&dst.to_le_bytes())?;
        weights.put(&w.to_le_bytes())?;
        count += 1;
        if count.is_multiple_of(REPORT_EVERY) {
            report(count)?;
        }
        Ok(())
    })?;
    while row < nodes {
        offsets.put(&count.to_le_bytes())?;
        row += 1;
    }
    Ok((
        [offsets.finish()?, targets.finish()?, weights.finish()?],
        count,
    ))
}

/// Copies the first `total` bytes of `from` to `at` of `to` (inside the
/// kernel where it can: `std::io::copy` uses `copy_file_range` on Linux).
fn copy(
    mut from: &File,
    from_path: &Path,
    mut to: &File,
    to_path: &Path,
    at: u64,
    total: u64,
) -> Result<(), StoreError> {
    from.seek(SeekFrom::Start(0)).map_err(io(from_path))?;
    to.seek(SeekFrom::Start(at)).map_err(io(to_path))?;
    let copied = std::io::copy(&mut from.take(total), &mut to).map_err(io(to_path))?;
    if copied != total {
        return Err(StoreError::Io {
            path: from_path.display().to_string(),
            kind: std::io::ErrorKind::UnexpectedEof,
        });
    }
    Ok(())
}
