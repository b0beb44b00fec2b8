//! Docker access: detection, socket group, dockerd lifecycle.

pub mod daemon;
pub mod policy;
