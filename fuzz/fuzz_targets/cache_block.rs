//! Arbitrary bytes decoded as an encoded cache block: a typed error or a
//! block, never a crash; and, when the first byte says so, the rest encoded
//! as a block of some kind, by `encode_block` and through every filter
//! that fits the kind, each of which must decode to itself.
#![no_main]

use axonal::cache::{BlockBuf, BlockKind, Filter, decode_block, encode_block, encode_with, encoded_filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = BlockBuf::new();
    if let Ok(kind) = decode_block(data, &mut out) {
        assert!(encoded_filter(data).is_some(), "a decoded block has a header");
        // What decodes re-encodes to itself.
        let mut encoded = Vec::new();
        encode_block(kind, out.as_bytes(), &mut encoded);
        let mut again = BlockBuf::new();
        assert_eq!(decode_block(&encoded, &mut again).unwrap(), kind);
        assert_eq!(again.as_bytes(), out.as_bytes());
    } else {
        assert!(out.is_empty(), "a refused block leaves the output empty");
    }
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 0x80 != 0 {
        let kind = BlockKind::ALL[usize::from(mode & 0x7F) % BlockKind::ALL.len()];
        let mut encoded = Vec::new();
        let filter = encode_block(kind, rest, &mut encoded);
        assert_eq!(encoded_filter(&encoded), Some(filter));
        assert!(encoded.len() <= rest.len() + 8, "never more than raw plus the header");
        assert_eq!(decode_block(&encoded, &mut out).unwrap(), kind);
        assert_eq!(out.as_bytes(), rest);
        for filter in [Filter::Lz4, Filter::Shuffle, Filter::DeltaShuffle, Filter::RowDeltaPacked] {
            if encode_with(filter, kind, rest, &mut encoded).is_ok() {
                assert_eq!(decode_block(&encoded, &mut out).unwrap(), kind);
                assert_eq!(out.as_bytes(), rest);
            }
        }
    }
});
