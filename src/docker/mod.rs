//! Docker access: detection, socket group, dockerd lifecycle.
pub mod socket_group;
