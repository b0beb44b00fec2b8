//! What the machine is: mounts, file systems, ids, capabilities, /proc, the
//! account files, atomic file replacement. The system calls whose effect a
//! temp dir cannot show go through one narrow seam ([`syscall`]); the rest
//! reads injected paths, so tests feed fixtures instead of /proc and /etc.

pub mod caps;
pub mod files;
pub mod mountinfo;
pub mod permission;
pub mod syscall;
pub mod users;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// PATH used when the environment has none (Debian's default for root).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A text file of /proc or /sys, decoded lossily. The kernel prints names
/// as the bytes they are (a process's comm, mount paths, cgroup and
/// interface names), so a byte that is not UTF-8 costs that one name a
/// U+FFFD, where `fs::read_to_string` would refuse the whole file.
pub fn read_kernel_text(path: impl AsRef<Path>) -> io::Result<String> {
    Ok(String::from_utf8_lossy(&std::fs::read(path)?).into_owned())
}

/// berth's environment at start, by name. Variables whose name or value is
/// not UTF-8 are left out (no setting berth reads can be one).
pub type Env = BTreeMap<String, String>;

/// What berth is on this machine, read once in `main` (like the
/// configuration) and handed down: nothing below reads the process's ids or
/// environment itself.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// geteuid(2) at start: the only place berth asks.
    pub euid: u32,
    /// getuid(2) at start.
    pub uid: u32,
    /// berth's pid: 1 when it is the namespace's init.
    pub pid: u32,
    /// The environment berth was started with.
    pub env: Env,
    /// Where procfs is mounted (`/proc`); tests point it at a fixture.
    pub proc_root: PathBuf,
}

impl HostFacts {
    /// Reads the facts of this process.
    pub fn read() -> HostFacts {
        HostFacts {
            euid: nix::unistd::geteuid().as_raw(),
            uid: nix::unistd::getuid().as_raw(),
            pid: std::process::id(),
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            proc_root: PathBuf::from("/proc"),
        }
    }

    pub fn is_root(&self) -> bool {
        self.euid == 0
    }

    /// berth is the init of its pid namespace (the container's PID 1).
    pub fn is_pid1(&self) -> bool {
        self.pid == 1
    }

    /// A variable of berth's environment; empty counts as set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }

    /// PATH, or [`DEFAULT_PATH`] when the environment has none.
    pub fn search_path(&self) -> OsString {
        OsString::from(self.var("PATH").unwrap_or(DEFAULT_PATH))
    }

    /// `tool` on [`Self::search_path`], as `which` would find it.
    pub fn which(&self, tool: &str) -> Option<PathBuf> {
        which::which_in(tool, Some(self.search_path()), "/").ok()
    }

    /// `/proc/self`.
    pub fn proc_self(&self) -> PathBuf {
        self.proc_root.join("self")
    }

    /// `/proc/self/mountinfo`.
    pub fn mountinfo(&self) -> PathBuf {
        self.proc_self().join("mountinfo")
    }

    /// A path under the proc root (`net/route` -> `/proc/net/route`).
    pub fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.proc_root.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mount path with a byte that is not UTF-8 (the kernel prints path
    /// bytes as they are) costs that path a U+FFFD; `fs::read_to_string`
    /// refused the whole file, and detection saw no mounts at all.
    #[test]
    fn kernel_text_with_non_utf8_names_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mountinfo");
        std::fs::write(
            &path,
            b"22 1 0:21 / / rw - overlay overlay rw\n\
              23 22 8:1 /x /mnt/caf\xe9 rw - ext4 /dev/sda1 rw\n",
        )
        .expect("write");
        let text = read_kernel_text(&path).expect("read");
        let info = mountinfo::MountInfo::parse(&text);
        assert_eq!(info.mounts.len(), 2);
        assert!(info.is_mount_point(Path::new("/mnt/caf\u{fffd}")));
        assert!(read_kernel_text(dir.path().join("absent")).is_err());
    }
}
