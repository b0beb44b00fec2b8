//! dockerd --help features and the engine's API-version message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::engine_text(data);
});
