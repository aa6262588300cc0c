//! The `.axg` layout: the header, the section table, and the parser and
//! verifier over plain bytes (`no_std` + `alloc`).

use alloc::vec::Vec;

use bytemuck::Pod;
use xxhash_rust::xxh3::xxh3_64;

use super::progress::Progress;
use super::{StoreError, verify};
use crate::graph::{CsrView, GraphError, GraphView};
use crate::layout::{EmbeddingError, EmbeddingView, Node};

/// The first 8 bytes of every `.axg` file.
pub const MAGIC: [u8; 8] = *b"AXONALG\0";
/// The format's major version: a reader refuses a newer one.
pub const MAJOR: u16 = 1;
/// The format's minor version: additions an older reader may ignore.
pub const MINOR: u16 = 0;
/// Written as a little-endian `u32`; read back as anything else, the file
/// came from a machine of the other byte order.
pub const BYTE_ORDER_MARK: u32 = 0x0A0B_0C0D;
/// Sections start on multiples of this, so each can be mapped and viewed in
/// place.
pub const ALIGN: u64 = 4096;
/// Bytes of the header page: the fixed fields and the section table.
pub const HEADER_LEN: usize = 4096;
/// Bytes covered by one block checksum.
pub const BLOCK_LEN: u64 = 1 << 20;

/// Byte offset of the section table in the header.
const TABLE_AT: usize = 128;
/// Bytes of one section table entry.
const ENTRY_LEN: usize = 48;
/// Entries the header page holds.
const MAX_SECTIONS: usize = (HEADER_LEN - TABLE_AT) / ENTRY_LEN;
/// Byte offset of the header checksum (zero while it is computed).
const CHECKSUM_AT: usize = 64;
/// Byte offset of the embedding dimension (`u32`, 0 without embeddings).
const DIM_AT: usize = 40;
/// Floats per padded embedding row are a multiple of this.
const ROW_ALIGN_FLOATS: u64 = 16;

/// What the header's flags say the file holds beyond the graph.
pub(crate) mod flags {
    /// The 64-byte node records.
    pub(crate) const NODES: u64 = 1;
    /// The caller's original ids.
    pub(crate) const ID_MAP: u64 = 1 << 1;
    /// The embedding rows and their inverse norms.
    pub(crate) const EMBEDDINGS: u64 = 1 << 2;
    /// Every flag this version knows.
    pub(crate) const KNOWN: u64 = NODES | ID_MAP | EMBEDDINGS;
}

/// A section of an `.axg` file (or its header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Section {
    /// The fixed header and the section table.
    Header,
    /// Out-edge offsets, `u64` x (nodes + 1).
    OutOffsets,
    /// Out-edge targets, `u32` x edges.
    OutTargets,
    /// Out-edge weights, `f32` x edges.
    OutWeights,
    /// In-edge offsets (the transpose), `u64` x (nodes + 1).
    InOffsets,
    /// In-edge sources, `u32` x edges.
    InTargets,
    /// In-edge weights, `f32` x edges.
    InWeights,
    /// The 64-byte [`Node`] records, one per node (optional).
    Nodes,
    /// The caller's original id of each node, `u64` x nodes (optional).
    IdMap,
    /// The embedding rows, `f32` x nodes x stride: each row's `dim` values
    /// padded with zeros to the stride (`dim` rounded up to 16), as
    /// [`EmbeddingMatrix`](crate::layout::EmbeddingMatrix) pads them
    /// (optional, with [`InvNorms`](Section::InvNorms)).
    Embeddings,
    /// The inverse L2 norm of each embedding row, `f32` x nodes (optional,
    /// with [`Embeddings`](Section::Embeddings)).
    InvNorms,
    /// The block checksums of every section, `u64` each, in table order.
    BlockChecksums,
}

impl Section {
    /// Every section, in file order.
    pub const ALL: [Section; 11] = [
        Section::OutOffsets,
        Section::OutTargets,
        Section::OutWeights,
        Section::InOffsets,
        Section::InTargets,
        Section::InWeights,
        Section::Nodes,
        Section::IdMap,
        Section::Embeddings,
        Section::InvNorms,
        Section::BlockChecksums,
    ];

    /// The section's kind number in the section table.
    pub const fn kind(self) -> u32 {
        match self {
            Section::Header => 0,
            Section::OutOffsets => 1,
            Section::OutTargets => 2,
            Section::OutWeights => 3,
            Section::InOffsets => 4,
            Section::InTargets => 5,
            Section::InWeights => 6,
            Section::Nodes => 7,
            Section::IdMap => 8,
            Section::BlockChecksums => 9,
            Section::Embeddings => 10,
            Section::InvNorms => 11,
        }
    }

    fn from_kind(kind: u32) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.kind() == kind)
    }

    /// Bytes per element.
    pub const fn element_size(self) -> u64 {
        match self {
            Section::Header => 1,
            Section::OutTargets
            | Section::OutWeights
            | Section::InTargets
            | Section::InWeights
            | Section::Embeddings
            | Section::InvNorms => 4,
            Section::OutOffsets | Section::InOffsets | Section::IdMap | Section::BlockChecksums => {
                8
            }
            Section::Nodes => core::mem::size_of::<Node>() as u64,
        }
    }

    /// The header flag that makes the section present, for optional ones.
    fn flag(self) -> Option<u64> {
        match self {
            Section::Nodes => Some(flags::NODES),
            Section::IdMap => Some(flags::ID_MAP),
            Section::Embeddings | Section::InvNorms => Some(flags::EMBEDDINGS),
            _ => None,
        }
    }

    /// Its name, as errors print it.
    pub const fn name(self) -> &'static str {
        match self {
            Section::Header => "header",
            Section::OutOffsets => "out-offsets",
            Section::OutTargets => "out-targets",
            Section::OutWeights => "out-weights",
            Section::InOffsets => "in-offsets",
            Section::InTargets => "in-targets",
            Section::InWeights => "in-weights",
            Section::Nodes => "nodes",
            Section::IdMap => "id-map",
            Section::BlockChecksums => "block-checksums",
            Section::Embeddings => "embeddings",
            Section::InvNorms => "inv-norms",
        }
    }
}

impl core::fmt::Display for Section {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of a file to check when opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Verify {
    /// The header and the section table only: O(1). The graph is not
    /// available until the structure is checked ([`AxgFile::verify`]).
    Header,
    /// Also what the kernels rely on for memory safety and the contract:
    /// monotone offsets that end at the edge count, targets below the node
    /// count, weights in `(0, 1]`; embeddings as
    /// [`EmbeddingView::new`] checks them. O(edges + embedding bytes), no
    /// hashing.
    Structure,
    /// Also every section checksum and block checksum.
    Full,
}

/// One entry of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) section: Section,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) checksum: u64,
    /// Index of the section's first block checksum.
    pub(crate) first_block: u64,
}

impl Entry {
    pub(crate) fn blocks(&self) -> u64 {
        self.len.div_ceil(BLOCK_LEN)
    }
}

/// The fixed header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) flags: u64,
    pub(crate) nodes: u64,
    pub(crate) edges: u64,
    pub(crate) file_len: u64,
    /// The embedding dimension (0 without embeddings).
    pub(crate) dim: u32,
}

impl Header {
    /// Floats per padded embedding row.
    pub(crate) fn stride(&self) -> u64 {
        u64::from(self.dim).next_multiple_of(ROW_ALIGN_FLOATS)
    }
}

/// A parsed `.axg` file over borrowed bytes (a memory map, a buffer).
///
/// What is available depends on how far it was verified: the counts after
/// [`Verify::Header`], the graph and the other sections after
/// [`Verify::Structure`] (the checks every kernel's bounds rely on are never
/// skipped).
#[derive(Debug, Clone)]
pub struct AxgFile<'a> {
    bytes: &'a [u8],
    header: Header,
    entries: Vec<Entry>,
    verified: Verify,
    graph: Option<GraphView<'a>>,
    embeddings: Option<EmbeddingView<'a>>,
}

impl<'a> AxgFile<'a> {
    /// Parses `bytes` as an `.axg` file, checked to `level`. The bytes must
    /// be 8-byte aligned (64-byte for the node records), as a memory map
    /// or an [`AlignedBuf`](crate::layout::AlignedBuf) is.
    pub fn parse(bytes: &'a [u8], level: Verify) -> Result<AxgFile<'a>, StoreError> {
        let (header, entries) = parse_header(bytes)?;
        let mut file = AxgFile {
            bytes,
            header,
            entries,
            verified: Verify::Header,
            graph: None,
            embeddings: None,
        };
        file.verify(level)?;
        Ok(file)
    }

    /// The file at `bytes`, which [`parse`](AxgFile::parse) accepted
    /// before at `verified` (at least [`Verify::Structure`]) and which have
    /// not changed since: its views, without checking them again.
    #[cfg(feature = "store")]
    pub(crate) fn trusted(bytes: &'a [u8], verified: Verify) -> AxgFile<'a> {
        let (header, entries) = parse_header(bytes).expect("accepted before, unchanged");
        let mut file = AxgFile {
            bytes,
            header,
            entries,
            verified,
            graph: None,
            embeddings: None,
        };
        let (graph, embeddings) = file.views_unchecked().expect("accepted before, unchanged");
        file.graph = Some(graph);
        file.embeddings = embeddings;
        file
    }

    /// Checks the file further, to `level` (nothing if it already was).
    pub fn verify(&mut self, level: Verify) -> Result<(), StoreError> {
        self.verify_with(level, &mut ())
    }

    /// [`verify`](AxgFile::verify), reporting [`Phase::Verify`](super::Phase::Verify) to
    /// `progress` (bytes and 1 MiB blocks done of those to check: before
    /// the first, after each block this thread checks, and at the end),
    /// which may cancel it ([`StoreError::Cancelled`]; the file stays as
    /// verified as it was). Nothing to check: no reports.
    ///
    /// With `std`, a file of 8 MiB or more is checked on all cores; the
    /// error is the same either way: the first fault in the order of the
    /// checks (the structure, then the block-checksum table, then each
    /// section's blocks and checksum, in file order).
    pub fn verify_with(
        &mut self,
        level: Verify,
        progress: &mut dyn Progress,
    ) -> Result<(), StoreError> {
        self.verify_on(level, progress, None)
    }

    /// [`verify_with`](AxgFile::verify_with) on `threads` threads (`None`:
    /// as many as the size of the work and the machine call for).
    pub(crate) fn verify_on(
        &mut self,
        level: Verify,
        progress: &mut dyn Progress,
        threads: Option<usize>,
    ) -> Result<(), StoreError> {
        let structure = level >= Verify::Structure && self.graph.is_none();
        let checksums = level >= Verify::Full && self.verified < Verify::Full;
        if !(structure || checksums) {
            self.verified = self.verified.max(level);
            return Ok(());
        }
        // The table is small: a bad one spares hashing the blocks (the
        // structure's error, if any, still comes first).
        let table_ok = !checksums || self.block_table_ok();
        let checks = verify::Checks {
            contents: structure,
            hashes: checksums && table_ok,
        };
        let found = verify::check_blocks(
            self.bytes,
            &self.entries,
            self.header.nodes,
            checks,
            progress,
            threads,
        )?;
        if structure {
            // A failed block check: the whole-array checks find and name
            // the first offender.
            let (graph, embeddings) = self.check_structure(found.contents_ok)?;
            self.graph = Some(graph);
            self.embeddings = embeddings;
        }
        if checksums {
            if !table_ok {
                let table = self
                    .entry(Section::BlockChecksums)
                    .expect("checked present");
                return Err(StoreError::Checksum {
                    section: Section::BlockChecksums,
                    offset: table.offset,
                    len: table.len,
                });
            }
            self.compare_checksums(&found.hashes)?;
        }
        self.verified = self.verified.max(level);
        Ok(())
    }

    /// How far the file was verified.
    pub fn verified(&self) -> Verify {
        self.verified
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.header.nodes as usize
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.header.edges as usize
    }

    /// Bytes of the file.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the file has no bytes (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The graph, zero-copy: what every kernel takes. `None` until the
    /// structure is verified.
    pub fn graph(&self) -> Option<GraphView<'a>> {
        self.graph
    }

    /// The node records, if the file has them (after structure
    /// verification).
    pub fn nodes(&self) -> Option<&'a [Node]> {
        self.graph?;
        self.slice(Section::Nodes).ok().flatten()
    }

    /// The caller's original id of each node, if the file has them (after
    /// structure verification).
    pub fn id_map(&self) -> Option<&'a [u64]> {
        self.graph?;
        self.slice(Section::IdMap).ok().flatten()
    }

    /// The embedding rows, zero-copy, if the file has them (after structure
    /// verification, which checked them as [`EmbeddingView::new`] does):
    /// what the top-k scans take.
    pub fn embeddings(&self) -> Option<EmbeddingView<'a>> {
        self.graph?;
        self.embeddings
    }

    /// The embedding dimension the header gives (0 without embeddings;
    /// known after [`Verify::Header`]).
    pub fn embedding_dim(&self) -> usize {
        self.header.dim as usize
    }

    fn entry(&self, section: Section) -> Option<&Entry> {
        self.entries.iter().find(|e| e.section == section)
    }

    /// A section's bytes as elements of `T` (`None` if absent).
    fn slice<T: Pod>(&self, section: Section) -> Result<Option<&'a [T]>, StoreError> {
        let Some(e) = self.entry(section) else {
            return Ok(None);
        };
        // In bounds: `parse_header` checked every entry against the bytes.
        let bytes = &self.bytes[e.offset as usize..(e.offset + e.len) as usize];
        bytemuck::try_cast_slice(bytes)
            .map(Some)
            .map_err(|_| StoreError::Misaligned {
                section,
                offset: e.offset,
            })
    }

    fn required<T: Pod>(&self, section: Section) -> Result<&'a [T], StoreError> {
        self.slice(section)?.ok_or(StoreError::Sections {
            section,
            reason: "missing",
        })
    }

    /// One direction's CSR arrays, validated (`contents_checked`: their
    /// contents were, block by block, and only their shape is left).
    fn csr(
        &self,
        sections: [Section; 3],
        contents_checked: bool,
    ) -> Result<CsrView<'a>, StoreError> {
        let [o, t, w] = sections;
        let (offsets, targets, weights) = (
            self.required::<u64>(o)?,
            self.required::<u32>(t)?,
            self.required::<f32>(w)?,
        );
        let view = if contents_checked {
            CsrView::with_checked_contents(offsets, targets, weights)
        } else {
            CsrView::new(offsets, targets, weights)
        };
        view.map_err(|error| {
            structure_error(error, sections, |s| self.entry(s).map_or(0, |e| e.offset))
        })
    }

    /// Both directions and the embeddings, without the checks (which
    /// passed when the bytes were first parsed); the optional sections'
    /// alignment is checked.
    #[cfg(feature = "store")]
    fn views_unchecked(&self) -> Result<(GraphView<'a>, Option<EmbeddingView<'a>>), StoreError> {
        self.slice::<Node>(Section::Nodes)?;
        self.slice::<u64>(Section::IdMap)?;
        let embeddings = match (
            self.slice::<f32>(Section::Embeddings)?,
            self.slice::<f32>(Section::InvNorms)?,
        ) {
            (Some(rows), Some(norms)) => Some(EmbeddingView::new_unchecked(
                self.embedding_dim(),
                rows,
                norms,
            )),
            _ => None,
        };
        let csr = |[o, t, w]: [Section; 3]| -> Result<CsrView<'a>, StoreError> {
            Ok(CsrView::new_unchecked(
                self.required(o)?,
                self.required(t)?,
                self.required(w)?,
            ))
        };
        let graph = GraphView::new_unchecked(
            csr([
                Section::OutOffsets,
                Section::OutTargets,
                Section::OutWeights,
            ])?,
            csr([Section::InOffsets, Section::InTargets, Section::InWeights])?,
        );
        Ok((graph, embeddings))
    }

    /// The embedding rows, validated (`None` if the file has none).
    fn embedding_view(&self) -> Result<Option<EmbeddingView<'a>>, StoreError> {
        let (Some(rows), Some(norms)) = (
            self.slice::<f32>(Section::Embeddings)?,
            self.slice::<f32>(Section::InvNorms)?,
        ) else {
            return Ok(None);
        };
        let at = |s: Section| self.entry(s).map_or(0, |e| e.offset);
        EmbeddingView::new(self.embedding_dim(), rows, norms)
            .map(Some)
            .map_err(|error| {
                embedding_error(
                    error,
                    0,
                    self.header.stride() as usize,
                    [at(Section::Embeddings), at(Section::InvNorms)],
                )
            })
    }

    /// The checks the kernels rely on, and the graph and embeddings they
    /// pass (`contents_checked`: the CSR contents passed block by block).
    fn check_structure(
        &self,
        contents_checked: bool,
    ) -> Result<(GraphView<'a>, Option<EmbeddingView<'a>>), StoreError> {
        let out = self.csr(
            [
                Section::OutOffsets,
                Section::OutTargets,
                Section::OutWeights,
            ],
            contents_checked,
        )?;
        let inc = self.csr(
            [Section::InOffsets, Section::InTargets, Section::InWeights],
            contents_checked,
        )?;
        // The counts were checked against the header; the section sizes
        // against the counts. Records and ids only need their types.
        self.slice::<Node>(Section::Nodes)?;
        self.slice::<u64>(Section::IdMap)?;
        self.slice::<u64>(Section::BlockChecksums)?;
        let graph = GraphView::new(out, inc).map_err(|error| StoreError::Structure {
            section: Section::InOffsets,
            offset: self.entry(Section::InOffsets).map_or(0, |e| e.offset),
            error,
        })?;
        Ok((graph, self.embedding_view()?))
    }

    /// Whether the block-checksum table matches its own checksum.
    fn block_table_ok(&self) -> bool {
        let table = self
            .entry(Section::BlockChecksums)
            .expect("checked present");
        // In bounds: `parse_header` checked every entry against the bytes.
        let bytes = &self.bytes[table.offset as usize..(table.offset + table.len) as usize];
        xxh3_64(bytes) == table.checksum
    }

    /// Every block's `hashes` (in table order) against its checksum, and
    /// every section checksum (over its blocks' checksums, so each byte is
    /// hashed once), in file order.
    fn compare_checksums(&self, hashes: &[u64]) -> Result<(), StoreError> {
        let blocks = self.required::<u64>(Section::BlockChecksums)?;
        let mut hashes = hashes.iter();
        for e in self
            .entries
            .iter()
            .filter(|e| e.section != Section::BlockChecksums)
        {
            // In bounds: the header's checks put every section's blocks
            // inside the table.
            let sums = &blocks[e.first_block as usize..][..e.blocks() as usize];
            for (b, (&want, &got)) in sums.iter().zip(hashes.by_ref()).enumerate() {
                if got != want {
                    let offset = e.offset + b as u64 * BLOCK_LEN;
                    return Err(StoreError::Checksum {
                        section: e.section,
                        offset,
                        len: BLOCK_LEN.min(e.offset + e.len - offset),
                    });
                }
            }
            if xxh3_64(bytemuck::cast_slice(sums)) != e.checksum {
                return Err(StoreError::Checksum {
                    section: e.section,
                    offset: e.offset,
                    len: e.len,
                });
            }
        }
        Ok(())
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// What the row checks of one direction's `[offsets, targets, weights]`
/// found, as a [`StoreError::Structure`] naming the section and the file
/// offset of the offending value (`start(section)`: where a section starts
/// in the file; edge numbers are the whole section's).
pub(crate) fn structure_error(
    error: GraphError,
    [o, t, w]: [Section; 3],
    start: impl Fn(Section) -> u64,
) -> StoreError {
    let at = |s: Section, index: usize| start(s) + index as u64 * s.element_size();
    let (section, offset) = match error {
        GraphError::NodeOutOfRange { edge, .. } => (t, at(t, edge)),
        GraphError::InvalidWeight { edge, .. } => (w, at(w, edge)),
        _ => (o, at(o, 0)),
    };
    StoreError::Structure {
        section,
        offset,
        error,
    }
}

/// The header checksum: xxh3 of the header page with the checksum field
/// zeroed.
fn header_checksum(page: &[u8]) -> u64 {
    let mut copy = [0u8; HEADER_LEN];
    copy.copy_from_slice(&page[..HEADER_LEN]);
    copy[CHECKSUM_AT..CHECKSUM_AT + 8].fill(0);
    xxh3_64(&copy)
}

/// Parses and checks the header and the section table against `bytes`.
fn parse_header(bytes: &[u8]) -> Result<(Header, Vec<Entry>), StoreError> {
    parse_header_page(bytes, bytes.len() as u64)
}

/// Parses and checks the header and the section table of a file of `len`
/// bytes, of which `bytes` are the first (at least the header page, or the
/// whole file if shorter): what a reader that does not hold the whole file
/// checks before reading any section.
pub(crate) fn parse_header_page(
    bytes: &[u8],
    len: u64,
) -> Result<(Header, Vec<Entry>), StoreError> {
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        return Err(StoreError::NotAxg);
    }
    if bytes.len() < HEADER_LEN {
        return Err(StoreError::Truncated {
            section: Section::Header,
            needed: HEADER_LEN as u64,
            len,
        });
    }
    let (major, minor) = (u16_at(bytes, 8), u16_at(bytes, 10));
    if major != MAJOR {
        return Err(StoreError::UnsupportedVersion { major, minor });
    }
    match u32_at(bytes, 12) {
        BYTE_ORDER_MARK => {}
        mark if mark == BYTE_ORDER_MARK.swap_bytes() => return Err(StoreError::ForeignByteOrder),
        _ => {
            return Err(StoreError::BadHeader {
                field: "byte_order",
                offset: 12,
                expected: "the mark 0x0A0B0C0D",
            });
        }
    }
    if header_checksum(bytes) != u64_at(bytes, CHECKSUM_AT) {
        return Err(StoreError::Checksum {
            section: Section::Header,
            offset: 0,
            len: HEADER_LEN as u64,
        });
    }
    let header = Header {
        flags: u64_at(bytes, 16),
        nodes: u64_at(bytes, 24),
        edges: u64_at(bytes, 32),
        file_len: u64_at(bytes, 56),
        dim: u32_at(bytes, DIM_AT),
    };
    let bad = |field, offset, expected| {
        Err(StoreError::BadHeader {
            field,
            offset,
            expected,
        })
    };
    if header.flags & !flags::KNOWN != 0 {
        return bad(
            "flags",
            16,
            "only the flags of format 1.0 (nodes, id map, embeddings)",
        );
    }
    if (header.dim != 0) != (header.flags & flags::EMBEDDINGS != 0) {
        return bad(
            "embedding_dim",
            DIM_AT as u64,
            "at least 1 with embeddings (flag bit 2), 0 without",
        );
    }
    if header.nodes > u64::from(crate::graph::MAX_NODES) {
        return bad("node_count", 24, "at most 4294967295 nodes");
    }
    if header.file_len != len {
        return Err(StoreError::Truncated {
            section: Section::Header,
            needed: header.file_len,
            len,
        });
    }
    let count = u32_at(bytes, 52) as usize;
    if count > MAX_SECTIONS {
        return bad("section_count", 52, "at most 82 sections");
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(count);
    for i in 0..count {
        let at = TABLE_AT + i * ENTRY_LEN;
        let kind = u32_at(bytes, at);
        let Some(section) = Section::from_kind(kind) else {
            return bad("section kind", at as u64, "a section kind of format 1.0");
        };
        let entry = Entry {
            section,
            offset: u64_at(bytes, at + 8),
            len: u64_at(bytes, at + 16),
            checksum: u64_at(bytes, at + 24),
            first_block: u64_at(bytes, at + 32),
        };
        check_entry(&entry, &header, len)?;
        if entries.iter().any(|e| e.section == section) {
            return Err(StoreError::Sections {
                section,
                reason: "appears twice",
            });
        }
        if let Some(prev) = entries.last()
            && entry.offset < prev.offset + prev.len
        {
            return Err(StoreError::Overlap {
                first: prev.section,
                second: section,
                offset: entry.offset,
            });
        }
        entries.push(entry);
    }
    for section in Section::ALL {
        let present = entries.iter().any(|e| e.section == section);
        let wanted = section.flag().is_none_or(|f| header.flags & f != 0);
        if present != wanted {
            let reason = if wanted {
                "missing"
            } else {
                "present without its header flag"
            };
            return Err(StoreError::Sections { section, reason });
        }
    }
    let blocks: u64 = entries
        .iter()
        .filter(|e| e.section != Section::BlockChecksums)
        .map(Entry::blocks)
        .sum();
    let table = entries
        .iter()
        .find(|e| e.section == Section::BlockChecksums)
        .expect("checked present");
    if table.len != blocks * 8 {
        return Err(StoreError::SectionSize {
            section: Section::BlockChecksums,
            expected: blocks * 8,
            found: table.len,
        });
    }
    for (i, e) in entries.iter().enumerate() {
        if e.section != Section::BlockChecksums && e.first_block.saturating_add(e.blocks()) > blocks
        {
            return bad(
                "first block",
                (TABLE_AT + i * ENTRY_LEN + 32) as u64,
                "a section's block checksums inside the table",
            );
        }
    }
    Ok((header, entries))
}

/// Checks one table entry: in the file, aligned, the size its counts give.
fn check_entry(e: &Entry, header: &Header, len: u64) -> Result<(), StoreError> {
    if !e.offset.is_multiple_of(ALIGN) || e.offset < HEADER_LEN as u64 {
        return Err(StoreError::Misaligned {
            section: e.section,
            offset: e.offset,
        });
    }
    let end = e.offset.saturating_add(e.len);
    if end > len {
        return Err(StoreError::Truncated {
            section: e.section,
            needed: end,
            len,
        });
    }
    let elements = match e.section {
        Section::OutOffsets | Section::InOffsets => Some(header.nodes + 1),
        Section::OutTargets | Section::OutWeights | Section::InTargets | Section::InWeights => {
            Some(header.edges)
        }
        Section::Nodes | Section::IdMap | Section::InvNorms => Some(header.nodes),
        Section::Embeddings => Some(header.nodes.saturating_mul(header.stride())),
        Section::Header | Section::BlockChecksums => None,
    };
    if let Some(n) = elements {
        let expected = n.saturating_mul(e.section.element_size());
        if e.len != expected {
            return Err(StoreError::SectionSize {
                section: e.section,
                expected,
                found: e.len,
            });
        }
    }
    Ok(())
}

/// What a file holds: the graph, and optionally node records, the
/// caller's original ids and embeddings.
#[derive(Debug, Clone, Copy)]
pub struct Contents<'a> {
    graph: GraphView<'a>,
    nodes: Option<&'a [Node]>,
    id_map: Option<&'a [u64]>,
    embeddings: Option<EmbeddingView<'a>>,
}

impl<'a> Contents<'a> {
    /// A file of `graph` alone.
    pub fn new(graph: impl Into<GraphView<'a>>) -> Contents<'a> {
        Contents {
            graph: graph.into(),
            nodes: None,
            id_map: None,
            embeddings: None,
        }
    }

    /// With the node records (one per node).
    pub fn with_nodes(self, nodes: &'a [Node]) -> Result<Contents<'a>, StoreError> {
        self.sized(Section::Nodes, nodes.len())?;
        Ok(Contents {
            nodes: Some(nodes),
            ..self
        })
    }

    /// With the caller's original id of each node.
    pub fn with_id_map(self, ids: &'a [u64]) -> Result<Contents<'a>, StoreError> {
        self.sized(Section::IdMap, ids.len())?;
        Ok(Contents {
            id_map: Some(ids),
            ..self
        })
    }

    /// With embeddings, one row per node (an `&EmbeddingMatrix` or any
    /// [`EmbeddingView`]). A dimension above `u32::MAX` (the header's
    /// field) is refused as [`EmbeddingError::TooLarge`].
    pub fn with_embeddings(
        self,
        embeddings: impl Into<EmbeddingView<'a>>,
    ) -> Result<Contents<'a>, StoreError> {
        let embeddings = embeddings.into();
        if u32::try_from(embeddings.dim()).is_err() {
            return Err(StoreError::Embeddings {
                section: Section::Embeddings,
                offset: 0,
                error: EmbeddingError::TooLarge,
            });
        }
        self.sized(Section::InvNorms, embeddings.rows())?;
        Ok(Contents {
            embeddings: Some(embeddings),
            ..self
        })
    }

    fn sized(&self, section: Section, len: usize) -> Result<(), StoreError> {
        let n = self.graph.node_count();
        if len != n {
            return Err(StoreError::SectionSize {
                section,
                expected: n as u64 * section.element_size(),
                found: len as u64 * section.element_size(),
            });
        }
        Ok(())
    }

    /// Every section's bytes, in file order.
    fn sections(&self) -> Vec<(Section, &'a [u8])> {
        let (out, inc) = (self.graph.out_edges(), self.graph.in_edges());
        let mut all: Vec<(Section, &'a [u8])> = alloc::vec![
            (Section::OutOffsets, bytemuck::cast_slice(out.offsets())),
            (Section::OutTargets, bytemuck::cast_slice(out.targets())),
            (Section::OutWeights, bytemuck::cast_slice(out.weights())),
            (Section::InOffsets, bytemuck::cast_slice(inc.offsets())),
            (Section::InTargets, bytemuck::cast_slice(inc.targets())),
            (Section::InWeights, bytemuck::cast_slice(inc.weights())),
        ];
        if let Some(nodes) = self.nodes {
            all.push((Section::Nodes, bytemuck::cast_slice(nodes)));
        }
        if let Some(ids) = self.id_map {
            all.push((Section::IdMap, bytemuck::cast_slice(ids)));
        }
        if let Some(e) = self.embeddings {
            all.push((
                Section::Embeddings,
                bytemuck::cast_slice(e.as_padded_slice()),
            ));
            all.push((Section::InvNorms, bytemuck::cast_slice(e.inv_norms())));
        }
        all
    }

    /// The header flags of what it holds beyond the graph.
    fn flags(&self) -> u64 {
        let mut flags = 0;
        if self.nodes.is_some() {
            flags |= flags::NODES;
        }
        if self.id_map.is_some() {
            flags |= flags::ID_MAP;
        }
        if self.embeddings.is_some() {
            flags |= flags::EMBEDDINGS;
        }
        flags
    }

    /// Bytes of the file these contents make.
    pub fn file_len(&self) -> u64 {
        let lens: Vec<(Section, u64)> = self
            .sections()
            .iter()
            .map(|&(section, bytes)| (section, bytes.len() as u64))
            .collect();
        Plan::new(0, 0, 0, &lens).file_len()
    }

    /// Writes the file, piece by piece, through `put` (in order; the
    /// pieces add up to the whole file).
    pub(crate) fn encode<E>(&self, mut put: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let sections = self.sections();
        let lens: Vec<(Section, u64)> = sections
            .iter()
            .map(|&(section, bytes)| (section, bytes.len() as u64))
            .collect();
        let mut plan = Plan::new(
            self.flags(),
            self.graph.node_count() as u64,
            self.graph.edge_count() as u64,
            &lens,
        );
        if let Some(e) = self.embeddings {
            // `with_embeddings` checked that the dimension fits.
            plan.set_embedding_dim(e.dim() as u32);
        }
        let blocks: Vec<u64> = sections
            .iter()
            .flat_map(|&(_, bytes)| bytes.chunks(BLOCK_LEN as usize).map(xxh3_64))
            .collect();
        put(&plan.seal(&blocks))?;
        let all = sections
            .iter()
            .map(|&(_, bytes)| bytes)
            .chain([bytemuck::cast_slice(&blocks)]);
        let mut written = HEADER_LEN as u64;
        for (bytes, e) in all.zip(plan.entries()) {
            put(&ZEROS[..(e.offset - written) as usize])?;
            put(bytes)?;
            written = e.offset + bytes.len() as u64;
        }
        Ok(())
    }

    /// The whole file in memory, 64-byte aligned (ready for
    /// [`AxgFile::parse`]).
    pub fn to_bytes(&self) -> crate::layout::AlignedBuf<u8> {
        let mut bytes = Vec::new();
        self.encode::<core::convert::Infallible>(|piece| {
            bytes.extend_from_slice(piece);
            Ok(())
        })
        .unwrap_or_else(|never| match never {});
        crate::layout::AlignedBuf::from_slice(&bytes)
    }
}

/// The error of the embedding checks on rows `first_row..` of a file
/// (whose embedding and inverse-norm sections start at `starts`), naming
/// the file's row and byte offset.
pub(crate) fn embedding_error(
    error: EmbeddingError,
    first_row: usize,
    stride: usize,
    [rows_at, norms_at]: [u64; 2],
) -> StoreError {
    let error = match error {
        EmbeddingError::NonFinite { row, col } => EmbeddingError::NonFinite {
            row: row + first_row,
            col,
        },
        EmbeddingError::Padding { row, col } => EmbeddingError::Padding {
            row: row + first_row,
            col,
        },
        EmbeddingError::InvNorm { row } => EmbeddingError::InvNorm {
            row: row + first_row,
        },
        other => other,
    };
    let float = |start: u64, index: usize| start + index as u64 * 4;
    let (section, offset) = match error {
        EmbeddingError::NonFinite { row, col } | EmbeddingError::Padding { row, col } => {
            (Section::Embeddings, float(rows_at, row * stride + col))
        }
        EmbeddingError::InvNorm { row } => (Section::InvNorms, float(norms_at, row)),
        _ => (Section::Embeddings, float(rows_at, first_row * stride)),
    };
    if error == EmbeddingError::Misaligned {
        return StoreError::Misaligned { section, offset };
    }
    StoreError::Embeddings {
        section,
        offset,
        error,
    }
}

/// Zero bytes, for the padding before a section.
pub(crate) const ZEROS: [u8; ALIGN as usize] = [0; ALIGN as usize];

/// Where every section of a file goes, and the header page that says so:
/// what [`Contents::encode`] and the streaming builder both write by.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    header: Header,
    entries: Vec<Entry>,
}

impl Plan {
    /// Lays out `sections` (in file order, with their lengths in bytes)
    /// after the header page, each on a 4 KiB boundary, then the
    /// block-checksum section.
    pub(crate) fn new(flags: u64, nodes: u64, edges: u64, sections: &[(Section, u64)]) -> Plan {
        let mut entries = Vec::with_capacity(sections.len() + 1);
        let (mut at, mut blocks) = (HEADER_LEN as u64, 0);
        for &(section, len) in sections {
            let entry = Entry {
                section,
                offset: at,
                len,
                checksum: 0,
                first_block: blocks,
            };
            blocks += entry.blocks();
            at = (at + len).next_multiple_of(ALIGN);
            entries.push(entry);
        }
        entries.push(Entry {
            section: Section::BlockChecksums,
            offset: at,
            len: blocks * 8,
            checksum: 0,
            first_block: 0,
        });
        Plan {
            header: Header {
                flags,
                nodes,
                edges,
                file_len: at + blocks * 8,
                dim: 0,
            },
            entries,
        }
    }

    /// Sets the header's embedding dimension (0, no embeddings, unless
    /// set; a file with the embedding sections needs it).
    pub(crate) fn set_embedding_dim(&mut self, dim: u32) {
        self.header.dim = dim;
    }

    /// The entries, in file order (the block checksums last).
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Bytes of the whole file.
    pub(crate) fn file_len(&self) -> u64 {
        self.header.file_len
    }

    /// Fills in the section checksums from every block checksum (in table
    /// order, what the block-checksum section holds) and returns the
    /// header page.
    pub(crate) fn seal(&mut self, blocks: &[u64]) -> [u8; HEADER_LEN] {
        for e in &mut self.entries {
            e.checksum = if e.section == Section::BlockChecksums {
                xxh3_64(bytemuck::cast_slice(blocks))
            } else {
                let first = e.first_block as usize;
                xxh3_64(bytemuck::cast_slice(
                    &blocks[first..first + e.blocks() as usize],
                ))
            };
        }
        let mut page = [0u8; HEADER_LEN];
        page[..8].copy_from_slice(&MAGIC);
        page[8..10].copy_from_slice(&MAJOR.to_le_bytes());
        page[10..12].copy_from_slice(&MINOR.to_le_bytes());
        page[12..16].copy_from_slice(&BYTE_ORDER_MARK.to_le_bytes());
        page[16..24].copy_from_slice(&self.header.flags.to_le_bytes());
        page[24..32].copy_from_slice(&self.header.nodes.to_le_bytes());
        page[32..40].copy_from_slice(&self.header.edges.to_le_bytes());
        page[DIM_AT..DIM_AT + 4].copy_from_slice(&self.header.dim.to_le_bytes());
        page[52..56].copy_from_slice(&(self.entries.len() as u32).to_le_bytes());
        page[56..64].copy_from_slice(&self.header.file_len.to_le_bytes());
        for (i, e) in self.entries.iter().enumerate() {
            let row = &mut page[TABLE_AT + i * ENTRY_LEN..][..ENTRY_LEN];
            row[..4].copy_from_slice(&e.section.kind().to_le_bytes());
            row[4..8].copy_from_slice(&(e.section.element_size() as u32).to_le_bytes());
            row[8..16].copy_from_slice(&e.offset.to_le_bytes());
            row[16..24].copy_from_slice(&e.len.to_le_bytes());
            row[24..32].copy_from_slice(&e.checksum.to_le_bytes());
            row[32..40].copy_from_slice(&e.first_block.to_le_bytes());
        }
        let checksum = header_checksum(&page);
        page[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&checksum.to_le_bytes());
        page
    }
}
