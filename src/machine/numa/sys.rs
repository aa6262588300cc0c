//! The system calls behind placement on Linux (`mmap`, `mbind`, `madvise`,
//! `get_mempolicy` in tests), kept apart so that every `unsafe` call into the
//! kernel is in one file; `sys_portable.rs` stands in for them elsewhere.

use core::ptr::NonNull;

use super::{NodeSet, NotApplied, Policy};

// Linux's `mempolicy.h` (not in the `libc` crate).
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_MF_MOVE: u64 = 1 << 1;
#[cfg(test)]
pub(super) const MPOL_F_NODE: u64 = 1;
#[cfg(test)]
pub(super) const MPOL_F_ADDR: u64 = 2;

pub(super) fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|&s| s > 0)
        .unwrap_or(4096)
}

/// A private, anonymous, zeroed read-write mapping of `bytes` (at least
/// one page); the `errno` if the kernel refuses.
pub(super) fn map(bytes: usize) -> Result<NonNull<u8>, i32> {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing aliases nothing.
    let ptr = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            bytes.max(1),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(errno());
    }
    NonNull::new(ptr.cast()).ok_or(0)
}

/// # Safety
/// `ptr` and `bytes` are a mapping `map(bytes)` returned, not used after.
pub(super) unsafe fn unmap(ptr: NonNull<u8>, bytes: usize) {
    // SAFETY: the caller passes a whole mapping of ours.
    unsafe { libc::munmap(ptr.as_ptr().cast(), bytes.max(1)) };
}

/// Advises transparent huge pages for the range; whether the kernel took it.
///
/// # Safety
/// `ptr..ptr + bytes` lies in one of our mappings.
pub(super) unsafe fn advise_huge_pages(ptr: NonNull<u8>, bytes: usize) -> bool {
    if cfg!(miri) {
        return false;
    }
    // SAFETY: the caller's range is ours; the advice changes no contents.
    unsafe { libc::madvise(ptr.as_ptr().cast(), bytes, libc::MADV_HUGEPAGE) == 0 }
}

/// `mbind` of the range (`ptr` page-aligned); with `move_pages`, pages
/// already placed elsewhere migrate (`MPOL_MF_MOVE`).
///
/// # Safety
/// `ptr..ptr + bytes` is mapped memory of this process.
pub(super) unsafe fn bind(
    ptr: NonNull<u8>,
    bytes: usize,
    policy: Policy,
    move_pages: bool,
) -> Result<(), NotApplied> {
    if cfg!(miri) {
        return Err(NotApplied::Unsupported);
    }
    let (mode, nodes) = match policy {
        Policy::Local => (MPOL_LOCAL, NodeSet::new()),
        Policy::Bind(n) => (MPOL_BIND, [n].into_iter().collect()),
        Policy::Preferred(n) => (MPOL_PREFERRED, [n].into_iter().collect()),
        Policy::Interleave(set) => (MPOL_INTERLEAVE, set),
    };
    let mask = if mode == MPOL_LOCAL {
        core::ptr::null()
    } else {
        nodes.bits.as_ptr()
    };
    let maxnode = if mode == MPOL_LOCAL {
        0
    } else {
        u64::from(NodeSet::CAPACITY) + 1
    };
    let flags = if move_pages { MPOL_MF_MOVE } else { 0 };
    // SAFETY: `mbind(addr, len, mode, nodemask, maxnode, flags)` on
    // mapped memory (the caller's contract); the mask holds `CAPACITY`
    // bits (the kernel reads `maxnode - 1` of them). It changes page
    // placement only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            ptr.as_ptr(),
            bytes as u64,
            mode as u64,
            mask,
            maxnode,
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(NotApplied::Refused(errno()))
    }
}

#[cfg(test)]
/// The policy mode of the page at `ptr` (`get_mempolicy` with
/// `MPOL_F_ADDR`), or with `MPOL_F_NODE` too, the node holding it.
pub(super) fn mempolicy(ptr: *const u8, flags: u64) -> Result<i32, i32> {
    let mut mode: i32 = 0;
    let mut mask = NodeSet::new();
    // SAFETY: `get_mempolicy(&mode, nodemask, maxnode, addr, flags)` only
    // writes `mode` and `CAPACITY` bits of the mask; `addr` is only looked
    // up, never dereferenced by us.
    let r = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut i32,
            mask.bits.as_mut_ptr(),
            u64::from(NodeSet::CAPACITY),
            ptr,
            flags,
        )
    };
    if r == 0 { Ok(mode) } else { Err(errno()) }
}

pub(super) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
