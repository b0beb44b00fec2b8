//! Docker access: detection, socket group, dockerd lifecycle.

pub mod daemon;
pub mod dockerd_args;
pub mod engine;
pub mod hostops;
pub mod policy;
pub mod preflight;
pub mod rootless;
pub mod tls;
