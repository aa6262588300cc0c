//! The bounded-memory builder: an `.axg` file from any number of edges.
//!
//! [`GraphBuilder`](crate::graph::GraphBuilder) holds every edge in memory
//! (about 40 bytes an edge at its peak, both directions included); a graph
//! of a billion edges does not fit. [`AxgBuilder`] sorts externally instead:
//! edges are gathered into a buffer the memory budget sizes, each full
//! buffer is sorted twice (by source, then by target), merged in place
//! (duplicates keep the largest weight) and spilled as two LZ4-compressed
//! runs to a temporary directory; [`finish`](AxgBuilder::finish) then
//! k-way merges the source-sorted runs straight into the file's out-edge
//! sections and the target-sorted runs into its in-edge sections, every
//! section streamed through a 1 MiB buffer that is hashed as it is written.
//! Memory stays within the budget whatever the edge count; what grows with
//! the node count (the id map of [`IdMapping::Compact`]) counts against it.
//!
//! The file is byte-identical to [`write_file`](super::write_file) of the
//! [`GraphBuilder`](crate::graph::GraphBuilder) graph of the same edges:
//! the same validation, duplicate merge, self-loop rule and errors.
//!
//! Temporary files live in one directory, removed when the builder is done,
//! fails, is cancelled or dropped.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

use super::file::{io, write_atomically};
use super::format::{BLOCK_LEN, HEADER_LEN, Plan, flags};
use super::progress::{Phase, Progress, ProgressReport, check};
use super::{Section, StoreError};
use crate::graph::io::{EdgeSink, ReadError, SinkError, TextFormat, read_into};
use crate::graph::{GraphError, MAX_NODES, ParseError, ParseErrorKind};

/// The smallest memory budget a build accepts.
pub const MIN_BUDGET: usize = 8 << 20;

/// How the ids of the input become node ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdMapping {
    /// The ids are the node ids (below `u32::MAX`); the node count is one
    /// more than the largest, as [`GraphBuilder`](crate::graph::GraphBuilder)
    /// counts it. No id map is written.
    #[default]
    Dense,
    /// Any `u64` ids, numbered `0, 1, 2, ...` in order of first appearance;
    /// the file's id map section keeps each node's original id. The map
    /// lives in memory (about 32 bytes a node, counted against the budget).
    Compact,
}

/// What happens to weights outside `(0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WeightRule {
    /// They are refused, as [`GraphBuilder`](crate::graph::GraphBuilder)
    /// refuses them.
    #[default]
    Refuse,
    /// Any finite positive weight is accepted; if the largest exceeds 1,
    /// every weight is divided by it (in `f32`, after duplicates are
    /// merged). Zero, negative and non-finite weights are still refused.
    RescaleByMax,
}

/// What a build did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildSummary {
    /// Nodes of the graph.
    pub nodes: u64,
    /// Edges of the graph (after merging duplicates and dropping self loops).
    pub edges: u64,
    /// Edges read (self loops and duplicates included).
    pub edges_read: u64,
    /// Sorted runs spilled (per direction).
    pub runs: usize,
    /// Bytes of compressed runs written to the temporary directory.
    pub spilled_bytes: u64,
    /// Bytes of the file written.
    pub file_bytes: u64,
}

/// One edge in the sort buffer: `src << 32 | dst` (or swapped, for the
/// in-edge runs), so a sort by key is a sort by row then column.
#[derive(Debug, Clone, Copy)]
struct Rec {
    key: u64,
    weight: f32,
}

/// Bytes a buffered edge takes.
const REC_BYTES: usize = core::mem::size_of::<Rec>();
/// Edges per compressed frame of a run.
const FRAME_EDGES: usize = 16 << 10;
/// Bytes of a frame's raw form: key deltas, then weights.
const FRAME_RAW: usize = FRAME_EDGES * 12;
/// Memory a run being merged holds: its frame raw and compressed, the
/// decoded keys and weights, the read buffer.
const MERGE_BYTES_PER_RUN: usize = 3 * FRAME_RAW + READ_BUF;
/// Read buffer of a run being merged.
const READ_BUF: usize = 64 << 10;
/// Memory set aside from the sort buffer: the frame scratch of spilling
/// and the section writers of the merge.
const RESERVE: usize = 4 << 20;
/// Edges between two progress reports.
const REPORT_EVERY: u64 = 1 << 16;

/// Builds an `.axg` file from edges of any count under a memory budget
/// (see the [module docs](self)).
///
/// ```
/// use axonal::store::{AxgBuilder, AxgStore, Verify};
///
/// let dir = std::env::temp_dir();
/// let path = dir.join(format!("axonal-build-doc-{}.axg", std::process::id()));
/// let mut b = AxgBuilder::new(64 << 20).temp_dir(&dir);
/// b.add_edge(0, 1, 0.5)?;
/// b.add_edge(1, 2, 0.25)?;
/// b.add_edge(0, 1, 0.75)?; // a duplicate: the larger weight wins
/// let summary = b.finish(&path, &mut ())?;
/// assert_eq!((summary.nodes, summary.edges), (3, 2));
/// let stored = AxgStore::read(&path, Verify::Full)?;
/// let graph = stored.file()?.graph().expect("verified");
/// assert_eq!(graph.out_edges().neighbors(0), (&[1][..], &[0.75][..]));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AxgBuilder {
    budget: usize,
    temp_dir: PathBuf,
    run_edges: Option<usize>,
    node_count: Option<u32>,
    max_nodes: u32,
    symmetrize: bool,
    ids: IdMapping,
    weights: WeightRule,
    default_weight: f32,
    state: State,
}

/// What the builder gathered so far.
#[derive(Debug, Default)]
struct State {
    buffer: Vec<Rec>,
    spill: Option<Spill>,
    /// Compact ids: original id -> node id, and back.
    numbering: HashMap<u64, u32>,
    originals: Vec<u64>,
    max_id: Option<u32>,
    added: u64,
    max_weight: f32,
}

impl AxgBuilder {
    /// A builder that keeps its memory within `budget` bytes (at least
    /// [`MIN_BUDGET`]; [`finish`](Self::finish) refuses less), spilling
    /// to the system's temporary directory.
    pub fn new(budget: usize) -> AxgBuilder {
        AxgBuilder {
            budget,
            temp_dir: std::env::temp_dir(),
            run_edges: None,
            node_count: None,
            max_nodes: MAX_NODES,
            symmetrize: false,
            ids: IdMapping::Dense,
            weights: WeightRule::Refuse,
            default_weight: 1.0,
            state: State::default(),
        }
    }

    /// Spills sorted runs under `dir` (in a fresh subdirectory, removed
    /// when the build ends). A directory on the same disk as the output
    /// and with room for about 8 bytes an edge is best.
    pub fn temp_dir(mut self, dir: impl Into<PathBuf>) -> AxgBuilder {
        self.temp_dir = dir.into();
        self
    }

    /// Sorts at most `edges` edges in memory at once (the budget sets it
    /// otherwise): more, smaller runs. For tests and tuning.
    pub fn max_run_edges(mut self, edges: usize) -> AxgBuilder {
        self.run_edges = Some(edges.max(1));
        self
    }

    /// A graph of exactly `node_count` nodes; ids at or above it are
    /// refused ([`IdMapping::Dense`]).
    pub fn node_count(mut self, node_count: u32) -> AxgBuilder {
        self.node_count = Some(node_count);
        self
    }

    /// Refuses node ids at or above `limit` ([`IdMapping::Dense`]), or
    /// more than `limit` distinct ids ([`IdMapping::Compact`]).
    pub fn max_nodes(mut self, limit: u32) -> AxgBuilder {
        self.max_nodes = limit;
        self
    }

    /// Also adds the reverse of every edge.
    pub fn symmetrize(mut self, yes: bool) -> AxgBuilder {
        self.symmetrize = yes;
        self
    }

    /// How input ids become node ids (default [`IdMapping::Dense`]).
    pub fn ids(mut self, mapping: IdMapping) -> AxgBuilder {
        self.ids = mapping;
        self
    }

    /// What happens to weights outside `(0, 1]` (default
    /// [`WeightRule::Refuse`]).
    pub fn weights(mut self, rule: WeightRule) -> AxgBuilder {
        self.weights = rule;
        self
    }

    /// The weight of text lines that have none (default 1.0; Matrix
    /// Market `pattern` entries too). Checked like any weight.
    pub fn default_weight(mut self, weight: f32) -> AxgBuilder {
        self.default_weight = weight;
        self
    }

    /// Edges added so far (self loops and duplicates included).
    pub fn edges_added(&self) -> u64 {
        self.state.added
    }

    /// The id limit in force.
    fn node_limit(&self) -> u32 {
        match self.ids {
            IdMapping::Dense => self
                .node_count
                .unwrap_or(self.max_nodes)
                .min(self.max_nodes),
            IdMapping::Compact => self.max_nodes,
        }
    }

    /// Adds the edge `src -> dst` with `weight`, after validating it as
    /// [`GraphBuilder::add_edge`](crate::graph::GraphBuilder::add_edge)
    /// does (a refused edge leaves the builder unchanged). May spill a
    /// sorted run.
    pub fn add_edge(&mut self, src: u64, dst: u64, weight: f32) -> Result<(), StoreError> {
        self.push(src, dst, weight).map_err(|e| match e {
            SinkError::Parse(ParseErrorKind::Graph(e)) => StoreError::Edge(e),
            SinkError::Parse(kind) => StoreError::Parse(ParseError {
                path: None,
                line: None,
                kind,
            }),
            SinkError::Sink(e) => e,
        })
    }

    /// Validates, numbers and buffers one edge.
    fn push(&mut self, src: u64, dst: u64, weight: f32) -> Result<(), SinkError<StoreError>> {
        let edge = self.state.added as usize;
        let refuse = |e| SinkError::Parse(ParseErrorKind::Graph(e));
        let (s, d) = match self.ids {
            IdMapping::Dense => {
                let limit = self.node_limit();
                for node in [src, dst] {
                    if node >= u64::from(limit) {
                        return Err(refuse(GraphError::NodeOutOfRange {
                            edge,
                            node: u32::try_from(node).unwrap_or(u32::MAX),
                            node_count: u64::from(limit),
                        }));
                    }
                }
                (src as u32, dst as u32)
            }
            IdMapping::Compact => {
                // The ids they will get, without numbering them yet.
                let known = |id| self.state.numbering.get(&id).copied();
                let next = self.state.originals.len() as u64;
                let new_src = u64::from(known(src).is_none());
                let new_dst = u64::from(src != dst && known(dst).is_none());
                if next + new_src + new_dst > u64::from(self.max_nodes) {
                    return Err(refuse(GraphError::TooManyNodes {
                        requested: next + new_src + new_dst,
                    }));
                }
                let s = known(src).unwrap_or(next as u32);
                let d = match known(dst) {
                    _ if src == dst => s,
                    Some(d) => d,
                    None => (next + new_src) as u32,
                };
                (s, d)
            }
        };
        let valid = match self.weights {
            WeightRule::Refuse => weight > 0.0 && weight <= 1.0,
            WeightRule::RescaleByMax => weight > 0.0 && weight.is_finite(),
        };
        if !valid {
            return Err(refuse(GraphError::InvalidWeight {
                edge,
                src: s,
                dst: d,
                weight,
            }));
        }
        if self.ids == IdMapping::Compact {
            self.number(src);
            self.number(dst);
        }
        let state = &mut self.state;
        state.added += 1;
        state.max_id = Some(state.max_id.unwrap_or(0).max(s).max(d));
        state.max_weight = state.max_weight.max(weight);
        if s != d {
            state.buffer.push(Rec {
                key: key(s, d),
                weight,
            });
            if self.symmetrize {
                state.buffer.push(Rec {
                    key: key(d, s),
                    weight,
                });
            }
        }
        if state.buffer.len() + 1 >= self.run_capacity() {
            self.spill().map_err(SinkError::Sink)?;
        }
        Ok(())
    }

    /// The node id of `original` ([`IdMapping::Compact`]), numbering it
    /// if new.
    fn number(&mut self, original: u64) -> u32 {
        let state = &mut self.state;
        *state.numbering.entry(original).or_insert_with(|| {
            state.originals.push(original);
            (state.originals.len() - 1) as u32
        })
    }

    /// Edges the sort buffer holds before a run is spilled.
    fn run_capacity(&self) -> usize {
        let share = match self.ids {
            IdMapping::Dense => self.budget.saturating_sub(RESERVE),
            // The other half is the id map's.
            IdMapping::Compact => self.budget.saturating_sub(RESERVE) / 2,
        };
        let edges = (share / REC_BYTES).max(2);
        self.run_edges.map_or(edges, |cap| cap.min(edges)).max(2)
    }

    /// Memory the id map takes ([`IdMapping::Compact`]): the hash map's
    /// slots and the originals.
    fn id_map_bytes(&self) -> usize {
        self.state.numbering.capacity() * 17 + self.state.originals.capacity() * 8
    }

    /// Sorts the buffer into an out-edge run and an in-edge run and
    /// spills both.
    fn spill(&mut self) -> Result<(), StoreError> {
        if self.ids == IdMapping::Compact && self.id_map_bytes() > self.budget / 2 {
            return Err(StoreError::Budget {
                needed: self.id_map_bytes() as u64 * 2,
                budget: self.budget as u64,
                what: "the id map of IdMapping::Compact (half the budget)",
            });
        }
        let spill = match &mut self.state.spill {
            Some(spill) => spill,
            empty => empty.insert(Spill::new(&self.temp_dir)?),
        };
        let buffer = &mut self.state.buffer;
        buffer.sort_unstable_by_key(|r| r.key);
        merge_duplicates(buffer);
        let run = spill.write_run(buffer)?;
        spill.out_runs.push(run);
        for r in buffer.iter_mut() {
            r.key = r.key.rotate_left(32);
        }
        buffer.sort_unstable_by_key(|r| r.key);
        let run = spill.write_run(buffer)?;
        spill.in_runs.push(run);
        buffer.clear();
        Ok(())
    }

    /// Reads a text file into the builder: Matrix Market if its name ends
    /// in `.mtx`, else an edge list (`src dst [weight]`, `#` or `%`
    /// comment lines; [`IdMapping::Compact`] takes any `u64` ids). Errors
    /// name the file and the line. `progress` sees
    /// [`Phase::Read`] with edges and bytes read and may cancel.
    pub fn read_path(
        &mut self,
        path: impl AsRef<Path>,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let path = path.as_ref();
        let total = fs::metadata(path).ok().map(|m| m.len());
        let bytes = AtomicU64::new(0);
        let feed = Feed {
            builder: self,
            progress,
            bytes: &bytes,
            bytes_total: total,
        };
        let read = crate::graph::io::read_path_into(path, feed, |file| Counted {
            inner: file,
            bytes: &bytes,
        });
        read.map(drop).map_err(|e| match e {
            ReadError::Parse(e) => StoreError::Parse(ParseError {
                path: Some(path.display().to_string()),
                ..e
            }),
            ReadError::Sink(e) => e,
        })
    }

    /// Reads a text edge list (see [`read_path`](Self::read_path)) from
    /// `reader`.
    pub fn read_edge_list(
        &mut self,
        reader: impl std::io::BufRead,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        self.read_text(reader, TextFormat::EdgeList, progress)
    }

    /// Reads a Matrix Market coordinate file (see
    /// [`graph::io::parse_matrix_market`](crate::graph::io::parse_matrix_market))
    /// from `reader`.
    pub fn read_matrix_market(
        &mut self,
        reader: impl std::io::BufRead,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        self.read_text(reader, TextFormat::MatrixMarket, progress)
    }

    fn read_text(
        &mut self,
        reader: impl std::io::BufRead,
        format: TextFormat,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let bytes = AtomicU64::new(0);
        let feed = Feed {
            builder: self,
            progress,
            bytes: &bytes,
            bytes_total: None,
        };
        read_into(reader, format, feed)
            .map(drop)
            .map_err(|e| match e {
                ReadError::Parse(e) => StoreError::Parse(e),
                ReadError::Sink(e) => e,
            })
    }

    /// Reads a binary edge stream: little-endian `(u32 src, u32 dst, f32
    /// weight)` records, 12 bytes each, until the end of `reader`. A
    /// partial record at the end is [`StoreError::PartialRecord`].
    pub fn read_binary(
        &mut self,
        mut reader: impl Read,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        let mut buf = vec![0u8; 12 << 14];
        let mut filled = 0;
        let mut offset = 0u64;
        loop {
            let n = match reader.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(StoreError::Io {
                        path: String::from("<binary edge stream>"),
                        kind: e.kind(),
                    });
                }
            };
            filled += n;
            if n == 0 && filled % 12 != 0 {
                return Err(StoreError::PartialRecord {
                    offset: offset + (filled / 12 * 12) as u64,
                });
            }
            let whole = filled / 12 * 12;
            for record in buf[..whole].chunks_exact(12) {
                let word = |i: usize| u32::from_le_bytes(record[i..i + 4].try_into().expect("4"));
                self.add_edge(
                    u64::from(word(0)),
                    u64::from(word(4)),
                    f32::from_bits(word(8)),
                )?;
            }
            offset += whole as u64;
            buf.copy_within(whole..filled, 0);
            filled -= whole;
            check(
                progress,
                ProgressReport::new(Phase::Read)
                    .items(self.state.added, None)
                    .bytes(offset, None),
            )?;
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// Writes the file to `path` crash-safely (as
    /// [`write_file`](super::write_file) does) and removes the temporary
    /// runs. `progress` sees [`Phase::Sort`], [`Phase::Merge`] and
    /// [`Phase::Write`] and may cancel: then nothing is left behind and
    /// whatever was at `path` stays.
    pub fn finish(
        mut self,
        path: impl AsRef<Path>,
        progress: &mut dyn Progress,
    ) -> Result<BuildSummary, StoreError> {
        if self.budget < MIN_BUDGET {
            return Err(StoreError::Budget {
                needed: MIN_BUDGET as u64,
                budget: self.budget as u64,
                what: "the smallest budget a build takes",
            });
        }
        check(progress, ProgressReport::new(Phase::Sort))?;
        self.spill()?;
        let nodes = match self.ids {
            IdMapping::Dense => self
                .node_count
                .unwrap_or(self.state.max_id.map_or(0, |m| m + 1)),
            IdMapping::Compact => self.state.originals.len() as u32,
        };
        let state = core::mem::take(&mut self.state);
        drop(state.buffer);
        let mut spill = state.spill.expect("spilled above");
        let scale = match self.weights {
            WeightRule::RescaleByMax if state.max_weight > 1.0 => Some(state.max_weight),
            _ => None,
        };
        let id_map = (self.ids == IdMapping::Compact).then_some(&state.originals[..]);
        let raw_edges: u64 = spill.out_runs.iter().map(|r| r.edges).sum();
        let fan_in = (self.budget.saturating_sub(RESERVE) / MERGE_BYTES_PER_RUN).max(2);
        for inward in [false, true] {
            loop {
                let runs = if inward {
                    &mut spill.in_runs
                } else {
                    &mut spill.out_runs
                };
                if runs.len() <= fan_in {
                    break;
                }
                let group: Vec<Run> = runs.drain(..fan_in).collect();
                let mut merged = spill.run_writer()?;
                merge(&group, &mut |key, weight| merged.push(key, weight))?;
                let run = merged.finish(&mut spill.bytes)?;
                if inward {
                    &mut spill.in_runs
                } else {
                    &mut spill.out_runs
                }
                .push(run);
                for run in group {
                    let _ = fs::remove_file(&run.path);
                }
            }
        }
        let runs = spill.out_runs.len();
        let mut file_bytes = 0;
        let mut edges = 0;
        let path = path.as_ref();
        write_atomically(path, |file, temp| {
            let mut out = Output {
                file: &*file,
                path: temp,
                nodes: u64::from(nodes),
                scale,
                progress,
                raw_edges,
            };
            let (m, len) = out.write(&spill, id_map)?;
            (edges, file_bytes) = (m, len);
            Ok(())
        })?;
        Ok(BuildSummary {
            nodes: u64::from(nodes),
            edges,
            edges_read: state.added,
            runs,
            spilled_bytes: spill.bytes,
            file_bytes,
        })
    }
}

fn key(src: u32, dst: u32) -> u64 {
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
struct Spill {
    dir: PathBuf,
    out_runs: Vec<Run>,
    in_runs: Vec<Run>,
    files: u64,
    bytes: u64,
}

/// A sorted run on disk.
#[derive(Debug)]
struct Run {
    path: PathBuf,
    edges: u64,
}

impl Spill {
    fn new(parent: &Path) -> Result<Spill, StoreError> {
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

    fn run_writer(&mut self) -> Result<RunWriter, StoreError> {
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

    /// Writes a sorted, merged buffer as a run.
    fn write_run(&mut self, buffer: &[Rec]) -> Result<Run, StoreError> {
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
struct RunWriter {
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
    fn push(&mut self, key: u64, weight: f32) -> Result<(), StoreError> {
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
    fn finish(mut self, bytes: &mut u64) -> Result<Run, StoreError> {
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
fn merge(
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

    fn put(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() == BLOCK_LEN as usize {
            self.flush()?;
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
struct Output<'a> {
    file: &'a File,
    path: &'a Path,
    nodes: u64,
    scale: Option<f32>,
    progress: &'a mut dyn Progress,
    raw_edges: u64,
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
    fn write(&mut self, spill: &Spill, id_map: Option<&[u64]>) -> Result<(u64, u64), StoreError> {
        let flags = if id_map.is_some() { flags::ID_MAP } else { 0 };
        // Where the out-edge offsets and targets go does not depend on
        // the edge count, which the merge finds.
        let early = Plan::new(flags, self.nodes, 0, &self.sections(0, id_map.is_some()));
        let (o_at, t_at) = (early.entries()[0].offset, early.entries()[1].offset);
        let weights_path = spill.dir.join("out-weights");
        let weights_file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&weights_path)
            .map_err(io(&weights_path))?;
        let file = self.file;
        let mut sums: Vec<Vec<u64>> = Vec::new();
        let ([out_o, out_t, out_w], edges) = self.direction(
            &spill.out_runs,
            [
                SectionWriter::new(file, self.path, o_at),
                SectionWriter::new(file, self.path, t_at),
                SectionWriter::new(&weights_file, &weights_path, 0),
            ],
            0,
        )?;
        let mut plan = Plan::new(
            flags,
            self.nodes,
            edges,
            &self.sections(edges, id_map.is_some()),
        );
        let at = |i: usize| plan.entries()[i].offset;
        copy(&weights_file, &weights_path, file, self.path, at(2), edges)?;
        drop(weights_file);
        let _ = fs::remove_file(&weights_path);
        let ([in_o, in_t, in_w], in_edges) = self.direction(
            &spill.in_runs,
            [
                SectionWriter::new(file, self.path, at(3)),
                SectionWriter::new(file, self.path, at(4)),
                SectionWriter::new(file, self.path, at(5)),
            ],
            edges,
        )?;
        if in_edges != edges {
            return Err(StoreError::Io {
                path: spill.dir.display().to_string(),
                kind: std::io::ErrorKind::InvalidData,
            });
        }
        sums.extend([out_o, out_t, out_w, in_o, in_t, in_w]);
        if let Some(ids) = id_map {
            let mut w = SectionWriter::new(file, self.path, at(6));
            for chunk in ids.chunks(BLOCK_LEN as usize / 8) {
                w.put(bytemuck::cast_slice(chunk))?;
            }
            sums.push(w.finish()?);
        }
        check(self.progress, ProgressReport::new(Phase::Write))?;
        let blocks: Vec<u64> = sums.concat();
        let last = plan.entries().last().expect("the block checksums").offset;
        write_at(file, last, bytemuck::cast_slice(&blocks)).map_err(io(self.path))?;
        let header = plan.seal(&blocks);
        write_at(file, 0, &header).map_err(io(self.path))?;
        debug_assert_eq!(header.len(), HEADER_LEN);
        file.set_len(plan.file_len()).map_err(io(self.path))?;
        Ok((edges, plan.file_len()))
    }

    /// Merges one direction's runs into its offsets, targets and weights
    /// writers; their block checksums, and the edge count.
    fn direction(
        &mut self,
        runs: &[Run],
        [mut offsets, mut targets, mut weights]: [SectionWriter<'_>; 3],
        done_before: u64,
    ) -> Result<([Vec<u64>; 3], u64), StoreError> {
        let (nodes, scale) = (self.nodes, self.scale);
        let total = Some(self.raw_edges * 2);
        let progress = &mut *self.progress;
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
            let w = match scale {
                Some(max) => w / max,
                None => w,
            };
            // Positive weights divided by the largest: only an underflow
            // leaves (0, 1].
            if w == 0.0 {
                return Err(StoreError::Edge(GraphError::InvalidWeight {
                    edge: count as usize,
                    src: src as u32,
                    dst,
                    weight: w,
                }));
            }
            targets.put(&dst.to_le_bytes())?;
            weights.put(&w.to_le_bytes())?;
            count += 1;
            if count.is_multiple_of(REPORT_EVERY) {
                check(
                    progress,
                    ProgressReport::new(Phase::Merge).items(done_before + count, total),
                )?;
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
}

/// Copies the first `edges * 4` bytes of `from` to `at` of `to`.
fn copy(
    mut from: &File,
    from_path: &Path,
    to: &File,
    to_path: &Path,
    at: u64,
    edges: u64,
) -> Result<(), StoreError> {
    from.seek(SeekFrom::Start(0)).map_err(io(from_path))?;
    let mut buf = vec![0u8; BLOCK_LEN as usize];
    let (mut done, total) = (0u64, edges * 4);
    while done < total {
        let n = (total - done).min(BLOCK_LEN) as usize;
        from.read_exact(&mut buf[..n]).map_err(io(from_path))?;
        write_at(to, at + done, &buf[..n]).map_err(io(to_path))?;
        done += n as u64;
    }
    Ok(())
}

/// The builder as the text readers' sink, reporting progress.
struct Feed<'b> {
    builder: &'b mut AxgBuilder,
    progress: &'b mut dyn Progress,
    bytes: &'b AtomicU64,
    bytes_total: Option<u64>,
}

impl EdgeSink for Feed<'_> {
    type Error = StoreError;

    fn max_id(&self) -> u64 {
        match self.builder.ids {
            IdMapping::Dense => u64::from(MAX_NODES - 1),
            IdMapping::Compact => u64::MAX,
        }
    }

    fn default_weight(&self) -> f32 {
        self.builder.default_weight
    }

    fn add(&mut self, src: u64, dst: u64, weight: f32) -> Result<(), SinkError<StoreError>> {
        self.builder.push(src, dst, weight)?;
        let added = self.builder.state.added;
        if added.is_multiple_of(REPORT_EVERY) {
            let report = ProgressReport::new(Phase::Read)
                .items(added, None)
                .bytes(self.bytes.load(Ordering::Relaxed), self.bytes_total);
            check(self.progress, report).map_err(SinkError::Sink)?;
        }
        Ok(())
    }

    fn declare(&mut self, nodes: u64, _entries: u64) -> Result<(), SinkError<StoreError>> {
        let b = &mut *self.builder;
        if b.ids == IdMapping::Compact {
            // Only the ids that appear are numbered.
            return Ok(());
        }
        if nodes > u64::from(b.node_limit()) {
            return Err(SinkError::Parse(ParseErrorKind::Graph(
                GraphError::TooManyNodes { requested: nodes },
            )));
        }
        let seen = b.state.max_id.map_or(0, |m| m + 1);
        b.node_count = Some((nodes as u32).max(seen).max(b.node_count.unwrap_or(0)));
        Ok(())
    }
}

/// A reader that counts the bytes read through it.
struct Counted<'c, R> {
    inner: R,
    bytes: &'c AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
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
