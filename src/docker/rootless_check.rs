//! Prerequisites for rootless dockerd (rootlesskit), as evidence.
//!
//! Each item is what dockerd-rootless.sh or rootlesskit would otherwise fail
//! on at start, with the fix: rootlesskit and dockerd on PATH, subuid/subgid
//! ranges for the user, newuidmap/newgidmap setuid or with file caps,
//! unprivileged user namespaces, /dev/net/tun usable by the user (slirp4netns
//! fails with "open: Permission denied" otherwise), writable XDG_RUNTIME_DIR
//! and HOME.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::evidence::{Evidence, Verdict};

/// Fewer subordinate ids than this breaks images with high uids (nobody=65534).
pub const RECOMMENDED_SUBID_COUNT: u64 = 65536;

/// The account rootless dockerd would run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootlessUser {
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
}

/// Injected locations (real ones from [`RootlessPaths::default`]).
#[derive(Debug, Clone)]
pub struct RootlessPaths {
    pub subuid: PathBuf,
    pub subgid: PathBuf,
    pub max_user_namespaces: PathBuf,
    pub dev_net_tun: PathBuf,
    /// The PATH to search for rootlesskit, dockerd, newuidmap, newgidmap.
    pub search_path: String,
}

impl Default for RootlessPaths {
    fn default() -> Self {
        Self {
            subuid: PathBuf::from("/etc/subuid"),
            subgid: PathBuf::from("/etc/subgid"),
            max_user_namespaces: PathBuf::from("/proc/sys/user/max_user_namespaces"),
            dev_net_tun: PathBuf::from("/dev/net/tun"),
            search_path: super::detect::DEFAULT_PATH.to_owned(),
        }
    }
}

/// The evidence, and the names of the missing required pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RootlessCheck {
    pub evidence: Vec<Evidence>,
    pub missing: Vec<String>,
}

impl RootlessCheck {
    pub fn ready(&self) -> bool {
        self.missing.is_empty()
    }

    fn ok(&mut self, probe: &'static str, saw: String) {
        self.evidence.push(Evidence::new(probe, Verdict::Ok, saw));
    }

    fn missing(&mut self, probe: &'static str, saw: String) {
        self.missing.push(probe.to_owned());
        self.evidence
            .push(Evidence::new(probe, Verdict::Missing, saw));
    }

    fn warn(&mut self, probe: &'static str, saw: String) {
        self.evidence
            .push(Evidence::new(probe, Verdict::Warning, saw));
    }
}

/// Runs every check; never stops early, so doctor shows all that is missing.
pub fn rootless_prerequisites(paths: &RootlessPaths, user: &RootlessUser) -> RootlessCheck {
    let mut check = RootlessCheck::default();
    for tool in ["rootlesskit", "dockerd"] {
        match find_in_path(tool, &paths.search_path) {
            Some(p) => check.ok(tool, format!("{} on PATH", p.display())),
            None => check.missing(
                tool,
                format!(
                    "{tool} is not on PATH ({}): install it (Debian: rootlesskit, docker.io)",
                    paths.search_path
                ),
            ),
        }
    }
    check_subids(&mut check, "subuid", &paths.subuid, user);
    check_subids(&mut check, "subgid", &paths.subgid, user);
    for tool in ["newuidmap", "newgidmap"] {
        check_id_mapper(&mut check, tool, &paths.search_path);
    }
    check_user_namespaces(&mut check, &paths.max_user_namespaces);
    check_tun(&mut check, &paths.dev_net_tun, user);
    check_writable_dir(
        &mut check,
        "XDG_RUNTIME_DIR",
        user.xdg_runtime_dir.as_deref(),
        user,
    );
    check_writable_dir(&mut check, "HOME", user.home.as_deref(), user);
    check
}

/// `which` with an injected PATH (cwd only matters for relative entries).
pub fn find_in_path(name: &str, search_path: &str) -> Option<PathBuf> {
    which::which_in(name, Some(search_path), "/").ok()
}

/// One /etc/subuid or /etc/subgid line: `owner:start:count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubIdRange {
    pub owner: String,
    pub start: u64,
    pub count: u64,
}

/// Parses subuid/subgid text; malformed lines are skipped.
pub fn parse_subids(text: &str) -> Vec<SubIdRange> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let owner = f.next().filter(|o| !o.is_empty() && !o.starts_with('#'))?;
            let start = f.next()?.parse().ok()?;
            let count = f.next()?.parse().ok()?;
            f.next().is_none().then(|| SubIdRange {
                owner: owner.to_owned(),
                start,
                count,
            })
        })
        .collect()
}

fn check_subids(check: &mut RootlessCheck, probe: &'static str, path: &Path, user: &RootlessUser) {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return check.missing(
                probe,
                format!(
                    "cannot read {}: {e}; add `{}:100000:65536`",
                    path.display(),
                    owner_label(user)
                ),
            );
        }
    };
    let uid = user.uid.to_string();
    let total: u64 = parse_subids(&text)
        .iter()
        .filter(|r| r.owner == uid || Some(&r.owner) == user.name.as_ref())
        .map(|r| r.count)
        .sum();
    match total {
        0 => check.missing(probe, format!("no range for {} in {}: add `{}:100000:65536`", owner_label(user), path.display(), owner_label(user))),
        n if n < RECOMMENDED_SUBID_COUNT => check.warn(probe, format!("{} has only {n} ids in {} (fewer than {RECOMMENDED_SUBID_COUNT}): images with high uids will fail to unpack", owner_label(user), path.display())),
        n => check.ok(probe, format!("{} has {n} ids in {}", owner_label(user), path.display())),
    }
}

fn owner_label(user: &RootlessUser) -> String {
    user.name.clone().unwrap_or_else(|| user.uid.to_string())
}

fn check_id_mapper(check: &mut RootlessCheck, tool: &'static str, search_path: &str) {
    let Some(path) = find_in_path(tool, search_path) else {
        return check.missing(
            tool,
            format!("{tool} is not on PATH: install the uidmap package"),
        );
    };
    let setuid_root = fs::metadata(&path).is_ok_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0);
    if setuid_root {
        check.ok(tool, format!("{} is setuid root", path.display()));
    } else if has_file_capabilities(&path) {
        check.ok(tool, format!("{} has file capabilities", path.display()));
    } else {
        check.missing(tool, format!("{} is neither setuid root nor has file capabilities: `chmod u+s` it or `setcap cap_setuid+ep` (for newgidmap cap_setgid+ep)", path.display()));
    }
}

/// True when `path` carries a `security.capability` xattr (setcap).
pub fn has_file_capabilities(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let name = c"security.capability";
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the
    // call; a null buffer with size 0 asks only for the value's length and
    // makes the kernel write nothing.
    let len = unsafe { libc::getxattr(c_path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    len > 0
}

fn check_user_namespaces(check: &mut RootlessCheck, path: &Path) {
    let probe = "max_user_namespaces";
    match fs::read_to_string(path).map(|t| t.trim().parse::<u64>()) {
        Ok(Ok(0)) => check.missing(probe, format!("{} is 0: unprivileged user namespaces are disabled; set user.max_user_namespaces > 0 on the host", path.display())),
        Ok(Ok(n)) => check.ok(probe, format!("{} is {n}", path.display())),
        Ok(Err(_)) => check.warn(probe, format!("{} is not a number", path.display())),
        Err(e) => check.warn(probe, format!("cannot read {}: {e}", path.display())),
    }
}

fn check_tun(check: &mut RootlessCheck, path: &Path, user: &RootlessUser) {
    let probe = "/dev/net/tun";
    let meta = match fs::metadata(path) {
        Ok(m) if m.file_type().is_char_device() => m,
        Ok(_) => {
            return check.missing(
                probe,
                format!("{} is not a character device", path.display()),
            )
        }
        Err(e) => {
            return check.missing(
                probe,
                format!(
                    "{}: {e}; run the container with --device /dev/net/tun",
                    path.display()
                ),
            )
        }
    };
    if user_may(&meta, user, READ | WRITE) {
        check.ok(
            probe,
            format!(
                "{} (mode {:o}) is read-write for uid {}",
                path.display(),
                meta.mode() & 0o777,
                user.uid
            ),
        );
    } else {
        check.missing(probe, format!("{} is mode {:o} owner {}:{}, not read-write for uid {}: slirp4netns fails with \"open: Permission denied\"; chmod 0666 it or give the user its group", path.display(), meta.mode() & 0o777, meta.uid(), meta.gid(), user.uid));
    }
}

fn check_writable_dir(
    check: &mut RootlessCheck,
    probe: &'static str,
    dir: Option<&Path>,
    user: &RootlessUser,
) {
    let Some(dir) = dir else {
        return check.warn(
            probe,
            format!(
                "{probe} is not set; berth must provide one owned by uid {}",
                user.uid
            ),
        );
    };
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() && user_may(&m, user, WRITE | EXEC) => check.ok(
            probe,
            format!("{} is writable by uid {}", dir.display(), user.uid),
        ),
        Ok(m) => check.missing(
            probe,
            format!(
                "{} (owner {}, mode {:o}) is not a directory writable by uid {}",
                dir.display(),
                m.uid(),
                m.mode() & 0o777,
                user.uid
            ),
        ),
        Err(e) => check.missing(probe, format!("{}: {e}", dir.display())),
    }
}

const READ: u32 = 4;
const WRITE: u32 = 2;
const EXEC: u32 = 1;

/// Classic permission-bit check for another user (berth runs as root, so
/// access(2) would answer for root, not for the rootless user).
fn user_may(meta: &fs::Metadata, user: &RootlessUser, want: u32) -> bool {
    if user.uid == 0 {
        return true;
    }
    let mode = meta.mode();
    let bits = if meta.uid() == user.uid {
        mode >> 6
    } else if meta.gid() == user.gid || user.groups.contains(&meta.gid()) {
        mode >> 3
    } else {
        mode
    };
    bits & want == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn user(uid: u32) -> RootlessUser {
        RootlessUser {
            name: Some("dev".into()),
            uid,
            gid: uid,
            groups: vec![uid],
            home: None,
            xdg_runtime_dir: None,
        }
    }

    fn exe(dir: &Path, name: &str, mode: u32) {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    struct Sandbox {
        dir: tempfile::TempDir,
        paths: RootlessPaths,
    }

    fn sandbox() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        fs::create_dir(&bin).expect("mkdir");
        let paths = RootlessPaths {
            subuid: dir.path().join("subuid"),
            subgid: dir.path().join("subgid"),
            max_user_namespaces: dir.path().join("max_user_namespaces"),
            dev_net_tun: PathBuf::from("/dev/null"),
            search_path: bin.to_string_lossy().into_owned(),
        };
        Sandbox { dir, paths }
    }

    #[test]
    fn parse_subids_skips_garbage() {
        let r = parse_subids("dev:100000:65536\n# c\nbad\n1000:200000:10\nx:1:2:3\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].owner, "1000");
    }

    #[test]
    fn everything_missing_is_listed() {
        let s = sandbox();
        let mut paths = s.paths.clone();
        paths.dev_net_tun = s.dir.path().join("tun");
        let check = rootless_prerequisites(&paths, &user(1000));
        assert!(!check.ready());
        for piece in [
            "rootlesskit",
            "dockerd",
            "subuid",
            "subgid",
            "newuidmap",
            "newgidmap",
            "/dev/net/tun",
        ] {
            assert!(
                check.missing.iter().any(|m| m == piece),
                "{piece} not in {:?}",
                check.missing
            );
        }
    }

    #[test]
    fn complete_setup_is_ready() {
        let s = sandbox();
        let bin = s.dir.path().join("bin");
        exe(&bin, "rootlesskit", 0o755);
        exe(&bin, "dockerd", 0o755);
        exe(&bin, "newuidmap", 0o4755);
        exe(&bin, "newgidmap", 0o4755);
        fs::write(&s.paths.subuid, "dev:100000:65536\n").expect("write");
        fs::write(&s.paths.subgid, "1000:100000:65536\n").expect("write");
        fs::write(&s.paths.max_user_namespaces, "63000\n").expect("write");
        let run = s.dir.path().join("run");
        fs::create_dir(&run).expect("mkdir");
        fs::set_permissions(&run, fs::Permissions::from_mode(0o777)).expect("chmod");
        let mut u = user(1000);
        u.xdg_runtime_dir = Some(run.clone());
        u.home = Some(run);
        let check = rootless_prerequisites(&s.paths, &u);
        if !nix::unistd::geteuid().is_root() {
            // Only root can create a setuid-root file; the rest is covered.
            eprintln!("skipped setuid assertions: not root");
            return;
        }
        assert!(check.ready(), "{:#?}", check.evidence);
    }

    #[test]
    fn small_subid_range_warns_and_zero_namespaces_is_missing() {
        let s = sandbox();
        fs::write(&s.paths.subuid, "dev:100000:1000\n").expect("write");
        fs::write(&s.paths.max_user_namespaces, "0\n").expect("write");
        let check = rootless_prerequisites(&s.paths, &user(1000));
        assert!(check
            .evidence
            .iter()
            .any(|e| e.probe == "subuid" && e.verdict == Verdict::Warning));
        assert!(check.missing.iter().any(|m| m == "max_user_namespaces"));
    }

    #[test]
    fn tun_mode_bits_decide_for_the_user() {
        let s = sandbox();
        // /dev/null is 0666: usable by anyone.
        let check = rootless_prerequisites(&s.paths, &user(1000));
        assert!(!check.missing.iter().any(|m| m == "/dev/net/tun"));
        let tun = Path::new("/dev/net/tun");
        if let Ok(meta) = fs::metadata(tun) {
            if meta.mode() & 0o006 == 0 && meta.uid() == 0 {
                let mut paths = s.paths.clone();
                paths.dev_net_tun = tun.to_owned();
                let check = rootless_prerequisites(&paths, &user(1000));
                assert!(check.missing.iter().any(|m| m == "/dev/net/tun"));
            }
        }
    }

    #[test]
    fn non_setuid_mapper_is_missing() {
        let s = sandbox();
        exe(&s.dir.path().join("bin"), "newuidmap", 0o755);
        let check = rootless_prerequisites(&s.paths, &user(1000));
        let e = check
            .evidence
            .iter()
            .find(|e| e.probe == "newuidmap")
            .expect("evidence");
        assert_eq!(e.verdict, Verdict::Missing);
        assert!(e.saw.contains("setcap"), "{}", e.saw);
    }
}
