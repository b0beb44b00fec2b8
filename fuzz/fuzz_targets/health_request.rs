//! The health endpoint's request-head parser (BERTH_HEALTH_ADDR): bytes from
//! the network, in PID 1.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::health_request(data);
});
