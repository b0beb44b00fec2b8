//! Rootless dockerd: the prerequisites of dockerd under rootlesskit as an
//! unprivileged target user, the fixes berth may apply while still root, and
//! the command line (what `dockerd-rootless.sh` does, without a shell).
//!
//! [`inspect`] reports a checklist; [`prepare`] first applies the fixes that
//! are safe as root (subordinate id ranges, the user's runtime dir, access to
//! a per-container /dev/net/tun), then reports. Nothing here widens access
//! for anyone but the target user.
//!
//! /dev/net/tun decision: slirp4netns runs as the user and opens the node
//! read-write; in privileged containers it is root's 0600. berth chowns the
//! node to the user, mode unchanged, and only when the node is the
//! container's own (a node on the container's /dev tmpfs, created by the
//! runtime with mknod). It never chmods 0666: any process of any user could
//! then create network interfaces, the same mistake as a 0666 docker socket
//! (DESIGN invariant 7). It never touches a node that is a bind mount or
//! sits on a devtmpfs: that is the host's node, shared by every container.
//! A group plus 0660 would need a group-file edit for one user's need; the
//! chown grants exactly that user.
//!
//! Checked by hand on this machine, in a private mount namespace shaped like
//! a container (own /etc copy, a fresh 0600 tun node on a tmpfs /dev/net):
//! [`prepare`] added the subid ranges, chowned the node and made
//! /run/user/1000; [`rootless_command`] run as uid 1000 (with the child
//! cleanup step) gave a dockerd 20.10 that `docker info` reports as
//! `name=rootless`, overlay2.

mod command;
mod subid;

pub use command::{remove_child_stale_run_entries, rootless_command, RootlesskitOptions};
use subid::read_optional;
pub use subid::{
    ensure_subid_ranges, free_range_start, parse_subid, ranges_of, total_ids, SubIdRange,
};

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::Mode;

use crate::docker::engine::dockerd_args::{
    dockerd_command, DockerdArgsError, DockerdOptions, Flavor,
};
use crate::host::mountinfo::MountInfo;
use crate::host::syscall::Syscall;
use crate::host::HostFacts;

/// First subordinate id berth hands out (shadow's SUB_UID_MIN default).
pub const SUBID_FLOOR: u64 = 100_000;
/// Size of a range berth creates; images need ids up to 65535.
pub const SUBID_COUNT: u64 = 65_536;
/// slirp4netns's MTU default in dockerd-rootless.sh.
pub const SLIRP4NETNS_MTU: u32 = 65_520;
/// /dev/net/tun's device number.
pub const TUN_MAJOR: u64 = 10;
pub const TUN_MINOR: u64 = 200;
/// Paths dockerd-rootless.sh removes inside the namespace before dockerd:
/// with `--copy-up=/run` they are symlinks into the parent's /run, which
/// the user cannot write.
pub const CHILD_STALE_RUN_ENTRIES: [&str; 3] = ["docker", "containerd", "xtables.lock"];

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// Errors of the individual fixes and of the command builder.
#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("no free range of {count} subordinate ids in {path}")]
    NoFreeRange { path: PathBuf, count: u64 },
    #[error("cannot chown {path} to {uid}:{gid}: {source}")]
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
        source: nix::errno::Errno,
    },
    #[error(transparent)]
    DockerdArgs(#[from] DockerdArgsError),
}

/// The user dockerd runs as (resolved by the caller from /etc/passwd and
/// /etc/group, without NSS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    pub home: PathBuf,
}

impl RootlessUser {
    /// `/run/user/<uid>` under `run_user`.
    pub fn runtime_dir(&self, run_user: &Path) -> PathBuf {
        run_user.join(self.uid.to_string())
    }

    /// Where rootless dockerd keeps its data.
    pub fn data_root(&self) -> PathBuf {
        self.home.join(".local/share/docker")
    }
}

/// Every path the checks read or fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessPaths {
    pub subuid: PathBuf,
    pub subgid: PathBuf,
    pub max_user_namespaces: PathBuf,
    pub dev_net_tun: PathBuf,
    pub mountinfo: PathBuf,
    /// `/run/user`.
    pub run_user: PathBuf,
    /// `/run`, copied up by rootlesskit.
    pub run_dir: PathBuf,
    /// PATH to look for newuidmap, newgidmap, rootlesskit, slirp4netns.
    pub search_path: OsString,
    /// /proc/self/status: `NoNewPrivs`, which berth's children inherit.
    pub status: PathBuf,
}

impl RootlessPaths {
    /// The real places, with the host's proc root and PATH.
    pub fn for_host(host: &HostFacts) -> Self {
        Self {
            subuid: "/etc/subuid".into(),
            subgid: "/etc/subgid".into(),
            max_user_namespaces: host.proc("sys/user/max_user_namespaces"),
            dev_net_tun: "/dev/net/tun".into(),
            mountinfo: host.mountinfo(),
            run_user: "/run/user".into(),
            run_dir: "/run".into(),
            search_path: host.search_path(),
            status: host.proc_self().join("status"),
        }
    }
}

/// Which prerequisite a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Subuid,
    Subgid,
    Newuidmap,
    Newgidmap,
    MaxUserNamespaces,
    DevNetTun,
    XdgRuntimeDir,
    Home,
    Rootlesskit,
    Slirp4netns,
    /// /run/docker etc. in the parent, which break dockerd after copy-up.
    RunCopyUp,
}

impl Check {
    /// The check's name, as in `berth doctor` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Subuid => "subuid",
            Check::Subgid => "subgid",
            Check::Newuidmap => "newuidmap",
            Check::Newgidmap => "newgidmap",
            Check::MaxUserNamespaces => "max_user_namespaces",
            Check::DevNetTun => "dev_net_tun",
            Check::XdgRuntimeDir => "xdg_runtime_dir",
            Check::Home => "home",
            Check::Rootlesskit => "rootlesskit",
            Check::Slirp4netns => "slirp4netns",
            Check::RunCopyUp => "run_copy_up",
        }
    }
}

/// A met prerequisite.
fn ok(check: Check, detail: impl Into<String>) -> Finding {
    Finding::new(check.as_str(), Verdict::Ok, detail).about(Mode::Rootless)
}

/// An unmet prerequisite: [`Verdict::Fixable`] when [`prepare`] (as root)
/// meets it itself, else [`Verdict::Missing`].
fn missing(
    check: Check,
    problem: impl Into<String>,
    fix: impl Into<String>,
    berth_can_fix: bool,
) -> Finding {
    let verdict = if berth_can_fix {
        Verdict::Fixable
    } else {
        Verdict::Missing
    };
    Finding::new(check.as_str(), verdict, problem)
        .with_fix(fix)
        .about(Mode::Rootless)
}

// ---------------------------------------------------------------- subuid/subgid
fn check_subid(check: Check, path: &Path, user: &RootlessUser) -> Finding {
    let text = match read_optional(path) {
        Ok(t) => t,
        Err(err) => {
            return missing(
                check,
                err.to_string(),
                format!("make {} readable", path.display()),
                false,
            )
        }
    };
    let ranges = parse_subid(&text);
    let mine = ranges_of(&ranges, user);
    let total = total_ids(&mine);
    if mine.is_empty() {
        missing(
            check,
            format!("{} has no range for {}", path.display(), user.name),
            format!(
                "add `{}:{SUBID_FLOOR}:{SUBID_COUNT}` to {}",
                user.name,
                path.display()
            ),
            true,
        )
    } else if total < SUBID_COUNT {
        missing(
            check,
            format!(
                "{} gives {} only {total} ids; images using ids up to 65535 fail to unpack",
                path.display(),
                user.name
            ),
            format!(
                "give {} at least {SUBID_COUNT} ids in {}",
                user.name,
                path.display()
            ),
            false,
        )
    } else {
        ok(
            check,
            format!("{} ids for {} in {}", total, user.name, path.display()),
        )
    }
}

// ---------------------------------------------------------------- newuidmap

/// Whether a `security.capability` value grants `cap` in the permitted set
/// with the effective flag (what `setcap cap_setuid+ep` writes).
/// Layout: le32 magic_etc, then le32 permitted/inheritable pairs
/// (one pair in revision 1, two in 2 and 3; revision 3 adds a rootid).
pub fn file_caps_grant(xattr: &[u8], cap: u32) -> bool {
    const VFS_CAP_FLAGS_EFFECTIVE: u32 = 0x1;
    let word = |i: usize| -> Option<u32> {
        let bytes = xattr.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let Some(magic) = word(0) else { return false };
    let revision = magic >> 24;
    if !(1..=3).contains(&revision) || magic & VFS_CAP_FLAGS_EFFECTIVE == 0 {
        return false;
    }
    // permitted words sit at 1 (caps 0..31) and 3 (caps 32..63).
    let (index, bit) = if cap < 32 { (1, cap) } else { (3, cap - 32) };
    word(index).is_some_and(|w| w & (1 << bit) != 0)
}

fn find_on_path(name: &str, search_path: &OsString) -> Option<PathBuf> {
    which::which_in(name, Some(search_path), "/").ok()
}

/// What to change when no_new_privileges keeps newuidmap/newgidmap from
/// gaining their privilege.
pub const NO_NEW_PRIVILEGES_FIX: &str = "drop no-new-privileges: `docker run --security-opt no-new-privileges=false` (or no `no-new-privileges:true` in a compose file's security_opt, or in the engine's daemon.json), `allowPrivilegeEscalation: true` in Kubernetes; or use berth's rootful dockerd (BERTH_DOCKER=dind) in a privileged container";

/// Whether berth runs under no_new_privileges (`NoNewPrivs: 1` in
/// /proc/self/status, prctl(2) PR_SET_NO_NEW_PRIVS), which every process it
/// starts inherits: exec then ignores setuid bits and file capabilities, so
/// rootlesskit's newuidmap cannot write the uid_map ("write to uid_map
/// failed: Operation not permitted"). None: unknown.
fn no_new_privs(paths: &RootlessPaths) -> Option<bool> {
    let text = crate::host::read_kernel_text(&paths.status).ok()?;
    crate::host::caps::ProcStatus::parse(&text).no_new_privs
}

fn check_idmap(
    check: Check,
    tool: &str,
    cap: u32,
    cap_name: &str,
    paths: &RootlessPaths,
    ops: &dyn Syscall,
) -> Finding {
    let Some(bin) = find_on_path(tool, &paths.search_path) else {
        return missing(
            check,
            format!("{tool} is not on PATH"),
            "install the uidmap package (Debian/Ubuntu) or shadow-uidmap (Alpine)",
            false,
        );
    };
    if no_new_privs(paths) == Some(true) {
        return missing(
            check,
            format!("{} cannot be used: the container runs with no-new-privileges (NoNewPrivs: 1 in {}), so its setuid bit or {cap_name} file capability is ignored and rootlesskit fails with \"write to uid_map failed\"", bin.display(), paths.status.display()),
            NO_NEW_PRIVILEGES_FIX,
            false,
        );
    }
    let meta = match fs::metadata(&bin) {
        Ok(m) => m,
        Err(err) => {
            return missing(
                check,
                format!("cannot stat {}: {err}", bin.display()),
                "reinstall the uidmap package",
                false,
            )
        }
    };
    if meta.mode() & 0o4000 != 0 && meta.uid() == 0 {
        return ok(check, format!("{} is setuid root", bin.display()));
    }
    match ops.getxattr(&bin, "security.capability") {
        Ok(Some(caps)) if file_caps_grant(&caps, cap) => {
            return ok(check, format!("{} has {cap_name}+ep", bin.display()))
        }
        Ok(_) => {}
        Err(errno) => {
            tracing::debug!(path = %bin.display(), %errno, "cannot read file capabilities")
        }
    }
    missing(
        check,
        format!("{} is neither setuid root nor has {cap_name}+ep (image layers built without xattrs lose file capabilities)", bin.display()),
        format!("in the image: chmod u+s {} (or setcap {cap_name}+ep {})", bin.display(), bin.display()),
        false,
    )
}

// ---------------------------------------------------------------- /dev/net/tun

/// The rwx bits that apply to `user` for a file of this owner and mode
/// (the kernel's rule, `host::permission::bits_for`).
fn permission_bits(file_uid: u32, file_gid: u32, mode: u32, user: &RootlessUser) -> u32 {
    let ids = crate::host::permission::Ids {
        uid: user.uid,
        gid: user.gid,
        groups: &user.groups,
    };
    crate::host::permission::bits_for(ids, file_uid, file_gid, mode)
}

/// Whether the uid/gids may open a file of this owner and mode read-write.
pub fn can_read_write(file_uid: u32, file_gid: u32, mode: u32, user: &RootlessUser) -> bool {
    permission_bits(file_uid, file_gid, mode, user) & 0o6 == 0o6
}

/// Whether the tun node is the container's own (safe to chown), judged from
/// mountinfo: not a bind mount itself, and not on a devtmpfs (the host's).
fn tun_node_is_private(mountinfo_text: &str, tun: &Path) -> Result<(), String> {
    let mounts = MountInfo::parse(mountinfo_text);
    match mounts.mount_containing(tun) {
        Some(m) if Path::new(&m.mount_point) == tun => {
            Err(format!("{} is bind-mounted from the host", tun.display()))
        }
        Some(m) if m.fs_type == "devtmpfs" => Err(format!(
            "{} is on the host's devtmpfs ({})",
            tun.display(),
            m.mount_point
        )),
        Some(_) => Ok(()),
        None => Err(format!("no mount holding {} in mountinfo", tun.display())),
    }
}

fn check_tun(paths: &RootlessPaths, user: &RootlessUser) -> Finding {
    const CHECK: Check = Check::DevNetTun;
    let tun = &paths.dev_net_tun;
    let meta = match fs::metadata(tun) {
        Ok(m) => m,
        Err(err) => {
            return missing(
                CHECK,
                format!("{}: {err}", tun.display()),
                "run the container with --device /dev/net/tun (or --privileged)",
                false,
            )
        }
    };
    let rdev = meta.rdev();
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    if !meta.file_type().is_char_device() || (major, minor) != (TUN_MAJOR, TUN_MINOR) {
        return missing(
            CHECK,
            format!("{} is not the tun character device 10:200", tun.display()),
            "run the container with --device /dev/net/tun",
            false,
        );
    }
    let mode = meta.mode() & 0o7777;
    if can_read_write(meta.uid(), meta.gid(), mode, user) {
        return ok(
            CHECK,
            format!(
                "{} ({:04o}, uid {}) is usable by {}",
                tun.display(),
                mode,
                meta.uid(),
                user.name
            ),
        );
    }
    let problem = format!(
        "{} is {:04o} owned by {}:{}: slirp4netns as {} fails with \"open: Permission denied\"",
        tun.display(),
        mode,
        meta.uid(),
        meta.gid(),
        user.name
    );
    let private = crate::host::read_kernel_text(&paths.mountinfo)
        .map_err(|e| format!("cannot read {}: {e}", paths.mountinfo.display()))
        .and_then(|text| tun_node_is_private(&text, tun));
    match private {
        Ok(()) => missing(
            CHECK,
            format!("{problem} (the container's own node)"),
            format!("chown {} {}", user.uid, tun.display()),
            true,
        ),
        Err(why) => missing(
            CHECK,
            format!("{problem}; berth leaves it alone: {why}"),
            "give the container its own node with --device /dev/net/tun instead of mounting the host's /dev",
            false,
        ),
    }
}

// ---------------------------------------------------------------- dirs

fn check_runtime_dir(paths: &RootlessPaths, user: &RootlessUser) -> Finding {
    const CHECK: Check = Check::XdgRuntimeDir;
    let dir = user.runtime_dir(&paths.run_user);
    let fix = format!(
        "mkdir -m 0700 {0} && chown {1}:{2} {0}",
        dir.display(),
        user.uid,
        user.gid
    );
    match fs::metadata(&dir) {
        Ok(m)
            if m.is_dir()
                && m.uid() == user.uid
                && m.mode() & 0o077 == 0
                && m.mode() & 0o700 == 0o700 =>
        {
            ok(
                CHECK,
                format!("{} is 0700 and owned by {}", dir.display(), user.name),
            )
        }
        Ok(m) if !m.is_dir() => missing(
            CHECK,
            format!("{} is not a directory", dir.display()),
            format!("remove {}", dir.display()),
            false,
        ),
        Ok(m) => missing(
            CHECK,
            format!(
                "{} is {:04o} owned by uid {}",
                dir.display(),
                m.mode() & 0o7777,
                m.uid()
            ),
            fix,
            true,
        ),
        Err(err) => missing(CHECK, format!("{}: {err}", dir.display()), fix, true),
    }
}

/// Create `/run/user/<uid>` 0700 owned by the user, or bring an existing one
/// to that owner and mode (tightening only).
pub fn ensure_runtime_dir(
    paths: &RootlessPaths,
    user: &RootlessUser,
    ops: &dyn Syscall,
) -> Result<PathBuf, RootlessError> {
    let dir = user.runtime_dir(&paths.run_user);
    let err = |source| RootlessError::Write {
        path: dir.clone(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&paths.run_user)
        .map_err(err)?;
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(e)),
    }
    ops.chown(&dir, user.uid, user.gid)
        .map_err(|source| RootlessError::Chown {
            path: dir.clone(),
            uid: user.uid,
            gid: user.gid,
            source,
        })?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    Ok(dir)
}

fn check_home(user: &RootlessUser) -> Finding {
    const CHECK: Check = Check::Home;
    let home = &user.home;
    let fix = format!(
        "in the image: chown {}:{} {}",
        user.uid,
        user.gid,
        home.display()
    );
    match fs::metadata(home) {
        Ok(m) if m.is_dir() && can_write(m.uid(), m.gid(), m.mode(), user) => ok(
            CHECK,
            format!("{} is writable by {}", home.display(), user.name),
        ),
        Ok(m) => missing(
            CHECK,
            format!(
                "{} ({:04o}, uid {}) is not a directory {} can write",
                home.display(),
                m.mode() & 0o7777,
                m.uid(),
                user.name
            ),
            fix,
            false,
        ),
        Err(err) => missing(CHECK, format!("{}: {err}", home.display()), fix, false),
    }
}

/// Whether the user may create entries in a directory of this owner and mode
/// (write and search).
fn can_write(file_uid: u32, file_gid: u32, mode: u32, user: &RootlessUser) -> bool {
    permission_bits(file_uid, file_gid, mode, user) & 0o3 == 0o3
}

// ---------------------------------------------------------------- checklist

/// The checklist, without changing anything.
pub fn inspect(
    paths: &RootlessPaths,
    user: &RootlessUser,
    euid: u32,
    ops: &dyn Syscall,
) -> Vec<Finding> {
    let mut findings = vec![
        check_subid(Check::Subuid, &paths.subuid, user),
        check_subid(Check::Subgid, &paths.subgid, user),
        check_idmap(
            Check::Newuidmap,
            "newuidmap",
            CAP_SETUID,
            "cap_setuid",
            paths,
            ops,
        ),
        check_idmap(
            Check::Newgidmap,
            "newgidmap",
            CAP_SETGID,
            "cap_setgid",
            paths,
            ops,
        ),
    ];
    findings.push(
        match fs::read_to_string(&paths.max_user_namespaces).map(|s| s.trim().parse::<u64>()) {
            Ok(Ok(n)) if n > 0 => ok(
                Check::MaxUserNamespaces,
                format!("max_user_namespaces is {n}"),
            ),
            Ok(Ok(_)) => missing(
                Check::MaxUserNamespaces,
                "user namespaces are disabled (max_user_namespaces is 0)",
                "on the host: sysctl -w user.max_user_namespaces=28633",
                false,
            ),
            _ => missing(
                Check::MaxUserNamespaces,
                format!("cannot read {}", paths.max_user_namespaces.display()),
                "use a kernel with user namespaces (CONFIG_USER_NS)",
                false,
            ),
        },
    );
    findings.push(check_tun(paths, user));
    findings.push(check_runtime_dir(paths, user));
    findings.push(check_home(user));
    for (check, tool, fix) in [
        (Check::Rootlesskit, "rootlesskit", "install rootlesskit"),
        (
            Check::Slirp4netns,
            "slirp4netns",
            "install slirp4netns (>= 0.4.0)",
        ),
    ] {
        findings.push(match find_on_path(tool, &paths.search_path) {
            Some(p) => ok(check, p.display().to_string()),
            None => missing(check, format!("{tool} is not on PATH"), fix, false),
        });
    }
    let stale: Vec<String> = CHILD_STALE_RUN_ENTRIES
        .iter()
        .map(|name| paths.run_dir.join(name))
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    findings.push(if stale.is_empty() {
        ok(Check::RunCopyUp, format!("no docker entries in {}", paths.run_dir.display()))
    } else {
        missing(
            Check::RunCopyUp,
            format!(
                "{} exist: after --copy-up=/run they are links into root's /run and rootless dockerd fails with \"mkdir /run/docker/plugins: permission denied\"",
                stale.join(", ")
            ),
            "start dockerd through a child step that removes them inside the namespace (RootlesskitOptions::child_prefix running remove_child_stale_run_entries)",
            false,
        )
    });
    for finding in findings
        .iter_mut()
        .filter(|f| f.verdict == Verdict::Fixable)
    {
        let action = finding.fix.take().unwrap_or_default();
        finding.fix = Some(if euid == 0 {
            format!("{action} (berth does it as root)")
        } else {
            // Only a root berth applies the fixes (see prepare): for any
            // other, what it could fix is missing, and the fix that applies
            // is a root start, not a command the user cannot run.
            finding.verdict = Verdict::Missing;
            root_start_fix(&action, user)
        });
    }
    findings
}

/// The fix for a prerequisite only root can meet, when berth runs as the user
/// already (`docker run --user`, USER in the image): start berth as root and
/// let it meet it and drop to the user (as DOCKER_ROOTLESS in README).
fn root_start_fix(action: &str, user: &RootlessUser) -> String {
    format!(
        "start the container as root (--user 0, or remove USER from the image): berth does \
         `{action}` itself, then runs the command as {}",
        user.name
    )
}

/// Apply the fixes that are safe as root, then report. In order: subuid and
/// subgid ranges, the runtime dir, the tun node (only the container's own;
/// see the module doc). Each fix that fails is reported in its finding; the
/// others still run. Without root (`euid` is berth's) nothing is changed.
pub fn prepare(
    paths: &RootlessPaths,
    user: &RootlessUser,
    euid: u32,
    ops: &dyn Syscall,
) -> Vec<Finding> {
    let mut findings = inspect(paths, user, euid, ops);
    if euid != 0 {
        return findings;
    }
    let fixable =
        |f: &Finding, check: Check| f.check == check.as_str() && f.verdict == Verdict::Fixable;
    // (check, Ok(what was done) or Err(why the fix failed))
    let mut fixed: Vec<(Check, Result<String, String>)> = Vec::new();
    let subid_checks: Vec<Check> = [Check::Subuid, Check::Subgid]
        .into_iter()
        .filter(|check| findings.iter().any(|f| fixable(f, *check)))
        .collect();
    if !subid_checks.is_empty() {
        let result = ensure_subid_ranges(paths, user)
            .map(|start| match start {
                Some(s) => format!("added {}:{s}:{SUBID_COUNT}", user.name),
                None => "already present".to_owned(),
            })
            .map_err(|e| e.to_string());
        fixed.extend(subid_checks.into_iter().map(|c| (c, result.clone())));
    }
    if findings.iter().any(|f| fixable(f, Check::XdgRuntimeDir)) {
        let result = ensure_runtime_dir(paths, user, ops)
            .map(|d| format!("{} is 0700, owned by {}", d.display(), user.name))
            .map_err(|e| e.to_string());
        fixed.push((Check::XdgRuntimeDir, result));
    }
    if findings.iter().any(|f| fixable(f, Check::DevNetTun)) {
        let tun = &paths.dev_net_tun;
        // The gid stays: only the owner changes, so access goes to exactly this user.
        let result = fs::metadata(tun)
            .map_err(|source| RootlessError::Read {
                path: tun.clone(),
                source,
            })
            .and_then(|m| {
                ops.chown(tun, user.uid, m.gid())
                    .map_err(|source| RootlessError::Chown {
                        path: tun.clone(),
                        uid: user.uid,
                        gid: m.gid(),
                        source,
                    })
            })
            .map(|()| {
                format!(
                    "chowned {} to uid {} (mode unchanged)",
                    tun.display(),
                    user.uid
                )
            })
            .map_err(|e| e.to_string());
        fixed.push((Check::DevNetTun, result));
    }
    for (check, result) in fixed {
        let Some(finding) = findings.iter_mut().find(|f| f.check == check.as_str()) else {
            continue;
        };
        match result {
            Ok(detail) => {
                finding.verdict = Verdict::Done;
                finding.seen = detail;
                finding.fix = None;
            }
            Err(err) => {
                // The fix stays: it is what the user can do instead.
                finding.verdict = Verdict::Missing;
                finding.seen = format!("berth's fix failed: {err}");
            }
        }
    }
    findings
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::host::syscall::{Call, RecordingSyscall};

    pub(crate) fn user(home: &Path) -> RootlessUser {
        RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![998],
            home: home.to_owned(),
        }
    }

    /// Found by the `subid` fuzz target: a user's counts were summed
    /// unchecked, so `dev:100000:18446744073709551615` with a second range
    /// panicked doctor (overflow checks) or, wrapped, reported "only 1 ids".
    /// Counts are the file's text, any u64; the total saturates.
    #[test]
    fn subid_counts_past_u64_are_plenty_not_a_panic() {
        let fx = fixture();
        fs::write(
            &fx.paths.subuid,
            "dev:100000:18446744073709551615\ndev:300000:2\n",
        )
        .expect("write");
        let finding = check_subid(Check::Subuid, &fx.paths.subuid, &user(&fx.root));
        assert_eq!(finding.verdict, Verdict::Ok, "{finding:?}");
        assert!(
            finding.seen.starts_with(&u64::MAX.to_string()),
            "{finding:?}"
        );
    }

    pub(crate) struct Fixture {
        pub(crate) _dir: tempfile::TempDir,
        pub(crate) root: PathBuf,
        pub(crate) paths: RootlessPaths,
    }

    pub(crate) fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_owned();
        for d in ["etc", "bin", "run", "dev/net", "proc"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        let paths = RootlessPaths {
            subuid: root.join("etc/subuid"),
            subgid: root.join("etc/subgid"),
            max_user_namespaces: root.join("proc/max_user_namespaces"),
            dev_net_tun: root.join("dev/net/tun"),
            mountinfo: root.join("proc/mountinfo"),
            run_user: root.join("run/user"),
            run_dir: root.join("run"),
            search_path: root.join("bin").into_os_string(),
            status: root.join("proc/status"),
        };
        fs::write(&paths.status, "Name:\tberth\nNoNewPrivs:\t0\n").expect("write");
        Fixture {
            _dir: dir,
            root,
            paths,
        }
    }

    fn status_of(findings: &[Finding], check: Check) -> &Finding {
        findings
            .iter()
            .find(|f| f.check == check.as_str())
            .expect("finding")
    }

    #[test]
    fn file_caps_are_decoded() {
        // setcap cap_setuid+ep: revision 2, effective flag, permitted bit 7.
        let mut v2 = Vec::new();
        for w in [0x0200_0001u32, 1 << 7, 0, 0, 0] {
            v2.extend_from_slice(&w.to_le_bytes());
        }
        assert!(file_caps_grant(&v2, CAP_SETUID));
        assert!(!file_caps_grant(&v2, CAP_SETGID));
        let mut no_effective = v2.clone();
        no_effective[0] = 0;
        assert!(!file_caps_grant(&no_effective, CAP_SETUID));
        assert!(!file_caps_grant(&[1, 2], CAP_SETUID));
    }

    fn exe(f: &Fixture, name: &str, mode: u32) -> PathBuf {
        let p = f.root.join("bin").join(name);
        fs::write(&p, "").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    #[test]
    fn idmap_tools_need_setuid_or_file_caps() {
        let f = fixture();
        let mut ops = RecordingSyscall::new();
        let u = user(&f.root);
        let fs_findings = inspect(&f.paths, &u, 0, &ops);
        assert!(status_of(&fs_findings, Check::Newuidmap).verdict == Verdict::Missing);
        let bin = exe(&f, "newuidmap", 0o755);
        // Owned by the test's euid; setuid only counts when owned by root.
        let findings = inspect(&f.paths, &u, 0, &ops);
        assert!(matches!(
            status_of(&findings, Check::Newuidmap).verdict,
            Verdict::Missing | Verdict::Fixable
        ));
        let mut caps = Vec::new();
        for w in [0x0200_0001u32, 1 << CAP_SETUID, 0, 0, 0] {
            caps.extend_from_slice(&w.to_le_bytes());
        }
        ops.xattrs
            .insert((bin.clone(), "security.capability".into()), caps);
        let findings = inspect(&f.paths, &u, 0, &ops);
        assert!(
            status_of(&findings, Check::Newuidmap).verdict == Verdict::Ok,
            "{findings:?}"
        );
        if nix::unistd::geteuid().is_root() {
            let gid = exe(&f, "newgidmap", 0o4755);
            assert_eq!(fs::metadata(gid).expect("stat").mode() & 0o4000, 0o4000);
            let findings = inspect(&f.paths, &u, 0, &RecordingSyscall::new());
            assert!(
                status_of(&findings, Check::Newgidmap).verdict == Verdict::Ok,
                "{findings:?}"
            );
        }
    }

    /// Under no-new-privileges newuidmap and newgidmap cannot gain their
    /// privilege however they are installed: both are missing, with the fix
    /// of dropping no-new-privileges (issue 13); doctor showed them ok.
    #[test]
    fn no_new_privileges_makes_the_idmap_tools_unusable() {
        let f = fixture();
        let mut ops = RecordingSyscall::new();
        let u = user(&f.root);
        let mut caps = Vec::new();
        for w in [
            0x0200_0001u32,
            (1 << CAP_SETUID) | (1 << CAP_SETGID),
            0,
            0,
            0,
        ] {
            caps.extend_from_slice(&w.to_le_bytes());
        }
        for tool in ["newuidmap", "newgidmap"] {
            let bin = exe(&f, tool, 0o755);
            ops.xattrs
                .insert((bin, "security.capability".into()), caps.clone());
        }
        let findings = inspect(&f.paths, &u, 0, &ops);
        assert_eq!(status_of(&findings, Check::Newuidmap).verdict, Verdict::Ok);
        fs::write(&f.paths.status, "Name:\tberth\nNoNewPrivs:\t1\n").expect("write");
        let findings = inspect(&f.paths, &u, 0, &ops);
        for check in [Check::Newuidmap, Check::Newgidmap] {
            let finding = status_of(&findings, check);
            assert_eq!(finding.verdict, Verdict::Missing, "{finding}");
            assert!(finding.seen.contains("no-new-privileges"), "{finding}");
            assert!(
                finding.seen.contains("write to uid_map failed"),
                "{finding}"
            );
            let fix = finding.fix.as_deref().expect("a fix");
            assert!(fix.starts_with("drop no-new-privileges"), "{fix}");
            assert!(
                fix.contains("--security-opt no-new-privileges=false"),
                "{fix}"
            );
            assert!(fix.contains("allowPrivilegeEscalation"), "{fix}");
        }
    }

    #[test]
    fn access_bits_follow_owner_group_other() {
        let u = user(Path::new("/"));
        assert!(!can_read_write(0, 0, 0o600, &u));
        assert!(can_read_write(1000, 0, 0o600, &u));
        assert!(can_read_write(0, 998, 0o660, &u), "supplementary group");
        assert!(!can_read_write(0, 5, 0o660, &u));
        assert!(can_read_write(0, 0, 0o666, &u));
        assert!(
            !can_read_write(1000, 0, 0o466, &u),
            "owner bits win even when others have more"
        );
    }

    #[test]
    fn tun_privacy_is_judged_from_mountinfo() {
        let tun = Path::new("/dev/net/tun");
        let tmpfs_dev = "1 0 0:1 / / rw - overlay overlay rw\n2 1 0:2 / /dev rw - tmpfs tmpfs rw\n";
        assert_eq!(tun_node_is_private(tmpfs_dev, tun), Ok(()));
        let host_dev =
            "1 0 0:1 / / rw - overlay overlay rw\n2 1 0:5 / /dev rw - devtmpfs udev rw\n";
        assert!(tun_node_is_private(host_dev, tun).is_err());
        let bind = format!("{tmpfs_dev}3 2 0:5 /net/tun /dev/net/tun rw - devtmpfs udev rw\n");
        assert!(tun_node_is_private(&bind, tun)
            .expect_err("bind")
            .contains("bind-mounted"));
        // A later mount over /dev shadows the earlier one.
        let shadowed = format!("{host_dev}4 1 0:9 / /dev rw - tmpfs tmpfs rw\n");
        assert_eq!(tun_node_is_private(&shadowed, tun), Ok(()));
    }

    #[test]
    fn real_dev_net_tun_is_classified() {
        // This machine has /dev/net/tun 0600 root (DESIGN notes); a plain file is not the device.
        let f = fixture();
        fs::write(&f.paths.dev_net_tun, "").expect("write");
        let u = user(&f.root);
        assert!(check_tun(&f.paths, &u).verdict == Verdict::Missing);
        let real = RootlessPaths {
            dev_net_tun: "/dev/net/tun".into(),
            ..f.paths.clone()
        };
        let Ok(meta) = fs::metadata("/dev/net/tun") else {
            eprintln!("skipping: no /dev/net/tun here");
            return;
        };
        fs::write(&f.paths.mountinfo, "2 1 0:2 / /dev rw - tmpfs tmpfs rw\n").expect("write");
        let finding = check_tun(&real, &u);
        if can_read_write(meta.uid(), meta.gid(), meta.mode(), &u) {
            assert!(finding.verdict == Verdict::Ok, "{finding:?}");
        } else {
            assert!(finding.verdict == Verdict::Fixable, "{finding:?}");
        }
    }

    #[test]
    fn runtime_dir_is_created_0700_and_chowned() {
        let f = fixture();
        let ops = RecordingSyscall::new();
        let u = user(&f.root);
        let dir = ensure_runtime_dir(&f.paths, &u, &ops).expect("dir");
        assert_eq!(dir, f.paths.run_user.join("1000"));
        assert_eq!(fs::metadata(&dir).expect("stat").mode() & 0o7777, 0o700);
        assert_eq!(
            ops.calls(),
            vec![Call::Chown {
                path: dir.clone(),
                uid: 1000,
                gid: 1000
            }]
        );
        // An existing, too-open dir is tightened.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        ensure_runtime_dir(&f.paths, &u, &ops).expect("again");
        assert_eq!(fs::metadata(&dir).expect("stat").mode() & 0o7777, 0o700);
    }

    #[test]
    fn prepare_fixes_what_root_may_and_reports_the_rest() {
        let f = fixture();
        fs::write(&f.paths.max_user_namespaces, "0\n").expect("write");
        let ops = RecordingSyscall::new();
        let u = user(&f.root);
        let findings = prepare(&f.paths, &u, 0, &ops);
        assert!(
            status_of(&findings, Check::Subuid).verdict == Verdict::Done,
            "{findings:?}"
        );
        assert!(status_of(&findings, Check::Subgid).verdict == Verdict::Done);
        assert!(status_of(&findings, Check::XdgRuntimeDir).verdict == Verdict::Done);
        assert!(status_of(&findings, Check::MaxUserNamespaces).verdict == Verdict::Missing);
        assert!(fs::read_to_string(&f.paths.subuid)
            .expect("read")
            .contains("dev:100000:65536"));
        let json = serde_json::to_value(&findings).expect("json");
        assert_eq!(json[0]["check"], "subuid");
        assert_eq!(json[0]["verdict"], "done");
    }

    #[test]
    fn fixes_root_would_apply_ask_for_a_root_start_when_berth_is_not_root() {
        let f = fixture();
        let u = user(&f.root);
        let as_root = inspect(&f.paths, &u, 0, &RecordingSyscall::new());
        let as_user = inspect(&f.paths, &u, 1000, &RecordingSyscall::new());
        for check in [Check::Subuid, Check::Subgid, Check::XdgRuntimeDir] {
            let root = status_of(&as_root, check);
            assert_eq!(root.verdict, Verdict::Fixable, "{root}");
            let fix = root.fix.as_deref().expect("a fix");
            assert!(fix.ends_with("(berth does it as root)"), "{fix}");
            let user = status_of(&as_user, check);
            assert_eq!(user.verdict, Verdict::Missing, "{user}");
            let fix = user.fix.as_deref().expect("a fix");
            assert!(
                fix.starts_with("start the container as root (--user 0"),
                "{fix}"
            );
            assert!(fix.contains("runs the command as dev"), "{fix}");
            assert!(!fix.contains("berth does it as root"), "{fix}");
        }
    }

    #[test]
    fn prepare_changes_nothing_without_root() {
        let f = fixture();
        let ops = RecordingSyscall::new();
        let findings = prepare(&f.paths, &user(&f.root), 1000, &ops);
        assert!(findings.iter().all(|f| f.verdict != Verdict::Done));
        assert!(!f.paths.subuid.exists());
        assert!(ops.calls().iter().all(|c| !matches!(c, Call::Chown { .. })));
    }

    #[test]
    fn failed_fix_is_reported_not_fatal() {
        let f = fixture();
        let mut ops = RecordingSyscall::new();
        ops.chown_result = Err(nix::errno::Errno::EPERM);
        let findings = prepare(&f.paths, &user(&f.root), 0, &ops);
        let failed = status_of(&findings, Check::XdgRuntimeDir);
        assert_eq!(failed.verdict, Verdict::Missing, "{failed}");
        assert!(failed.seen.contains("EPERM"), "{failed}");
        assert!(status_of(&findings, Check::Subuid).verdict == Verdict::Done);
    }

    #[test]
    fn parent_run_entries_are_reported() {
        let f = fixture();
        let u = user(&f.root);
        let findings = inspect(&f.paths, &u, 0, &RecordingSyscall::new());
        assert!(status_of(&findings, Check::RunCopyUp).verdict == Verdict::Ok);
        fs::create_dir(f.root.join("run/docker")).expect("mkdir");
        let findings = inspect(&f.paths, &u, 0, &RecordingSyscall::new());
        let stale = status_of(&findings, Check::RunCopyUp);
        assert_eq!(stale.verdict, Verdict::Missing, "{stale}");
        assert!(stale.seen.contains("run/docker"), "{stale}");
    }
}
