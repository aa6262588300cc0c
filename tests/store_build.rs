//! The bounded-memory builder: its file is byte for byte the in-memory
//! builder's, under any run size and merge fan-in; real-file conveniences
//! (sparse ids, rescaled and default weights, text with line-numbered
//! errors, binary streams); and nothing is left behind on success, error or
//! cancellation.

#![cfg(not(miri))] // files, directories and threads: Miri's isolation forbids them

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use axonal::graph::generate::SplitMix64;
use axonal::graph::{self, GraphBuilder, GraphError, ParseErrorKind};
use axonal::store::{
    self, AxgBuilder, AxgStore, Contents, IdMapping, MIN_BUDGET, Phase, ProgressReport, StoreError,
    Verify, WeightRule,
};

/// A fresh directory for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("axonal-build-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names in the directory.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Random edges with duplicates and self loops, weights in (0, 1].
fn edges(seed: u64, n: u32, m: usize) -> Vec<(u32, u32, f32)> {
    let mut rng = SplitMix64::new(seed);
    (0..m)
        .map(|_| {
            let src = (rng.next_u64() % u64::from(n)) as u32;
            let dst = (rng.next_u64() % u64::from(n)) as u32;
            let w = ((rng.next_u64() % 1000) + 1) as f32 / 1000.0;
            (src, dst, w)
        })
        .collect()
}

/// The bytes `write_file` gives for the in-memory builder's graph.
fn reference(dir: &Dir, edges: &[(u32, u32, f32)], symmetric: bool) -> Vec<u8> {
    let mut b = GraphBuilder::new().symmetrize(symmetric);
    for &(s, d, w) in edges {
        b.add_edge(s, d, w).unwrap();
    }
    let path = dir.join("reference.axg");
    store::write_file(&path, &Contents::new(&b.build().unwrap())).unwrap();
    std::fs::read(path).unwrap()
}

fn streamed(dir: &Dir, builder: AxgBuilder, edges: &[(u32, u32, f32)]) -> Vec<u8> {
    let mut b = builder.temp_dir(&dir.0);
    b.extend(
        edges
            .iter()
            .map(|&(src, dst, weight)| graph::Edge { src, dst, weight }),
    )
    .unwrap();
    let path = dir.join("streamed.axg");
    let summary = b.finish(&path, &mut ()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(summary.file_bytes, bytes.len() as u64);
    assert_eq!(summary.edges_read, edges.len() as u64);
    bytes
}

#[test]
fn the_file_is_the_in_memory_builders_byte_for_byte() {
    let dir = Dir::new("identical");
    for (seed, n, m, symmetric) in [
        (1, 50, 2_000, false),
        (2, 300, 5_000, true),
        (3, 5, 40, false),
        (4, 1, 3, false),
    ] {
        let edges = edges(seed, n, m);
        let want = reference(&dir, &edges, symmetric);
        // One run; many small runs (a merge of 8 MiB's fan-in and more,
        // so intermediate merges run too).
        for run in [None, Some(7), Some(64)] {
            let mut b = AxgBuilder::new(MIN_BUDGET).symmetrize(symmetric);
            if let Some(run) = run {
                b = b.max_run_edges(run);
            }
            let got = streamed(&dir, b, &edges);
            assert!(got == want, "seed {seed}, runs of {run:?}: bytes differ");
        }
    }
    // No edges at all, and a declared node count.
    assert_eq!(
        streamed(&dir, AxgBuilder::new(MIN_BUDGET), &[]),
        reference(&dir, &[], false)
    );
    let mut b = GraphBuilder::with_node_count(10);
    b.add_edge(1, 2, 0.5).unwrap();
    let path = dir.join("declared.axg");
    store::write_file(&path, &Contents::new(&b.build().unwrap())).unwrap();
    let got = streamed(
        &dir,
        AxgBuilder::new(MIN_BUDGET).node_count(10),
        &[(1, 2, 0.5)],
    );
    assert_eq!(got, std::fs::read(path).unwrap());
    assert_eq!(
        dir.names(),
        ["declared.axg", "reference.axg", "streamed.axg"]
    );
}

#[test]
fn degree_reordering_is_graph_reorder_with_the_id_map() {
    let dir = Dir::new("reorder");
    let edges = edges(6, 400, 6_000);
    let mut b = GraphBuilder::new();
    for &(s, d, w) in &edges {
        b.add_edge(s, d, w).unwrap();
    }
    let (g, perm) = b
        .build()
        .unwrap()
        .reorder(graph::Ordering::DegreeDescending);
    let old: Vec<u64> = perm.new_to_old().iter().map(|&v| u64::from(v)).collect();
    let want = Contents::new(&g).with_id_map(&old).unwrap().to_bytes();
    for run in [None, Some(500)] {
        let mut b = AxgBuilder::new(MIN_BUDGET).reorder_by_degree(true);
        if let Some(run) = run {
            b = b.max_run_edges(run);
        }
        assert!(streamed(&dir, b, &edges) == want[..], "runs of {run:?}");
    }
    // With compact ids the map gives the ids as written.
    let sparse: Vec<(u64, u64, f32)> = edges
        .iter()
        .map(|&(s, d, w)| (u64::from(s) * 1_000_003, u64::from(d) * 1_000_003, w))
        .collect();
    let mut b = AxgBuilder::new(MIN_BUDGET)
        .ids(IdMapping::Compact)
        .reorder_by_degree(true)
        .temp_dir(&dir.0);
    for &(s, d, w) in &sparse {
        b.add_edge(s, d, w).unwrap();
    }
    let path = dir.join("sparse.axg");
    b.finish(&path, &mut ()).unwrap();
    let stored = AxgStore::read(&path, Verify::Full).unwrap();
    let file = stored.file().unwrap();
    let (ids, view) = (file.id_map().unwrap(), file.graph().unwrap());
    // Every edge is there under its original ids.
    let mut got: Vec<(u64, u64)> = (0..view.node_count() as u32)
        .flat_map(|v| {
            let targets = view.out_edges().neighbors(v).0.to_vec();
            targets.into_iter().map(move |t| (v, t))
        })
        .map(|(v, t)| (ids[v as usize], ids[t as usize]))
        .collect();
    got.sort_unstable();
    let mut want: Vec<(u64, u64)> = sparse
        .iter()
        .filter(|e| e.0 != e.1)
        .map(|e| (e.0, e.1))
        .collect();
    want.sort_unstable();
    want.dedup();
    assert_eq!(got, want);
}

#[test]
fn refused_edges_are_graph_builders_errors_and_change_nothing() {
    let mut ours = AxgBuilder::new(MIN_BUDGET).node_count(4);
    let mut theirs = GraphBuilder::with_node_count(4);
    ours.add_edge(0, 3, 1.0).unwrap();
    theirs.add_edge(0, 3, 1.0).unwrap();
    for (s, d, w) in [(0, 4, 0.5), (1, 2, 0.0), (1, 2, 1.5), (1, 2, f32::NAN)] {
        let want = theirs.add_edge(s, d, w).unwrap_err();
        let got = ours.add_edge(u64::from(s), u64::from(d), w).unwrap_err();
        // Debug text: a NaN weight is not equal to itself.
        assert_eq!(format!("{got:?}"), format!("{:?}", StoreError::Edge(want)));
    }
    assert_eq!(ours.edges_added(), 1);
    assert!(matches!(
        ours.add_edge(1 << 40, 0, 0.5),
        Err(StoreError::Edge(GraphError::NodeOutOfRange {
            node: u32::MAX,
            ..
        }))
    ));
}

#[test]
fn compact_ids_number_sparse_ids_and_keep_the_originals() {
    let dir = Dir::new("compact");
    let raw = [
        (9_000_000_000_000u64, 42u64, 0.5f32),
        (42, 7, 0.25),
        (7, 7, 0.125),
        (u64::MAX, 9_000_000_000_000, 1.0),
    ];
    let mut b = AxgBuilder::new(MIN_BUDGET)
        .ids(IdMapping::Compact)
        .temp_dir(&dir.0);
    for &(s, d, w) in &raw {
        b.add_edge(s, d, w).unwrap();
    }
    let path = dir.join("compact.axg");
    b.finish(&path, &mut ()).unwrap();
    // First appearance: 9e12 -> 0, 42 -> 1, 7 -> 2, u64::MAX -> 3.
    let originals = [9_000_000_000_000u64, 42, 7, u64::MAX];
    let mut g = GraphBuilder::new();
    for (s, d, w) in [(0, 1, 0.5), (1, 2, 0.25), (2, 2, 0.125), (3, 0, 1.0)] {
        g.add_edge(s, d, w).unwrap();
    }
    let g = g.build().unwrap();
    let want = Contents::new(&g)
        .with_id_map(&originals)
        .unwrap()
        .to_bytes();
    assert_eq!(std::fs::read(&path).unwrap(), &want[..]);
    let stored = AxgStore::read(&path, Verify::Full).unwrap();
    assert_eq!(stored.file().unwrap().id_map(), Some(&originals[..]));

    let mut few = AxgBuilder::new(MIN_BUDGET)
        .ids(IdMapping::Compact)
        .max_nodes(2);
    few.add_edge(10, 20, 0.5).unwrap();
    few.add_edge(20, 10, 0.5).unwrap();
    assert_eq!(
        few.add_edge(20, 30, 0.5),
        Err(StoreError::Edge(GraphError::TooManyNodes { requested: 3 }))
    );
}

#[test]
fn weights_above_one_can_be_rescaled_by_the_largest() {
    let dir = Dir::new("rescale");
    let raw = [(0u32, 1u32, 4.0f32), (1, 2, 2.0), (0, 1, 1.0), (2, 0, 0.5)];
    let mut strict = AxgBuilder::new(MIN_BUDGET);
    assert!(matches!(
        strict.add_edge(0, 1, 4.0),
        Err(StoreError::Edge(GraphError::InvalidWeight { .. }))
    ));
    let scaled: Vec<(u32, u32, f32)> = raw.iter().map(|&(s, d, w)| (s, d, w / 4.0)).collect();
    let got = streamed(
        &dir,
        AxgBuilder::new(MIN_BUDGET).weights(WeightRule::RescaleByMax),
        &raw,
    );
    assert_eq!(got, reference(&dir, &scaled, false));
    let mut lenient = AxgBuilder::new(MIN_BUDGET).weights(WeightRule::RescaleByMax);
    for w in [0.0, -1.0, f32::INFINITY, f32::NAN] {
        assert!(lenient.add_edge(0, 1, w).is_err(), "{w}");
    }
    // A weight the rescaling takes to zero is refused before anything is
    // written, naming the edge.
    let mut tiny = AxgBuilder::new(MIN_BUDGET)
        .weights(WeightRule::RescaleByMax)
        .temp_dir(&dir.0);
    tiny.add_edge(0, 1, 1e10).unwrap();
    tiny.add_edge(2, 3, f32::from_bits(1)).unwrap();
    let path = dir.join("tiny.axg");
    assert_eq!(
        tiny.finish(&path, &mut ()),
        Err(StoreError::Edge(GraphError::InvalidWeight {
            edge: 1,
            src: 2,
            dst: 3,
            weight: 0.0
        }))
    );
    assert!(!path.exists());
}

#[test]
fn a_failed_spill_fails_every_later_call() {
    let dir = Dir::new("failed");
    // A file where the spill directory should go: the first spill fails.
    let not_a_dir = dir.join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let mut b = AxgBuilder::new(MIN_BUDGET)
        .temp_dir(not_a_dir.join("spill"))
        .max_run_edges(2);
    let first = b.add_edge(0, 1, 0.5).unwrap_err();
    assert!(matches!(first, StoreError::Io { .. }), "{first}");
    assert_eq!(b.add_edge(1, 2, 0.5), Err(first.clone()));
    assert_eq!(b.finish(dir.join("g.axg"), &mut ()), Err(first));
    assert_eq!(dir.names(), ["file"]);
}

#[test]
fn text_files_give_the_readers_results_and_line_numbered_errors() {
    let dir = Dir::new("text");
    let el = dir.join("snap.txt");
    std::fs::write(
        &el,
        "# Directed graph (SNAP style)\n# FromNodeId\tToNodeId\n0\t1\n1\t2 0.5\n\n2 0\n% note\n",
    )
    .unwrap();
    let mut b = AxgBuilder::new(MIN_BUDGET).temp_dir(&dir.0);
    b.read_path(&el, &mut ()).unwrap();
    let out = dir.join("snap.axg");
    b.finish(&out, &mut ()).unwrap();
    let want = graph::io::read_path(&el, GraphBuilder::new()).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        &Contents::new(&want).to_bytes()[..]
    );

    // A stated default weight for unweighted lines.
    let mut b = AxgBuilder::new(MIN_BUDGET).default_weight(0.25);
    b.read_edge_list(&b"0 1\n1 2 0.5\n"[..], &mut ()).unwrap();
    let out2 = dir.join("default.axg");
    b.temp_dir(&dir.0).finish(&out2, &mut ()).unwrap();
    let stored = AxgStore::read(&out2, Verify::Full).unwrap();
    let file = stored.file().unwrap();
    assert_eq!(
        file.graph().unwrap().out_edges().neighbors(0),
        (&[1][..], &[0.25][..])
    );

    // Matrix Market, symmetric pattern.
    let mtx = dir.join("m.mtx");
    std::fs::write(
        &mtx,
        "%%MatrixMarket matrix coordinate pattern symmetric\n4 4 2\n2 1\n4 3\n",
    )
    .unwrap();
    let mut b = AxgBuilder::new(MIN_BUDGET).temp_dir(&dir.0);
    b.read_path(&mtx, &mut ()).unwrap();
    let out3 = dir.join("m.axg");
    b.finish(&out3, &mut ()).unwrap();
    let want = graph::io::read_path(&mtx, GraphBuilder::new()).unwrap();
    assert_eq!(
        std::fs::read(&out3).unwrap(),
        &Contents::new(&want).to_bytes()[..]
    );

    // The same errors as the in-memory readers, naming file and line.
    for (text, line) in [("0 1\n0 x\n", 2), ("0 1\n1 2 1.5\n", 2), ("0\n", 1)] {
        let bad = dir.join("bad.el");
        std::fs::write(&bad, text).unwrap();
        let want = graph::io::read_path(&bad, GraphBuilder::new()).unwrap_err();
        assert_eq!(want.line, Some(line));
        let got = AxgBuilder::new(MIN_BUDGET).read_path(&bad, &mut ());
        assert_eq!(got, Err(StoreError::Parse(want)), "{text:?}");
    }
    // Compact ids take any u64 as written.
    let mut b = AxgBuilder::new(MIN_BUDGET).ids(IdMapping::Compact);
    b.read_edge_list(&b"18446744073709551615 5\n"[..], &mut ())
        .unwrap();
    let err = AxgBuilder::new(MIN_BUDGET)
        .read_edge_list(&b"18446744073709551615 5\n"[..], &mut ())
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Parse(ref e) if matches!(e.kind, ParseErrorKind::NumberTooLarge { field: "src", .. })
    ));
}

#[test]
fn binary_streams_and_their_partial_records() {
    let dir = Dir::new("binary");
    let edges = edges(9, 100, 1_000);
    let mut bytes = Vec::new();
    for &(s, d, w) in &edges {
        bytes.extend_from_slice(&s.to_le_bytes());
        bytes.extend_from_slice(&d.to_le_bytes());
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    let mut b = AxgBuilder::new(MIN_BUDGET).temp_dir(&dir.0);
    b.read_binary(&bytes[..], &mut ()).unwrap();
    let out = dir.join("bin.axg");
    b.finish(&out, &mut ()).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), reference(&dir, &edges, false));
    bytes.extend_from_slice(&[1, 2, 3]);
    assert_eq!(
        AxgBuilder::new(MIN_BUDGET).read_binary(&bytes[..], &mut ()),
        Err(StoreError::PartialRecord {
            offset: 12 * edges.len() as u64
        })
    );
}

/// Cancels at the `nth` report of `phase`.
fn cancel_at(phase: Phase, nth: usize) -> impl FnMut(&ProgressReport) -> ControlFlow<()> {
    let mut seen = 0;
    move |r: &ProgressReport| {
        if r.phase == phase {
            seen += 1;
            if seen == nth {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

#[test]
fn cancellation_and_failure_leave_nothing_behind_and_the_old_file_intact() {
    let dir = Dir::new("cancel");
    let spill = Dir::new("cancel-spill");
    let path = dir.join("graph.axg");
    std::fs::write(&path, b"the previous file").unwrap();
    let edges = edges(5, 2_000, 300_000);
    let text: String = edges
        .iter()
        .map(|(s, d, w)| format!("{s} {d} {w}\n"))
        .collect();
    let input = dir.join("edges.el");
    std::fs::write(&input, &text).unwrap();
    let builder = || {
        AxgBuilder::new(MIN_BUDGET)
            .temp_dir(&spill.0)
            .max_run_edges(50_000)
    };

    // Cancelled while reading: the runs spilled so far are removed.
    let mut b = builder();
    let mut reports = Vec::new();
    let mut stop = cancel_at(Phase::Read, 3);
    let got = b.read_path(&input, &mut |r: &ProgressReport| {
        reports.push(*r);
        stop(r)
    });
    assert_eq!(got, Err(StoreError::Cancelled { phase: Phase::Read }));
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].bytes_done <= w[1].bytes_done)
    );
    assert_eq!(reports[0].bytes_total, Some(text.len() as u64));
    drop(b);
    assert!(spill.names().is_empty(), "{:?}", spill.names());

    // Cancelled while merging into the file.
    let mut b = builder();
    b.read_path(&input, &mut ()).unwrap();
    let got = b.finish(&path, &mut cancel_at(Phase::Merge, 2));
    assert_eq!(
        got,
        Err(StoreError::Cancelled {
            phase: Phase::Merge
        })
    );
    assert!(spill.names().is_empty(), "{:?}", spill.names());
    assert_eq!(dir.names(), ["edges.el", "graph.axg"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"the previous file");

    // A budget too small is refused before anything is written.
    let mut small = AxgBuilder::new(MIN_BUDGET - 1).temp_dir(&spill.0);
    assert!(matches!(
        small.add_edge(0, 1, 0.5),
        Err(StoreError::Budget { .. })
    ));
    assert!(matches!(
        small.finish(&path, &mut ()),
        Err(StoreError::Budget { .. })
    ));
    assert!(spill.names().is_empty());

    // Completed: the spill directory is gone, the file replaced.
    let mut b = builder();
    b.read_path(&input, &mut ()).unwrap();
    let summary = b.finish(&path, &mut ()).unwrap();
    assert!(summary.runs >= 6, "{summary:?}");
    assert!(spill.names().is_empty());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        reference(&dir, &edges, false)
    );
}

#[test]
fn a_missing_input_names_the_file() {
    let err = AxgBuilder::new(MIN_BUDGET)
        .read_path(Path::new("/nonexistent/edges.el"), &mut ())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/edges.el: I/O error: entity not found"
    );
}

#[test]
fn writing_a_graph_reports_bytes_and_can_be_cancelled() {
    let dir = Dir::new("write");
    let g = graph::generate::barabasi_albert(20_000, 8, 3);
    let contents = Contents::new(&g);
    let path = dir.join("g.axg");
    let mut reports = Vec::new();
    store::write_file_with(&path, &contents, &mut |r: &ProgressReport| {
        reports.push(*r);
        ControlFlow::Continue(())
    })
    .unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(contents.file_len(), len);
    assert!(reports.len() >= 2, "{}", reports.len());
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].bytes_done < w[1].bytes_done)
    );
    let last = reports.last().unwrap();
    assert_eq!((last.bytes_done, last.bytes_total), (len, Some(len)));

    let before = std::fs::read(&path).unwrap();
    let got = store::write_file_with(
        &path,
        &Contents::new(&graph::generate::chain(10, 0.5)),
        &mut cancel_at(Phase::Write, 1),
    );
    assert_eq!(
        got,
        Err(StoreError::Cancelled {
            phase: Phase::Write
        })
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(dir.names(), ["g.axg"]);
}
