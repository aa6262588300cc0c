//! Cache-line-aligned buffers without `unsafe`.
//!
//! The buffer is a `Vec` of 64-byte [`CacheLine`]s, so the global allocator
//! hands out 64-byte-aligned memory through the ordinary, safe `Vec` API, and
//! [`bytemuck`] views those lines as a slice of any [`Pod`] type whose
//! alignment divides 64. The element size need not divide 64 (`[f32; 3]` is
//! fine): the view covers whole elements, and the rest of the last line is
//! padding.

use alloc::vec::Vec;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ops::{Deref, DerefMut};

use bytemuck::{Pod, Zeroable};
use static_assertions::const_assert_eq;

use super::CACHE_LINE;

/// One 64-byte, 64-byte-aligned block of bytes.
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
pub struct CacheLine(pub [u8; CACHE_LINE]);

const_assert_eq!(size_of::<CacheLine>(), CACHE_LINE);
const_assert_eq!(align_of::<CacheLine>(), CACHE_LINE);

/// A fixed-length, zero-initialised, 64-byte-aligned buffer of `T`.
///
/// Dereferences to `[T]`. The storage is rounded up to whole cache lines, so
/// two buffers never share a line (no false sharing between threads).
#[derive(Clone)]
pub struct AlignedBuf<T: Pod> {
    lines: Vec<CacheLine>,
    len: usize,
    _marker: PhantomData<T>,
}

impl<T: Pod> AlignedBuf<T> {
    /// A buffer of `len` zeroed elements.
    ///
    /// A zero-sized `T`, or one aligned to more than 64 bytes, does not
    /// compile:
    ///
    /// ```compile_fail,E0080
    /// let _ = axonal::layout::AlignedBuf::<()>::zeroed(1);
    /// ```
    ///
    /// ```compile_fail,E0080
    /// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    /// #[repr(C, align(128))]
    /// struct Wide([u8; 128]);
    /// let _ = axonal::layout::AlignedBuf::<Wide>::zeroed(1);
    /// ```
    ///
    /// # Panics
    /// If the byte size overflows `usize`.
    pub fn zeroed(len: usize) -> AlignedBuf<T> {
        const {
            assert!(
                size_of::<T>() > 0 && CACHE_LINE.is_multiple_of(align_of::<T>()),
                "AlignedBuf needs a non-zero-sized element type aligned to at most 64 bytes"
            )
        };
        let bytes = len
            .checked_mul(size_of::<T>())
            .expect("AlignedBuf size overflows usize");
        AlignedBuf {
            lines: alloc::vec![CacheLine([0; CACHE_LINE]); bytes.div_ceil(CACHE_LINE)],
            len,
            _marker: PhantomData,
        }
    }

    /// A buffer holding a copy of `items`.
    pub fn from_slice(items: &[T]) -> AlignedBuf<T> {
        let mut buf = AlignedBuf::zeroed(items.len());
        buf.copy_from_slice(items);
        buf
    }

    /// The buffer's bytes (including no padding past `len`).
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self)
    }
}

// Both views cut the lines' bytes to exactly `len` elements before casting:
// the whole lines need not be a multiple of `T`'s size (`[f32; 3]`), and the
// cut start is the lines' 64-byte-aligned start, which suits any `T` that
// `zeroed` accepts.
impl<T: Pod> Deref for AlignedBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        let bytes: &[u8] = bytemuck::cast_slice(&self.lines);
        bytemuck::cast_slice(&bytes[..self.len * size_of::<T>()])
    }
}

impl<T: Pod> DerefMut for AlignedBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.lines);
        bytemuck::cast_slice_mut(&mut bytes[..self.len * size_of::<T>()])
    }
}

impl<T: Pod + core::fmt::Debug> core::fmt::Debug for AlignedBuf<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_and_sized() {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let b = AlignedBuf::<f32>::zeroed(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % 64, 0);
            assert!(b.iter().all(|&x| x == 0.0));
        }
        let b = AlignedBuf::<u64>::from_slice(&[1, 2, 3]);
        assert_eq!(&*b, &[1, 2, 3]);
        assert_eq!(b.as_bytes().len(), 24);
    }

    #[test]
    fn element_sizes_that_do_not_divide_a_line_work() {
        // 12-byte elements: 16 fill three lines exactly, 6 leave a padded tail.
        for len in [0usize, 1, 5, 6, 16, 17, 1000] {
            let mut b = AlignedBuf::<[f32; 3]>::zeroed(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % 64, 0);
            assert_eq!(b.as_bytes().len(), 12 * len);
            for (i, x) in b.iter_mut().enumerate() {
                *x = [i as f32, 0.5, -1.0];
            }
            assert!(
                b.iter()
                    .enumerate()
                    .all(|(i, x)| *x == [i as f32, 0.5, -1.0])
            );
        }
        let b = AlignedBuf::from_slice(&[[1u8; 7], [2; 7], [3; 7]]);
        assert_eq!(&*b, &[[1; 7], [2; 7], [3; 7]]);
    }
}
