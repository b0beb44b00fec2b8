//! /proc/self/cgroup, cgroup.controllers and cgroup.procs as pre-flight nests dockerd.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::cgroup(data);
});
