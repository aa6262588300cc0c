//! NUMA-placed buffers.
//!
//! On a machine with several NUMA nodes, memory on the far node costs about
//! 1.5-2x the latency and a fraction of the bandwidth. A spreading hop
//! streams the graph and writes per-node state, so each worker should find
//! its share of both on its own node. [`NumaBuffer`] is a zeroed array whose
//! pages follow a placement [`Policy`] (Linux `mbind`, through `libc`), with
//! transparent huge pages advised for large buffers (fewer TLB misses on the
//! random reads of a pull hop), and [`NumaBuffer::first_touch`] to have
//! pinned workers fault in their own parts (the kernel's default policy puts
//! a page on the node of the thread that first touches it).
//!
//! Placement is a performance hint, never a condition: on a one-node
//! machine, a kernel without NUMA, a platform without `mbind`, or without
//! permission, the buffer is still allocated and usable, and
//! [`NumaStats::applied`] says why the policy was not applied.
//!
//! ```
//! use axonal::numa::{NumaBuffer, Policy};
//!
//! let mut buf = NumaBuffer::<u32>::new(1 << 20, Policy::Interleave([0].into_iter().collect()))?;
//! buf[7] = 7;
//! assert_eq!(buf.iter().map(|&x| u64::from(x)).sum::<u64>(), 7);
//! // On a one-node machine: allocated, policy not applied.
//! println!("{:?}", buf.stats());
//! # Ok::<(), axonal::numa::NumaError>(())
//! ```

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::topology::Topology;

/// Where a buffer's pages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// On the node of the thread that first touches each page (the kernel's
    /// default; pair it with [`NumaBuffer::first_touch`]).
    Local,
    /// Only on this node.
    Bind(u32),
    /// Round-robin, page by page, over these nodes (bandwidth of all of them
    /// for data every worker reads).
    Interleave(NodeSet),
    /// On this node while it has free memory, elsewhere after.
    Preferred(u32),
}

/// A set of NUMA node ids (below [`NodeSet::CAPACITY`]).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSet {
    bits: [u64; NodeSet::WORDS],
}

impl NodeSet {
    const WORDS: usize = 16;
    /// Node ids this set can hold: `0..1024` (Linux's largest `MAX_NUMNODES`).
    pub const CAPACITY: u32 = 64 * NodeSet::WORDS as u32;

    /// The empty set.
    pub const fn new() -> NodeSet {
        NodeSet {
            bits: [0; NodeSet::WORDS],
        }
    }

    /// Adds `node`; false if it is not below [`NodeSet::CAPACITY`].
    pub fn insert(&mut self, node: u32) -> bool {
        if node >= NodeSet::CAPACITY {
            return false;
        }
        self.bits[node as usize / 64] |= 1 << (node % 64);
        true
    }

    /// Whether `node` is in the set.
    pub fn contains(&self, node: u32) -> bool {
        node < NodeSet::CAPACITY && self.bits[node as usize / 64] & (1 << (node % 64)) != 0
    }

    /// The nodes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..NodeSet::CAPACITY).filter(|&n| self.contains(n))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }
}

impl fmt::Debug for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<u32> for NodeSet {
    /// Ids at or above [`NodeSet::CAPACITY`] are dropped.
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> NodeSet {
        let mut s = NodeSet::new();
        for n in iter {
            s.insert(n);
        }
        s
    }
}

/// Why a placement policy was not applied (the buffer works regardless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotApplied {
    /// The machine has one NUMA node: there is nothing to place.
    SingleNode,
    /// The policy names a node the machine does not have (or none at all).
    UnknownNode(u32),
    /// This platform (or Miri) has no `mbind`.
    Unsupported,
    /// The kernel refused (`errno`: `ENOSYS` without NUMA support, `EPERM`
    /// in a sandbox, ...).
    Refused(i32),
    /// `mmap` failed, so the buffer is a plain heap allocation.
    NotMapped(i32),
    /// The workers to place memory for are not pinned, so have no node.
    UnpinnedWorkers,
}

/// What a [`NumaBuffer`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumaStats {
    /// The policy asked for.
    pub requested: Policy,
    /// `Ok` if the kernel placed the pages as asked; else why not.
    pub applied: Result<(), NotApplied>,
    /// Whether transparent huge pages were advised (`madvise`) and accepted.
    pub huge_pages: bool,
    /// Whether the memory is a private anonymous mapping (else heap).
    pub mapped: bool,
    /// Bytes reserved.
    pub bytes: usize,
}

/// Why a [`NumaBuffer`] could not be allocated at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NumaError {
    /// `len` elements do not fit the address space.
    TooLarge {
        /// Elements asked for.
        len: usize,
    },
    /// Neither `mmap` nor the heap had the memory.
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
}

impl fmt::Display for NumaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumaError::TooLarge { len } => write!(f, "a buffer of {len} elements is too large"),
            NumaError::OutOfMemory { bytes } => write!(f, "out of memory allocating {bytes} bytes"),
        }
    }
}

impl std::error::Error for NumaError {}

/// Buffers at least this large get transparent huge pages advised.
pub const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Alignment of a heap-backed buffer: a cache line.
const HEAP_ALIGN: usize = 64;

/// A fixed-length, zero-initialised array of `T` whose pages are placed by a
/// NUMA [`Policy`]. Dereferences to `[T]`.
pub struct NumaBuffer<T: bytemuck::Zeroable + Copy> {
    ptr: NonNull<T>,
    len: usize,
    stats: NumaStats,
    _owns: PhantomData<T>,
}

// SAFETY: a `NumaBuffer<T>` owns its elements like a `Box<[T]>` does.
unsafe impl<T: bytemuck::Zeroable + Copy + Send> Send for NumaBuffer<T> {}
// SAFETY: shared access only hands out `&[T]`.
unsafe impl<T: bytemuck::Zeroable + Copy + Sync> Sync for NumaBuffer<T> {}

impl<T: bytemuck::Zeroable + Copy> NumaBuffer<T> {
    /// `len` zeroed elements placed by `policy`, checked against this
    /// machine's [`Topology::detect`]. Huge pages are advised from
    /// [`HUGE_PAGE_BYTES`] up.
    pub fn new(len: usize, policy: Policy) -> Result<NumaBuffer<T>, NumaError> {
        NumaBuffer::on(&Topology::detect(), len, policy)
    }

    /// [`new`](NumaBuffer::new) for a given topology: its node list decides
    /// whether the policy is worth applying (one node: not applied) and which
    /// nodes exist.
    pub fn on(topology: &Topology, len: usize, policy: Policy) -> Result<NumaBuffer<T>, NumaError> {
        let bytes = len
            .checked_mul(core::mem::size_of::<T>())
            .filter(|&b| b <= isize::MAX as usize - HUGE_PAGE_BYTES)
            .ok_or(NumaError::TooLarge { len })?;
        // Mappings are page-aligned; a `T` aligned to more goes to the heap.
        let mapping = if core::mem::align_of::<T>() <= sys::page_size() {
            sys::map(bytes)
        } else {
            Err(0)
        };
        let (ptr, mapped) = match mapping {
            Ok(ptr) => (ptr, Ok(())),
            Err(errno) => (heap_alloc::<T>(bytes)?, Err(NotApplied::NotMapped(errno))),
        };
        let mut buf = NumaBuffer {
            ptr: ptr.cast(),
            len,
            stats: NumaStats {
                requested: policy,
                applied: mapped,
                huge_pages: false,
                mapped: mapped.is_ok(),
                bytes,
            },
            _owns: PhantomData,
        };
        if buf.stats.mapped {
            buf.stats.applied = check(topology, policy).and_then(|()| buf.apply(policy));
            if bytes >= HUGE_PAGE_BYTES {
                // SAFETY: the range is this buffer's own mapping.
                buf.stats.huge_pages = unsafe { sys::advise_huge_pages(buf.ptr.cast(), bytes) };
            }
        }
        Ok(buf)
    }

    /// Applies `policy` to the whole mapping, without checking the topology.
    fn apply(&mut self, policy: Policy) -> Result<(), NotApplied> {
        // SAFETY: the range is this buffer's own mapping (callers check
        // `mapped`); `mbind` changes placement only, never contents.
        unsafe { sys::bind(self.ptr.cast(), self.stats.bytes, policy, false) }
    }

    /// Binds part `p` of the buffer, elements `bounds[p]..bounds[p + 1]`, to
    /// `nodes[p]` ([`place_parts`]); updates [`NumaStats::applied`].
    ///
    /// # Panics
    /// As [`place_parts`].
    pub fn place_parts(&mut self, topology: &Topology, bounds: &[usize], nodes: &[u32]) {
        let result = place_parts(self, topology, bounds, nodes);
        if self.stats.mapped {
            self.stats.applied = result;
        }
    }

    /// What the buffer got.
    pub fn stats(&self) -> &NumaStats {
        &self.stats
    }
}

#[cfg(feature = "parallel")]
impl<T: bytemuck::Zeroable + Copy + Send + Sync> NumaBuffer<T> {
    /// Has worker `w` write `value` to elements `bounds[w]..bounds[w + 1]`,
    /// so that with [`Policy::Local`] each part's pages land on its worker's
    /// node (and are faulted in now, not in the first query).
    ///
    /// # Panics
    /// As [`Workers::run_split`](crate::workers::Workers::run_split).
    pub fn first_touch(&mut self, workers: &crate::workers::Workers, bounds: &[usize], value: T) {
        workers.run_split(self, bounds, |_, part| part.fill(value));
    }
}

/// Binds the pages of part `p` of `data`, elements `bounds[p]..bounds[p +
/// 1]`, to node `nodes[p]`, moving pages already placed elsewhere: how the
/// share of an array (CSR edges, per-node state) a worker reads goes to that
/// worker's node. Page-granular: a page shared by two parts goes with the
/// first, and partial pages at the ends of `data` (shared with other
/// memory) are left alone. Contents never change. On one node, unknown
/// nodes, or where the kernel refuses, says why and does nothing more.
///
/// # Panics
/// If `bounds` is not `nodes.len() + 1` non-decreasing offsets within `data`.
pub fn place_parts<T>(
    data: &[T],
    topology: &Topology,
    bounds: &[usize],
    nodes: &[u32],
) -> Result<(), NotApplied> {
    assert_eq!(bounds.len(), nodes.len() + 1, "one node per part");
    assert!(
        bounds.windows(2).all(|b| b[0] <= b[1]) && bounds.last().is_none_or(|&b| b <= data.len()),
        "bounds must split the data in order"
    );
    let (size, page) = (core::mem::size_of::<T>(), sys::page_size());
    let base = data.as_ptr() as usize;
    let whole_end = (base + core::mem::size_of_val(data)) / page * page;
    let mut placed_up_to = base.div_ceil(page) * page;
    let mut result = Ok(());
    for (p, &node) in nodes.iter().enumerate() {
        let start = ((base + bounds[p] * size).div_ceil(page) * page).max(placed_up_to);
        let end = ((base + bounds[p + 1] * size).div_ceil(page) * page).min(whole_end);
        if start >= end {
            continue;
        }
        placed_up_to = end;
        let policy = Policy::Bind(node);
        result = result.and(check(topology, policy).and_then(|()| {
            let start = NonNull::new(start as *mut u8).expect("inside a slice");
            // SAFETY: `start..end` is whole pages inside `data`, which is
            // mapped memory borrowed for this call; binding and moving pages
            // changes where they live, never their contents.
            unsafe { sys::bind(start, end - start.as_ptr() as usize, policy, true) }
        }));
    }
    result
}

/// A zeroed heap block of `bytes` (at least one byte), aligned to a cache
/// line or `T`, whichever is more.
fn heap_alloc<T>(bytes: usize) -> Result<NonNull<u8>, NumaError> {
    let layout = heap_layout::<T>(bytes).ok_or(NumaError::OutOfMemory { bytes })?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    NonNull::new(ptr).ok_or(NumaError::OutOfMemory { bytes })
}

fn heap_layout<T>(bytes: usize) -> Option<Layout> {
    Layout::from_size_align(bytes.max(1), HEAP_ALIGN.max(core::mem::align_of::<T>())).ok()
}

/// Whether `policy` is worth applying on `topology` and names its nodes.
fn check(topology: &Topology, policy: Policy) -> Result<(), NotApplied> {
    let known = |n: u32| topology.nodes().iter().any(|node| node.id == n);
    match policy {
        Policy::Bind(n) | Policy::Preferred(n) if !known(n) => Err(NotApplied::UnknownNode(n)),
        Policy::Interleave(set) => match set.iter().find(|&n| !known(n)) {
            Some(n) => Err(NotApplied::UnknownNode(n)),
            None if set.is_empty() => Err(NotApplied::UnknownNode(0)),
            None if topology.nodes().len() <= 1 => Err(NotApplied::SingleNode),
            None => Ok(()),
        },
        _ if topology.nodes().len() <= 1 => Err(NotApplied::SingleNode),
        _ => Ok(()),
    }
}

impl<T: bytemuck::Zeroable + Copy> Deref for NumaBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` elements, zero-initialised at allocation
        // (valid: `T: Zeroable`), aligned for `T` (mappings are page-aligned
        // and used only for `T` aligned to at most a page; heap blocks are
        // aligned to `T`), and owned by `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: bytemuck::Zeroable + Copy> DerefMut for NumaBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: bytemuck::Zeroable + Copy> Drop for NumaBuffer<T> {
    fn drop(&mut self) {
        // `T: Copy`: nothing to drop per element.
        let bytes = self.stats.bytes;
        if self.stats.mapped {
            // SAFETY: this is the mapping `sys::map(bytes)` returned, unmapped once.
            unsafe { sys::unmap(self.ptr.cast(), bytes) };
        } else if let Some(layout) = heap_layout::<T>(bytes) {
            // SAFETY: allocated by `heap_alloc::<T>(bytes)` with this same layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

impl<T: bytemuck::Zeroable + Copy + fmt::Debug> fmt::Debug for NumaBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NumaBuffer")
            .field("len", &self.len)
            .field("stats", &self.stats)
            .finish()
    }
}

/// The system calls, and their portable stand-ins.
#[cfg(target_os = "linux")]
mod sys {
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
}

/// Elsewhere: heap memory, no placement.
#[cfg(not(target_os = "linux"))]
mod sys {
    use core::ptr::NonNull;

    use super::{NotApplied, Policy};

    pub(super) fn page_size() -> usize {
        4096
    }
    pub(super) fn map(_bytes: usize) -> Result<NonNull<u8>, i32> {
        Err(0)
    }
    pub(super) unsafe fn unmap(_ptr: NonNull<u8>, _bytes: usize) {}
    pub(super) unsafe fn advise_huge_pages(_ptr: NonNull<u8>, _bytes: usize) -> bool {
        false
    }
    pub(super) unsafe fn bind(
        _ptr: NonNull<u8>,
        _bytes: usize,
        _policy: Policy,
        _move_pages: bool,
    ) -> Result<(), NotApplied> {
        Err(NotApplied::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::TopologyBuilder;

    fn one_node() -> Topology {
        TopologyBuilder::new(1, 1, 2, 1).build()
    }

    #[test]
    fn zeroed_writable_and_degrades_on_one_node() {
        for policy in [
            Policy::Local,
            Policy::Bind(0),
            Policy::Preferred(0),
            Policy::Interleave([0].into_iter().collect()),
        ] {
            let mut b = NumaBuffer::<u64>::on(&one_node(), 3000, policy).unwrap();
            assert_eq!(b.len(), 3000);
            assert!(b.iter().all(|&x| x == 0));
            b[2999] = 5;
            b[0] = 1;
            assert_eq!(b.iter().sum::<u64>(), 6);
            assert_eq!(b.stats().requested, policy);
            assert_eq!(b.stats().bytes, 24_000);
            if b.stats().mapped {
                assert_eq!(b.stats().applied, Err(NotApplied::SingleNode));
            }
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn linux_buffers_are_mappings() {
        // Also under Miri, which emulates anonymous mappings: the mmap path's
        // unsafe code is interpreted too.
        let b = NumaBuffer::<u16>::on(&one_node(), 5000, Policy::Local).unwrap();
        assert!(b.stats().mapped);
        assert_eq!(b.as_ptr() as usize % 4096, 0);
        assert!(
            !b.stats().huge_pages,
            "small buffers get no huge-page advice"
        );
    }

    #[test]
    fn heap_fallback_for_over_aligned_types() {
        #[derive(Clone, Copy)]
        #[repr(align(8192))]
        struct Page([u8; 8192]);
        // SAFETY: all-zero bytes are a valid `Page`.
        unsafe impl bytemuck::Zeroable for Page {}
        let mut b = NumaBuffer::<Page>::on(&one_node(), 3, Policy::Bind(0)).unwrap();
        assert!(!b.stats().mapped);
        assert!(matches!(b.stats().applied, Err(NotApplied::NotMapped(_))));
        assert_eq!(b.as_ptr() as usize % 8192, 0);
        b[2].0[8191] = 9;
        assert_eq!(
            b.iter()
                .map(|p| p.0.iter().map(|&x| u32::from(x)).sum::<u32>())
                .sum::<u32>(),
            9
        );
    }

    #[test]
    #[cfg(feature = "parallel")]
    fn first_touch_fills_each_workers_part() {
        let workers = crate::workers::Workers::unpinned(3).unwrap();
        let mut b = NumaBuffer::<u32>::on(&one_node(), 10, Policy::Local).unwrap();
        b.first_touch(&workers, &[0, 3, 3, 10], 7);
        assert!(b.iter().all(|&x| x == 7));
    }

    #[test]
    fn unknown_nodes_are_reported_not_errors() {
        let t = TopologyBuilder::new(1, 2, 1, 1).build();
        let b = NumaBuffer::<u8>::on(&t, 10, Policy::Bind(9)).unwrap();
        if b.stats().mapped {
            assert_eq!(b.stats().applied, Err(NotApplied::UnknownNode(9)));
        }
        let set: NodeSet = [0, 5].into_iter().collect();
        let b = NumaBuffer::<u8>::on(&t, 10, Policy::Interleave(set)).unwrap();
        if b.stats().mapped {
            assert_eq!(b.stats().applied, Err(NotApplied::UnknownNode(5)));
        }
    }

    #[test]
    fn empty_and_oversized_buffers() {
        let b = NumaBuffer::<u32>::on(&one_node(), 0, Policy::Local).unwrap();
        assert!(b.is_empty());
        assert!(matches!(
            NumaBuffer::<u64>::on(&one_node(), usize::MAX / 4, Policy::Local),
            Err(NumaError::TooLarge { .. })
        ));
    }

    #[test]
    fn node_sets() {
        let mut s = NodeSet::new();
        assert!(s.is_empty());
        assert!(s.insert(3) && s.insert(700) && !s.insert(NodeSet::CAPACITY));
        assert_eq!(s.iter().collect::<Vec<_>>(), [3, 700]);
        assert!(s.contains(700) && !s.contains(4) && !s.contains(u32::MAX));
        assert_eq!(format!("{s:?}"), "{3, 700}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "mbind and get_mempolicy are system calls")]
    #[cfg(target_os = "linux")]
    fn mbind_sets_the_policy_the_kernel_reports() {
        // This machine's node 0 exists on any Linux with NUMA support; apply
        // the policy without the one-node shortcut and read it back.
        let mut b = NumaBuffer::<u8>::on(&one_node(), 1 << 16, Policy::Local).unwrap();
        assert!(b.stats().mapped);
        match b.apply(Policy::Bind(0)) {
            Ok(()) => {
                let mode = sys::mempolicy(b.as_ptr(), sys::MPOL_F_ADDR).unwrap();
                assert_eq!(mode, 2, "MPOL_BIND");
                b[100] = 1;
                let node = sys::mempolicy(b[100..].as_ptr(), sys::MPOL_F_ADDR | sys::MPOL_F_NODE);
                assert_eq!(node, Ok(0), "the touched page is on node 0");
            }
            // Kernels without NUMA (ENOSYS) or sandboxes (EPERM): reported.
            Err(NotApplied::Refused(errno)) => eprintln!("mbind refused here: errno {errno}"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "mbind and get_mempolicy are system calls")]
    #[cfg(target_os = "linux")]
    fn place_parts_moves_pages_of_any_slice() {
        let data: Vec<u64> = (0..100_000).collect();
        let bounds = [0, 40_000, 100_000];
        assert_eq!(
            place_parts(&data, &one_node(), &bounds, &[0, 0]),
            Err(NotApplied::SingleNode)
        );
        // A described second node this machine lacks: refused by the kernel
        // (or unknown), never a panic; the data is untouched.
        let two = TopologyBuilder::new(1, 2, 1, 1).build();
        assert!(place_parts(&data, &two, &bounds, &[0, 7]).is_err());
        match place_parts(&data, &two, &bounds, &[0, 0]) {
            Ok(()) => {
                let mode = sys::mempolicy(data[50_000..].as_ptr().cast(), sys::MPOL_F_ADDR);
                assert_eq!(mode, Ok(2), "MPOL_BIND");
            }
            Err(NotApplied::Refused(errno)) => eprintln!("mbind refused here: errno {errno}"),
            Err(other) => panic!("unexpected {other:?}"),
        }
        assert!(data.iter().enumerate().all(|(i, &x)| x == i as u64));
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads sysfs; mbind and get_mempolicy are system calls")]
    #[cfg(target_os = "linux")]
    fn pages_land_on_the_bound_node_where_there_are_several() {
        let t = Topology::detect();
        let nodes: Vec<u32> = t.nodes().iter().map(|n| n.id).collect();
        if nodes.len() < 2 {
            eprintln!("one NUMA node here: placement across nodes not checked");
            return;
        }
        let page = sys::page_size();
        let parts = nodes.len();
        let len = page * 4 * parts;
        let mut b = NumaBuffer::<u8>::on(&t, len, Policy::Local).unwrap();
        let bounds: Vec<usize> = (0..=parts).map(|p| p * len / parts).collect();
        b.place_parts(&t, &bounds, &nodes);
        assert_eq!(b.stats().applied, Ok(()));
        b.fill(1);
        for (p, &node) in nodes.iter().enumerate() {
            let got = sys::mempolicy(b[bounds[p]..].as_ptr(), sys::MPOL_F_ADDR | sys::MPOL_F_NODE);
            assert_eq!(got, Ok(node as i32), "part {p}");
        }
    }
}
