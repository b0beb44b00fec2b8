//! Docker access: detection, socket group, dockerd lifecycle.

pub mod dockerd_args;
pub mod hostops;
pub mod preflight;
pub mod rootless;
pub mod tls;
