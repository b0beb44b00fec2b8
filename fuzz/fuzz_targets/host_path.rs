//! Host paths from the engine's mount list; container ids in mount roots.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::host_path(data);
});
