//! Talking to an engine: where it is ([`endpoint`]), whether it answers
//! ([`ping`]), and why not ([`diagnosis`]).

pub mod diagnosis;
pub mod endpoint;
pub mod ping;
