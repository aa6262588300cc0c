//! Verification block by block: every 1 MiB block of every section is one
//! unit of work, hashed and (for the CSR sections) its contents checked while
//! it is in cache, reported to the caller's [`Progress`], and, with `std` on
//! a large file, shared among all cores.
//!
//! Why this shape: verifying is bound by reading the bytes once, and a block
//! read for hashing is still in cache for the structure checks, so each
//! byte comes from memory once. The units only compute (hashes, whether a
//! check held); what the file's error is, is decided afterwards, in file
//! order, by [`AxgFile::verify_with`](super::AxgFile::verify_with), the
//! same code for one thread or many: a file gets exactly the error it gets
//! sequentially, whichever thread found it.

use alloc::vec::Vec;
use core::ops::Range;

use xxhash_rust::xxh3::xxh3_64;

use super::StoreError;
use super::format::{BLOCK_LEN, Entry, Section};
use super::progress::{self, Phase, Progress, ProgressReport};
use crate::graph::validate;

/// Bytes below which verification stays on the calling thread (starting
/// threads costs more than it saves).
#[cfg(feature = "std")]
const PARALLEL_FROM: u64 = 8 << 20;

/// What to check in each block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks {
    /// The CSR sections' contents (offsets, targets, weights).
    pub(crate) contents: bool,
    /// Every block's hash.
    pub(crate) hashes: bool,
}

/// One block of one section.
#[derive(Debug, Clone)]
struct Unit {
    section: Section,
    /// The block's bytes in the file.
    bytes: Range<usize>,
    /// Whether it is its section's first block.
    first: bool,
}

/// What the units found.
#[derive(Debug)]
pub(crate) struct Found {
    /// Whether every block's contents passed (true if not checked).
    pub(crate) contents_ok: bool,
    /// Each block's hash, in table order, block by block (empty if not
    /// hashed).
    pub(crate) hashes: Vec<u64>,
}

/// Checks every block of `entries` (the block-checksum table excepted) in
/// `bytes`, on `threads` threads (`None`: [`threads_for`] the work),
/// reporting [`Phase::Verify`] to `progress` as blocks are done.
pub(crate) fn check_blocks(
    bytes: &[u8],
    entries: &[Entry],
    node_count: u64,
    checks: Checks,
    progress: &mut dyn Progress,
    threads: Option<usize>,
) -> Result<Found, StoreError> {
    let units = units(entries, checks);
    let threads = threads.unwrap_or_else(|| threads_for(&units));
    let run = |u: &Unit| run(bytes, u, node_count, checks);
    let outcomes = run_all(&units, &run, progress, threads)?;
    Ok(Found {
        contents_ok: outcomes.iter().all(|o| o.contents_ok),
        hashes: if checks.hashes {
            outcomes.iter().map(|o| o.hash).collect()
        } else {
            Vec::new()
        },
    })
}

/// How many threads to run `units` on: one for fewer bytes than
/// [`PARALLEL_FROM`] and without `std`, else every core.
fn threads_for(units: &[Unit]) -> usize {
    #[cfg(feature = "std")]
    if units.iter().map(|u| u.bytes.len() as u64).sum::<u64>() >= PARALLEL_FROM {
        return std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    let _ = units;
    1
}

/// The units with work, in table order.
fn units(entries: &[Entry], checks: Checks) -> Vec<Unit> {
    let mut units = Vec::new();
    for e in entries {
        let contents = checks.contents && is_csr(e.section);
        if e.section == Section::BlockChecksums || !(contents || checks.hashes) {
            continue;
        }
        let (start, end) = (e.offset as usize, (e.offset + e.len) as usize);
        for (b, at) in (start..end).step_by(BLOCK_LEN as usize).enumerate() {
            units.push(Unit {
                section: e.section,
                bytes: at..end.min(at + BLOCK_LEN as usize),
                first: b == 0,
            });
        }
    }
    units
}

fn is_csr(section: Section) -> bool {
    matches!(
        section,
        Section::OutOffsets
            | Section::OutTargets
            | Section::OutWeights
            | Section::InOffsets
            | Section::InTargets
            | Section::InWeights
    )
}

/// What one unit found.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    hash: u64,
    contents_ok: bool,
}

fn run(bytes: &[u8], unit: &Unit, node_count: u64, checks: Checks) -> Outcome {
    let block = &bytes[unit.bytes.clone()];
    // The sections' alignment was checked before (the structure check's
    // `slice`s); unaligned bytes fail the casts and so the check.
    let contents_ok = !checks.contents
        || match unit.section {
            Section::OutOffsets | Section::InOffsets => {
                // From the previous block's last offset: the parts overlap
                // by one element.
                let from = if unit.first {
                    unit.bytes.start
                } else {
                    unit.bytes.start - 8
                };
                bytemuck::try_cast_slice(&bytes[from..unit.bytes.end])
                    .is_ok_and(validate::non_decreasing)
            }
            Section::OutTargets | Section::InTargets => bytemuck::try_cast_slice(block)
                .is_ok_and(|t| validate::targets_below(t, node_count)),
            Section::OutWeights | Section::InWeights => {
                bytemuck::try_cast_slice(block).is_ok_and(validate::weights_valid)
            }
            _ => true,
        };
    Outcome {
        hash: if checks.hashes { xxh3_64(block) } else { 0 },
        contents_ok,
    }
}

/// Runs every unit, on this thread or shared among `threads`, and returns
/// their outcomes in order; reports after each unit this thread runs, and
/// once at the end.
fn run_all(
    units: &[Unit],
    run: &(dyn Fn(&Unit) -> Outcome + Sync),
    progress: &mut dyn Progress,
    threads: usize,
) -> Result<Vec<Outcome>, StoreError> {
    let total = Totals {
        units: units.len() as u64,
        bytes: units.iter().map(|u| u.bytes.len() as u64).sum(),
    };
    total.report(progress, 0, 0)?;
    #[cfg(feature = "std")]
    if threads > 1 && units.len() > 1 {
        return run_parallel(units, run, progress, threads.min(units.len()), total);
    }
    let _ = threads;
    let mut outcomes = Vec::with_capacity(units.len());
    let mut bytes = 0;
    for u in units {
        outcomes.push(run(u));
        bytes += u.bytes.len() as u64;
        total.report(progress, outcomes.len() as u64, bytes)?;
    }
    Ok(outcomes)
}

/// The units and bytes of a verification.
#[derive(Debug, Clone, Copy)]
struct Totals {
    units: u64,
    bytes: u64,
}

impl Totals {
    fn report(
        &self,
        progress: &mut dyn Progress,
        units: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        progress::check(
            progress,
            ProgressReport::new(Phase::Verify)
                .items(units, Some(self.units))
                .bytes(bytes, Some(self.bytes)),
        )
    }
}

/// [`run_all`] on `threads` threads (this one and `threads - 1` scoped
/// ones), taking units in order from a shared counter; this thread reports
/// the progress of all (the observer need not be `Send`), and a
/// cancellation stops every thread at its next unit.
#[cfg(feature = "std")]
fn run_parallel(
    units: &[Unit],
    run: &(dyn Fn(&Unit) -> Outcome + Sync),
    progress: &mut dyn Progress,
    threads: usize,
    total: Totals,
) -> Result<Vec<Outcome>, StoreError> {
    use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

    let next = AtomicUsize::new(0);
    let (units_done, bytes_done) = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    // Runs units until none is left or `stop`; calls `after` after each.
    let work = |after: &mut dyn FnMut() -> bool| {
        let mut mine = Vec::new();
        while !stop.load(Relaxed) {
            let i = next.fetch_add(1, Relaxed);
            let Some(u) = units.get(i) else { break };
            mine.push((i, run(u)));
            bytes_done.fetch_add(u.bytes.len() as u64, Relaxed);
            units_done.fetch_add(1, Relaxed);
            if !after() {
                stop.store(true, Relaxed);
            }
        }
        mine
    };
    let mut cancelled = None;
    let mut outcomes = alloc::vec![Outcome::default(); units.len()];
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| s.spawn(|| work(&mut || true)))
            .collect();
        // Each counter only grows, and this thread reads each in order:
        // the reports are monotone.
        let mine = work(&mut || {
            let report = total.report(progress, units_done.load(Relaxed), bytes_done.load(Relaxed));
            cancelled = report.err();
            cancelled.is_none()
        });
        let all = helpers.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        for (i, outcome) in all.chain([mine]).flatten() {
            outcomes[i] = outcome;
        }
    });
    if let Some(error) = cancelled {
        return Err(error);
    }
    total.report(progress, total.units, total.bytes)?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use core::ops::ControlFlow;

    use super::*;
    use crate::graph::{CsrView, GraphView, generate};
    use crate::layout::AlignedBuf;
    use crate::store::{AxgFile, Contents, Verify};

    /// One direction's arrays, owned, to corrupt.
    type Arrays = (Vec<u64>, Vec<u32>, Vec<f32>);

    fn arrays(view: CsrView<'_>) -> Arrays {
        (
            view.offsets().to_vec(),
            view.targets().to_vec(),
            view.weights().to_vec(),
        )
    }

    /// The file of these arrays, with node records and an id map, every
    /// checksum valid (the arrays need not be a graph).
    fn encode(out: &Arrays, inc: &Arrays, n: usize) -> AlignedBuf<u8> {
        fn view(a: &Arrays) -> CsrView<'_> {
            CsrView::new_unchecked(&a.0, &a.1, &a.2)
        }
        let graph = GraphView::new_unchecked(view(out), view(inc));
        let records = generate::chain(n as u32, 0.5).node_records();
        let ids: Vec<u64> = (0..n as u64).map(|v| v * 3 + 1).collect();
        Contents::new(graph)
            .with_nodes(&records)
            .unwrap()
            .with_id_map(&ids)
            .unwrap()
            .to_bytes()
    }

    /// The byte range of each section, from the section table.
    fn ranges(bytes: &[u8]) -> Vec<Range<usize>> {
        let field = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let count = u32::from_le_bytes(bytes[52..56].try_into().unwrap()) as usize;
        (0..count)
            .map(|i| {
                let row = 128 + i * 48;
                let at = field(row + 8) as usize;
                at..at + field(row + 16) as usize
            })
            .collect()
    }

    /// What verifying to `level` on `threads` threads says.
    fn verdict(bytes: &[u8], level: Verify, threads: usize) -> String {
        let got = AxgFile::parse(bytes, Verify::Header).and_then(|mut f| {
            f.verify_on(level, &mut (), Some(threads))
                .map(|()| f.verified())
        });
        // (As text: a NaN weight in an error is not equal to itself.)
        format!("{got:?}")
    }

    /// Files of a graph of `n` nodes with faults at these edges and
    /// nodes (structural, under valid checksums) and at these bytes of
    /// each section (`flips`: where in the section, as a fraction), with
    /// what each is.
    fn faulty_files(
        n: u32,
        edges_at: &[usize],
        nodes_at: &[usize],
        flips: &[f64],
    ) -> Vec<(String, AlignedBuf<u8>)> {
        let g = generate::barabasi_albert(n, 3, 5);
        let n = g.node_count();
        let (out, inc) = (arrays(g.out_edges()), arrays(g.in_edges()));
        let mut files: Vec<(String, AlignedBuf<u8>)> = Vec::new();
        let mut structural = |dir: &str, what: String, change: &dyn Fn(&mut Arrays)| {
            let (mut o, mut i) = (out.clone(), inc.clone());
            change(if dir == "out" { &mut o } else { &mut i });
            files.push((format!("{dir} {what}"), encode(&o, &i, n)));
        };
        for dir in ["out", "in"] {
            for &e in edges_at {
                structural(dir, format!("weight 0 at {e}"), &|a| a.2[e] = 0.0);
                structural(dir, format!("weight NaN at {e}"), &|a| a.2[e] = f32::NAN);
                structural(dir, format!("weight 2 at {e}"), &|a| a.2[e] = 2.0);
                structural(dir, format!("target at {e}"), &|a| a.1[e] = n as u32);
            }
            for &v in nodes_at {
                structural(dir, format!("offset {v} decreasing"), &|a| {
                    a.0[v] = a.0[v - 1].wrapping_sub(1);
                });
            }
            structural(dir, "last offset".into(), &|a| a.0[n] = 0);
        }
        // Flipped bytes (checksum faults, some also structural) in every
        // section: alone, two at once, and with a structural fault before.
        let clean = encode(&out, &inc, n);
        let positions: Vec<usize> = ranges(&clean)
            .iter()
            .flat_map(|r| {
                flips
                    .iter()
                    .map(|f| r.start + (r.len() as f64 * f) as usize)
            })
            .collect();
        let structural = files[0].1.clone();
        for (k, &at) in positions.iter().enumerate() {
            let mut bad = AlignedBuf::from_slice(&clean);
            bad[at] ^= 0x10;
            files.push((format!("byte {at}"), AlignedBuf::from_slice(&bad)));
            let later = positions[(k + 5) % positions.len()];
            bad[later] ^= 0x01;
            files.push((format!("bytes {at} and {later}"), bad));
            let mut both = AlignedBuf::from_slice(&structural);
            both[at] ^= 0x10;
            files.push((format!("{} and byte {at}", files[0].0), both));
        }
        files.push(("no fault".into(), clean));
        files
    }

    fn assert_every_thread_count_agrees(files: &[(String, AlignedBuf<u8>)]) {
        for (what, bytes) in files {
            for level in [Verify::Structure, Verify::Full] {
                let one = verdict(bytes, level, 1);
                for threads in if cfg!(miri) { &[3][..] } else { &[2, 5] } {
                    assert_eq!(
                        one,
                        verdict(bytes, level, *threads),
                        "{what}, {threads} threads"
                    );
                }
            }
            let full = verdict(bytes, Verify::Full, 1);
            assert_eq!(
                full.starts_with("Err"),
                what != "no fault",
                "{what}: {full}"
            );
        }
    }

    #[test]
    fn every_thread_count_gives_the_sequential_error() {
        let files = if cfg!(miri) {
            faulty_files(30, &[0, 80], &[1, 25], &[0.5])
        } else {
            faulty_files(2_000, &[0, 50, 80], &[1, 10, 25], &[0.0, 0.3, 0.7, 0.999])
        };
        assert_every_thread_count_agrees(&files);
    }

    /// Faults at the boundary of two blocks (the offsets' blocks overlap by
    /// one element). Checked at [`Verify::Structure`], which comes first
    /// and does not hash, so the checksums need not match.
    #[test]
    #[cfg_attr(miri, ignore = "megabytes of checks are too slow to interpret")]
    fn blocks_meet_without_a_gap() {
        let g = generate::barabasi_albert((1 << 17) + 100, 3, 5);
        let clean = Contents::new(&g).to_bytes();
        let sections = ranges(&clean);
        let n = g.node_count() as u32;
        let first_of_second = |element: usize| BLOCK_LEN as usize / element;
        let (e, v) = (first_of_second(4), first_of_second(8));
        // (section in table order, element, its new bytes)
        let mut faults: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        for base in [0, 3] {
            for at in [v - 1, v, v + 1] {
                faults.push((base, at, 0u64.to_le_bytes().into()));
            }
            for at in [e - 1, e] {
                faults.push((base + 1, at, n.to_le_bytes().into()));
                faults.push((base + 2, at, 0f32.to_le_bytes().into()));
            }
        }
        for (section, index, value) in &faults {
            let mut bad = AlignedBuf::from_slice(&clean);
            let at = sections[*section].start + index * value.len();
            bad[at..at + value.len()].copy_from_slice(value);
            let one = verdict(&bad, Verify::Structure, 1);
            assert!(one.starts_with("Err(Structure"), "{one}");
            assert_eq!(
                one,
                verdict(&bad, Verify::Structure, 2),
                "{section} {index}"
            );
        }
        assert_eq!(verdict(&clean, Verify::Full, 2), "Ok(Full)");
    }

    #[test]
    fn progress_is_monotone_ends_at_the_total_and_can_cancel() {
        let g = generate::barabasi_albert(if cfg!(miri) { 30 } else { 20_000 }, 3, 5);
        let bytes = Contents::new(&g).to_bytes();
        for threads in [1, 3] {
            let mut seen: Vec<ProgressReport> = Vec::new();
            let mut record = |r: &ProgressReport| {
                seen.push(*r);
                ControlFlow::Continue(())
            };
            let mut file = AxgFile::parse(&bytes, Verify::Header).unwrap();
            file.verify_on(Verify::Full, &mut record, Some(threads))
                .unwrap();
            let last = *seen.last().unwrap();
            // Every section but the block-checksum table (the last).
            let sections = ranges(&bytes);
            let hashed: usize = sections[..sections.len() - 1].iter().map(Range::len).sum();
            assert_eq!(last.bytes_total, Some(hashed as u64));
            assert_eq!(Some(last.bytes_done), last.bytes_total);
            assert_eq!(Some(last.items_done), last.items_total);
            assert!(seen.iter().all(|r| r.phase == Phase::Verify));
            assert!(
                seen.windows(2)
                    .all(|w| w[0].bytes_done <= w[1].bytes_done
                        && w[0].items_done <= w[1].items_done)
            );
            // (Threads report only the units this one ran, and at the end.)
            let every = if threads == 1 { seen.len() } else { 2 };
            assert!(seen.len() > 2 || threads > 1, "{} reports", seen.len());
            for stop_at in [1, 2, every] {
                let mut calls = 0;
                let mut cancel = |_: &ProgressReport| {
                    calls += 1;
                    if calls == stop_at {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                };
                let mut file = AxgFile::parse(&bytes, Verify::Header).unwrap();
                assert_eq!(
                    file.verify_on(Verify::Full, &mut cancel, Some(threads)),
                    Err(StoreError::Cancelled {
                        phase: Phase::Verify
                    })
                );
                assert_eq!(file.verified(), Verify::Header);
                assert!(file.graph().is_none());
            }
        }
        // Nothing left to check: no reports.
        let mut file = AxgFile::parse(&bytes, Verify::Full).unwrap();
        let mut never = |_: &ProgressReport| -> ControlFlow<()> { panic!("nothing to report") };
        file.verify_with(Verify::Full, &mut never).unwrap();
    }
}
