//! Docker access: detection, socket group, dockerd lifecycle.
pub mod caps;
pub mod detect;
pub mod endpoint;
pub mod evidence;
pub mod mountinfo;
pub mod ping;
pub mod rootless_check;
pub mod socket_group;
