//! Readers for whitespace edge lists and Matrix Market coordinate files.
//!
//! Both formats are parsed line by line by a small state machine; the same machine runs over an in-memory string
//! ([`parse_edge_list`], [`parse_matrix_market`], available without `std`) and
//! over any [`std::io::BufRead`] ([`read_edge_list`], [`read_matrix_market`],
//! [`read_path`]). Every error says what was wrong, where (the 1-based line,
//! and the file for [`read_path`]) and what is accepted instead; bad input
//! never panics (the readers are fuzzed).
//!
//! Options such as a fixed node count or symmetrizing come from the
//! [`GraphBuilder`] passed in, which also validates every edge.

use super::{Graph, GraphBuilder, MAX_NODES, ParseError, ParseErrorKind};

/// Parses a whitespace edge list held in memory: one `src dst [weight]` per
/// line (weight 1.0 when absent), ids as `u32`, `#` or `%` starting a comment
/// line, blank lines ignored.
pub fn parse_edge_list(text: &str, builder: GraphBuilder) -> Result<Graph, ParseError> {
    built(parse_lines(text, EdgeListParser { sink: builder }))
}

/// Parses a Matrix Market coordinate file held in memory (`real`, `integer`
/// or `pattern`; `general` or `symmetric`). Entry `i j v` is the edge
/// `i-1 -> j-1` with weight `v` (1.0 for `pattern`).
pub fn parse_matrix_market(text: &str, builder: GraphBuilder) -> Result<Graph, ParseError> {
    built(parse_lines(text, MatrixMarketParser::new(builder)))
}

/// Reads an edge list (see [`parse_edge_list`]) from a reader.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn read_edge_list<R: std::io::BufRead>(
    reader: R,
    builder: GraphBuilder,
) -> Result<Graph, ParseError> {
    built(read_lines(reader, EdgeListParser { sink: builder }))
}

/// Reads a Matrix Market file (see [`parse_matrix_market`]) from a reader.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn read_matrix_market<R: std::io::BufRead>(
    reader: R,
    builder: GraphBuilder,
) -> Result<Graph, ParseError> {
    built(read_lines(reader, MatrixMarketParser::new(builder)))
}

/// Reads a graph file, choosing the format by extension: `.mtx` is Matrix
/// Market, anything else an edge list. Errors name the file.
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub fn read_path(
    path: impl AsRef<std::path::Path>,
    builder: GraphBuilder,
) -> Result<Graph, ParseError> {
    let path = path.as_ref();
    built(read_path_into(path, builder, |r| r)).map_err(|e| ParseError {
        path: Some(path.display().to_string()),
        ..e
    })
}

/// The format of a text graph file.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextFormat {
    /// `src dst [weight]` lines.
    EdgeList,
    /// Matrix Market coordinate.
    MatrixMarket,
}

#[cfg(feature = "std")]
impl TextFormat {
    /// `.mtx` is Matrix Market, anything else an edge list.
    pub(crate) fn of_path(path: &std::path::Path) -> TextFormat {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mtx"))
        {
            TextFormat::MatrixMarket
        } else {
            TextFormat::EdgeList
        }
    }
}

/// Reads the file at `path` (its format by extension) into `sink`, through
/// `wrap` (which may count the bytes read); errors do not name the file yet.
#[cfg(feature = "std")]
pub(crate) fn read_path_into<S: EdgeSink, R: std::io::Read>(
    path: &std::path::Path,
    sink: S,
    wrap: impl FnOnce(std::fs::File) -> R,
) -> Result<(S, usize), ReadError<S::Error>> {
    let file = std::fs::File::open(path).map_err(|e| {
        ReadError::Parse(ParseError {
            path: None,
            line: None,
            kind: ParseErrorKind::Io(e.kind()),
        })
    })?;
    let reader = std::io::BufReader::with_capacity(1 << 20, wrap(file));
    read_into(reader, TextFormat::of_path(path), sink)
}

/// Reads text of `format` from `reader` into `sink`; the sink and the
/// number of lines read.
#[cfg(feature = "std")]
pub(crate) fn read_into<S: EdgeSink>(
    reader: impl std::io::BufRead,
    format: TextFormat,
    sink: S,
) -> Result<(S, usize), ReadError<S::Error>> {
    match format {
        TextFormat::MatrixMarket => read_lines(reader, MatrixMarketParser::new(sink)),
        TextFormat::EdgeList => read_lines(reader, EdgeListParser { sink }),
    }
}

/// Where the readers put the edges they parse: a [`GraphBuilder`], or the
/// streaming `.axg` builder. Ids arrive as written in the file.
pub(crate) trait EdgeSink {
    /// What the sink itself may fail with, beyond the parse errors.
    type Error;
    /// The largest node id accepted.
    fn max_id(&self) -> u64;
    /// The weight of a line that has none.
    fn default_weight(&self) -> f32;
    /// Adds the edge `src -> dst`.
    fn add(&mut self, src: u64, dst: u64, weight: f32) -> Result<(), SinkError<Self::Error>>;
    /// A Matrix Market size line declares `nodes` (rows and columns: the
    /// larger) and `entries`.
    fn declare(&mut self, nodes: u64, entries: u64) -> Result<(), SinkError<Self::Error>>;
}

/// Why a sink refused an edge: a parse error (line numbered by the
/// reader), or the sink's own.
#[derive(Debug)]
pub(crate) enum SinkError<E> {
    Parse(ParseErrorKind),
    // Only the streaming builder (`store`) fails on its own.
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    Sink(E),
}

/// Why reading into a sink failed.
#[derive(Debug)]
pub(crate) enum ReadError<E> {
    Parse(ParseError),
    Sink(E),
}

impl EdgeSink for GraphBuilder {
    type Error = core::convert::Infallible;

    fn max_id(&self) -> u64 {
        u64::from(MAX_ID)
    }

    fn default_weight(&self) -> f32 {
        1.0
    }

    fn add(&mut self, src: u64, dst: u64, weight: f32) -> Result<(), SinkError<Self::Error>> {
        // Below `MAX_ID`: the reader checked them against `max_id`.
        self.add_edge(src as u32, dst as u32, weight)
            .map_err(|e| SinkError::Parse(ParseErrorKind::Graph(e)))
    }

    fn declare(&mut self, nodes: u64, entries: u64) -> Result<(), SinkError<Self::Error>> {
        if nodes > u64::from(self.node_limit()) {
            return Err(SinkError::Parse(ParseErrorKind::Graph(
                super::GraphError::TooManyNodes { requested: nodes },
            )));
        }
        let nodes = (nodes as u32).max(self.node_count());
        let mut b = GraphBuilder::with_node_count(nodes)
            .symmetrize(self.is_symmetrized())
            .max_nodes(self.node_limit().max(nodes));
        b.reserve(entries.min(1 << 24) as usize);
        *self = b;
        Ok(())
    }
}

/// Builds the graph a reader filled (a failure names the last line).
fn built(
    read: Result<(GraphBuilder, usize), ReadError<core::convert::Infallible>>,
) -> Result<Graph, ParseError> {
    let (builder, lines) = read.map_err(|e| match e {
        ReadError::Parse(e) => e,
        ReadError::Sink(never) => match never {},
    })?;
    builder
        .build()
        .map_err(|e| ParseError::at(lines, ParseErrorKind::Graph(e)))
}

/// A line-at-a-time parser of one file format.
trait LineParser {
    /// Where the edges go.
    type Sink: EdgeSink;
    /// Consumes one line (without its terminator).
    fn line(&mut self, line: &str) -> Result<(), SinkError<<Self::Sink as EdgeSink>::Error>>;
    /// Ends the input; `lines` is the number of lines read.
    fn finish(self, lines: usize) -> Result<Self::Sink, ParseError>;
}

/// Numbers a line's error.
fn at_line<E>(line: usize) -> impl Fn(SinkError<E>) -> ReadError<E> {
    move |e| match e {
        SinkError::Parse(kind) => ReadError::Parse(ParseError::at(line, kind)),
        SinkError::Sink(e) => ReadError::Sink(e),
    }
}

type Read<P> = Result<
    (<P as LineParser>::Sink, usize),
    ReadError<<<P as LineParser>::Sink as EdgeSink>::Error>,
>;

fn parse_lines<P: LineParser>(text: &str, mut parser: P) -> Read<P> {
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        count = i + 1;
        parser.line(line).map_err(at_line(count))?;
    }
    let sink = parser.finish(count).map_err(ReadError::Parse)?;
    Ok((sink, count))
}

#[cfg(feature = "std")]
fn read_lines<R: std::io::BufRead, P: LineParser>(mut reader: R, mut parser: P) -> Read<P> {
    let mut buf = std::vec::Vec::new();
    let mut count = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| SinkError::Parse(ParseErrorKind::Io(e.kind())))
            .map_err(at_line(count + 1))?;
        if n == 0 {
            let sink = parser.finish(count).map_err(ReadError::Parse)?;
            return Ok((sink, count));
        }
        count += 1;
        let line = core::str::from_utf8(&buf)
            .map_err(|_| SinkError::Parse(ParseErrorKind::NotUtf8))
            .map_err(at_line(count))?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        parser.line(line).map_err(at_line(count))?;
    }
}

/// Splits `line` into whitespace-separated fields, laid out as `layout`:
/// `min..=max` of them (`max` at most 3), or a [`ParseErrorKind::FieldCount`]
/// error that says so.
fn split_fields<'a>(
    line: &'a str,
    min: usize,
    max: usize,
    layout: &'static str,
) -> Result<([&'a str; 3], usize), ParseErrorKind> {
    let mut fields = [""; 3];
    let mut found = 0;
    for word in line.split_ascii_whitespace() {
        if let Some(field) = fields[..max].get_mut(found) {
            *field = word;
        }
        found += 1;
    }
    if (min..=max).contains(&found) {
        Ok((fields, found))
    } else {
        Err(ParseErrorKind::FieldCount {
            layout,
            min,
            max,
            found,
        })
    }
}

/// A field that must be a number of type `T`, described by `expected`.
fn number<T: core::str::FromStr>(
    field: &'static str,
    expected: &'static str,
    text: &str,
) -> Result<T, ParseErrorKind> {
    text.parse()
        .map_err(|_| ParseErrorKind::BadNumber { field, expected })
}

/// A field that must be a decimal integer (an optional `+`, then digits).
/// One too large for a `u64` reads as `u64::MAX`, a value every caller
/// rejects (an id or index out of range, too many nodes, or an entry count
/// the file cannot match), so the error is about its size, not its syntax.
fn integer(field: &'static str, expected: &'static str, text: &str) -> Result<u64, ParseErrorKind> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::BadNumber { field, expected });
    }
    Ok(digits.parse().unwrap_or(u64::MAX))
}

/// The largest node id (`u32::MAX` is reserved).
const MAX_ID: u32 = MAX_NODES - 1;
// `node_id`'s message spells it out.
static_assertions::const_assert_eq!(MAX_ID, 4_294_967_294);

/// A field that must be a node id, at most `max`.
fn node_id<E>(field: &'static str, text: &str, max: u64) -> Result<u64, SinkError<E>> {
    let expected = if max == u64::from(MAX_ID) {
        "a node id (an integer in 0..=4294967294)"
    } else {
        "a node id (a non-negative integer)"
    };
    let id = integer(field, expected, text).map_err(SinkError::Parse)?;
    if id > max {
        return Err(SinkError::Parse(ParseErrorKind::NumberTooLarge {
            field,
            max,
        }));
    }
    Ok(id)
}

/// What a weight field accepts.
const WEIGHT: &str = "a weight (a number in (0, 1])";

struct EdgeListParser<S> {
    sink: S,
}

impl<S: EdgeSink> LineParser for EdgeListParser<S> {
    type Sink = S;

    fn line(&mut self, line: &str) -> Result<(), SinkError<S::Error>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('%') {
            return Ok(());
        }
        let (fields, found) =
            split_fields(line, 2, 3, "`src dst [weight]`").map_err(SinkError::Parse)?;
        let max = self.sink.max_id();
        let src = node_id("src", fields[0], max)?;
        let dst = node_id("dst", fields[1], max)?;
        let weight = if found == 3 {
            number("weight", WEIGHT, fields[2]).map_err(SinkError::Parse)?
        } else {
            self.sink.default_weight()
        };
        self.sink.add(src, dst, weight)
    }

    fn finish(self, _lines: usize) -> Result<S, ParseError> {
        Ok(self.sink)
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

struct MatrixMarketParser<S> {
    sink: S,
    state: MmState,
}

impl<S: EdgeSink> MatrixMarketParser<S> {
    fn new(sink: S) -> MatrixMarketParser<S> {
        MatrixMarketParser {
            sink,
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

    fn index(text: &str, field: &'static str, limit: u64) -> Result<u64, ParseErrorKind> {
        let index = integer(field, "a 1-based index (a positive integer)", text)?;
        if index == 0 || index > limit {
            return Err(ParseErrorKind::IndexOutOfRange {
                field,
                index,
                limit,
            });
        }
        Ok(index - 1)
    }
}

impl<S: EdgeSink> LineParser for MatrixMarketParser<S> {
    type Sink = S;

    fn line(&mut self, line: &str) -> Result<(), SinkError<S::Error>> {
        if let MmState::Header = self.state {
            self.state = Self::header(line).map_err(SinkError::Parse)?;
            return Ok(());
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('%') {
            return Ok(());
        }
        match &mut self.state {
            MmState::Header => unreachable!("handled above"),
            MmState::Size { field, symmetric } => {
                let (fields, _) =
                    split_fields(line, 3, 3, "`rows cols entries`").map_err(SinkError::Parse)?;
                const COUNT: &str = "a count (a non-negative integer)";
                let count = |name, text| integer(name, COUNT, text).map_err(SinkError::Parse);
                let rows = count("rows", fields[0])?;
                let cols = count("cols", fields[1])?;
                let declared = count("entries", fields[2])?;
                let entries = declared.saturating_mul(if *symmetric { 2 } else { 1 });
                self.sink.declare(rows.max(cols), entries)?;
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
                let (fields, _) = match field {
                    Field::Pattern => split_fields(line, 2, 2, "`row col`"),
                    Field::Real => split_fields(line, 3, 3, "`row col value`"),
                }
                .map_err(SinkError::Parse)?;
                let i = Self::index(fields[0], "row", *rows).map_err(SinkError::Parse)?;
                let j = Self::index(fields[1], "col", *cols).map_err(SinkError::Parse)?;
                let w: f32 = match field {
                    Field::Pattern => self.sink.default_weight(),
                    Field::Real => number("value", WEIGHT, fields[2]).map_err(SinkError::Parse)?,
                };
                self.sink.add(i, j, w)?;
                if *symmetric && i != j {
                    self.sink.add(j, i, w)?;
                }
                *found += 1;
                Ok(())
            }
        }
    }

    fn finish(self, lines: usize) -> Result<S, ParseError> {
        match self.state {
            MmState::Header => Err(ParseError::at(lines.max(1), ParseErrorKind::BadHeader)),
            MmState::Size { .. } => Err(ParseError::at(lines, ParseErrorKind::MissingSizeLine)),
            MmState::Entries {
                declared, found, ..
            } if declared != found => Err(ParseError::at(
                lines,
                ParseErrorKind::EntryCount { declared, found },
            )),
            MmState::Entries { .. } => Ok(self.sink),
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
        (e.line.expect("a line number"), e.kind)
    }

    /// The error's text.
    fn text(r: Result<Graph, ParseError>) -> alloc::string::String {
        alloc::format!("{}", r.unwrap_err())
    }

    const ID: &str = "a node id (an integer in 0..=4294967294)";

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
            (
                2,
                ParseErrorKind::BadNumber {
                    field: "dst",
                    expected: ID
                }
            )
        );
        let fields = |found| ParseErrorKind::FieldCount {
            layout: "`src dst [weight]`",
            min: 2,
            max: 3,
            found,
        };
        assert_eq!(kind(parse_edge_list("0\n", b())), (1, fields(1)));
        assert_eq!(kind(parse_edge_list("0 1 1 1\n", b())), (1, fields(4)));
        assert_eq!(
            kind(parse_edge_list("0 -1\n", b())),
            (
                1,
                ParseErrorKind::BadNumber {
                    field: "dst",
                    expected: ID
                }
            )
        );
        let too_large = ParseErrorKind::NumberTooLarge {
            field: "dst",
            max: 4294967294,
        };
        for id in ["4294967295", "4294967296", "99999999999999999999999"] {
            let text = alloc::format!("0 {id}\n");
            assert_eq!(kind(parse_edge_list(&text, b())), (1, too_large.clone()));
        }
        assert_eq!(
            parse_edge_list("+0 +1\n", b())
                .unwrap()
                .edges()
                .collect::<Vec<_>>(),
            [(0, 1, 1.0)]
        );
        let (line, k) = kind(parse_edge_list("0 1\n1 2 nan\n", b()));
        assert_eq!(line, 2);
        assert!(matches!(
            k,
            ParseErrorKind::Graph(GraphError::InvalidWeight { edge: 1, .. })
        ));
        let (line, k) = kind(parse_edge_list("0 7\n", b().max_nodes(5)));
        assert_eq!(line, 1);
        assert!(matches!(
            k,
            ParseErrorKind::Graph(GraphError::NodeOutOfRange { node: 7, .. })
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
            (
                3,
                ParseErrorKind::IndexOutOfRange {
                    field: "row",
                    index: 3,
                    limit: 2
                }
            )
        );
        assert_eq!(
            kind(parse_matrix_market(
                &alloc::format!("{h}2 2 1\n0 1 0.5\n"),
                b()
            )),
            (
                3,
                ParseErrorKind::IndexOutOfRange {
                    field: "row",
                    index: 0,
                    limit: 2
                }
            )
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
                    layout: "`row col value`",
                    min: 3,
                    max: 3,
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
        assert_eq!((e.line, e.kind), (Some(2), ParseErrorKind::NotUtf8));
        let e = read_path("/nonexistent/axonal.el", GraphBuilder::new()).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::Io(std::io::ErrorKind::NotFound));
        assert_eq!(e.line, None);
        assert_eq!(e.path.as_deref(), Some("/nonexistent/axonal.el"));
    }

    /// Each error's text, as a user sees it: what was wrong, where, and what
    /// is accepted.
    #[test]
    fn edge_list_error_texts() {
        let b = GraphBuilder::new;
        let cases = [
            (
                "0 1 1 1\n",
                "line 1: expected 2 or 3 fields (`src dst [weight]`), found 4",
            ),
            (
                "\n0\n",
                "line 2: expected 2 or 3 fields (`src dst [weight]`), found 1",
            ),
            (
                "0 x\n",
                "line 1: field `dst` is not a node id (an integer in 0..=4294967294)",
            ),
            (
                "-1 0\n",
                "line 1: field `src` is not a node id (an integer in 0..=4294967294)",
            ),
            (
                "0 4294967296\n",
                "line 1: field `dst` is too large: at most 4294967294 is accepted",
            ),
            (
                "0 1 heavy\n",
                "line 1: field `weight` is not a weight (a number in (0, 1])",
            ),
            (
                "0 1 2\n",
                "line 1: edge #0 (0 -> 1): weight 2 is not a finite value in (0, 1]",
            ),
        ];
        for (input, message) in cases {
            assert_eq!(text(parse_edge_list(input, b())), message, "{input:?}");
        }
        assert_eq!(
            text(parse_edge_list("0 7\n", b().max_nodes(5))),
            "line 1: edge #0: node id 7 is out of range (node count 5, id u32::MAX is reserved)"
        );
    }

    #[test]
    fn matrix_market_error_texts() {
        let b = GraphBuilder::new;
        let h = "%%MatrixMarket matrix coordinate real general\n";
        let p = "%%MatrixMarket matrix coordinate pattern general\n";
        let header = "line 1: the first line must be a Matrix Market header, \
                      `%%MatrixMarket matrix coordinate <real|integer|double|pattern> <general|symmetric>`";
        let cases = [
            ("3 3 1\n".into(), header),
            ("%%MatrixMarket matrix array real general\n".into(), header),
            (
                h.into(),
                "line 1: missing the `rows cols entries` size line after the header",
            ),
            (
                alloc::format!("{h}2 2\n"),
                "line 2: expected 3 fields (`rows cols entries`), found 2",
            ),
            (
                alloc::format!("{h}2 x 1\n"),
                "line 2: field `cols` is not a count (a non-negative integer)",
            ),
            (
                alloc::format!("{h}5000000000 1 0\n"),
                "line 2: 5000000000 nodes requested; at most 4294967295 are supported",
            ),
            (
                alloc::format!("{h}2 2 1\n3 1 0.5\n"),
                "line 3: row index 3 is out of range: the size line declares 2 rows, numbered 1..=2",
            ),
            (
                alloc::format!("{h}2 2 1\n1 0 0.5\n"),
                "line 3: col index 0 is out of range: the size line declares 2 cols, numbered 1..=2",
            ),
            (
                alloc::format!("{h}2 2 1\n99999999999999999999 1 0.5\n"),
                "line 3: row index above 18446744073709551615 is out of range: \
                 the size line declares 2 rows, numbered 1..=2",
            ),
            (
                alloc::format!("{h}2 2 1\n1 x 0.5\n"),
                "line 3: field `col` is not a 1-based index (a positive integer)",
            ),
            (
                alloc::format!("{h}2 2 1\n1 2\n"),
                "line 3: expected 3 fields (`row col value`), found 2",
            ),
            (
                alloc::format!("{p}2 2 1\n1 2 0.5\n"),
                "line 3: expected 2 fields (`row col`), found 3",
            ),
            (
                alloc::format!("{h}2 2 1\n1 2 high\n"),
                "line 3: field `value` is not a weight (a number in (0, 1])",
            ),
            (
                alloc::format!("{h}2 2 2\n1 2 0.5\n"),
                "line 3: the size line declares 2 entries, the file has 1",
            ),
        ];
        for (input, message) in cases {
            let input: alloc::string::String = input;
            assert_eq!(text(parse_matrix_market(&input, b())), message, "{input:?}");
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn file_errors_name_the_file_and_only_real_lines() {
        let b = GraphBuilder::new;
        let text = |r: Result<Graph, ParseError>| alloc::format!("{}", r.unwrap_err());
        assert_eq!(
            text(read_path("/nonexistent/axonal.el", b())),
            "/nonexistent/axonal.el: I/O error: entity not found"
        );
        let dir = std::env::temp_dir().join(alloc::format!("axonal-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (el, mtx) = (dir.join("bad.el"), dir.join("bad.mtx"));
        std::fs::write(&el, "0 1\n0 1 0.5 9\n").unwrap();
        std::fs::write(
            &mtx,
            "%%MatrixMarket matrix coordinate real general\n2 2 1\n",
        )
        .unwrap();
        let (el_text, mtx_text) = (text(read_path(&el, b())), text(read_path(&mtx, b())));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            el_text,
            alloc::format!(
                "{}: line 2: expected 2 or 3 fields (`src dst [weight]`), found 4",
                el.display()
            )
        );
        assert_eq!(
            mtx_text,
            alloc::format!(
                "{}: line 2: the size line declares 1 entries, the file has 0",
                mtx.display()
            )
        );
        assert_eq!(
            text(read_edge_list(&b"0 1\n\xff 2\n"[..], b())),
            "line 2: not valid UTF-8 (the readers take UTF-8 text)"
        );
    }
}
