//! DOCKER_HOST: parsed, rendered for the command, parsed again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::docker_host(data);
});
