//! BERTH_USER / --user specs against /etc/passwd and /etc/group.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::user_spec(data);
});
