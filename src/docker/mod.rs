//! Docker access: detection, socket group, dockerd lifecycle.
