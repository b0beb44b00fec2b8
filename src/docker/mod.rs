//! Docker access: detection, socket group, dockerd lifecycle.

pub mod policy;
