//! The 64-byte activation record and its pool.

use static_assertions::const_assert_eq;

use super::Pool;

/// One node's activation in one query, on a cache line of its own: the
/// sparse form of a query's state (engines that keep per-query results, or
/// spread over graphs too large for a dense workspace, hold these).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(64))]
pub struct ActivationRecord {
    /// The node.
    pub node: u32,
    /// Its activation, in `[0, 1]`.
    pub activation: f32,
    /// `activation` times the confidence of the hop's storage tier.
    pub confidence: f32,
    /// Fixed-point units (`2^-30`) received in the current hop, not yet applied.
    pub pending: u32,
    /// The query the record belongs to (the engine's numbering).
    pub query: u64,
    /// The hop at which the node was first reached.
    pub hop: u8,
    /// The [`HopTier`](crate::layout::HopTier) of `hop`, as its `u8` value.
    pub tier: u8,
    /// Engine-defined flags.
    pub flags: u16,
    /// Free for the engine's use (a generation counter, an owner tag, ...).
    pub user: u32,
}

const_assert_eq!(core::mem::size_of::<ActivationRecord>(), 64);
const_assert_eq!(core::mem::align_of::<ActivationRecord>(), 64);

/// The pool of [`ActivationRecord`]s: `ActivationRecordPool::with_default(config)`.
pub type ActivationRecordPool = Pool<ActivationRecord>;
