//! [`AxgBlocks`]: an `.axg` file's edges as node-range blocks, read with
//! positioned reads.
//!
//! Out-of-core spreading reads a graph's rows through a [`BlockCache`](super::BlockCache);
//! this is where its blocks come from. The file's two offset arrays stay in
//! memory (8 bytes per node and direction: they give every node's degree
//! and where its row lies), and each direction's nodes are cut into
//! ranges of about [`block_edges`](AxgBlocks::block_edges) edges whose
//! targets and weights are a block each (a row longer than that is a
//! block of its own). A block is checked as it is read: targets below the
//! node count, weights in `(0, 1]`, the checks every kernel's memory
//! safety and semantics rely on; a bad one is a [`StoreError::Structure`]
//! naming the section and the byte offset. Embeddings, when the file has
//! them, come in blocks of whole rows (about as many bytes as an edge
//! block), each with its rows' inverse norms after them, checked as
//! [`EmbeddingView::new`](crate::layout::EmbeddingView::new) checks.
//! Block checksums
//! ([`Verify::Full`](crate::store::Verify)) cover whole 1 MiB spans of the
//! file and are not read here: verify the file once with
//! [`AxgFile::verify_with`](crate::store::AxgFile::verify_with) or a
//! [`Chunks`](crate::store::Chunks) pass.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{BlockBuf, BlockKind, BlockSource, CacheError};
use crate::graph::{GraphError, non_decreasing, targets_below, weights_valid};
use crate::layout::{CACHE_LINE, EmbeddingView};
use crate::store::{
    Entry, Header, Section, StoreError, embedding_error, find_entry, open_header, read_at,
};

/// Names a block of an `.axg` file: a section (out- or in-edge targets or
/// weights, embeddings) and the index of a node range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AxgBlock {
    /// One of [`Section::OutTargets`], [`Section::OutWeights`],
    /// [`Section::InTargets`], [`Section::InWeights`] (node range
    /// [`AxgBlocks::rows`] of the section's direction), or
    /// [`Section::Embeddings`] (rows [`AxgBlocks::embedding_rows`], then
    /// their inverse norms).
    pub section: Section,
    /// The node range's index.
    pub index: u32,
}

impl AxgBlock {
    /// The block as one number: the section's
    /// [`kind`](Section::kind) in the high 32 bits, the index in the low
    /// (for traces and logs).
    pub const fn to_u64(self) -> u64 {
        ((self.section.kind() as u64) << 32) | self.index as u64
    }
}

/// The embedding sections: rows per block and where they are.
#[derive(Debug, Clone, Copy)]
struct Embeddings {
    rows: Entry,
    norms: Entry,
    rows_per_block: u32,
}

/// One direction of the file: its offsets and its node ranges.
#[derive(Debug)]
struct Direction {
    offsets: Vec<u64>,
    /// Block `b` holds rows `starts[b]..starts[b + 1]`.
    starts: Vec<u32>,
    targets: Entry,
    weights: Entry,
}

impl Direction {
    fn edges(&self, block: usize) -> Range<u64> {
        let rows = self.starts[block] as usize..self.starts[block + 1] as usize;
        self.offsets[rows.start]..self.offsets[rows.end]
    }
}

/// The edges (and embeddings) of an `.axg` file as blocks of node ranges:
/// a [`BlockSource`] keyed by [`AxgBlock`]. The two offset arrays stay in
/// memory ([`memory_bytes`](Self::memory_bytes)); each direction's nodes
/// are cut into ranges of about [`block_edges`](Self::block_edges) edges
/// (a longer row alone), whose targets and weights are a block each, read
/// with positioned reads and checked as read (targets below the node
/// count, weights in `(0, 1]`, embedding rows as
/// [`EmbeddingView::new`] checks them): a bad block is a
/// [`StoreError`] naming the section and the byte offset. Block checksums
/// are not read: verify a file once with
/// [`AxgFile::verify_with`](crate::store::AxgFile::verify_with).
#[derive(Debug)]
pub struct AxgBlocks {
    file: File,
    path: PathBuf,
    header: Header,
    block_edges: u64,
    out: Direction,
    inc: Direction,
    embeddings: Option<Embeddings>,
    /// [`largest_block`](AxgBlocks::largest_block), measured at opening.
    largest_block: usize,
}

/// Edges a block holds by default: 4 Ki (16 KiB of targets, as many of
/// weights). A query reads the rows of a few thousand nodes scattered over
/// the graph, so a block is mostly the rows around the one needed: small
/// blocks keep that read amplification down (`query_std` on R-MAT scale
/// 22 out of core at a quarter of the file: 4 Ki edges 3x the throughput
/// of 64 Ki, 2x that of 16 Ki; `examples/out_of_core.rs --block-edges`).
pub const DEFAULT_BLOCK_EDGES: usize = 4 << 10;

impl AxgBlocks {
    /// Opens the file at `path`: checks its header and section table,
    /// reads and checks both offset arrays, and cuts each direction into
    /// node ranges of about `block_edges` edges.
    pub fn open(path: impl AsRef<Path>, block_edges: usize) -> Result<AxgBlocks, CacheError> {
        let path = path.as_ref();
        if block_edges == 0 || block_edges > (1 << 28) {
            return Err(CacheError::Config {
                field: "block_edges",
                expected: "between 1 and 2^28",
            });
        }
        let io = |e: std::io::Error| StoreError::Io {
            path: path.display().to_string(),
            kind: e.kind(),
        };
        let (file, header, entries) = open_header(path)?;
        let entry = |section: Section| find_entry(&entries, section);
        let direction = |[o, t, w]: [Section; 3]| -> Result<Direction, CacheError> {
            let offsets = read_offsets(&file, entry(o)?, &header).map_err(|e| match e {
                ReadError::Io(e) => CacheError::Store(io(e)),
                ReadError::Store(e) => CacheError::Store(e),
            })?;
            Ok(Direction {
                starts: plan(&offsets, block_edges as u64),
                offsets,
                targets: entry(t)?,
                weights: entry(w)?,
            })
        };
        let out = direction([
            Section::OutOffsets,
            Section::OutTargets,
            Section::OutWeights,
        ])?;
        let inc = direction([Section::InOffsets, Section::InTargets, Section::InWeights])?;
        let embeddings = if header.dim > 0 {
            let row_bytes = header.stride() * 4;
            Some(Embeddings {
                rows: entry(Section::Embeddings)?,
                norms: entry(Section::InvNorms)?,
                rows_per_block: (block_edges as u64 * 4 / row_bytes).clamp(1, 1 << 20) as u32,
            })
        } else {
            None
        };
        let mut blocks = AxgBlocks {
            file,
            path: path.to_path_buf(),
            header,
            block_edges: block_edges as u64,
            out,
            inc,
            embeddings,
            largest_block: 0,
        };
        blocks.largest_block = blocks.measure_largest_block();
        Ok(blocks)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Nodes of the graph.
    pub fn node_count(&self) -> usize {
        self.header.nodes as usize
    }

    /// Edges of the graph.
    pub fn edge_count(&self) -> usize {
        self.header.edges as usize
    }

    /// Edges a block holds at most (but for a longer row, alone in its
    /// block).
    pub fn block_edges(&self) -> usize {
        self.block_edges as usize
    }

    /// Offsets of the out-edges (`nodes + 1`, from 0 to the edge count).
    pub fn out_offsets(&self) -> &[u64] {
        &self.out.offsets
    }

    /// Offsets of the in-edges.
    pub fn in_offsets(&self) -> &[u64] {
        &self.inc.offsets
    }

    /// Blocks per section of the out-edges (`out == true`) or the in-edges.
    pub fn blocks(&self, out: bool) -> usize {
        self.direction(out).starts.len() - 1
    }

    /// The nodes whose rows block `index` of a direction holds (empty for
    /// an index past the last block).
    pub fn rows(&self, out: bool, index: u32) -> Range<u32> {
        let starts = &self.direction(out).starts;
        let i = index as usize;
        match (starts.get(i), starts.get(i + 1)) {
            (Some(&a), Some(&b)) => a..b,
            _ => 0..0,
        }
    }

    /// The out-edge block holding node `v`'s row (`v` below the node count).
    pub fn out_block_of(&self, v: u32) -> u32 {
        (self.out.starts.partition_point(|&s| s <= v) - 1) as u32
    }

    /// Values per embedding row (0 without embeddings).
    pub fn embedding_dim(&self) -> usize {
        self.header.dim as usize
    }

    /// Floats per stored embedding row (the dimension padded to 16).
    pub(crate) fn embedding_stride(&self) -> usize {
        self.header.stride() as usize
    }

    /// Embedding blocks (0 without embeddings).
    pub fn embedding_blocks(&self) -> usize {
        self.embeddings
            .map_or(0, |e| self.node_count().div_ceil(e.rows_per_block as usize))
    }

    /// The nodes whose embedding rows block `index` holds (empty past the
    /// last block).
    pub fn embedding_rows(&self, index: u32) -> Range<u32> {
        let per = u64::from(self.embeddings.map_or(0, |e| e.rows_per_block));
        let n = self.header.nodes;
        let at = |i: u64| (i * per).min(n) as u32;
        at(u64::from(index))..at(u64::from(index) + 1)
    }

    /// Starts of the node ranges of a direction (one more than blocks; the
    /// last is the node count).
    pub(crate) fn starts(&self, out: bool) -> &[u32] {
        &self.direction(out).starts
    }

    /// Bytes this source holds in memory (the offsets and the block plans).
    pub fn memory_bytes(&self) -> usize {
        [&self.out, &self.inc]
            .iter()
            .map(|d| d.offsets.capacity() * 8 + d.starts.capacity() * 4)
            .sum()
    }

    /// Bytes the largest block takes in a cache (its storage: whole cache
    /// lines). A query pins two blocks at a time, a block's targets and its
    /// weights, so a cache needs room for twice this.
    #[inline]
    pub fn largest_block(&self) -> usize {
        self.largest_block
    }

    /// [`largest_block`](AxgBlocks::largest_block), from every block's
    /// range (a pass over the block tables).
    fn measure_largest_block(&self) -> usize {
        let edges = [&self.out, &self.inc]
            .iter()
            .flat_map(|d| (0..d.starts.len() - 1).map(|b| d.edges(b)))
            .map(|e| (e.end - e.start) as usize * 4)
            .max()
            .unwrap_or(0);
        let stride = self.header.stride() as usize;
        let rows = self.embeddings.map_or(0, |e| e.rows_per_block as usize);
        let embeddings = if rows > 0 {
            embedding_block_len(rows, stride)
        } else {
            0
        };
        BlockBuf::storage_for(edges.max(embeddings))
    }

    /// Bytes of the blocks of every section (what a cache holding the
    /// whole graph decoded would need).
    pub fn block_bytes(&self) -> u64 {
        self.header.edges * 16
    }

    fn direction(&self, out: bool) -> &Direction {
        if out { &self.out } else { &self.inc }
    }

    /// The direction, entry and element kind of `key`'s section.
    fn locate(&self, key: AxgBlock) -> Result<(&Direction, Entry, bool), CacheError> {
        let (direction, targets) = match key.section {
            Section::OutTargets => (&self.out, true),
            Section::OutWeights => (&self.out, false),
            Section::InTargets => (&self.inc, true),
            Section::InWeights => (&self.inc, false),
            _ => {
                return Err(CacheError::Config {
                    field: "AxgBlock::section",
                    expected: "an edge section: out- or in-targets or weights",
                });
            }
        };
        if key.index as usize + 1 >= direction.starts.len() {
            return Err(CacheError::Config {
                field: "AxgBlock::index",
                expected: "below the direction's block count",
            });
        }
        let entry = if targets {
            direction.targets
        } else {
            direction.weights
        };
        Ok((direction, entry, targets))
    }

    /// Reads embedding block `index`: its rows, then their inverse norms
    /// (at [`embedding_norms_at`]), checked.
    fn read_embeddings(&self, index: u32, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        let Some(e) = self.embeddings else {
            return Err(CacheError::Config {
                field: "AxgBlock::section",
                expected: "an edge section (the file has no embeddings)",
            });
        };
        if index as usize >= self.embedding_blocks() {
            return Err(CacheError::Config {
                field: "AxgBlock::index",
                expected: "below the embedding block count",
            });
        }
        let rows = self.embedding_rows(index);
        let (count, stride) = (rows.len(), self.header.stride() as usize);
        let norms_at = embedding_norms_at(count, stride);
        let bytes = buf.resize(embedding_block_len(count, stride));
        let rows_at = e.rows.offset + u64::from(rows.start) * stride as u64 * 4;
        let norms_file_at = e.norms.offset + u64::from(rows.start) * 4;
        read_at(&self.file, &mut bytes[..count * stride * 4], rows_at).map_err(self.io())?;
        read_at(
            &self.file,
            &mut bytes[norms_at..norms_at + count * 4],
            norms_file_at,
        )
        .map_err(self.io())?;
        let floats: &[f32] = buf.as_slice().expect("a whole number of floats");
        let (values, norms) = (&floats[..count * stride], &floats[norms_at / 4..][..count]);
        if let Err(error) = EmbeddingView::new(self.header.dim as usize, values, norms) {
            return Err(CacheError::Store(embedding_error(
                error,
                rows.start as usize,
                stride,
                [e.rows.offset, e.norms.offset],
            )));
        }
        Ok(BlockKind::F32)
    }

    fn io(&self) -> impl Fn(std::io::Error) -> CacheError + '_ {
        |e| {
            CacheError::Store(StoreError::Io {
                path: self.path.display().to_string(),
                kind: e.kind(),
            })
        }
    }

    /// The first out-of-range target or bad weight of block `key` (whose
    /// bytes `buf` holds), as the store reports it.
    fn block_error(
        &self,
        key: AxgBlock,
        entry: Entry,
        first_edge: u64,
        buf: &BlockBuf,
    ) -> CacheError {
        let (direction, _, targets) = self.locate(key).expect("a located key");
        let rows = &direction.offsets;
        let at = |i: usize| entry.offset + (first_edge + i as u64) * 4;
        let edge_of = |i: usize| (first_edge + i as u64) as usize;
        let error = if targets {
            let ids: &[u32] = buf.as_slice().unwrap_or_default();
            let i = ids
                .iter()
                .position(|&t| u64::from(t) >= self.header.nodes)
                .unwrap_or(0);
            (
                at(i),
                GraphError::NodeOutOfRange {
                    edge: edge_of(i),
                    node: ids.get(i).copied().unwrap_or(0),
                    node_count: self.header.nodes,
                },
            )
        } else {
            let ws: &[f32] = buf.as_slice().unwrap_or_default();
            let i = ws.iter().position(|&w| !(w > 0.0 && w <= 1.0)).unwrap_or(0);
            let edge = first_edge + i as u64;
            let src = (rows.partition_point(|&o| o <= edge) - 1) as u32;
            // The edge's target, for the report (0 if it cannot be read).
            let mut dst = [0u8; 4];
            let _ = read_at(&self.file, &mut dst, direction.targets.offset + edge * 4);
            (
                at(i),
                GraphError::InvalidWeight {
                    edge: edge as usize,
                    src,
                    dst: u32::from_le_bytes(dst),
                    weight: ws.get(i).copied().unwrap_or(f32::NAN),
                },
            )
        };
        CacheError::Store(StoreError::Structure {
            section: key.section,
            offset: error.0,
            error: error.1,
        })
    }
}

impl BlockSource for AxgBlocks {
    type Key = AxgBlock;

    fn read(&self, key: AxgBlock, buf: &mut BlockBuf) -> Result<BlockKind, CacheError> {
        if key.section == Section::Embeddings {
            return self.read_embeddings(key.index, buf);
        }
        let (direction, entry, targets) = self.locate(key)?;
        let edges = direction.edges(key.index as usize);
        read_at(
            &self.file,
            buf.resize(((edges.end - edges.start) * 4) as usize),
            entry.offset + edges.start * 4,
        )
        .map_err(self.io())?;
        let valid = if targets {
            buf.as_slice::<u32>()
                .is_some_and(|ids| targets_below(ids, self.header.nodes))
        } else {
            buf.as_slice::<f32>().is_some_and(weights_valid)
        };
        if !valid {
            return Err(self.block_error(key, entry, edges.start, buf));
        }
        Ok(if targets {
            BlockKind::SortedU32
        } else {
            BlockKind::F32
        })
    }

    fn len(&self, key: AxgBlock) -> Option<usize> {
        if key.section == Section::Embeddings {
            let rows = self.embedding_rows(key.index);
            return Some(embedding_block_len(
                rows.len(),
                self.header.stride() as usize,
            ));
        }
        let (direction, _, _) = self.locate(key).ok()?;
        let edges = direction.edges(key.index as usize);
        Some(((edges.end - edges.start) * 4) as usize)
    }
}

/// Where an embedding block of `rows` rows of `stride` floats keeps its
/// inverse norms: after the rows, on a cache line.
pub(crate) fn embedding_norms_at(rows: usize, stride: usize) -> usize {
    (rows * stride * 4).next_multiple_of(CACHE_LINE)
}

/// Bytes of an embedding block of `rows` rows of `stride` floats.
fn embedding_block_len(rows: usize, stride: usize) -> usize {
    embedding_norms_at(rows, stride) + rows * 4
}

/// Why offsets could not be read.
enum ReadError {
    Io(std::io::Error),
    Store(StoreError),
}

/// Reads and checks an offsets section: `nodes + 1` values, from 0 to the
/// edge count, never decreasing.
fn read_offsets(file: &File, entry: Entry, header: &Header) -> Result<Vec<u64>, ReadError> {
    let count = header.nodes as usize + 1;
    if entry.len != count as u64 * 8 {
        return Err(ReadError::Store(StoreError::SectionSize {
            section: entry.section,
            expected: count as u64 * 8,
            found: entry.len,
        }));
    }
    let mut offsets = vec![0u64; count];
    read_at(file, bytemuck::cast_slice_mut(&mut offsets), entry.offset).map_err(ReadError::Io)?;
    for o in &mut offsets {
        *o = u64::from_le(*o);
    }
    let ends_right = offsets[0] == 0 && offsets[count - 1] == header.edges;
    if !ends_right || !non_decreasing(&offsets) {
        return Err(ReadError::Store(StoreError::Structure {
            section: entry.section,
            offset: entry.offset,
            error: GraphError::MalformedCsr {
                reason: "offsets must run from 0 to the edge count without decreasing",
            },
        }));
    }
    Ok(offsets)
}

/// Cuts rows into ranges of at most `block_edges` edges (a longer row
/// alone), returning the ranges' starts and then the node count (just
/// `[0]` without nodes).
fn plan(offsets: &[u64], block_edges: u64) -> Vec<u32> {
    let nodes = offsets.len() - 1;
    let mut starts = vec![0u32];
    let mut start = 0usize;
    for v in 0..nodes {
        if v > start && offsets[v + 1] - offsets[start] > block_edges {
            starts.push(v as u32);
            start = v;
        }
    }
    if nodes > 0 {
        starts.push(nodes as u32);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cut_rows_at_the_edge_budget() {
        // Degrees 3, 0, 5, 1, 1, 9, 2.
        let offsets = [0u64, 3, 3, 8, 9, 10, 19, 21];
        assert_eq!(plan(&offsets, 4), [0, 2, 3, 5, 6, 7]);
        assert_eq!(plan(&offsets, 100), [0, 7]);
        assert_eq!(plan(&offsets, 1), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(plan(&[0], 4), [0]);
    }
}
