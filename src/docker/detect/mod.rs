//! Which Docker access mode applies here, with the findings for the choice.
//!
//! One ordered function ([`detect`]) walks the steps of DESIGN.md: the
//! request (already decided by the configuration, see [`Request`]) ->
//! remote -> mounted socket -> sysbox -> privileged (dind) -> rootless ->
//! none. Each mode's probes live in their own file; the facts they share
//! (paths, what /proc said) in `facts`. Every probe records what it saw, so
//! `berth doctor` can say why a mode was or was not chosen. A forced mode
//! that cannot work is an error naming the missing piece, never a fallback.
//! The host facts and paths are injected; pings go through [`Pinger`].

mod dind;
mod facts;
mod remote;
mod rootless;
mod socket;
mod sysbox;

pub use facts::HostPaths;
use facts::ProcFacts;
pub use socket::{OwnEngine, SocketFacts};
pub use sysbox::{is_identity_uid_map, sysbox_fingerprints};

use std::fmt;

use serde::Serialize;

use crate::docker::client::endpoint::{
    configured_endpoint, ConfiguredEndpoint, DockerEnv, Endpoint, EndpointError,
};
use crate::docker::client::ping::{EngineInfo, Pinger, RetryPolicy};
use crate::docker::engine::rootless::RootlessUser;
use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::{Mode, Request, MODE_VAR};
use crate::host::HostFacts;

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{MODE_VAR}={mode} but {reason}")]
    ForcedModeUnavailable {
        mode: Mode,
        reason: String,
        findings: Vec<Finding>,
    },
}

/// Policy knobs that are not host facts.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// The user rootless dockerd would run as (None: rootless not considered).
    pub rootless_user: Option<RootlessUser>,
    pub remote_retry: RetryPolicy,
    pub socket_retry: RetryPolicy,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
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

/// The result: a mode (or none), its endpoint, and every observation.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub requested: Request,
    /// None: Docker is off, or nothing works here (the caller warns and
    /// runs the command anyway, or fails under its policy flag).
    pub mode: Option<Mode>,
    pub endpoint: Option<Endpoint>,
    pub engine: Option<EngineInfo>,
    pub socket: Option<SocketFacts>,
    pub findings: Vec<Finding>,
}

impl Detection {
    fn new(requested: Request, mode: Option<Mode>, findings: Vec<Finding>) -> Self {
        Self {
            requested,
            mode,
            endpoint: None,
            engine: None,
            socket: None,
            findings,
        }
    }

    /// Finding with verdict Warning, for the caller to print at start.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|e| e.verdict == Verdict::Warning)
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.mode, &self.endpoint) {
            (Some(mode), Some(ep)) => write!(f, "docker mode {mode} via {ep}"),
            (Some(mode), None) => write!(f, "docker mode {mode}"),
            (None, _) if self.requested == Request::Off => f.write_str("Docker is off"),
            (None, _) => f.write_str("no way to provide Docker was found"),
        }
    }
}

/// The detection walk for `request`. See the module documentation for the order.
pub async fn detect(
    host: &HostFacts,
    paths: &HostPaths,
    request: Request,
    options: &DetectOptions,
    pinger: &impl Pinger,
) -> Result<Detection, DetectError> {
    let mut findings = Vec::new();
    let forced = match request {
        Request::Off => {
            findings.push(Finding::new("request", Verdict::Chosen, "Docker is off"));
            return Ok(Detection::new(request, None, findings));
        }
        Request::Auto => {
            findings.push(Finding::new(
                "request",
                Verdict::Supports,
                "auto: detecting",
            ));
            None
        }
        Request::Force(mode) => {
            findings.push(Finding::new(
                "request",
                Verdict::Supports,
                format!("{mode}: checking only this mode"),
            ));
            Some(mode)
        }
    };
    let facts = ProcFacts::read(paths, &mut findings);
    let configured = configured_endpoint(&DockerEnv::from_map(&host.env))?;
    let mut probe = Probe {
        host,
        paths,
        options,
        pinger,
        requested: request,
        facts,
        configured,
        probing: None,
        findings,
        unanswered: Vec::new(),
    };
    match forced {
        Some(mode) => probe.forced(mode).await,
        None => probe.auto().await,
    }
}

/// State of one detection walk.
struct Probe<'a, P> {
    host: &'a HostFacts,
    paths: &'a HostPaths,
    options: &'a DetectOptions,
    pinger: &'a P,
    requested: Request,
    facts: ProcFacts,
    /// DOCKER_HOST or the selected docker context, if any.
    configured: Option<ConfiguredEndpoint>,
    /// The mode whose probe runs now (its findings are about it).
    probing: Option<Mode>,
    findings: Vec<Finding>,
    /// Sockets the user pointed berth at (DOCKER_HOST, a mount) that do not
    /// answer, each as the problem to fix: reported only when nothing else
    /// works (an engine berth starts replaces a stale default socket).
    unanswered: Vec<Finding>,
}

/// What one mode's probe found.
enum Found {
    Yes(Box<Detection>),
    /// Why not, in a phrase that completes "BERTH_DOCKER=x but ...".
    No(String),
}

impl<P: Pinger> Probe<'_, P> {
    fn note(&mut self, check: &'static str, verdict: Verdict, seen: impl Into<String>) {
        self.push(Finding::new(check, verdict, seen));
    }

    /// Records `finding`, about the mode being probed unless it says otherwise.
    fn push(&mut self, finding: Finding) {
        let finding = match (finding.mode, self.probing) {
            (None, Some(mode)) => finding.about(mode),
            _ => finding,
        };
        self.findings.push(finding);
    }

    fn finish(&mut self, mode: Option<Mode>) -> Detection {
        Detection::new(self.requested, mode, std::mem::take(&mut self.findings))
    }

    async fn forced(&mut self, mode: Mode) -> Result<Detection, DetectError> {
        let found = match mode {
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
                findings: std::mem::take(&mut self.findings),
            }),
        }
    }

    async fn auto(&mut self) -> Result<Detection, DetectError> {
        let why = match self.remote().await {
            Found::Yes(d) => return Ok(*d),
            Found::No(why) => why,
        };
        if self.remote_endpoint().is_some() {
            // The docker CLI will talk to that endpoint whatever berth does;
            // a local dockerd would sit unused. Report, do not fall back.
            // The reason goes in the warning itself: the run logs warnings
            // before the evidence, so "see above" would point nowhere.
            self.push(
                Finding::new("remote", Verdict::Warning, format!("a remote engine is configured but does not answer ({why}); not starting a local one the CLI would not use"))
                    .with_fix("make that engine answer (the reason is in this message), or unset DOCKER_HOST (or the docker context) to use a local engine"),
            );
            return Ok(self.finish(None));
        }
        if let Found::Yes(d) = self.socket().await {
            return Ok(*d);
        }
        for step in [Self::sysbox as fn(&mut Self) -> Found, Self::dind, |p| {
            p.rootless(false)
        }] {
            if let Found::Yes(mut d) = step(self) {
                // berth's dockerd listens on the default socket: a
                // DOCKER_HOST elsewhere would leave the CLI talking to nothing.
                d.findings.extend(self.custom_unix_host_warning());
                return Ok(*d);
            }
        }
        self.probing = None;
        let unanswered = std::mem::take(&mut self.unanswered);
        let fix = if unanswered.is_empty() {
            "mount the host socket (-v /var/run/docker.sock:/var/run/docker.sock), run privileged (--privileged -v berth-docker:/var/lib/docker), use sysbox, or set DOCKER_HOST".to_owned()
        } else {
            // The user already pointed berth at a socket: that is the fix
            // to make; an engine of berth's own is the alternative.
            "fix the socket above; or, for an engine of berth's own, run the container privileged (--privileged -v berth-docker:/var/lib/docker) or with sysbox".to_owned()
        };
        for finding in unanswered {
            self.push(finding);
        }
        self.push(
            Finding::new(
                "result",
                Verdict::Missing,
                "no engine answers and none can be started here",
            )
            .with_fix(fix),
        );
        Ok(self.finish(None))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::docker::engine::rootless::RootlessPaths;
    use std::collections::BTreeMap;

    use crate::docker::client::diagnosis::PingFailure;
    use crate::docker::client::ping::tests::ScriptedPinger;
    use crate::docker::client::ping::PingResult;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    pub(crate) fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    /// A fake host in a temp dir: /proc/self files, a bin dir, socket paths.
    pub(crate) struct FakeHost {
        pub(crate) dir: tempfile::TempDir,
        pub(crate) paths: HostPaths,
        pub(crate) host: HostFacts,
        pub(crate) request: Request,
        pub(crate) options: DetectOptions,
        _listeners: Vec<UnixListener>,
    }

    impl FakeHost {
        pub(crate) fn new(status: &str, mountinfo: &str, uid_map: &str) -> Self {
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
                    status: dir.path().join("proc-self/status"),
                },
            };
            let quick = RetryPolicy {
                total: Duration::from_millis(30),
                attempt_timeout: Duration::from_millis(50),
                first_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
            };
            Self {
                paths,
                host: HostFacts {
                    euid: 0,
                    uid: 0,
                    pid: 1,
                    env: BTreeMap::from([("PATH".to_owned(), search_path)]),
                    // Where a running dockerd would be found: nowhere.
                    proc_root: dir.path().to_owned(),
                },
                dir,
                request: Request::Auto,
                options: DetectOptions {
                    remote_retry: quick,
                    socket_retry: quick,
                    ..DetectOptions::default()
                },
                _listeners: Vec::new(),
            }
        }

        pub(crate) fn plain() -> Self {
            Self::new(
                "status-unprivileged",
                "mountinfo-overlay",
                "uid_map-identity",
            )
        }

        pub(crate) fn set(&mut self, key: &str, value: &str) {
            self.host.env.insert(key.to_owned(), value.to_owned());
        }

        pub(crate) fn install(&self, tool: &str) {
            let p = self.paths.rootless.search_path.clone();
            let path = Path::new(&p).join(tool);
            fs::write(&path, "#!/bin/sh\n").expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }

        /// Binds a real socket at the first candidate path; optionally records
        /// it as a mount point (the bind-mount case) in mountinfo.
        pub(crate) fn add_socket(&mut self, bind_mounted: bool) -> PathBuf {
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

        pub(crate) fn detect(
            &self,
            answers: Vec<PingResult>,
        ) -> (Result<Detection, DetectError>, Vec<String>) {
            let pinger = ScriptedPinger::new(answers);
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(detect(
                    &self.host,
                    &self.paths,
                    self.request,
                    &self.options,
                    &pinger,
                ));
            let asked = pinger.asked.borrow().clone();
            (result, asked)
        }
    }

    pub(crate) fn refused() -> PingResult {
        Err(PingFailure::Refused {
            address: "x".into(),
        })
    }

    #[test]
    fn forced_off_probes_nothing() {
        let mut h = FakeHost::plain();
        h.request = Request::Off;
        let (d, asked) = h.detect(vec![]);
        let d = d.expect("ok");
        assert_eq!((d.requested, d.mode), (Request::Off, None));
        assert!(asked.is_empty());
    }

    #[test]
    fn nothing_available_is_none_with_evidence() {
        let h = FakeHost::plain();
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, None);
        for probe in ["remote", "socket", "sysbox", "dind", "rootless", "result"] {
            assert!(
                d.findings.iter().any(|e| e.check == probe),
                "no {probe} findings: {:#?}",
                d.findings
            );
        }
        let json = serde_json::to_value(&d).expect("serialize");
        assert_eq!(json["mode"], serde_json::Value::Null);
    }

    /// Real /proc, real pinger, a real engine's socket (BERTH_TEST_DOCKER_SOCK).
    #[test]
    #[ignore = "needs a real engine: BERTH_TEST_DOCKER_SOCK=/path/to/docker.sock cargo test -- --ignored"]
    fn real_host_with_engine_socket_is_socket_mode() {
        let Some(sock) = std::env::var("BERTH_TEST_DOCKER_SOCK").ok() else {
            panic!("BERTH_TEST_DOCKER_SOCK is not set (this test is #[ignore]d for that reason)");
        };
        let mut host = HostFacts::read();
        host.env = BTreeMap::from([("DOCKER_HOST".to_owned(), format!("unix://{sock}"))]);
        let pinger = crate::docker::client::ping::BollardPinger::without_reaper(None);
        let d = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(detect(
                &host,
                &HostPaths::for_host(&host),
                Request::Auto,
                &DetectOptions::default(),
                &pinger,
            ))
            .expect("detects");
        assert_eq!(d.mode, Some(Mode::Socket), "{:#?}", d.findings);
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
        let host = HostFacts::read();
        let pinger = crate::docker::client::ping::BollardPinger::without_reaper(None);
        let d = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(detect(
                &host,
                &HostPaths::for_host(&host),
                Request::Auto,
                &DetectOptions::default(),
                &pinger,
            ))
            .expect("detects");
        for e in &d.findings {
            eprintln!("{e}");
        }
        let got = d.mode.map_or("none", Mode::as_str);
        assert_eq!(got, expected, "{d}");
    }
}
