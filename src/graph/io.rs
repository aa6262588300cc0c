//! Readers for whitespace edge lists and Matrix Market coordinate files.
//!
//! Both formats are parsed line by line by a small state machine; the same machine runs over an in-memory string
//! ([`parse_edge_list`], [`parse_matrix_market`], available without `std`) and
//! over any [`std::io::BufRead`] ([`read_edge_list`], [`read_matrix_market`],
//! [`read_path`]). Every error carries the 1-based line number, and bad input
//! never panics (the readers are fuzzed).
//!
//! Options such as a fixed node count or symmetrizing come from the
//! [`GraphBuilder`] passed in, which also validates every edge.

use super::{Graph, GraphBuilder, ParseError, ParseErrorKind};

/// Parses a whitespace edge list held in memory: one `src dst [weight]` per
/// line (weight 1.0 when absent), ids as `u32`, `#` or `%` starting a comment
/// line, blank lines ignored.
pub fn parse_edge_list(text: &str, builder: GraphBuilder) -> Result<Graph, ParseError> {
    parse_lines(text, EdgeListParser { builder })
}

/// Parses a Matrix Market coordinate file held in memory (`real`, `integer`
/// or `pattern`; `general` or `symmetric`). Entry `i j v` is the edge
/// `i-1 -> j-1` with weight `v` (1.0 for `pattern`).
pub fn parse_matrix_market(text: &str, builder: GraphBuilder) -> Result<Graph, ParseError> {
    parse_lines(text, MatrixMarketParser::new(builder))
}

/// Reads an edge list (see [`parse_edge_list`]) from a reader.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn read_edge_list<R: std::io::BufRead>(
    reader: R,
    builder: GraphBuilder,
) -> Result<Graph, ParseError> {
    read_lines(reader, EdgeListParser { builder })
}

/// Reads a Matrix Market file (see [`parse_matrix_market`]) from a reader.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn read_matrix_market<R: std::io::BufRead>(
    reader: R,
    builder: GraphBuilder,
) -> Result<Graph, ParseError> {
    read_lines(reader, MatrixMarketParser::new(builder))
}

/// Reads a graph file, choosing the format by extension: `.mtx` is Matrix
/// Market, anything else an edge list.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn read_path(
    path: impl AsRef<std::path::Path>,
    builder: GraphBuilder,
) -> Result<Graph, ParseError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| ParseError {
        line: 0,
        kind: ParseErrorKind::Io(e.kind()),
    })?;
    let reader = std::io::BufReader::with_capacity(1 << 20, file);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mtx"))
    {
        read_matrix_market(reader, builder)
    } else {
        read_edge_list(reader, builder)
    }
}

/// A line-at-a-time parser of one file format.
trait LineParser {
    /// Consumes one line (without its terminator).
    fn line(&mut self, line: &str) -> Result<(), ParseErrorKind>;
    /// Ends the input; `lines` is the number of lines read.
    fn finish(self, lines: usize) -> Result<Graph, ParseError>;
}

fn parse_lines<P: LineParser>(text: &str, mut parser: P) -> Result<Graph, ParseError> {
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        count = i + 1;
        parser
            .line(line)
            .map_err(|kind| ParseError { line: count, kind })?;
    }
    parser.finish(count)
}

#[cfg(feature = "std")]
fn read_lines<R: std::io::BufRead, P: LineParser>(
    mut reader: R,
    mut parser: P,
) -> Result<Graph, ParseError> {
    let mut buf = std::vec::Vec::new();
    let mut count = 0;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| ParseError {
            line: count + 1,
            kind: ParseErrorKind::Io(e.kind()),
        })?;
        if n == 0 {
            return parser.finish(count);
        }
        count += 1;
        let line = core::str::from_utf8(&buf).map_err(|_| ParseError {
            line: count,
            kind: ParseErrorKind::NotUtf8,
        })?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        parser
            .line(line)
            .map_err(|kind| ParseError { line: count, kind })?;
    }
}

/// Splits `line` into at most `N` whitespace-separated fields; more is a
/// [`ParseErrorKind::FieldCount`] error (expecting `expected`).
fn split_fields<const N: usize>(
    line: &str,
    expected: usize,
) -> Result<([&str; N], usize), ParseErrorKind> {
    let mut fields = [""; N];
    let mut words = line.split_ascii_whitespace();
    for (i, word) in words.by_ref().take(N).enumerate() {
        fields[i] = word;
    }
    let found = fields.iter().filter(|f| !f.is_empty()).count();
    match words.count() {
        0 => Ok((fields, found)),
        extra => Err(ParseErrorKind::FieldCount {
            expected,
            found: N + extra,
        }),
    }
}

fn number<T: core::str::FromStr>(field: &'static str, text: &str) -> Result<T, ParseErrorKind> {
    text.parse()
        .map_err(|_| ParseErrorKind::BadNumber { field })
}

struct EdgeListParser {
    builder: GraphBuilder,
}

impl LineParser for EdgeListParser {
    fn line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('%') {
            return Ok(());
        }
        let (fields, found) = split_fields::<3>(line, 2)?;
        if found < 2 {
            return Err(ParseErrorKind::FieldCount { expected: 2, found });
        }
        let src = number("src", fields[0])?;
        let dst = number("dst", fields[1])?;
        let weight = if found == 3 {
            number("weight", fields[2])?
        } else {
            1.0
        };
        self.builder
            .add_edge(src, dst, weight)
            .map_err(ParseErrorKind::Graph)
    }

    fn finish(self, lines: usize) -> Result<Graph, ParseError> {
        self.builder.build().map_err(|e| ParseError {
            line: lines,
            kind: ParseErrorKind::Graph(e),
        })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    Real,
    Pattern,
}

enum MmState {
    Header,
    Size {
        field: Field,
        symmetric: bool,
    },
    Entries {
        field: Field,
        symmetric: bool,
        rows: u64,
        cols: u64,
        declared: u64,
        found: u64,
    },
}

struct MatrixMarketParser {
    builder: Option<GraphBuilder>,
    state: MmState,
}

impl MatrixMarketParser {
    fn new(builder: GraphBuilder) -> MatrixMarketParser {
        MatrixMarketParser {
            builder: Some(builder),
            state: MmState::Header,
        }
    }

    fn header(line: &str) -> Result<MmState, ParseErrorKind> {
        let mut words = line.split_ascii_whitespace();
        let mut next = || words.next().map(str::to_ascii_lowercase);
        if next().as_deref() != Some("%%matrixmarket")
            || next().as_deref() != Some("matrix")
            || next().as_deref() != Some("coordinate")
        {
            return Err(ParseErrorKind::BadHeader);
        }
        let field = match next().as_deref() {
            Some("real" | "integer" | "double") => Field::Real,
            Some("pattern") => Field::Pattern,
            _ => return Err(ParseErrorKind::BadHeader),
        };
        let symmetric = match next().as_deref() {
            Some("general") => false,
            Some("symmetric") => true,
            _ => return Err(ParseErrorKind::BadHeader),
        };
        Ok(MmState::Size { field, symmetric })
    }

    fn index(text: &str, field: &'static str, limit: u64) -> Result<u32, ParseErrorKind> {
        let index: u64 = number(field, text)?;
        if index == 0 || index > limit {
            return Err(ParseErrorKind::IndexOutOfRange { index, limit });
        }
        Ok((index - 1) as u32)
    }
}

impl LineParser for MatrixMarketParser {
    fn line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        if let MmState::Header = self.state {
            self.state = Self::header(line)?;
            return Ok(());
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('%') {
            return Ok(());
        }
        let (fields, count) = split_fields::<4>(line, 3)?;
        match &mut self.state {
            MmState::Header => unreachable!("handled above"),
            MmState::Size { field, symmetric } => {
                if count != 3 {
                    return Err(ParseErrorKind::FieldCount {
                        expected: 3,
                        found: count,
                    });
                }
                let rows: u64 = number("rows", fields[0])?;
                let cols: u64 = number("cols", fields[1])?;
                let declared: u64 = number("entries", fields[2])?;
                let nodes = rows.max(cols);
                let old = self.builder.take().expect("builder present until finish");
                if nodes > u64::from(old.node_limit()) {
                    self.builder = Some(old);
                    return Err(ParseErrorKind::Graph(super::GraphError::TooManyNodes {
                        requested: nodes,
                    }));
                }
                let nodes = (nodes as u32).max(old.node_count());
                let mut b = GraphBuilder::with_node_count(nodes)
                    .symmetrize(old.is_symmetrized())
                    .max_nodes(old.node_limit().max(nodes));
                b.reserve(declared.min(1 << 24) as usize * if *symmetric { 2 } else { 1 });
                self.builder = Some(b);
                self.state = MmState::Entries {
                    field: *field,
                    symmetric: *symmetric,
                    rows,
                    cols,
                    declared,
                    found: 0,
                };
                Ok(())
            }
            MmState::Entries {
                field,
                symmetric,
                rows,
                cols,
                found,
                ..
            } => {
                let expected = if *field == Field::Pattern { 2 } else { 3 };
                if count != expected {
                    return Err(ParseErrorKind::FieldCount {
                        expected,
                        found: count,
                    });
                }
                let i = Self::index(fields[0], "row", *rows)?;
                let j = Self::index(fields[1], "col", *cols)?;
                let w: f32 = if *field == Field::Pattern {
                    1.0
                } else {
                    number("value", fields[2])?
                };
                let b = self.builder.as_mut().expect("builder present until finish");
                b.add_edge(i, j, w).map_err(ParseErrorKind::Graph)?;
                if *symmetric && i != j {
                    b.add_edge(j, i, w).map_err(ParseErrorKind::Graph)?;
                }
                *found += 1;
                Ok(())
            }
        }
    }

    fn finish(self, lines: usize) -> Result<Graph, ParseError> {
        match self.state {
            MmState::Header => Err(ParseError {
                line: lines.max(1),
                kind: ParseErrorKind::BadHeader,
            }),
            MmState::Size { .. } => Err(ParseError {
                line: lines,
                kind: ParseErrorKind::MissingSizeLine,
            }),
            MmState::Entries {
                declared, found, ..
            } if declared != found => Err(ParseError {
                line: lines,
                kind: ParseErrorKind::EntryCount { declared, found },
            }),
            MmState::Entries { .. } => self
                .builder
                .expect("builder present until finish")
                .build()
                .map_err(|e| ParseError {
                    line: lines,
                    kind: ParseErrorKind::Graph(e),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::GraphError;
    use alloc::vec::Vec;

    fn kind(r: Result<Graph, ParseError>) -> (usize, ParseErrorKind) {
        let e = r.unwrap_err();
        (e.line, e.kind)
    }

    #[test]
    fn edge_list_with_comments_and_default_weights() {
        let g = parse_edge_list(
            "# a comment\n0 1 0.5\n\n1\t2\n% another\n  2 0 0.25  \n",
            GraphBuilder::new(),
        )
        .unwrap();
        assert_eq!(
            g.edges().collect::<Vec<_>>(),
            [(0, 1, 0.5), (1, 2, 1.0), (2, 0, 0.25)]
        );
    }

    #[test]
    fn edge_list_errors_name_the_line() {
        let b = GraphBuilder::new;
        assert_eq!(
            kind(parse_edge_list("0 1\n0 x\n", b())),
            (2, ParseErrorKind::BadNumber { field: "dst" })
        );
        assert_eq!(
            kind(parse_edge_list("0\n", b())),
            (
                1,
                ParseErrorKind::FieldCount {
                    expected: 2,
                    found: 1
                }
            )
        );
        assert_eq!(
            kind(parse_edge_list("0 1 1 1\n", b())),
            (
                1,
                ParseErrorKind::FieldCount {
                    expected: 2,
                    found: 4
                }
            )
        );
        assert_eq!(
            kind(parse_edge_list("0 -1\n", b())),
            (1, ParseErrorKind::BadNumber { field: "dst" })
        );
        assert_eq!(
            kind(parse_edge_list("0 4294967296\n", b())),
            (1, ParseErrorKind::BadNumber { field: "dst" })
        );
        let (line, k) = kind(parse_edge_list("0 1\n1 2 nan\n", b()));
        assert_eq!(line, 2);
        assert!(matches!(
            k,
            ParseErrorKind::Graph(GraphError::InvalidWeight { edge: 1, .. })
        ));
        let (line, k) = kind(parse_edge_list("0 4294967295\n", b()));
        assert_eq!(line, 1);
        assert!(matches!(
            k,
            ParseErrorKind::Graph(GraphError::NodeOutOfRange { node: u32::MAX, .. })
        ));
    }

    #[test]
    fn matrix_market_general_symmetric_pattern() {
        let text = "%%MatrixMarket matrix coordinate real general\n% c\n3 3 2\n1 2 0.5\n3 1 1\n";
        let g = parse_matrix_market(text, GraphBuilder::new()).unwrap();
        assert_eq!(g.edges().collect::<Vec<_>>(), [(0, 1, 0.5), (2, 0, 1.0)]);
        let text = "%%MatrixMarket matrix coordinate pattern symmetric\n4 4 2\n2 1\n3 3\n";
        let g = parse_matrix_market(text, GraphBuilder::new()).unwrap();
        assert_eq!(g.node_count(), 4);
        assert_eq!(g.edges().collect::<Vec<_>>(), [(0, 1, 1.0), (1, 0, 1.0)]);
    }

    #[test]
    fn matrix_market_errors_name_the_line() {
        let b = GraphBuilder::new;
        assert_eq!(
            kind(parse_matrix_market("", b())),
            (1, ParseErrorKind::BadHeader)
        );
        assert_eq!(
            kind(parse_matrix_market(
                "%%MatrixMarket matrix array real general\n",
                b()
            )),
            (1, ParseErrorKind::BadHeader)
        );
        let h = "%%MatrixMarket matrix coordinate real general\n";
        assert_eq!(
            kind(parse_matrix_market(h, b())),
            (1, ParseErrorKind::MissingSizeLine)
        );
        assert_eq!(
            kind(parse_matrix_market(
                &alloc::format!("{h}2 2 1\n3 1 0.5\n"),
                b()
            )),
            (3, ParseErrorKind::IndexOutOfRange { index: 3, limit: 2 })
        );
        assert_eq!(
            kind(parse_matrix_market(
                &alloc::format!("{h}2 2 1\n0 1 0.5\n"),
                b()
            )),
            (3, ParseErrorKind::IndexOutOfRange { index: 0, limit: 2 })
        );
        assert_eq!(
            kind(parse_matrix_market(
                &alloc::format!("{h}2 2 2\n1 2 0.5\n"),
                b()
            )),
            (
                3,
                ParseErrorKind::EntryCount {
                    declared: 2,
                    found: 1
                }
            )
        );
        assert_eq!(
            kind(parse_matrix_market(&alloc::format!("{h}2 2 1\n1 2\n"), b())),
            (
                3,
                ParseErrorKind::FieldCount {
                    expected: 3,
                    found: 2
                }
            )
        );
        assert!(matches!(
            kind(parse_matrix_market(
                &alloc::format!("{h}2 2 1\n1 2 7\n"),
                b()
            )),
            (3, ParseErrorKind::Graph(GraphError::InvalidWeight { .. }))
        ));
        assert!(matches!(
            kind(parse_matrix_market(
                &alloc::format!("{h}5000000000 1 0\n"),
                b()
            )),
            (2, ParseErrorKind::Graph(GraphError::TooManyNodes { .. }))
        ));
        assert!(matches!(
            kind(parse_matrix_market(
                &alloc::format!("{h}1000 1 0\n"),
                b().max_nodes(999)
            )),
            (
                2,
                ParseErrorKind::Graph(GraphError::TooManyNodes { requested: 1000 })
            )
        ));
    }

    #[cfg(feature = "std")]
    #[test]
    fn readers_match_parsers_and_reject_non_utf8() {
        let text = "%%MatrixMarket matrix coordinate real general\r\n2 2 1\r\n1 2 0.5\r\n";
        let a = read_matrix_market(text.as_bytes(), GraphBuilder::new()).unwrap();
        assert_eq!(a.edges().collect::<Vec<_>>(), [(0, 1, 0.5)]);
        let e = read_edge_list(&b"0 1\n\xff 2\n"[..], GraphBuilder::new()).unwrap_err();
        assert_eq!((e.line, e.kind), (2, ParseErrorKind::NotUtf8));
        let e = read_path("/nonexistent/axonal.el", GraphBuilder::new()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Io(std::io::ErrorKind::NotFound));
    }
}
