//! Queues of slots linked through per-slot arrays, shared by the policies.
//!
//! Every policy keeps its blocks in first-in, first-out order with moves
//! to the back (a FIFO queue, CLOCK's ring, LRU's recency list) and must
//! also drop any block from the middle when the cache removes it. An
//! intrusive doubly linked list over slot indices does all of it in O(1)
//! without allocating per block: the links live in two `u32` arrays that
//! grow with the highest slot seen, and a slot sits in at most one queue.

/// No slot: the end of a queue.
const NIL: u32 = u32::MAX;

/// The links of every slot, shared by the queues of one policy.
#[derive(Debug, Default)]
pub(super) struct Links {
    prev: Vec<u32>,
    next: Vec<u32>,
    /// The queue each slot is in ([`QueueId`]), `0` for none.
    queue: Vec<u8>,
}

/// Which queue of a policy a slot is in (nonzero: `0` means none).
pub(super) type QueueId = u8;

impl Links {
    /// Grows the arrays to hold `slot` (slot indices are dense, so they grow
    /// amortized O(1)).
    pub(super) fn ensure(&mut self, slot: u32) {
        let needed = slot as usize + 1;
        if self.queue.len() < needed {
            self.prev.resize(needed, NIL);
            self.next.resize(needed, NIL);
            self.queue.resize(needed, 0);
        }
    }

    /// The queue `slot` is in, if any.
    pub(super) fn queue_of(&self, slot: u32) -> Option<QueueId> {
        match self.queue.get(slot as usize) {
            Some(&id) if id != 0 => Some(id),
            _ => None,
        }
    }
}

/// One queue: its ends and length. Slots leave at the front and enter at
/// the back.
#[derive(Debug)]
pub(super) struct Queue {
    id: QueueId,
    head: u32,
    tail: u32,
    len: usize,
}

impl Queue {
    /// An empty queue named `id` (nonzero, distinct among the queues
    /// sharing one [`Links`]).
    pub(super) const fn new(id: QueueId) -> Queue {
        assert!(id != 0, "queue id 0 means no queue");
        Queue {
            id,
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Slots in the queue.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The slot that leaves next.
    pub(super) fn front(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    /// Appends `slot`, which must be in no queue (the caller called
    /// [`Links::ensure`] for it).
    pub(super) fn push_back(&mut self, links: &mut Links, slot: u32) {
        let s = slot as usize;
        debug_assert_eq!(links.queue[s], 0, "slot {slot} is already queued");
        links.queue[s] = self.id;
        links.prev[s] = self.tail;
        links.next[s] = NIL;
        match self.tail {
            NIL => self.head = slot,
            tail => links.next[tail as usize] = slot,
        }
        self.tail = slot;
        self.len += 1;
    }

    /// Takes `slot`, which must be in this queue, out of it.
    pub(super) fn unlink(&mut self, links: &mut Links, slot: u32) {
        let s = slot as usize;
        debug_assert_eq!(links.queue[s], self.id, "slot {slot} is not here");
        let (prev, next) = (links.prev[s], links.next[s]);
        match prev {
            NIL => self.head = next,
            p => links.next[p as usize] = next,
        }
        match next {
            NIL => self.tail = prev,
            n => links.prev[n as usize] = prev,
        }
        links.queue[s] = 0;
        links.prev[s] = NIL;
        links.next[s] = NIL;
        self.len -= 1;
    }

    /// Moves `slot`, which must be in this queue, to the back.
    pub(super) fn move_to_back(&mut self, links: &mut Links, slot: u32) {
        if self.tail != slot {
            self.unlink(links, slot);
            self.push_back(links, slot);
        }
    }

    /// The second-chance sweep shared by CLOCK, LRU and S3-FIFO's main
    /// queue: looks at the front slot; a pinned one (`evictable` false) or
    /// one that `second_chance` spares goes to the back; the first other
    /// one is unlinked and returned. `None` once the queue holds only
    /// pinned slots (a whole turn of them in a row) or is empty.
    ///
    /// A pinned block is being read, which is as good as a use: sending it
    /// to the back keeps it resident and the sweep moving. `second_chance`
    /// must spare any one slot only finitely often (it consumes a credit).
    pub(super) fn sweep(
        &mut self,
        links: &mut Links,
        evictable: &mut dyn FnMut(u32) -> bool,
        mut second_chance: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut pinned_in_a_row = 0;
        while let Some(slot) = self.front() {
            if pinned_in_a_row >= self.len {
                return None;
            }
            if !evictable(slot) {
                pinned_in_a_row += 1;
                self.move_to_back(links, slot);
                continue;
            }
            pinned_in_a_row = 0;
            if second_chance(slot) {
                self.move_to_back(links, slot);
                continue;
            }
            self.unlink(links, slot);
            return Some(slot);
        }
        None
    }

    /// The slots from front to back (for tests).
    #[cfg(test)]
    pub(super) fn slots(&self, links: &Links) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len);
        let mut at = self.head;
        while at != NIL {
            out.push(at);
            at = links.next[at as usize];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_and_move_keep_order_and_links() {
        let mut links = Links::default();
        let mut q = Queue::new(1);
        for slot in [3, 0, 5, 1] {
            links.ensure(slot);
            q.push_back(&mut links, slot);
        }
        assert_eq!(q.slots(&links), [3, 0, 5, 1]);
        q.unlink(&mut links, 5);
        assert_eq!(q.slots(&links), [3, 0, 1]);
        q.unlink(&mut links, 3);
        q.move_to_back(&mut links, 0);
        assert_eq!(q.slots(&links), [1, 0]);
        assert_eq!((q.len(), q.front()), (2, Some(1)));
        assert_eq!(links.queue_of(5), None);
        assert_eq!(links.queue_of(0), Some(1));
        q.unlink(&mut links, 0);
        q.unlink(&mut links, 1);
        assert_eq!((q.len(), q.front()), (0, None));
        assert_eq!(links.queue_of(99), None);
    }

    #[test]
    fn sweep_skips_pinned_and_spared_slots_and_stops_when_all_are_pinned() {
        let mut links = Links::default();
        let mut q = Queue::new(1);
        for slot in 0..4 {
            links.ensure(slot);
            q.push_back(&mut links, slot);
        }
        let mut spared = [false, true, false, false];
        let got = q.sweep(&mut links, &mut |s| s != 0, |s| {
            core::mem::take(&mut spared[s as usize])
        });
        assert_eq!(got, Some(2));
        assert_eq!(q.slots(&links), [3, 0, 1]);
        assert_eq!(q.sweep(&mut links, &mut |_| false, |_| false), None);
        assert_eq!(q.len(), 3);
    }
}
