//! Arbitrary bytes, and valid `.axg` files with bytes overwritten, opened as
//! `.axg`: a typed error or a file whose graph and embeddings every kernel
//! can read, never a crash.
#![no_main]

use std::sync::OnceLock;

use axonal::graph::generate;
use axonal::layout::{AlignedBuf, EmbeddingMatrix};
use axonal::simd::{Kernels, TopK};
use axonal::spread::{Seed, SpreadParams, Spreader};
use axonal::store::{AxgFile, Contents, Verify};
use libfuzzer_sys::fuzz_target;

/// A small valid file the mutations start from.
fn valid() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let graph = generate::barabasi_albert(64, 2, 3);
        let nodes = graph.node_records();
        let ids: Vec<u64> = (0..64).collect();
        // 5 values a row, padded to 16: the padding is there to corrupt.
        let flat: Vec<f32> = (0..64 * 5).map(|i| (i % 11) as f32 - 5.0).collect();
        let embeddings = EmbeddingMatrix::from_rows(5, &flat).unwrap();
        let contents = Contents::new(&graph)
            .with_nodes(&nodes)
            .unwrap()
            .with_id_map(&ids)
            .unwrap()
            .with_embeddings(&embeddings)
            .unwrap();
        contents.to_bytes().to_vec()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode & 1 == 0 {
        // Raw bytes.
        AlignedBuf::from_slice(rest)
    } else {
        // A valid file with (offset, byte) pairs written over it.
        let mut file = AlignedBuf::from_slice(valid());
        for pair in rest.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % file.len();
            file[at] = pair[2];
        }
        file
    };
    let level = if mode & 2 == 0 { Verify::Structure } else { Verify::Full };
    if let Ok(file) = AxgFile::parse(&bytes, level) {
        let graph = file.graph().expect("verified to at least the structure");
        if graph.node_count() > 0 {
            let mut spreader = Spreader::new(graph.node_count());
            let mut results = Vec::new();
            spreader
                .spread(graph, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut results)
                .expect("a valid query on a verified graph");
        }
        if let Some(rows) = file.embeddings() {
            let mut query = vec![0.5f32; rows.dim()];
            query[0] = 1.0;
            let mut top = TopK::new(4);
            Kernels::best()
                .top_k_cosine(&query, rows, &mut top)
                .expect("a valid query on verified embeddings");
            let mut tops = [TopK::new(2), TopK::new(3)];
            Kernels::best()
                .top_k_dot_batch(&[&query, &query], rows, &mut tops)
                .expect("a valid batch on verified embeddings");
        }
    }
});
