//! Encoded blocks: the compressed tier's and the spill file's form.
//! (Interface fixed; implementation to be written.)

use super::{BlockBuf, BlockKind, CacheError};

/// The filter an encoded block went through before LZ4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Filter {
    /// Stored as it is (compression did not pay).
    Raw,
    /// LZ4 of the bytes as they are.
    Lz4,
    /// Byte-shuffled by element size, then LZ4.
    Shuffle,
    /// Delta-coded `u32`s, byte-shuffled, then LZ4.
    DeltaShuffle,
}

/// Encodes `data`, a block of `kind`, into `out` (cleared first): the
/// filter that makes it smallest on a sample of the block, then LZ4, or the
/// bytes raw when that does not pay. The encoding is self-describing
/// ([`decode_block`] needs nothing else). Returns the filter chosen.
pub fn encode_block(kind: BlockKind, data: &[u8], out: &mut Vec<u8>) -> Filter {
    let _ = (kind, data, out);
    todo!()
}

/// Decodes an [`encode_block`] encoding into `out` and returns the block's
/// kind. Any bytes at all are safe to pass: what is not an encoding is a
/// [`CacheError::Corrupt`].
pub fn decode_block(encoded: &[u8], out: &mut BlockBuf) -> Result<BlockKind, CacheError> {
    let _ = (encoded, out);
    todo!()
}

/// The filter of an encoding (`None` if the header is not one).
pub fn encoded_filter(encoded: &[u8]) -> Option<Filter> {
    let _ = encoded;
    todo!()
}
