//! BERTH_* variables with free text (durations, signals, exit codes, exports, addresses).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::config_env(data);
});
