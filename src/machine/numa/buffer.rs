//! [`NumaBuffer`]: a zeroed array in its own anonymous mapping (or, where
//! there is none, on the heap), placed by a [`Policy`], with what it got
//! ([`NumaStats`]).

use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use super::policy::{check, place_parts};
use super::sys;
use super::{NotApplied, Policy};
use crate::machine::topology::Topology;

/// What a [`NumaBuffer`] got.
///
/// Later versions may add fields (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
impl<T: bytemuck::Zeroable + Copy + Send + Sync> NumaBuffer<T> {
    /// Has worker `w` write `value` to elements `bounds[w]..bounds[w + 1]`,
    /// so that with [`Policy::Local`] each part's pages land on its worker's
    /// node (and are faulted in now, not in the first query).
    ///
    /// # Panics
    /// As [`Workers::run_split`](crate::machine::workers::Workers::run_split).
    pub fn first_touch(
        &mut self,
        workers: &crate::machine::workers::Workers,
        bounds: &[usize],
        value: T,
    ) {
        workers.run_split(self, bounds, |_, part| part.fill(value));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::numa::NodeSet;
    use crate::machine::topology::TopologyBuilder;

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
        let workers = crate::machine::workers::Workers::unpinned(3).unwrap();
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
