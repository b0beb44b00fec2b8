//! /etc/subuid and /etc/subgid, the free range berth adds, file capabilities.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::subid(data);
});
