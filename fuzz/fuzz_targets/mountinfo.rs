//! /proc/self/mountinfo, /proc/self/status and the other small parsers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::mountinfo(data);
});
