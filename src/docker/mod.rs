//! Docker access: detection, socket group, dockerd lifecycle.

pub mod access;
pub mod caps;
pub mod daemon;
pub mod detect;
pub mod dockerd_args;
pub mod endpoint;
pub mod engine;
pub mod evidence;
pub mod host_path;
pub mod hostops;
pub mod mountinfo;
pub mod ping;
pub mod policy;
pub mod preflight;
pub mod rootless;
pub mod socket_group;
pub mod tls;
