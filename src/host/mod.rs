//! What the machine is: mounts, file systems, ids, capabilities, /proc, the
//! account files, atomic file replacement. The system calls whose effect a
//! temp dir cannot show go through one narrow seam ([`syscall`]); the rest
//! reads injected paths, so tests feed fixtures instead of /proc and /etc.

pub mod caps;
pub mod files;
pub mod mountinfo;
pub mod syscall;
pub mod users;
