//! Tier 2: encoded blocks in a spill file on disk.
//!
//! Blocks leaving the compressed tier are still worth more than a read of
//! their source (which may be a slow disk, a network, or a decode), so the
//! cache keeps them in a file of its own, bounded in bytes. Three choices
//! shape the file:
//!
//! - **Segments, recycled oldest first.** The file is cut into
//!   [`SpillConfig::segment`]-byte segments, at most `capacity / segment`
//!   of them, filled in order. When the next segment to fill still holds
//!   blocks, it is recycled whole: its blocks become stale and
//!   [`Spill::write`] hands their ids back so the cache drops them from its
//!   index. FIFO at segment granularity (as the large-object engines of
//!   foyer and CacheLib do) needs no free-space map and no compaction, and
//!   it is what lets writes be coalesced.
//! - **Written behind, coalesced.** A block is copied into the current
//!   segment's buffer in RAM; a full segment goes to a writer thread through
//!   a bounded queue (at most [`SpillConfig::queue`] segments: a writer
//!   that falls behind stalls the cache instead of growing its memory),
//!   which writes it with one positioned write. Blocks of a segment not yet
//!   written are read from RAM. An error of the writer is kept: it fails
//!   every later [`Spill::write`] and [`Spill::flush`] (the cache then
//!   drops blocks instead of spilling them).
//! - **Every record checked.** A read is one positioned read of the record,
//!   whose every byte is checked: the header's fields against what the
//!   cache expects, the frame against its xxh3 checksum and its structure.
//!   A flipped byte or a truncated file is [`SpillReadError::Corrupt`],
//!   never wrong bytes.
//!
//! The file is new (created exclusively, under a name no other cache
//! holds) and removed when the [`Spill`] is dropped: it is a cache, not a
//! store, so it has no header and is never reopened.
//!
//! ## Layout
//!
//! Every integer is little-endian. Segment `s` starts at byte
//! `s * segment` of the file. A segment holds records, each starting at a
//! multiple of 8 bytes within it (zero padding between). A record is a
//! 32-byte header and an [LZ4 frame](https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md)
//! holding the block's encoded bytes ([`encode_block`](super::encode_block)'s
//! output, treated here as opaque bytes):
//!
//! | offset | field | type | meaning |
//! |---|---|---|---|
//! | 0 | magic | `u32` | `AXSB` |
//! | 4 | length | `u32` | bytes of the encoded block |
//! | 8 | id | `u64` | the cache's name for the block |
//! | 16 | checksum | `u64` | xxh3-64 of the frame's bytes |
//! | 24 | generation | `u32` | the segment's generation when the record was written |
//! | 28 | reserved | `u32` | 0 |
//! | 32 | frame | LZ4 frame | below |
//!
//! The frame is a standard one, which any LZ4 decoder turns back into the
//! encoded block's bytes:
//!
//! | bytes | field | value |
//! |---|---|---|
//! | 4 | magic | `0x184D2204` |
//! | 1 | FLG | `0x68`: version 01, independent blocks, content size present, no checksums (the record's xxh3 covers the frame) |
//! | 1 | BD | the block maximum: 64 KiB, 256 KiB, 1 MiB or 4 MiB (codes 4 to 7), the smallest that holds the block, else 4 MiB |
//! | 8 | content size | `u64`: the encoded block's length |
//! | 1 | HC | the second byte of the xxh32 (seed 0) of FLG, BD and the content size |
//! | 4 + n, repeated | data blocks | the size `n` with its high bit set (stored uncompressed), then `n` bytes: the encoded block cut at the block maximum |
//! | 4 | end mark | 0 |
//!
//! The encoded block is already LZ4-compressed (or stored raw because it
//! does not compress), so the frame stores it uncompressed: compressing it
//! again gains nothing and would cost a decompression per read.
//!
//! A block whose record (its bytes, 55 bytes of header and frame, 4 more
//! per 4 MiB, rounded up to 8) is larger than a segment is refused ([`CacheError::Config`] naming `spill.segment`): the
//! cache does not spill it.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_64;
use xxhash_rust::xxh32::xxh32;

use super::error::io as io_error;
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
///
/// `bytes` counts the records (with their padding) of every live segment,
/// written or not; `write_bytes` and `write_calls` what reached the file;
/// `queued_bytes` the records not yet written (the segment being filled
/// and the queued ones).
pub(crate) struct Spill {
    path: PathBuf,
    /// Bytes of a segment.
    segment_len: usize,
    /// Segments of the file.
    segment_count: u32,
    /// Sealed segments waiting for the writer, at most.
    queue_limit: usize,
    /// Each segment's generation: bumped when it starts filling again, read
    /// without a lock by [`Spill::read`] (0: never filled).
    generations: Box<[AtomicU32]>,
    filling: Mutex<Filling>,
    shared: Arc<Shared>,
    reads: AtomicU64,
    writer: Option<JoinHandle<()>>,
}

static_assertions::assert_impl_all!(Spill: Send, Sync);

/// What the writer thread shares with the cache's threads.
struct Shared {
    file: File,
    segment_len: u64,
    queue: Mutex<Queue>,
    /// Signalled when a segment is queued or the file is closing.
    queued: Condvar,
    /// Signalled when a segment was written (room in the queue, a flush).
    written: Condvar,
}

/// The write-behind queue. Lock order: [`Filling`] before [`Queue`]; the
/// writer thread takes only the queue's lock, so a writer waiting for
/// room while it holds [`Filling`] cannot stall it.
struct Queue {
    /// Sealed segments, oldest first; the front one is being written and
    /// stays here (readable) until it is on disk.
    sealed: VecDeque<Sealed>,
    /// Written segments' buffers, reused for the next segments.
    spare: Vec<Vec<u8>>,
    /// The writer's first error: every later write and flush fails.
    failure: Option<io::Error>,
    /// The [`Spill`] is being dropped: the writer stops.
    closing: bool,
    write_calls: u64,
    write_bytes: u64,
}

/// A segment waiting to be written.
struct Sealed {
    segment: u32,
    generation: u32,
    records: Arc<Vec<u8>>,
}

/// The segment being filled and what every segment holds.
struct Filling {
    /// `None` before the first write and after a flush or a seal.
    current: Option<Current>,
    /// The segment filled next.
    next: u32,
    /// What each segment used so far holds (grows as segments are used).
    live: Vec<LiveSegment>,
    bytes: u64,
    blocks: u64,
    writes: u64,
}

/// The segment being filled, in RAM.
struct Current {
    segment: u32,
    generation: u32,
    records: Vec<u8>,
}

/// The blocks of one segment's current generation.
#[derive(Default)]
struct LiveSegment {
    ids: Vec<u64>,
    bytes: u64,
}

impl Spill {
    /// Creates a new spill file in `config.dir` (removed on drop).
    pub(crate) fn open(config: &SpillConfig) -> Result<Spill, CacheError> {
        config.validate()?;
        let (file, path) = create_file(&config.dir)?;
        Spill::with_file(config, file, path)
    }

    /// A spill file over `file`, named `path` (removed on drop, as on an
    /// error here); `config` validated.
    fn with_file(config: &SpillConfig, file: File, path: PathBuf) -> Result<Spill, CacheError> {
        let segment_count =
            u32::try_from(config.capacity / config.segment as u64).unwrap_or(u32::MAX);
        let shared = Arc::new(Shared {
            file,
            segment_len: config.segment as u64,
            queue: Mutex::new(Queue {
                sealed: VecDeque::with_capacity(config.queue),
                spare: Vec::new(),
                failure: None,
                closing: false,
                write_calls: 0,
                write_bytes: 0,
            }),
            queued: Condvar::new(),
            written: Condvar::new(),
        });
        let writer = thread::Builder::new().name("axonal-spill".into()).spawn({
            let shared = Arc::clone(&shared);
            move || write_behind(&shared)
        });
        let writer = match writer {
            Ok(writer) => writer,
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(io_error("starting the spill file's writer")(e));
            }
        };
        Ok(Spill {
            path,
            segment_len: config.segment,
            segment_count,
            queue_limit: config.queue,
            generations: (0..segment_count).map(|_| AtomicU32::new(0)).collect(),
            filling: Mutex::new(Filling {
                current: None,
                next: 0,
                live: Vec::new(),
                bytes: 0,
                blocks: 0,
                writes: 0,
            }),
            shared,
            reads: AtomicU64::new(0),
            writer: Some(writer),
        })
    }

    /// Queues encoded block `encoded` (id `id`, the cache's name for it)
    /// for writing and says where it will live; appends to `recycled` the
    /// ids of blocks whose segment this write recycled.
    ///
    /// A block whose record does not fit a segment is refused
    /// ([`CacheError::Config`]), as is every write after the writer failed
    /// ([`CacheError::Io`]).
    pub(crate) fn write(
        &self,
        id: u64,
        encoded: &[u8],
        recycled: &mut Vec<u64>,
    ) -> Result<SpillLoc, CacheError> {
        let len = record_len(encoded.len());
        let padded = len.next_multiple_of(RECORD_ALIGN);
        if padded > self.segment_len {
            return Err(CacheError::Config {
                field: "spill.segment",
                expected: "larger than every spilled block's record (its bytes and 62 at most, \
                           4 more per 4 MiB)",
            });
        }
        failure(&lock(&self.shared.queue))?;
        let mut filling = lock(&self.filling);
        let mut current = match filling.current.take() {
            Some(current) if current.records.len() + padded <= self.segment_len => current,
            Some(full) => {
                self.seal(full);
                self.start_segment(&mut filling, recycled)
            }
            None => self.start_segment(&mut filling, recycled),
        };
        let offset = current.records.len();
        append_record(&mut current.records, id, current.generation, encoded);
        let loc = SpillLoc {
            segment: current.segment,
            generation: current.generation,
            // Both below the segment's length, a u32 (validated).
            offset: offset as u32,
            len: len as u32,
        };
        let live = &mut filling.live[current.segment as usize];
        live.ids.push(id);
        live.bytes += padded as u64;
        filling.bytes += padded as u64;
        filling.blocks += 1;
        filling.writes += 1;
        if self.segment_len - current.records.len() < MIN_RECORD {
            self.seal(current);
        } else {
            filling.current = Some(current);
        }
        Ok(loc)
    }

    /// Reads block `id` back from `loc` into `out` (its encoded bytes),
    /// checked against its checksum.
    ///
    /// One positioned read, or a copy where the block's segment is not
    /// written yet.
    pub(crate) fn read(
        &self,
        loc: SpillLoc,
        id: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), SpillReadError> {
        let Some(generation) = self.generations.get(loc.segment as usize) else {
            return Err(SpillReadError::Corrupt);
        };
        if generation.load(Ordering::Acquire) != loc.generation {
            return Err(SpillReadError::Stale);
        }
        out.clear();
        let read = if self.copy_from_ram(loc, out) {
            Ok(())
        } else {
            out.resize(loc.len as usize, 0);
            let at = u64::from(loc.segment) * self.segment_len as u64 + u64::from(loc.offset);
            self.shared.file.read_exact_at(out, at)
        };
        // Recycled while being read: whatever was read is another block's.
        if generation.load(Ordering::Acquire) != loc.generation {
            return Err(SpillReadError::Stale);
        }
        match read {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Err(SpillReadError::Corrupt),
            Err(e) => {
                return Err(SpillReadError::Io(io_error("reading the spill file")(e)));
            }
        }
        open_record(out, id, loc.generation)?;
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until every queued write reached the file.
    ///
    /// The segment being filled is written as it is; the next write starts
    /// a new segment.
    pub(crate) fn flush(&self) -> Result<(), CacheError> {
        {
            let mut filling = lock(&self.filling);
            if let Some(current) = filling.current.take() {
                self.seal(current);
            }
        }
        let mut queue = lock(&self.shared.queue);
        while !queue.sealed.is_empty() {
            queue = wait(&self.shared.written, queue);
        }
        failure(&queue)
    }

    /// The counters.
    pub(crate) fn counts(&self) -> SpillCounts {
        let filling = lock(&self.filling);
        let queue = lock(&self.shared.queue);
        let current = filling.current.as_ref().map_or(0, |c| c.records.len());
        let sealed: usize = queue.sealed.iter().map(|s| s.records.len()).sum();
        SpillCounts {
            bytes: filling.bytes,
            blocks: filling.blocks,
            writes: filling.writes,
            write_bytes: queue.write_bytes,
            write_calls: queue.write_calls,
            reads: self.reads.load(Ordering::Relaxed),
            queued_bytes: (current + sealed) as u64,
        }
    }

    /// The file's path (tests corrupt it).
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Starts filling the next segment, recycling what it held.
    fn start_segment(&self, filling: &mut Filling, recycled: &mut Vec<u64>) -> Current {
        let segment = filling.next;
        filling.next = (segment + 1) % self.segment_count;
        if segment as usize == filling.live.len() {
            filling.live.push(LiveSegment::default());
        }
        let old = &mut filling.live[segment as usize];
        recycled.extend_from_slice(&old.ids);
        let (freed_bytes, freed_blocks) = (old.bytes, old.ids.len() as u64);
        old.ids.clear();
        old.bytes = 0;
        filling.bytes -= freed_bytes;
        filling.blocks -= freed_blocks;
        // Only changed here, under the `Filling` lock.
        let generation = self.generations[segment as usize]
            .load(Ordering::Relaxed)
            .wrapping_add(1);
        self.generations[segment as usize].store(generation, Ordering::Release);
        let records = lock(&self.shared.queue)
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.segment_len));
        Current {
            segment,
            generation,
            records,
        }
    }

    /// Queues `current` for writing, once the queue has room.
    fn seal(&self, current: Current) {
        let mut queue = lock(&self.shared.queue);
        // The writer pops a segment after every write, failed or not, so
        // room always comes.
        while queue.sealed.len() >= self.queue_limit {
            queue = wait(&self.shared.written, queue);
        }
        queue.sealed.push_back(Sealed {
            segment: current.segment,
            generation: current.generation,
            records: Arc::new(current.records),
        });
        self.shared.queued.notify_one();
    }

    /// Copies record `loc` into `out` if its segment is still in RAM (being
    /// filled or queued); says whether it was.
    fn copy_from_ram(&self, loc: SpillLoc, out: &mut Vec<u8>) -> bool {
        let range = loc.offset as usize..loc.offset as usize + loc.len as usize;
        // A range outside the segment leaves `out` empty: corrupt.
        let mut copy =
            |records: &[u8]| out.extend_from_slice(records.get(range.clone()).unwrap_or(&[]));
        {
            let filling = lock(&self.filling);
            if let Some(current) = &filling.current
                && (current.segment, current.generation) == (loc.segment, loc.generation)
            {
                copy(&current.records);
                return true;
            }
        }
        // Sealed after the look above: it is queued, or already written.
        let queue = lock(&self.shared.queue);
        let queued = queue
            .sealed
            .iter()
            .find(|s| (s.segment, s.generation) == (loc.segment, loc.generation));
        if let Some(sealed) = queued {
            copy(&sealed.records);
            return true;
        }
        false
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.queued.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// The writer thread: writes the queued segments in order, one positioned
/// write each, until the [`Spill`] closes.
fn write_behind(shared: &Shared) {
    let mut queue = lock(&shared.queue);
    loop {
        if queue.closing {
            return;
        }
        let Some(front) = queue.sealed.front() else {
            queue = wait(&shared.queued, queue);
            continue;
        };
        let (segment, records) = (front.segment, Arc::clone(&front.records));
        drop(queue);
        let written = shared
            .file
            .write_all_at(&records, u64::from(segment) * shared.segment_len);
        queue = lock(&shared.queue);
        queue.write_calls += 1;
        match written {
            Ok(()) => queue.write_bytes += records.len() as u64,
            Err(e) => {
                queue.failure.get_or_insert(e);
            }
        }
        queue.sealed.pop_front();
        // Readers copy under the lock and keep no reference: the buffer is
        // this thread's alone now.
        if let Ok(mut spare) = Arc::try_unwrap(records) {
            spare.clear();
            queue.spare.push(spare);
        }
        shared.written.notify_all();
    }
}

/// A new file in `dir` under a name no other cache holds (`create_new`
/// fails on one that exists: another process of the same pid in another
/// container, say).
fn create_file(dir: &Path) -> Result<(File, PathBuf), CacheError> {
    static FILES: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(dir).map_err(io_error("creating the spill file's folder"))?;
    let salt = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    loop {
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let name = format!("axonal-spill-{}-{n}-{salt:08x}.spill", std::process::id());
        let path = dir.join(name);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_error("creating the spill file")(e)),
        }
    }
}

/// The writer's error, as the cache's.
fn failure(queue: &Queue) -> Result<(), CacheError> {
    match &queue.failure {
        None => Ok(()),
        Some(e) => Err(CacheError::Io {
            op: "writing the spill file",
            source: io::Error::new(e.kind(), e.to_string()),
        }),
    }
}

/// Locks `m`, whatever a panicking holder left: every update under these
/// locks leaves the state whole before anything can panic.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv`, as [`lock`] does.
fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// `AXSB`: a spilled block's record.
const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"AXSB");
/// Bytes of a record's header.
const HEADER_LEN: usize = 32;
/// Records start at multiples of this within a segment.
const RECORD_ALIGN: usize = 8;
/// The LZ4 frame's magic number.
const FRAME_MAGIC: u32 = 0x184D_2204;
/// FLG: version 01, independent blocks, content size present.
const FRAME_FLG: u8 = 0x68;
/// Magic, FLG, BD, content size, HC.
const FRAME_HEADER_LEN: usize = 4 + 1 + 1 + 8 + 1;
/// Data block sizes with this bit are stored uncompressed.
const UNCOMPRESSED: u32 = 1 << 31;
/// The smallest record, padded (an empty block): a segment with less room
/// left is full.
const MIN_RECORD: usize = (HEADER_LEN + FRAME_HEADER_LEN + 4).next_multiple_of(RECORD_ALIGN);

/// The LZ4 block maximum for `len` bytes: its BD code and its bytes.
fn block_max(len: usize) -> (u8, usize) {
    let code = (4u8..7)
        .find(|&code| len <= 1 << (8 + 2 * code))
        .unwrap_or(7);
    (code, 1 << (8 + 2 * code))
}

/// Bytes of the record of an encoded block of `len` bytes, unpadded.
fn record_len(len: usize) -> usize {
    let (_, max) = block_max(len);
    HEADER_LEN + FRAME_HEADER_LEN + len.div_ceil(max) * 4 + len + 4
}

/// Appends the record of block `id` (`encoded`, its bytes) to `out`,
/// padded to [`RECORD_ALIGN`].
fn append_record(out: &mut Vec<u8>, id: u64, generation: u32, encoded: &[u8]) {
    let start = out.len();
    let frame = start + HEADER_LEN;
    out.extend_from_slice(&RECORD_MAGIC.to_le_bytes());
    // At most a segment's length, a u32 (checked by the caller).
    out.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // the checksum, below
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
    let (code, max) = block_max(encoded.len());
    out.push(FRAME_FLG);
    out.push(code << 4);
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.push(header_checksum(&out[frame + 4..]));
    for data in encoded.chunks(max) {
        out.extend_from_slice(&(data.len() as u32 | UNCOMPRESSED).to_le_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    let checksum = xxh3_64(&out[frame..]);
    out[start + 16..start + 24].copy_from_slice(&checksum.to_le_bytes());
    let padded = (out.len() - start).next_multiple_of(RECORD_ALIGN);
    out.resize(start + padded, 0);
}

/// The frame descriptor's checksum byte (HC).
fn header_checksum(descriptor: &[u8]) -> u8 {
    (xxh32(descriptor, 0) >> 8) as u8
}

/// Checks `record` (an unpadded record read back) to be block `id`'s of
/// segment generation `generation`, and leaves its encoded bytes in it.
fn open_record(record: &mut Vec<u8>, id: u64, generation: u32) -> Result<(), SpillReadError> {
    let len = check_record(record, id, generation).ok_or(SpillReadError::Corrupt)?;
    // Move the data blocks' bytes to the front, in order (checked above).
    let (_, max) = block_max(len);
    let (mut from, mut to) = (HEADER_LEN + FRAME_HEADER_LEN, 0);
    while to < len {
        let n = max.min(len - to);
        record.copy_within(from + 4..from + 4 + n, to);
        (from, to) = (from + 4 + n, to + n);
    }
    record.truncate(len);
    Ok(())
}

/// The encoded length `record` claims if every byte of it is as written
/// for block `id` in generation `generation`, `None` otherwise.
fn check_record(record: &[u8], id: u64, generation: u32) -> Option<usize> {
    let len = le_u32(record, 4)? as usize;
    let header_ok = le_u32(record, 0)? == RECORD_MAGIC
        && record.len() == record_len(len)
        && le_u64(record, 8)? == id
        && le_u32(record, 24)? == generation
        && le_u32(record, 28)? == 0;
    let frame = record.get(HEADER_LEN..)?;
    if !header_ok || le_u64(record, 16)? != xxh3_64(frame) {
        return None;
    }
    let (code, max) = block_max(len);
    let frame_ok = le_u32(frame, 0)? == FRAME_MAGIC
        && frame.get(4..6)? == [FRAME_FLG, code << 4]
        && le_u64(frame, 6)? == len as u64
        && frame.get(14)? == &header_checksum(frame.get(4..14)?);
    if !frame_ok {
        return None;
    }
    let (mut at, mut left) = (FRAME_HEADER_LEN, len);
    while left > 0 {
        let n = max.min(left);
        if le_u32(frame, at)? != n as u32 | UNCOMPRESSED {
            return None;
        }
        (at, left) = (at + 4 + n, left - n);
    }
    (le_u32(frame, at)? == 0 && at + 4 == frame.len()).then_some(len)
}

/// The little-endian `u32` at `at` of `bytes`, if there.
fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The little-endian `u64` at `at` of `bytes`, if there.
fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Mutex;

    use super::*;

    /// Block `id`'s encoded bytes in these tests: `len` bytes that carry
    /// the id.
    fn block(id: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                (id as u8)
                    .wrapping_mul(31)
                    .wrapping_add(i as u8 ^ (id >> 8) as u8)
            })
            .collect()
    }

    fn record(id: u64, generation: u32, encoded: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        append_record(&mut out, id, generation, encoded);
        assert_eq!(out.len() % RECORD_ALIGN, 0);
        assert!(out.len() - record_len(encoded.len()) < RECORD_ALIGN);
        out.truncate(record_len(encoded.len()));
        out
    }

    /// The encoded bytes of `record`'s frame, as `lz4_flex` decodes them.
    fn lz4_decode(record: &[u8]) -> Vec<u8> {
        let mut decoded = Vec::new();
        lz4_flex::frame::FrameDecoder::new(&record[HEADER_LEN..])
            .read_to_end(&mut decoded)
            .unwrap();
        decoded
    }

    #[test]
    fn records_round_trip_and_are_lz4_frames() {
        for len in [0, 1, 7, 8, 1000, 65_536, 65_537, 300_000] {
            let encoded = block(len as u64, len);
            let mut rec = record(9, 3, &encoded);
            assert_eq!(lz4_decode(&rec), encoded, "{len}");
            open_record(&mut rec, 9, 3).unwrap();
            assert_eq!(rec, encoded, "{len}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "5 MiB: slow under Miri")]
    fn a_block_over_4_mib_is_cut_into_data_blocks() {
        let encoded = block(1, (5 << 20) + 3);
        let mut rec = record(1, 1, &encoded);
        assert_eq!(
            rec.len(),
            HEADER_LEN + FRAME_HEADER_LEN + 2 * 4 + encoded.len() + 4
        );
        assert_eq!(lz4_decode(&rec), encoded);
        open_record(&mut rec, 1, 1).unwrap();
        assert_eq!(rec, encoded);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_corrupt() {
        let encoded = block(5, 40);
        let rec = record(5, 2, &encoded);
        for at in 0..rec.len() {
            for bit in [0x01, 0x80] {
                let mut bad = rec.clone();
                bad[at] ^= bit;
                assert!(
                    matches!(open_record(&mut bad, 5, 2), Err(SpillReadError::Corrupt)),
                    "{at}"
                );
            }
        }
        for len in 0..rec.len() {
            let mut short = rec[..len].to_vec();
            assert!(matches!(
                open_record(&mut short, 5, 2),
                Err(SpillReadError::Corrupt)
            ));
        }
        let mut long = rec.clone();
        long.push(0);
        assert!(matches!(
            open_record(&mut long, 5, 2),
            Err(SpillReadError::Corrupt)
        ));
    }

    #[test]
    fn another_id_or_generation_is_corrupt() {
        let rec = record(5, 2, &block(5, 100));
        assert!(matches!(
            open_record(&mut rec.clone(), 6, 2),
            Err(SpillReadError::Corrupt)
        ));
        assert!(matches!(
            open_record(&mut rec.clone(), 5, 3),
            Err(SpillReadError::Corrupt)
        ));
    }

    fn config(segment: usize, segments: u64) -> SpillConfig {
        SpillConfig {
            segment,
            queue: 2,
            ..SpillConfig::new(std::env::temp_dir(), segment as u64 * segments)
        }
    }

    fn padded(len: usize) -> u64 {
        record_len(len).next_multiple_of(RECORD_ALIGN) as u64
    }

    fn read(spill: &Spill, loc: SpillLoc, id: u64) -> Result<Vec<u8>, SpillReadError> {
        let mut out = Vec::new();
        spill.read(loc, id, &mut out).map(|()| out)
    }

    #[test]
    fn bad_configurations_are_refused() {
        for bad in [
            config(100, 4),
            config(4096, 1),
            config(4096, 1 << 32),
            SpillConfig {
                queue: 0,
                ..config(4096, 4)
            },
        ] {
            assert!(matches!(Spill::open(&bad), Err(CacheError::Config { .. })));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn a_block_too_large_for_a_segment_is_refused() {
        let spill = Spill::open(&config(4096, 4)).unwrap();
        let too_large = block(1, 4096 - HEADER_LEN - FRAME_HEADER_LEN - 8 + 1);
        let refused = spill.write(1, &too_large, &mut Vec::new());
        assert!(matches!(
            refused,
            Err(CacheError::Config {
                field: "spill.segment",
                ..
            })
        ));
        assert_eq!(spill.counts(), SpillCounts::default());
        let fits = block(1, 4096 - HEADER_LEN - FRAME_HEADER_LEN - 8);
        let loc = spill.write(1, &fits, &mut Vec::new()).unwrap();
        assert_eq!(read(&spill, loc, 1).unwrap(), fits);
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn reads_before_a_flush_come_from_ram_and_the_file_goes_on_drop() {
        let spill = Spill::open(&config(4096, 4)).unwrap();
        let path = spill.path().to_owned();
        let blocks: Vec<_> = (0..3).map(|id| block(id, 100 + id as usize)).collect();
        let locs: Vec<_> = (0..3)
            .map(|id| {
                spill
                    .write(id, &blocks[id as usize], &mut Vec::new())
                    .unwrap()
            })
            .collect();
        assert_eq!(locs[1].offset as u64, padded(100));
        let queued: u64 = (0..3).map(|i| padded(100 + i)).sum();
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        for id in 0..3 {
            assert_eq!(
                read(&spill, locs[id as usize], id).unwrap(),
                blocks[id as usize]
            );
        }
        let before = spill.counts();
        assert_eq!(
            before,
            SpillCounts {
                bytes: queued,
                blocks: 3,
                writes: 3,
                write_bytes: 0,
                write_calls: 0,
                reads: 3,
                queued_bytes: queued,
            }
        );
        spill.flush().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), queued);
        for id in 0..3 {
            assert_eq!(
                read(&spill, locs[id as usize], id).unwrap(),
                blocks[id as usize]
            );
        }
        let after = SpillCounts {
            write_bytes: queued,
            write_calls: 1,
            reads: 6,
            queued_bytes: 0,
            ..before
        };
        assert_eq!(spill.counts(), after);
        // The next write starts the next segment.
        let loc = spill.write(3, &blocks[0], &mut Vec::new()).unwrap();
        assert_eq!((loc.segment, loc.offset), (1, 0));
        drop(spill);
        assert!(!path.exists());
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn many_blocks_round_trip_across_segments_coalesced() {
        let spill = Spill::open(&config(4096, 64)).unwrap();
        let sizes = |id: u64| 10 + (id as usize * 37) % 600;
        let mut locs = Vec::new();
        let mut recycled = Vec::new();
        for id in 0..300 {
            locs.push(
                spill
                    .write(id, &block(id, sizes(id)), &mut recycled)
                    .unwrap(),
            );
            // Earlier blocks: from RAM or from the file.
            let back = id / 2;
            assert_eq!(
                read(&spill, locs[back as usize], back).unwrap(),
                block(back, sizes(back))
            );
        }
        assert!(recycled.is_empty());
        spill.flush().unwrap();
        for (id, &loc) in locs.iter().enumerate() {
            assert_eq!(
                read(&spill, loc, id as u64).unwrap(),
                block(id as u64, sizes(id as u64))
            );
        }
        let bytes: u64 = (0..300).map(|id| padded(sizes(id))).sum();
        let segments = u64::from(locs.last().unwrap().segment) + 1;
        assert!(segments > 10);
        assert_eq!(
            spill.counts(),
            SpillCounts {
                bytes,
                blocks: 300,
                writes: 300,
                write_bytes: bytes,
                write_calls: segments,
                reads: 600,
                queued_bytes: 0,
            }
        );
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn recycled_segments_report_their_blocks_and_are_stale() {
        let spill = Spill::open(&config(4096, 2)).unwrap();
        // 8 records of 512 bytes (the last one 504 + padding): a segment.
        let len = 512 - HEADER_LEN - FRAME_HEADER_LEN - 8;
        let mut locs = Vec::new();
        for id in 0..16 {
            let mut recycled = Vec::new();
            locs.push(spill.write(id, &block(id, len), &mut recycled).unwrap());
            assert!(recycled.is_empty());
            assert_eq!(locs[id as usize].segment, (id / 8) as u32);
        }
        assert_eq!(spill.counts().bytes, 8192);
        let mut recycled = vec![99];
        let loc = spill.write(16, &block(16, len), &mut recycled).unwrap();
        assert_eq!((loc.segment, loc.generation, loc.offset), (0, 2, 0));
        assert_eq!(recycled, [99, 0, 1, 2, 3, 4, 5, 6, 7]);
        for (id, &old) in (0..).zip(&locs) {
            match read(&spill, old, id) {
                Err(SpillReadError::Stale) => assert!(id < 8),
                Ok(bytes) => assert_eq!((id >= 8, bytes), (true, block(id, len))),
                Err(e) => panic!("block {id}: {e:?}"),
            }
        }
        assert_eq!(read(&spill, loc, 16).unwrap(), block(16, len));
        let counts = spill.counts();
        assert_eq!(
            (counts.bytes, counts.blocks, counts.writes),
            (9 * 512, 9, 17)
        );
        spill.flush().unwrap();
        assert_eq!(read(&spill, loc, 16).unwrap(), block(16, len));
        assert_eq!(spill.counts().write_calls, 3);
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn a_flipped_byte_on_disk_is_corrupt() {
        let spill = Spill::open(&config(4096, 4)).unwrap();
        let locs: Vec<_> = (0..4)
            .map(|id| spill.write(id, &block(id, 200), &mut Vec::new()).unwrap())
            .collect();
        spill.flush().unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(spill.path())
            .unwrap();
        let at = u64::from(locs[2].offset) + 100;
        let mut byte = [0];
        file.read_exact_at(&mut byte, at).unwrap();
        file.write_all_at(&[byte[0] ^ 0x10], at).unwrap();
        assert!(matches!(
            read(&spill, locs[2], 2),
            Err(SpillReadError::Corrupt)
        ));
        for id in [0, 1, 3] {
            assert_eq!(
                read(&spill, locs[id], id as u64).unwrap(),
                block(id as u64, 200)
            );
        }
        assert_eq!(spill.counts().reads, 3);
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn a_truncated_file_is_corrupt() {
        let spill = Spill::open(&config(4096, 4)).unwrap();
        let locs: Vec<_> = (0..3)
            .map(|id| spill.write(id, &block(id, 300), &mut Vec::new()).unwrap())
            .collect();
        spill.flush().unwrap();
        let file = OpenOptions::new().write(true).open(spill.path()).unwrap();
        file.set_len(u64::from(locs[1].offset) + 10).unwrap();
        assert_eq!(read(&spill, locs[0], 0).unwrap(), block(0, 300));
        for id in [1, 2] {
            assert!(matches!(
                read(&spill, locs[id], id as u64),
                Err(SpillReadError::Corrupt)
            ));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and a writer thread")]
    fn a_failed_write_fails_every_later_write_and_flush() {
        let config = config(4096, 4);
        let (file, path) = create_file(&config.dir).unwrap();
        drop(file);
        // Positioned writes to a file opened for reading fail.
        let read_only = File::open(&path).unwrap();
        let spill = Spill::with_file(&config, read_only, path.clone()).unwrap();
        let loc = spill.write(1, &block(1, 100), &mut Vec::new()).unwrap();
        assert_eq!(read(&spill, loc, 1).unwrap(), block(1, 100));
        assert!(matches!(spill.flush(), Err(CacheError::Io { .. })));
        let refused = spill.write(2, &block(2, 100), &mut Vec::new());
        assert!(matches!(refused, Err(CacheError::Io { .. })));
        assert!(matches!(spill.flush(), Err(CacheError::Io { .. })));
        // The block never reached the file: corrupt, never wrong bytes.
        assert!(matches!(read(&spill, loc, 1), Err(SpillReadError::Corrupt)));
        let counts = spill.counts();
        assert_eq!(
            (counts.writes, counts.write_calls, counts.write_bytes),
            (1, 1, 0)
        );
        drop(spill);
        assert!(!path.exists());
    }

    #[test]
    #[cfg_attr(miri, ignore = "files and writer threads")]
    fn concurrent_writers_and_readers_round_trip() {
        for threads in [2, 4] {
            // Small enough to recycle: stale reads are misses, never wrong.
            let spill = Spill::open(&config(4096, 8)).unwrap();
            let written = Mutex::new(Vec::new());
            let recycled_ids = Mutex::new(Vec::new());
            thread::scope(|s| {
                for t in 0..threads {
                    let (spill, written, recycled_ids) = (&spill, &written, &recycled_ids);
                    s.spawn(move || {
                        let mut recycled = Vec::new();
                        let mut out = Vec::new();
                        for i in 0..200u64 {
                            let id = i * threads + t;
                            let len = 1 + (id as usize * 53) % 700;
                            let loc = spill.write(id, &block(id, len), &mut recycled).unwrap();
                            lock(written).push((id, len, loc));
                            let (other, other_len, other_loc) = {
                                let written = lock(written);
                                written[(id as usize * 7919) % written.len()]
                            };
                            match spill.read(other_loc, other, &mut out) {
                                Ok(()) => assert_eq!(out, block(other, other_len)),
                                Err(SpillReadError::Stale) => {}
                                Err(e) => panic!("block {other}: {e:?}"),
                            }
                        }
                        lock(recycled_ids).extend(recycled);
                    });
                }
            });
            spill.flush().unwrap();
            let written = written.into_inner().unwrap();
            let recycled: std::collections::HashSet<u64> =
                recycled_ids.into_inner().unwrap().into_iter().collect();
            let mut live = 0;
            for &(id, len, loc) in &written {
                match read(&spill, loc, id) {
                    Ok(bytes) => {
                        assert!(!recycled.contains(&id), "{id} recycled but readable");
                        assert_eq!(bytes, block(id, len));
                        live += 1;
                    }
                    Err(SpillReadError::Stale) => assert!(recycled.contains(&id), "{id} lost"),
                    Err(e) => panic!("block {id}: {e:?}"),
                }
            }
            let counts = spill.counts();
            assert_eq!(counts.blocks, live);
            assert_eq!(counts.writes, 200 * threads);
            assert_eq!(written.len() as u64, 200 * threads);
            assert!(counts.write_calls < counts.writes);
            assert_eq!(counts.queued_bytes, 0);
        }
    }
}
