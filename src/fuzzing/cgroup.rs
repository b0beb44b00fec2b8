//! The cgroup files pre-flight reads: /proc/self/cgroup, and in the cgroupfs
//! `cgroup.controllers` and `cgroup.procs` (`cgroup.subtree_control` is
//! only written).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::input::{parts, scratch, write};
use crate::docker::engine::preflight::{nest_cgroup_v2, PreflightOptions, PreflightPaths};
use crate::host::syscall::Syscall;
use crate::init::role::container_evidence;

/// A kernel whose control-file writes answer from the input: each write
/// takes the next byte (0 fails with EBUSY, 1 with ESRCH, 2 with EINVAL,
/// anything else succeeds). A successful write to `cgroup.procs` moves the
/// pid out of the parent cgroup's list, as the kernel does.
struct ScriptedKernel<'a> {
    answers: RefCell<&'a [u8]>,
    writes: RefCell<Vec<(PathBuf, String)>>,
}

impl Syscall for ScriptedKernel<'_> {
    fn mount(&self, _: &str, _: &Path, _: &str, _: MsFlags, _: Option<&str>) -> Result<(), Errno> {
        panic!("the cgroup step mounts nothing");
    }

    fn umount(&self, _: &Path) -> Result<(), Errno> {
        panic!("the cgroup step unmounts nothing");
    }

    fn statfs_type(&self, _: &Path) -> Result<i64, Errno> {
        panic!("the cgroup step needs no statfs");
    }

    fn chown(&self, _: &Path, _: u32, _: u32) -> Result<(), Errno> {
        panic!("the cgroup step changes no owner");
    }

    fn write_control_file(&self, path: &Path, data: &str) -> Result<(), Errno> {
        self.writes
            .borrow_mut()
            .push((path.to_owned(), data.to_owned()));
        let mut answers = self.answers.borrow_mut();
        let answer = answers.first().copied().unwrap_or(3);
        *answers = answers.get(1..).unwrap_or_default();
        match answer {
            0 => return Err(Errno::EBUSY),
            1 => return Err(Errno::ESRCH),
            2 => return Err(Errno::EINVAL),
            _ => {}
        }
        if path.file_name().is_some_and(|n| n == "cgroup.procs") {
            if let Some(from) = path.parent().and_then(Path::parent) {
                let from = from.join("cgroup.procs");
                let old = std::fs::read_to_string(&from).unwrap_or_default();
                let kept: String = old
                    .split_whitespace()
                    .filter(|pid| *pid != data)
                    .map(|pid| format!("{pid}\n"))
                    .collect();
                std::fs::write(&from, kept).map_err(|_| Errno::EIO)?;
            }
        }
        Ok(())
    }

    fn getxattr(&self, _: &Path, _: &str) -> Result<Option<Vec<u8>>, Errno> {
        panic!("the cgroup step reads no xattr");
    }
}

/// Nesting on a cgroupfs made from the input. Every write stays inside the
/// cgroupfs; a pid is only written into `<X>/init/cgroup.procs` when it
/// was listed in `<X>/cgroup.procs`; `cgroup.subtree_control` of that same
/// `<X>` only gets `+controller` words listed in its `cgroup.controllers`;
/// nothing is written when /proc/self/cgroup has no `0::` line (berth cannot
/// tell where it is) or when there is no `cgroup.controllers` (cgroup v1).
///
/// Parts: /proc/self/cgroup, cgroup.controllers (absent when empty),
/// cgroup.procs, /proc/self/mountinfo, the kernel's answers.
pub fn cgroup(data: &[u8]) {
    let [self_cgroup, controllers, procs, mountinfo, answers]: [&[u8]; 5] =
        parts(data, 5).try_into().expect("five parts");
    let base = scratch();
    let paths = PreflightPaths {
        mountinfo: base.join("proc/self/mountinfo"),
        securityfs: base.join("sys/kernel/security"),
        apparmor_enabled: base.join("sys/module/apparmor/parameters/enabled"),
        sbin_apparmor_parser: base.join("sbin/apparmor_parser"),
        self_status: base.join("proc/self/status"),
        self_attr: base.join("proc/self/attr"),
        cgroupfs: base.join("sys/fs/cgroup"),
        self_cgroup: base.join("proc/self/cgroup"),
        proc_root: base.join("proc"),
        sys_class_net: base.join("sys/class/net"),
        data_root: base.join("var/lib/docker"),
        containerd_root: base.join("var/lib/docker/containerd/daemon"),
        daemon_json: base.join("etc/docker/daemon.json"),
        dev_fuse: base.join("dev/fuse"),
        iptables_bin_dir: base.join("run/iptables"),
        pid_files: Vec::new(),
    };
    write(&paths.self_cgroup, self_cgroup);
    write(&paths.mountinfo, mountinfo);
    container_evidence_grows(self_cgroup, mountinfo);
    let cgroupfs = &paths.cgroupfs;
    std::fs::create_dir_all(cgroupfs).expect("cgroupfs");
    if !controllers.is_empty() {
        write(&cgroupfs.join("cgroup.controllers"), controllers);
    }
    write(&cgroupfs.join("cgroup.procs"), procs);
    write(&cgroupfs.join("cgroup.subtree_control"), b"");
    let opts = PreflightOptions {
        cgroup_attempts: 3,
        cgroup_backoff: Duration::ZERO,
        ..PreflightOptions::default()
    };
    let kernel = ScriptedKernel {
        answers: RefCell::new(answers),
        writes: RefCell::new(Vec::new()),
    };
    let words = |path: &Path| -> BTreeSet<String> {
        std::fs::read(path)
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    // What each cgroup listed before anything moved.
    let listed_procs = words(&cgroupfs.join("cgroup.procs"));
    let listed_controllers = words(&cgroupfs.join("cgroup.controllers"));
    RUNTIME.with(|rt| {
        let _ = rt.block_on(nest_cgroup_v2(&paths, &opts, &kernel));
    });

    let writes = kernel.writes.into_inner();
    let knows_where = String::from_utf8_lossy(self_cgroup)
        .lines()
        .any(|l| l.starts_with("0::"));
    if controllers.is_empty() || !knows_where {
        assert!(writes.is_empty(), "{writes:?}");
    }
    for (path, data) in &writes {
        let inside = path
            .strip_prefix(cgroupfs)
            .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))));
        assert!(inside, "{} is outside the cgroupfs", path.display());
        let name = path.file_name().and_then(|n| n.to_str());
        match name {
            Some("cgroup.procs") => {
                let own = path
                    .parent()
                    .and_then(Path::parent)
                    .expect("a parent cgroup");
                assert_eq!(path, &own.join(&opts.cgroup_init_name).join("cgroup.procs"));
                if own == cgroupfs.as_path() {
                    assert!(
                        listed_procs.contains(data),
                        "{data:?} was not in cgroup.procs"
                    );
                }
            }
            Some("cgroup.subtree_control") => {
                if path.parent() == Some(cgroupfs.as_path()) {
                    for word in data.split(' ') {
                        let controller = word.strip_prefix('+').expect("only enables");
                        assert!(listed_controllers.contains(controller), "{word:?}");
                    }
                }
            }
            other => panic!("wrote {other:?}"),
        }
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

/// The container-init rule's first clause ([`container_evidence`]) on the
/// same files: a `/docker/<id>` cgroup line added gives the cgroup
/// evidence, an overlay mounted on / last gives the root filesystem's;
/// neither takes evidence away.
fn container_evidence_grows(self_cgroup: &[u8], mountinfo: &[u8]) {
    let (cgroup, mounts) = (
        String::from_utf8_lossy(self_cgroup),
        String::from_utf8_lossy(mountinfo),
    );
    let before = container_evidence(&mounts, &cgroup, None);
    let nl = |text: &str| {
        if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        }
    };
    let cgroup_more = format!("{cgroup}{}0::/docker/{}\n", nl(&cgroup), "e3a8".repeat(16));
    let after = container_evidence(&mounts, &cgroup_more, None);
    assert!(
        after.iter().any(|e| e.starts_with("its cgroup ")),
        "{after:?}"
    );
    assert!(after.len() >= before.len(), "{before:?} -> {after:?}");
    let mounts_more = format!(
        "{mounts}{}999 1 0:99 / / rw,relatime - overlay overlay rw,lowerdir=/l\n",
        nl(&mounts)
    );
    let after = container_evidence(&mounts_more, &cgroup, None);
    assert!(
        after
            .iter()
            .any(|e| e.contains("root filesystem is overlay")),
        "{after:?}"
    );
    assert!(after.len() >= before.len(), "{before:?} -> {after:?}");
}
