//! Elsewhere than Linux: no mappings and no placement; buffers are heap
//! memory and policies report [`NotApplied::Unsupported`].

use core::ptr::NonNull;

use super::{NotApplied, Policy};

pub(super) fn page_size() -> usize {
    4096
}
pub(super) fn map(_bytes: usize) -> Result<NonNull<u8>, i32> {
    Err(0)
}
pub(super) unsafe fn unmap(_ptr: NonNull<u8>, _bytes: usize) {}
pub(super) unsafe fn advise_huge_pages(_ptr: NonNull<u8>, _bytes: usize) -> bool {
    false
}
pub(super) unsafe fn bind(
    _ptr: NonNull<u8>,
    _bytes: usize,
    _policy: Policy,
    _move_pages: bool,
) -> Result<(), NotApplied> {
    Err(NotApplied::Unsupported)
}
