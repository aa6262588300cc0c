//! Any bytes fed to the edge-list reader give a graph or an error, never a panic.
#![no_main]

use axonal::graph::{io, GraphBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let symmetric = data.first().is_some_and(|b| b & 1 == 1);
    let builder = || GraphBuilder::new().symmetrize(symmetric).max_nodes(1 << 20);
    let from_reader = io::read_edge_list(data, builder());
    if let Ok(text) = std::str::from_utf8(data) {
        let from_str = io::parse_edge_list(text, builder());
        // Both entry points agree on success and on the line of a failure.
        match (&from_reader, &from_str) {
            (Ok(a), Ok(b)) => assert_eq!(a.edges().collect::<Vec<_>>(), b.edges().collect::<Vec<_>>()),
            (Err(a), Err(b)) => assert_eq!(a.line, b.line),
            _ if text.contains('\r') => {} // `lines()` and the reader split "\r" differently
            _ => panic!("reader and parser disagree: {from_reader:?} vs {from_str:?}"),
        }
    }
});
