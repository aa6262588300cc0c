//! [`Spread`]: the one interface engines write their code against.
//!
//! Every backend runs the same contract through the same hop driver, so an
//! engine should not care which one it holds: it picks [`Spreader`](super::Spreader) for
//! small queries, [`ParallelSpreader`](super::ParallelSpreader) for one
//! large query over every core, [`MultiSpreader`](super::MultiSpreader)
//! where queries share work, and the coming out-of-core, GPU and distributed
//! backends, all behind `Spread` (as a generic bound or a `Box<dyn Spread>`).
//! Wrappers such as [`DeadlineSpreader`](crate::batch::DeadlineSpreader)
//! work over any of them.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::SpreadError;
use super::params::SpreadParams;
use super::query::{Activation, HopPlan, Seed, SpreadStats};
use crate::graph::GraphView;

/// A spreading backend: runs one query at a time on graphs of one size,
/// with results bit-identical to [`Spreader`](super::Spreader)'s, whatever
/// the backend.
///
/// The methods take a [`GraphView`] (`graph.view()`) and a `dyn` gate so
/// that the trait is object-safe; the backends' own inherent methods of the
/// same names take `impl Into<GraphView>` and a generic gate.
///
/// ```
/// use axonal::graph::generate;
/// use axonal::spread::{MultiSpreader, Seed, Spread, SpreadParams, Spreader};
///
/// /// Engine code: any backend will do.
/// fn recall(backend: &mut dyn Spread, graph: &axonal::graph::Graph) -> Vec<u32> {
///     let mut results = Vec::new();
///     let seeds = [Seed::new(0, 1.0)];
///     backend.spread(graph.view(), &seeds, &SpreadParams::default(), &mut results).unwrap();
///     results.iter().map(|r| r.node).collect()
/// }
///
/// let graph = generate::barabasi_albert(1_000, 3, 7);
/// let mut single = Spreader::new(graph.node_count());
/// let mut batch = MultiSpreader::new(graph.node_count(), 8)?;
/// assert_eq!(recall(&mut single, &graph), recall(&mut batch, &graph));
/// # Ok::<(), axonal::spread::SpreadError>(())
/// ```
pub trait Spread {
    /// Nodes of the graphs this backend serves.
    fn node_count(&self) -> usize;

    /// Bytes of workspace held.
    fn memory_bytes(&self) -> usize;

    /// Runs one query and writes its ranked results into `results` (cleared
    /// first), asking `gate` before every hop whether it runs: once it says
    /// no, the query stops there and ranks what it has
    /// ([`SpreadStats::truncated`]). Errors (bad seeds or parameters, a
    /// graph of another size) are reported before anything changes.
    fn spread_gated(
        &mut self,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
        gate: &mut dyn FnMut(&HopPlan) -> bool,
    ) -> Result<SpreadStats, SpreadError>;

    /// [`spread_gated`](Spread::spread_gated) with every hop allowed.
    fn spread(
        &mut self,
        graph: GraphView<'_>,
        seeds: &[Seed],
        params: &SpreadParams,
        results: &mut Vec<Activation>,
    ) -> Result<SpreadStats, SpreadError> {
        self.spread_gated(graph, seeds, params, results, &mut |_| true)
    }

    /// Activation of `node` after the last query (0 if not reached or out
    /// of range).
    fn activation(&self, node: u32) -> f32;

    /// The hop at which `node` was first reached in the last query.
    fn hop_of(&self, node: u32) -> Option<u8>;

    /// Activation of every node after the last query, by node id (a new
    /// vector: for inspection, not the hot path).
    fn activations(&self) -> Vec<f32>;
}

/// Implements [`Spread`] for a type by calling the methods of the same
/// names on `$target` (an expression of `$this`, which is `self`): a
/// backend's inherent methods (`(*this)`: inherent methods take precedence),
/// or a pointer's pointee (`(**this)`).
macro_rules! spread_through {
    ($ty:ty, |$this:ident| $target:expr) => {
        $crate::spread::interface::spread_through!(impl[] $ty, |$this| $target);
    };
    (impl[$($generics:tt)*] $ty:ty, |$this:ident| $target:expr) => {
        impl<$($generics)*> $crate::spread::Spread for $ty {
            fn node_count(&self) -> usize {
                let $this = self;
                $target.node_count()
            }

            fn memory_bytes(&self) -> usize {
                let $this = self;
                $target.memory_bytes()
            }

            fn spread_gated(
                &mut self,
                graph: $crate::graph::GraphView<'_>,
                seeds: &[$crate::spread::Seed],
                params: &$crate::spread::SpreadParams,
                results: &mut alloc::vec::Vec<$crate::spread::Activation>,
                gate: &mut dyn FnMut(&$crate::spread::HopPlan) -> bool,
            ) -> Result<$crate::spread::SpreadStats, $crate::spread::SpreadError> {
                let $this = self;
                $target.spread_gated(graph, seeds, params, results, gate)
            }

            fn activation(&self, node: u32) -> f32 {
                let $this = self;
                $target.activation(node)
            }

            fn hop_of(&self, node: u32) -> Option<u8> {
                let $this = self;
                $target.hop_of(node)
            }

            fn activations(&self) -> alloc::vec::Vec<f32> {
                let $this = self;
                $target.activations()
            }
        }
    };
}
pub(crate) use spread_through;

// A borrowed or boxed backend is a backend: engines hold `Box<dyn Spread>`,
// wrappers take `&mut S`.
spread_through!(impl[S: Spread + ?Sized] &mut S, |this| (**this));
spread_through!(impl[S: Spread + ?Sized] Box<S>, |this| (**this));
