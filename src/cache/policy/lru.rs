//! LRU (to be written).
use super::Eviction;
/// LRU (to be written).
#[derive(Debug)]
pub struct Lru {}
impl Eviction for Lru {
    const EXCLUSIVE_HIT: bool = true;
    fn new(_: usize, _: usize) -> Self {
        todo!()
    }
    fn insert(&mut self, _: u32, _: u64, _: usize) {
        todo!()
    }
    fn hit(&self, _: u32) {
        todo!()
    }
    fn evict(&mut self, _: &mut dyn FnMut(u32) -> bool) -> Option<u32> {
        todo!()
    }
    fn remove(&mut self, _: u32) {
        todo!()
    }
}
