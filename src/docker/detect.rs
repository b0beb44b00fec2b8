//! Which Docker access mode applies here, with the evidence for the choice.
//!
//! One ordered function ([`detect`]) walks the steps of DESIGN.md: explicit
//! BERTH_DOCKER -> remote -> mounted socket -> sysbox -> privileged (dind) ->
//! rootless -> none. The WS_DOCKER_ENABLE_CLIENT toggle and the image's
//! opt-in are folded into BERTH_DOCKER by the configuration
//! ([`crate::docker::policy::DockerChoice::combine`]) before detection runs. Every probe records what it saw, so `berth
//! doctor` can say why a mode was or was not chosen. A forced mode that
//! cannot work is an error naming the missing piece, never a fallback.
//! All paths and the environment are injected; pings go through [`Pinger`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use super::caps::{self, ProcStatus, SeccompMode};
use super::endpoint::{
    configured_endpoint, ConfiguredEndpoint, DockerEnv, Endpoint, EndpointError,
};
use super::evidence::{Evidence, Verdict};
use super::hostops::NixHostOps;
use super::mountinfo::MountInfo;
use super::ping::{ping_with_retry, EngineInfo, PingReport, Pinger, RetryPolicy};
use super::rootless::{self, RootlessPaths, RootlessUser, Status};

/// PATH used when the environment has none (Debian's default for root).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Selects the mode; unset, empty or `auto` means detect.
pub const MODE_VAR: &str = "BERTH_DOCKER";

/// How berth gives the container Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Off,
    Socket,
    Remote,
    Dind,
    Rootless,
    Sysbox,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::Off,
        Mode::Socket,
        Mode::Remote,
        Mode::Dind,
        Mode::Rootless,
        Mode::Sysbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Socket => "socket",
            Mode::Remote => "remote",
            Mode::Dind => "dind",
            Mode::Rootless => "rootless",
            Mode::Sysbox => "sysbox",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown docker mode {value:?}: valid values are auto, off, socket, remote, dind, rootless, sysbox")]
pub struct ParseModeError {
    pub value: String,
}

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == wanted)
            .ok_or_else(|| ParseModeError {
                value: s.to_owned(),
            })
    }
}

/// What BERTH_DOCKER asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "request", content = "mode")]
pub enum ModeRequest {
    Auto,
    Forced(Mode),
}

impl FromStr for ModeRequest {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Ok(ModeRequest::Auto),
            v if v.eq_ignore_ascii_case("auto") => Ok(ModeRequest::Auto),
            v => v.parse().map(ModeRequest::Forced),
        }
    }
}

impl fmt::Display for ModeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeRequest::Auto => f.write_str("auto"),
            ModeRequest::Forced(m) => m.fmt(f),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{MODE_VAR}: {0}")]
    BadMode(#[from] ParseModeError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{MODE_VAR}={mode} but {reason}")]
    ForcedModeUnavailable {
        mode: Mode,
        reason: String,
        evidence: Vec<Evidence>,
    },
}

/// Where the probes look. Production values from [`HostPaths::default`];
/// tests point them at fixtures in a temp dir.
#[derive(Debug, Clone)]
pub struct HostPaths {
    /// /proc/self: status, mountinfo, uid_map are read from here.
    pub proc_self: PathBuf,
    pub cap_last_cap: PathBuf,
    /// Default sockets, probed in order (XDG_RUNTIME_DIR's is added from the env).
    pub socket_candidates: Vec<PathBuf>,
    pub cgroup_root: PathBuf,
    pub rootless: RootlessPaths,
}

impl Default for HostPaths {
    fn default() -> Self {
        Self {
            proc_self: PathBuf::from("/proc/self"),
            cap_last_cap: PathBuf::from("/proc/sys/kernel/cap_last_cap"),
            socket_candidates: vec![
                PathBuf::from("/var/run/docker.sock"),
                PathBuf::from("/run/docker.sock"),
            ],
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            rootless: RootlessPaths::default(),
        }
    }
}

/// Policy knobs that are not environment variables.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// Effective uid of berth (rootless only applies to non-root).
    pub euid: u32,
    /// The user rootless dockerd would run as (None: rootless not considered).
    pub rootless_user: Option<RootlessUser>,
    pub remote_retry: RetryPolicy,
    pub socket_retry: RetryPolicy,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            euid: 0,
            rootless_user: None,
            remote_retry: RetryPolicy::default(),
            // A mounted host socket belongs to a running engine; a socket that
            // refuses is usually stale (left by an earlier dockerd here), so
            // do not wait long for it.
            socket_retry: RetryPolicy {
                total: std::time::Duration::from_secs(1),
                ..RetryPolicy::default()
            },
        }
    }
}

/// Facts about the socket that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketFacts {
    pub path: PathBuf,
    pub gid: u32,
    #[serde(serialize_with = "serialize_octal")]
    pub mode: u32,
    /// A mount point in mountinfo: the host's socket bind-mounted in.
    pub bind_mounted: bool,
}

/// Permission bits as people write them ("0660"), not as a decimal number.
pub fn serialize_octal<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

/// The result: a mode (or none), its endpoint, and every observation.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub requested: ModeRequest,
    /// None: nothing works here; the caller warns and runs the command anyway,
    /// or fails under its policy flag.
    pub mode: Option<Mode>,
    pub endpoint: Option<Endpoint>,
    pub engine: Option<EngineInfo>,
    pub socket: Option<SocketFacts>,
    pub evidence: Vec<Evidence>,
}

impl Detection {
    fn new(requested: ModeRequest, mode: Option<Mode>, evidence: Vec<Evidence>) -> Self {
        Self {
            requested,
            mode,
            endpoint: None,
            engine: None,
            socket: None,
            evidence,
        }
    }

    /// Evidence with verdict Warning, for the caller to print at start.
    pub fn warnings(&self) -> impl Iterator<Item = &Evidence> {
        self.evidence
            .iter()
            .filter(|e| e.verdict == Verdict::Warning)
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.mode, &self.endpoint) {
            (Some(mode), Some(ep)) => write!(f, "docker mode {mode} via {ep}"),
            (Some(mode), None) => write!(f, "docker mode {mode}"),
            (None, _) => f.write_str("no way to provide Docker was found"),
        }
    }
}

/// Everything read from /proc once, with what could not be read.
struct ProcFacts {
    status: Option<ProcStatus>,
    mounts: MountInfo,
    uid_map: Option<String>,
    last_cap: Option<u32>,
}

impl ProcFacts {
    fn read(paths: &HostPaths, evidence: &mut Vec<Evidence>) -> Self {
        let mut read = |probe: &'static str, path: PathBuf| match fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) => {
                evidence.push(Evidence::new(
                    probe,
                    Verdict::Warning,
                    format!("cannot read {}: {e}", path.display()),
                ));
                None
            }
        };
        let status =
            read("proc-status", paths.proc_self.join("status")).map(|t| ProcStatus::parse(&t));
        let mounts = read("mountinfo", paths.proc_self.join("mountinfo"))
            .map(|t| MountInfo::parse(&t))
            .unwrap_or_default();
        let uid_map = read("uid_map", paths.proc_self.join("uid_map"));
        let last_cap =
            read("cap_last_cap", paths.cap_last_cap.clone()).and_then(|t| caps::parse_last_cap(&t));
        Self {
            status,
            mounts,
            uid_map,
            last_cap,
        }
    }
}

/// The detection walk. See the module documentation for the order.
pub async fn detect(
    paths: &HostPaths,
    env: &BTreeMap<String, String>,
    options: &DetectOptions,
    pinger: &impl Pinger,
) -> Result<Detection, DetectError> {
    let requested: ModeRequest = env
        .get(MODE_VAR)
        .map(String::as_str)
        .unwrap_or("")
        .parse()?;
    let mut evidence = Vec::new();
    if requested == ModeRequest::Forced(Mode::Off) {
        evidence.push(Evidence::new(
            "request",
            Verdict::Chosen,
            format!("{MODE_VAR}=off"),
        ));
        return Ok(Detection::new(requested, Some(Mode::Off), evidence));
    }
    let what = match requested {
        ModeRequest::Auto => format!("{MODE_VAR} unset or auto: detecting"),
        ModeRequest::Forced(mode) => format!("{MODE_VAR}={mode}: checking only this mode"),
    };
    evidence.push(Evidence::new("request", Verdict::Supports, what));
    let facts = ProcFacts::read(paths, &mut evidence);
    let configured = configured_endpoint(&DockerEnv::from_map(env))?;
    let mut probe = Probe {
        paths,
        env,
        options,
        pinger,
        requested,
        facts,
        configured,
        evidence,
    };
    match requested {
        ModeRequest::Forced(mode) => probe.forced(mode).await,
        ModeRequest::Auto => probe.auto().await,
    }
}

/// State of one detection walk.
struct Probe<'a, P> {
    paths: &'a HostPaths,
    env: &'a BTreeMap<String, String>,
    options: &'a DetectOptions,
    pinger: &'a P,
    requested: ModeRequest,
    facts: ProcFacts,
    /// DOCKER_HOST or the selected docker context, if any.
    configured: Option<ConfiguredEndpoint>,
    evidence: Vec<Evidence>,
}

/// What one mode's probe found.
enum Found {
    Yes(Box<Detection>),
    /// Why not, in a phrase that completes "BERTH_DOCKER=x but ...".
    No(String),
}

impl<P: Pinger> Probe<'_, P> {
    fn note(&mut self, probe: &'static str, verdict: Verdict, saw: impl Into<String>) {
        self.evidence.push(Evidence::new(probe, verdict, saw));
    }

    fn finish(&mut self, mode: Option<Mode>) -> Detection {
        Detection::new(self.requested, mode, std::mem::take(&mut self.evidence))
    }

    async fn forced(&mut self, mode: Mode) -> Result<Detection, DetectError> {
        let found = match mode {
            Mode::Off => Found::Yes(Box::new(self.finish(Some(Mode::Off)))),
            Mode::Remote => self.remote().await,
            Mode::Socket => self.socket().await,
            Mode::Sysbox => self.sysbox(),
            Mode::Dind => self.dind(),
            Mode::Rootless => self.rootless(true),
        };
        match found {
            Found::Yes(d) => Ok(*d),
            Found::No(reason) => Err(DetectError::ForcedModeUnavailable {
                mode,
                reason,
                evidence: std::mem::take(&mut self.evidence),
            }),
        }
    }

    async fn auto(&mut self) -> Result<Detection, DetectError> {
        if let Found::Yes(d) = self.remote().await {
            return Ok(*d);
        }
        if self.remote_endpoint().is_some() {
            // The docker CLI will talk to that endpoint whatever berth does;
            // a local dockerd would sit unused. Report, do not fall back.
            self.note("remote", Verdict::Warning, "a remote engine is configured but does not answer; not starting a local one the CLI would not use");
            return Ok(self.finish(None));
        }
        if let Found::Yes(d) = self.socket().await {
            return Ok(*d);
        }
        self.note_custom_unix_host();
        for step in [Self::sysbox as fn(&mut Self) -> Found, Self::dind] {
            if let Found::Yes(d) = step(self) {
                return Ok(*d);
            }
        }
        if let Found::Yes(d) = self.rootless(false) {
            return Ok(*d);
        }
        self.note(
            "result",
            Verdict::Rejected,
            "no engine answers and none can be started here",
        );
        Ok(self.finish(None))
    }

    /// The configured endpoint when it is tcp:// or ssh:// (remote mode).
    fn remote_endpoint(&self) -> Option<&ConfiguredEndpoint> {
        self.configured
            .as_ref()
            .filter(|c| !matches!(c.endpoint, Endpoint::Unix { .. }))
    }

    /// DOCKER_HOST=unix://PATH: the socket the CLI will use.
    fn configured_unix_path(&self) -> Option<&Path> {
        match self.configured.as_ref().map(|c| &c.endpoint) {
            Some(Endpoint::Unix { path }) => Some(path),
            _ => None,
        }
    }

    /// A dockerd berth starts listens on the default socket unless told
    /// otherwise; a DOCKER_HOST elsewhere would leave the CLI talking to nothing.
    fn note_custom_unix_host(&mut self) {
        let Some(path) = self.configured_unix_path().map(Path::to_path_buf) else {
            return;
        };
        if !self.paths.socket_candidates.contains(&path) {
            self.note("docker-host", Verdict::Warning, format!("DOCKER_HOST is unix://{}: a dockerd started here must listen there (-H unix://{0}), or unset DOCKER_HOST", path.display()));
        }
    }

    /// Remote: DOCKER_HOST (tcp/ssh) or a docker context, proven by a ping.
    async fn remote(&mut self) -> Found {
        let Some(configured) = self.remote_endpoint().cloned() else {
            self.note(
                "remote",
                Verdict::Rejected,
                "no remote engine configured: DOCKER_HOST is not tcp:// or ssh:// and no docker context is selected",
            );
            return Found::No(
                "DOCKER_HOST is not set to tcp:// or ssh:// and no docker context is selected"
                    .into(),
            );
        };
        let report =
            ping_with_retry(self.pinger, &configured.endpoint, self.options.remote_retry).await;
        let saw = format!(
            "{} from {}: {}",
            configured.endpoint,
            configured.source,
            describe_ping(&report)
        );
        if !report.answered() {
            self.note("remote", Verdict::Rejected, saw);
            return Found::No(format!(
                "{} did not answer: {}",
                configured.endpoint,
                failure_text(&report)
            ));
        }
        self.note("remote", Verdict::Chosen, saw);
        let mut d = self.finish(Some(Mode::Remote));
        d.endpoint = Some(configured.endpoint);
        d.engine = report.engine;
        Found::Yes(Box::new(d))
    }

    /// Socket candidates: DOCKER_HOST=unix://PATH alone when set, else the
    /// default paths and $XDG_RUNTIME_DIR/docker.sock.
    fn socket_candidates(&self) -> Vec<PathBuf> {
        if let Some(path) = self.configured_unix_path() {
            return vec![path.to_owned()];
        }
        let mut candidates = self.paths.socket_candidates.clone();
        if let Some(xdg) = self.env.get("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
            candidates.push(Path::new(xdg).join("docker.sock"));
        }
        candidates
    }

    async fn socket(&mut self) -> Found {
        let mut reasons = Vec::new();
        for path in self.socket_candidates() {
            match self.probe_socket(&path).await {
                Ok(d) => return Found::Yes(Box::new(d)),
                Err(reason) => reasons.push(reason),
            }
        }
        Found::No(format!("no docker socket answers ({})", reasons.join("; ")))
    }

    /// lstat, follow links, require S_ISSOCK, note a bind mount, then ping.
    async fn probe_socket(&mut self, path: &Path) -> Result<Detection, String> {
        let link = fs::symlink_metadata(path).map(|m| m.file_type().is_symlink());
        let meta = match (link, fs::metadata(path)) {
            (Err(e), _) if e.kind() == io::ErrorKind::NotFound => {
                self.note(
                    "socket",
                    Verdict::Rejected,
                    format!("{}: absent", path.display()),
                );
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
        let facts = SocketFacts {
            path: path.to_owned(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
            bind_mounted,
        };
        let (verdict, origin) = self.socket_origin(path, bind_mounted);
        self.note(
            "socket",
            verdict,
            format!("{}, {origin}", socket_text(&facts)),
        );
        if facts.gid == 0 && facts.mode & 0o060 != 0 {
            self.note("socket-group", Verdict::Warning, format!("{} belongs to gid 0: group membership cannot fix access without giving root's group; start the host engine with `--group <gid>` or mount a socket owned by a docker group", path.display()));
        }
        let endpoint = Endpoint::Unix {
            path: path.to_owned(),
        };
        let report = ping_with_retry(self.pinger, &endpoint, self.options.socket_retry).await;
        if !report.answered() {
            let why = format!("{}: {}", path.display(), failure_text(&report));
            self.note("socket", Verdict::Rejected, why.clone());
            return Err(why);
        }
        if report.engine.as_ref().and_then(|e| e.rootless) == Some(true) {
            self.note("socket", Verdict::Warning, "the engine behind the socket is rootless (SecurityOptions has name=rootless): bind-mount sources are paths in the engine user's view, and --privileged is limited");
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

    /// Where the socket comes from, judged from mountinfo. A socket on the
    /// container's own root fs at start-up was most likely left by an earlier
    /// dockerd in this container (a restart), so that case is a warning.
    fn socket_origin(&self, path: &Path, bind_mounted: bool) -> (Verdict, String) {
        if bind_mounted {
            return (
                Verdict::Supports,
                "a mount point: the host's socket, bind-mounted".into(),
            );
        }
        let holder = fs::canonicalize(path)
            .ok()
            .and_then(|c| self.facts.mounts.mount_containing(&c).cloned());
        let proc_root = self.paths.proc_self.parent().unwrap_or(Path::new("/proc"));
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
    fn is_mount_point(&self, path: &Path) -> bool {
        let mounts = &self.facts.mounts;
        mounts.is_mount_point(path)
            || fs::canonicalize(path).is_ok_and(|c| mounts.is_mount_point(&c))
    }

    /// Sysbox: sysboxfs fuse mounts; /var/lib/docker from /var/lib/sysbox;
    /// a shifted uid_map only supports (rootless podman looks the same).
    fn sysbox(&mut self) -> Found {
        let fingerprints = sysbox_fingerprints(&self.facts.mounts);
        let uid_map_mapped = self
            .facts
            .uid_map
            .as_deref()
            .is_some_and(|m| !is_identity_uid_map(m));
        if uid_map_mapped {
            self.note("sysbox", Verdict::Supports, "uid_map is not the identity (user namespace): consistent with sysbox, also with rootless podman");
        }
        if fingerprints.is_empty() {
            self.note(
                "sysbox",
                Verdict::Rejected,
                "no sysboxfs mounts on /proc/sys, /proc/swaps, /proc/uptime",
            );
            return Found::No("no sysbox fingerprints (sysboxfs mounts) are in /proc/self/mountinfo: run the container with --runtime=sysbox-runc".into());
        }
        for f in &fingerprints {
            self.note("sysbox", Verdict::Supports, f.clone());
        }
        match self.which("dockerd") {
            Some(dockerd) => {
                self.note(
                    "sysbox",
                    Verdict::Chosen,
                    format!(
                        "sysbox runtime; {} will run without --privileged",
                        dockerd.display()
                    ),
                );
                Found::Yes(Box::new(self.finish(Some(Mode::Sysbox))))
            }
            None => {
                self.note(
                    "sysbox",
                    Verdict::Rejected,
                    "sysbox runtime, but dockerd is not on PATH",
                );
                Found::No("dockerd is not on PATH: install docker in the image".into())
            }
        }
    }

    /// Privileged: dockerd on PATH, CAP_SYS_ADMIN + CAP_NET_ADMIN effective,
    /// cgroup fs writable; notes seccomp and a short bounding set.
    fn dind(&mut self) -> Found {
        let mut missing = Vec::new();
        match self.which("dockerd") {
            Some(p) => self.note(
                "dind",
                Verdict::Supports,
                format!("{} on PATH", p.display()),
            ),
            None => missing.push("dockerd is not on PATH: install docker in the image".to_owned()),
        }
        match &self.facts.status {
            Some(s) if s.can_run_dockerd() => self.note(
                "dind",
                Verdict::Supports,
                "CAP_SYS_ADMIN and CAP_NET_ADMIN are effective",
            ),
            Some(_) => missing.push(
                "CAP_SYS_ADMIN is not effective: run the container with --privileged or use sysbox"
                    .to_owned(),
            ),
            None => {
                missing.push("capabilities are unknown (/proc/self/status unreadable)".to_owned())
            }
        }
        self.note_seccomp_and_bounding_set();
        if !self.cgroup_writable() {
            missing.push(format!("{} is not writable (read-only cgroup mounts): run the container with --privileged (or --cgroupns=private on cgroup v2)", self.paths.cgroup_root.display()));
        }
        if missing.is_empty() {
            self.note(
                "dind",
                Verdict::Chosen,
                "privileged container: berth starts dockerd",
            );
            return Found::Yes(Box::new(self.finish(Some(Mode::Dind))));
        }
        for m in &missing {
            self.note("dind", Verdict::Rejected, m.clone());
        }
        Found::No(missing.join("; "))
    }

    fn note_seccomp_and_bounding_set(&mut self) {
        let Some(status) = self.facts.status.clone() else {
            return;
        };
        // Only worth saying when the capabilities are there (e.g. --cap-add
        // SYS_ADMIN without --privileged); otherwise the caps are the problem.
        if status.can_run_dockerd() && status.seccomp == Some(SeccompMode::Filter) {
            self.note("seccomp", Verdict::Warning, "a seccomp filter is active: dockerd may fail on mount/unshare calls; --privileged disables it");
        }
        let Some(last_cap) = self.facts.last_cap else {
            return;
        };
        if !status.can_run_dockerd() {
            return;
        }
        let (classic, newer) = status.bounding_set_missing_split(last_cap);
        if !classic.is_empty() {
            self.note("bounding-set", Verdict::Warning, format!("the capability bounding set lacks {}: every `docker run --privileged` inside will fail with \"unable to apply caps: operation not permitted\"; the outer runtime must grant the full set", classic.join(", ")));
        }
        if !newer.is_empty() {
            self.note("bounding-set", Verdict::Warning, format!("the capability bounding set lacks {}, which the kernel has but the outer engine did not grant (it predates them, as Docker 20.10 does): an inner engine that knows them will fail `docker run --privileged` with \"unable to apply caps\"; one as old as the outer engine does not request them", newer.join(", ")));
        }
    }

    /// The mount holding the cgroup root is rw, and so are cgroup v1
    /// controller mounts below it (a plain container gets them ro).
    fn cgroup_writable(&mut self) -> bool {
        let root = self.paths.cgroup_root.clone();
        let mounts = &self.facts.mounts;
        let Some(holder) = mounts.mount_containing(&root) else {
            self.note(
                "cgroup",
                Verdict::Warning,
                format!("no mount holds {}", root.display()),
            );
            return false;
        };
        let ro_controllers: Vec<String> = mounts
            .mounts
            .iter()
            .filter(|m| {
                Path::new(&m.mount_point).starts_with(&root)
                    && m.fs_type == "cgroup"
                    && !m.is_read_write()
            })
            .map(|m| m.mount_point.clone())
            .collect();
        let writable = holder.is_read_write() && ro_controllers.is_empty();
        let saw = format!(
            "{} is {} ({} on {}){}",
            root.display(),
            if holder.is_read_write() { "rw" } else { "ro" },
            holder.fs_type,
            holder.mount_point,
            if ro_controllers.is_empty() {
                String::new()
            } else {
                format!("; read-only controllers: {}", ro_controllers.join(", "))
            }
        );
        self.note(
            "cgroup",
            if writable {
                Verdict::Supports
            } else {
                Verdict::Rejected
            },
            saw,
        );
        writable
    }

    /// Rootless: non-root (or forced), with every prerequisite present.
    fn rootless(&mut self, forced: bool) -> Found {
        if self.options.euid == 0 && !forced {
            self.note(
                "rootless",
                Verdict::Skipped,
                "berth runs as root; rootless applies to non-root users or when forced",
            );
            return Found::No("berth runs as root".into());
        }
        let Some(user) = self.options.rootless_user.clone() else {
            self.note(
                "rootless",
                Verdict::Rejected,
                "no target user for rootless dockerd",
            );
            return Found::No("no target user is set for rootless dockerd".into());
        };
        // As root, berth fixes some of these before starting rootlesskit
        // (rootless::prepare); a root berth is only here when forced.
        let findings = rootless::inspect(&self.paths.rootless, &user, &NixHostOps);
        let mut missing = Vec::new();
        for finding in &findings {
            let probe = finding.check.as_str();
            match &finding.status {
                Status::Ok { detail } | Status::Fixed { detail } => {
                    self.note(probe, Verdict::Ok, detail.clone())
                }
                Status::Missing {
                    berth_can_fix: true,
                    problem,
                    fix,
                } if self.options.euid == 0 => self.note(
                    probe,
                    Verdict::Ok,
                    format!("{problem}; berth will fix it as root: {fix}"),
                ),
                Status::Missing { problem, fix, .. } => {
                    missing.push(probe.to_owned());
                    self.note(probe, Verdict::Missing, format!("{problem}; fix: {fix}"));
                }
            }
        }
        if missing.is_empty() {
            self.note(
                "rootless",
                Verdict::Chosen,
                "rootlesskit and every prerequisite are present",
            );
            return Found::Yes(Box::new(self.finish(Some(Mode::Rootless))));
        }
        let reason = format!("rootless prerequisites are missing: {}", missing.join(", "));
        self.note("rootless", Verdict::Rejected, reason.clone());
        Found::No(reason)
    }

    fn which(&self, tool: &str) -> Option<PathBuf> {
        let default = self.paths.rootless.search_path.to_string_lossy();
        let path = self
            .env
            .get("PATH")
            .map_or(default.as_ref(), String::as_str);
        which::which_in(tool, Some(path), "/").ok()
    }
}

fn socket_text(facts: &SocketFacts) -> String {
    format!(
        "{} is a socket, gid {}, mode {:04o}",
        facts.path.display(),
        facts.gid,
        facts.mode
    )
}

fn describe_ping(report: &PingReport) -> String {
    match &report.engine {
        Some(e) => format!(
            "engine {} (API {}, {}) after {} attempt(s)",
            e.version, e.api_version, e.os, report.attempts
        ),
        None => format!(
            "{} after {} attempt(s) in {} ms",
            failure_text(report),
            report.attempts,
            report.elapsed_ms
        ),
    }
}

fn failure_text(report: &PingReport) -> String {
    report
        .failure
        .as_ref()
        .map_or_else(|| "no answer".to_owned(), ToString::to_string)
}

/// Where sysboxfs is mounted for a sysbox container (sysbox docs, "procfs virtualization").
const SYSBOX_PROC_MOUNTS: [&str; 3] = ["/proc/sys", "/proc/swaps", "/proc/uptime"];

/// Human descriptions of each sysbox fingerprint found.
pub fn sysbox_fingerprints(mounts: &MountInfo) -> Vec<String> {
    let mut found: Vec<String> = mounts
        .mounts
        .iter()
        .filter(|m| {
            m.source == "sysboxfs"
                && m.fs_type.starts_with("fuse")
                && SYSBOX_PROC_MOUNTS.contains(&m.mount_point.as_str())
        })
        .map(|m| format!("{} is a {} mount from sysboxfs", m.mount_point, m.fs_type))
        .collect();
    if let Some(m) = mounts.mount_at(Path::new("/var/lib/docker")) {
        if m.root.starts_with("/var/lib/sysbox/") {
            found.push(format!("/var/lib/docker is bind-mounted from {}", m.root));
        }
    }
    found
}

/// `0 0 4294967295`: no user namespace (or the host's).
pub fn is_identity_uid_map(text: &str) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    matches!(lines.as_slice(), [f] if f.as_slice() == ["0", "0", "4294967295"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ping::tests::{engine, ScriptedPinger};
    use crate::docker::ping::{PingFailure, PingResult};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    /// A fake host in a temp dir: /proc/self files, a bin dir, socket paths.
    struct FakeHost {
        dir: tempfile::TempDir,
        paths: HostPaths,
        env: BTreeMap<String, String>,
        options: DetectOptions,
        _listeners: Vec<UnixListener>,
    }

    impl FakeHost {
        fn new(status: &str, mountinfo: &str, uid_map: &str) -> Self {
            let dir = tempfile::tempdir().expect("tempdir");
            let proc_self = dir.path().join("proc-self");
            let bin = dir.path().join("bin");
            fs::create_dir(&proc_self).expect("mkdir");
            fs::create_dir(&bin).expect("mkdir");
            fs::write(proc_self.join("status"), fixture(status)).expect("write");
            fs::write(proc_self.join("mountinfo"), fixture(mountinfo)).expect("write");
            fs::write(proc_self.join("uid_map"), fixture(uid_map)).expect("write");
            fs::write(dir.path().join("cap_last_cap"), fixture("cap_last_cap")).expect("write");
            let search_path = bin.to_string_lossy().into_owned();
            let paths = HostPaths {
                proc_self,
                cap_last_cap: dir.path().join("cap_last_cap"),
                socket_candidates: vec![
                    dir.path().join("var-run/docker.sock"),
                    dir.path().join("run/docker.sock"),
                ],
                cgroup_root: PathBuf::from("/sys/fs/cgroup"),
                rootless: RootlessPaths {
                    subuid: dir.path().join("subuid"),
                    subgid: dir.path().join("subgid"),
                    max_user_namespaces: dir.path().join("max_user_namespaces"),
                    dev_net_tun: PathBuf::from("/dev/null"),
                    mountinfo: dir.path().join("proc-self/mountinfo"),
                    run_user: dir.path().join("run-user"),
                    run_dir: dir.path().join("run"),
                    search_path: search_path.clone().into(),
                },
            };
            let quick = RetryPolicy {
                total: Duration::from_millis(30),
                attempt_timeout: Duration::from_millis(50),
                first_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
            };
            Self {
                dir,
                paths,
                env: BTreeMap::from([("PATH".to_owned(), search_path)]),
                options: DetectOptions {
                    remote_retry: quick,
                    socket_retry: quick,
                    ..DetectOptions::default()
                },
                _listeners: Vec::new(),
            }
        }

        fn plain() -> Self {
            Self::new(
                "status-unprivileged",
                "mountinfo-overlay",
                "uid_map-identity",
            )
        }

        fn set(&mut self, key: &str, value: &str) {
            self.env.insert(key.to_owned(), value.to_owned());
        }

        fn install(&self, tool: &str) {
            let p = self.paths.rootless.search_path.clone();
            let path = Path::new(&p).join(tool);
            fs::write(&path, "#!/bin/sh\n").expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }

        /// Binds a real socket at the first candidate path; optionally records
        /// it as a mount point (the bind-mount case) in mountinfo.
        fn add_socket(&mut self, bind_mounted: bool) -> PathBuf {
            let path = self.paths.socket_candidates[0].clone();
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            self._listeners
                .push(UnixListener::bind(&path).expect("bind"));
            if bind_mounted {
                let line = format!(
                    "2000 1021 0:25 /docker.sock {} rw,nosuid - tmpfs tmpfs rw\n",
                    path.display()
                );
                let mi = self.paths.proc_self.join("mountinfo");
                let mut text = fs::read_to_string(&mi).expect("read");
                text.push_str(&line);
                fs::write(&mi, text).expect("write");
            }
            path
        }

        fn detect(
            &self,
            answers: Vec<PingResult>,
        ) -> (Result<Detection, DetectError>, Vec<String>) {
            let pinger = ScriptedPinger::new(answers);
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(detect(&self.paths, &self.env, &self.options, &pinger));
            let asked = pinger.asked.borrow().clone();
            (result, asked)
        }
    }

    fn refused() -> PingResult {
        Err(PingFailure::Refused {
            address: "x".into(),
        })
    }

    #[test]
    fn mode_parses_and_lists_valid_values() {
        assert_eq!("Dind".parse::<Mode>(), Ok(Mode::Dind));
        assert_eq!("".parse::<ModeRequest>(), Ok(ModeRequest::Auto));
        assert_eq!("auto".parse::<ModeRequest>(), Ok(ModeRequest::Auto));
        let err = "docker".parse::<Mode>().expect_err("invalid");
        assert!(
            err.to_string()
                .contains("off, socket, remote, dind, rootless, sysbox"),
            "{err}"
        );
        assert_eq!(
            serde_json::to_string(&Mode::Sysbox).expect("json"),
            "\"sysbox\""
        );
        for m in Mode::ALL {
            assert_eq!(m.to_string().parse::<Mode>(), Ok(m));
        }
    }

    #[test]
    fn forced_off_probes_nothing() {
        let mut h = FakeHost::plain();
        h.set(MODE_VAR, "off");
        let (d, asked) = h.detect(vec![]);
        assert_eq!(d.expect("ok").mode, Some(Mode::Off));
        assert!(asked.is_empty());
    }

    #[test]
    fn bad_mode_is_an_error() {
        let mut h = FakeHost::plain();
        h.set(MODE_VAR, "podman");
        assert!(matches!(h.detect(vec![]).0, Err(DetectError::BadMode(_))));
    }

    #[test]
    fn remote_wins_over_socket() {
        let mut h = FakeHost::plain();
        h.add_socket(true);
        h.set("DOCKER_HOST", "tcp://docker:2375");
        let (d, asked) = h.detect(vec![Ok(engine())]);
        let d = d.expect("ok");
        assert_eq!(d.mode, Some(Mode::Remote));
        assert_eq!(asked, ["tcp://docker:2375"]);
        assert!(d
            .evidence
            .iter()
            .any(|e| e.probe == "remote" && e.verdict == Verdict::Chosen));
    }

    #[test]
    fn unreachable_remote_reports_and_does_not_fall_back() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.set("DOCKER_HOST", "tcp://docker:2376");
        let (d, _) = h.detect(vec![]);
        let d = d.expect("ok");
        assert_eq!(d.mode, None);
        let remote = d
            .evidence
            .iter()
            .find(|e| e.probe == "remote" && e.verdict == Verdict::Rejected)
            .expect("remote evidence");
        assert!(remote.saw.contains("connection refused"), "{}", remote.saw);
    }

    #[test]
    fn forced_remote_without_config_names_the_gap() {
        let mut h = FakeHost::plain();
        h.set(MODE_VAR, "remote");
        h.set("HOME", "/nonexistent");
        let err = h.detect(vec![]).0.expect_err("forced remote");
        assert!(
            err.to_string()
                .starts_with("BERTH_DOCKER=remote but DOCKER_HOST"),
            "{err}"
        );
    }

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
            .any(|e| e.saw.contains("left by an earlier dockerd")));
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
        let socket_warnings = d.warnings().filter(|e| e.probe == "socket").count();
        assert_eq!(socket_warnings, 0, "{:#?}", d.evidence);
        assert!(d
            .evidence
            .iter()
            .any(|e| e.saw.contains("its directory was mounted in")));
        let json = serde_json::to_value(&d).expect("json");
        assert!(
            json["socket"]["mode"]
                .as_str()
                .is_some_and(|m| m.starts_with('0')),
            "{json}"
        );
    }

    #[test]
    fn root_group_socket_is_warned_about() {
        let mut h = FakeHost::plain();
        let path = h.add_socket(true);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o660)).expect("chmod");
        let gid = fs::metadata(&path).expect("stat").gid();
        let d = h.detect(vec![Ok(engine())]).0.expect("ok");
        let warned = d.warnings().any(|e| e.probe == "socket-group");
        assert_eq!(warned, gid == 0, "{:#?}", d.evidence);
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
        assert!(d.evidence.iter().any(|e| e.saw.contains("not a socket")));
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
    fn custom_unix_docker_host_without_engine_warns_when_starting_dind() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.set("DOCKER_HOST", "unix:///srv/engine/docker.sock");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
        let w = d
            .warnings()
            .find(|e| e.probe == "docker-host")
            .expect("warning");
        assert!(
            w.saw.contains("-H unix:///srv/engine/docker.sock"),
            "{}",
            w.saw
        );
    }

    #[test]
    fn malformed_docker_host_is_an_error() {
        let mut h = FakeHost::plain();
        h.set("DOCKER_HOST", "docker:2375");
        assert!(matches!(h.detect(vec![]).0, Err(DetectError::Endpoint(_))));
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
    fn sysbox_fixture_is_sysbox_mode() {
        let h = FakeHost::new("status-unprivileged", "mountinfo-sysbox", "uid_map-mapped");
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Sysbox));
        let supports: Vec<_> = d
            .evidence
            .iter()
            .filter(|e| e.probe == "sysbox" && e.verdict == Verdict::Supports)
            .collect();
        assert_eq!(supports.len(), 5, "{supports:#?}");
    }

    #[test]
    fn mapped_uid_map_alone_is_not_sysbox() {
        let h = FakeHost::new("status-unprivileged", "mountinfo-overlay", "uid_map-mapped");
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, None);
        assert!(d
            .evidence
            .iter()
            .any(|e| e.probe == "sysbox" && e.verdict == Verdict::Supports));
    }

    #[test]
    fn privileged_fixture_is_dind() {
        let h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
        assert_eq!(d.warnings().count(), 0, "{:#?}", d.evidence);
    }

    #[test]
    fn short_bounding_set_is_named() {
        let h = FakeHost::new(
            "status-privileged-no-sys-resource",
            "mountinfo-dind",
            "uid_map-identity",
        );
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
        let w = d
            .warnings()
            .find(|e| e.probe == "bounding-set")
            .expect("warning");
        assert!(
            w.saw.contains("CAP_SYS_RESOURCE") && w.saw.contains("unable to apply caps"),
            "{}",
            w.saw
        );
    }

    #[test]
    fn forced_dind_without_privileges_names_the_flag() {
        let mut h = FakeHost::plain();
        h.install("dockerd");
        h.set(MODE_VAR, "dind");
        let err = h.detect(vec![]).0.expect_err("not privileged");
        let text = err.to_string();
        assert!(text.starts_with("BERTH_DOCKER=dind but CAP_SYS_ADMIN is not effective: run the container with --privileged or use sysbox"), "{text}");
        assert!(
            text.contains("not writable (read-only cgroup mounts)"),
            "{text}"
        );
    }

    #[test]
    fn forced_dind_without_dockerd() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.set(MODE_VAR, "dind");
        let err = h.detect(vec![]).0.expect_err("no dockerd");
        assert!(err.to_string().contains("dockerd is not on PATH"), "{err}");
    }

    #[test]
    fn forced_socket_skips_remote_and_dind() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.set(MODE_VAR, "socket");
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
    fn forced_sysbox_on_plain_container() {
        let mut h = FakeHost::plain();
        h.set(MODE_VAR, "sysbox");
        let err = h.detect(vec![]).0.expect_err("not sysbox");
        assert!(err.to_string().contains("sysbox-runc"), "{err}");
    }

    #[test]
    fn nothing_available_is_none_with_evidence() {
        let h = FakeHost::plain();
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, None);
        for probe in ["remote", "socket", "sysbox", "dind", "rootless", "result"] {
            assert!(
                d.evidence.iter().any(|e| e.probe == probe),
                "no {probe} evidence: {:#?}",
                d.evidence
            );
        }
        let json = serde_json::to_value(&d).expect("serialize");
        assert_eq!(json["mode"], serde_json::Value::Null);
    }

    #[test]
    fn rootless_for_non_root_with_prerequisites() {
        if !nix::unistd::geteuid().is_root() {
            // setuid-root helpers, a tun node and uid 1000's dirs need root to make.
            eprintln!("skipped: needs root to build the fake host");
            return;
        }
        let mut h = FakeHost::plain();
        for tool in [
            "dockerd",
            "rootlesskit",
            "newuidmap",
            "newgidmap",
            "slirp4netns",
        ] {
            h.install(tool);
        }
        for tool in ["newuidmap", "newgidmap"] {
            let p = Path::new(&h.paths.rootless.search_path).join(tool);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o4755)).expect("chmod");
        }
        fs::write(&h.paths.rootless.subuid, "dev:100000:65536\n").expect("write");
        fs::write(&h.paths.rootless.subgid, "dev:100000:65536\n").expect("write");
        fs::write(&h.paths.rootless.max_user_namespaces, "100\n").expect("write");
        // The container's own tun node, usable by the user.
        let tun = h.dir.path().join("tun");
        nix::sys::stat::mknod(
            &tun,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(10, 200),
        )
        .expect("mknod");
        fs::set_permissions(&tun, fs::Permissions::from_mode(0o666)).expect("chmod");
        h.paths.rootless.dev_net_tun = tun;
        let home = h.dir.path().join("home");
        let runtime = h.paths.rootless.run_user.join("1000");
        for (dir, mode) in [(&home, 0o755), (&runtime, 0o700)] {
            fs::create_dir_all(dir).expect("mkdir");
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).expect("chmod");
            std::os::unix::fs::chown(dir, Some(1000), Some(1000)).expect("chown");
        }
        h.options.euid = 1000;
        h.options.rootless_user = Some(RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            home,
        });
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Rootless), "{:#?}", d.evidence);
    }

    #[test]
    fn forced_rootless_lists_missing_pieces() {
        let mut h = FakeHost::plain();
        h.set(MODE_VAR, "rootless");
        // A non-root berth cannot fix anything itself: all of it is missing.
        h.options.euid = 1000;
        h.options.rootless_user = Some(RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![],
            home: PathBuf::from("/nonexistent"),
        });
        let err = h.detect(vec![]).0.expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("rootlesskit") && text.contains("subuid"),
            "{text}"
        );
    }

    /// Real /proc, real pinger, a real engine's socket (BERTH_TEST_DOCKER_SOCK).
    #[test]
    #[ignore = "needs a real engine: BERTH_TEST_DOCKER_SOCK=/path/to/docker.sock cargo test -- --ignored"]
    fn real_host_with_engine_socket_is_socket_mode() {
        let Some(sock) = std::env::var("BERTH_TEST_DOCKER_SOCK").ok() else {
            panic!("BERTH_TEST_DOCKER_SOCK is not set (this test is #[ignore]d for that reason)");
        };
        let env = BTreeMap::from([("DOCKER_HOST".to_owned(), format!("unix://{sock}"))]);
        let pinger = crate::docker::ping::BollardPinger::new(None);
        let d = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(detect(
                &HostPaths::default(),
                &env,
                &DetectOptions::default(),
                &pinger,
            ))
            .expect("detects");
        assert_eq!(d.mode, Some(Mode::Socket), "{:#?}", d.evidence);
        assert!(d.engine.is_some());
    }

    /// Detection on the real host/container this test runs in, from the
    /// process environment. For running the static test binary inside
    /// containers: set BERTH_TEST_DETECT_EXPECT to the expected mode (or
    /// `none`), e.g. with the host socket bind-mounted, or --privileged.
    #[test]
    #[ignore = "runs inside a prepared container: BERTH_TEST_DETECT_EXPECT=<mode> cargo test -- --ignored"]
    fn detection_in_this_container_matches_expectation() {
        let Ok(expected) = std::env::var("BERTH_TEST_DETECT_EXPECT") else {
            panic!("BERTH_TEST_DETECT_EXPECT is not set (this test is #[ignore]d for that reason)");
        };
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let pinger = crate::docker::ping::BollardPinger::new(None);
        let d = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(detect(
                &HostPaths::default(),
                &env,
                &DetectOptions::default(),
                &pinger,
            ))
            .expect("detects");
        for e in &d.evidence {
            eprintln!("{e}");
        }
        let got = d.mode.map_or("none", Mode::as_str);
        assert_eq!(got, expected, "{d}");
    }

    #[test]
    fn sysbox_fingerprints_from_fixture() {
        let mounts = MountInfo::parse(&fixture("mountinfo-sysbox"));
        let f = sysbox_fingerprints(&mounts);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f.iter().any(|s| s.contains("/var/lib/sysbox/docker/")));
        assert!(sysbox_fingerprints(&MountInfo::parse(&fixture("mountinfo-dind"))).is_empty());
    }

    #[test]
    fn uid_map_identity() {
        assert!(is_identity_uid_map(&fixture("uid_map-identity")));
        assert!(!is_identity_uid_map(&fixture("uid_map-mapped")));
        assert!(!is_identity_uid_map(""));
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
