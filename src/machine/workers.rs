//! Pinned worker threads for the parallel kernels.
//!
//! A parallel spreading query runs a handful of phases per hop, each split
//! over every worker by node range. Two things matter for that and a general
//! work-stealing pool gives neither: worker `w` must always be the same thread
//! on the same core (so it keeps its share of the graph in its caches and on
//! its NUMA node), and starting a phase must not allocate (queries are
//! allocation-free). [`Workers`] is that pool: `threads` OS threads, each
//! pinned to one CPU with `core_affinity` (one per core first, NUMA node by
//! NUMA node, SMT siblings only after every core has a worker), and
//! [`Workers::run`], which calls `f(w)` once on worker `w` for every `w` and
//! returns when all are done.
//!
//! Results never depend on which thread ran what: the kernels split work by
//! fixed ranges and sum in fixed point, so pinning is a matter of speed only.
//! Where pinning is not allowed (a CPU outside the process's affinity mask, a
//! platform without it), a worker runs unpinned and [`Workers::pinned`]
//! says so.
//!
//! ```
//! use axonal::machine::workers::Workers;
//!
//! let workers = Workers::new(3)?;
//! let mut squares = [0u64; 6];
//! // Worker w gets squares[bounds[w]..bounds[w + 1]].
//! workers.run_split(&mut squares, &[0, 2, 4, 6], |w, part| {
//!     for (i, x) in part.iter_mut().enumerate() {
//!         let n = (2 * w + i) as u64;
//!         *x = n * n;
//!     }
//! });
//! assert_eq!(squares, [0, 1, 4, 9, 16, 25]);
//! # Ok::<(), axonal::machine::workers::WorkersError>(())
//! ```

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::machine::topology::Topology;

/// Why a worker pool could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum WorkersError {
    /// Zero threads were asked for.
    NoThreads,
    /// The OS refused to start a thread.
    Spawn(std::io::Error),
}

impl fmt::Display for WorkersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkersError::NoThreads => f.write_str("a worker pool needs at least one thread"),
            WorkersError::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
        }
    }
}

impl std::error::Error for WorkersError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WorkersError::Spawn(e) => Some(e),
            WorkersError::NoThreads => None,
        }
    }
}

/// A pool of pinned worker threads. Cloning it is cheap and shares the
/// threads; they stop when the last clone is dropped.
#[derive(Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

impl fmt::Debug for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads())
            .field("cpus", &self.inner.cpus)
            .field("pinned", &self.pinned())
            .finish()
    }
}

struct Inner {
    shared: Arc<Shared>,
    /// The CPU each worker was asked to run on (`None`: unpinned).
    cpus: Vec<Option<u32>>,
    /// The NUMA node of each worker's CPU, where known.
    nodes: Vec<Option<u32>>,
    handles: Vec<JoinHandle<()>>,
    /// One `run` at a time: the job slot is single.
    running: Mutex<()>,
}

/// A job as the workers see it: `f(w)` with its lifetime erased. Only
/// [`Workers::run`] creates one, and it waits until every worker is done with
/// it before the borrowed closure can go away.
type JobRef = *const (dyn Fn(usize) + Sync + 'static);

/// What the caller and the workers share.
struct Shared {
    threads: usize,
    /// Bumped once per job (and once at shutdown). A worker runs the job when
    /// it sees a value it has not run yet.
    epoch: AtomicU64,
    /// The current job. Written only by `run` (holding `Inner::running`)
    /// while no worker reads it: before the `epoch` store that publishes it,
    /// after `remaining` reached zero.
    job: UnsafeCell<Option<JobRef>>,
    /// Workers that have not finished the current job.
    remaining: AtomicUsize,
    shutdown: AtomicBool,
    /// The first panic of the current job, re-raised by `run`.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Idle workers sleep here.
    sleep: Mutex<()>,
    wake: Condvar,
    /// The caller sleeps here until `remaining` is zero.
    done_lock: Mutex<()>,
    done: Condvar,
    pinned: AtomicUsize,
    started: AtomicUsize,
}

// SAFETY: `job` is the only field that is not `Sync` by itself. It is written
// by one thread at a time (`run` holds `Inner::running`) only while no worker
// reads it, and every read happens after the `epoch` load (Acquire) that
// follows the write's `epoch` store (Release). The closure it points to is
// `Sync`, so calling it from several workers at once is allowed.
unsafe impl Sync for Shared {}
// SAFETY: the raw job pointer is only dereferenced under the protocol above;
// everything else in `Shared` is `Send`.
unsafe impl Send for Shared {}

/// Spins before a worker goes to sleep, or the caller waits on the condvar.
/// Short: on machines with as many workers as CPUs, a spinning thread takes
/// the CPU from the one that would end its wait.
const SPINS: u32 = 1 << 8;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock here only means some job panicked; the data behind
    // these locks (unit or the panic slot) is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Workers {
    /// `threads` workers placed by [`Workers::plan`] on this machine's
    /// topology ([`Topology::detect`]), pinned where the OS allows.
    pub fn new(threads: usize) -> Result<Workers, WorkersError> {
        let topology = Topology::detect();
        let cpus = Workers::plan(&topology, threads, allowed_cpus().as_deref());
        Workers::spawn(threads, &cpus, &topology)
    }

    /// One worker per core of this machine.
    pub fn per_core() -> Result<Workers, WorkersError> {
        let topology = Topology::detect();
        let allowed = allowed_cpus();
        let cores = topology
            .cores()
            .filter(|c| allowed.as_ref().is_none_or(|a| a.contains(c)))
            .count();
        let cpus = Workers::plan(&topology, cores.max(1), allowed.as_deref());
        Workers::spawn(cpus.len(), &cpus, &topology)
    }

    /// `threads` workers that are not pinned (tests, or hosts that manage
    /// affinity themselves).
    pub fn unpinned(threads: usize) -> Result<Workers, WorkersError> {
        Workers::spawn(threads, &[], &Topology::fallback(1))
    }

    /// The CPUs `threads` workers are pinned to, in worker order: one CPU per
    /// core, cores grouped by NUMA node (then package, then core id), so that
    /// consecutive workers, which get consecutive node ranges of a graph,
    /// share a node; SMT siblings only once every core has a worker; and
    /// round-robin over all of them if there are more workers than CPUs.
    /// `allowed`, if given, restricts the CPUs (the process's affinity mask).
    pub fn plan(topology: &Topology, threads: usize, allowed: Option<&[u32]>) -> Vec<u32> {
        let mut cpus: Vec<_> = topology
            .cpus()
            .iter()
            .filter(|c| allowed.is_none_or(|a| a.contains(&c.id)))
            .collect();
        // Rank of each CPU within its core: 0 for the first thread.
        let smt_rank = |cpu: u32| {
            topology
                .smt_siblings(cpu)
                .iter()
                .position(|&s| s == cpu)
                .unwrap_or(0)
        };
        cpus.sort_by_key(|c| (smt_rank(c.id), c.node, c.package, c.core, c.id));
        if cpus.is_empty() {
            return Vec::new();
        }
        let mut plan: Vec<u32> = (0..threads).map(|w| cpus[w % cpus.len()].id).collect();
        // Worker order follows the node (ranges are handed out in order).
        let node_of = |cpu: u32| topology.cpu(cpu).map_or(0, |c| c.node);
        plan.sort_by_key(|&cpu| node_of(cpu));
        plan
    }

    fn spawn(threads: usize, cpus: &[u32], topology: &Topology) -> Result<Workers, WorkersError> {
        if threads == 0 {
            return Err(WorkersError::NoThreads);
        }
        let shared = Arc::new(Shared {
            threads,
            epoch: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            remaining: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            panic: Mutex::new(None),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
            pinned: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
        });
        let cpus: Vec<Option<u32>> = (0..threads).map(|w| cpus.get(w).copied()).collect();
        let nodes = cpus
            .iter()
            .map(|c| c.and_then(|c| topology.cpu(c)).map(|c| c.node))
            .collect();
        let mut inner = Inner {
            shared: Arc::clone(&shared),
            cpus,
            nodes,
            handles: Vec::with_capacity(threads),
            running: Mutex::new(()),
        };
        for w in 0..threads {
            let (shared, cpu) = (Arc::clone(&shared), inner.cpus[w]);
            let spawned = std::thread::Builder::new()
                .name(format!("axonal-worker-{w}"))
                .spawn(move || {
                    if cpu.is_some_and(pin_current) {
                        shared.pinned.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.started.fetch_add(1, Ordering::Release);
                    worker_loop(&shared, w);
                });
            // On failure, dropping `inner` stops and joins the ones started.
            inner.handles.push(spawned.map_err(WorkersError::Spawn)?);
        }
        // Every worker has tried to pin itself before this returns, so
        // `pinned()` is final.
        while shared.started.load(Ordering::Acquire) < threads {
            std::thread::yield_now();
        }
        Ok(Workers {
            inner: Arc::new(inner),
        })
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        self.inner.shared.threads
    }

    /// How many workers are pinned to their CPU.
    pub fn pinned(&self) -> usize {
        self.inner.shared.pinned.load(Ordering::Relaxed)
    }

    /// The CPU worker `w` was placed on (`None` if unpinned or out of range).
    pub fn cpu(&self, w: usize) -> Option<u32> {
        self.inner.cpus.get(w).copied().flatten()
    }

    /// The NUMA node of worker `w`'s CPU, where known.
    pub fn node(&self, w: usize) -> Option<u32> {
        self.inner.nodes.get(w).copied().flatten()
    }

    /// Calls `f(w)` on worker `w`, once for every `w` in `0..threads()`, and
    /// returns when all calls have returned. Allocation-free. If a call
    /// panics, the others still run to the end, then the panic is resumed
    /// here. Calls from several threads at once take turns.
    ///
    /// # Panics
    /// If called from one of this pool's own workers (inside a job), which
    /// could never finish: that worker would wait for itself.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let shared = &*self.inner.shared;
        assert!(
            WORKER_OF.get() != shared as *const Shared as usize,
            "Workers::run called from one of its own workers: it would wait for itself"
        );
        let _turn = lock(&self.inner.running);
        // SAFETY: erasing the lifetime is sound because no worker touches the
        // job after `remaining` reaches zero, and this function does not
        // return (or unwind) before that.
        let job: JobRef = unsafe { core::mem::transmute(f as *const (dyn Fn(usize) + Sync)) };
        // SAFETY: no worker reads `job` now: the previous job's `remaining`
        // reached zero before that `run` returned, and the next read follows
        // the `epoch` store below. We hold `running`, so no other writer.
        unsafe { *shared.job.get() = Some(job) };
        shared.remaining.store(shared.threads, Ordering::Relaxed);
        shared.epoch.fetch_add(1, Ordering::Release);
        {
            let _sleepers = lock(&shared.sleep);
            shared.wake.notify_all();
        }
        let mut spins = 0;
        while shared.remaining.load(Ordering::Acquire) != 0 {
            if spins < SPINS {
                spins += 1;
                core::hint::spin_loop();
                continue;
            }
            let guard = lock(&shared.done_lock);
            if shared.remaining.load(Ordering::Acquire) != 0 {
                drop(shared.done.wait(guard));
            }
        }
        if let Some(payload) = lock(&shared.panic).take() {
            resume_unwind(payload);
        }
    }

    /// [`run`](Workers::run), handing worker `w` the part
    /// `data[bounds[w]..bounds[w + 1]]` to mutate.
    ///
    /// # Panics
    /// If `bounds` does not hold `threads() + 1` non-decreasing offsets
    /// starting at 0 and ending at `data.len()`.
    pub fn run_split<T: Send>(
        &self,
        data: &mut [T],
        bounds: &[usize],
        f: impl Fn(usize, &mut [T]) + Sync,
    ) {
        assert_eq!(bounds.len(), self.threads() + 1, "one part per worker");
        assert!(
            bounds[0] == 0
                && bounds[self.threads()] == data.len()
                && bounds.windows(2).all(|b| b[0] <= b[1]),
            "bounds must split the data in order"
        );
        let base = SendPtr(data.as_mut_ptr());
        self.run(&|w| {
            let base = &base;
            let (start, end) = (bounds[w], bounds[w + 1]);
            // SAFETY: `bounds` splits `data` into disjoint in-bounds ranges
            // (checked above), `run` calls this once per `w`, and `data` is
            // mutably borrowed until `run` returns: each part has exactly one
            // user.
            let part = unsafe { core::slice::from_raw_parts_mut(base.0.add(start), end - start) };
            f(w, part);
        });
    }
}

/// A pointer that may cross to the workers (its parts are handed out
/// disjointly by `run_split`).
struct SendPtr<T>(*mut T);
// SAFETY: the pointer is only turned into disjoint `&mut` parts, one per
// worker, and `T: Send` is required where it is built.
unsafe impl<T: Send> Sync for SendPtr<T> {}

std::thread_local! {
    /// The pool (its `Shared` address) whose worker this thread is; 0 elsewhere.
    static WORKER_OF: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

fn worker_loop(shared: &Shared, w: usize) {
    WORKER_OF.set(shared as *const Shared as usize);
    let mut seen = 0u64;
    loop {
        let mut spins = 0;
        let epoch = loop {
            let e = shared.epoch.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            if spins < SPINS {
                spins += 1;
                core::hint::spin_loop();
                continue;
            }
            let guard = lock(&shared.sleep);
            if shared.epoch.load(Ordering::Acquire) == seen {
                drop(shared.wake.wait(guard));
            }
        };
        seen = epoch;
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // Counts this worker out of the job however the code below ends, so
        // `run` never waits for a worker that is gone.
        let _done = Finished(shared);
        // SAFETY: the Acquire load of the new epoch orders this read after
        // `run`'s write of the job; `run` keeps the closure alive until
        // `remaining` is zero, which needs this worker's decrement (`_done`).
        let job = unsafe { (*shared.job.get()).expect("a published job") };
        // SAFETY: as above: the closure outlives this call.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { (*job)(w) }));
        if let Err(payload) = result {
            keep_first_panic(shared, payload);
        }
    }
}

/// Decrements `remaining` when dropped (waking the caller at zero): the one
/// place a worker reports that it is done with a job, on every way out.
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        if self.0.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _caller = lock(&self.0.done_lock);
            self.0.done.notify_all();
        }
    }
}

/// Keeps the job's first panic for `run` to resume, and drops any later one
/// here. Dropping a payload runs its owner's code, which may panic in turn: that
/// is caught, and the second payload it produced is leaked, not dropped (it could
/// panic again), so the worker survives whatever it is handed.
fn keep_first_panic(shared: &Shared, payload: Box<dyn Any + Send>) {
    let surplus = {
        let mut slot = lock(&shared.panic);
        if slot.is_none() {
            *slot = Some(payload);
            return;
        }
        payload
    };
    if let Err(from_drop) = catch_unwind(AssertUnwindSafe(move || drop(surplus))) {
        core::mem::forget(from_drop);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::Release);
        {
            let _sleepers = lock(&self.shared.sleep);
            self.shared.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Pins the calling thread to `cpu`; false where that is not allowed.
fn pin_current(cpu: u32) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu as usize })
}

/// The CPUs this process may run on, where the OS says.
fn allowed_cpus() -> Option<Vec<u32>> {
    core_affinity::get_core_ids().map(|ids| ids.into_iter().map(|c| c.id as u32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::topology::TopologyBuilder;

    #[test]
    fn every_worker_runs_once_per_job() {
        for threads in [1, 2, 3, 5] {
            let workers = Workers::unpinned(threads).unwrap();
            let hits: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..20 {
                workers.run(&|w| {
                    hits[w].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 20));
        }
    }

    #[test]
    fn run_split_hands_out_disjoint_parts() {
        let workers = Workers::unpinned(3).unwrap();
        let mut data = vec![0usize; 10];
        for _ in 0..3 {
            workers.run_split(&mut data, &[0, 4, 4, 10], |w, part| {
                for x in part {
                    *x += w + 1;
                }
            });
        }
        assert_eq!(data, [3, 3, 3, 3, 9, 9, 9, 9, 9, 9]);
    }

    #[test]
    #[should_panic(expected = "bounds must split")]
    fn run_split_rejects_overlapping_bounds() {
        let workers = Workers::unpinned(2).unwrap();
        workers.run_split(&mut [0u8; 4], &[0, 3, 2], |_, _| {});
    }

    #[test]
    fn a_panicking_job_reaches_the_caller_and_the_pool_still_works() {
        let workers = Workers::unpinned(2).unwrap();
        let done = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            workers.run(&|w| {
                if w == 1 {
                    panic!("worker one");
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        let payload = result.expect_err("the panic is resumed");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker one"));
        assert_eq!(done.load(Ordering::Relaxed), 1);
        workers.run(&|_| {
            done.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(done.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_job_cannot_wait_for_its_own_pool() {
        let workers = Workers::unpinned(2).unwrap();
        let other = Workers::unpinned(1).unwrap();
        let nested_ok = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            workers.run(&|w| {
                // Another pool is fine; this one would deadlock.
                other.run(&|_| {
                    nested_ok.fetch_add(1, Ordering::Relaxed);
                });
                if w == 0 {
                    workers.run(&|_| {});
                }
            })
        }));
        let payload = result.expect_err("nested run on the same pool panics");
        let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("its own workers"), "{message}");
        assert_eq!(nested_ok.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn zero_threads_is_an_error() {
        assert!(matches!(Workers::unpinned(0), Err(WorkersError::NoThreads)));
    }

    #[test]
    fn plan_puts_one_worker_per_core_node_by_node_before_smt_siblings() {
        // 2 packages x 2 nodes x 2 cores x 2 SMT: CPUs numbered thread-fastest.
        let t = TopologyBuilder::new(2, 2, 2, 2).build();
        let plan = Workers::plan(&t, 8, None);
        assert_eq!(plan, [0, 2, 4, 6, 8, 10, 12, 14]);
        let plan = Workers::plan(&t, 10, None);
        // Every core first, then siblings; grouped by node in worker order.
        assert_eq!(plan.len(), 10);
        let nodes: Vec<u32> = plan.iter().map(|&c| t.cpu(c).unwrap().node).collect();
        assert!(nodes.windows(2).all(|n| n[0] <= n[1]), "{nodes:?}");
        let mut firsts: Vec<u32> = plan.iter().copied().filter(|c| c % 2 == 0).collect();
        firsts.sort_unstable();
        assert_eq!(firsts, [0, 2, 4, 6, 8, 10, 12, 14]);
        // Restricted to an affinity mask, and more workers than CPUs.
        assert_eq!(Workers::plan(&t, 3, Some(&[5, 6])), [6, 5, 6]);
        assert!(Workers::plan(&t, 3, Some(&[])).is_empty());
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads sysfs")]
    fn new_pins_where_allowed() {
        let workers = Workers::new(2).unwrap();
        assert_eq!(workers.threads(), 2);
        assert!(workers.pinned() <= 2);
        let cpus = AtomicUsize::new(0);
        workers.run(&|w| {
            if workers.cpu(w).is_some() {
                cpus.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(cpus.load(Ordering::Relaxed), 2);
        // On Linux the plan uses only CPUs in the process's affinity mask, so
        // every worker is pinned, and the kernel agrees: each worker's own
        // affinity mask is exactly its planned CPU.
        #[cfg(target_os = "linux")]
        {
            assert_eq!(workers.pinned(), 2);
            let masks: Vec<Mutex<Vec<u32>>> = (0..2).map(|_| Mutex::new(Vec::new())).collect();
            workers.run(&|w| *lock(&masks[w]) = current_affinity());
            for (w, mask) in masks.iter().enumerate() {
                let planned = workers.cpu(w).expect("a planned CPU");
                assert_eq!(*lock(mask), [planned], "worker {w}");
            }
        }
    }

    /// The CPUs the calling thread may run on, as the kernel says.
    #[cfg(target_os = "linux")]
    fn current_affinity() -> Vec<u32> {
        // SAFETY: `cpu_set_t` is plain bits; all zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
        // SAFETY: pid 0 is the calling thread; `set` is a writable
        // `cpu_set_t` of the size passed.
        let rc = unsafe {
            libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set)
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below `CPU_SETSIZE`, the set's size in bits.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .map(|cpu| cpu as u32)
            .collect()
    }

    /// A panic payload whose own drop panics.
    struct PanicsWhenDropped;

    impl Drop for PanicsWhenDropped {
        fn drop(&mut self) {
            panic!("a panic payload that panics when dropped");
        }
    }

    #[test]
    fn a_payload_that_panics_when_dropped_neither_hangs_run_nor_kills_a_worker() {
        // Both workers panic with such a payload: one reaches the caller, the
        // other is dropped on its worker, and that drop panics too.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let workers = Workers::unpinned(2).unwrap();
            let result = catch_unwind(AssertUnwindSafe(|| {
                workers.run(&|_| std::panic::panic_any(PanicsWhenDropped))
            }));
            let payload = result.expect_err("the panic is resumed");
            assert!(payload.is::<PanicsWhenDropped>());
            core::mem::forget(payload);
            // Both workers survived: the next job runs on each.
            let ran = AtomicUsize::new(0);
            workers.run(&|_| {
                ran.fetch_add(1, Ordering::Relaxed);
            });
            tx.send(ran.load(Ordering::Relaxed)).unwrap();
        });
        // A liveness bound, not a timing assertion: a `run` that never returns
        // must fail this test instead of stalling the suite.
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(ran) => assert_eq!(ran, 2),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("Workers::run did not return within 30 s")
            }
            Err(e) => panic!("the scenario failed: {e}"),
        }
    }
}
