//! The narrow system-call layer used by dockerd preparation (`preflight`,
//! `tls`, `rootless`).
//!
//! Logic that decides *what* to do stays in those modules and is unit-tested
//! against temp dirs; the few calls whose effect or failure mode a temp dir
//! cannot reproduce (mount and umount, statfs magic, chown to another user, kernel
//! control-file writes that fail with EBUSY, xattrs) go through
//! [`Syscall`], the seam in the spirit of youki's `Syscall` trait.
//! [`NixSyscall`] is the real implementation; `RecordingSyscall` (tests
//! only) records every call and lets a test script results.
//!
//! Plain file reads and writes inside injected paths use `std::fs` directly:
//! a temp dir reproduces them faithfully.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
#[cfg(test)]
use std::{cell::RefCell, collections::HashMap, path::PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

/// The system calls dockerd preparation needs, and nothing more.
pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;

    /// umount(2) of the mount at `target` (no flags).
    fn umount(&self, target: &Path) -> Result<(), Errno>;

    /// statfs(2): the filesystem's magic number (`f_type`).
    fn statfs_type(&self, path: &Path) -> Result<i64, Errno>;

    /// chown(2), following symlinks.
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), Errno>;

    /// One write(2) of `data` to an existing kernel control file (cgroupfs):
    /// opened write-only, without O_CREAT or O_TRUNC, because the kernel
    /// treats every write as one command (one pid per write to
    /// `cgroup.procs`).
    fn write_control_file(&self, path: &Path, data: &str) -> Result<(), Errno>;

    /// getxattr(2): `Ok(None)` when the attribute is absent (ENODATA).
    fn getxattr(&self, path: &Path, name: &str) -> Result<Option<Vec<u8>>, Errno>;
}

/// [`Syscall`] on the real kernel, through nix (libc where nix has no wrapper).
#[derive(Debug, Default, Clone, Copy)]
pub struct NixSyscall;

fn errno_of(err: &std::io::Error) -> Errno {
    err.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

impl Syscall for NixSyscall {
    fn mount(
        &self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(Some(source), target, Some(fstype), flags, data)
    }

    fn umount(&self, target: &Path) -> Result<(), Errno> {
        nix::mount::umount(target)
    }

    fn statfs_type(&self, path: &Path) -> Result<i64, Errno> {
        let st = nix::sys::statfs::statfs(path)?;
        // f_type is i64 on x86_64 glibc but narrower on some targets.
        #[allow(clippy::useless_conversion)]
        Ok(i64::from(st.filesystem_type().0))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
    }

    fn write_control_file(&self, path: &Path, data: &str) -> Result<(), Errno> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| errno_of(&e))?;
        let written = file.write(data.as_bytes()).map_err(|e| errno_of(&e))?;
        if written == data.len() {
            Ok(())
        } else {
            // A short write to a cgroup control file means the command was cut.
            Err(Errno::EIO)
        }
    }

    fn getxattr(&self, path: &Path, name: &str) -> Result<Option<Vec<u8>>, Errno> {
        let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        let c_name = CString::new(name).map_err(|_| Errno::EINVAL)?;
        // security.capability is at most 24 bytes (VFS_CAP_REVISION_3); 256 is ample
        // for the attributes this module reads.
        let mut buf = vec![0u8; 256];
        // SAFETY: c_path and c_name are NUL-terminated and outlive the call; buf is a
        // live, writable allocation of exactly buf.len() bytes, which is the size passed.
        let n = unsafe {
            libc::getxattr(
                c_path.as_ptr(),
                c_name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            let errno = Errno::last();
            return if errno == Errno::ENODATA {
                Ok(None)
            } else {
                Err(errno)
            };
        }
        let len = usize::try_from(n).map_err(|_| Errno::EINVAL)?;
        buf.truncate(len);
        Ok(Some(buf))
    }
}

#[cfg(test)]
/// One call made through `RecordingSyscall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: String,
        target: PathBuf,
        fstype: String,
        flags: MsFlags,
    },
    Umount(PathBuf),
    Statfs(PathBuf),
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    WriteControl {
        path: PathBuf,
        data: String,
    },
    Getxattr {
        path: PathBuf,
        name: String,
    },
}

#[cfg(test)]
/// Decides the result of a control-file write in tests: `Some(errno)` fails
/// the write, `None` lets the fake perform it.
pub type WriteHook = Box<dyn FnMut(&Path, &str) -> Option<Errno>>;

#[cfg(test)]
/// A recording fake for tests.
///
/// Control-file writes land in the (temp) file unless the write hook fails
/// them; a write of a pid to `<dir>/cgroup.procs` also removes that pid from
/// the parent directory's `cgroup.procs`, which is the one piece of cgroup
/// semantics the nesting logic relies on. Everything else returns scripted
/// values.
pub struct RecordingSyscall {
    calls: RefCell<Vec<Call>>,
    /// Result of every mount.
    pub mount_result: Result<(), Errno>,
    /// statfs magic per path; paths not listed report ext4.
    pub statfs: HashMap<PathBuf, i64>,
    /// Result of every chown (the fake never changes ownership).
    pub chown_result: Result<(), Errno>,
    /// xattrs per (path, name).
    pub xattrs: HashMap<(PathBuf, String), Vec<u8>>,
    write_hook: RefCell<Option<WriteHook>>,
}

#[cfg(test)]
/// ext4's magic, the fake's default filesystem.
pub const EXT4_SUPER_MAGIC: i64 = 0xEF53;

#[cfg(test)]
impl Default for RecordingSyscall {
    fn default() -> Self {
        Self {
            calls: RefCell::new(Vec::new()),
            mount_result: Ok(()),
            statfs: HashMap::new(),
            chown_result: Ok(()),
            xattrs: HashMap::new(),
            write_hook: RefCell::new(None),
        }
    }
}

#[cfg(test)]
impl std::fmt::Debug for RecordingSyscall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingSyscall")
            .field("calls", &self.calls.borrow())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl RecordingSyscall {
    /// A fake that succeeds at everything, as root.
    pub fn new() -> Self {
        Self::default()
    }

    /// Install the hook that decides control-file write results.
    pub fn on_write(&self, hook: WriteHook) {
        *self.write_hook.borrow_mut() = Some(hook);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }
}

#[cfg(test)]
impl Syscall for RecordingSyscall {
    fn mount(
        &self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        _data: Option<&str>,
    ) -> Result<(), Errno> {
        self.record(Call::Mount {
            source: source.to_owned(),
            target: target.to_owned(),
            fstype: fstype.to_owned(),
            flags,
        });
        self.mount_result
    }

    fn umount(&self, target: &Path) -> Result<(), Errno> {
        self.record(Call::Umount(target.to_owned()));
        Ok(())
    }

    fn statfs_type(&self, path: &Path) -> Result<i64, Errno> {
        self.record(Call::Statfs(path.to_owned()));
        if !path.exists() {
            return Err(Errno::ENOENT);
        }
        Ok(self.statfs.get(path).copied().unwrap_or(EXT4_SUPER_MAGIC))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        self.record(Call::Chown {
            path: path.to_owned(),
            uid,
            gid,
        });
        self.chown_result
    }

    fn write_control_file(&self, path: &Path, data: &str) -> Result<(), Errno> {
        self.record(Call::WriteControl {
            path: path.to_owned(),
            data: data.to_owned(),
        });
        if let Some(hook) = self.write_hook.borrow_mut().as_mut() {
            if let Some(errno) = hook(path, data) {
                return Err(errno);
            }
        }
        let is_procs = path.file_name().is_some_and(|n| n == "cgroup.procs");
        if is_procs {
            // Emulate a move: the pid leaves the parent cgroup and joins this one.
            let parent_procs = path
                .parent()
                .and_then(Path::parent)
                .map(|p| p.join("cgroup.procs"));
            if let Some(parent_procs) = parent_procs.filter(|p| p.exists()) {
                let old = std::fs::read_to_string(&parent_procs).map_err(|e| errno_of(&e))?;
                let kept: String = old
                    .lines()
                    .filter(|l| l.trim() != data.trim())
                    .map(|l| format!("{l}\n"))
                    .collect();
                std::fs::write(&parent_procs, kept).map_err(|e| errno_of(&e))?;
            }
            // cgroupfs creates cgroup.procs with the directory; a plain tmp dir does not.
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| errno_of(&e))?;
            writeln!(file, "{}", data.trim()).map_err(|e| errno_of(&e))?;
        } else if path.exists() {
            std::fs::write(path, data).map_err(|e| errno_of(&e))?;
        } else {
            return Err(Errno::ENOENT);
        }
        Ok(())
    }

    fn getxattr(&self, path: &Path, name: &str) -> Result<Option<Vec<u8>>, Errno> {
        self.record(Call::Getxattr {
            path: path.to_owned(),
            name: name.to_owned(),
        });
        Ok(self
            .xattrs
            .get(&(path.to_owned(), name.to_owned()))
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nix_statfs_reports_a_magic_for_an_existing_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let magic = NixSyscall.statfs_type(dir.path()).expect("statfs");
        assert_ne!(magic, 0);
        assert_eq!(
            NixSyscall.statfs_type(&dir.path().join("absent")),
            Err(Errno::ENOENT)
        );
    }

    #[test]
    fn nix_getxattr_absent_attribute_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        match NixSyscall.getxattr(&file, "user.berth-test-absent") {
            Ok(None) => {}
            // Some filesystems (tmpfs without user xattrs) refuse the namespace.
            Err(Errno::EOPNOTSUPP) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn nix_write_control_file_does_not_create() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cgroup.procs");
        assert_eq!(
            NixSyscall.write_control_file(&path, "1"),
            Err(Errno::ENOENT)
        );
        std::fs::write(&path, "").expect("create");
        NixSyscall.write_control_file(&path, "42").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "42");
    }

    #[test]
    fn fake_moves_pids_between_cgroup_procs_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cgroup.procs"), "1\n7\n").expect("write");
        std::fs::create_dir(dir.path().join("init")).expect("mkdir");
        std::fs::write(dir.path().join("init/cgroup.procs"), "").expect("write");
        let fake = RecordingSyscall::new();
        fake.write_control_file(&dir.path().join("init/cgroup.procs"), "7")
            .expect("move");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("cgroup.procs")).expect("read"),
            "1\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("init/cgroup.procs")).expect("read"),
            "7\n"
        );
    }
}
