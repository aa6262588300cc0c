//! Why an `.axg` file was refused.

use core::fmt;

use super::format::Section;
use super::progress::Phase;
use crate::graph::GraphError;

/// Why an `.axg` file (or bytes claiming to be one) was refused: what was
/// wrong, in which section, at which byte offset of the file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StoreError {
    /// The first 8 bytes are not the `.axg` magic.
    NotAxg,
    /// A format major version this reader does not know (a newer writer).
    UnsupportedVersion {
        /// The file's major version.
        major: u16,
        /// The file's minor version.
        minor: u16,
    },
    /// The file was written on a machine of the other byte order.
    ForeignByteOrder,
    /// The bytes end before what the header says is there.
    Truncated {
        /// The section that runs past the end.
        section: Section,
        /// Where it would end.
        needed: u64,
        /// Bytes there are.
        len: u64,
    },
    /// A header field is out of its range.
    BadHeader {
        /// The field.
        field: &'static str,
        /// Its byte offset in the file.
        offset: u64,
        /// What is accepted, in words.
        expected: &'static str,
    },
    /// A section does not start on a 4 KiB boundary of the file, or the
    /// bytes given are not aligned for its element type.
    Misaligned {
        /// The section.
        section: Section,
        /// Its byte offset in the file.
        offset: u64,
    },
    /// Two sections share bytes.
    Overlap {
        /// The first section.
        first: Section,
        /// The second one, which starts inside the first.
        second: Section,
        /// Where the second starts.
        offset: u64,
    },
    /// A section the header's flags require is missing, or one appears twice.
    Sections {
        /// The section.
        section: Section,
        /// What is wrong with it, in words.
        reason: &'static str,
    },
    /// A section's length does not match the node and edge counts.
    SectionSize {
        /// The section.
        section: Section,
        /// Bytes it should have.
        expected: u64,
        /// Bytes it has.
        found: u64,
    },
    /// A checksum does not match the bytes it covers.
    Checksum {
        /// The section (`Section::Header` for the header).
        section: Section,
        /// The byte offset in the file of the block (or section) checked.
        offset: u64,
        /// Bytes covered.
        len: u64,
    },
    /// A section's content breaks the graph's invariants: offsets that
    /// decrease or do not end at the edge count, a target out of range, a
    /// weight outside `(0, 1]`.
    Structure {
        /// The section.
        section: Section,
        /// The byte offset in the file of the offending value (the
        /// section's start where the error concerns it as a whole).
        offset: u64,
        /// What the graph checks found.
        error: GraphError,
    },
    /// A memory budget too small for the work asked: a chunked pass whose
    /// single largest row (one node's bytes of every section carried, with
    /// the pass's fixed needs) exceeds the whole budget.
    BudgetTooSmall {
        /// Bytes the work needs at least.
        needed: u64,
        /// The budget given, in bytes.
        budget: u64,
    },
    /// The caller's [`Progress`](super::Progress) observer cancelled the
    /// operation; nothing it created is left behind.
    Cancelled {
        /// The phase it was in.
        phase: Phase,
    },
    /// Reading or writing the file failed (`std`).
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    Io {
        /// The file.
        path: alloc::string::String,
        /// What the operating system said.
        kind: std::io::ErrorKind,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotAxg => f.write_str("not an .axg file (bad magic)"),
            StoreError::UnsupportedVersion { major, minor } => write!(
                f,
                "format version {major}.{minor} is newer than this reader (major {})",
                super::format::MAJOR
            ),
            StoreError::ForeignByteOrder => {
                f.write_str("written with the other byte order (this reader takes little-endian)")
            }
            StoreError::Truncated {
                section,
                needed,
                len,
            } => write!(
                f,
                "{section}: truncated: needs bytes up to {needed}, the file has {len}"
            ),
            StoreError::BadHeader {
                field,
                offset,
                expected,
            } => write!(
                f,
                "header field `{field}` at byte {offset}: expected {expected}"
            ),
            StoreError::Misaligned { section, offset } => {
                write!(f, "{section} at byte {offset}: not aligned")
            }
            StoreError::Overlap {
                first,
                second,
                offset,
            } => write!(f, "{second} at byte {offset} overlaps {first}"),
            StoreError::Sections { section, reason } => write!(f, "{section}: {reason}"),
            StoreError::SectionSize {
                section,
                expected,
                found,
            } => write!(f, "{section}: {found} bytes, expected {expected}"),
            StoreError::Checksum {
                section,
                offset,
                len,
            } => write!(
                f,
                "{section}: checksum mismatch in bytes {offset}..{}",
                offset + len
            ),
            StoreError::Structure {
                section,
                offset,
                error,
            } => write!(f, "{section} at byte {offset}: {error}"),
            StoreError::BudgetTooSmall { needed, budget } => write!(
                f,
                "a memory budget of {budget} bytes is too small: {needed} bytes needed"
            ),
            StoreError::Cancelled { phase } => write!(f, "cancelled during the {phase} phase"),
            #[cfg(feature = "std")]
            StoreError::Io { path, kind } => write!(f, "{path}: I/O error: {kind}"),
        }
    }
}

impl core::error::Error for StoreError {}
