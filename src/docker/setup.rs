//! From "what did the user ask" to "the command can use Docker".
//!
//! One ordered function: detect (with findings), then act on the mode:
//! - socket: make the target user a member of the socket's group (never a
//!   chmod); the command gets the gid in its groups either way;
//! - remote: nothing to prepare, DOCKER_HOST already says where;
//! - dind, sysbox, rootless: start berth's own dockerd and wait for it;
//! - none found: one warning and the command runs anyway, or, under
//!   `--on-docker-failure=fail`, an error.

use std::ffi::OsString;
use std::rc::Rc;
use std::time::Duration;

use crate::docker::access;
use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::BollardPinger;
use crate::docker::detect::{self, DetectError, DetectOptions, Detection, HostPaths};
use crate::docker::engine::dockerd_args::Flavor;
use crate::docker::engine::rootless::{RootlessPaths, RootlessUser};
use crate::docker::engine::{self, DindSettings, Engine, EngineError};
use crate::docker::finding::Finding;
use crate::docker::mode::{FailurePolicy, Mode, Request};
use crate::host::syscall::NixSyscall;
use crate::host::HostFacts;
use crate::init::runner::{Helpers, OneShotRunner, SupervisedRunner};
use crate::init::spawn::Credentials;

/// The slice of the configuration the Docker set-up needs.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    pub request: Request,
    pub on_failure: FailurePolicy,
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
    /// Groups the command must have on top of the user's own (the socket's).
    pub extra_groups: Vec<u32>,
    /// berth's own engine, when it started one.
    pub engine: Option<Rc<Engine>>,
}

impl DockerSetup {
    /// Variables the command needs to reach the engine (DOCKER_HOST and,
    /// for TLS, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), rendered by
    /// [`Endpoint::command_env`].
    pub fn command_env(&self) -> Vec<(OsString, OsString)> {
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

/// Docker could not be provided and the policy says that is fatal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

/// Runs detection for `request` with the real probes, as `user`; helper
/// processes (the docker CLI for ssh) go through `helpers`.
pub async fn detect_here(
    request: Request,
    host: &HostFacts,
    user: Option<&Credentials>,
    helpers: Helpers,
) -> Result<Detection, DetectError> {
    // Rootless is considered for a non-root berth (or a non-root target).
    let rootless_user = user
        .filter(|u| u.uid != 0)
        .and_then(rootless_user)
        .filter(|_| !host.is_root() || request == Request::Force(Mode::Rootless));
    let options = DetectOptions {
        rootless_user,
        ..DetectOptions::default()
    };
    let pinger = BollardPinger::new(host.which("docker"), helpers);
    detect::detect(host, &HostPaths::for_host(host), request, &options, &pinger).await
}

/// Everything berth checks about Docker here without changing anything:
/// what `berth doctor` shows. The run takes the same request and makes the
/// same detection.
#[derive(Debug)]
pub struct Examination {
    pub requested: Request,
    /// Err: a forced mode that cannot work (its findings say why).
    pub detection: Result<Detection, DetectError>,
    /// Detection's findings, then the checks it did not make already (the
    /// user's access to the socket, dockerd's pre-flight, the rootless
    /// prerequisites), each check once.
    pub findings: Vec<Finding>,
}

impl Examination {
    /// Joins detection's findings with `more`, leaving out any check
    /// detection already made.
    pub fn new(
        requested: Request,
        detection: Result<Detection, DetectError>,
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
            findings,
        }
    }

    /// The mode detection chose, if any.
    pub fn mode(&self) -> Option<Mode> {
        self.detection.as_ref().ok().and_then(|d| d.mode)
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
    let detection = detect_here(request, host, user, helpers.clone().into()).await;
    let mut more = Vec::new();
    if request == Request::Off {
        return Examination::new(request, detection, more);
    }
    let mode = detection.as_ref().ok().and_then(|d| d.mode);
    if let Ok(detection) = &detection {
        more.extend(access::user_access(detection, user));
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
    Examination::new(request, detection, more)
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
    let detection = match detect_here(settings.request, host, user, helpers.clone().into()).await {
        Ok(detection) => detection,
        Err(err) => return Err(AccessError(err.to_string())),
    };
    for warning in detection.warnings() {
        warning.log();
    }
    let Some(mode) = detection.mode else {
        let reasons: Vec<String> = detection.findings.iter().map(|e| e.to_string()).collect();
        let message = format!(
            "no way to reach Docker was found here (run `berth doctor` for the fixes):\n  {}",
            reasons.join("\n  ")
        );
        if must_work {
            return Err(AccessError(message));
        }
        tracing::warn!("{message}\nRunning the command without Docker (BERTH_ON_DOCKER_FAILURE=fail stops instead).");
        return Ok(DockerSetup::default());
    };
    tracing::info!(%mode, "{detection}");
    if mode.starts_an_engine() && !forced && !host.is_pid1() {
        // Auto mode starts dockerd only as a container's init: berth run by
        // hand on a privileged host must not start a second engine there.
        let message = format!(
            "berth is not PID 1, so in auto mode it does not start dockerd ({mode} was detected); set BERTH_DOCKER={mode} to start it anyway"
        );
        if must_work {
            return Err(AccessError(message));
        }
        tracing::warn!("{message}");
        return Ok(DockerSetup::default());
    }
    let result = match mode {
        Mode::Remote => Ok(DockerSetup {
            mode: Some(mode),
            endpoint: detection.endpoint.clone(),
            ..DockerSetup::default()
        }),
        Mode::Socket => Ok(DockerSetup {
            mode: Some(mode),
            endpoint: detection.endpoint.clone(),
            extra_groups: access::socket_access(&detection, user, host),
            ..DockerSetup::default()
        }),
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
        Err(err @ EngineError::AppArmorRequired(_)) => Err(AccessError(err.to_string())),
        Err(err) if must_work => Err(AccessError(err.to_string())),
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
        engine: Some(started.engine),
    }
}
