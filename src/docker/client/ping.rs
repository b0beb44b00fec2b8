//! Proving an engine answers: a bounded, retried `GET /_ping` then `/version`
//! (why it did not is [`super::diagnosis`]).
//!
//! Detection logic talks to the [`Pinger`] trait so it is tested with a fake;
//! [`BollardPinger`] is the real one. The ssh fallback runs the docker CLI
//! through a [`HelperRunner`] (DESIGN.md invariant 1: under the reaper, the
//! supervised one).

use std::future::Future;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::{ClientVersion, Docker};
use serde::{Deserialize, Serialize};

use crate::docker::client::diagnosis::{classify, supported_api_version, PingFailure};
use crate::docker::client::endpoint::{Endpoint, TlsFiles};
use crate::init::runner::{HelperRunner, Helpers};
use crate::retry::{retry, Attempt, Backoff, Retry};

/// Whole budget for proving one endpoint (certs may still be appearing).
pub const DEFAULT_TOTAL_BUDGET: Duration = Duration::from_secs(15);
/// One attempt; an engine that answers at all answers /_ping in well under this.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_FIRST_BACKOFF: Duration = Duration::from_millis(100);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_millis(1600);

/// What the engine said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    /// The product, from /version ([`engine_name`]): `Docker Engine`,
    /// `Docker Engine - Community`, `Podman Engine`.
    pub name: String,
    pub version: String,
    pub api_version: String,
    pub os: String,
    /// From /info SecurityOptions (`name=rootless`); None when not asked.
    pub rootless: Option<bool>,
}

impl EngineInfo {
    /// The product name for a person: `Docker Engine`, `Podman Engine`.
    pub fn product(&self) -> &str {
        if self.name.is_empty() {
            DOCKER_ENGINE
        } else {
            &self.name
        }
    }
}

/// What a Docker engine that names nothing else is called.
pub const DOCKER_ENGINE: &str = "Docker Engine";

/// The engine's product name from /version: a component named for its
/// product (`Podman Engine`; Docker's own is plain `Engine`), else
/// `Platform.Name` when it names Docker (`Docker Engine - Community`;
/// Debian's docker.io leaves it empty, Podman puts its OS/arch there), else
/// [`DOCKER_ENGINE`].
pub fn engine_name<'a>(
    platform: Option<&'a str>,
    components: impl IntoIterator<Item = &'a str>,
) -> String {
    let product = components
        .into_iter()
        .find(|c| c.ends_with(" Engine") || c.ends_with(" engine"));
    match (product, platform) {
        (Some(component), _) => component.to_owned(),
        (None, Some(platform)) if platform.contains("Docker") => platform.to_owned(),
        _ => DOCKER_ENGINE.to_owned(),
    }
}

pub type PingResult = Result<EngineInfo, PingFailure>;

/// One attempt to reach an engine. Implementations must not retry themselves.
pub trait Pinger {
    fn ping(&self, endpoint: &Endpoint, timeout: Duration) -> impl Future<Output = PingResult>;
}

/// Bounds for [`ping_with_retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub total: Duration,
    pub attempt_timeout: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            total: DEFAULT_TOTAL_BUDGET,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            first_backoff: DEFAULT_FIRST_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl RetryPolicy {
    /// A single attempt: for probing default socket paths that are usually absent.
    pub fn once(attempt_timeout: Duration) -> Self {
        Self {
            total: Duration::ZERO,
            attempt_timeout,
            first_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }
}

/// The evidence from proving one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PingReport {
    pub endpoint: String,
    pub attempts: u32,
    pub elapsed_ms: u64,
    pub engine: Option<EngineInfo>,
    /// The last failure (None on success).
    pub failure: Option<PingFailure>,
}

impl PingReport {
    pub fn answered(&self) -> bool {
        self.engine.is_some()
    }
}

/// Pings until success, a non-retryable failure, or the budget is spent.
/// Backoff doubles from `first_backoff` up to `max_backoff`; no attempt
/// starts when its pause would end past the budget, and each attempt is cut
/// at `attempt_timeout`.
pub async fn ping_with_retry(
    pinger: &impl Pinger,
    endpoint: &Endpoint,
    policy: RetryPolicy,
) -> PingReport {
    let bounds = Retry {
        budget: Some(policy.total),
        attempts: None,
        backoff: Backoff::doubling(policy.first_backoff, policy.max_backoff),
    };
    let retried = retry(bounds, move |_| async move {
        match bounded_ping(pinger, endpoint, policy.attempt_timeout).await {
            Ok(info) => Attempt::Done(info),
            Err(failure) if failure.is_retryable() => Attempt::Again(failure),
            Err(failure) => Attempt::Fail(failure),
        }
    })
    .await;
    let (engine, failure) = match retried.result {
        Ok(info) => (Some(info), None),
        Err(failure) => (None, Some(failure)),
    };
    PingReport {
        endpoint: endpoint.url(),
        attempts: retried.attempts,
        elapsed_ms: u64::try_from(retried.elapsed.as_millis()).unwrap_or(u64::MAX),
        engine,
        failure,
    }
}

/// One attempt bounded by `timeout`. Whichever clock runs out first, this
/// one or the client's own per-request timeout (bollard's
/// `RequestTimeoutError`, which does not say how long it waited and is
/// classified with `after_ms: 0`), the failure names the attempt's bound.
async fn bounded_ping(pinger: &impl Pinger, endpoint: &Endpoint, timeout: Duration) -> PingResult {
    let after_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    match tokio::time::timeout(timeout, pinger.ping(endpoint, timeout)).await {
        Ok(Err(PingFailure::Timeout {
            address,
            after_ms: 0,
        })) => Err(PingFailure::Timeout { address, after_ms }),
        Ok(result) => result,
        Err(_) => Err(PingFailure::Timeout {
            address: endpoint.url(),
            after_ms,
        }),
    }
}

/// What to install for the docker CLI (Debian's package, or docker-ce-cli
/// from Docker's repository).
const DOCKER_CLI_PACKAGE: &str = "the docker CLI (docker.io or docker-ce-cli)";
/// What to install for the ssh client the docker CLI runs (Debian, Ubuntu;
/// Alpine's is openssh-client too).
const SSH_CLIENT_PACKAGE: &str = "openssh-client";

/// The real pinger: bollard for unix and tcp (+TLS); `ssh://` through the
/// docker CLI (`docker -H ssh://... version`), run as a helper by `runner`
/// (under the reaper: a [`SupervisedRunner`](crate::init::runner::SupervisedRunner)).
#[derive(Clone)]
pub struct BollardPinger<R = Helpers> {
    pub docker_cli: Option<PathBuf>,
    /// The ssh client the docker CLI runs for `ssh://` (found on PATH, as
    /// the CLI finds it); None: not installed.
    pub ssh_client: Option<PathBuf>,
    pub runner: R,
}

impl BollardPinger {
    pub fn new(
        docker_cli: Option<PathBuf>,
        ssh_client: Option<PathBuf>,
        runner: impl Into<Helpers>,
    ) -> Self {
        Self {
            docker_cli,
            ssh_client,
            runner: runner.into(),
        }
    }

    /// The docker CLI and ssh client on the host's PATH.
    pub fn for_host(host: &crate::host::HostFacts, runner: impl Into<Helpers>) -> Self {
        Self::new(host.which("docker"), host.which("ssh"), runner)
    }

    /// For tests: no reaper runs, helpers run as berth.
    #[cfg(test)]
    pub fn without_reaper(docker_cli: Option<PathBuf>) -> Self {
        Self::new(
            docker_cli,
            which::which("ssh").ok(),
            crate::init::runner::OneShotRunner::without_reaper(),
        )
    }
}

impl<R: HelperRunner> Pinger for BollardPinger<R> {
    async fn ping(&self, endpoint: &Endpoint, timeout: Duration) -> PingResult {
        match endpoint {
            Endpoint::Unix { path } => ping_unix(path, timeout).await,
            Endpoint::Tcp { host, port, tls } => {
                ping_tcp(endpoint, host, *port, tls.as_ref(), timeout).await
            }
            Endpoint::Ssh { url } => self.ping_ssh(endpoint, url, timeout).await,
        }
    }
}

impl<R: HelperRunner> BollardPinger<R> {
    async fn ping_ssh(&self, _endpoint: &Endpoint, url: &str, timeout: Duration) -> PingResult {
        // Over ssh the docker CLI does the work (`docker -H ssh://... version`
        // runs `docker system dial-stdio` on the far side), as it does for
        // users; bollard's own ssh transport cannot take a port in the URL
        // and would add a second ssh stack to the binary.
        // Both must be in the image: without them the CLI's own words are
        // Go's exec jargon ("ssh resolves to executable in current
        // directory"), so say what to install before trying.
        let missing = |tool, package| PingFailure::MissingTool {
            url: url.to_owned(),
            tool,
            package,
        };
        let Some(cli) = &self.docker_cli else {
            return Err(missing("docker", DOCKER_CLI_PACKAGE));
        };
        if self.ssh_client.is_none() {
            return Err(missing("ssh", SSH_CLIENT_PACKAGE));
        }
        let first = "ssh goes through the docker CLI".to_string();
        self.ping_ssh_with_cli(cli, url, &first, timeout).await
    }

    async fn ping_ssh_with_cli(
        &self,
        cli: &Path,
        url: &str,
        first: &str,
        timeout: Duration,
    ) -> PingResult {
        let args = ["-H", url, "version", "--format", "{{json .Server}}"];
        let ssh_failure = |detail: String| PingFailure::Ssh {
            url: url.to_owned(),
            detail: format!("bollard: {first}; docker CLI: {detail}"),
        };
        let out = self
            .runner
            .run(cli, &args, timeout)
            .await
            .map_err(|e| ssh_failure(e.to_string()))?;
        if !out.success() {
            return Err(ssh_failure(out.stderr.trim().to_owned()));
        }
        parse_cli_server_version(&out.stdout)
            .ok_or_else(|| ssh_failure(format!("unexpected output {:?}", out.stdout.trim())))
    }
}

#[derive(Deserialize)]
struct CliServerVersion {
    #[serde(rename = "Platform", default)]
    platform: Option<CliPlatform>,
    #[serde(rename = "Components", default)]
    components: Vec<CliPlatform>,
    #[serde(rename = "Version", default)]
    version: String,
    #[serde(rename = "ApiVersion", default)]
    api_version: String,
    #[serde(rename = "Os", default)]
    os: String,
}

/// `{"Name": ...}` of Platform and of each component.
#[derive(Deserialize)]
struct CliPlatform {
    #[serde(rename = "Name", default)]
    name: String,
}

/// `docker version --format '{{json .Server}}'` output.
fn parse_cli_server_version(stdout: &str) -> Option<EngineInfo> {
    let v: CliServerVersion = serde_json::from_str(stdout.trim()).ok()?;
    Some(EngineInfo {
        name: engine_name(
            v.platform.as_ref().map(|p| p.name.as_str()),
            v.components.iter().map(|c| c.name.as_str()),
        ),
        version: v.version,
        api_version: v.api_version,
        os: v.os,
        rootless: None,
    })
}

async fn ping_unix(path: &Path, timeout: Duration) -> PingResult {
    check_socket(path)?;
    let endpoint = Endpoint::Unix {
        path: path.to_owned(),
    };
    query_engine(&endpoint, timeout, true).await
}

fn check_socket(path: &Path) -> Result<(), PingFailure> {
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        Ok(_) => Err(PingFailure::NotASocket {
            path: path.to_owned(),
        }),
        Err(_) => Err(PingFailure::SocketMissing {
            path: path.to_owned(),
        }),
    }
}

async fn ping_tcp(
    endpoint: &Endpoint,
    host: &str,
    port: u16,
    tls: Option<&TlsFiles>,
    timeout: Duration,
) -> PingResult {
    check_tcp(host, port, tls).await?;
    query_engine(endpoint, timeout, false).await
}

async fn check_tcp(host: &str, port: u16, tls: Option<&TlsFiles>) -> Result<(), PingFailure> {
    // Resolve first: a DNS failure is then a fact, not a guess from an error string.
    if let Err(e) = tokio::net::lookup_host((host, port)).await {
        return Err(PingFailure::Dns {
            host: host.to_owned(),
            detail: e.to_string(),
        });
    }
    if let Some(missing) = tls.map(TlsFiles::missing).filter(|m| !m.is_empty()) {
        return Err(PingFailure::MissingCertFiles { missing });
    }
    Ok(())
}

/// `GET /_ping` alone, bounded by `timeout`: what a liveness probe asks (the
/// health endpoint). /version and /info cost dockerd tens to hundreds of
/// milliseconds each (it asks containerd, walks its state); /_ping costs it
/// next to nothing. The same checks come first as in [`Pinger::ping`]
/// (socket file, DNS, TLS files), so a failure reads the same; ssh goes
/// through the docker CLI's `docker version`, as there.
pub async fn ping_only<R: HelperRunner>(
    pinger: &BollardPinger<R>,
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<(), PingFailure> {
    let answered = async {
        match endpoint {
            Endpoint::Unix { path } => check_socket(path)?,
            Endpoint::Tcp { host, port, tls } => check_tcp(host, *port, tls.as_ref()).await?,
            Endpoint::Ssh { .. } => return pinger.ping(endpoint, timeout).await.map(drop),
        }
        let docker = connect(endpoint, timeout, bollard::API_DEFAULT_VERSION)?;
        docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| classify(&e, endpoint))
    };
    match tokio::time::timeout(timeout, answered).await {
        Ok(result) => result,
        Err(_) => Err(PingFailure::Timeout {
            address: endpoint.url(),
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// A bollard client for `endpoint` speaking API `version`.
pub(crate) fn connect(
    endpoint: &Endpoint,
    timeout: Duration,
    version: &ClientVersion,
) -> Result<Docker, PingFailure> {
    let t = secs(timeout);
    let url = endpoint.url();
    match endpoint {
        Endpoint::Unix { path } => Docker::connect_with_unix(&path.to_string_lossy(), t, version),
        Endpoint::Tcp {
            tls: Some(files), ..
        } => Docker::connect_with_ssl(&url, &files.key, &files.cert, &files.ca, t, version),
        Endpoint::Tcp { tls: None, .. } => Docker::connect_with_http(&url, t, version),
        Endpoint::Ssh { url } => {
            return Err(PingFailure::Ssh {
                url: url.clone(),
                detail: "ssh endpoints are reached through the docker CLI".into(),
            })
        }
    }
    .map_err(|e| classify(&e, endpoint))
}

fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// /_ping, then /version (and /info for local sockets). bollard prefixes
/// every path with its own API version (1.53 in bollard 0.21), which older
/// and newer engines refuse with HTTP 400 "client version X is too new/old";
/// in that case the version the engine names is used for one more try.
async fn query_engine(endpoint: &Endpoint, timeout: Duration, ask_rootless: bool) -> PingResult {
    let docker = connect(endpoint, timeout, bollard::API_DEFAULT_VERSION)?;
    match query_once(&docker, endpoint, ask_rootless).await {
        Err(PingFailure::Http {
            status: 400,
            message,
        }) => match supported_api_version(&message) {
            Some(version) => {
                let docker = connect(endpoint, timeout, &version)?;
                query_once(&docker, endpoint, ask_rootless).await
            }
            None => Err(PingFailure::Http {
                status: 400,
                message,
            }),
        },
        other => other,
    }
}

async fn query_once(docker: &Docker, endpoint: &Endpoint, ask_rootless: bool) -> PingResult {
    docker.ping().await.map_err(|e| classify(&e, endpoint))?;
    let version = docker.version().await.map_err(|e| classify(&e, endpoint))?;
    let rootless = if ask_rootless {
        let info = docker.info().await.map_err(|e| classify(&e, endpoint))?;
        Some(
            info.security_options
                .unwrap_or_default()
                .iter()
                .any(|o| o.split(',').any(|kv| kv == "name=rootless")),
        )
    } else {
        None
    };
    Ok(EngineInfo {
        name: engine_name(
            version.platform.as_ref().map(|p| p.name.as_str()),
            version.components.iter().flatten().map(|c| c.name.as_str()),
        ),
        version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        os: version.os.unwrap_or_default(),
        rootless,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::init::reaper::Exit;
    use crate::init::runner::{HelperError, HelperOutput};
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// Answers from a script, one per call; records the endpoints it was asked about.
    #[derive(Default)]
    pub(crate) struct ScriptedPinger {
        pub(crate) answers: RefCell<VecDeque<PingResult>>,
        pub(crate) asked: RefCell<Vec<String>>,
    }

    impl ScriptedPinger {
        pub(crate) fn new(answers: Vec<PingResult>) -> Self {
            Self {
                answers: RefCell::new(answers.into()),
                asked: RefCell::default(),
            }
        }
    }

    impl Pinger for ScriptedPinger {
        async fn ping(&self, endpoint: &Endpoint, _timeout: Duration) -> PingResult {
            self.asked.borrow_mut().push(endpoint.url());
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or(Err(PingFailure::Refused {
                    address: endpoint.url(),
                }))
        }
    }

    pub(crate) fn engine() -> EngineInfo {
        EngineInfo {
            name: DOCKER_ENGINE.into(),
            version: "20.10.24".into(),
            api_version: "1.41".into(),
            os: "linux".into(),
            rootless: Some(false),
        }
    }

    fn tcp() -> Endpoint {
        Endpoint::Tcp {
            host: "docker".into(),
            port: 2376,
            tls: None,
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            total: Duration::from_millis(200),
            attempt_timeout: Duration::from_millis(50),
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .enable_io()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn retries_retryable_failures_until_success() {
        let refused = || {
            Err(PingFailure::Refused {
                address: "x".into(),
            })
        };
        let missing = Err(PingFailure::MissingCertFiles {
            missing: vec!["/c/ca.pem".into()],
        });
        let pinger = ScriptedPinger::new(vec![refused(), missing, refused(), Ok(engine())]);
        let report = block_on(ping_with_retry(&pinger, &tcp(), quick()));
        assert!(report.answered());
        assert_eq!(report.attempts, 4);
    }

    #[test]
    fn stops_at_once_on_non_retryable() {
        let pinger = ScriptedPinger::new(vec![
            Err(PingFailure::TlsUnknownCa { detail: "x".into() }),
            Ok(engine()),
        ]);
        let report = block_on(ping_with_retry(&pinger, &tcp(), quick()));
        assert_eq!(report.attempts, 1);
        assert!(matches!(
            report.failure,
            Some(PingFailure::TlsUnknownCa { .. })
        ));
    }

    #[test]
    fn budget_bounds_the_retries() {
        let pinger = ScriptedPinger::default();
        let started = std::time::Instant::now();
        let report = block_on(ping_with_retry(&pinger, &tcp(), quick()));
        assert!(!report.answered());
        assert!(report.attempts > 2, "attempts {}", report.attempts);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn once_policy_makes_one_attempt() {
        let pinger = ScriptedPinger::default();
        let report = block_on(ping_with_retry(
            &pinger,
            &tcp(),
            RetryPolicy::once(Duration::from_millis(50)),
        ));
        assert_eq!(report.attempts, 1);
    }

    struct Hangs;
    impl Pinger for Hangs {
        async fn ping(&self, _: &Endpoint, _: Duration) -> PingResult {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(engine())
        }
    }

    #[test]
    fn a_hanging_engine_is_a_timeout() {
        let report = block_on(ping_with_retry(
            &Hangs,
            &tcp(),
            RetryPolicy::once(Duration::from_millis(20)),
        ));
        assert!(matches!(
            report.failure,
            Some(PingFailure::Timeout { after_ms: 20, .. })
        ));
    }

    /// The client's own request timeout (classified with no duration).
    struct ClientTimesOut;
    impl Pinger for ClientTimesOut {
        async fn ping(&self, endpoint: &Endpoint, _: Duration) -> PingResult {
            Err(PingFailure::Timeout {
                address: endpoint.url(),
                after_ms: 0,
            })
        }
    }

    /// Seen under load: "did not answer within 0 ms" for a socket that had
    /// 3 s. The message gives the attempt's bound instead.
    #[test]
    fn a_client_side_timeout_names_the_attempts_bound() {
        let report = block_on(ping_with_retry(
            &ClientTimesOut,
            &tcp(),
            RetryPolicy::once(Duration::from_millis(3000)),
        ));
        match report.failure {
            Some(failure @ PingFailure::Timeout { after_ms: 3000, .. }) => {
                assert!(failure.to_string().contains("within 3000 ms"), "{failure}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn real_pinger_reports_missing_and_non_socket_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pinger = BollardPinger::without_reaper(None);
        let missing = Endpoint::Unix {
            path: dir.path().join("docker.sock"),
        };
        let r = block_on(pinger.ping(&missing, Duration::from_millis(200)));
        assert!(matches!(r, Err(PingFailure::SocketMissing { .. })));
        let not_socket = Endpoint::Unix {
            path: dir.path().to_owned(),
        };
        let r = block_on(pinger.ping(&not_socket, Duration::from_millis(200)));
        assert!(matches!(r, Err(PingFailure::NotASocket { .. })));
    }

    #[test]
    fn real_pinger_refused_on_dead_unix_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docker.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        let r = block_on(BollardPinger::without_reaper(None).ping(
            &Endpoint::Unix { path: path.clone() },
            Duration::from_secs(1),
        ));
        assert_eq!(r, Err(PingFailure::SocketRefused { path }));
    }

    #[test]
    fn real_pinger_refused_on_closed_tcp_port() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
            tls: None,
        };
        let r =
            block_on(BollardPinger::without_reaper(None).ping(&endpoint, Duration::from_secs(1)));
        assert!(matches!(r, Err(PingFailure::Refused { .. })), "{r:?}");
    }

    #[test]
    fn real_pinger_reports_dns_failure_by_name() {
        // RFC 6761: .invalid never resolves.
        let endpoint = Endpoint::Tcp {
            host: "no-such-engine.invalid".into(),
            port: 2376,
            tls: None,
        };
        let report = block_on(ping_with_retry(
            &BollardPinger::without_reaper(None),
            &endpoint,
            RetryPolicy::once(Duration::from_secs(5)),
        ));
        match report.failure {
            Some(PingFailure::Dns { ref host, .. }) => assert_eq!(host, "no-such-engine.invalid"),
            Some(PingFailure::Timeout { .. }) => {
                eprintln!("skipped: the resolver did not answer in time")
            }
            other => panic!("expected a DNS failure, got {other:?}"),
        }
    }

    #[test]
    fn real_pinger_reports_missing_tls_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 2376,
            tls: Some(TlsFiles::in_dir(dir.path())),
        };
        let r =
            block_on(BollardPinger::without_reaper(None).ping(&endpoint, Duration::from_secs(1)));
        assert!(
            matches!(r, Err(PingFailure::MissingCertFiles { ref missing }) if missing.len() == 3)
        );
    }

    /// Against a real engine (read-only: ping, version, info). Set
    /// BERTH_TEST_DOCKER_SOCK to its socket path to run it.
    #[test]
    #[ignore = "needs a real engine: BERTH_TEST_DOCKER_SOCK=/path/to/docker.sock cargo test -- --ignored"]
    fn real_engine_answers_after_api_version_negotiation() {
        let Some(sock) = std::env::var_os("BERTH_TEST_DOCKER_SOCK") else {
            panic!("BERTH_TEST_DOCKER_SOCK is not set (this test is #[ignore]d for that reason)");
        };
        let endpoint = Endpoint::Unix { path: sock.into() };
        let r =
            block_on(BollardPinger::without_reaper(None).ping(&endpoint, Duration::from_secs(5)));
        let info = r.expect("the engine answers");
        assert!(
            !info.version.is_empty() && !info.api_version.is_empty(),
            "{info:?}"
        );
        assert_eq!(info.rootless, Some(false));
    }

    #[test]
    fn ssh_to_closed_port_is_an_ssh_failure_with_both_attempts() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let endpoint = Endpoint::Ssh {
            url: format!("ssh://nobody@127.0.0.1:{port}"),
        };
        let cli = find_docker_cli();
        let pinger = BollardPinger::without_reaper(cli.clone());
        let r = block_on(pinger.ping(&endpoint, Duration::from_secs(5)));
        let Err(PingFailure::Ssh { detail, .. }) = r else {
            panic!("expected an ssh failure, got {r:?}");
        };
        eprintln!("ssh failure detail: {detail}");
        if cli.is_some() {
            assert!(detail.contains("docker CLI:"), "{detail}");
        }
    }

    fn find_docker_cli() -> Option<PathBuf> {
        which::which("docker").ok()
    }

    /// Answers every command with a fixed output and records the arguments.
    struct FakeRunner {
        output: HelperOutput,
        calls: RefCell<Vec<Vec<String>>>,
    }

    impl HelperRunner for FakeRunner {
        async fn run(
            &self,
            _: &Path,
            args: &[&str],
            _: Duration,
        ) -> Result<HelperOutput, HelperError> {
            self.calls
                .borrow_mut()
                .push(args.iter().map(|a| a.to_string()).collect());
            Ok(self.output.clone())
        }
    }

    #[test]
    fn ssh_with_port_goes_to_the_docker_cli() {
        let pinger = BollardPinger {
            docker_cli: Some(PathBuf::from("/usr/bin/docker")),
            ssh_client: Some(PathBuf::from("/usr/bin/ssh")),
            runner: FakeRunner {
                output: HelperOutput {
                    exit: Exit::Code(0),
                    stdout: r#"{"Version":"27.1.1","ApiVersion":"1.46","Os":"linux"}"#.into(),
                    stderr: String::new(),
                },
                calls: RefCell::default(),
            },
        };
        let endpoint = Endpoint::Ssh {
            url: "ssh://me@builder:2222".into(),
        };
        let info = block_on(pinger.ping(&endpoint, Duration::from_secs(1))).expect("answers");
        assert_eq!(info.api_version, "1.46");
        assert_eq!(
            pinger.runner.calls.borrow()[0][..2],
            ["-H", "ssh://me@builder:2222"]
        );
    }

    /// An image without openssh-client (or without the docker CLI): the
    /// failure says what to install, before running anything.
    #[test]
    fn ssh_without_the_client_or_the_cli_says_what_to_install() {
        let endpoint = Endpoint::Ssh {
            url: "ssh://me@builder".into(),
        };
        for (cli, ssh, tool, package) in [
            (Some("/usr/bin/docker"), None, "ssh", "openssh-client"),
            (None, Some("/usr/bin/ssh"), "docker", "docker-ce-cli"),
            (None, None, "docker", "docker.io"),
        ] {
            let pinger = BollardPinger {
                docker_cli: cli.map(PathBuf::from),
                ssh_client: ssh.map(PathBuf::from),
                runner: FakeRunner {
                    output: HelperOutput {
                        exit: Exit::Code(0),
                        stdout: String::new(),
                        stderr: String::new(),
                    },
                    calls: RefCell::default(),
                },
            };
            let failure = block_on(pinger.ping(&endpoint, Duration::from_secs(1)))
                .expect_err("nothing to reach it with");
            assert!(!failure.is_retryable(), "{failure}");
            let said = failure.to_string();
            assert!(said.contains(&format!("{tool} is not on PATH")), "{said}");
            assert!(
                said.contains(&format!("install {package}")) || said.contains(package),
                "{said}"
            );
            assert!(said.contains("ssh://me@builder"), "{said}");
            assert!(pinger.runner.calls.borrow().is_empty());
        }
    }

    #[test]
    fn failing_docker_cli_reports_its_stderr() {
        let pinger = BollardPinger {
            docker_cli: Some(PathBuf::from("/usr/bin/docker")),
            ssh_client: Some(PathBuf::from("/usr/bin/ssh")),
            runner: FakeRunner {
                output: HelperOutput {
                    exit: Exit::Code(1),
                    stdout: String::new(),
                    stderr: "Permission denied (publickey).\n".into(),
                },
                calls: RefCell::default(),
            },
        };
        let endpoint = Endpoint::Ssh {
            url: "ssh://me@builder:2222".into(),
        };
        let r = block_on(pinger.ping(&endpoint, Duration::from_secs(1)));
        assert!(
            matches!(r, Err(PingFailure::Ssh { ref detail, .. }) if detail.contains("publickey")),
            "{r:?}"
        );
    }

    #[test]
    fn the_engine_names_its_product() {
        // Debian's docker.io 20.10 (the test engine), docker-ce, podman 4.3.
        assert_eq!(
            engine_name(Some(""), ["Engine", "containerd", "runc", "docker-init"]),
            "Docker Engine"
        );
        assert_eq!(
            engine_name(Some("Docker Engine - Community"), ["Engine", "containerd"]),
            "Docker Engine - Community"
        );
        assert_eq!(
            engine_name(
                Some("linux/amd64/debian-12"),
                ["Podman Engine", "Conmon", "OCI Runtime (runc)"]
            ),
            "Podman Engine"
        );
        assert_eq!(engine_name(None, []), "Docker Engine");
        let info = parse_cli_server_version(
            r#"{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1"}],"Version":"4.3.1","ApiVersion":"1.41","Os":"linux"}"#,
        )
        .expect("parsed");
        assert_eq!(info.product(), "Podman Engine");
    }

    #[test]
    fn cli_version_json_is_parsed() {
        let info = parse_cli_server_version(
            r#"{"Platform":{"Name":""},"Version":"24.0.7","ApiVersion":"1.43","Os":"linux"}"#,
        )
        .expect("parsed");
        assert_eq!(info.version, "24.0.7");
        assert!(parse_cli_server_version("garbage").is_none());
    }

    /// Real handshakes against a one-shot rustls server on 127.0.0.1, with
    /// certificates from rcgen, to prove the classification on live errors.
    mod live_tls {
        use super::*;
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        use std::io::{Read, Write};
        use std::sync::Arc;

        struct Ca {
            issuer: Issuer<'static, KeyPair>,
            pem: String,
            der: CertificateDer<'static>,
        }

        fn ca(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let key = KeyPair::generate().expect("key");
            let cert = params.self_signed(&key).expect("self-signed");
            Ca {
                pem: cert.pem(),
                der: cert.der().clone(),
                issuer: Issuer::new(params, key),
            }
        }

        fn leaf(ca: &Ca, sans: &[&str]) -> (CertificateDer<'static>, String, KeyPair) {
            let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(sans)
                .expect("params")
                .signed_by(&key, &ca.issuer)
                .expect("signed");
            (cert.der().clone(), cert.pem(), key)
        }

        fn provider() -> Arc<rustls::crypto::CryptoProvider> {
            Arc::new(rustls::crypto::ring::default_provider())
        }

        /// Serves one TLS connection; answers plain HTTP when `config` is None.
        fn serve_once(config: Option<Arc<rustls::ServerConfig>>) -> u16 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            std::thread::spawn(move || {
                let Ok((mut sock, _)) = listener.accept() else {
                    return;
                };
                let _ = sock.set_read_timeout(Some(Duration::from_secs(3)));
                let mut buf = [0u8; 4096];
                match config {
                    None => {
                        let _ = sock.read(&mut buf);
                        let _ = sock
                            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                    }
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        let mut tls = rustls::StreamOwned::new(conn, sock);
                        let _ = tls.read(&mut buf);
                    }
                }
            });
            port
        }

        fn server_config(
            ca: &Ca,
            sans: &[&str],
            client_ca: Option<&Ca>,
        ) -> Arc<rustls::ServerConfig> {
            let (cert, _, key) = leaf(ca, sans);
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
            let builder = rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("versions");
            let builder = match client_ca {
                Some(client_ca) => {
                    let mut roots = rustls::RootCertStore::empty();
                    roots.add(client_ca.der.clone()).expect("root");
                    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                        Arc::new(roots),
                        provider(),
                    )
                    .build()
                    .expect("verifier");
                    builder.with_client_cert_verifier(verifier)
                }
                None => builder.with_no_client_auth(),
            };
            Arc::new(
                builder
                    .with_single_cert(vec![cert], key)
                    .expect("server config"),
            )
        }

        /// Client files: trusts `trusted`, presents a cert from `client_issuer`.
        fn client_files(dir: &Path, trusted: &Ca, client_issuer: &Ca) -> TlsFiles {
            let (_, cert_pem, key) = leaf(client_issuer, &["client"]);
            std::fs::write(dir.join("ca.pem"), &trusted.pem).expect("write");
            std::fs::write(dir.join("cert.pem"), cert_pem).expect("write");
            std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("write");
            TlsFiles::in_dir(dir)
        }

        fn ping_tls(host: &str, port: u16, files: TlsFiles) -> PingResult {
            let endpoint = Endpoint::Tcp {
                host: host.into(),
                port,
                tls: Some(files),
            };
            block_on(BollardPinger::without_reaper(None).ping(&endpoint, Duration::from_secs(3)))
        }

        #[test]
        fn server_signed_by_another_ca() {
            let (engine_ca, other_ca) = (ca("engine"), ca("other"));
            let port = serve_once(Some(server_config(&engine_ca, &["127.0.0.1"], None)));
            let dir = tempfile::tempdir().expect("tempdir");
            let r = ping_tls(
                "127.0.0.1",
                port,
                client_files(dir.path(), &other_ca, &engine_ca),
            );
            assert!(matches!(r, Err(PingFailure::TlsUnknownCa { .. })), "{r:?}");
        }

        #[test]
        fn server_cert_for_another_name() {
            let engine_ca = ca("engine");
            let port = serve_once(Some(server_config(&engine_ca, &["docker.example"], None)));
            let dir = tempfile::tempdir().expect("tempdir");
            let r = ping_tls(
                "127.0.0.1",
                port,
                client_files(dir.path(), &engine_ca, &engine_ca),
            );
            assert!(matches!(r, Err(PingFailure::TlsWrongName { .. })), "{r:?}");
            // The fix names the knob of berth's (and docker:dind's) engine.
            let said = r.expect_err("wrong name").to_string();
            assert!(said.contains("DOCKER_TLS_SAN=\"IP:127.0.0.1\""), "{said}");
        }

        #[test]
        fn client_cert_from_another_ca_is_rejected() {
            let (engine_ca, other_ca) = (ca("engine"), ca("other"));
            let port = serve_once(Some(server_config(
                &engine_ca,
                &["127.0.0.1"],
                Some(&engine_ca),
            )));
            let dir = tempfile::tempdir().expect("tempdir");
            let r = ping_tls(
                "127.0.0.1",
                port,
                client_files(dir.path(), &engine_ca, &other_ca),
            );
            assert!(
                matches!(r, Err(PingFailure::TlsClientCertRejected { .. })),
                "{r:?}"
            );
        }

        #[test]
        fn tls_client_against_plain_http_engine() {
            let engine_ca = ca("engine");
            let port = serve_once(None);
            let dir = tempfile::tempdir().expect("tempdir");
            let r = ping_tls(
                "127.0.0.1",
                port,
                client_files(dir.path(), &engine_ca, &engine_ca),
            );
            assert!(matches!(r, Err(PingFailure::TlsToPlainServer)), "{r:?}");
        }
    }
}
