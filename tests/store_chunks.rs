//! Chunked passes over `.axg` files: every node once, in order, with the
//! rows the in-memory graph has; passes give the in-memory results bit for
//! bit; a budget below one row, a corrupted file and a cancellation are
//! typed errors, and nothing keeps running after them.
//!
//! Files and threads: Miri cannot run these (its isolation forbids `open`);
//! the module has no `unsafe` of its own.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axonal::graph::{Graph, GraphError, generate};
use axonal::spread::dense_hop;
use axonal::store::{
    self, Carry, Chunks, Contents, Phase, ProgressReport, Section, StoreError, Verify,
};

/// Held by every test that runs a pass, so that the cancellation test sees
/// only its own reader thread.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A temporary file, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        Temp(std::env::temp_dir().join(format!("axonal-chunks-{name}-{}.axg", std::process::id())))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn graph() -> Graph {
    generate::barabasi_albert(1_500, 4, 3)
}

fn ids(graph: &Graph) -> Vec<u64> {
    (0..graph.node_count() as u64).map(|v| v * 31 + 5).collect()
}

/// `graph` written with node records and an id map.
fn write(graph: &Graph, name: &str) -> Temp {
    let file = Temp::new(name);
    let nodes = graph.node_records();
    let ids = ids(graph);
    let contents = Contents::new(graph)
        .with_nodes(&nodes)
        .unwrap()
        .with_id_map(&ids)
        .unwrap();
    store::write_file(&file.0, &contents).unwrap();
    file
}

fn everything() -> Carry {
    Carry::new()
        .out_edges()
        .in_edges()
        .section(Section::Nodes)
        .unwrap()
        .section(Section::IdMap)
        .unwrap()
}

/// Runs a pass, calling `each` on every chunk; the number of chunks.
fn pass(
    path: &Path,
    budget: usize,
    carry: Carry,
    verify: Verify,
    mut each: impl FnMut(axonal::store::Chunk<'_>),
) -> Result<usize, StoreError> {
    let mut chunks = Chunks::open(path, budget, carry, verify)?;
    let mut count = 0;
    while let Some(chunk) = chunks.next_chunk(&mut ()) {
        each(chunk?);
        count += 1;
    }
    Ok(count)
}

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn every_node_once_in_order_with_its_rows_and_records() {
    let _serial = serial();
    let g = graph();
    let file = write(&g, "order");
    let (records, ids) = (g.node_records(), ids(&g));
    for (budget, verify) in [
        (6 << 10, Verify::Structure),
        (20 << 10, Verify::Full),
        (1 << 24, Verify::Full),
    ] {
        let mut next = 0u32;
        let chunks = pass(&file.0, budget, everything(), verify, |chunk| {
            let nodes = chunk.nodes();
            assert_eq!(nodes.start, next, "chunks follow each other");
            assert!(!nodes.is_empty());
            next = nodes.end;
            let (out, inc) = (chunk.out_edges().unwrap(), chunk.in_edges().unwrap());
            assert_eq!((out.nodes(), inc.nodes()), (nodes.clone(), nodes.clone()));
            for v in nodes.clone() {
                assert_eq!(out.neighbors(v), g.out_edges().neighbors(v));
                assert_eq!(inc.neighbors(v), g.in_edges().neighbors(v));
            }
            let rows: Vec<u32> = out.rows().map(|(v, ..)| v).collect();
            assert_eq!(rows, nodes.clone().collect::<Vec<_>>());
            let range = nodes.start as usize..nodes.end as usize;
            assert_eq!(chunk.node_records().unwrap(), &records[range.clone()]);
            assert_eq!(chunk.id_map().unwrap(), &ids[range]);
        })
        .unwrap();
        assert_eq!(next as usize, g.node_count(), "every node visited");
        if budget < 1 << 20 {
            assert!(chunks > 4, "{budget} bytes: {chunks} chunks");
        } else {
            assert_eq!(chunks, 1);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn a_per_node_pass_carries_only_its_section() {
    let _serial = serial();
    let g = graph();
    let file = write(&g, "per-node");
    let mut seen = Vec::new();
    let carry = Carry::new().section(Section::IdMap).unwrap();
    let chunks = pass(&file.0, 4 << 10, carry, Verify::Full, |chunk| {
        assert!(chunk.out_edges().is_none() && chunk.node_records().is_none());
        let (bytes, row) = chunk.section(Section::IdMap).unwrap();
        assert_eq!((bytes.len(), row), (chunk.nodes().len() * 8, 8));
        seen.extend_from_slice(chunk.id_map().unwrap());
    })
    .unwrap();
    assert_eq!(seen, ids(&g));
    assert!(chunks >= 5, "{chunks} chunks");
}

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn dense_hops_match_the_in_memory_graph_bit_for_bit() {
    let _serial = serial();
    let g = generate::Rmat::graph500(11).generate();
    let file = write(&g, "hop");
    let n = g.node_count();
    let x: Vec<f32> = (0..n).map(|v| ((v * 7919) % 1000) as f32 / 999.0).collect();

    // Pull over in-edge chunks: `spread::dense_hop`'s bits.
    let mut want = vec![0.0; n];
    dense_hop(&g, &x, &mut want).unwrap();
    let mut got = vec![f32::NAN; n];
    let chunks = pass(
        &file.0,
        16 << 10,
        Carry::new().in_edges(),
        Verify::Full,
        |chunk| {
            let rows = chunk.in_edges().unwrap();
            let range = rows.nodes().start as usize..rows.nodes().end as usize;
            rows.dense_hop(&x, &mut got[range]).unwrap();
        },
    )
    .unwrap();
    assert!(chunks > 4);
    assert_eq!(bits(&got), bits(&want));

    // Push along out-edge chunks into the caller's array: the in-memory
    // push's bits (the same additions in the same order).
    let mut want = vec![0.0f32; n];
    for (u, v, w) in g.edges() {
        want[v as usize] += x[u as usize] * w;
    }
    let mut got = vec![0.0f32; n];
    pass(
        &file.0,
        16 << 10,
        Carry::new().out_edges(),
        Verify::Structure,
        |chunk| {
            for (u, targets, weights) in chunk.out_edges().unwrap().rows() {
                for (&v, &w) in targets.iter().zip(weights) {
                    got[v as usize] += x[u as usize] * w;
                }
            }
        },
    )
    .unwrap();
    assert_eq!(bits(&got), bits(&want));
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn a_row_larger_than_half_the_budget_is_a_chunk_of_its_own() {
    let _serial = serial();
    // Node 0 has 1 000 out-edges: 8 000 bytes of targets and weights.
    let g = generate::fan(1_000, 0.5);
    let file = write(&g, "fan");
    let mut sizes = Vec::new();
    pass(
        &file.0,
        12 << 10,
        Carry::new().out_edges(),
        Verify::Full,
        |chunk| {
            let rows = chunk.out_edges().unwrap();
            sizes.push((chunk.nodes(), rows.targets().len()));
        },
    )
    .unwrap();
    assert_eq!(sizes[0], (0..1, 1_000), "the hub alone");
    assert_eq!(sizes.last().unwrap().0.end as usize, g.node_count());

    // Below one row: a typed error, at the hub.
    let error = pass(
        &file.0,
        6 << 10,
        Carry::new().out_edges(),
        Verify::Structure,
        |_| panic!("no chunk fits"),
    )
    .unwrap_err();
    match error {
        StoreError::Budget { needed, budget, .. } => {
            assert_eq!(budget, 6 << 10);
            assert!(needed > 8_000, "{needed}");
        }
        other => panic!("{other}"),
    }
    // Below even the fixed needs.
    assert!(matches!(
        Chunks::open(&file.0, 100, everything(), Verify::Full),
        Err(StoreError::Budget { .. })
    ));
}

/// Overwrites 4 bytes at `offset` of the file.
fn poke(path: &Path, offset: u64, value: [u8; 4]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&value, offset).unwrap();
}

/// Where `section` starts in the file.
fn section_start(path: &Path, section: Section) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let count = u32::from_le_bytes(bytes[52..56].try_into().unwrap()) as usize;
    (0..count)
        .map(|i| &bytes[128 + i * 48..][..48])
        .find(|row| u32::from_le_bytes(row[..4].try_into().unwrap()) == section.kind())
        .map(|row| u64::from_le_bytes(row[8..16].try_into().unwrap()))
        .unwrap()
}

/// Whether a graph error is the one a corruption should cause.
type Expected = fn(&GraphError) -> bool;

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn corruption_is_a_typed_error_at_its_chunk() {
    let _serial = serial();
    let g = graph();
    let edge = g.edge_count() - 10;
    let owner = g
        .out_edges()
        .offsets()
        .partition_point(|&o| o <= edge as u64) as u32
        - 1;
    let cases: [(Section, [u8; 4], Expected); 3] = [
        (Section::OutTargets, u32::MAX.to_le_bytes(), |e| {
            matches!(e, GraphError::NodeOutOfRange { node: u32::MAX, .. })
        }),
        (Section::OutWeights, 1.5f32.to_le_bytes(), |e| {
            matches!(e, GraphError::InvalidWeight { .. })
        }),
        (Section::OutWeights, 0.0f32.to_le_bytes(), |e| {
            matches!(e, GraphError::InvalidWeight { .. })
        }),
    ];
    for (i, (section, value, expected)) in cases.into_iter().enumerate() {
        let file = write(&g, &format!("corrupt-{i}"));
        let at = section_start(&file.0, section) + edge as u64 * 4;
        poke(&file.0, at, value);
        // Structure: the chunks before are handed out, then the error.
        let mut before = 0u32;
        let error = pass(
            &file.0,
            8 << 10,
            Carry::new().out_edges(),
            Verify::Structure,
            |c| {
                assert!(
                    c.nodes().end <= owner,
                    "a chunk holding the bad edge was handed out"
                );
                before = c.nodes().end;
            },
        )
        .unwrap_err();
        assert!(before > 0);
        match &error {
            StoreError::Structure {
                section: s,
                offset,
                error,
            } => {
                assert_eq!((*s, *offset), (section, at), "{error}");
                assert!(expected(error), "{error}");
            }
            other => panic!("{other}"),
        }
        // Full: the block's checksum.
        let error = pass(
            &file.0,
            8 << 10,
            Carry::new().out_edges(),
            Verify::Full,
            |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(error, StoreError::Checksum { section: s, .. } if s == section),
            "{error}"
        );
        // Not carried: not read.
        pass(
            &file.0,
            8 << 10,
            Carry::new().in_edges(),
            Verify::Full,
            |_| {},
        )
        .unwrap();
    }

    // Offsets that decrease.
    let file = write(&g, "corrupt-offsets");
    let at = section_start(&file.0, Section::OutOffsets) + 700 * 8;
    poke(&file.0, at, [0xff, 0xff, 0xff, 0x00]);
    let error = pass(
        &file.0,
        8 << 10,
        Carry::new().out_edges(),
        Verify::Structure,
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Structure {
                section: Section::OutOffsets,
                error: GraphError::MalformedCsr { .. },
                ..
            }
        ),
        "{error}"
    );

    // A damaged header, a missing file, a section that is not per-node.
    let file = write(&g, "corrupt-header");
    poke(&file.0, 24, [9, 9, 9, 9]);
    assert!(matches!(
        Chunks::open(&file.0, 1 << 20, everything(), Verify::Structure),
        Err(StoreError::Checksum {
            section: Section::Header,
            ..
        })
    ));
    let missing = Temp::new("missing");
    match Chunks::open(&missing.0, 1 << 20, everything(), Verify::Structure) {
        Err(StoreError::Io { path, kind }) => {
            assert_eq!(
                (path.as_str(), kind),
                (missing.0.to_str().unwrap(), std::io::ErrorKind::NotFound)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Carry::new().section(Section::OutTargets),
        Err(StoreError::Sections { .. })
    ));
    let bare = Temp::new("bare");
    store::write_file(&bare.0, &Contents::new(&g)).unwrap();
    assert!(matches!(
        Chunks::open(&bare.0, 1 << 20, everything(), Verify::Structure),
        Err(StoreError::Sections {
            section: Section::Nodes,
            ..
        })
    ));
}

/// Threads of this process named like the chunk reader.
fn reader_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "axg-chunks")
        })
        .count()
}

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn progress_reaches_the_end_and_a_cancellation_stops_the_reader() {
    let _serial = serial();
    let g = graph();
    let file = write(&g, "cancel");
    let mut reports: Vec<ProgressReport> = Vec::new();
    let mut observer = |r: &ProgressReport| {
        reports.push(*r);
        ControlFlow::Continue(())
    };
    let mut chunks = Chunks::open(&file.0, 8 << 10, everything(), Verify::Full).unwrap();
    let mut count = 0;
    while let Some(chunk) = chunks.next_chunk(&mut observer) {
        chunk.unwrap();
        count += 1;
    }
    drop(chunks);
    assert_eq!(
        reports.len(),
        count + 1,
        "one report per chunk, one at the end"
    );
    assert!(reports.iter().all(|r| r.phase == Phase::Scan));
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].bytes_done < w[1].bytes_done)
    );
    let last = reports.last().unwrap();
    assert_eq!(last.items_done, g.node_count() as u64);
    assert_eq!(last.bytes_done, last.bytes_total.unwrap(), "{last:?}");

    if cfg!(target_os = "linux") {
        assert_eq!(reader_threads(), 0);
    }
    let mut calls = 0;
    let mut cancel_third = |_: &ProgressReport| {
        calls += 1;
        if calls == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let mut chunks = Chunks::open(&file.0, 8 << 10, everything(), Verify::Full).unwrap();
    assert!(chunks.next_chunk(&mut cancel_third).unwrap().is_ok());
    if cfg!(target_os = "linux") {
        // Started (it read a chunk), waiting for a buffer to read the next.
        assert_eq!(reader_threads(), 1);
    }
    assert!(chunks.next_chunk(&mut cancel_third).unwrap().is_ok());
    assert_eq!(
        chunks.next_chunk(&mut cancel_third).unwrap().unwrap_err(),
        StoreError::Cancelled { phase: Phase::Scan }
    );
    if cfg!(target_os = "linux") {
        assert_eq!(reader_threads(), 0, "the reader is joined");
    }
    assert!(chunks.next_chunk(&mut ()).is_none());
}

#[test]
#[cfg_attr(miri, ignore = "files and threads")]
fn embedding_top_k_over_chunks_is_the_whole_scan() {
    use axonal::layout::EmbeddingMatrix;
    use axonal::simd::{Hit, Kernels, TopK};
    let _serial = serial();
    let g = generate::barabasi_albert(700, 3, 9);
    let dim = 40;
    let mut rng = generate::SplitMix64::new(4);
    let flat: Vec<f32> = (0..g.node_count() * dim)
        .map(|_| rng.next_f32() - 0.5)
        .collect();
    let matrix = EmbeddingMatrix::from_rows(dim, &flat).unwrap();
    let file = Temp::new("embeddings");
    let contents = Contents::new(&g).with_embeddings(&matrix).unwrap();
    store::write_file(&file.0, &contents).unwrap();
    let kernels = Kernels::best();
    for k in [1, 10, 64] {
        let query: Vec<f32> = (0..dim).map(|_| rng.next_f32() - 0.5).collect();
        let mut want = TopK::new(k);
        kernels.top_k_cosine(&query, &matrix, &mut want).unwrap();
        let mut got = TopK::new(k);
        // 48 KiB: many chunks of about a hundred rows.
        let chunks = pass(
            &file.0,
            48 << 10,
            Carry::new().embeddings(),
            Verify::Full,
            |c| {
                assert_eq!(c.embeddings().unwrap().rows(), c.nodes().len());
                assert!(c.top_k_cosine(kernels, &query, &mut got).unwrap());
            },
        )
        .unwrap();
        assert!(chunks > 4, "{chunks}");
        let (mut a, mut b) = (Vec::<Hit>::new(), Vec::<Hit>::new());
        want.drain_sorted(&mut a);
        got.drain_sorted(&mut b);
        assert_eq!(a, b, "k = {k}");
    }

    // A NaN in a stored row (patched in: a matrix refuses NaN): the chunk
    // holding it is refused, naming the file's row and byte.
    let bad_file = Temp::new("embeddings-nan");
    let mut bytes = std::fs::read(&file.0).unwrap();
    let at = {
        let parsed = axonal::layout::AlignedBuf::from_slice(&bytes);
        let file = store::AxgFile::parse(&parsed, Verify::Structure).unwrap();
        let rows = file.embeddings().unwrap();
        let start = rows.as_padded_slice().as_ptr() as usize - parsed.as_ptr() as usize;
        start + (650 * rows.stride() + 7) * 4
    };
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&bad_file.0, &bytes).unwrap();
    let err = pass(
        &bad_file.0,
        48 << 10,
        Carry::new().embeddings(),
        Verify::Structure,
        |c| {
            assert!(
                c.nodes().end <= 650,
                "a chunk holding row 650 was handed out"
            );
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::Embeddings { section: Section::Embeddings, offset, .. } if offset == at as u64),
        "{err}"
    );
    assert!(err.to_string().contains("row 650"), "{err}");
}
