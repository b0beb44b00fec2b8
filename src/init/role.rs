//! Is berth this container's init? The one decision that lets auto mode
//! start an engine of berth's own (dind, sysbox, rootless dockerd); the run
//! and `berth doctor` both ask [`examine`].
//!
//! `getpid() == 1` is the wrong question: under the devcontainer CLI PID 1
//! is the CLI's `sh -c` wrapper and berth is started by the feature's
//! entrypoint script; under `docker run --init` PID 1 is tini
//! (docker-init); an envbuilder-style init script may run berth without
//! `exec`; in a Kubernetes pod with a shared pid namespace berth's parent
//! is outside the namespace (PPid 0). In each, berth is still the only thing
//! that would supervise Docker. And the reason for the old rule must hold:
//! berth run by hand on a privileged machine must never start a second
//! dockerd there. So berth is this container's init when all three hold
//! (recorded process trees of each case: tests/fixtures/proctree/):
//!
//! 1. **In a container**: the root filesystem is an overlay (an image's
//!    layers), or a cgroup path of /proc/self/cgroup is a container
//!    runtime's (`/docker/<id>`, `docker-<id>.scope`, `/kubepods...`,
//!    `libpod-`, `cri-containerd-`, `crio-`, `lxc`), or berth sits at the
//!    root of a cgroup namespace of its own (every path `/` and
//!    /proc/self/ns/cgroup is not the initial namespace). `/.dockerenv` is
//!    no evidence: a host whose root came from an image has it (the test VM
//!    does).
//! 2. **Started as the container's first process**: berth is PID 1; or
//!    each ancestor up to PID 1, at most [`MAX_WRAPPERS`] of them, is a
//!    known init (docker-init, tini, dumb-init, catatonit) or a shell
//!    running a script or `-c` command (not an interactive or login shell:
//!    that is a person at a prompt); or berth (or the top of that chain) was
//!    started from outside the pid namespace (PPid 0) into a container other
//!    than PID 1's (a shared-pid pod). PPid 0 in PID 1's own container is a
//!    `docker exec`/`kubectl exec` session: someone running berth by hand.
//! 3. **Nothing else supervises Docker**: no `dockerd` or `containerd` is
//!    visible in the pid namespace.
//!
//! Everything is read through the host's proc root, so recorded trees stand
//! in for /proc in the tests.

use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::host::mountinfo::MountInfo;
use crate::host::{read_kernel_text, HostFacts};
use crate::init::procs;

/// Ancestors allowed between berth and PID 1 (or the namespace's edge),
/// the top one included: devcontainer CLI's `sh -c` and the feature's
/// script are 2; tini, `sh -c` and a script, 3.
pub const MAX_WRAPPERS: usize = 4;

/// Inits that run one command and do nothing else (their `comm` or
/// argv[0]'s base name).
pub const KNOWN_INITS: [&str; 5] = [
    "docker-init",
    "tini",
    "tini-static",
    "dumb-init",
    "catatonit",
];

/// Shells (argv[0]'s base name): a wrapper when it runs a script or `-c`.
const SHELLS: [&str; 8] = ["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox"];

/// Processes that supervise Docker already.
const DOCKER_SUPERVISORS: [&str; 2] = ["dockerd", "containerd"];

/// /proc/self/ns/cgroup of the initial cgroup namespace
/// (PROC_CGROUP_INIT_INO, include/linux/proc_ns.h).
const INITIAL_CGROUP_NS: &str = "cgroup:[4026531835]";

/// The decision and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitRole {
    pub is_init: bool,
    /// One sentence: the clause that decided.
    pub reason: String,
    /// Why berth counts as in a container (empty: it does not).
    pub container: Vec<String>,
    /// How berth was started: itself (PID 1), then each ancestor examined,
    /// as `pid comm (kind)`.
    pub started_by: Vec<String>,
    /// A dockerd or containerd already running, as `comm (pid N)`.
    pub supervisor: Option<String>,
}

/// What an ancestor is, for clause 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    KnownInit,
    /// A shell running a script or a `-c` command.
    ScriptShell,
    /// A shell at a prompt (no script, `-i`, or a login shell).
    InteractiveShell,
    Other,
}

impl Kind {
    fn is_wrapper(self) -> bool {
        matches!(self, Kind::KnownInit | Kind::ScriptShell)
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::KnownInit => "a known init",
            Kind::ScriptShell => "a shell running a script",
            Kind::InteractiveShell => "an interactive shell",
            Kind::Other => "neither a shell wrapper nor a known init",
        }
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What a process is, from its `comm` and its argv (None: unreadable).
fn classify(comm: &str, argv: Option<&[String]>) -> Kind {
    let program = argv.and_then(|a| a.first()).map(String::as_str);
    let name = program.map(base_name).unwrap_or(comm);
    if KNOWN_INITS.contains(&name) || KNOWN_INITS.contains(&comm) {
        return Kind::KnownInit;
    }
    let Some(argv) = argv else {
        return Kind::Other;
    };
    // A login shell: argv[0] is `-bash`.
    if name.starts_with('-') && SHELLS.contains(&name.trim_start_matches('-')) {
        return Kind::InteractiveShell;
    }
    if !SHELLS.contains(&name) {
        return Kind::Other;
    }
    // busybox runs the applet its first argument names (`busybox sh -c ...`).
    let args = if name == "busybox" {
        match argv.get(1) {
            Some(applet) if SHELLS.contains(&base_name(applet)) => &argv[2..],
            _ => return Kind::Other,
        }
    } else {
        &argv[1..]
    };
    let mut runs_something = false;
    for arg in args {
        match arg.strip_prefix('-') {
            Some("-") => break,
            Some(flags) if !flags.starts_with('-') && flags.contains('i') => {
                return Kind::InteractiveShell
            }
            Some(flags) if !flags.starts_with('-') && flags.contains('c') => runs_something = true,
            Some(_) => {}
            // The first word that is no option is the script.
            None => {
                runs_something = true;
                break;
            }
        }
    }
    if runs_something {
        Kind::ScriptShell
    } else {
        Kind::InteractiveShell
    }
}

/// One process as /proc shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    ppid: i32,
    comm: String,
    argv: Option<Vec<String>>,
}

impl Proc {
    fn read(proc_root: &Path, pid: i32) -> Option<Proc> {
        let dir = proc_root.join(pid.to_string());
        let stat = procs::parse_stat(&read_kernel_text(dir.join("stat")).ok()?)?;
        // NUL-separated, with a NUL at the end; empty for kernel threads.
        let argv = fs::read(dir.join("cmdline")).ok().and_then(|bytes| {
            let bytes = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
            (!bytes.is_empty()).then(|| {
                bytes
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
        });
        Some(Proc {
            pid: stat.pid,
            ppid: stat.ppid,
            comm: stat.comm,
            argv,
        })
    }

    fn kind(&self) -> Kind {
        classify(&self.comm, self.argv.as_deref())
    }

    fn describe(&self) -> String {
        format!("{} {} ({})", self.pid, self.comm, self.kind().as_str())
    }
}

/// Clause 1: why berth counts as in a container, from its mountinfo, its
/// /proc/self/cgroup and its cgroup namespace link (None: unreadable).
pub(crate) fn container_evidence(
    mountinfo: &str,
    cgroup: &str,
    cgroup_ns: Option<&str>,
) -> Vec<String> {
    let mut evidence = Vec::new();
    let mounts = MountInfo::parse(mountinfo);
    // The last mount on / is the one in effect.
    if let Some(root) = mounts.mounts.iter().rev().find(|m| m.mount_point == "/") {
        if matches!(
            root.fs_type.as_str(),
            "overlay" | "aufs" | "fuse.fuse-overlayfs"
        ) {
            evidence.push(format!(
                "the root filesystem is {} (an image's layers)",
                root.fs_type
            ));
        }
    }
    let paths: Vec<&str> = cgroup
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .collect();
    if let Some(path) = paths.iter().find(|p| p.split('/').any(is_runtime_segment)) {
        evidence.push(format!("its cgroup {path} is a container runtime's"));
    }
    let at_root = !paths.is_empty() && paths.iter().all(|p| *p == "/");
    if at_root && cgroup_ns.is_some_and(|ns| ns != INITIAL_CGROUP_NS) {
        evidence.push("it sits at the root of a cgroup namespace of its own".to_owned());
    }
    evidence
}

/// A cgroup path segment a container runtime makes.
fn is_runtime_segment(segment: &str) -> bool {
    segment == "docker"
        || segment == "lxc"
        || (segment.starts_with("docker-") && segment.ends_with(".scope"))
        || segment.starts_with("kubepods")
        || segment.starts_with("libpod")
        || segment.starts_with("cri-containerd-")
        || segment.starts_with("crio-")
        || segment.starts_with("lxc.payload")
}

/// How berth was started (clause 2).
enum Start {
    /// As PID 1, by a chain of wrappers up to PID 1, or from outside the
    /// pid namespace into a container of its own.
    First(String),
    /// Any other way, and why not.
    Other(String),
}

fn how_started(host: &HostFacts, started_by: &mut Vec<String>) -> Start {
    let root = &host.proc_root;
    let me = host.pid as i32;
    if me == 1 {
        started_by.push("1 (berth itself)".into());
        return Start::First("berth is PID 1".into());
    }
    let Some(berth) = Proc::read(root, me) else {
        return Start::Other(format!("cannot read {}/{me}/stat", root.display()));
    };
    let mut top = berth.clone();
    let mut chain: Vec<Proc> = Vec::new();
    loop {
        if top.ppid == 0 {
            return started_outside(host, &top, &chain);
        }
        let Some(parent) = Proc::read(root, top.ppid) else {
            return Start::Other(format!("cannot read its ancestor {}", top.ppid));
        };
        started_by.push(parent.describe());
        let kind = parent.kind();
        chain.push(parent.clone());
        if !kind.is_wrapper() {
            return Start::Other(format!(
                "it was started by {} (pid {}), {}",
                parent.comm,
                parent.pid,
                kind.as_str()
            ));
        }
        if parent.pid == 1 {
            let by = chain
                .iter()
                .map(|p| p.comm.as_str())
                .collect::<Vec<_>>()
                .join(" <- ");
            return Start::First(format!("it was started by the container's PID 1 ({by})"));
        }
        if chain.len() >= MAX_WRAPPERS {
            return Start::Other(format!(
                "more than {MAX_WRAPPERS} processes stand between it and PID 1"
            ));
        }
        top = parent;
    }
}

/// `top` (berth, or the last wrapper above it) has PPid 0: it was started
/// from outside the pid namespace. A container's first process in a pod
/// that shares its pid namespace, or a `docker exec` session into PID 1's
/// own container: their cgroups tell them apart.
fn started_outside(host: &HostFacts, top: &Proc, chain: &[Proc]) -> Start {
    let who = if chain.is_empty() {
        "berth".to_owned()
    } else {
        format!("its ancestor {} (pid {})", top.comm, top.pid)
    };
    let mine = read_kernel_text(host.proc_root.join(host.pid.to_string()).join("cgroup"));
    let pid1 = read_kernel_text(host.proc_root.join("1").join("cgroup"));
    match (mine, pid1) {
        (Ok(mine), Ok(pid1)) if mine != pid1 => Start::First(format!(
            "{who} was started from outside the pid namespace (PPid 0) as the first process of a container other than PID 1's (a pod sharing its pid namespace)"
        )),
        (Ok(_), Ok(_)) => Start::Other(format!(
            "{who} was started from outside the pid namespace (PPid 0) into PID 1's own container: a `docker exec` or `kubectl exec` session"
        )),
        _ => Start::Other(format!(
            "{who} has PPid 0 and PID 1's cgroup cannot be compared with berth's"
        )),
    }
}

/// Clause 3: a dockerd or containerd visible in the pid namespace.
fn docker_supervisor(host: &HostFacts) -> Option<String> {
    procs::list(&host.proc_root)
        .into_iter()
        .filter(|p| p.pid != host.pid as i32)
        .find(|p| DOCKER_SUPERVISORS.contains(&p.comm.as_str()))
        .map(|p| format!("{} (pid {})", p.comm, p.pid))
}

/// Decides whether berth is this container's init, from what the host's
/// proc root shows (see the module documentation for the three clauses).
pub fn examine(host: &HostFacts) -> InitRole {
    let dir = host.proc_root.join(host.pid.to_string());
    let mountinfo = read_kernel_text(dir.join("mountinfo")).unwrap_or_default();
    let cgroup = read_kernel_text(dir.join("cgroup")).unwrap_or_default();
    let cgroup_ns = fs::read_link(dir.join("ns/cgroup"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned());
    let container = container_evidence(&mountinfo, &cgroup, cgroup_ns.as_deref());
    let mut started_by = Vec::new();
    let start = how_started(host, &mut started_by);
    let supervisor = docker_supervisor(host);
    let (is_init, reason) = match (&start, &supervisor) {
        _ if container.is_empty() => (
            false,
            "nothing shows it runs in a container (the root filesystem is no overlay, no cgroup is a container runtime's, no cgroup namespace of its own): berth run by hand on a machine".to_owned(),
        ),
        (Start::Other(why), _) => (false, format!("{why}, not as the container's first process")),
        (Start::First(_), Some(running)) => {
            (false, format!("{running} already supervises Docker here"))
        }
        (Start::First(how), None) => (
            true,
            format!("{how}, {}, and no dockerd or containerd runs", container[0]),
        ),
    };
    InitRole {
        is_init,
        reason,
        container,
        started_by,
        supervisor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proctree")
    }

    /// Like the proc_stat fuzz finding (init::procs): an ancestor whose
    /// name is not UTF-8 (prctl(PR_SET_NAME) takes any bytes) is still a
    /// process of the chain, its name with a U+FFFD.
    #[test]
    fn an_ancestor_whose_name_is_not_utf8_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("9")).expect("mkdir");
        fs::write(
            dir.path().join("9/stat"),
            b"9 (s\xb0h) S 0 9 9 0 -1 4194560",
        )
        .expect("stat");
        let found = Proc::read(dir.path(), 9).expect("listed");
        assert_eq!(
            (found.pid, found.ppid, found.comm.as_str()),
            (9, 0, "s\u{fffd}h")
        );
    }

    /// A proc root made from a recorded tree (see tests/README.md, "Process
    /// trees"): `<pid>/{stat,cmdline,comm,status}` as recorded, berth's
    /// `self-mountinfo` and `self-cgroup` as `<self>/mountinfo` and
    /// `<self>/cgroup`, `1-cgroup` as `1/cgroup`.
    struct Recorded {
        _dir: tempfile::TempDir,
        host: HostFacts,
    }

    fn recorded(case: &str) -> Recorded {
        let from = fixtures().join(case);
        let dir = tempfile::tempdir().expect("tempdir");
        let me: u32 = fs::read_to_string(from.join("self"))
            .expect("self")
            .trim()
            .parse()
            .expect("a pid");
        for entry in fs::read_dir(&from).expect("fixture").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() && name.bytes().all(|b| b.is_ascii_digit()) {
                let to = dir.path().join(&name);
                fs::create_dir_all(&to).expect("mkdir");
                for file in fs::read_dir(entry.path()).expect("pid dir").flatten() {
                    fs::copy(file.path(), to.join(file.file_name())).expect("copy");
                }
            }
        }
        let own = dir.path().join(me.to_string());
        fs::create_dir_all(&own).expect("mkdir");
        fs::copy(from.join("self-mountinfo"), own.join("mountinfo")).expect("mountinfo");
        fs::copy(from.join("self-cgroup"), own.join("cgroup")).expect("cgroup");
        fs::create_dir_all(dir.path().join("1")).expect("mkdir");
        fs::copy(from.join("1-cgroup"), dir.path().join("1/cgroup")).expect("1-cgroup");
        let host = HostFacts {
            euid: 0,
            uid: 0,
            pid: me,
            env: BTreeMap::new(),
            proc_root: dir.path().to_owned(),
        };
        Recorded { _dir: dir, host }
    }

    /// Every recorded start: berth is the container's init in each
    /// container case, and never on the host (the VM whose root has a
    /// /.dockerenv).
    #[test]
    fn the_recorded_process_trees() {
        let cases = [
            ("docker-run", true, "berth is PID 1"),
            ("k8s-pod", true, "berth is PID 1"),
            ("envbuilder-exec", true, "berth is PID 1"),
            (
                "docker-run-init",
                true,
                "started by the container's PID 1 (docker-init)",
            ),
            (
                "envbuilder-sh",
                true,
                "started by the container's PID 1 (sh)",
            ),
            (
                "devcontainer-cli",
                true,
                "started by the container's PID 1 (berth-init.sh <- sh)",
            ),
            ("k8s-shared-pid", true, "a container other than PID 1's"),
            ("host-shell", false, "nothing shows it runs in a container"),
            (
                "host-login-shell",
                false,
                "nothing shows it runs in a container",
            ),
        ];
        for (case, is_init, why) in cases {
            let r = recorded(case);
            let role = examine(&r.host);
            assert_eq!(role.is_init, is_init, "{case}: {role:#?}");
            assert!(role.reason.contains(why), "{case}: {}", role.reason);
            assert!(role.supervisor.is_none(), "{case}");
        }
        // The host cases fail the chain clause as well: su and the VM's
        // own daemons are no wrappers.
        let r = recorded("host-login-shell");
        let mut started_by = Vec::new();
        let start = how_started(&r.host, &mut started_by);
        assert!(
            matches!(&start, Start::Other(why) if why.contains("su (pid 26927)")),
            "{started_by:?}"
        );
        let r = recorded("host-shell");
        assert!(matches!(
            how_started(&r.host, &mut Vec::new()),
            Start::Other(_)
        ));
    }

    /// The container evidence of the recordings: an overlay root and the
    /// /docker/<id> cgroup; none on the host (ext4 root, cgroup `/` and
    /// /process_api/...), although the host has /.dockerenv.
    #[test]
    fn container_evidence_of_the_recordings() {
        let read = |case: &str, file: &str| {
            fs::read_to_string(fixtures().join(case).join(file)).expect("fixture")
        };
        let evidence = container_evidence(
            &read("devcontainer-cli", "self-mountinfo"),
            &read("devcontainer-cli", "self-cgroup"),
            None,
        );
        assert_eq!(evidence.len(), 2, "{evidence:?}");
        assert!(evidence[0].contains("overlay"));
        assert!(evidence[1].contains("/docker/e3a8049ef25d"));
        assert!(read("host-shell", "markers").contains("/.dockerenv present"));
        let host = container_evidence(
            &read("host-shell", "self-mountinfo"),
            &read("host-shell", "self-cgroup"),
            Some(INITIAL_CGROUP_NS),
        );
        assert!(host.is_empty(), "{host:?}");
    }

    #[test]
    fn cgroup_evidence_of_other_runtimes_and_cgroup_namespaces() {
        let ext4 = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        for cgroup in [
            "0::/system.slice/docker-3f1e.scope\n",
            "0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-ab.scope\n",
            "0::/machine.slice/libpod-9ab.scope/container\n",
            "0::/lxc.payload.ws\n",
            "11:memory:/kubepods/besteffort/pod1/ab12\n",
        ] {
            assert_eq!(container_evidence(ext4, cgroup, None).len(), 1, "{cgroup}");
        }
        // The host's docker.service is not a container.
        assert!(container_evidence(ext4, "0::/system.slice/docker.service\n", None).is_empty());
        // The root of a cgroup namespace counts only when it is not the
        // initial one (a host process in the root cgroup looks the same).
        let root = "0::/\n";
        assert!(container_evidence(ext4, root, Some(INITIAL_CGROUP_NS)).is_empty());
        assert!(container_evidence(ext4, root, None).is_empty());
        assert_eq!(
            container_evidence(ext4, root, Some("cgroup:[4026532571]")),
            ["it sits at the root of a cgroup namespace of its own"]
        );
        let v1_root = "9:name=systemd:/\n8:pids:/\n0::/\n";
        assert_eq!(
            container_evidence(ext4, v1_root, Some("cgroup:[4026532571]")).len(),
            1
        );
    }

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn wrappers_and_shells_at_a_prompt() {
        let kind = |comm: &str, words: &[&str]| classify(comm, Some(&argv(words)));
        assert_eq!(
            kind("docker-init", &["/sbin/docker-init", "--", "sh"]),
            Kind::KnownInit
        );
        assert_eq!(
            kind("tini", &["tini", "-g", "--", "berth"]),
            Kind::KnownInit
        );
        assert_eq!(classify("dumb-init", None), Kind::KnownInit);
        assert_eq!(
            kind("catatonit", &["/usr/bin/catatonit", "--"]),
            Kind::KnownInit
        );
        assert_eq!(
            kind("sh", &["/bin/sh", "-c", "berth -- x"]),
            Kind::ScriptShell
        );
        assert_eq!(kind("sh", &["/bin/sh", "-ec", "berth"]), Kind::ScriptShell);
        assert_eq!(
            kind(
                "berth-init.sh",
                &["/bin/sh", "/usr/local/share/berth-init.sh"]
            ),
            Kind::ScriptShell
        );
        assert_eq!(
            kind("bash", &["bash", "-e", "/entry.sh", "arg"]),
            Kind::ScriptShell
        );
        assert_eq!(
            kind("sh", &["busybox", "sh", "-c", "berth"]),
            Kind::ScriptShell
        );
        assert_eq!(kind("bash", &["bash"]), Kind::InteractiveShell);
        assert_eq!(kind("bash", &["-bash"]), Kind::InteractiveShell);
        assert_eq!(kind("bash", &["bash", "-i"]), Kind::InteractiveShell);
        assert_eq!(kind("bash", &["bash", "-l"]), Kind::InteractiveShell);
        assert_eq!(
            kind("su", &["su", "-l", "root", "-c", "berth"]),
            Kind::Other
        );
        assert_eq!(kind("sshd", &["sshd: root@pts/0"]), Kind::Other);
        assert_eq!(classify("bash", None), Kind::Other, "unknown argv");
    }

    /// A dockerd or containerd visible in the namespace: berth does not
    /// start a second engine, though it is the container's init otherwise.
    #[test]
    fn a_running_dockerd_is_someone_elses_engine() {
        let r = recorded("docker-run-init");
        let dockerd = r.host.proc_root.join("55");
        fs::create_dir_all(&dockerd).expect("mkdir");
        fs::write(
            dockerd.join("stat"),
            "55 (dockerd) S 1 55 1 0 -1 4194560 0 0",
        )
        .expect("write");
        let role = examine(&r.host);
        assert!(!role.is_init, "{role:#?}");
        assert_eq!(role.supervisor.as_deref(), Some("dockerd (pid 55)"));
        assert!(
            role.reason
                .contains("dockerd (pid 55) already supervises Docker"),
            "{}",
            role.reason
        );
    }

    /// PPid 0 in PID 1's own container is an exec session: someone running
    /// berth by hand.
    #[test]
    fn an_exec_session_is_not_the_init() {
        let r = recorded("k8s-shared-pid");
        let mine = r.host.proc_root.join(r.host.pid.to_string()).join("cgroup");
        fs::copy(&mine, r.host.proc_root.join("1/cgroup")).expect("same cgroup as PID 1");
        let role = examine(&r.host);
        assert!(!role.is_init, "{role:#?}");
        assert!(role.reason.contains("`docker exec`"), "{}", role.reason);
    }

    /// An interactive shell as PID 1 (`docker run -it image bash`, then
    /// berth typed at the prompt) is a person, not a wrapper.
    #[test]
    fn berth_typed_at_a_prompt_in_a_container_is_not_the_init() {
        let r = recorded("envbuilder-sh");
        fs::write(r.host.proc_root.join("1/cmdline"), "/bin/bash\0").expect("write");
        fs::write(r.host.proc_root.join("1/stat"), "1 (bash) S 0 1 1 0 -1").expect("write");
        let role = examine(&r.host);
        assert!(!role.is_init, "{role:#?}");
        assert!(
            role.reason.contains("an interactive shell"),
            "{}",
            role.reason
        );
    }

    /// This test process: on the test machine (a host) it is not a
    /// container's init; in a container it reads the real /proc the same way.
    #[test]
    fn reads_the_real_proc() {
        let host = HostFacts::read();
        let role = examine(&host);
        assert!(!role.started_by.is_empty(), "{role:#?}");
        if role.container.is_empty() {
            assert!(!role.is_init, "never on a bare host: {role:#?}");
        }
    }
}
