//! CLOCK (to be written).
use super::Eviction;
/// CLOCK (to be written).
#[derive(Debug)]
pub struct Clock {}
impl Eviction for Clock {
    const EXCLUSIVE_HIT: bool = false;
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
