//! Tier 2: encoded blocks in a spill file on disk.
//! (Interface fixed; implementation to be written.)

use std::path::Path;

use super::{CacheError, SpillConfig};

/// Where a spilled block lives. Stale once its segment is recycled
/// (`generation` no longer the segment's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpillLoc {
    pub(crate) segment: u32,
    pub(crate) generation: u32,
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

/// Why a spilled block could not be read back.
#[derive(Debug)]
pub(crate) enum SpillReadError {
    /// Its segment was recycled: the block is gone (a miss).
    Stale,
    /// Its checksum, frame or record header does not match: dropped,
    /// counted, re-read from the source.
    Corrupt,
    /// The read itself failed.
    Io(CacheError),
}

/// What the spill file did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SpillCounts {
    /// Bytes of live segments on disk (what the tier-2 budget bounds).
    pub(crate) bytes: u64,
    /// Blocks in live segments.
    pub(crate) blocks: u64,
    /// Blocks written.
    pub(crate) writes: u64,
    /// Bytes written.
    pub(crate) write_bytes: u64,
    /// `write` system calls (fewer than blocks: coalesced).
    pub(crate) write_calls: u64,
    /// Blocks read back.
    pub(crate) reads: u64,
    /// Bytes held in RAM by the write-behind queue now.
    pub(crate) queued_bytes: u64,
}

/// The spill file of one cache.
pub(crate) struct Spill {}

impl Spill {
    /// Creates a new spill file in `config.dir` (removed on drop).
    pub(crate) fn open(config: &SpillConfig) -> Result<Spill, CacheError> {
        let _ = config;
        todo!()
    }

    /// Queues encoded block `encoded` (id `id`, the cache's name for it)
    /// for writing and says where it will live; appends to `recycled` the
    /// ids of blocks whose segment this write recycled.
    pub(crate) fn write(
        &self,
        id: u64,
        encoded: &[u8],
        recycled: &mut Vec<u64>,
    ) -> Result<SpillLoc, CacheError> {
        let _ = (id, encoded, recycled);
        todo!()
    }

    /// Reads block `id` back from `loc` into `out` (its encoded bytes),
    /// checked against its checksum.
    pub(crate) fn read(
        &self,
        loc: SpillLoc,
        id: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), SpillReadError> {
        let _ = (loc, id, out);
        todo!()
    }

    /// Waits until every queued write reached the file.
    pub(crate) fn flush(&self) -> Result<(), CacheError> {
        todo!()
    }

    /// The counters.
    pub(crate) fn counts(&self) -> SpillCounts {
        todo!()
    }

    /// The file's path (tests corrupt it).
    pub(crate) fn path(&self) -> &Path {
        todo!()
    }
}
