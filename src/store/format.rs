//! The `.axg` layout: the header, the section table, and the parser and
//! verifier over plain bytes (`no_std` + `alloc`).

use alloc::vec::Vec;

use bytemuck::Pod;
use xxhash_rust::xxh3::xxh3_64;

use super::progress::Progress;
use super::{StoreError, verify};
use crate::graph::{CsrView, GraphError, GraphView};
use crate::layout::Node;

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

/// What the header's flags say the file holds beyond the graph.
pub(crate) mod flags {
    /// The 64-byte node records.
    pub(crate) const NODES: u64 = 1;
    /// The caller's original ids.
    pub(crate) const ID_MAP: u64 = 1 << 1;
    /// Every flag this version knows.
    pub(crate) const KNOWN: u64 = NODES | ID_MAP;
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
    /// The block checksums of every section, `u64` each, in table order.
    BlockChecksums,
}

impl Section {
    /// Every section, in file order.
    pub const ALL: [Section; 9] = [
        Section::OutOffsets,
        Section::OutTargets,
        Section::OutWeights,
        Section::InOffsets,
        Section::InTargets,
        Section::InWeights,
        Section::Nodes,
        Section::IdMap,
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
        }
    }

    fn from_kind(kind: u32) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.kind() == kind)
    }

    /// Bytes per element.
    pub const fn element_size(self) -> u64 {
        match self {
            Section::Header => 1,
            Section::OutTargets | Section::OutWeights | Section::InTargets | Section::InWeights => {
                4
            }
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
    /// count, weights in `(0, 1]`. O(edges), no hashing.
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
    fn blocks(&self) -> u64 {
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
        };
        file.graph = Some(file.views_unchecked().expect("accepted before, unchanged"));
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
            self.graph = Some(self.check_structure(found.contents_ok)?);
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
            let at = |s: Section, index: usize| {
                self.entry(s).map_or(0, |e| e.offset) + index as u64 * s.element_size()
            };
            let offset = match error {
                GraphError::NodeOutOfRange { edge, .. } => at(t, edge),
                GraphError::InvalidWeight { edge, .. } => at(w, edge),
                _ => at(o, 0),
            };
            let section = match error {
                GraphError::NodeOutOfRange { .. } => t,
                GraphError::InvalidWeight { .. } => w,
                _ => o,
            };
            StoreError::Structure {
                section,
                offset,
                error,
            }
        })
    }

    /// Both directions, without the checks (which passed when the bytes
    /// were first parsed); the optional sections' alignment is checked.
    #[cfg(feature = "store")]
    fn views_unchecked(&self) -> Result<GraphView<'a>, StoreError> {
        self.slice::<Node>(Section::Nodes)?;
        self.slice::<u64>(Section::IdMap)?;
        let csr = |[o, t, w]: [Section; 3]| -> Result<CsrView<'a>, StoreError> {
            Ok(CsrView::new_unchecked(
                self.required(o)?,
                self.required(t)?,
                self.required(w)?,
            ))
        };
        Ok(GraphView::new_unchecked(
            csr([
                Section::OutOffsets,
                Section::OutTargets,
                Section::OutWeights,
            ])?,
            csr([Section::InOffsets, Section::InTargets, Section::InWeights])?,
        ))
    }

    /// The checks the kernels rely on, and the graph they pass
    /// (`contents_checked`: the CSR contents passed block by block).
    fn check_structure(&self, contents_checked: bool) -> Result<GraphView<'a>, StoreError> {
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
        GraphView::new(out, inc).map_err(|error| StoreError::Structure {
            section: Section::InOffsets,
            offset: self.entry(Section::InOffsets).map_or(0, |e| e.offset),
            error,
        })
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
    let len = bytes.len() as u64;
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
    };
    let bad = |field, offset, expected| {
        Err(StoreError::BadHeader {
            field,
            offset,
            expected,
        })
    };
    if header.flags & !flags::KNOWN != 0 {
        return bad("flags", 16, "only the flags of format 1.0 (nodes, id map)");
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
        Section::Nodes | Section::IdMap => Some(header.nodes),
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

/// What a file holds: the graph, and optionally node records and the
/// caller's original ids.
#[derive(Debug, Clone, Copy)]
pub struct Contents<'a> {
    graph: GraphView<'a>,
    nodes: Option<&'a [Node]>,
    id_map: Option<&'a [u64]>,
}

impl<'a> Contents<'a> {
    /// A file of `graph` alone.
    pub fn new(graph: impl Into<GraphView<'a>>) -> Contents<'a> {
        Contents {
            graph: graph.into(),
            nodes: None,
            id_map: None,
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
        all
    }

    /// Writes the file, piece by piece, through `put` (in order; the
    /// pieces add up to the whole file).
    pub(crate) fn encode<E>(&self, mut put: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let sections = self.sections();
        let mut blocks: Vec<u64> = Vec::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(sections.len() + 1);
        let mut at = HEADER_LEN as u64;
        for &(section, bytes) in &sections {
            let first = blocks.len();
            blocks.extend(bytes.chunks(BLOCK_LEN as usize).map(xxh3_64));
            entries.push(Entry {
                section,
                offset: at,
                len: bytes.len() as u64,
                checksum: xxh3_64(bytemuck::cast_slice(&blocks[first..])),
                first_block: first as u64,
            });
            at = (at + bytes.len() as u64).next_multiple_of(ALIGN);
        }
        let block_bytes: &[u8] = bytemuck::cast_slice(&blocks);
        entries.push(Entry {
            section: Section::BlockChecksums,
            offset: at,
            len: block_bytes.len() as u64,
            checksum: xxh3_64(block_bytes),
            first_block: 0,
        });
        let file_len = at + block_bytes.len() as u64;

        let mut page = [0u8; HEADER_LEN];
        page[..8].copy_from_slice(&MAGIC);
        page[8..10].copy_from_slice(&MAJOR.to_le_bytes());
        page[10..12].copy_from_slice(&MINOR.to_le_bytes());
        page[12..16].copy_from_slice(&BYTE_ORDER_MARK.to_le_bytes());
        let flags = if self.nodes.is_some() {
            flags::NODES
        } else {
            0
        } | if self.id_map.is_some() {
            flags::ID_MAP
        } else {
            0
        };
        page[16..24].copy_from_slice(&flags.to_le_bytes());
        page[24..32].copy_from_slice(&(self.graph.node_count() as u64).to_le_bytes());
        page[32..40].copy_from_slice(&(self.graph.edge_count() as u64).to_le_bytes());
        page[52..56].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        page[56..64].copy_from_slice(&file_len.to_le_bytes());
        for (i, e) in entries.iter().enumerate() {
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

        put(&page)?;
        let zeros = [0u8; ALIGN as usize];
        let mut written = HEADER_LEN as u64;
        let all = sections
            .iter()
            .copied()
            .chain([(Section::BlockChecksums, block_bytes)]);
        for ((_, bytes), e) in all.zip(&entries) {
            put(&zeros[..(e.offset - written) as usize])?;
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
