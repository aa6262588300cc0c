//! Top-k on the device by radix select (`kernels/select.wgsl`), shared by
//! spreading's ranking and the similarity scans: each lane's unique 64-bit
//! keys (smallest first is best) in, exactly the `k` smallest out, in any
//! order, for the host to sort. Eight passes of one byte each, whatever
//! `k`: no sort of all candidates, and only `k` keys cross to the host.

use super::kernel::{Kernel, Launch, groups};
use super::memory::{Buffer, Recorder};

/// Records the select of `launch.k` keys of each lane from its
/// `RANK_COUNT` keys among at most `items`, into the output keys
/// (`OUT_COUNT` of them, which must start at 0).
pub(crate) fn record(r: &Recorder<'_>, launch: &Launch, histogram: &Buffer, items: usize) {
    r.fill(histogram, 0);
    for pass in 0..8 {
        let launch = Launch { pass, ..*launch };
        // A bounded number of workgroups: each merges its histogram into
        // the lane's with 256 atomics.
        r.dispatch(Kernel::SelectHistogram, &launch, groups(items).min(1024));
        r.dispatch(Kernel::SelectPick, &launch, 1);
    }
    r.dispatch(Kernel::SelectEmit, launch, groups(items));
}
