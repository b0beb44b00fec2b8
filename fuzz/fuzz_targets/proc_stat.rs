//! /proc/<pid>/stat as the shutdown code lists processes (any comm bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::proc_stat(data);
});
