//! Per-node state of a query over one range of node ids.
//!
//! The single-threaded [`Spreader`](super::Spreader) keeps one [`NodeState`]
//! over every node; the parallel one keeps one per worker over that worker's
//! range, so that each worker writes only memory it owns. The code that
//! applies a hop's incoming activation ([`NodeState::settle`]) is this one
//! piece, whichever kernel runs.

use alloc::vec::Vec;

use super::accumulator::Accumulate;
use super::fixed::apply;
use super::list::NodeList;
use super::pull::saturate;

/// A frontier node and the activation it newly gained (and now spreads).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrontierEntry {
    pub(crate) node: u32,
    pub(crate) delta: f32,
}

/// `hop` value of a node not reached.
pub(crate) const UNREACHED: u8 = u8::MAX;

/// A node's activation and the fixed-point sum pending for it this hop,
/// side by side: a push hop touches one cache line per node, not two.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(8))]
pub(crate) struct NodeCell {
    pub(crate) activation: f32,
    pub(crate) pending: u32,
}

/// What the current hop is doing, for [`NodeState::settle`].
#[derive(Clone, Copy)]
pub(crate) struct Hop {
    pub(crate) index: u8,
    pub(crate) spreads_on: bool,
    pub(crate) threshold: f32,
}

/// The state of nodes `base..base + len` for the current query; also the
/// dense push accumulator for them.
///
/// A node is reached exactly when its activation is positive, so the hop
/// array is written once per node and never read on the hot path.
pub(crate) struct NodeState {
    base: u32,
    cells: Vec<NodeCell>,
    hop: Vec<u8>,
    /// Nodes reached, in the order reached. Their `hop` entries are written
    /// once per hop in a separate pass (`record_hops`).
    pub(crate) activated: NodeList<u32>,
    /// Dense push: the nodes whose `pending` is non-zero.
    touched: NodeList<u32>,
}

impl Accumulate for NodeState {
    /// Branch-free: whether a node is new depends on a load that often misses
    /// cache, and a mispredicted branch on it would serialise the scattered
    /// updates. The id is always written; the list grows only for new nodes.
    #[inline(always)]
    fn add(&mut self, node: u32, units: u32) {
        let cell = &mut self.cells[(node - self.base) as usize];
        let is_new = (cell.pending == 0) & (units != 0);
        cell.pending = cell.pending.saturating_add(units);
        self.touched.push_if(node, is_new);
    }

    #[inline(always)]
    fn prefetch(&self, node: u32) {
        crate::hint::prefetch(&self.cells, node.wrapping_sub(self.base) as usize);
    }
}

impl NodeState {
    /// State for nodes `base..base + len`, all unreached.
    #[cfg(feature = "parallel")]
    pub(crate) fn new(base: u32, len: usize) -> NodeState {
        NodeState::with_reach(base, len, len)
    }

    /// State for nodes `base..base + len`, all unreached, whose lists have
    /// room for `reach` of them (see [`grow_lists`](Self::grow_lists)).
    pub(crate) fn with_reach(base: u32, len: usize, reach: usize) -> NodeState {
        NodeState {
            base,
            cells: alloc::vec![NodeCell::default(); len],
            hop: alloc::vec![UNREACHED; len],
            activated: NodeList::with_capacity(reach),
            touched: NodeList::with_capacity(reach),
        }
    }

    /// Makes room in the lists for `reach` nodes in all.
    #[cfg(feature = "cache")]
    pub(crate) fn grow_lists(&mut self, reach: usize) {
        self.activated.grow(reach);
        self.touched.grow(reach);
    }

    /// The first node id covered.
    #[cfg(feature = "parallel")]
    pub(crate) fn base(&self) -> u32 {
        self.base
    }

    /// Number of nodes covered.
    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.cells.len() * core::mem::size_of::<NodeCell>()
            + self.hop.len()
            + self.activated.memory_bytes()
            + self.touched.memory_bytes()
    }

    /// `node`'s activation (`node` must be covered).
    #[inline(always)]
    pub(crate) fn activation(&self, node: u32) -> f32 {
        self.cells[(node - self.base) as usize].activation
    }

    /// The hop at which `node` was first reached (`UNREACHED` if not).
    #[inline(always)]
    pub(crate) fn hop(&self, node: u32) -> u8 {
        self.hop[(node - self.base) as usize]
    }

    /// Activations of every covered node, by id.
    pub(crate) fn activations(&self) -> impl ExactSizeIterator<Item = f32> + '_ {
        self.cells.iter().map(|c| c.activation)
    }

    /// Clears the previous query's state: sparsely when it touched few nodes.
    pub(crate) fn reset(&mut self) {
        if self.activated.len() > self.cells.len() / 16 {
            self.cells.fill(NodeCell::default());
            self.hop.fill(UNREACHED);
        } else {
            for &v in &self.activated {
                let i = (v - self.base) as usize;
                self.cells[i].activation = 0.0;
                self.hop[i] = UNREACHED;
            }
        }
        self.activated.clear();
    }

    /// Adds a seed's activation (capped at 1); a newly reached seed is at hop 0.
    pub(crate) fn seed(&mut self, node: u32, activation: f32) {
        let i = (node - self.base) as usize;
        let cell = &mut self.cells[i];
        let reached = cell.activation > 0.0;
        cell.activation = (cell.activation + activation).min(1.0);
        if !reached && cell.activation > 0.0 {
            self.hop[i] = 0;
            self.activated.push(node);
        }
    }

    /// Puts every reached seed with activation at least `threshold` on the
    /// first frontier.
    pub(crate) fn seed_frontier(&self, frontier: &mut NodeList<FrontierEntry>, threshold: f32) {
        for &v in &self.activated {
            let a = self.activation(v);
            if a >= threshold {
                frontier.push(FrontierEntry { node: v, delta: a });
            }
        }
    }

    /// Applies `units` of incoming activation to `v`; if `v` gained at least
    /// the threshold, it spreads next hop. Branch-free (see [`NodeList`]).
    #[inline(always)]
    pub(crate) fn settle(
        &mut self,
        next: &mut NodeList<FrontierEntry>,
        hop: Hop,
        v: u32,
        units: u32,
    ) {
        let cell = &mut self.cells[(v - self.base) as usize];
        let current = cell.activation;
        let new = apply(current, units);
        let gained = new - current;
        cell.activation = new;
        self.activated.push_if(v, (current == 0.0) & (gained > 0.0));
        next.push_if(
            FrontierEntry {
                node: v,
                delta: gained,
            },
            hop.spreads_on & (gained > 0.0) & (gained >= hop.threshold),
        );
    }

    /// [`settle`](Self::settle) as a pull hop's callback (its sums are
    /// `u64`, saturated to `u32` units). Always inlined: a closure does not
    /// inherit the pull kernel's target features, and left to the compiler
    /// this one was called once per node (`rmat20_query_wide` 15% slower).
    #[inline(always)]
    pub(crate) fn pull_settler<'a>(
        &'a mut self,
        next: &'a mut NodeList<FrontierEntry>,
        hop: Hop,
    ) -> impl FnMut(u32, u64) + 'a {
        #[inline(always)]
        move |v, units| self.settle(next, hop, v, saturate(units))
    }

    /// Settles every node the dense accumulator touched.
    pub(crate) fn drain_dense(&mut self, next: &mut NodeList<FrontierEntry>, hop: Hop) {
        for i in 0..self.touched.len() {
            let v = self.touched[i];
            let units = core::mem::take(&mut self.cells[(v - self.base) as usize].pending);
            self.settle(next, hop, v, units);
        }
        self.touched.clear();
    }

    /// Drops what the dense accumulator holds (a push that did not finish).
    pub(crate) fn discard_pending(&mut self) {
        for i in 0..self.touched.len() {
            let v = self.touched[i];
            self.cells[(v - self.base) as usize].pending = 0;
        }
        self.touched.clear();
    }

    /// Writes `hop` for the nodes first reached since `activated[..from]`.
    pub(crate) fn record_hops(&mut self, from: usize, hop: u8) {
        for &v in &self.activated[from..] {
            self.hop[(v - self.base) as usize] = hop;
        }
    }

    /// Appends the rank key ([`rank_key`]) of every reached node with
    /// activation at least `min_activation`.
    pub(crate) fn rank_keys(&self, min_activation: f32, keys: &mut Vec<u64>) {
        keys.extend(self.activated.iter().filter_map(|&v| {
            let activation = self.activation(v);
            (activation >= min_activation).then(|| rank_key(v, activation))
        }));
    }
}

/// A key whose ascending order is [`Activation::rank`](super::Activation::rank)'s:
/// the activation's bits inverted (a positive `f32` orders like its bits),
/// then the node id. Sorting plain integers instead of comparing structs field
/// by field keeps ranking cheap when a query reaches thousands of nodes.
#[inline(always)]
pub(crate) fn rank_key(node: u32, activation: f32) -> u64 {
    debug_assert!(activation > 0.0);
    (u64::from(!activation.to_bits()) << 32) | u64::from(node)
}

/// The node of a [`rank_key`].
#[inline(always)]
pub(crate) fn key_node(key: u64) -> u32 {
    key as u32
}

/// Keeps the `k` smallest keys of `keys` (the top `k` results), sorted.
pub(crate) fn top_keys(keys: &mut Vec<u64>, k: usize) {
    let k = k.min(keys.len());
    if k == 0 {
        keys.clear();
        return;
    }
    if k < keys.len() {
        keys.select_nth_unstable(k - 1);
        keys.truncate(k);
    }
    keys.sort_unstable();
}
