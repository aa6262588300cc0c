//! Spreading on many threads at once, with memory from pools.
//!
//! A [`Spreader`] is a few bytes per node of workspace; allocating (and
//! zeroing) one per query costs more than the query on large graphs, and N
//! threads doing it at once serialise on the allocator. A
//! [`WorkspacePool`] keeps finished workspaces for the next query: each
//! worker thread takes one through its [`LocalPool`] (no shared memory
//! touched once warm) and gives it back when the query is done. Results an
//! engine keeps beyond the query can move into pooled 64-byte
//! [`ActivationRecord`]s with [`pool_results`].

use alloc::vec::Vec;

use super::{Activation, Spreader, SpreaderConfig};
use crate::layout::HopTier;
use crate::pool::{ActivationRecord, Growth, LocalPool, Pool, PoolConfig, Pooled};

/// A pool of spreading workspaces for one graph size ([`Spreader::pool`]).
pub type WorkspacePool = Pool<Spreader>;

impl Spreader {
    /// A pool of spreaders for graphs of `nodes` nodes, made on demand with
    /// `config`: one per query in flight (up to 1024), each allocated once.
    ///
    /// ```
    /// use axonal::graph::generate;
    /// use axonal::spread::{Seed, SpreadParams, Spreader, SpreaderConfig};
    ///
    /// let graph = generate::chain(100, 0.9);
    /// let workspaces = Spreader::pool(graph.node_count(), SpreaderConfig::for_nodes(100));
    /// std::thread::scope(|s| {
    ///     for t in 0..2u32 {
    ///         let (graph, workspaces) = (&graph, &workspaces);
    ///         s.spawn(move || {
    ///             let local = workspaces.local();
    ///             let mut results = Vec::with_capacity(16);
    ///             for q in 0..10 {
    ///                 let mut spreader = local.acquire();
    ///                 let seeds = [Seed::new(t * 10 + q, 1.0)];
    ///                 spreader.spread(graph, &seeds, &SpreadParams::default(), &mut results).unwrap();
    ///                 assert_eq!(results[0].node, t * 10 + q);
    ///             }
    ///         });
    ///     }
    /// });
    /// // Twenty queries on two threads: one or two workspaces, never twenty.
    /// assert!(workspaces.metrics().records <= 2);
    /// ```
    pub fn pool(nodes: usize, config: SpreaderConfig) -> WorkspacePool {
        let pool_config = PoolConfig {
            // Workspaces are large: allocate them one at a time, cache two per
            // thread (the one in use comes back before the next is taken).
            chunk_len: 1,
            magazine: 2,
            growth: Growth::Grow,
            max_records: 1 << 10,
        };
        Pool::new(pool_config, move || Spreader::with_config(nodes, config))
            .expect("the workspace pool configuration is valid")
    }
}

impl Activation {
    /// This result as an activation record of query `query`.
    pub fn to_record(&self, query: u64) -> ActivationRecord {
        ActivationRecord {
            node: self.node,
            activation: self.activation,
            confidence: self.confidence,
            query,
            hop: self.hop,
            tier: HopTier::of_hop(self.hop) as u8,
            ..ActivationRecord::default()
        }
    }
}

/// Copies `results` of query `query` into records taken from `local`,
/// appended to `out`. Returns how many were copied: fewer than
/// `results.len()` only if the pool is bounded and full (back-pressure).
/// Allocates nothing once `out` has the capacity and the pool is warm.
pub fn pool_results<'l>(
    results: &[Activation],
    query: u64,
    local: &'l LocalPool<'_, ActivationRecord>,
    out: &mut Vec<Pooled<'l, ActivationRecord>>,
) -> usize {
    for (copied, result) in results.iter().enumerate() {
        let Some(mut record) = local.try_acquire() else {
            return copied;
        };
        *record = result.to_record(query);
        out.push(record);
    }
    results.len()
}
