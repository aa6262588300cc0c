//! The atomics the pool is built from: `core`'s, or loom's when the crate is
//! model-checked (`RUSTFLAGS="--cfg crossbeam_loom"`), so that loom sees
//! every shared access of the lock-free code.

#[cfg(crossbeam_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

#[cfg(not(crossbeam_loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

pub(crate) use core::sync::atomic::Ordering;
