//! Docker access: detection, socket group, dockerd lifecycle.
pub mod caps;
pub mod endpoint;
pub mod mountinfo;
pub mod socket_group;
