//! /proc/self/status (capabilities, Seccomp, NoNewPrivs), cap_last_cap, uid_map.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::proc_status(data);
});
