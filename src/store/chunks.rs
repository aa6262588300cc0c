//! Chunked passes over an `.axg` file larger than memory (`std`).
//!
//! A memory map lets the kernels read a file in place, but the pages it
//! touches stay resident until the kernel evicts them: a whole-graph pass
//! over a file several times the machine's memory competes with everything
//! else for the page cache, and its footprint is the kernel's choice, not
//! the caller's. [`Chunks`] bounds it: it reads the file in node-range
//! chunks with positioned reads (`pread`) into two reusable buffers that
//! together fit a memory budget, so the memory a pass adds is those buffers
//! and nothing else. While the caller works on one chunk, a background
//! thread reads and checks the next (double buffering); a finished chunk's
//! buffer goes back to the reader for the chunk after.
//!
//! [`Chunks`] says how chunks are sized and checked.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

use super::file::io;
use super::format::{
    BLOCK_LEN, Entry, HEADER_LEN, Header, embedding_error, parse_header_page, structure_error,
};
use super::progress::{self, Phase, Progress, ProgressReport};
use super::{Section, StoreError, Verify};
use crate::graph::{GraphError, check_rows, edges_valid};
use crate::layout::{AlignedBuf, EmbeddingError, EmbeddingView, Node};
use crate::simd::{Kernels, TopK};
use crate::spread::SpreadError;

/// The sections a chunk can carry one row per node of, besides the edges
/// (a row of each is `section length / node count` bytes). A new per-node
/// section is one more entry here.
const PER_NODE: [Section; 4] = [
    Section::Nodes,
    Section::IdMap,
    Section::Embeddings,
    Section::InvNorms,
];

/// The out-edge sections: offsets, targets, weights.
const OUT: [Section; 3] = [
    Section::OutOffsets,
    Section::OutTargets,
    Section::OutWeights,
];
/// The in-edge sections: offsets, sources, weights.
const IN: [Section; 3] = [Section::InOffsets, Section::InTargets, Section::InWeights];

/// Edges read and checked at a time (their targets and weights: 512 KiB,
/// which stay in a core's cache between the read and the check).
const PIECE_EDGES: usize = 64 << 10;

/// The most bytes of a chunk buffer, whatever the budget (a row larger
/// than this gets a buffer of its own, up to the budget): a chunk the
/// reader has just written is still in the caches when the caller reads
/// it, and a larger one gains nothing (the per-chunk costs are a few
/// system calls).
const MAX_SHARE: usize = 8 << 20;

/// Regions of a chunk's buffer start on this boundary (the node records'
/// alignment).
const REGION_ALIGN: usize = 64;

/// Bytes of the buffer that checks, with [`Verify::Full`], the parts of a
/// checksum block outside the chunk being read: a sixteenth of the budget,
/// within these bounds.
const SCRATCH_LEN: Range<usize> = 256..64 << 10;

/// What each chunk of a pass carries: the out-edges, the in-edges, and
/// per-node sections (node records, id map), each for the chunk's nodes.
///
/// ```
/// use axonal::store::{Carry, Section};
/// let carry = Carry::new().in_edges().section(Section::IdMap)?;
/// # Ok::<(), axonal::store::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Carry {
    out_edges: bool,
    in_edges: bool,
    /// Bit `i`: `PER_NODE[i]`.
    per_node: u32,
}

impl Carry {
    /// Nothing: chunks are bare node ranges until something is added.
    pub const fn new() -> Carry {
        Carry {
            out_edges: false,
            in_edges: false,
            per_node: 0,
        }
    }

    /// With each node's out-edges ([`Chunk::out_edges`]).
    pub const fn out_edges(self) -> Carry {
        Carry {
            out_edges: true,
            ..self
        }
    }

    /// With each node's in-edges ([`Chunk::in_edges`]).
    pub const fn in_edges(self) -> Carry {
        Carry {
            in_edges: true,
            ..self
        }
    }

    /// With each node's row of a per-node `section` ([`Section::Nodes`],
    /// [`Section::IdMap`], [`Section::Embeddings`], [`Section::InvNorms`]);
    /// any other section is refused
    /// ([`StoreError::Sections`]).
    pub fn section(self, section: Section) -> Result<Carry, StoreError> {
        let i = PER_NODE
            .iter()
            .position(|&s| s == section)
            .ok_or(StoreError::Sections {
                section,
                reason: "not a per-node section a chunk can carry",
            })?;
        Ok(Carry {
            per_node: self.per_node | 1 << i,
            ..self
        })
    }

    /// With each node's embedding row and its inverse norm
    /// ([`Chunk::embeddings`]): for scans over files larger than memory.
    pub fn embeddings(self) -> Carry {
        let both = [Section::Embeddings, Section::InvNorms];
        let bits = PER_NODE
            .iter()
            .enumerate()
            .filter(|(_, s)| both.contains(s))
            .fold(0, |bits, (i, _)| bits | 1 << i);
        Carry {
            per_node: self.per_node | bits,
            ..self
        }
    }

    /// The edge directions carried, as section triples.
    fn directions(self) -> impl Iterator<Item = [Section; 3]> {
        [(self.out_edges, OUT), (self.in_edges, IN)]
            .into_iter()
            .filter_map(|(on, d)| on.then_some(d))
    }

    /// The per-node sections carried.
    fn per_node_sections(self) -> impl Iterator<Item = Section> {
        PER_NODE
            .into_iter()
            .enumerate()
            .filter_map(move |(i, s)| (self.per_node & 1 << i != 0).then_some(s))
    }
}

/// Where one direction's rows lie in a chunk's buffer (byte ranges).
#[derive(Debug, Clone)]
struct RowsAt {
    offsets: Range<usize>,
    targets: Range<usize>,
    weights: Range<usize>,
}

/// A chunk read and checked by the background reader.
struct Filled {
    buf: AlignedBuf<u8>,
    /// The file's embedding dimension (0 without embeddings).
    dim: usize,
    /// Nodes of the file.
    node_count: usize,
    nodes: Range<u32>,
    /// Out-edges, in-edges (when carried).
    rows: [Option<RowsAt>; 2],
    /// Per-node sections: the section, its row length, its bytes.
    per_node: Vec<(Section, usize, Range<usize>)>,
    /// Bytes of the file's sections this chunk covers (for progress).
    covered: u64,
}

/// Its layout, not its bytes (megabytes).
impl core::fmt::Debug for Filled {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chunk")
            .field("nodes", &self.nodes)
            .field("rows", &self.rows)
            .field("per_node", &self.per_node)
            .field("bytes", &self.buf.len())
            .finish()
    }
}

/// A pass over an `.axg` file in node-range chunks that fit a memory
/// budget: [`next_chunk`](Chunks::next_chunk) hands out each chunk in node
/// order, every node in exactly one chunk.
///
/// Unlike a memory map, whose resident pages are the kernel's choice, a pass
/// reads with positioned reads (`pread`) into two reusable buffers that
/// together fit the budget: the memory it adds is those buffers. While the
/// caller works on one chunk, a background thread reads and checks the next
/// (double buffering); a finished chunk's buffer goes back to the reader.
///
/// Chunk sizes adapt to the rows: a chunk holds as many consecutive nodes
/// as fit a buffer (half the budget, at most 8 MiB) with the bytes of
/// everything it carries ([`Carry`]: out-edges, in-edges, per-node sections
/// such as the node records). A node whose row alone exceeds a buffer gets
/// a chunk of its own (read while no other chunk is held, in one buffer of
/// up to the whole budget); a row beyond the whole budget is
/// [`StoreError::Budget`].
///
/// What a chunk hands out is checked as [`AxgFile::parse`](super::AxgFile::parse)
/// checks a whole file: the header page with the same code, and each chunk's
/// rows with the graph's row checks (offsets that do not decrease and stay
/// within the edge count, targets below the node count, weights in
/// `(0, 1]`), before the caller sees them. With [`Verify::Full`] the block
/// checksums of every block a chunk touches are checked too, before the
/// chunk is handed out.
///
/// ```
/// use axonal::graph::generate;
/// use axonal::store::{self, Carry, Chunks, Contents, Verify};
///
/// let graph = generate::barabasi_albert(2_000, 3, 7);
/// let path = std::env::temp_dir().join(format!("axonal-chunks-doc-{}.axg", std::process::id()));
/// store::write_file(&path, &Contents::new(&graph))?;
/// // Sum every node's out-edge weights, 16 KiB at a time.
/// let mut sums = vec![0.0f32; graph.node_count()];
/// let mut chunks = Chunks::open(&path, 16 << 10, Carry::new().out_edges(), Verify::Full)?;
/// while let Some(chunk) = chunks.next_chunk(&mut ()) {
///     let rows = chunk?.out_edges().expect("carried");
///     for (v, _, weights) in rows.rows() {
///         sums[v as usize] = weights.iter().sum();
///     }
/// }
/// let (_, w) = graph.out_edges().neighbors(0);
/// assert_eq!(sums[0], w.iter().sum::<f32>());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The memory it adds is at most the budget: two chunk buffers of half of
/// it each, at most 8 MiB (the one the caller holds and the one being read
/// ahead; larger chunks gain nothing, smaller ones stay in the caches
/// between the reader and the caller), with [`Verify::Full`] the block
/// checksum table and a buffer of a sixteenth of the budget (at most
/// 64 KiB) carved out of it first. Dropping it (or
/// a cancellation, or an error) stops and joins the background reader.
pub struct Chunks {
    path: String,
    header: Header,
    total_bytes: u64,
    filled: Option<Receiver<Result<Filled, StoreError>>>,
    returned: Option<Sender<AlignedBuf<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    current: Option<Filled>,
    nodes_done: u64,
    bytes_done: u64,
}

impl core::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chunks")
            .field("path", &self.path)
            .field("nodes", &self.header.nodes)
            .field("nodes_done", &self.nodes_done)
            .field("bytes_done", &self.bytes_done)
            .finish_non_exhaustive()
    }
}

impl Chunks {
    /// Opens the file at `path` for a pass in chunks carrying `carry`,
    /// with at most `budget` bytes of buffers. The header and the section
    /// table are checked now (as [`AxgFile::parse`](super::AxgFile::parse)
    /// checks them); each chunk's rows when it is read, and with
    /// [`Verify::Full`] the checksums of every block it touches (lower
    /// levels check the structure: the kernels rely on it).
    pub fn open(
        path: impl AsRef<Path>,
        budget: usize,
        carry: Carry,
        verify: Verify,
    ) -> Result<Chunks, StoreError> {
        let path = path.as_ref();
        let (file, header, entries) = open_header(path)?;
        let entry = |section: Section| find_entry(&entries, section);
        let directions = carry
            .directions()
            .map(|d| Ok([entry(d[0])?, entry(d[1])?, entry(d[2])?]))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let per_node = carry
            .per_node_sections()
            .map(|s| {
                let e = entry(s)?;
                let row = e.len.checked_div(header.nodes).unwrap_or(0);
                if row * header.nodes != e.len {
                    return Err(StoreError::SectionSize {
                        section: s,
                        expected: row * header.nodes,
                        found: e.len,
                    });
                }
                Ok((e, row as usize))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let checksums = match verify {
            Verify::Full => {
                let scratch = (budget / 16).clamp(SCRATCH_LEN.start, SCRATCH_LEN.end);
                let table = entry(Section::BlockChecksums)?;
                Some(Checksums::read(&file, path, table, scratch)?)
            }
            _ => None,
        };
        let reserved = checksums.as_ref().map_or(0, Checksums::bytes);
        let fixed = regions(directions.len(), per_node.len()) as u64 + reserved;
        if fixed > budget as u64 {
            return Err(StoreError::Budget {
                needed: fixed,
                budget: budget as u64,
                what: "a chunked pass's buffers and checksums",
            });
        }
        if let Some(c) = &checksums {
            for e in directions
                .iter()
                .flatten()
                .chain(per_node.iter().map(|p| &p.0))
            {
                c.check_section(e)?;
            }
        }
        let whole = budget - reserved as usize;
        let share = (whole / 2).min(MAX_SHARE) / REGION_ALIGN * REGION_ALIGN;
        let total_bytes = directions
            .iter()
            .map(|[o, t, w]| o.len + t.len + w.len)
            .chain(per_node.iter().map(|p| p.0.len))
            .sum();
        let reader = Reader {
            file,
            path: path.display().to_string(),
            header,
            budget: budget as u64,
            reserved,
            whole,
            share,
            directions,
            per_node,
            checksums,
        };
        let (filled_tx, filled_rx) = channel();
        let (returned_tx, returned_rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("axg-chunks".into())
            .spawn(move || reader.run(&filled_tx, returned_rx, &stopped))
            .map_err(io(path))?;
        Ok(Chunks {
            path: path.display().to_string(),
            header,
            total_bytes,
            filled: Some(filled_rx),
            returned: Some(returned_tx),
            stop,
            reader: Some(handle),
            current: None,
            nodes_done: 0,
            bytes_done: 0,
        })
    }

    /// Number of nodes of the file.
    pub fn node_count(&self) -> usize {
        self.header.nodes as usize
    }

    /// Number of edges of the file.
    pub fn edge_count(&self) -> usize {
        self.header.edges as usize
    }

    /// The file's path, as errors name it.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next chunk (the previous one's buffer goes back to the reader),
    /// `None` after the last one or after an error. Reports the pass's
    /// progress first to `progress` ([`Phase::Scan`]: nodes and bytes of
    /// the sections carried, done and in all): a cancellation is
    /// [`StoreError::Cancelled`], with the reader stopped and joined.
    pub fn next_chunk(
        &mut self,
        progress: &mut dyn Progress,
    ) -> Option<Result<Chunk<'_>, StoreError>> {
        if let Some(done) = self.current.take() {
            self.nodes_done += u64::from(done.nodes.end - done.nodes.start);
            self.bytes_done += done.covered;
            if let Some(returned) = &self.returned {
                // The reader may have finished: then the buffer is freed.
                let _ = returned.send(done.buf);
            }
        }
        let filled = self.filled.as_ref()?;
        let report = ProgressReport::new(Phase::Scan)
            .items(self.nodes_done, Some(self.header.nodes))
            .bytes(self.bytes_done, Some(self.total_bytes));
        if let Err(cancelled) = progress::check(progress, report) {
            self.shut_down();
            return Some(Err(cancelled));
        }
        match filled.recv() {
            Ok(Ok(chunk)) => Some(Ok(Chunk {
                filled: self.current.insert(chunk),
            })),
            Ok(Err(error)) => {
                self.shut_down();
                Some(Err(error))
            }
            Err(_) => {
                self.shut_down();
                None
            }
        }
    }

    /// Stops the reader and waits for it to end.
    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Closing both channels wakes the reader wherever it waits.
        self.filled = None;
        self.returned = None;
        if let Some(reader) = self.reader.take()
            && let Err(panic) = reader.join()
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// One chunk of a pass: the rows of nodes [`nodes`](Chunk::nodes), checked.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'c> {
    filled: &'c Filled,
}

impl<'c> Chunk<'c> {
    /// The chunk's nodes.
    pub fn nodes(&self) -> Range<u32> {
        self.filled.nodes.clone()
    }

    /// The chunk's out-edges, if carried.
    pub fn out_edges(&self) -> Option<ChunkRows<'c>> {
        self.rows(0)
    }

    /// The chunk's in-edges, if carried.
    pub fn in_edges(&self) -> Option<ChunkRows<'c>> {
        self.rows(1)
    }

    fn rows(&self, direction: usize) -> Option<ChunkRows<'c>> {
        let at = self.filled.rows[direction].as_ref()?;
        let buf = &self.filled.buf;
        Some(ChunkRows {
            node_count: self.filled.node_count,
            first: self.filled.nodes.start,
            offsets: bytemuck::cast_slice(&buf[at.offsets.clone()]),
            targets: bytemuck::cast_slice(&buf[at.targets.clone()]),
            weights: bytemuck::cast_slice(&buf[at.weights.clone()]),
        })
    }

    /// The bytes of a per-node `section` for the chunk's nodes (one row of
    /// `row_len` bytes per node, returned with it), if carried.
    pub fn section(&self, section: Section) -> Option<(&'c [u8], usize)> {
        let (_, row, range) = self.filled.per_node.iter().find(|p| p.0 == section)?;
        Some((&self.filled.buf[range.clone()], *row))
    }

    /// The chunk's node records, if carried.
    pub fn node_records(&self) -> Option<&'c [Node]> {
        self.section(Section::Nodes)
            .map(|(bytes, _)| bytemuck::cast_slice(bytes))
    }

    /// The chunk's nodes' embedding rows (row `i` is node
    /// `nodes().start + i`), checked as [`EmbeddingView::new`] checks, if
    /// carried ([`Carry::embeddings`]).
    pub fn embeddings(&self) -> Option<EmbeddingView<'c>> {
        let floats = |s| self.section(s).map(|(b, _)| bytemuck::cast_slice(b));
        let (rows, norms) = (floats(Section::Embeddings)?, floats(Section::InvNorms)?);
        // Checked when the chunk was read (`Reader::fill`).
        Some(EmbeddingView::new_unchecked(self.filled.dim, rows, norms))
    }

    /// Offers every node of the chunk to `top`, scored by the cosine
    /// similarity of its embedding row with `query` (as
    /// [`Kernels::top_k_cosine`] scores them): run over every chunk of a
    /// pass, `top` holds the file's best `k`, exactly as a scan of the
    /// whole matrix would. `Ok(false)` if the chunk carries no embeddings.
    pub fn top_k_cosine(
        &self,
        kernels: Kernels,
        query: &[f32],
        top: &mut TopK,
    ) -> Result<bool, EmbeddingError> {
        let Some(rows) = self.embeddings() else {
            return Ok(false);
        };
        kernels.top_k_cosine_from(self.filled.nodes.start, query, rows, top)?;
        Ok(true)
    }

    /// The chunk's nodes' original ids, if carried.
    pub fn id_map(&self) -> Option<&'c [u64]> {
        self.section(Section::IdMap)
            .map(|(bytes, _)| bytemuck::cast_slice(bytes))
    }
}

/// One direction's rows of a chunk's nodes: node ids and edge offsets are
/// the whole file's.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRows<'c> {
    /// Nodes of the file.
    node_count: usize,
    first: u32,
    /// `nodes + 1` offsets into the file's edge arrays.
    offsets: &'c [u64],
    targets: &'c [u32],
    weights: &'c [f32],
}

impl<'c> ChunkRows<'c> {
    /// The nodes whose rows these are.
    pub fn nodes(&self) -> Range<u32> {
        self.first..self.first + (self.offsets.len() - 1) as u32
    }

    /// Node `v`'s neighbours and edge weights.
    ///
    /// # Panics
    /// If `v` is not one of [`nodes`](ChunkRows::nodes).
    pub fn neighbors(&self, v: u32) -> (&'c [u32], &'c [f32]) {
        let i = (v - self.first) as usize;
        let base = self.offsets[0];
        let range = (self.offsets[i] - base) as usize..(self.offsets[i + 1] - base) as usize;
        (&self.targets[range.clone()], &self.weights[range])
    }

    /// Every row in node order: the node, its neighbours, its weights.
    pub fn rows(&self) -> impl Iterator<Item = (u32, &'c [u32], &'c [f32])> + 'c {
        let (offsets, targets, weights) = (self.offsets, self.targets, self.weights);
        let base = offsets[0];
        (self.first..).zip(offsets.windows(2)).map(move |(v, w)| {
            let range = (w[0] - base) as usize..(w[1] - base) as usize;
            (v, &targets[range.clone()], &weights[range])
        })
    }

    /// The rows' `nodes + 1` offsets into the file's edge arrays.
    pub fn offsets(&self) -> &'c [u64] {
        self.offsets
    }

    /// The rows' neighbours, node by node.
    pub fn targets(&self) -> &'c [u32] {
        self.targets
    }

    /// The rows' weights, parallel to [`targets`](ChunkRows::targets).
    pub fn weights(&self) -> &'c [f32] {
        self.weights
    }

    /// This chunk's part of [`dense_hop`](crate::spread::dense_hop) when
    /// these are in-edge rows: `out[i]` for node `nodes().start + i`, the
    /// sum over its in-edges `u -> v` of `x[u] * w`, with the same
    /// fixed-point arithmetic (the same bits). `x` holds one value in
    /// `[0, 1]` per node of the file, `out` one slot per row.
    pub fn dense_hop(&self, x: &[f32], out: &mut [f32]) -> Result<(), SpreadError> {
        // The targets are below the node count (checked when read), which
        // `x` matches.
        crate::spread::check_dense_hop(self.node_count, x, self.nodes().len(), out)?;
        for ((_, sources, weights), slot) in self.rows().zip(out) {
            *slot = crate::spread::dense_hop_row(sources, weights, x);
        }
        Ok(())
    }
}

/// The byte length of a buffer region of `len` bytes, with the padding that
/// aligns the region after it.
fn padded(len: usize) -> usize {
    len.next_multiple_of(REGION_ALIGN)
}

/// The most padding a chunk's regions need.
fn regions(directions: usize, per_node: usize) -> usize {
    REGION_ALIGN * (3 * directions + per_node)
}

/// Reads exactly `buf.len()` bytes at `offset` of `file`.
/// Opens the file at `path` and reads and checks its header page and
/// section table (what a reader that does not hold the whole file checks
/// before reading any section).
pub(crate) fn open_header(path: &Path) -> Result<(File, Header, Vec<Entry>), StoreError> {
    let file = File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let mut page = vec![0u8; HEADER_LEN.min(len as usize)];
    read_at(&file, &mut page, 0).map_err(io(path))?;
    let (header, entries) = parse_header_page(&page, len)?;
    Ok((file, header, entries))
}

/// The table entry of `section` (a typed error if the file has none).
pub(crate) fn find_entry(entries: &[Entry], section: Section) -> Result<Entry, StoreError> {
    entries
        .iter()
        .find(|e| e.section == section)
        .copied()
        .ok_or(StoreError::Sections {
            section,
            reason: "missing",
        })
}

/// Reads `buf.len()` bytes of `file` at `offset` (a positioned read).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// The block checksums, for [`Verify::Full`]: the table, and how far each
/// section's blocks were checked.
#[derive(Debug)]
struct Checksums {
    table: Vec<u64>,
    scratch: Vec<u8>,
    /// Per section: its bytes below this were checked.
    checked_to: Vec<(Section, u64)>,
}

impl Checksums {
    /// Reads the block checksum table and checks its own checksum.
    fn read(
        file: &File,
        path: &Path,
        entry: Entry,
        scratch: usize,
    ) -> Result<Checksums, StoreError> {
        let mut bytes = vec![0u8; entry.len as usize];
        read_at(file, &mut bytes, entry.offset).map_err(io(path))?;
        if xxh3_64(&bytes) != entry.checksum {
            return Err(StoreError::Checksum {
                section: Section::BlockChecksums,
                offset: entry.offset,
                len: entry.len,
            });
        }
        let table = bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        Ok(Checksums {
            table,
            scratch: vec![0; scratch],
            checked_to: Vec::new(),
        })
    }

    /// Bytes it holds.
    fn bytes(&self) -> u64 {
        (self.table.len() * 8 + self.scratch.len()) as u64
    }

    /// A section's block checksums (the table's length was checked against
    /// every section's block count when the header was parsed).
    fn blocks(&self, e: &Entry) -> &[u64] {
        &self.table[e.first_block as usize..][..e.blocks() as usize]
    }

    /// Checks a section's checksum over its block checksums.
    fn check_section(&self, e: &Entry) -> Result<(), StoreError> {
        if xxh3_64(bytemuck::cast_slice(self.blocks(e))) != e.checksum {
            return Err(StoreError::Checksum {
                section: e.section,
                offset: e.offset,
                len: e.len,
            });
        }
        Ok(())
    }

    /// Checks every block of section `e` that `range` (bytes of the
    /// section, held in `bytes`) touches and that was not checked before,
    /// reading the parts of those blocks outside `range` into the scratch
    /// buffer.
    fn check(
        &mut self,
        file: &File,
        path: &str,
        e: &Entry,
        range: Range<u64>,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        if range.is_empty() {
            return Ok(());
        }
        let checked_to = match self.checked_to.iter().position(|c| c.0 == e.section) {
            Some(i) => i,
            None => {
                self.checked_to.push((e.section, 0));
                self.checked_to.len() - 1
            }
        };
        for block in range.start / BLOCK_LEN..range.end.div_ceil(BLOCK_LEN) {
            let start = block * BLOCK_LEN;
            let end = (start + BLOCK_LEN).min(e.len);
            if end <= self.checked_to[checked_to].1 {
                continue;
            }
            let mut hash = Xxh3Default::new();
            let inside = start.max(range.start)..end.min(range.end);
            self.hash_file(
                &mut hash,
                file,
                path,
                e.offset + start..e.offset + inside.start,
            )?;
            hash.update(
                &bytes[(inside.start - range.start) as usize..]
                    [..(inside.end - inside.start) as usize],
            );
            self.hash_file(&mut hash, file, path, e.offset + inside.end..e.offset + end)?;
            if hash.digest() != self.table[(e.first_block + block) as usize] {
                return Err(StoreError::Checksum {
                    section: e.section,
                    offset: e.offset + start,
                    len: end - start,
                });
            }
            self.checked_to[checked_to].1 = end;
        }
        Ok(())
    }

    /// Hashes the file's bytes `at`, through the scratch buffer.
    fn hash_file(
        &mut self,
        hash: &mut Xxh3Default,
        file: &File,
        path: &str,
        at: Range<u64>,
    ) -> Result<(), StoreError> {
        let mut from = at.start;
        while from < at.end {
            let n = (at.end - from).min(self.scratch.len() as u64) as usize;
            read_at(file, &mut self.scratch[..n], from).map_err(io(Path::new(path)))?;
            hash.update(&self.scratch[..n]);
            from += n as u64;
        }
        Ok(())
    }
}

/// The chunk buffers in circulation between the reader and the caller: at
/// most two of `share` bytes, or one of up to the whole budget.
struct Buffers {
    free: Vec<AlignedBuf<u8>>,
    /// Buffers that exist (free, being filled, or with the caller).
    live: usize,
    /// Whether the one buffer that exists is a single row's, of up to the
    /// whole budget.
    single: bool,
    share: usize,
    returned: Receiver<AlignedBuf<u8>>,
}

impl Buffers {
    /// A buffer of `share` bytes: a free one, a new one, or the next the
    /// caller returns. `None` once the caller is gone.
    fn take(&mut self) -> Option<AlignedBuf<u8>> {
        if self.single {
            // A single row's buffer: freed once back, room for two again.
            self.free.clear();
            while self.free.len() < self.live {
                self.free.push(self.returned.recv().ok()?);
            }
            self.free.clear();
            self.live = 0;
            self.single = false;
        }
        if let Some(buf) = self.free.pop() {
            return Some(buf);
        }
        if self.live < 2 {
            self.live += 1;
            return Some(AlignedBuf::zeroed(self.share));
        }
        self.returned.recv().ok()
    }

    /// A buffer of `len` bytes (up to the whole budget), once every other
    /// buffer is back and freed. `None` once the caller is gone.
    fn take_whole(&mut self, len: usize) -> Option<AlignedBuf<u8>> {
        while self.free.len() < self.live {
            self.free.push(self.returned.recv().ok()?);
        }
        self.free.clear();
        self.live = 1;
        self.single = true;
        Some(AlignedBuf::zeroed(len))
    }
}

/// The background reader: reads, checks and hands out chunks in order.
struct Reader {
    file: File,
    path: String,
    header: Header,
    budget: u64,
    reserved: u64,
    /// Bytes for chunk buffers: the budget less what `Checksums` holds.
    whole: usize,
    /// Bytes of one of the two chunk buffers.
    share: usize,
    directions: Vec<[Entry; 3]>,
    /// Per-node sections with their row lengths.
    per_node: Vec<(Entry, usize)>,
    checksums: Option<Checksums>,
}

/// How far the reader got: the next node and each direction's offset there.
struct Cursor {
    node: u64,
    offsets: Vec<u64>,
    /// Offsets to read ahead for the next chunk (grows and shrinks with
    /// the chunks).
    window: u64,
}

impl Reader {
    fn run(
        mut self,
        filled: &Sender<Result<Filled, StoreError>>,
        returned: Receiver<AlignedBuf<u8>>,
        stop: &AtomicBool,
    ) {
        let mut buffers = Buffers {
            free: Vec::new(),
            live: 0,
            single: false,
            share: self.share,
            returned,
        };
        // The first window: the nodes of an average row that fit.
        let dirs = self.directions.len() as u64;
        let average = (8 * dirs * (self.header.nodes + self.header.edges))
            .div_ceil(self.header.nodes.max(1))
            + self.per_node_bytes();
        let mut at = Cursor {
            node: 0,
            offsets: vec![0; self.directions.len()],
            window: (self.share as u64 / average.max(1)).max(1),
        };
        while at.node < self.header.nodes && !stop.load(Ordering::Relaxed) {
            let chunk = match self.next(&mut buffers, &mut at) {
                Some(chunk) => chunk,
                None => return,
            };
            let failed = chunk.is_err();
            if filled.send(chunk).is_err() || failed {
                return;
            }
        }
    }

    /// Bytes per node of the per-node sections carried.
    fn per_node_bytes(&self) -> u64 {
        self.per_node.iter().map(|p| p.1 as u64).sum()
    }

    /// The most nodes whose offsets (and per-node rows, were they
    /// edgeless) fit one buffer of `len` bytes.
    fn max_window(&self, len: usize) -> u64 {
        // An offsets region of `k + 1` offsets takes at most `8 k + 64` bytes.
        let fixed = (regions(self.directions.len(), self.per_node.len())
            + REGION_ALIGN * self.directions.len()) as u64;
        let per_node = 8 * self.directions.len() as u64 + self.per_node_bytes();
        (len as u64)
            .saturating_sub(fixed)
            .checked_div(per_node)
            .unwrap_or(u64::MAX)
    }

    /// Reads the next chunk; `None` once the caller is gone.
    fn next(
        &mut self,
        buffers: &mut Buffers,
        at: &mut Cursor,
    ) -> Option<Result<Filled, StoreError>> {
        let remaining = self.header.nodes - at.node;
        let window = at.window.min(remaining).min(self.max_window(self.share));
        if window > 0 {
            let buf = buffers.take()?;
            match self.fill(buf, at, window) {
                Ok(Ok(chunk)) => return Some(Ok(chunk)),
                Ok(Err(buf)) => buffers.free.push(buf),
                Err(e) => return Some(Err(e)),
            }
        }
        // Not even one node fits a buffer: one node, alone, in up to the
        // whole budget.
        let needed = match self.single_row_bytes(at) {
            Ok(needed) => needed,
            Err(e) => return Some(Err(e)),
        };
        if needed > self.whole as u64 {
            return Some(Err(StoreError::Budget {
                needed: needed + self.reserved,
                budget: self.budget,
                what: "the largest row of a chunked pass",
            }));
        }
        let buf = buffers.take_whole(needed as usize)?;
        Some(match self.fill(buf, at, 1) {
            Ok(Ok(chunk)) => Ok(chunk),
            // The row was sized from the offsets just read: only a file
            // changed under the pass disagrees with them now.
            Ok(Err(_)) => Err(StoreError::Io {
                path: self.path.clone(),
                kind: std::io::ErrorKind::InvalidData,
            }),
            Err(e) => Err(e),
        })
    }

    /// Bytes of a buffer holding node `at.node` alone.
    fn single_row_bytes(&self, at: &Cursor) -> Result<u64, StoreError> {
        let mut bytes =
            regions(self.directions.len(), self.per_node.len()) as u64 + self.per_node_bytes();
        for [o, ..] in &self.directions {
            let mut pair = [0u8; 16];
            read_at(&self.file, &mut pair, o.offset + at.node * 8)
                .map_err(io(Path::new(&self.path)))?;
            let [a, b] =
                [0, 8].map(|i| u64::from_le_bytes(pair[i..i + 8].try_into().expect("8 bytes")));
            // As `fill` lays it out: two offsets in one padded region.
            bytes += padded(16) as u64 + 8 * b.saturating_sub(a).min(self.header.edges);
        }
        Ok(bytes)
    }

    /// Reads into `buf` the offsets of up to `window` nodes from
    /// `at.node`, then the rows of as many of them as fit `buf`, checks
    /// them, and advances `at`. `Ok(Err(buf))`: not even one node's row
    /// fits.
    fn fill(
        &mut self,
        mut buf: AlignedBuf<u8>,
        at: &mut Cursor,
        window: u64,
    ) -> Result<Result<Filled, AlignedBuf<u8>>, StoreError> {
        let path = Path::new(&self.path);
        let first = at.node;
        // The offsets windows, then everything else after them.
        let mut end = 0usize;
        let mut offsets_at = Vec::with_capacity(self.directions.len());
        for (d, [o, ..]) in self.directions.iter().enumerate() {
            let range = end..end + 8 * (window as usize + 1);
            read_at(&self.file, &mut buf[range.clone()], o.offset + first * 8).map_err(io(path))?;
            if let Some(c) = &mut self.checksums {
                let bytes = first * 8..(first + window + 1) * 8;
                c.check(&self.file, &self.path, o, bytes, &buf[range.clone()])?;
            }
            self.check_window(d, at, bytemuck::cast_slice(&buf[range.clone()]))?;
            end = padded(range.end);
            offsets_at.push(range);
        }
        let fixed = end + regions(self.directions.len(), self.per_node.len());
        let per_node = self.per_node_bytes();
        let cost = |j: u64| -> u64 {
            let edges: u64 = offsets_at
                .iter()
                .map(|r| {
                    let o: &[u64] = bytemuck::cast_slice(&buf[r.clone()]);
                    o[j as usize] - o[0]
                })
                .sum();
            fixed as u64 + 8 * edges + j * per_node
        };
        // The most nodes whose rows fit (the cost grows with the nodes).
        let (mut lo, mut hi) = (0u64, window);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if cost(mid) <= buf.len() as u64 {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let count = lo;
        if count == 0 {
            return Ok(Err(buf));
        }
        // Read ahead twice what fitted next time, or more if all did.
        at.window = if count == window {
            2 * window
        } else {
            count + count / 2 + 16
        };
        let nodes = first as u32..(first + count) as u32;
        let mut rows = [None, None];
        let mut covered = 0u64;
        for (d, (entries, offsets)) in self.directions.iter().zip(&offsets_at).enumerate() {
            let [o, t, w] = entries;
            let slot = usize::from(o.section == Section::InOffsets);
            let used = offsets.start..offsets.start + 8 * (count as usize + 1);
            let (e0, e1) = {
                let o: &[u64] = bytemuck::cast_slice(&buf[used.clone()]);
                (o[0], o[count as usize])
            };
            let edges = (e1 - e0) as usize;
            let targets = end..end + 4 * edges;
            let weights = padded(targets.end)..padded(targets.end) + 4 * edges;
            end = padded(weights.end);
            // Read and check piece by piece, each checked while in cache.
            let mut edges_ok = true;
            for piece in (0..edges).step_by(PIECE_EDGES) {
                let piece = piece..(piece + PIECE_EDGES).min(edges);
                let (t_at, w_at) = (
                    targets.start + 4 * piece.start..targets.start + 4 * piece.end,
                    weights.start + 4 * piece.start..weights.start + 4 * piece.end,
                );
                let from = (e0 + piece.start as u64) * 4;
                read_at(&self.file, &mut buf[t_at.clone()], t.offset + from).map_err(io(path))?;
                read_at(&self.file, &mut buf[w_at.clone()], w.offset + from).map_err(io(path))?;
                edges_ok &= edges_valid(
                    bytemuck::cast_slice(&buf[t_at]),
                    bytemuck::cast_slice(&buf[w_at]),
                    self.header.nodes as usize,
                );
            }
            if let Some(c) = &mut self.checksums {
                let bytes = e0 * 4..e1 * 4;
                c.check(
                    &self.file,
                    &self.path,
                    t,
                    bytes.clone(),
                    &buf[targets.clone()],
                )?;
                c.check(&self.file, &self.path, w, bytes, &buf[weights.clone()])?;
            }
            // The offsets were checked with the window; the edges' first
            // offender is found by the row checks, only if there is one.
            if !edges_ok {
                let error = check_rows(
                    nodes.start,
                    bytemuck::cast_slice(&buf[used.clone()]),
                    bytemuck::cast_slice(&buf[targets.clone()]),
                    bytemuck::cast_slice(&buf[weights.clone()]),
                    self.header.nodes as usize,
                )
                .err()
                .unwrap_or(GraphError::MalformedCsr {
                    reason: "an edge out of range or weight outside (0, 1]",
                });
                return Err(structure_error(error, entries.map(|e| e.section), |s| {
                    section_start(entries, s)
                }));
            }
            if nodes.end as u64 == self.header.nodes && e1 != self.header.edges {
                return Err(StoreError::Structure {
                    section: o.section,
                    offset: o.offset + self.header.nodes * 8,
                    error: GraphError::MalformedCsr {
                        reason: "last offset must equal the number of targets",
                    },
                });
            }
            at.offsets[d] = e1;
            // Each chunk covers its nodes' offsets; the last, the end's too.
            let last = u64::from(nodes.end as u64 == self.header.nodes);
            covered += 8 * (count + last) + 8 * edges as u64;
            rows[slot] = Some(RowsAt {
                offsets: used,
                targets,
                weights,
            });
        }
        let mut per_node_rows = Vec::with_capacity(self.per_node.len());
        for &(e, row) in &self.per_node {
            let range = end..end + row * count as usize;
            end = padded(range.end);
            let bytes = first * row as u64..(first + count) * row as u64;
            read_at(&self.file, &mut buf[range.clone()], e.offset + bytes.start)
                .map_err(io(path))?;
            if let Some(c) = &mut self.checksums {
                c.check(&self.file, &self.path, &e, bytes, &buf[range.clone()])?;
            }
            covered += (row * count as usize) as u64;
            per_node_rows.push((e.section, row, range));
        }
        // Embedding rows are handed out as a view the scans trust: checked
        // here, as the edges are.
        let floats = |s: Section| {
            per_node_rows
                .iter()
                .find(|p| p.0 == s)
                .map(|p| bytemuck::cast_slice::<u8, f32>(&buf[p.2.clone()]))
        };
        if let (Some(rows), Some(norms)) = (floats(Section::Embeddings), floats(Section::InvNorms))
        {
            let starts = [Section::Embeddings, Section::InvNorms].map(|s| {
                self.per_node
                    .iter()
                    .find(|p| p.0.section == s)
                    .map_or(0, |p| p.0.offset)
            });
            EmbeddingView::new(self.header.dim as usize, rows, norms).map_err(|error| {
                embedding_error(error, first as usize, self.header.stride() as usize, starts)
            })?;
        }
        at.node += count;
        Ok(Ok(Filled {
            buf,
            dim: self.header.dim as usize,
            node_count: self.header.nodes as usize,
            nodes,
            rows,
            per_node: per_node_rows,
            covered,
        }))
    }

    /// Checks direction `d`'s offsets window before sizing a chunk from
    /// it: it starts where the last chunk ended, does not decrease, and
    /// stays within the edge count.
    fn check_window(&self, d: usize, at: &Cursor, window: &[u64]) -> Result<(), StoreError> {
        let o = &self.directions[d][0];
        let bad = |i: usize, reason| StoreError::Structure {
            section: o.section,
            offset: o.offset + (at.node + i as u64) * 8,
            error: GraphError::MalformedCsr { reason },
        };
        if window[0] != at.offsets[d] {
            return Err(bad(
                0,
                if at.node == 0 {
                    "offsets must start with 0"
                } else {
                    "offsets must not decrease"
                },
            ));
        }
        if let Some(i) = window.windows(2).position(|w| w[0] > w[1]) {
            return Err(bad(i + 1, "offsets must not decrease"));
        }
        if let Some(i) = window.iter().position(|&x| x > self.header.edges) {
            return Err(bad(i, "last offset must equal the number of targets"));
        }
        Ok(())
    }
}

/// Where `section`, one of a direction's `entries`, starts in the file.
fn section_start(entries: &[Entry; 3], section: Section) -> u64 {
    entries
        .iter()
        .find(|e| e.section == section)
        .map_or(0, |e| e.offset)
}
