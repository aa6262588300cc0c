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
//! the node count (the id map of [`IdMapping::Compact`], the permutation of
//! [`reorder_by_degree`](AxgBuilder::reorder_by_degree)) counts against it.
//! Degree reordering costs one more external sort: the degrees are counted
//! by merging the runs, and the renamed edges are sorted into new runs.
//!
//! - `runs`: the sort buffer, the compressed runs on disk, their merge;
//! - `output`: the file's sections, streamed to their places and hashed.
//!
//! The file is byte-identical to [`write_file`](super::write_file) of the
//! [`GraphBuilder`](crate::graph::GraphBuilder) graph of the same edges:
//! the same validation, duplicate merge, self-loop rule and errors.
//!
//! Temporary files live in one directory, removed when the builder is done,
//! fails, is cancelled or dropped.

mod output;
mod runs;

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;
use super::file::write_atomically;
use super::progress::{Phase, Progress, ProgressReport, check};
use crate::graph::io::{EdgeSink, ReadError, SinkError, TextFormat, read_into};
use crate::graph::validate::weight_valid;
use crate::graph::{Edge, GraphError, MAX_NODES, ParseError, ParseErrorKind, Permutation};
use output::Output;
use runs::{MERGE_BYTES_PER_RUN, REC_BYTES, Rec, Spill, key};

/// Memory set aside from the sort buffer: the run writers' frames while
/// spilling; the merge's six 1 MiB section writers, the id map's writer
/// and the copies' buffers.
const RESERVE: usize = 8 << 20;
/// Edges between two progress reports.
const REPORT_EVERY: u64 = 1 << 16;

/// The smallest memory budget a build accepts.
pub const MIN_BUDGET: usize = 16 << 20;

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

/// Builds an `.axg` file from edges of any count under a memory budget.
///
/// Edges are gathered into a sort buffer the budget sizes; each full buffer
/// is sorted (by source, and again by target), its duplicates merged, and
/// spilled as two LZ4-compressed runs to a temporary directory;
/// [`finish`](Self::finish) k-way merges the runs straight into the file's
/// sections. The file is byte-identical to [`write_file`](super::write_file)
/// of the [`GraphBuilder`](crate::graph::GraphBuilder) graph of the same
/// edges; the temporary directory is removed however the build ends.
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
    reorder: bool,
    state: State,
}

/// What the builder gathered so far.
#[derive(Default)]
struct State {
    buffer: Vec<Rec>,
    /// Edges the buffer holds before it is spilled (0 until the first).
    capacity: usize,
    spill: Option<Spill>,
    /// Compact ids: original id -> node id, and back.
    numbering: HashMap<u64, u32>,
    originals: Vec<u64>,
    max_id: Option<u32>,
    added: u64,
    max_weight: f32,
    /// The edge of the smallest weight: (edge, src, dst, weight).
    min_weight: Option<(usize, u32, u32, f32)>,
    /// A spill that failed: the builder's runs are incomplete, so every
    /// later call returns this.
    failed: Option<StoreError>,
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
            reorder: false,
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

    /// Renumbers the nodes by total degree, largest first (as
    /// [`Graph::reorder`](crate::graph::Graph::reorder) with
    /// [`Ordering::DegreeDescending`](crate::graph::Ordering::DegreeDescending)
    /// does), so hubs share pages; the file's id map then gives each
    /// node's id before renumbering (the original id, with
    /// [`IdMapping::Compact`]). Costs one more external sort.
    pub fn reorder_by_degree(mut self, yes: bool) -> AxgBuilder {
        self.reorder = yes;
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

    /// Adds every edge of `edges` (see [`add_edge`](Self::add_edge));
    /// stops at the first refused one (the edges before it stay added).
    pub fn extend<I: IntoIterator<Item = Edge>>(&mut self, edges: I) -> Result<(), StoreError> {
        for e in edges {
            self.add_edge(u64::from(e.src), u64::from(e.dst), e.weight)?;
        }
        Ok(())
    }

    /// Validates, numbers and buffers one edge.
    fn push(&mut self, src: u64, dst: u64, weight: f32) -> Result<(), SinkError<StoreError>> {
        if let Some(e) = &self.state.failed {
            return Err(SinkError::Sink(e.clone()));
        }
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
            WeightRule::Refuse => weight_valid(weight),
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
        if self.state.capacity == 0 {
            self.check_budget().map_err(SinkError::Sink)?;
            // Sized once, exactly: a growing vector would hold its old and
            // new storage at once.
            self.state.capacity = self.run_capacity();
            let capacity = self.state.capacity;
            self.state.buffer.reserve_exact(capacity);
        }
        if self.ids == IdMapping::Compact {
            self.check_id_map_growth().map_err(SinkError::Sink)?;
            self.number(src);
            self.number(dst);
        }
        let state = &mut self.state;
        state.added += 1;
        state.max_id = Some(state.max_id.unwrap_or(0).max(s).max(d));
        state.max_weight = state.max_weight.max(weight);
        if state.min_weight.is_none_or(|m| weight < m.3) {
            state.min_weight = Some((edge, s, d, weight));
        }
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
        if state.buffer.len() + 1 >= state.capacity {
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
        // The sort buffer and the radix sort's second buffer.
        let edges = (share / (2 * REC_BYTES)).max(2);
        self.run_edges.map_or(edges, |cap| cap.min(edges)).max(2)
    }

    /// Refuses a budget below [`MIN_BUDGET`].
    fn check_budget(&self) -> Result<(), StoreError> {
        if self.budget < MIN_BUDGET {
            return Err(StoreError::Budget {
                needed: MIN_BUDGET as u64,
                budget: self.budget as u64,
                what: "the smallest budget a build takes",
            });
        }
        Ok(())
    }

    /// Refuses two more ids ([`IdMapping::Compact`]) if the id map could
    /// then outgrow its half of the budget: checked before either table
    /// grows, at the size it would grow to (a hash map slot of 12 bytes and
    /// a control byte, 8 slots for 7 ids; the old and new tables held at
    /// once while it grows; 8 bytes an original id).
    fn check_id_map_growth(&self) -> Result<(), StoreError> {
        let state = &self.state;
        let ids = state.originals.len() + 2;
        if ids <= state.numbering.capacity() && ids <= state.originals.capacity() {
            return Ok(());
        }
        let slots = |ids: usize| ids.next_power_of_two() * 8 / 7;
        let grown = ids.max(2 * state.originals.capacity());
        let bytes = (slots(grown) + slots(state.numbering.capacity())) * 13 + grown * 8 * 2;
        let share = self.budget.saturating_sub(RESERVE) / 2;
        if bytes > share {
            return Err(StoreError::Budget {
                needed: bytes as u64 * 2 + RESERVE as u64,
                budget: self.budget as u64,
                what: "the id map of IdMapping::Compact (half of the budget)",
            });
        }
        Ok(())
    }

    /// Sorts the buffer into an out-edge run and an in-edge run and
    /// spills both. A failure leaves the runs incomplete: the builder
    /// refuses everything after it.
    fn spill(&mut self) -> Result<(), StoreError> {
        let state = &mut self.state;
        let spilled = match &mut state.spill {
            Some(spill) => Ok(spill),
            empty => Spill::new(&self.temp_dir).map(|spill| empty.insert(spill)),
        }
        .and_then(|spill| spill.sort_and_spill(&mut state.buffer));
        if let Err(e) = &spilled {
            state.buffer.clear();
            state.failed = Some(e.clone());
        }
        spilled
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
        if let Some(e) = self.state.failed.take() {
            return Err(e);
        }
        self.check_budget()?;
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
        drop(state.numbering);
        let mut spill = state.spill.expect("spilled above");
        spill.free_scratch();
        let scale = match self.weights {
            WeightRule::RescaleByMax if state.max_weight > 1.0 => Some(state.max_weight),
            _ => None,
        };
        // Positive weights divided by the largest: only an underflow of the
        // smallest leaves (0, 1].
        if let (Some(max), Some((edge, src, dst, min))) = (scale, state.min_weight)
            && min / max == 0.0
        {
            return Err(StoreError::Edge(GraphError::InvalidWeight {
                edge,
                src,
                dst,
                weight: min / max,
            }));
        }
        // Both directions merge at once; at most 256 runs each (open files).
        let share = self.budget.saturating_sub(RESERVE);
        let fan_in = (share / (2 * MERGE_BYTES_PER_RUN)).clamp(2, 256);
        let mut id_map = (self.ids == IdMapping::Compact).then_some(state.originals);
        if self.reorder {
            // The degrees (4 bytes a node), then the permutation's two
            // tables (8 bytes a node) beside the id map.
            let tables = nodes as usize * (12 + if id_map.is_some() { 8 } else { 0 });
            if tables > share / 2 {
                return Err(StoreError::Budget {
                    needed: (2 * tables + RESERVE) as u64,
                    budget: self.budget as u64,
                    what: "degree reordering's tables (half of the budget)",
                });
            }
            spill.reduce_runs(fan_in, progress)?;
            check(progress, ProgressReport::new(Phase::Sort))?;
            let perm = Permutation::by_degree_descending(&spill.degrees(nodes)?);
            let capacity = (share / 2 / (2 * REC_BYTES)).max(2);
            spill.renumber(
                &perm,
                self.run_edges.map_or(capacity, |r| r.min(capacity)),
                progress,
            )?;
            spill.free_scratch();
            let old = perm.new_to_old().iter().map(|&old| old as usize);
            id_map = Some(match &id_map {
                Some(originals) => old.map(|v| originals[v]).collect(),
                None => old.map(|v| v as u64).collect(),
            });
        }
        let id_map = id_map.as_deref();
        let runs = spill.out_runs.len();
        let raw_edges: u64 = spill.out_runs.iter().map(|r| r.edges).sum();
        spill.reduce_runs(fan_in, progress)?;
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

impl core::fmt::Debug for AxgBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AxgBuilder")
            .field("budget", &self.budget)
            .field("temp_dir", &self.temp_dir)
            .field("ids", &self.ids)
            .field("weights", &self.weights)
            .field("symmetrize", &self.symmetrize)
            .field("reorder", &self.reorder)
            .field("edges_added", &self.state.added)
            .field("buffered", &self.state.buffer.len())
            .field("failed", &self.state.failed)
            .finish_non_exhaustive()
    }
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
