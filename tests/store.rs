//! The `.axg` file: what is written is what is read, every kernel reads a
//! stored graph bit for bit like the in-memory one, and every corruption is a
//! typed error (never a panic) at the level that should catch it.

mod common;

use axonal::graph::{Graph, GraphError, generate};
use axonal::layout::{AlignedBuf, EmbeddingError, EmbeddingMatrix, EmbeddingView, Node};
use axonal::simd::{Backend, Hit, Kernels, TopK};
use axonal::spread::{MultiSpreader, Seed, Spread, SpreadParams, Spreader};
use axonal::store::{
    AxgFile, Contents, HEADER_LEN, Phase, ProgressReport, Section, StoreError, Verify,
};
use common::bits;
use core::ops::ControlFlow;
use xxhash_rust::xxh3::xxh3_64;

fn graph() -> Graph {
    let n = if cfg!(miri) { 40 } else { 2_000 };
    generate::barabasi_albert(n, 3, 11)
}

/// The embedding dimension of the test files: rows padded from 20 to 32
/// floats, so the padding is there to check.
const DIM: usize = 20;

/// One `DIM`-dimensional row per node, some all zero (inverse norm 0).
fn embeddings(graph: &Graph) -> EmbeddingMatrix {
    let rows = graph.node_count();
    let flat: Vec<f32> = (0..rows * DIM)
        .map(|i| {
            if (i / DIM) % 97 == 5 {
                0.0
            } else {
                ((i * 7919 % 1000) as f32 / 500.0) - 1.0
            }
        })
        .collect();
    EmbeddingMatrix::from_rows(DIM, &flat).unwrap()
}

/// A file of `graph` with node records, an id map and embeddings.
fn file_bytes(graph: &Graph) -> (AlignedBuf<u8>, AlignedBuf<Node>, Vec<u64>) {
    let nodes = graph.node_records();
    let ids: Vec<u64> = (0..graph.node_count() as u64)
        .map(|v| v * 1_000 + 7)
        .collect();
    let matrix = embeddings(graph);
    let contents = Contents::new(graph)
        .with_nodes(&nodes)
        .unwrap()
        .with_id_map(&ids)
        .unwrap()
        .with_embeddings(&matrix)
        .unwrap();
    (contents.to_bytes(), nodes, ids)
}

/// A file of `graph` with embeddings only.
fn embedded_bytes(graph: &Graph, matrix: &EmbeddingMatrix) -> AlignedBuf<u8> {
    Contents::new(graph)
        .with_embeddings(matrix)
        .unwrap()
        .to_bytes()
}

/// The bits of each float (NaN-safe equality).
fn float_bits(xs: &[f32]) -> Vec<u32> {
    xs.iter().map(|x| x.to_bits()).collect()
}

/// The byte range of `section`, read from the section table.
fn section_range(bytes: &[u8], section: Section) -> std::ops::Range<usize> {
    let count = u32::from_le_bytes(bytes[52..56].try_into().unwrap()) as usize;
    for i in 0..count {
        let row = &bytes[128 + i * 48..][..48];
        if u32::from_le_bytes(row[..4].try_into().unwrap()) == section.kind() {
            let at = u64::from_le_bytes(row[8..16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(row[16..24].try_into().unwrap()) as usize;
            return at..at + len;
        }
    }
    panic!("no {section}");
}

/// Re-seals the header after a deliberate change (a valid checksum over
/// invalid content).
fn reseal(bytes: &mut [u8]) {
    bytes[64..72].fill(0);
    let sum = xxh3_64(&bytes[..HEADER_LEN]);
    bytes[64..72].copy_from_slice(&sum.to_le_bytes());
}

/// Recomputes every checksum (blocks, sections, the block table, the
/// header) after a deliberate change: a file whose only fault is its
/// content.
fn reseal_all(bytes: &mut [u8]) {
    const BLOCK: usize = 1 << 20;
    let count = u32::from_le_bytes(bytes[52..56].try_into().unwrap()) as usize;
    let field =
        |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let table = section_range(bytes, Section::BlockChecksums);
    for i in 0..count {
        let row = 128 + i * 48;
        if u32::from_le_bytes(bytes[row..row + 4].try_into().unwrap())
            == Section::BlockChecksums.kind()
        {
            continue;
        }
        let (at, len, first) = (
            field(bytes, row + 8),
            field(bytes, row + 16),
            field(bytes, row + 32),
        );
        let sums: Vec<u64> = bytes[at..at + len].chunks(BLOCK).map(xxh3_64).collect();
        for (b, sum) in sums.iter().enumerate() {
            let slot = table.start + (first + b) * 8;
            bytes[slot..slot + 8].copy_from_slice(&sum.to_le_bytes());
        }
        let whole = xxh3_64(bytemuck::cast_slice(&sums));
        bytes[row + 24..row + 32].copy_from_slice(&whole.to_le_bytes());
    }
    for i in 0..count {
        let row = 128 + i * 48;
        if u32::from_le_bytes(bytes[row..row + 4].try_into().unwrap())
            == Section::BlockChecksums.kind()
        {
            let sum = xxh3_64(&bytes[table.clone()]);
            bytes[row + 24..row + 32].copy_from_slice(&sum.to_le_bytes());
        }
    }
    reseal(bytes);
}

#[test]
fn full_verification_finds_every_structural_fault_under_valid_checksums() {
    let g = graph();
    let bytes = embedded_bytes(&g, &embeddings(&g));
    let n = g.node_count() as u32;
    let last = g.node_count();
    let stride = DIM.next_multiple_of(16);
    // (what, section, element index, new bytes of that element)
    let faults: [(&str, Section, usize, Vec<u8>); 11] = [
        (
            "target out of range",
            Section::InTargets,
            5,
            n.to_le_bytes().into(),
        ),
        (
            "weight 0",
            Section::OutWeights,
            7,
            0f32.to_le_bytes().into(),
        ),
        (
            "weight NaN",
            Section::InWeights,
            0,
            f32::NAN.to_le_bytes().into(),
        ),
        (
            "weight above 1",
            Section::OutWeights,
            1,
            1.5f32.to_le_bytes().into(),
        ),
        (
            "offsets decrease",
            Section::OutOffsets,
            3,
            1u64.to_le_bytes().into(),
        ),
        (
            "first offset not 0",
            Section::InOffsets,
            0,
            1u64.to_le_bytes().into(),
        ),
        (
            "last offset not the edge count",
            Section::OutOffsets,
            last,
            0u64.to_le_bytes().into(),
        ),
        (
            "embedding value NaN",
            Section::Embeddings,
            3 * stride + 2,
            f32::NAN.to_le_bytes().into(),
        ),
        (
            "embedding padding not zero",
            Section::Embeddings,
            stride + DIM,
            1f32.to_le_bytes().into(),
        ),
        (
            "inverse norm negative",
            Section::InvNorms,
            4,
            (-1f32).to_le_bytes().into(),
        ),
        (
            "inverse norm infinite",
            Section::InvNorms,
            0,
            f32::INFINITY.to_le_bytes().into(),
        ),
    ];
    for (what, section, index, value) in &faults {
        let mut bad = AlignedBuf::from_slice(&bytes);
        let at = section_range(&bad, *section).start + index * value.len();
        bad[at..at + value.len()].copy_from_slice(value);
        reseal_all(&mut bad);
        let structure = AxgFile::parse(&bad, Verify::Structure).unwrap_err();
        let full = AxgFile::parse(&bad, Verify::Full).unwrap_err();
        match structure {
            // (Offsets are named by their section's start.)
            StoreError::Structure { section: s, .. } => assert_eq!(s, *section, "{what}"),
            StoreError::Embeddings {
                section: s, offset, ..
            } => assert_eq!((s, offset), (*section, at as u64), "{what}"),
            _ => panic!("{what}: {structure:?}"),
        }
        // (Compared as text: a NaN weight is not equal to itself.)
        assert_eq!(format!("{full:?}"), format!("{structure:?}"), "{what}");
    }
    // The resealing itself leaves a valid file valid.
    let mut same = AlignedBuf::from_slice(&bytes);
    reseal_all(&mut same);
    assert_eq!(&same[..], &bytes[..]);
}

#[test]
fn what_is_written_is_read() {
    let g = graph();
    let (bytes, nodes, ids) = file_bytes(&g);
    let file = AxgFile::parse(&bytes, Verify::Full).unwrap();
    assert_eq!(file.verified(), Verify::Full);
    assert_eq!(
        (file.node_count(), file.edge_count()),
        (g.node_count(), g.edge_count())
    );
    let view = file.graph().unwrap();
    for (a, b) in [
        (view.out_edges(), g.out_edges()),
        (view.in_edges(), g.in_edges()),
    ] {
        assert_eq!(a.offsets(), b.offsets());
        assert_eq!(a.targets(), b.targets());
        assert_eq!(a.weights(), b.weights());
    }
    assert_eq!(file.nodes().unwrap(), &nodes[..]);
    assert_eq!(file.id_map().unwrap(), &ids[..]);
    let (stored, matrix) = (file.embeddings().unwrap(), embeddings(&g));
    assert_eq!(file.embedding_dim(), DIM);
    assert_eq!(
        (stored.rows(), stored.dim(), stored.stride()),
        (matrix.rows(), matrix.dim(), matrix.stride())
    );
    assert_eq!(
        float_bits(stored.as_padded_slice()),
        float_bits(matrix.as_padded_slice())
    );
    assert_eq!(
        float_bits(stored.inv_norms()),
        float_bits(matrix.inv_norms())
    );
    assert_eq!(stored.as_padded_slice().as_ptr() as usize % 64, 0);
    // Every section starts on its own 4 KiB boundary.
    for s in Section::ALL {
        assert_eq!(section_range(&bytes, s).start % 4096, 0, "{s}");
    }
    // The same graph writes the same bytes.
    assert_eq!(&file_bytes(&g).0[..], &bytes[..]);
    // A file of the graph alone has no records and no id map.
    let plain = Contents::new(&g).to_bytes();
    let file = AxgFile::parse(&plain, Verify::Full).unwrap();
    assert!(file.nodes().is_none() && file.id_map().is_none() && file.embeddings().is_none());
    assert_eq!(file.embedding_dim(), 0);
    // Embeddings need one row per node.
    let short = EmbeddingMatrix::from_rows(DIM, &[1.0; DIM]).unwrap();
    let err = Contents::new(&g).with_embeddings(&short).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SectionSize {
                section: Section::InvNorms,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn every_scan_reads_stored_embeddings_bit_for_bit() {
    let g = graph();
    let matrix = embeddings(&g);
    let bytes = embedded_bytes(&g, &matrix);
    let file = AxgFile::parse(&bytes, Verify::Structure).unwrap();
    let stored = file.embeddings().unwrap();
    let queries: Vec<Vec<f32>> = [1usize, 5, 17, 33, 38]
        .iter()
        .map(|&r| {
            matrix
                .row(r)
                .unwrap()
                .iter()
                .map(|x| x * 0.9 + 0.01)
                .collect()
        })
        .collect();
    let hits = |top: &mut TopK| {
        let mut out = Vec::new();
        top.drain_sorted(&mut out);
        out.iter()
            .map(|h: &Hit| (h.id, h.score.to_bits()))
            .collect::<Vec<_>>()
    };
    for k in Backend::ALL.into_iter().filter_map(Kernels::for_backend) {
        for q in &queries {
            let (mut a, mut b) = (TopK::new(7), TopK::new(7));
            k.top_k_cosine(q, stored, &mut a).unwrap();
            k.top_k_cosine(q, &matrix, &mut b).unwrap();
            assert_eq!(hits(&mut a), hits(&mut b));
            k.top_k_dot(q, stored, &mut a).unwrap();
            k.top_k_dot(q, &matrix, &mut b).unwrap();
            assert_eq!(hits(&mut a), hits(&mut b));
        }
        let mut a: Vec<TopK> = queries.iter().map(|_| TopK::new(5)).collect();
        let mut b = a.clone();
        k.top_k_cosine_batch(&queries, stored, &mut a).unwrap();
        k.top_k_cosine_batch(&queries, matrix.view(), &mut b)
            .unwrap();
        for (a, b) in a.iter_mut().zip(&mut b) {
            assert_eq!(hits(a), hits(b));
        }
        k.top_k_dot_batch(&queries, stored, &mut a).unwrap();
        k.top_k_dot_batch(&queries, &matrix, &mut b).unwrap();
        for (a, b) in a.iter_mut().zip(&mut b) {
            assert_eq!(hits(a), hits(b));
        }
    }
    // A view over the stored arrays is the one the file hands out.
    let again = EmbeddingView::new(DIM, stored.as_padded_slice(), stored.inv_norms()).unwrap();
    assert_eq!(again.rows(), g.node_count());
}

#[test]
fn embedding_header_and_size_faults_are_typed_errors() {
    let g = graph();
    let bytes = embedded_bytes(&g, &embeddings(&g));
    let edit = |f: &dyn Fn(&mut [u8])| {
        let mut b = AlignedBuf::from_slice(&bytes);
        f(&mut b);
        AxgFile::parse(&b, Verify::Header).map(|_| ()).unwrap_err()
    };
    let set_dim = |b: &mut [u8], dim: u32| {
        b[40..44].copy_from_slice(&dim.to_le_bytes());
        reseal(b)
    };
    // A dimension of 0 with the embeddings flag, or one without it.
    let zero = edit(&|b| set_dim(b, 0));
    assert!(
        matches!(zero, StoreError::BadHeader { offset: 40, .. }),
        "{zero:?}"
    );
    let plain = Contents::new(&g).to_bytes();
    let mut b = AlignedBuf::from_slice(&plain);
    set_dim(&mut b, 8);
    let err = AxgFile::parse(&b, Verify::Header).unwrap_err();
    assert!(
        matches!(err, StoreError::BadHeader { offset: 40, .. }),
        "{err:?}"
    );
    // A dimension of another stride: the rows no longer fit the section.
    let n = g.node_count() as u64;
    assert_eq!(
        edit(&|b| set_dim(b, 40)),
        StoreError::SectionSize {
            section: Section::Embeddings,
            expected: n * 48 * 4,
            found: n * 32 * 4,
        }
    );
    // A section length that does not match the node count.
    let count = u32::from_le_bytes(bytes[52..56].try_into().unwrap()) as usize;
    let row = (0..count)
        .map(|i| 128 + i * 48)
        .find(|&row| {
            u32::from_le_bytes(bytes[row..row + 4].try_into().unwrap()) == Section::InvNorms.kind()
        })
        .unwrap();
    assert_eq!(
        edit(&|b| {
            b[row + 16..row + 24].copy_from_slice(&(n * 4 - 4).to_le_bytes());
            reseal(b)
        }),
        StoreError::SectionSize {
            section: Section::InvNorms,
            expected: n * 4,
            found: n * 4 - 4,
        }
    );
    // The embeddings flag without the sections.
    let err = edit(&|b| {
        let flags = u64::from_le_bytes(b[16..24].try_into().unwrap()) & !4;
        b[16..24].copy_from_slice(&flags.to_le_bytes());
        reseal(b)
    });
    assert!(matches!(err, StoreError::BadHeader { .. }), "{err:?}");
    // What the checks found names the embedding error.
    let rows = section_range(&bytes, Section::Embeddings);
    let mut bad = AlignedBuf::from_slice(&bytes);
    bad[rows.start + 4..rows.start + 8].copy_from_slice(&f32::INFINITY.to_le_bytes());
    assert_eq!(
        AxgFile::parse(&bad, Verify::Structure).unwrap_err(),
        StoreError::Embeddings {
            section: Section::Embeddings,
            offset: rows.start as u64 + 4,
            error: EmbeddingError::NonFinite { row: 0, col: 1 },
        }
    );
}

#[test]
fn the_graph_is_handed_out_only_once_its_structure_is_checked() {
    let g = graph();
    let bytes = Contents::new(&g).to_bytes();
    let mut file = AxgFile::parse(&bytes, Verify::Header).unwrap();
    assert!(file.graph().is_none() && file.nodes().is_none());
    file.verify(Verify::Structure).unwrap();
    assert_eq!(file.graph().unwrap().edge_count(), g.edge_count());
}

/// Records every report; cancels at the `cancel_at`-th (1-based), if any.
fn observer(
    seen: &mut Vec<ProgressReport>,
    cancel_at: Option<usize>,
) -> impl FnMut(&ProgressReport) -> ControlFlow<()> + '_ {
    move |r: &ProgressReport| {
        seen.push(*r);
        if Some(seen.len()) == cancel_at {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The reports of `phase` grow monotonely and end at their total.
fn assert_monotone_to_the_total(seen: &[ProgressReport], phase: Phase) {
    let ours: Vec<_> = seen.iter().filter(|r| r.phase == phase).collect();
    assert!(ours.len() >= 2, "{phase}: {seen:?}");
    assert!(
        ours.windows(2)
            .all(|w| w[0].bytes_done <= w[1].bytes_done && w[0].items_done <= w[1].items_done),
        "{seen:?}"
    );
    let last = ours.last().unwrap();
    assert_eq!(Some(last.bytes_done), last.bytes_total, "{phase}");
    assert_eq!(last.fraction(), Some(1.0));
}

#[test]
fn verification_reports_progress_and_can_be_cancelled() {
    let g = graph();
    let (bytes, ..) = file_bytes(&g);
    for level in [Verify::Structure, Verify::Full] {
        let mut seen = Vec::new();
        let mut file = AxgFile::parse(&bytes, Verify::Header).unwrap();
        file.verify_with(level, &mut observer(&mut seen, None))
            .unwrap();
        assert_eq!(file.verified(), level);
        assert_monotone_to_the_total(&seen, Phase::Verify);
        assert!(seen.iter().all(|r| r.phase == Phase::Verify));
        // Full hashes every section; the structure is in the CSR ones.
        let total = seen[0].bytes_total.unwrap();
        let csr: u64 = [
            Section::OutOffsets,
            Section::OutTargets,
            Section::OutWeights,
            Section::InOffsets,
            Section::InTargets,
            Section::InWeights,
        ]
        .iter()
        .map(|&s| section_range(&bytes, s).len() as u64)
        .sum();
        assert_eq!(
            total > csr,
            level == Verify::Full,
            "{level:?}: {total} bytes"
        );

        for cancel_at in 1..=seen.len() {
            let mut file = AxgFile::parse(&bytes, Verify::Header).unwrap();
            let mut again = Vec::new();
            assert_eq!(
                file.verify_with(level, &mut observer(&mut again, Some(cancel_at))),
                Err(StoreError::Cancelled {
                    phase: Phase::Verify
                })
            );
            assert_eq!(again.len(), cancel_at, "stops at the report that cancels");
            assert!(file.graph().is_none() && file.verified() == Verify::Header);
        }
    }
}

#[test]
fn every_backend_reads_a_stored_graph_bit_for_bit() {
    let g = graph();
    let bytes = Contents::new(&g).to_bytes();
    let file = AxgFile::parse(&bytes, Verify::Full).unwrap();
    let stored = file.graph().unwrap();
    let n = g.node_count();
    let backends: Vec<Box<dyn Spread>> = vec![
        Box::new(Spreader::new(n)),
        Box::new(MultiSpreader::new(n, 4).unwrap()),
    ];
    for mut backend in backends {
        for (q, p) in [SpreadParams::default(), SpreadParams::query_std()]
            .iter()
            .enumerate()
        {
            let seeds = [Seed::new(q as u32, 1.0), Seed::new(17, 0.6)];
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let sa = backend.spread(stored, &seeds, p, &mut a).unwrap();
            let sb = backend.spread(g.view(), &seeds, p, &mut b).unwrap();
            assert_eq!(bits(&a), bits(&b));
            assert_eq!(sa, sb);
        }
    }
}

#[test]
fn every_header_byte_flipped_is_caught() {
    let g = graph();
    let (bytes, ..) = file_bytes(&g);
    let limit = if cfg!(miri) { 64 } else { HEADER_LEN };
    for at in 0..limit {
        let mut bad = AlignedBuf::from_slice(&bytes);
        bad[at] ^= 0x5A;
        let got = AxgFile::parse(&bad, Verify::Header);
        assert!(got.is_err(), "byte {at} flipped was accepted");
    }
}

#[test]
fn a_sample_of_bytes_in_every_section_flipped_is_caught_by_full_verification() {
    let g = graph();
    let (bytes, ..) = file_bytes(&g);
    for s in Section::ALL {
        let range = section_range(&bytes, s);
        let samples = if cfg!(miri) { 3 } else { 16 };
        let step = (range.len() / samples).max(1);
        for at in range.clone().step_by(step) {
            let mut bad = AlignedBuf::from_slice(&bytes);
            bad[at] ^= 0x01;
            match AxgFile::parse(&bad, Verify::Full) {
                Err(StoreError::Checksum { section, .. }) => assert_eq!(section, s, "byte {at}"),
                // A structural check may see it first.
                Err(StoreError::Structure { .. } | StoreError::Embeddings { .. }) => {}
                other => panic!("{s} byte {at} flipped: {other:?}"),
            }
        }
    }
}

#[test]
fn truncated_files_are_refused() {
    let g = graph();
    let bytes = Contents::new(&g).to_bytes();
    let step = (bytes.len() / if cfg!(miri) { 8 } else { 64 }).max(1);
    for len in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        let cut = AlignedBuf::from_slice(&bytes[..len]);
        let got = AxgFile::parse(&cut, Verify::Full);
        assert!(
            matches!(got, Err(StoreError::NotAxg | StoreError::Truncated { .. })),
            "{len} bytes: {got:?}"
        );
    }
}

#[test]
fn each_kind_of_bad_file_gets_its_own_error() {
    let g = graph();
    let bytes = Contents::new(&g).to_bytes();
    let edit = |f: &dyn Fn(&mut [u8])| {
        let mut b = AlignedBuf::from_slice(&bytes);
        f(&mut b);
        AxgFile::parse(&b, Verify::Full).unwrap_err()
    };
    assert_eq!(edit(&|b| b[0] = b'X'), StoreError::NotAxg);
    assert_eq!(
        edit(&|b| {
            b[8] = 2;
            reseal(b)
        }),
        StoreError::UnsupportedVersion { major: 2, minor: 0 }
    );
    assert_eq!(
        edit(&|b| {
            b[12..16].copy_from_slice(&0x0A0B_0C0Du32.to_be_bytes());
            reseal(b)
        }),
        StoreError::ForeignByteOrder
    );
    // A target out of range, with every checksum valid but the section's:
    // the structure check (which the kernels rely on) names it exactly.
    let targets = section_range(&bytes, Section::OutTargets);
    let n = g.node_count() as u32;
    let mut bad = AlignedBuf::from_slice(&bytes);
    bad[targets.start + 8..targets.start + 12].copy_from_slice(&n.to_le_bytes());
    let err = AxgFile::parse(&bad, Verify::Structure).unwrap_err();
    assert_eq!(
        err,
        StoreError::Structure {
            section: Section::OutTargets,
            offset: targets.start as u64 + 8,
            error: GraphError::NodeOutOfRange {
                edge: 2,
                node: n,
                node_count: u64::from(n),
            },
        }
    );
    assert!(err.to_string().starts_with("out-targets at byte "), "{err}");
    // A weight of 0.
    let weights = section_range(&bytes, Section::InWeights);
    let mut bad = AlignedBuf::from_slice(&bytes);
    bad[weights.start..weights.start + 4].fill(0);
    assert!(matches!(
        AxgFile::parse(&bad, Verify::Structure),
        Err(StoreError::Structure {
            section: Section::InWeights,
            error: GraphError::InvalidWeight { .. },
            ..
        })
    ));
    // Offsets that decrease.
    let offsets = section_range(&bytes, Section::OutOffsets);
    let mut bad = AlignedBuf::from_slice(&bytes);
    bad[offsets.start + 8..offsets.start + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        AxgFile::parse(&bad, Verify::Structure),
        Err(StoreError::Structure {
            section: Section::OutOffsets,
            error: GraphError::MalformedCsr { .. },
            ..
        })
    ));
    // Two sections sharing bytes: the second entry moved onto the first.
    let err = edit(&|b| {
        let first = b[128 + 8..128 + 16].to_vec();
        b[128 + 48 + 8..128 + 48 + 16].copy_from_slice(&first);
        reseal(b)
    });
    assert!(matches!(err, StoreError::Overlap { .. }), "{err:?}");
    // A section's block checksums outside the table (first entry's first
    // block, at byte 160).
    let err = edit(&|b| {
        b[160..168].copy_from_slice(&u64::MAX.to_le_bytes());
        reseal(b)
    });
    assert!(
        matches!(err, StoreError::BadHeader { offset: 160, .. }),
        "{err:?}"
    );
    // A section off its 4 KiB boundary.
    let err = edit(&|b| {
        let at = u64::from_le_bytes(b[128 + 8..128 + 16].try_into().unwrap()) + 8;
        b[128 + 8..128 + 16].copy_from_slice(&at.to_le_bytes());
        reseal(b)
    });
    assert!(matches!(err, StoreError::Misaligned { .. }), "{err:?}");
    // Bytes not aligned for the sections' types.
    let mut shifted = AlignedBuf::<u8>::zeroed(bytes.len() + 1);
    shifted[1..].copy_from_slice(&bytes);
    let err = AxgFile::parse(&shifted[1..], Verify::Structure).unwrap_err();
    assert!(matches!(err, StoreError::Misaligned { .. }), "{err:?}");
}

#[cfg(feature = "store")]
mod files {
    use super::*;
    use axonal::store::{AxgStore, write_file};

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("axonal-test-{}-{name}", std::process::id()))
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and memory maps are system calls")]
    fn a_written_file_reads_and_maps_back() {
        let g = graph();
        let (bytes, nodes, ids) = file_bytes(&g);
        let path = temp("roundtrip.axg");
        let matrix = embeddings(&g);
        let contents = Contents::new(&g)
            .with_nodes(&nodes)
            .unwrap()
            .with_id_map(&ids)
            .unwrap()
            .with_embeddings(&matrix)
            .unwrap();
        write_file(&path, &contents).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), &bytes[..]);
        let read = AxgStore::read(&path, Verify::Full).unwrap();
        // SAFETY: this test's own file, not modified while mapped.
        let mapped = unsafe { AxgStore::map(&path, Verify::Header) }.unwrap();
        assert!(mapped.is_mapped() && !read.is_mapped());
        for store in [&read, &mapped] {
            let file = store.file().unwrap();
            assert!(file.verified() >= Verify::Structure);
            let mut s = Spreader::new(g.node_count());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let seeds = [Seed::new(3, 1.0)];
            let p = SpreadParams::default();
            s.spread(file.graph().unwrap(), &seeds, &p, &mut a).unwrap();
            s.spread(&g, &seeds, &p, &mut b).unwrap();
            assert_eq!(bits(&a), bits(&b));
            assert_eq!(file.id_map().unwrap(), &ids[..]);
            let (stored, matrix) = (file.embeddings().unwrap(), embeddings(&g));
            let (mut ta, mut tb) = (TopK::new(5), TopK::new(5));
            let query = matrix.row(9).unwrap();
            Kernels::best()
                .top_k_cosine(query, stored, &mut ta)
                .unwrap();
            Kernels::best()
                .top_k_cosine(query, &matrix, &mut tb)
                .unwrap();
            let (mut ha, mut hb) = (Vec::new(), Vec::new());
            ta.drain_sorted(&mut ha);
            tb.drain_sorted(&mut hb);
            assert_eq!(ha, hb);
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and memory maps are system calls")]
    fn reading_and_mapping_report_progress_and_can_be_cancelled() {
        let g = graph();
        let path = temp("progress.axg");
        write_file(&path, &Contents::new(&g)).unwrap();
        let mut seen = Vec::new();
        AxgStore::read_with(&path, Verify::Full, &mut observer(&mut seen, None)).unwrap();
        assert_eq!(seen[0].phase, Phase::Read);
        assert_monotone_to_the_total(&seen, Phase::Read);
        assert_monotone_to_the_total(&seen, Phase::Verify);
        let read = seen.iter().filter(|r| r.phase == Phase::Read).count();
        for cancel_at in [1, read, read + 1, seen.len()] {
            let got = AxgStore::read_with(
                &path,
                Verify::Full,
                &mut observer(&mut Vec::new(), Some(cancel_at)),
            );
            let phase = if cancel_at <= read {
                Phase::Read
            } else {
                Phase::Verify
            };
            assert_eq!(got.unwrap_err(), StoreError::Cancelled { phase });
        }

        let mut seen = Vec::new();
        // SAFETY: this test's own file, not modified while mapped.
        let mapped =
            unsafe { AxgStore::map_with(&path, Verify::Full, &mut observer(&mut seen, None)) };
        assert!(mapped.unwrap().file().is_ok());
        assert!(seen.iter().all(|r| r.phase == Phase::Verify));
        assert_monotone_to_the_total(&seen, Phase::Verify);
        // SAFETY: as above.
        let cancelled = unsafe {
            AxgStore::map_with(&path, Verify::Full, &mut observer(&mut Vec::new(), Some(2)))
        };
        assert_eq!(
            cancelled.unwrap_err(),
            StoreError::Cancelled {
                phase: Phase::Verify
            }
        );
        // Opening the header only checks nothing block by block.
        let mut none = Vec::new();
        // SAFETY: as above.
        unsafe { AxgStore::map_with(&path, Verify::Header, &mut observer(&mut none, None)) }
            .unwrap();
        assert!(none.is_empty(), "{none:?}");
        std::fs::remove_file(&path).unwrap();
    }

    /// The writer's side of the kill test: set in the child's environment.
    #[cfg(target_os = "linux")]
    const KILL_TEST: &str = "AXONAL_STORE_KILL_TEST";

    #[test]
    #[cfg(target_os = "linux")]
    #[cfg_attr(miri, ignore = "processes and files are system calls")]
    fn a_killed_writer_leaves_the_previous_file_and_no_temporary() {
        use std::io::BufRead;
        if let Ok(path) = std::env::var(KILL_TEST) {
            // The child: a large write, killed by the parent while it runs.
            let g = generate::barabasi_albert(300_000, 8, 1);
            println!("writing");
            write_file(&path, &Contents::new(&g)).unwrap();
            println!("written");
            std::thread::sleep(std::time::Duration::from_secs(60));
            return;
        }
        let dir = temp("killed");
        std::fs::create_dir_all(&dir).unwrap();
        if !unnamed_files_work(&dir) {
            // The writer then names its file from the start (documented).
            println!("SKIPPED: this file system has no O_TMPFILE");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let path = dir.join("graph.axg");
        write_file(&path, &Contents::new(&graph())).unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "files::a_killed_writer_leaves_the_previous_file_and_no_temporary",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(KILL_TEST, &path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        // (libtest prints the test's name on the same line.)
        let started = out
            .lines()
            .map_while(Result::ok)
            .any(|l| l.ends_with("writing"));
        assert!(started, "the child never started writing");
        // A 40 MB write with its fsync takes far longer than this.
        std::thread::sleep(std::time::Duration::from_millis(5));
        child.kill().unwrap();
        child.wait().unwrap();
        // The file at the path is whole (the old one, or the new one if
        // the write had finished), and nothing else is in the directory.
        let store = AxgStore::read(&path, Verify::Full).unwrap();
        assert!(store.file().unwrap().node_count() > 0);
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["graph.axg"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Whether `dir` takes unnamed files (Linux `O_TMPFILE`).
    #[cfg(target_os = "linux")]
    fn unnamed_files_work(dir: &std::path::Path) -> bool {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
            .is_ok()
    }

    #[test]
    #[cfg_attr(miri, ignore = "files are system calls")]
    fn a_failed_write_keeps_the_previous_file_and_leaves_no_temporary() {
        let g = graph();
        let dir = temp("dir");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("graph.axg");
        write_file(&path, &Contents::new(&g)).unwrap();
        let before = std::fs::read(&path).unwrap();
        // The temporary file's name is taken by a directory: the write fails
        // before anything reaches `path`.
        let blocker = dir.join(format!(".graph.axg.tmp.{}", std::process::id()));
        std::fs::create_dir(&blocker).unwrap();
        let other = generate::chain(10, 0.5);
        let err = write_file(&path, &Contents::new(&other)).unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        std::fs::remove_dir(&blocker).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "only graph.axg remains");
        // A structure error found lazily, after a header-only open.
        let mut bad = std::fs::read(&path).unwrap();
        let targets = section_range(&bad, Section::OutTargets);
        bad[targets.start..targets.start + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        // SAFETY: this test's own file, not modified while mapped.
        let opened = unsafe { AxgStore::map(&path, Verify::Header) }.unwrap();
        for _ in 0..2 {
            let err = opened.file().unwrap_err();
            assert!(matches!(err, StoreError::Structure { .. }), "{err:?}");
        }
        assert!(AxgStore::read(&path, Verify::Structure).is_err());
        // A missing file is an I/O error naming it.
        let err = AxgStore::read(dir.join("missing.axg"), Verify::Header).unwrap_err();
        assert!(err.to_string().contains("missing.axg"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
