//! Docker contexts: config.json currentContext and contexts/meta/*/meta.json.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::docker_context(data);
});
