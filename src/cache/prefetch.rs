//! A background thread that loads blocks before the readers ask for them.
//!
//! A reader that misses waits for a read from the file; a reader whose
//! block was loaded while it worked on the previous one does not. The
//! spreading kernels know which blocks they will read next (a hop's
//! frontier, sorted by node, names its blocks before the first is read; a
//! pull hop reads every block in order; a query's seeds name the first
//! hops' blocks), so they hand those to a [`Prefetcher`], which loads them
//! into the cache on its own thread ([`BlockCache::prefetch`](super::BlockCache::prefetch)).
//!
//! What is queued and not yet loaded is bounded in bytes: a request past
//! the bound is not queued (the reader will load that block itself), so
//! the prefetcher never runs far ahead of the readers, and never fills the
//! cache with blocks that would push out the ones in use. Whether its
//! loads were used is counted by the cache
//! ([`CacheStats::prefetch`](super::CacheStats::prefetch)).

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use super::CacheError;
use super::error::io;

/// Requests waiting at most (beyond the byte bound).
const QUEUE: usize = 4096;

/// Loads what it is asked to on a thread of its own, within a bound on the
/// bytes asked for and not yet loaded.
pub(crate) struct Prefetcher<R: Send + 'static> {
    queue: Option<SyncSender<(R, usize)>>,
    outstanding: Arc<AtomicUsize>,
    limit: usize,
    thread: Option<JoinHandle<()>>,
}

impl<R: Send + 'static> Prefetcher<R> {
    /// Starts the thread: it calls `load` on every request, in order.
    pub(crate) fn start(
        limit: usize,
        mut load: impl FnMut(R) + Send + 'static,
    ) -> Result<Prefetcher<R>, CacheError> {
        let (queue, requests) = sync_channel::<(R, usize)>(QUEUE);
        let outstanding = Arc::new(AtomicUsize::new(0));
        let done = Arc::clone(&outstanding);
        let thread = std::thread::Builder::new()
            .name("axonal-prefetch".into())
            .spawn(move || {
                for (request, bytes) in requests {
                    load(request);
                    done.fetch_sub(bytes, Relaxed);
                }
            })
            .map_err(io("starting the prefetch thread"))?;
        Ok(Prefetcher {
            queue: Some(queue),
            outstanding,
            limit,
            thread: Some(thread),
        })
    }

    /// Queues `request`, which will load about `bytes`, unless that would
    /// put more than the bound in flight. Returns whether it was queued.
    pub(crate) fn issue(&self, request: R, bytes: usize) -> bool {
        let in_flight = self.outstanding.fetch_add(bytes, Relaxed);
        let queued = in_flight + bytes <= self.limit
            && match self.queue.as_ref().map(|q| q.try_send((request, bytes))) {
                Some(Ok(())) => true,
                Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => false,
            };
        if !queued {
            self.outstanding.fetch_sub(bytes, Relaxed);
        }
        queued
    }

    /// The bound on bytes asked for and not yet loaded.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes asked for and not yet loaded.
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Relaxed)
    }
}

impl<R: Send + 'static> Drop for Prefetcher<R> {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has drained it.
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn requests_are_loaded_in_order_within_the_bound() {
        let loaded = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let (l, g) = (Arc::clone(&loaded), Arc::clone(&gate));
        let prefetcher = Prefetcher::start(100, move |r: u32| {
            drop(g.lock().unwrap());
            l.lock().unwrap().push(r);
        })
        .unwrap();
        // The thread waits on the gate with request 1 taken: 1 to 3 fit
        // the bound of 100 bytes, 4 does not.
        assert!(prefetcher.issue(1, 40));
        assert!(prefetcher.issue(2, 40));
        assert!(!prefetcher.issue(3, 40), "over the bound");
        assert!(prefetcher.issue(4, 20));
        assert_eq!(prefetcher.outstanding(), 100);
        drop(held);
        drop(prefetcher);
        assert_eq!(*loaded.lock().unwrap(), [1, 2, 4]);
    }
}
