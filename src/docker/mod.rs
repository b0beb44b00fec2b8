//! Docker access: what was asked ([`mode`]), how the engine is reached
//! ([`client`]), which mode applies here ([`detect`]), berth's own engine
//! ([`engine`]), the user's access to a socket ([`access`]), and the step
//! that strings them together for one run ([`setup`]).

pub mod access;
pub mod client;
pub mod detect;
pub mod engine;
pub mod finding;
pub mod host_path;
pub mod mode;
pub mod setup;
