//! `.axg` files on disk: crash-safe writing, memory-mapped and in-memory
//! opening (`std`).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::progress::{Phase, Progress, ProgressReport, check};
use super::{AxgFile, Contents, StoreError, Verify};
use crate::layout::AlignedBuf;

/// Bytes [`AxgStore::read_with`] reads between progress reports.
const READ_CHUNK: usize = 8 << 20;

pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::Io {
        path: path.display().to_string(),
        kind: e.kind(),
    }
}

/// Writes `contents` to `path` crash-safely: into a temporary file in the
/// same directory, flushed to disk, then renamed over `path`, and the
/// directory flushed. Until the rename, whatever was at `path` stays intact.
///
/// No temporary file is left behind by a write that fails, nor (on Linux)
/// by a process killed while writing: the file is written unnamed
/// (`O_TMPFILE`) and only linked into the directory, as
/// `.<file name>.tmp.<pid>`, once it is complete, just before the rename.
/// (A process killed between those two calls leaves that name; the next
/// write to the same path removes it once its process is gone. Elsewhere,
/// or on file systems without `O_TMPFILE`, the temporary file is named from
/// the start.)
pub fn write_file(path: impl AsRef<Path>, contents: &Contents<'_>) -> Result<(), StoreError> {
    write_file_with(path, contents, &mut ())
}

/// [`write_file`], reporting [`Phase::Write`] with the bytes written to
/// `progress` (about every MiB), which may cancel: then the temporary file
/// is removed and whatever was at `path` stays.
pub fn write_file_with(
    path: impl AsRef<Path>,
    contents: &Contents<'_>,
    progress: &mut dyn Progress,
) -> Result<(), StoreError> {
    let total = contents.file_len();
    write_atomically(path.as_ref(), |file, temp| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let (mut done, mut reported) = (0u64, 0u64);
        contents.encode(|piece| {
            out.write_all(piece).map_err(io(temp))?;
            done += piece.len() as u64;
            if done - reported >= 1 << 20 || done == total {
                reported = done;
                let report = ProgressReport::new(Phase::Write).bytes(done, Some(total));
                check(progress, report)?;
            }
            Ok(())
        })?;
        out.flush().map_err(io(temp))
    })
}

/// The crash-safe write of [`write_file`]: `fill` writes the whole file
/// (named `temp` in its errors), which is then flushed, named and renamed
/// over `path`, and the directory flushed.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
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
    let prefix = format!(".{name}.tmp.");
    remove_stale_temporaries(&dir, &prefix);
    let temp = dir.join(format!("{prefix}{}", std::process::id()));
    let written = write_temporary(&dir, &temp, fill).and_then(|()| {
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

/// Writes the file through `fill`, flushes it to disk and gives it the
/// name `temp`.
fn write_temporary(
    dir: &Path,
    temp: &Path,
    fill: impl FnOnce(&mut File, &Path) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let (mut file, unnamed) = match unnamed_file(dir) {
        Some(file) => (file, true),
        None => {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(temp)
                .map_err(io(temp))?;
            (file, false)
        }
    };
    fill(&mut file, temp)?;
    file.sync_all().map_err(io(temp))?;
    if unnamed {
        // The name carries this process's id: a file there is this
        // process's, left by an earlier failed attempt.
        let _ = fs::remove_file(temp);
        link(&file, temp).map_err(io(temp))?;
    }
    Ok(())
}

/// A new file in `dir` with no name (Linux `O_TMPFILE`): it vanishes if the
/// process dies before [`link`] names it. `None` where unsupported.
#[cfg(target_os = "linux")]
fn unnamed_file(dir: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o644)
        .open(dir)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn unnamed_file(_dir: &Path) -> Option<File> {
    None
}

/// Gives the unnamed `file` the name `at`.
#[cfg(target_os = "linux")]
fn link(file: &File, at: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(at.as_os_str().as_bytes())?;
    // SAFETY: both are NUL-terminated C strings that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn link(_file: &File, _at: &Path) -> std::io::Result<()> {
    unreachable!("only unnamed files are linked, and only Linux makes them")
}

/// Removes `dir/<prefix><pid>` files whose process is gone (left by a
/// writer killed between naming its file and the rename). Linux only,
/// where `/proc/<pid>` says whether a process lives.
fn remove_stale_temporaries(dir: &Path, prefix: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_file(entry.path());
        }
    }
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
        AxgStore::read_with(path, level, &mut ())
    }

    /// [`read`](AxgStore::read), reporting to `progress` ([`Phase::Read`]
    /// per 8 MiB read, then [`Phase::Verify`] as
    /// [`AxgFile::verify_with`] does), which may cancel it
    /// ([`StoreError::Cancelled`]; the memory is freed).
    pub fn read_with(
        path: impl AsRef<Path>,
        level: Verify,
        progress: &mut dyn Progress,
    ) -> Result<AxgStore, StoreError> {
        let path = path.as_ref();
        // Read straight into an aligned buffer (the views need alignment),
        // not through a second copy.
        let mut file = File::open(path).map_err(io(path))?;
        let len = file.metadata().map_err(io(path))?.len();
        let len = usize::try_from(len).map_err(|_| StoreError::Io {
            path: path.display().to_string(),
            kind: std::io::ErrorKind::OutOfMemory,
        })?;
        let mut bytes = AlignedBuf::<u8>::zeroed(len);
        let total = Some(len as u64);
        let mut done = 0;
        for chunk in bytes.chunks_mut(READ_CHUNK) {
            check(
                progress,
                ProgressReport::new(Phase::Read).bytes(done, total),
            )?;
            file.read_exact(chunk).map_err(io(path))?;
            done += chunk.len() as u64;
        }
        check(
            progress,
            ProgressReport::new(Phase::Read).bytes(done, total),
        )?;
        AxgStore::checked(Bytes::Owned(bytes), level, progress)
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
        // SAFETY: the caller upholds `map_with`'s contract, which is this
        // function's.
        unsafe { AxgStore::map_with(path, level, &mut ()) }
    }

    /// [`map`](AxgStore::map), reporting the verification to `progress`
    /// ([`Phase::Verify`], as [`AxgFile::verify_with`] does), which may
    /// cancel it ([`StoreError::Cancelled`]; the map is dropped).
    ///
    /// # Safety
    /// As for [`map`](AxgStore::map): the file must not be modified or
    /// truncated while the map lives.
    pub unsafe fn map_with(
        path: impl AsRef<Path>,
        level: Verify,
        progress: &mut dyn Progress,
    ) -> Result<AxgStore, StoreError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io(path))?;
        // SAFETY: the caller guarantees that the file is not modified or
        // truncated while mapped (this function's contract).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io(path))?;
        AxgStore::checked(Bytes::Mapped(map), level, progress)
    }

    fn checked(
        bytes: Bytes,
        level: Verify,
        progress: &mut dyn Progress,
    ) -> Result<AxgStore, StoreError> {
        let store = AxgStore {
            bytes,
            opened: level,
            structure: OnceLock::new(),
        };
        AxgFile::parse(store.bytes(), Verify::Header)?.verify_with(level, progress)?;
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
