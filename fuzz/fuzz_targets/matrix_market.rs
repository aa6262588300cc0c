//! Any bytes fed to the Matrix Market reader give a graph or an error, never a panic.
#![no_main]

use axonal::graph::{io, GraphBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Start most inputs with a valid header so the fuzzer explores the body.
    let mut text = Vec::with_capacity(data.len() + 64);
    if data.first().is_some_and(|b| b & 1 == 1) {
        text.extend_from_slice(b"%%MatrixMarket matrix coordinate real general\n");
    }
    text.extend_from_slice(data);
    if let Ok(graph) = io::read_matrix_market(&text[..], GraphBuilder::new().max_nodes(1 << 20)) {
        for (u, v, w) in graph.edges() {
            assert!((u as usize) < graph.node_count() && (v as usize) < graph.node_count());
            assert!(w > 0.0 && w <= 1.0);
        }
    }
});
