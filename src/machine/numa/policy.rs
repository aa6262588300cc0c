//! Placement: which nodes a buffer's pages go to ([`Policy`], [`NodeSet`]),
//! whether a policy is worth applying on a machine, and [`place_parts`],
//! which moves the pages of any slice part by part.

use core::fmt;
use core::ptr::NonNull;

use super::sys;
use crate::machine::topology::Topology;

/// Where a buffer's pages go.
///
/// Later versions may add policies, as Linux has more modes
/// (`#[non_exhaustive]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// On the node of the thread that first touches each page (the kernel's
    /// default; pair it with [`NumaBuffer::first_touch`](super::NumaBuffer::first_touch)).
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
    pub(super) bits: [u64; NodeSet::WORDS],
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

/// Whether `policy` is worth applying on `topology` and names its nodes.
pub(super) fn check(topology: &Topology, policy: Policy) -> Result<(), NotApplied> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::topology::TopologyBuilder;

    fn one_node() -> Topology {
        TopologyBuilder::new(1, 1, 2, 1).build()
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
}
