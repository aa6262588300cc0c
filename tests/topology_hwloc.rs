//! The sysfs reader and hwloc describe this machine the same way.
#![cfg(feature = "hwloc")]

use axonal::machine::topology::{Source, Topology};

#[test]
#[cfg_attr(miri, ignore = "calls the hwloc C library")]
fn sysfs_and_hwloc_agree_on_this_machine() {
    let hwloc = Topology::from_hwloc().expect("hwloc reads this machine");
    assert_eq!(hwloc.source(), Source::Hwloc);
    let sysfs = Topology::detect();
    if sysfs.source() != Source::Sysfs {
        eprintln!("no sysfs here ({:?}): nothing to compare", sysfs.source());
        return;
    }
    assert_eq!(hwloc.cpus(), sysfs.cpus());
    assert_eq!(hwloc.nodes(), sysfs.nodes());
    assert_eq!(hwloc.caches(), sysfs.caches());
    assert!(!hwloc.cpus().is_empty());
}
