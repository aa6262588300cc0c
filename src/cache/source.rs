//! Where blocks come from when no tier holds them.

use core::fmt::Debug;
use core::hash::Hash;

use super::{BlockBuf, BlockKind, CacheError};

/// The data a [`BlockCache`](super::BlockCache) caches, block by block:
/// an `.axg` file's sections (`AxgBlocks`), or an
/// engine's own data.
///
/// A source is read on a miss in every tier and again when a spilled copy
/// fails its checksum, so reading the same key must give the same bytes
/// for as long as the cache lives. Reads should be positioned reads
/// (`pread`), not a memory map: the process's memory is then the cache's.
pub trait BlockSource: Send + Sync {
    /// Names a block.
    type Key: Copy + Eq + Hash + Debug + Send + Sync + 'static;

    /// Reads block `key` into `buf` (its length becomes the block's) and
    /// says what it holds.
    fn read(&self, key: Self::Key, buf: &mut BlockBuf) -> Result<BlockKind, CacheError>;

    /// The length in bytes of block `key`, if known without reading it:
    /// the cache then reserves the block's room in its budget before the
    /// read allocates it, rather than after (`None`, the default: after).
    fn len(&self, key: Self::Key) -> Option<usize> {
        let _ = key;
        None
    }
}
