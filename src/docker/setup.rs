//! From "what did the user ask" to "the command can use Docker".
//!
//! One ordered function: detect (with findings), then act on the mode:
//! - socket: give the target user Docker and nothing more
//!   ([`access`]): membership of the socket's group where that group means
//!   only Docker, else berth's own socket in front of the engine (never a
//!   chmod); the command gets the gid in its groups either way, and
//!   DOCKER_HOST for berth's socket;
//! - remote: nothing to prepare, DOCKER_HOST already says where;
//! - dind, sysbox, rootless: start berth's own dockerd and wait for it;
//! - none found: one warning and the command runs anyway, or, under
//!   `--on-docker-failure=fail`, an error.

use std::ffi::OsString;
use std::rc::Rc;
use std::time::Duration;

use crate::docker::access::{self, AccessPlan};
use crate::docker::client::endpoint::{Endpoint, EndpointError};
use crate::docker::client::ping::{BollardPinger, RetryPolicy};
use crate::docker::detect::{self, DetectError, DetectOptions, Detection, HostPaths};
use crate::docker::engine::dockerd_args::Flavor;
use crate::docker::engine::rootless::{RootlessPaths, RootlessUser};
use crate::docker::engine::{self, DindSettings, Engine, EngineError};
use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::{FailurePolicy, Mode, Request};
use crate::host::permission::{check_read, Ids, Need};
use crate::host::syscall::NixSyscall;
use crate::host::HostFacts;
use crate::init::role::{self, InitRole};
use crate::init::runner::{Helpers, OneShotRunner, SupervisedRunner};
use crate::init::spawn::Credentials;

/// The slice of the configuration the Docker set-up needs.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    pub request: Request,
    pub on_failure: FailurePolicy,
    /// How long a remote engine is pinged (the whole retry budget; each
    /// attempt is still cut at 3 s).
    pub remote_timeout: Duration,
    /// berth's own dockerd (dind, sysbox, rootless).
    pub engine: DindSettings,
    /// berth's grace period: dockerd must stop its containers within it.
    pub grace: Duration,
}

/// What the Docker set-up found and made.
#[derive(Default)]
pub struct DockerSetup {
    /// None: Docker is off, or none could be had (and the policy allowed that).
    pub mode: Option<Mode>,
    /// The engine the command talks to.
    pub endpoint: Option<Endpoint>,
    /// The command must be told [`Self::endpoint`] (berth's own engine): the
    /// user's DOCKER_HOST, context or the default socket need nothing.
    export_endpoint: bool,
    /// Groups the command must have on top of the user's own (the socket's,
    /// or that of berth's own socket).
    pub extra_groups: Vec<u32>,
    /// berth's own socket in front of [`Self::endpoint`], when the user's
    /// access goes through it (the command's DOCKER_HOST).
    pub proxy: Option<std::path::PathBuf>,
    /// berth's own engine, when it started one.
    pub engine: Option<Rc<Engine>>,
}

impl DockerSetup {
    /// Variables the command needs to reach the engine (DOCKER_HOST and,
    /// for TLS, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), rendered by
    /// [`Endpoint::command_env`].
    pub fn command_env(&self) -> Vec<(OsString, OsString)> {
        if let Some(proxy) = &self.proxy {
            let proxy = Endpoint::Unix {
                path: proxy.clone(),
            };
            return proxy
                .command_env()
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
        }
        match (&self.endpoint, self.export_endpoint) {
            (Some(endpoint), true) => endpoint
                .command_env()
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Why the Docker set-up stopped the run.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Docker could not be provided and the policy (or a forced mode) says
    /// that is fatal.
    #[error("{0}")]
    Unavailable(String),
    /// The Docker variables themselves are wrong (DOCKER_HOST that does not
    /// parse, DOCKER_CONTEXT naming no context): fatal under every policy,
    /// before anything is changed, since no mode can honour them.
    #[error(transparent)]
    Config(EndpointError),
}

/// Runs detection for `request` with the real probes, as `user`; helper
/// processes (the docker CLI for ssh) go through `helpers`.
pub async fn detect_here(
    request: Request,
    host: &HostFacts,
    user: Option<&Credentials>,
    remote_timeout: Duration,
    helpers: Helpers,
) -> Result<Detection, DetectError> {
    // Rootless is considered for a non-root berth (or a non-root target).
    let rootless_user = user
        .filter(|u| u.uid != 0)
        .and_then(rootless_user)
        .filter(|_| !host.is_root() || request == Request::Force(Mode::Rootless));
    let options = DetectOptions {
        rootless_user,
        remote_retry: RetryPolicy {
            total: remote_timeout,
            ..RetryPolicy::default()
        },
        ..DetectOptions::default()
    };
    // The docker CLI reaching an ssh:// engine reads ~/.ssh: the user's.
    let pinger = BollardPinger::for_host(host, helpers.as_user(helper_user(host, user)));
    detect::detect(host, &HostPaths::for_host(host), request, &options, &pinger).await
}

/// Who helpers acting for the user (the docker CLI for `ssh://`) run as:
/// the target user when berth is root and it is another user; None (berth
/// itself) otherwise.
pub fn helper_user(host: &HostFacts, user: Option<&Credentials>) -> Option<Credentials> {
    user.filter(|u| host.is_root() && u.uid != host.euid)
        .cloned()
}

/// Whether the run may start the engine of `mode` here: the one decision
/// the run and `berth doctor` share. A forced mode always may; in auto mode
/// a mode that starts an engine of berth's own (dind, sysbox, rootless)
/// needs berth to be this container's init ([`role::examine`]), so that
/// berth run by hand on a privileged machine never starts a second dockerd
/// there. None: no decision to make (a forced mode, or a mode that uses an
/// engine someone else runs).
pub fn engine_gate(request: Request, mode: Option<Mode>, host: &HostFacts) -> Option<InitRole> {
    match mode {
        Some(mode) if mode.starts_an_engine() && request == Request::Auto => {
            Some(role::examine(host))
        }
        _ => None,
    }
}

/// The gate's verdict as a finding about `mode`: a warning, with the
/// fix, when auto mode will not start the engine.
pub fn gate_finding(role: &InitRole, mode: Mode) -> Finding {
    if role.is_init {
        Finding::new(
            "init",
            Verdict::Supports,
            format!("berth is this container's init: {}", role.reason),
        )
        .about(mode)
    } else {
        Finding::new("init", Verdict::Warning, not_init_message(role, mode))
            .with_fix(format!("set BERTH_DOCKER={mode} to start it anyway, or start berth as the container's entrypoint (or from its init or entrypoint script)"))
            .about(mode)
    }
}

fn not_init_message(role: &InitRole, mode: Mode) -> String {
    format!(
        "berth is not this container's init ({}), so in auto mode it does not start dockerd ({mode} was detected)",
        role.reason
    )
}

/// Everything berth checks about Docker here without changing anything:
/// what `berth doctor` shows. The run takes the same request and makes the
/// same detection and the same [`engine_gate`] decision.
#[derive(Debug)]
pub struct Examination {
    pub requested: Request,
    /// Err: a forced mode that cannot work (its findings say why).
    pub detection: Result<Detection, DetectError>,
    /// The [`engine_gate`] decision, when the detected mode starts an engine
    /// in auto mode.
    pub init: Option<InitRole>,
    /// Detection's findings, then the checks it did not make already (the
    /// user's access to the socket, dockerd's pre-flight, the rootless
    /// prerequisites), each check once.
    pub findings: Vec<Finding>,
    /// How the user would reach the socket detection chose (socket mode,
    /// a non-root user).
    pub access: Option<AccessPlan>,
}

impl Examination {
    /// Joins detection's findings with `more`, leaving out any check
    /// detection already made.
    pub fn new(
        requested: Request,
        detection: Result<Detection, DetectError>,
        init: Option<InitRole>,
        more: Vec<Finding>,
    ) -> Examination {
        let mut findings: Vec<Finding> = match &detection {
            Ok(detection) => detection.findings.clone(),
            Err(DetectError::ForcedModeUnavailable { findings, .. }) => findings.clone(),
            Err(DetectError::Endpoint(_)) => Vec::new(),
        };
        let made: Vec<&'static str> = findings.iter().map(|f| f.check).collect();
        findings.extend(more.into_iter().filter(|f| !made.contains(&f.check)));
        Examination {
            requested,
            detection,
            init,
            findings,
            access: None,
        }
    }

    /// The mode detection chose, if any.
    pub fn detected_mode(&self) -> Option<Mode> {
        self.detection.as_ref().ok().and_then(|d| d.mode)
    }

    /// The mode the run would use: the detected one, unless the
    /// [`engine_gate`] keeps auto mode from starting its engine here.
    pub fn mode(&self) -> Option<Mode> {
        match &self.init {
            Some(role) if !role.is_init => None,
            _ => self.detected_mode(),
        }
    }
}

/// Detection, then the read-only checks for what would follow: dockerd's
/// pre-flight (storage driver, MTU) where berth would start one, and the
/// rootless prerequisites for a non-root user when nothing else works.
/// Nothing is mounted, moved, chowned or written.
pub async fn examine(
    settings: &DockerSettings,
    host: &HostFacts,
    user: Option<&Credentials>,
    helpers: &OneShotRunner,
) -> Examination {
    let request = settings.request;
    let detection = detect_here(
        request,
        host,
        user,
        settings.remote_timeout,
        helpers.clone().into(),
    )
    .await;
    let mut more = Vec::new();
    if request == Request::Off {
        return Examination::new(request, detection, None, more);
    }
    let mode = detection.as_ref().ok().and_then(|d| d.mode);
    let init = engine_gate(request, mode, host);
    if let (Some(role), Some(mode)) = (&init, mode) {
        more.push(gate_finding(role, mode));
    }
    let mut access = None;
    if let Ok(detection) = &detection {
        let (plan, findings) = access::examine(detection, user, host);
        access = plan;
        more.extend(findings);
        more.extend(tls_files_access(detection, user));
    }
    // berth's own dockerd, once running, shows up as socket mode: check it too.
    let own_dockerd = crate::init::procs::find_by_comm(&host.proc_root, "dockerd").is_some();
    if let Some(dockerd) = host.which("dockerd") {
        if own_dockerd || matches!(mode, Some(Mode::Dind | Mode::Sysbox) | None) {
            let helpers = helpers.clone().into();
            more.extend(engine::preflight_checks(&settings.engine, host, &dockerd, &helpers).await);
        }
    }
    let rootless_user = user.filter(|u| u.uid != 0).and_then(rootless_user);
    if let (Some(Mode::Rootless) | None, Some(user)) = (mode, rootless_user) {
        let paths = RootlessPaths::for_host(host);
        more.extend(crate::docker::engine::rootless::inspect(
            &paths,
            &user,
            host.euid,
            &NixSyscall,
        ));
    }
    let mut examination = Examination::new(request, detection, init, more);
    examination.access = access;
    examination
}

/// The TLS files of the engine detection chose (DOCKER_CERT_PATH's ca.pem,
/// cert.pem, key.pem) that the command's `user` cannot read: berth pings as
/// root and reads them all, while the user's `docker` then fails with
/// "permission denied". Judged with the user's own uid, gid and groups.
/// Empty when the user is root or the engine needs no files.
pub fn tls_files_access(detection: &Detection, user: Option<&Credentials>) -> Vec<Finding> {
    let (
        Some(Endpoint::Tcp {
            tls: Some(files), ..
        }),
        Some(user),
    ) = (&detection.endpoint, user)
    else {
        return Vec::new();
    };
    let ids = Ids {
        uid: user.uid,
        gid: user.gid,
        groups: &user.groups,
    };
    let who = match &user.name {
        Some(name) => format!("{name} (uid {}, gid {})", user.uid, user.gid),
        None => format!("uid {} (gid {})", user.uid, user.gid),
    };
    let name = user.name.clone().unwrap_or_else(|| user.uid.to_string());
    [&files.ca, &files.cert, &files.key]
        .into_iter()
        .filter_map(|file| {
            let denied = check_read(file, ids).err()?;
            let found = format!(
                "{} is mode {:04o}, owned by uid {} gid {}",
                denied.path.display(),
                denied.mode,
                denied.uid,
                denied.gid
            );
            let seen = match denied.needs {
                Need::Read => format!("{found}: the command's user {who} cannot read it, so its docker client fails with \"permission denied\" (berth, as root, can)"),
                Need::Search => format!("{found}: the command's user {who} cannot enter it to read {}, so its docker client fails with \"permission denied\" (berth, as root, can)", file.display()),
            };
            let fix = format!(
                "let {name} read it (chown {name} {}, a key staying 0600), give the command a DOCKER_CERT_PATH with copies it owns, or run the command as uid {}",
                denied.path.display(),
                denied.uid
            );
            Some(
                Finding::new("tls-files", Verdict::Warning, seen)
                    .with_fix(fix)
                    .about(Mode::Remote),
            )
        })
        .collect()
}

/// The user rootless dockerd would run as (it needs a name: subuid entries
/// are by name).
fn rootless_user(user: &Credentials) -> Option<RootlessUser> {
    Some(RootlessUser {
        name: user.name.clone()?,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        home: user.home.clone(),
    })
}

/// Detects and prepares. A forced mode that cannot work is an error; in
/// auto mode a failure is a warning unless the policy says fail.
pub async fn prepare(
    settings: &DockerSettings,
    host: &HostFacts,
    user: Option<&Credentials>,
    helpers: &SupervisedRunner,
) -> Result<DockerSetup, AccessError> {
    if settings.request == Request::Off {
        tracing::debug!("Docker is off");
        return Ok(DockerSetup::default());
    }
    let forced = settings.request.forced().is_some();
    let must_work = forced || settings.on_failure == FailurePolicy::Fail;
    let detection = match detect_here(
        settings.request,
        host,
        user,
        settings.remote_timeout,
        helpers.clone().into(),
    )
    .await
    {
        Ok(detection) => detection,
        Err(DetectError::Endpoint(err)) => return Err(AccessError::Config(err)),
        Err(err) => return Err(AccessError::Unavailable(err.to_string())),
    };
    for warning in detection.warnings() {
        warning.log();
    }
    let Some(mode) = detection.mode else {
        // The fixes that apply, first thing; what every probe saw is
        // `berth doctor`'s (and this log's debug level).
        for finding in &detection.findings {
            tracing::debug!("{finding}");
        }
        let fixes: Vec<String> = crate::doctor::problems_for(None, &detection.findings)
            .iter()
            .filter(|f| f.verdict == Verdict::Missing)
            .map(|f| match &f.fix {
                Some(fix) => format!("{}\n    fix: {fix}", f.seen),
                None => f.seen.clone(),
            })
            .collect();
        let message = if fixes.is_empty() {
            "no way to reach Docker was found here (the warning above says why; `berth doctor` shows everything berth saw)".to_owned()
        } else {
            format!(
                "no way to reach Docker was found here:\n  {}\n(`berth doctor` shows everything berth saw)",
                fixes.join("\n  ")
            )
        };
        if must_work {
            return Err(AccessError::Unavailable(message));
        }
        tracing::warn!("{message}\nRunning the command without Docker (BERTH_ON_DOCKER_FAILURE=fail stops instead).");
        return Ok(DockerSetup::default());
    };
    tracing::info!(%mode, "{detection}");
    if let Some(role) = engine_gate(settings.request, Some(mode), host) {
        let finding = gate_finding(&role, mode);
        if !role.is_init {
            let message = format!(
                "{}; {}",
                finding.seen,
                finding.fix.as_deref().unwrap_or_default()
            );
            if must_work {
                return Err(AccessError::Unavailable(message));
            }
            tracing::warn!("{message}");
            return Ok(DockerSetup::default());
        }
        tracing::info!("{}", finding.seen);
    }
    for warning in tls_files_access(&detection, user) {
        warning.log();
    }
    let result = match mode {
        Mode::Remote => Ok(DockerSetup {
            mode: Some(mode),
            endpoint: detection.endpoint.clone(),
            ..DockerSetup::default()
        }),
        Mode::Socket => {
            let granted =
                access::socket_access(&detection, user, host, &access::AccessPaths::default());
            Ok(DockerSetup {
                mode: Some(mode),
                // The engine's own socket: the health endpoint and host paths
                // ask it directly (berth is root), so its failure is the one
                // they report.
                endpoint: detection.endpoint.clone(),
                extra_groups: granted.extra_groups,
                proxy: granted.proxy,
                ..DockerSetup::default()
            })
        }
        Mode::Dind | Mode::Sysbox => {
            let flavor = if mode == Mode::Sysbox {
                Flavor::Sysbox
            } else {
                Flavor::Privileged
            };
            engine::start_dind(
                &settings.engine,
                flavor,
                user,
                settings.grace,
                host,
                helpers,
            )
            .await
            .map(|started| started_setup(mode, started))
        }
        Mode::Rootless => match user {
            Some(user) => engine::start_rootless(&settings.engine, user, host, helpers.reaper())
                .await
                .map(|started| started_setup(mode, started)),
            None => Err(EngineError::Rootless(
                "no target user: run as the rootless user or pass --user NAME".into(),
            )),
        },
    };
    match result {
        Ok(access) => Ok(access),
        // BERTH_APPARMOR=require: the user refused the unconfined fallback.
        Err(err @ EngineError::AppArmorRequired(_)) => {
            Err(AccessError::Unavailable(err.to_string()))
        }
        Err(err) if must_work => Err(AccessError::Unavailable(err.to_string())),
        Err(err) => {
            tracing::warn!("Docker ({mode}) could not be started: {err}\nRunning the command without Docker (BERTH_ON_DOCKER_FAILURE=fail stops instead).");
            Ok(DockerSetup::default())
        }
    }
}

fn started_setup(mode: Mode, started: engine::Started) -> DockerSetup {
    DockerSetup {
        mode: Some(mode),
        endpoint: Some(started.endpoint),
        export_endpoint: true,
        extra_groups: Vec::new(),
        proxy: None,
        engine: Some(started.engine),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::client::endpoint::TlsFiles;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn remote_with(files: TlsFiles) -> Detection {
        Detection {
            requested: Request::Auto,
            mode: Some(Mode::Remote),
            endpoint: Some(Endpoint::Tcp {
                host: "docker".into(),
                port: 2376,
                tls: Some(files),
            }),
            engine: None,
            socket: None,
            findings: Vec::new(),
        }
    }

    fn nobody() -> Credentials {
        Credentials {
            uid: 65534,
            gid: 65534,
            groups: vec![],
            name: Some("nobody".into()),
            home: PathBuf::from("/nonexistent"),
        }
    }

    /// A client key only its owner may read, and the command runs as
    /// another user (issue 13): a warning naming the file, its owner and
    /// mode, and the user who cannot read it; the files it can read, none.
    #[test]
    fn a_client_key_the_commands_user_cannot_read_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let files = TlsFiles::in_dir(dir.path());
        for (file, mode) in [
            (&files.ca, 0o644),
            (&files.cert, 0o644),
            (&files.key, 0o600),
        ] {
            std::fs::write(file, "pem").expect("write");
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let owner = nix::unistd::getuid().as_raw();
        if owner == 65534 {
            eprintln!("skipped: the test runs as nobody itself");
            return;
        }
        let detection = remote_with(files.clone());
        let findings = tls_files_access(&detection, Some(&nobody()));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let finding = &findings[0];
        assert_eq!(
            (finding.check, finding.verdict),
            ("tls-files", Verdict::Warning)
        );
        let seen = &finding.seen;
        for part in [
            format!("{} is mode 0600, owned by uid {owner}", files.key.display()),
            "nobody (uid 65534, gid 65534) cannot read it".to_string(),
            "permission denied".to_string(),
        ] {
            assert!(seen.contains(&part), "{part:?} in {seen}");
        }
        let fix = finding.fix.as_deref().expect("fix");
        assert!(
            fix.contains(&format!("chown nobody {}", files.key.display())),
            "{fix}"
        );
        // The key's owner, and root, read it: nothing to say.
        let owner_creds = Credentials {
            uid: owner,
            gid: nix::unistd::getgid().as_raw(),
            ..nobody()
        };
        assert!(tls_files_access(&detection, Some(&owner_creds)).is_empty());
        assert!(tls_files_access(&detection, None).is_empty());
    }
}
