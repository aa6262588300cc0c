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

/// A reader error: what went wrong ([`kind`](ParseError::kind)) and where
/// (the file, for [`read_path`](super::io::read_path), and the line).
///
/// Its text says all three and what the reader accepts instead, e.g.
/// ``graph.el: line 3: expected 2 or 3 fields (`src dst [weight]`), found 4``.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ParseError {
    /// The file read (as displayed), where the error came from
    /// [`read_path`](super::io::read_path). A string rather than a `PathBuf`
    /// so that the struct's fields are the same with and without `std`.
    pub path: Option<alloc::string::String>,
    /// 1-based line number; `None` when the error concerns the whole input
    /// (a file that cannot be opened).
    pub line: Option<usize>,
    /// What went wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// An error on 1-based line `line` (of no named file).
    pub(crate) fn at(line: usize, kind: ParseErrorKind) -> ParseError {
        ParseError {
            path: None,
            line: Some(line),
            kind,
        }
    }
}

/// What went wrong while reading a graph file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A field is not a number of the kind it must be.
    BadNumber {
        /// Which field (`"src"`, `"dst"`, `"weight"`, `"rows"`, `"row"`, ...).
        field: &'static str,
        /// What the field accepts, in words (`"a node id: an integer in 0..=4294967294"`).
        expected: &'static str,
    },
    /// An integer field is larger than any the reader accepts (a node id at
    /// or above [`MAX_NODES`](super::MAX_NODES)).
    NumberTooLarge {
        /// Which field.
        field: &'static str,
        /// The largest value accepted.
        max: u64,
    },
    /// The line has too few or too many fields.
    FieldCount {
        /// The fields a line holds, e.g. ``"`src dst [weight]`"``.
        layout: &'static str,
        /// Fewest fields accepted.
        min: usize,
        /// Most fields accepted.
        max: usize,
        /// Fields found.
        found: usize,
    },
    /// Matrix Market: missing or unsupported `%%MatrixMarket` header.
    BadHeader,
    /// Matrix Market: the size line is missing.
    MissingSizeLine,
    /// Matrix Market: a 1-based index is 0 or above the declared size.
    IndexOutOfRange {
        /// Which index (`"row"` or `"col"`).
        field: &'static str,
        /// The index as written (`u64::MAX` if it does not even fit a `u64`).
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
    /// The underlying reader failed, or the file could not be opened. Only
    /// the `std` readers do I/O, so only they have this variant (the enum is
    /// `#[non_exhaustive]`: matches compile with and without it).
    #[cfg(feature = "std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "std")))]
    Io(std::io::ErrorKind),
    /// The input is not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::BadNumber { field, expected } => {
                write!(f, "field `{field}` is not {expected}")
            }
            ParseErrorKind::NumberTooLarge { field, max } => {
                write!(f, "field `{field}` is too large: at most {max} is accepted")
            }
            ParseErrorKind::FieldCount {
                layout,
                min,
                max,
                found,
            } => {
                if min == max {
                    write!(f, "expected {min} fields ({layout}), found {found}")
                } else if min + 1 == *max {
                    write!(f, "expected {min} or {max} fields ({layout}), found {found}")
                } else {
                    write!(f, "expected {min} to {max} fields ({layout}), found {found}")
                }
            }
            ParseErrorKind::BadHeader => f.write_str(
                "the first line must be a Matrix Market header, \
                 `%%MatrixMarket matrix coordinate <real|integer|double|pattern> <general|symmetric>`",
            ),
            ParseErrorKind::MissingSizeLine => {
                f.write_str("missing the `rows cols entries` size line after the header")
            }
            ParseErrorKind::IndexOutOfRange {
                field,
                index,
                limit,
            } => {
                if *index == u64::MAX {
                    write!(f, "{field} index above {}", u64::MAX)?;
                } else {
                    write!(f, "{field} index {index}")?;
                }
                write!(
                    f,
                    " is out of range: the size line declares {limit} {field}s, numbered 1..={limit}"
                )
            }
            ParseErrorKind::EntryCount { declared, found } => write!(
                f,
                "the size line declares {declared} entries, the file has {found}"
            ),
            ParseErrorKind::Graph(e) => write!(f, "{e}"),
            #[cfg(feature = "std")]
            ParseErrorKind::Io(e) => write!(f, "I/O error: {e}"),
            ParseErrorKind::NotUtf8 => f.write_str("not valid UTF-8 (the readers take UTF-8 text)"),
        }
    }
}

impl core::error::Error for ParseError {}
