//! Graph errors.

use core::fmt;

/// Why a graph could not be built.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum GraphError {
    /// An endpoint is `u32::MAX` (reserved) or not below the declared node count.
    NodeOutOfRange {
        /// Index of the edge in insertion order.
        edge: usize,
        /// The offending id.
        node: u32,
        /// The node count in force (`MAX_NODES` when none was declared).
        node_count: u64,
    },
    /// A weight is NaN, infinite, or outside `(0, 1]`.
    InvalidWeight {
        /// Index of the edge in insertion order.
        edge: usize,
        /// Source of the edge.
        src: u32,
        /// Target of the edge.
        dst: u32,
        /// The offending weight.
        weight: f32,
    },
    /// The declared node count exceeds [`MAX_NODES`](super::MAX_NODES).
    TooManyNodes {
        /// The requested count.
        requested: u64,
    },
    /// The allocator refused the memory the graph needs.
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
    /// Raw CSR arrays do not describe a graph (see [`CsrView::new`](super::CsrView::new)).
    MalformedCsr {
        /// Which invariant failed.
        reason: &'static str,
    },
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GraphError::NodeOutOfRange {
                edge,
                node,
                node_count,
            } => write!(
                f,
                "edge #{edge}: node id {node} is out of range (node count {node_count}, id u32::MAX is reserved)"
            ),
            GraphError::InvalidWeight {
                edge,
                src,
                dst,
                weight,
            } => write!(
                f,
                "edge #{edge} ({src} -> {dst}): weight {weight} is not a finite value in (0, 1]"
            ),
            GraphError::TooManyNodes { requested } => {
                write!(
                    f,
                    "{requested} nodes requested; at most {} are supported",
                    super::MAX_NODES
                )
            }
            GraphError::OutOfMemory { bytes } => {
                write!(f, "could not allocate {bytes} bytes for the graph")
            }
            GraphError::MalformedCsr { reason } => write!(f, "malformed CSR arrays: {reason}"),
        }
    }
}

impl core::error::Error for GraphError {}

/// A reader error, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// 1-based line number (0 when the error is not tied to a line, e.g. I/O).
    pub line: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

/// What went wrong while reading a graph file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A field is not a number of the expected type.
    BadNumber {
        /// Which field (`"src"`, `"dst"`, `"weight"`, `"rows"`, ...).
        field: &'static str,
    },
    /// The line has too few or too many fields.
    FieldCount {
        /// Fields expected (minimum).
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// Matrix Market: missing or unsupported `%%MatrixMarket` header.
    BadHeader,
    /// Matrix Market: the size line is missing.
    MissingSizeLine,
    /// Matrix Market: a 1-based index is 0 or above the declared size.
    IndexOutOfRange {
        /// The index as written.
        index: u64,
        /// The declared dimension.
        limit: u64,
    },
    /// Matrix Market: the number of entries differs from the size line.
    EntryCount {
        /// Entries declared.
        declared: u64,
        /// Entries found.
        found: u64,
    },
    /// The line was read but the edge it names is invalid.
    Graph(GraphError),
    /// The underlying reader failed (`std` only).
    Io(
        /// The I/O error kind.
        #[cfg(feature = "std")]
        std::io::ErrorKind,
        #[cfg(not(feature = "std"))] (),
    ),
    /// The input is not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        match &self.kind {
            ParseErrorKind::BadNumber { field } => write!(f, "field `{field}` is not a valid number"),
            ParseErrorKind::FieldCount { expected, found } => {
                write!(f, "expected {expected} fields, found {found}")
            }
            ParseErrorKind::BadHeader => f.write_str(
                "expected `%%MatrixMarket matrix coordinate <real|integer|pattern> <general|symmetric>`",
            ),
            ParseErrorKind::MissingSizeLine => f.write_str("missing `rows cols entries` size line"),
            ParseErrorKind::IndexOutOfRange { index, limit } => {
                write!(f, "index {index} is outside 1..={limit}")
            }
            ParseErrorKind::EntryCount { declared, found } => {
                write!(f, "size line declares {declared} entries, file has {found}")
            }
            ParseErrorKind::Graph(e) => write!(f, "{e}"),
            ParseErrorKind::Io(e) => write!(f, "I/O error: {e:?}"),
            ParseErrorKind::NotUtf8 => f.write_str("not valid UTF-8"),
        }
    }
}

impl core::error::Error for ParseError {}
