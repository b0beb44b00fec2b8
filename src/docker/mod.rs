//! Docker access: detection, socket group, dockerd lifecycle.
pub mod caps;
pub mod endpoint;
pub mod mountinfo;
pub mod ping;
pub mod socket_group;
