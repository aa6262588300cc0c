//! `.axg` files on disk: crash-safe writing, memory-mapped and in-memory
//! opening (`std`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{AxgFile, Contents, StoreError, Verify};
use crate::layout::AlignedBuf;

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Io {
        path: path.display().to_string(),
        kind: e.kind(),
    }
}

/// Writes `contents` to `path` crash-safely: into a temporary file in the
/// same directory, flushed to disk, then renamed over `path`, and the
/// directory flushed. Until the rename, whatever was at `path` stays intact;
/// if writing fails, the temporary file is removed.
///
/// (A process killed between creating the temporary file and the rename
/// leaves it behind, named `.<file name>.tmp.<pid>`; the previous file is
/// intact either way.)
pub fn write_file(path: impl AsRef<Path>, contents: &Contents<'_>) -> Result<(), StoreError> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or(StoreError::Io {
            path: path.display().to_string(),
            kind: std::io::ErrorKind::InvalidInput,
        })?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let written = write_new(&temp, contents).and_then(|()| {
        fs::rename(&temp, path).map_err(io(path))?;
        // The rename is durable once the directory is.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))
    });
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// Writes a new file at `temp` and flushes it to disk.
fn write_new(temp: &Path, contents: &Contents<'_>) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(io(temp))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    contents
        .encode(|piece| out.write_all(piece))
        .and_then(|()| out.flush())
        .map_err(io(temp))?;
    let file = out.into_inner().map_err(|e| io(temp)(e.into_error()))?;
    file.sync_all().map_err(io(temp))
}

/// The bytes of an opened file: a memory map, or a copy in memory.
#[derive(Debug)]
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(AlignedBuf<u8>),
}

/// An opened `.axg` file: its bytes (mapped or read into memory), checked
/// to the level asked for when opened; [`file`](AxgStore::file) checks the
/// structure once (if the opening did not) and hands out the zero-copy
/// views.
///
/// ```
/// use axonal::graph::generate;
/// use axonal::spread::{Seed, SpreadParams, Spreader};
/// use axonal::store::{self, AxgStore, Contents, Verify};
///
/// let graph = generate::barabasi_albert(1_000, 3, 7);
/// let path = std::env::temp_dir().join(format!("axonal-doc-{}.axg", std::process::id()));
/// store::write_file(&path, &Contents::new(&graph))?;
/// let stored = AxgStore::read(&path, Verify::Full)?;
/// let file = stored.file()?;
/// let view = file.graph().expect("verified");
/// let (mut a, mut b) = (Vec::new(), Vec::new());
/// let mut s = Spreader::new(graph.node_count());
/// s.spread(view, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut a)?;
/// s.spread(&graph, &[Seed::new(0, 1.0)], &SpreadParams::default(), &mut b)?;
/// assert_eq!(a, b);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AxgStore {
    bytes: Bytes,
    opened: Verify,
    /// The structure check's outcome, once it ran.
    structure: OnceLock<Result<(), StoreError>>,
}

impl AxgStore {
    /// Reads the file at `path` into memory and checks it to `level`. Safe
    /// whatever other processes do to the file afterwards.
    pub fn read(path: impl AsRef<Path>, level: Verify) -> Result<AxgStore, StoreError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(io(path))?;
        AxgStore::checked(Bytes::Owned(AlignedBuf::from_slice(&bytes)), level)
    }

    /// Maps the file at `path` (zero-copy: pages are read on first touch
    /// and shared with the page cache) and checks it to `level`:
    /// [`Verify::Header`] opens in O(1) and leaves the structure check to
    /// the first [`file`](AxgStore::file).
    ///
    /// # Safety
    /// The file must not be modified or truncated while the map lives. The
    /// checks run once: bytes changed afterwards by another process could
    /// break the bounds the kernels rely on, and a file truncated under the
    /// map makes the next read of a lost page raise `SIGBUS`. Callers who
    /// cannot rule that out use [`read`](AxgStore::read).
    pub unsafe fn map(path: impl AsRef<Path>, level: Verify) -> Result<AxgStore, StoreError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io(path))?;
        // SAFETY: the caller guarantees that the file is not modified or
        // truncated while mapped (this function's contract).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(path))?;
        AxgStore::checked(Bytes::Mapped(map), level)
    }

    fn checked(bytes: Bytes, level: Verify) -> Result<AxgStore, StoreError> {
        let store = AxgStore {
            bytes,
            opened: level,
            structure: OnceLock::new(),
        };
        AxgFile::parse(store.bytes(), level)?;
        if level >= Verify::Structure {
            let _ = store.structure.set(Ok(()));
        }
        Ok(store)
    }

    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(map) => map,
            Bytes::Owned(buf) => buf,
        }
    }

    /// Whether the bytes are a memory map (else a copy in memory).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_))
    }

    /// Bytes of the file.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether the file has no bytes (never, for an opened file).
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The parsed file: the graph, node records and id map, zero-copy.
    /// Checks the structure the first time if the opening did not (the
    /// kernels rely on it), and reports what it found every time.
    pub fn file(&self) -> Result<AxgFile<'_>, StoreError> {
        self.structure
            .get_or_init(|| AxgFile::parse(self.bytes(), Verify::Structure).map(|_| ()))
            .clone()?;
        Ok(AxgFile::trusted(
            self.bytes(),
            self.opened.max(Verify::Structure),
        ))
    }
}
