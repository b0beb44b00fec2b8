//! From "what did the user ask" to "the command can use Docker".
//!
//! One ordered function: detect (with evidence), then act on the mode:
//! - socket: make the target user a member of the socket's group (never a
//!   chmod); the command gets the gid in its groups either way;
//! - remote: nothing to prepare, DOCKER_HOST already says where;
//! - dind, sysbox, rootless: start berth's own dockerd and wait for it;
//! - none found: one warning and the command runs anyway, or, under
//!   `--on-docker-failure=fail`, an error.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::rc::Rc;

use crate::config::Config;
use crate::docker::access;
use crate::docker::client::ping::BollardPinger;
use crate::docker::detect::{self, DetectError, DetectOptions, Detection, HostPaths};
use crate::docker::engine::dockerd_args::Flavor;
use crate::docker::engine::rootless::RootlessUser;
use crate::docker::engine::{self, Engine, EngineError};
use crate::docker::mode::{DockerChoice, FailurePolicy, Mode};
use crate::init::reaper::Reaper;
use crate::init::spawn::Credentials;

/// What the command gets from the Docker set-up.
#[derive(Default)]
pub struct DockerAccess {
    pub mode: Option<Mode>,
    /// Variables for the command (DOCKER_HOST of berth's own dockerd).
    pub child_env: Vec<(OsString, OsString)>,
    /// Groups the command must have on top of the user's own (the socket's).
    pub extra_groups: Vec<u32>,
    /// berth's own engine, when it started one.
    pub engine: Option<Rc<Engine>>,
}

/// Docker could not be provided and the policy says that is fatal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

/// The environment detection sees: the process environment, with the mode
/// request replaced by what the configuration resolved (flags included).
pub fn detection_env(config: &Config) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    let request = match config.docker {
        DockerChoice::Auto => "auto".to_string(),
        DockerChoice::Off => "off".to_string(),
        DockerChoice::Forced(mode) => mode.to_string(),
    };
    env.insert(detect::MODE_VAR.to_string(), request);
    env
}

/// Runs detection with the real probes.
pub async fn detect_here(
    config: &Config,
    user: Option<&Credentials>,
) -> Result<Detection, DetectError> {
    let euid = nix::unistd::geteuid().as_raw();
    // Rootless is considered for a non-root berth (or a non-root target).
    let rootless_user = user
        .filter(|u| u.uid != 0)
        .and_then(|u| {
            Some(RootlessUser {
                name: u.name.clone()?,
                uid: u.uid,
                gid: u.gid,
                groups: u.groups.clone(),
                home: u.home.clone(),
            })
        })
        .filter(|_| euid != 0 || config.docker == DockerChoice::Forced(Mode::Rootless));
    let options = DetectOptions {
        euid,
        rootless_user,
        ..DetectOptions::default()
    };
    let pinger = BollardPinger::new(which::which("docker").ok());
    detect::detect(
        &HostPaths::default(),
        &detection_env(config),
        &options,
        &pinger,
    )
    .await
}

/// Detects and prepares. A forced mode that cannot work is an error; in
/// auto mode a failure is a warning unless the policy says fail.
pub async fn prepare(
    config: &Config,
    user: Option<&Credentials>,
    reaper: Rc<Reaper>,
) -> Result<DockerAccess, AccessError> {
    if config.docker == DockerChoice::Off {
        tracing::debug!("Docker is off");
        return Ok(DockerAccess::default());
    }
    let forced = matches!(config.docker, DockerChoice::Forced(_));
    let must_work = forced || config.on_docker_failure == FailurePolicy::Fail;
    let detection = match detect_here(config, user).await {
        Ok(detection) => detection,
        Err(err) => return Err(AccessError(err.to_string())),
    };
    for warning in detection.warnings() {
        tracing::warn!("{}", warning.saw);
    }
    let Some(mode) = detection.mode else {
        let reasons: Vec<String> = detection.evidence.iter().map(|e| e.to_string()).collect();
        let message = format!(
            "no way to reach Docker was found here (run `berth doctor` for the fixes):\n  {}",
            reasons.join("\n  ")
        );
        if must_work {
            return Err(AccessError(message));
        }
        tracing::warn!("{message}\nRunning the command without Docker (BERTH_ON_DOCKER_FAILURE=fail stops instead).");
        return Ok(DockerAccess::default());
    };
    tracing::info!(%mode, "{detection}");
    if starts_an_engine(mode) && !forced && std::process::id() != 1 {
        // Auto mode starts dockerd only as a container's init: berth run by
        // hand on a privileged host must not start a second engine there.
        let message = format!(
            "berth is not PID 1, so in auto mode it does not start dockerd ({mode} was detected); set BERTH_DOCKER={mode} to start it anyway"
        );
        if must_work {
            return Err(AccessError(message));
        }
        tracing::warn!("{message}");
        return Ok(DockerAccess::default());
    }
    let result = match mode {
        Mode::Off | Mode::Remote => Ok(DockerAccess {
            mode: Some(mode),
            ..DockerAccess::default()
        }),
        Mode::Socket => Ok(access::socket_access(&detection, user)),
        Mode::Dind | Mode::Sysbox => {
            let flavor = if mode == Mode::Sysbox {
                Flavor::Sysbox
            } else {
                Flavor::Privileged
            };
            engine::start_dind(&config.dind, flavor, user, config.grace, reaper)
                .await
                .map(|started| started_access(mode, started))
        }
        Mode::Rootless => match user {
            Some(user) => engine::start_rootless(&config.dind, user, reaper)
                .await
                .map(|started| started_access(mode, started)),
            None => Err(EngineError::Rootless(
                "no target user: run as the rootless user or pass --user NAME".into(),
            )),
        },
    };
    match result {
        Ok(access) => Ok(access),
        Err(err) if must_work => Err(AccessError(err.to_string())),
        Err(err) => {
            tracing::warn!("Docker ({mode}) could not be started: {err}\nRunning the command without Docker (BERTH_ON_DOCKER_FAILURE=fail stops instead).");
            Ok(DockerAccess::default())
        }
    }
}

/// Modes in which berth starts an engine of its own.
pub fn starts_an_engine(mode: Mode) -> bool {
    matches!(mode, Mode::Dind | Mode::Sysbox | Mode::Rootless)
}

fn started_access(mode: Mode, started: engine::Started) -> DockerAccess {
    DockerAccess {
        mode: Some(mode),
        child_env: started.child_env,
        extra_groups: Vec::new(),
        engine: Some(started.engine),
    }
}
