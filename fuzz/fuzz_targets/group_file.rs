//! /etc/group, gshadow, passwd parsing and the socket-group rewrite.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::group_file(data);
});
