//! A fixed-capacity list with a branch-free conditional append.
//!
//! The spreading hot loops decide per node whether it joins a list (newly
//! reached, spreads next hop, touched this hop). Those decisions depend on
//! loads that often miss cache; as branches they mispredict and serialise the
//! loop. [`NodeList::push_if`] instead always writes the item into the slot
//! after the last and advances the length by the condition, so the loop never
//! waits on the decision.

use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

/// A list of at most `capacity` items, with one spare slot for `push_if`.
pub(crate) struct NodeList<T: Copy + Default> {
    slots: Vec<T>,
    len: usize,
}

impl<T: Copy + Default> NodeList<T> {
    pub(crate) fn with_capacity(capacity: usize) -> NodeList<T> {
        NodeList {
            slots: alloc::vec![T::default(); capacity + 1],
            len: 0,
        }
    }

    /// Appends `item` if `keep`, without branching on `keep`.
    ///
    /// # Panics
    /// If the list is already full (the spreader never appends more items
    /// per list than there are nodes).
    #[inline(always)]
    pub(crate) fn push_if(&mut self, item: T, keep: bool) {
        self.slots[self.len] = item;
        self.len += usize::from(keep);
    }

    /// Appends `item`.
    #[inline(always)]
    pub(crate) fn push(&mut self, item: T) {
        self.push_if(item, true);
    }

    /// Bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.capacity() * core::mem::size_of::<T>()
    }

    /// Bytes [`with_capacity`](Self::with_capacity)`(capacity)` holds.
    #[cfg(any(feature = "cache", test))]
    pub(crate) const fn bytes_for(capacity: usize) -> usize {
        (capacity + 1) * core::mem::size_of::<T>()
    }

    /// Makes room for `capacity` items in all, keeping the items held.
    #[cfg(feature = "cache")]
    pub(crate) fn grow(&mut self, capacity: usize) {
        if capacity + 1 > self.slots.len() {
            // Exactly: what a growing workspace paid for.
            self.slots.reserve_exact(capacity + 1 - self.slots.len());
            self.slots.resize(capacity + 1, T::default());
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

impl<T: Copy + Default> Deref for NodeList<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        &self.slots[..self.len]
    }
}

impl<T: Copy + Default> DerefMut for NodeList<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.slots[..self.len]
    }
}

impl<'a, T: Copy + Default> IntoIterator for &'a NodeList<T> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_if_keeps_only_selected_items() {
        let mut list = NodeList::<u32>::with_capacity(4);
        for i in 0..10 {
            list.push_if(i, i % 3 == 0);
        }
        assert_eq!(&*list, &[0, 3, 6, 9]);
        list.clear();
        assert!(list.is_empty());
        list.push(7);
        assert_eq!(&*list, &[7]);
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn overfull_list_panics_instead_of_corrupting() {
        let mut list = NodeList::<u32>::with_capacity(1);
        list.push(1);
        list.push(2);
        list.push_if(3, false);
    }
}
