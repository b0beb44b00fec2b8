//! Socket: a unix socket at DOCKER_HOST or a default path that answers a
//! ping, and where it comes from (a bind mount of the host's, or not).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::facts::*;
use super::*;
use crate::docker::client::diagnosis::PingFailure;
use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::{ping_with_retry, Pinger};
use crate::docker::finding::Verdict;

/// Facts about the socket that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketFacts {
    pub path: PathBuf,
    pub gid: u32,
    #[serde(serialize_with = "serialize_octal")]
    pub mode: u32,
    /// A mount point in mountinfo: the host's socket bind-mounted in.
    pub bind_mounted: bool,
    /// The pid of the berth that serves this socket (its own in front of
    /// an engine, `docker::access::proxy`), found from the listener's
    /// credentials (SO_PEERCRED); None for any other socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by_berth: Option<i32>,
    /// berth's own engine behind this socket: a dockerd of this container
    /// that a berth process started (the run's dind, sysbox or rootless
    /// engine, seen from a `docker exec` session or a later `berth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_engine: Option<OwnEngine>,
}

/// A running dockerd that berth started in this container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OwnEngine {
    /// The engine's mode: rootless under rootlesskit, sysbox where sysboxfs
    /// is mounted, else dind.
    pub mode: Mode,
    /// dockerd's pid (this pid namespace).
    pub dockerd: i32,
    /// The berth process it descends from (PID 1 when berth is the init).
    pub berth: i32,
}

/// berth's own engine, if the socket at a path that is not a bind mount
/// is served by a dockerd that descends from a berth process (read from
/// `proc_root`: `stat` for parents, `comm` for names; berth's name is
/// `self/comm`). `listener` is the pid the kernel recorded for the
/// socket's listener (SO_PEERCRED), when berth could connect; without it
/// the first dockerd of this pid namespace stands in. `sysbox`: sysboxfs
/// is mounted here.
pub(super) fn own_engine(
    proc_root: &Path,
    listener: Option<i32>,
    sysbox: bool,
) -> Option<OwnEngine> {
    let procs = crate::init::procs::list(proc_root);
    let name = |pid: i32| procs.iter().find(|p| p.pid == pid);
    let dockerd = match listener {
        Some(pid) => name(pid).filter(|p| p.comm == "dockerd")?.pid,
        None => procs.iter().find(|p| p.comm == "dockerd")?.pid,
    };
    let ours = fs::read_to_string(proc_root.join("self/comm")).ok()?;
    let mut rootlesskit = false;
    let mut pid = name(dockerd)?.ppid;
    // A parent chain is short; the bound keeps a bad /proc from looping.
    for _ in 0..64 {
        let info = name(pid)?;
        if info.comm == ours.trim() {
            let mode = if rootlesskit {
                Mode::Rootless
            } else if sysbox {
                Mode::Sysbox
            } else {
                Mode::Dind
            };
            return Some(OwnEngine {
                mode,
                dockerd,
                berth: info.pid,
            });
        }
        rootlesskit |= info.comm == "rootlesskit" || info.comm.starts_with("dockerd-rootles");
        pid = info.ppid;
    }
    None
}

/// The pid the kernel recorded for the listener of the socket at `path`
/// (SO_PEERCRED); None when berth cannot connect.
async fn listener_pid(path: &Path) -> Option<i32> {
    let connect = tokio::net::UnixStream::connect(path);
    let stream = tokio::time::timeout(PEER_TIMEOUT, connect)
        .await
        .ok()?
        .ok()?;
    stream.peer_cred().ok()?.pid().filter(|p| *p > 0)
}

/// Permission bits as people write them ("0660"), not as a decimal number.
pub fn serialize_octal<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

fn socket_text(facts: &SocketFacts) -> String {
    format!(
        "{} is a socket, gid {}, mode {:04o}",
        facts.path.display(),
        facts.gid,
        facts.mode
    )
}

impl<P: Pinger> Probe<'_, P> {
    /// Socket candidates: DOCKER_HOST=unix://PATH alone when set, else the
    /// default paths and $XDG_RUNTIME_DIR/docker.sock.
    pub(super) fn socket_candidates(&self) -> Vec<PathBuf> {
        if let Some(path) = self.configured_unix_path() {
            return vec![path.to_owned()];
        }
        let mut candidates = self.paths.socket_candidates.clone();
        if let Some(xdg) = self
            .host
            .env
            .get("XDG_RUNTIME_DIR")
            .filter(|v| !v.is_empty())
        {
            candidates.push(Path::new(xdg).join("docker.sock"));
        }
        candidates
    }

    pub(super) async fn socket(&mut self) -> Found {
        self.probing = Some(Mode::Socket);
        let mut reasons = Vec::new();
        // /var/run is usually a link to /run: one socket, two paths.
        let mut seen: Vec<((u64, u64), PathBuf)> = Vec::new();
        for path in self.socket_candidates() {
            if let Ok(meta) = fs::metadata(&path) {
                let id = (meta.dev(), meta.ino());
                if let Some((_, first)) = seen.iter().find(|(s, _)| *s == id) {
                    self.note(
                        "socket",
                        Verdict::Skipped,
                        format!(
                            "{} is {} (the same socket, probed once)",
                            path.display(),
                            first.display()
                        ),
                    );
                    continue;
                }
                seen.push((id, path.clone()));
            }
            match self.probe_socket(&path).await {
                Ok(d) => return Found::Yes(Box::new(d)),
                Err(reason) => reasons.push(reason),
            }
        }
        Found::No(format!("no docker socket answers ({})", reasons.join("; ")))
    }

    /// lstat, follow links, require S_ISSOCK, note a bind mount, then ping.
    pub(super) async fn probe_socket(&mut self, path: &Path) -> Result<Detection, String> {
        let link = fs::symlink_metadata(path).map(|m| m.file_type().is_symlink());
        let meta = match (link, fs::metadata(path)) {
            (Err(e), _) if e.kind() == io::ErrorKind::NotFound => {
                self.note(
                    "socket",
                    Verdict::Rejected,
                    format!("{}: absent", path.display()),
                );
                if self.configured_unix_path() == Some(path) {
                    self.unanswered.push(
                        Finding::new(
                            "docker-host",
                            Verdict::Missing,
                            format!(
                                "DOCKER_HOST is unix://{0}, but nothing exists at {0}: no socket, so nothing listens there",
                                path.display()
                            ),
                        )
                        .with_fix(format!(
                            "check the path in DOCKER_HOST, or mount the host's socket there (-v /var/run/docker.sock:{}); unset DOCKER_HOST to use the default socket",
                            path.display()
                        ))
                        .about(Mode::Socket),
                    );
                }
                return Err(format!("{}: absent", path.display()));
            }
            (_, Err(e)) => {
                let why = format!("{}: {e}", path.display());
                self.note("socket", Verdict::Rejected, why.clone());
                return Err(why);
            }
            (Ok(is_link), Ok(meta)) => {
                if is_link {
                    let target = fs::canonicalize(path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default();
                    self.note(
                        "socket",
                        Verdict::Supports,
                        format!("{} is a symlink to {target}", path.display()),
                    );
                }
                meta
            }
            (Err(e), Ok(_)) => {
                let why = format!("{}: {e}", path.display());
                self.note("socket", Verdict::Rejected, why.clone());
                return Err(why);
            }
        };
        if !meta.file_type().is_socket() {
            let why = format!("{} exists but is not a socket (a directory appears when -v names a host path that does not exist)", path.display());
            self.note("socket", Verdict::Rejected, why.clone());
            return Err(why);
        }
        let bind_mounted = self.is_mount_point(path);
        let served_by_berth = if bind_mounted {
            None
        } else {
            served_by_berth(path, &self.host.proc_root).await
        };
        let own = if bind_mounted || served_by_berth.is_some() {
            None
        } else {
            let sysbox = !sysbox_fingerprints(&self.facts.mounts).is_empty();
            own_engine(&self.host.proc_root, listener_pid(path).await, sysbox)
        };
        let facts = SocketFacts {
            path: path.to_owned(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
            bind_mounted,
            served_by_berth,
            own_engine: own,
        };
        let endpoint = Endpoint::Unix {
            path: path.to_owned(),
        };
        let report = ping_with_retry(self.pinger, &endpoint, self.options.socket_retry).await;
        if !report.answered() {
            let why = format!("{}: {}", socket_text(&facts), failure_text(&report));
            self.note("socket", Verdict::Rejected, why.clone());
            if let Some(problem) = self.unanswered_problem(&facts, report.failure.as_ref()) {
                self.unanswered.push(problem);
            }
            return Err(why);
        }
        // Where it comes from matters only for a socket that answers (a dead
        // one left at a default path is no one's concern).
        let (verdict, origin) = self.socket_origin(path, &facts);
        self.note(
            "socket",
            verdict,
            format!("{}, {origin}", socket_text(&facts)),
        );
        if report.engine.as_ref().and_then(|e| e.rootless) == Some(true) {
            self.push(
                Finding::new("socket", Verdict::Warning, "the engine behind the socket is rootless (SecurityOptions has name=rootless): bind-mount sources are paths in the engine user's view, and --privileged is limited")
                    .with_fix("give sibling containers paths as the engine's user sees them; use a rootful engine for --privileged"),
            );
        }
        self.note(
            "socket",
            Verdict::Chosen,
            format!("{} answered: {}", path.display(), describe_ping(&report)),
        );
        let mut d = self.finish(Some(Mode::Socket));
        d.endpoint = Some(endpoint);
        d.engine = report.engine;
        d.socket = Some(facts);
        Ok(d)
    }

    /// The problem a socket that is there but does not answer poses, with
    /// the fix for its kind: refused (no engine behind it: restart the
    /// engine, or re-mount its current socket), denied (berth's user may
    /// not connect). None for a stale file at a default path on the
    /// container's own root fs that nobody pointed berth at.
    fn unanswered_problem(
        &self,
        facts: &SocketFacts,
        failure: Option<&PingFailure>,
    ) -> Option<Finding> {
        let path = facts.path.display();
        let configured = self.configured_unix_path() == Some(facts.path.as_path());
        let mounted = facts.bind_mounted
            || fs::canonicalize(&facts.path)
                .ok()
                .and_then(|c| self.facts.mounts.mount_containing(&c).cloned())
                .is_some_and(|m| m.mount_point != "/");
        let origin = if facts.bind_mounted {
            "mounted into the container"
        } else if mounted {
            "in a directory mounted into the container"
        } else if configured {
            "named by DOCKER_HOST"
        } else {
            return None;
        };
        let (seen, fix) = match failure {
            Some(PingFailure::PermissionDenied { .. }) => (
                format!(
                    "{path} ({origin}, gid {}, mode {:04o}) refuses berth's user: permission denied (so whether an engine answers behind it cannot be seen as this user)",
                    facts.gid,
                    facts.mode & 0o7777
                ),
                format!(
                    "run berth as root (it drops to the user itself: BERTH_USER or berth's --user) so it can give the user access, or start the container with --group-add {} (the socket's group)",
                    facts.gid
                ),
            ),
            Some(PingFailure::SocketRefused { .. }) => (
                format!("{path} ({origin}) refuses connections: no engine listens behind it (the engine stopped, or the file is a stale socket it left)"),
                format!("start or restart the engine on the host; if it now listens on another socket, mount that one here (-v HOST_SOCKET:{path}) and restart this container"),
            ),
            other => (
                format!(
                    "{path} ({origin}) does not answer: {}",
                    other.map_or_else(|| "no answer".to_owned(), ToString::to_string)
                ),
                format!("make the engine behind {path} answer (is it running?), or mount the socket of one that does"),
            ),
        };
        Some(
            Finding::new("socket", Verdict::Missing, seen)
                .with_fix(fix)
                .about(Mode::Socket),
        )
    }

    /// Where the socket comes from, judged from mountinfo. A socket on the
    /// container's own root fs at start-up was most likely left by an earlier
    /// dockerd in this container (a restart), so that case is a warning.
    pub(super) fn socket_origin(&self, path: &Path, facts: &SocketFacts) -> (Verdict, String) {
        if facts.bind_mounted {
            return (
                Verdict::Supports,
                "a mount point: the host's socket, bind-mounted".into(),
            );
        }
        if let Some(own) = facts.own_engine {
            return (
                Verdict::Supports,
                format!(
                    "served by berth's own dockerd (pid {}, started by berth pid {}): {} mode, already running",
                    own.dockerd, own.berth, own.mode
                ),
            );
        }
        if let Some(pid) = facts.served_by_berth {
            return (
                Verdict::Supports,
                format!("served by berth (pid {pid}): its own socket in front of the engine, for users the engine's socket cannot be granted to"),
            );
        }
        let holder = fs::canonicalize(path)
            .ok()
            .and_then(|c| self.facts.mounts.mount_containing(&c).cloned());
        let proc_root = &self.host.proc_root;
        let local_dockerd = crate::init::procs::find_by_comm(proc_root, "dockerd");
        match (holder, local_dockerd) {
            (Some(m), _) if m.mount_point != "/" => (
                Verdict::Supports,
                format!("not a mount point, but on mount {} (source {}{}), so its directory was mounted in", m.mount_point, m.source, m.root),
            ),
            (_, Some(pid)) => (
                Verdict::Supports,
                format!("served by dockerd (pid {pid}) running in this container"),
            ),
            _ => (
                Verdict::Warning,
                "not a mount point and on the container's own root fs: probably left by an earlier dockerd in this container".into(),
            ),
        }
    }

    /// The path or, when it goes through symlinks (/var/run -> /run), its
    /// canonical form is a mount point.
    pub(super) fn is_mount_point(&self, path: &Path) -> bool {
        let mounts = &self.facts.mounts;
        mounts.is_mount_point(path)
            || fs::canonicalize(path).is_ok_and(|c| mounts.is_mount_point(&c))
    }
}

/// How long berth waits to connect to a socket to ask who serves it.
const PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// The pid of the berth serving `path`, if a berth does: the listener's pid
/// (SO_PEERCRED, as the kernel recorded it at listen(2), in this pid
/// namespace) runs a program whose name (`/proc/PID/comm`) is this one's.
/// None when nothing answers, the caller may not connect, or the server
/// is something else (dockerd, podman, a proxy of another kind).
pub(super) async fn served_by_berth(path: &Path, proc_root: &Path) -> Option<i32> {
    let pid = listener_pid(path).await?;
    let comm = |dir: &str| fs::read_to_string(proc_root.join(dir).join("comm")).ok();
    let (theirs, ours) = (comm(&pid.to_string())?, comm("self")?);
    (theirs.trim() == ours.trim()).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::client::ping::tests::engine;
    use crate::docker::detect::tests::FakeHost;
    use crate::docker::detect::tests::*;

    use std::fs;
    use std::path::Path;

    use crate::host::mountinfo::MountInfo;

    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;

    #[test]
    fn bind_mounted_socket_answering_is_socket_mode() {
        let mut h = FakeHost::plain();
        let path = h.add_socket(true);
        let (d, asked) = h.detect(vec![Ok(engine())]);
        let d = d.expect("ok");
        assert_eq!(d.mode, Some(Mode::Socket));
        assert_eq!(asked, [format!("unix://{}", path.display())]);
        let facts = d.socket.expect("socket facts");
        assert!(facts.bind_mounted);
        assert_eq!(facts.path, path);
    }

    #[test]
    fn socket_not_mounted_is_a_warning_but_still_used() {
        let mut h = FakeHost::plain();
        h.add_socket(false);
        let d = h.detect(vec![Ok(engine())]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Socket));
        assert!(!d.socket.as_ref().expect("facts").bind_mounted);
        assert!(d
            .warnings()
            .any(|e| e.seen.contains("left by an earlier dockerd")));
    }

    #[test]
    fn socket_in_a_mounted_directory_is_supporting_evidence() {
        let mut h = FakeHost::plain();
        let path = h.add_socket(false);
        let dir = fs::canonicalize(path.parent().expect("parent")).expect("canonical");
        let mi = h.paths.proc_self.join("mountinfo");
        let mut text = fs::read_to_string(&mi).expect("read");
        text.push_str(&format!(
            "2001 1021 0:26 /docker {} rw - tmpfs tmpfs rw\n",
            dir.display()
        ));
        fs::write(&mi, text).expect("write");
        let d = h.detect(vec![Ok(engine())]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Socket));
        let socket_warnings = d.warnings().filter(|e| e.check == "socket").count();
        assert_eq!(socket_warnings, 0, "{:#?}", d.findings);
        assert!(d
            .findings
            .iter()
            .any(|e| e.seen.contains("its directory was mounted in")));
        let json = serde_json::to_value(&d).expect("json");
        assert!(
            json["socket"]["mode"]
                .as_str()
                .is_some_and(|m| m.starts_with('0')),
            "{json}"
        );
    }

    /// A root-owned socket is no problem of detection's: who gets access,
    /// and how, is `docker::access`'s decision (a proxy for gid 0).
    #[test]
    fn a_root_group_socket_is_used_without_a_warning() {
        let mut h = FakeHost::plain();
        let path = h.add_socket(true);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660)).expect("chmod");
        let d = h.detect(vec![Ok(engine())]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Socket));
        assert_eq!(d.warnings().count(), 0, "{:#?}", d.findings);
    }

    #[test]
    fn one_socket_reached_by_two_paths_is_probed_once() {
        let mut h = FakeHost::plain();
        let path = h.add_socket(false);
        // run/ is var-run/ under another name, as /var/run -> /run.
        let run = h.paths.socket_candidates[1]
            .parent()
            .expect("parent")
            .to_owned();
        std::os::unix::fs::symlink(path.parent().expect("parent"), &run).expect("symlink");
        let (d, asked) = h.detect(vec![]);
        let second = format!("unix://{}", h.paths.socket_candidates[1].display());
        assert!(!asked.is_empty() && !asked.contains(&second), "{asked:?}");
        let d = d.expect("ok");
        assert!(
            d.findings
                .iter()
                .any(|f| f.verdict == Verdict::Skipped && f.seen.contains("probed once")),
            "{:#?}",
            d.findings
        );
    }

    #[test]
    fn a_dead_socket_is_rejected_without_guessing_where_it_came_from() {
        let mut h = FakeHost::plain();
        h.add_socket(false);
        let d = h.detect(vec![refused()]).0.expect("ok");
        assert_eq!(d.mode, None);
        assert_eq!(
            d.warnings().filter(|f| f.check == "socket").count(),
            0,
            "{:#?}",
            d.findings
        );
    }

    #[tokio::test]
    async fn berths_own_socket_is_recognised_by_its_listener() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docker.sock");
        let _listener = UnixListener::bind(&path).expect("bind");
        // This test process listens: with the real /proc it is "berth" only
        // when its name matches ours, which it does (the same process).
        assert_eq!(
            served_by_berth(&path, Path::new("/proc")).await,
            Some(std::process::id() as i32)
        );
        // A proc root where the listener runs something else.
        let fake = tempfile::tempdir().expect("tempdir");
        let me = fake.path().join(std::process::id().to_string());
        fs::create_dir_all(&me).expect("mkdir");
        fs::create_dir_all(fake.path().join("self")).expect("mkdir");
        fs::write(me.join("comm"), "dockerd\n").expect("comm");
        fs::write(fake.path().join("self/comm"), "berth\n").expect("comm");
        assert_eq!(served_by_berth(&path, fake.path()).await, None);
        assert_eq!(
            served_by_berth(&dir.path().join("none.sock"), Path::new("/proc")).await,
            None
        );
    }

    /// berth's own engine is recognised by dockerd's ancestry, and its
    /// mode by what runs between (rootlesskit) or the container (sysbox);
    /// a dockerd no berth started is not berth's.
    #[test]
    fn own_engine_is_a_dockerd_descending_from_berth() {
        let root = tempfile::tempdir().expect("tempdir");
        let proc = |pid: &str, comm: &str, ppid: i32| {
            let dir = root.path().join(pid);
            fs::create_dir_all(&dir).expect("mkdir");
            fs::write(dir.join("comm"), format!("{comm}\n")).expect("comm");
            fs::write(dir.join("stat"), format!("{pid} ({comm}) S {ppid} 1 1 0")).expect("stat");
        };
        proc("self", "berth", 0);
        proc("1", "sh", 0);
        proc("10", "berth", 1);
        proc("20", "dockerd", 10);
        let own = |listener, sysbox| own_engine(root.path(), listener, sysbox);
        let dind = Some(OwnEngine {
            mode: Mode::Dind,
            dockerd: 20,
            berth: 10,
        });
        assert_eq!(own(Some(20), false), dind);
        assert_eq!(
            own(None, false),
            dind,
            "no listener pid: the dockerd running here"
        );
        assert_eq!(own(Some(20), true).map(|o| o.mode), Some(Mode::Sysbox));
        assert_eq!(own(Some(10), false), None, "the listener is not a dockerd");
        proc("20", "dockerd", 15);
        proc("15", "rootlesskit", 10);
        assert_eq!(own(Some(20), false).map(|o| o.mode), Some(Mode::Rootless));
        proc("15", "rootlesskit", 1);
        assert_eq!(own(Some(20), false), None, "started by someone else");
    }

    #[test]
    fn dead_socket_falls_through_to_next_steps() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.add_socket(false);
        let d = h.detect(vec![refused()]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
    }

    #[test]
    fn directory_where_socket_should_be_is_rejected_with_hint() {
        let h = FakeHost::plain();
        fs::create_dir_all(&h.paths.socket_candidates[0]).expect("mkdir");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, None);
        assert!(d.findings.iter().any(|e| e.seen.contains("not a socket")));
    }

    #[test]
    fn docker_host_unix_is_the_only_socket_candidate() {
        let mut h = FakeHost::plain();
        h.add_socket(true);
        let custom = h.dir.path().join("custom.sock");
        let _l = UnixListener::bind(&custom).expect("bind");
        h.set("DOCKER_HOST", &format!("unix://{}", custom.display()));
        let (d, asked) = h.detect(vec![Ok(engine())]);
        assert_eq!(d.expect("ok").mode, Some(Mode::Socket));
        assert_eq!(asked, [format!("unix://{}", custom.display())]);
    }

    #[test]
    fn xdg_runtime_dir_socket_is_a_candidate() {
        let mut h = FakeHost::plain();
        let xdg = h.dir.path().join("xdg");
        fs::create_dir(&xdg).expect("mkdir");
        let _l = UnixListener::bind(xdg.join("docker.sock")).expect("bind");
        h.set("XDG_RUNTIME_DIR", xdg.to_str().expect("utf8"));
        let d = h.detect(vec![Ok(engine())]).0.expect("ok");
        assert_eq!(d.socket.expect("facts").path, xdg.join("docker.sock"));
    }

    #[test]
    fn forced_socket_skips_remote_and_dind() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.request = Request::Force(Mode::Socket);
        let err = h.detect(vec![]).0.expect_err("no socket");
        assert!(matches!(
            err,
            DetectError::ForcedModeUnavailable {
                mode: Mode::Socket,
                ..
            }
        ));
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn socket_fixture_marks_bind_mount() {
        let mounts = MountInfo::parse(&fixture("mountinfo-socket"));
        assert!(mounts.is_mount_point(Path::new("/var/run/docker.sock")));
        assert!(mounts.is_mount_point(Path::new("/workspace")));
        assert_eq!(
            mounts
                .mount_at(Path::new("/workspace"))
                .map(|m| m.root.as_str()),
            Some("/home/dev/my projects")
        );
        assert!(!MountInfo::parse(&fixture("mountinfo-overlay"))
            .is_mount_point(Path::new("/var/run/docker.sock")));
    }
}
