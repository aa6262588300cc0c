//! Arbitrary edge triples: the builder rejects the bad ones with an error and
//! builds a graph satisfying every CSR invariant from the rest.
#![no_main]

use axonal::graph::{CsrView, GraphBuilder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let builder = if flags & 2 == 2 { GraphBuilder::with_node_count(u32::from(flags >> 2)) } else { GraphBuilder::new() };
    // Bound the id space so graphs stay small (the limit itself is under test).
    let mut builder = builder.symmetrize(flags & 1 == 1).max_nodes(1 << 16);
    for chunk in rest.chunks_exact(12) {
        let word = |i: usize| u32::from_le_bytes(chunk[i..i + 4].try_into().unwrap());
        // Keep ids small most of the time so graphs stay buildable in memory.
        let small = |x: u32| if x & 0x8000_0000 == 0 { x % 4096 } else { x };
        let (src, dst, weight) = (small(word(0)), small(word(4)), f32::from_bits(word(8)));
        let before = builder.edges_added();
        match builder.add_edge(src, dst, weight) {
            Ok(()) => assert_eq!(builder.edges_added(), before + 1),
            Err(_) => assert_eq!(builder.edges_added(), before, "a rejected edge must leave the builder unchanged"),
        }

    }
    let graph = builder.build().expect("graphs of at most 65536 nodes fit in memory");
    let out = graph.out_edges();
    // The graph's arrays pass the independent validator, and lists are sorted and unique.
    CsrView::new(out.offsets(), out.targets(), out.weights()).expect("built graphs are valid");
    let inc = graph.in_edges();
    CsrView::new(inc.offsets(), inc.targets(), inc.weights()).expect("transposes are valid");
    for v in 0..graph.node_count() as u32 {
        let (t, _) = out.neighbors(v);
        assert!(t.windows(2).all(|w| w[0] < w[1]) && !t.contains(&v));
    }
    assert_eq!(out.edge_count(), inc.edge_count());
});
