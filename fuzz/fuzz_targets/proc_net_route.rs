//! /proc/net/route: the default route's interface for the MTU step.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth::fuzzing::proc_net_route(data);
});
