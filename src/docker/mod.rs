//! Docker access: detection, socket group, dockerd lifecycle.

pub mod hostops;
pub mod tls;
