//! `berth [OPTIONS] [--] COMMAND`: the steps of one run, in order.

use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::config::{Config, DoctorArgs, HealthArgs, HostPathArgs, UserRequest, UserSource};
use crate::docker::client::endpoint;
use crate::docker::client::ping::BollardPinger;
use crate::docker::engine;
use crate::docker::engine::dockerd_args;
use crate::docker::host_path;
use crate::docker::setup::{self, DockerSettings};
use crate::exit::Failure;
use crate::host::users;
use crate::host::HostFacts;
use crate::init::reaper::Reaper;
use crate::init::runner::{OneShotRunner, SupervisedRunner};
use crate::init::signals::{self, Inherited, KernelSigSet, SignalFd};
use crate::init::spawn::{self, ChildSpec, Credentials};
use crate::init::supervisor::{self, Supervision};
use crate::{doctor, health, output};

pub use crate::docker::engine::{rootless_child, ROOTLESS_CHILD};

/// Why a run ended before or instead of the command's own exit.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot block signals: {0}")]
    SignalMask(#[source] io::Error),
    #[error("cannot open a signalfd: {0}")]
    SignalFd(#[source] io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error(transparent)]
    User(#[from] users::UsersError),
    #[error(
        "{request} cannot be honoured: switching users needs berth to run as root (it runs as \
         uid {uid}); start the container as root (berth drops to the user itself), or {}",
        drop_hint(.request)
    )]
    NotRoot { request: UserRequest, uid: u32 },
    #[error("cannot run {program:?}: {source}; {}", spawn_hint(.source))]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("the signal reader failed; every process was killed")]
    LostSignals,
    #[error("Docker is required here but cannot be set up: {0}")]
    Docker(String),
    #[error("the Docker configuration is invalid (nothing was changed): {0}")]
    DockerConfig(#[source] crate::docker::client::endpoint::EndpointError),
}

fn drop_hint(request: &UserRequest) -> &'static str {
    match request.source {
        UserSource::Flag => "drop --user",
        UserSource::Env => "unset BERTH_USER",
    }
}

fn spawn_hint(err: &io::Error) -> &'static str {
    match err.kind() {
        io::ErrorKind::NotFound => {
            "install it in the image, or give its full path (the search uses PATH)"
        }
        io::ErrorKind::PermissionDenied => {
            "make it executable (chmod +x) and check the user may read it"
        }
        _ => "check the file is a program for this machine or a script with a #! line",
    }
}

impl AppError {
    /// The documented exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::SignalMask(_) | AppError::SignalFd(_) | AppError::Runtime(_) => {
                Failure::Os.code()
            }
            AppError::LostSignals => Failure::Os.code(),
            AppError::User(_) => Failure::NoUser.code(),
            AppError::NotRoot { .. } => Failure::NoPerm.code(),
            AppError::Spawn { source, .. } => spawn::spawn_failure_code(source),
            AppError::Docker(_) => Failure::DockerUnavailable.code(),
            AppError::DockerConfig(_) => Failure::Usage.code(),
        }
    }
}

/// Where berth reads the account databases; tests point these elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) passwd: PathBuf,
    pub(crate) group: PathBuf,
}

impl Default for Paths {
    fn default() -> Paths {
        Paths {
            passwd: "/etc/passwd".into(),
            group: "/etc/group".into(),
        }
    }
}

/// Runs the command under berth and returns berth's exit code.
pub fn run(mut config: Config, host: HostFacts) -> Result<u8, AppError> {
    // What the caller left blocked and ignored is the command's (main.rs read
    // it before Rust's start-up code); berth's own dispositions go back to
    // their defaults (an ignored SIGCHLD would have the kernel reap berth's
    // children without telling it).
    let inherited = signals::inherited();
    signals::reset_to_default(inherited.ignored);
    // Before any thread exists, so every thread inherits the mask and no
    // signal can be delivered to a thread that does not read the signalfd.
    let catchable = KernelSigSet::all_catchable();
    signals::set_mask(catchable).map_err(AppError::SignalMask)?;
    become_reaper(config.subreaper, &host);
    if let Some(sig) = config.pdeathsig {
        set_parent_death_signal(sig);
    }
    match std::env::current_dir() {
        Ok(start) => anchor_paths(&mut config, &start),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the start directory: relative paths stay relative")
        }
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(
        &runtime,
        supervise_command(config, host, catchable, inherited, Paths::default()),
    )
}

/// The Docker set-up's slice of the configuration.
pub(crate) fn docker_settings(config: &Config) -> DockerSettings {
    DockerSettings {
        request: config.docker,
        on_failure: config.on_docker_failure,
        remote_timeout: config.remote_timeout,
        engine: config.dind.clone(),
        grace: config.grace,
    }
}

/// Makes the paths berth keeps using after the command starts absolute, from
/// the start directory `base`: berth leaves that directory then (see
/// `leave_start_directory`), and a restarted dockerd or its log file must not
/// move with it. `DOCKER_TLS_CERTDIR`, `BERTH_DOCKERD_DATA_ROOT`,
/// `BERTH_DOCKERD_LOG`, and the paths among `BERTH_DOCKERD_ARGS` (see
/// [`dockerd_args::anchor_relative_paths`]); the docker client's own
/// variables are anchored for every start by [`anchor_client_paths`].
fn anchor_paths(config: &mut Config, base: &Path) {
    let dind = &mut config.dind;
    for path in [
        &mut dind.tls_certdir,
        &mut dind.data_root,
        &mut dind.log_file,
    ]
    .into_iter()
    .flatten()
    {
        if path.is_relative() {
            *path = base.join(&*path);
        }
    }
    let changed = dockerd_args::anchor_relative_paths(&mut dind.extra_args, base);
    if !changed.is_empty() {
        tracing::info!(args = ?changed, "relative paths in BERTH_DOCKERD_ARGS are taken from the start directory");
    }
}

/// Makes the docker client's relative paths (DOCKER_CERT_PATH,
/// DOCKER_CONFIG, a `unix://` DOCKER_HOST) in berth's view of its
/// environment absolute from the directory berth was started in, as the
/// docker CLI would resolve them there: the run leaves that directory once
/// its command runs, and its later pings (the health server) must reach the
/// same engine. Called once, right after the host facts are read; the
/// command still gets the variables as they were (it keeps the start
/// directory).
pub fn anchor_client_paths(host: &mut HostFacts) {
    if let Ok(start) = std::env::current_dir() {
        endpoint::anchor_client_paths(&mut host.env, &start);
    }
}

/// berth holds no reference to the directory it was started in once the
/// command runs (the command keeps it as its own cwd): an unmount of it must
/// not fail with EBUSY because of berth. dumb-init does the same, chdir("/")
/// right after fork (dumb-init.c, `main`).
fn leave_start_directory() {
    if let Err(err) = nix::unistd::chdir("/") {
        tracing::warn!(error = %err, "cannot change berth's own directory to /");
    }
}

async fn supervise_command(
    config: Config,
    host: HostFacts,
    catchable: KernelSigSet,
    inherited: Inherited,
    paths: Paths,
) -> Result<u8, AppError> {
    let signals = SignalFd::open(catchable).map_err(AppError::SignalFd)?;
    let reaper = Rc::new(Reaper::new());
    let (mut events, _pump) = supervisor::start_pump(signals, reaper.clone());

    let settings = Supervision {
        grace: config.grace,
        signal_group: config.signal_group,
        proc_root: host.proc_root.clone(),
        me: host.pid as i32,
    };
    let identity = identity(&config, &host, &paths)?;
    let docker_settings = docker_settings(&config);
    // From here on every helper process goes through the reaper.
    let helpers = SupervisedRunner::new(reaper.clone());
    let prepare = setup::prepare(&docker_settings, &host, identity.as_ref(), &helpers);
    let docker = match supervisor::unless_stopped(&mut events, &settings, prepare).await {
        Ok(prepared) => prepared.map_err(|err| match err {
            setup::AccessError::Unavailable(message) => AppError::Docker(message),
            setup::AccessError::Config(err) => AppError::DockerConfig(err),
        })?,
        // Stopped before the command ran: end as a command killed by it would.
        Err(signal) => return Ok(crate::exit::SIGNAL_BASE.wrapping_add(signal as u8)),
    };
    // Its ssh:// pings go through the docker CLI as the user, as detection's did.
    let health_helpers = helpers.as_user(setup::helper_user(&host, identity.as_ref()));
    let health = crate::health_server::start(
        config.health_addr,
        docker.endpoint.clone(),
        &host,
        health_helpers,
    )
    .await;
    // Switching identity (setgroups, setgid, setuid) needs root.
    let mut credentials = identity.filter(|_| host.is_root());
    if let Some(creds) = credentials.as_mut() {
        for gid in &docker.extra_groups {
            if !creds.groups.contains(gid) {
                creds.groups.push(*gid);
            }
        }
    }
    let mut child = child_spec(&config, credentials, &host, &paths)?;
    child.signals = inherited;
    child.env.extend(docker.command_env());
    crate::docker::host_path::export_to_command(
        &config.export_host_paths,
        config.on_docker_failure,
        &docker,
        &host,
        &mut child.env,
    )
    .await
    .map_err(|err| AppError::Docker(err.to_string()))?;
    let main = reaper
        .spawn(&mut child.command())
        .map_err(|source| AppError::Spawn {
            program: child.program.to_string_lossy().into_owned(),
            source,
        })?;
    tracing::info!(pid = main.pid, program = ?child.program, "command started");
    leave_start_directory();
    health.command_started();
    // Later, not now: reading /proc/self/smaps costs more than a short
    // command's whole run, and only a long-running supervision gains.
    tokio::task::spawn_local(async {
        tokio::time::sleep(crate::init::memory::TRIM_AFTER).await;
        crate::init::memory::release_startup_text();
    });

    let stop_dockerd = || {
        if let Some(engine) = &docker.engine {
            engine::Engine::stop(engine);
        }
    };
    let services = match docker.engine {
        Some(_) => supervisor::Services {
            spare: &engine::managed_by_dockerd,
            stop: &stop_dockerd,
        },
        None => supervisor::Services::NONE,
    };
    let ended = supervisor::supervise(&mut events, main, &settings, &services).await;
    health.command_exited();
    match ended.command {
        Some(exit) => Ok(config.remap(exit.shell_code())),
        None => Err(AppError::LostSignals),
    }
}

/// The command to run: the one given, or the target user's login shell.
fn child_spec(
    config: &Config,
    credentials: Option<Credentials>,
    host: &HostFacts,
    paths: &Paths,
) -> Result<ChildSpec, AppError> {
    let mut spec = match config.command.split_first() {
        Some((program, args)) => {
            let mut spec = ChildSpec::new(program.clone());
            spec.args = args.to_vec();
            spec
        }
        None => {
            let uid = credentials.as_ref().map_or(host.uid, |c| c.uid);
            let shell = users::Passwd::load(&paths.passwd)
                .ok()
                .and_then(|passwd| passwd.by_uid(uid).map(|entry| entry.shell.clone()))
                .map_or_else(
                    || PathBuf::from(users::DEFAULT_SHELL),
                    |shell| users::login_shell(&shell, Path::new("/")),
                );
            let mut spec = ChildSpec::new(shell.clone());
            spec.arg0 = Some(login_arg0(&shell));
            spec
        }
    };
    spec.credentials = credentials;
    spec.take_terminal = io::stdin().is_terminal();
    Ok(spec)
}

/// A login shell is started with argv[0] = "-" + its base name.
fn login_arg0(shell: &Path) -> OsString {
    let mut arg0 = OsString::from("-");
    arg0.push(shell.file_name().unwrap_or(shell.as_os_str()));
    arg0
}

/// Who the command runs as: the --user target, or, for a non-root berth,
/// berth's own user (rootless Docker needs to know it). None: root, as is.
/// Warns once when a BERTH_USER cannot be applied (see [`resolve_identity`]).
pub(crate) fn identity(
    config: &Config,
    host: &HostFacts,
    paths: &Paths,
) -> Result<Option<Credentials>, AppError> {
    let (mut credentials, unapplied) = resolve_identity(config.user.as_ref(), host.euid, paths)?;
    if host.euid != 0 {
        if let Some(creds) = credentials.as_mut().filter(|c| c.uid == host.euid) {
            // No switch happens: the command keeps berth's own gid and groups
            // (`docker run --group-add`, runAsGroup, supplementalGroups),
            // which /etc/group need not list. Socket access is judged on them.
            creds.gid = nix::unistd::getegid().as_raw();
            if let Ok(groups) = nix::unistd::getgroups() {
                creds.groups = groups.iter().map(|g| g.as_raw()).collect();
            }
        }
    }
    if let Some(request) = unapplied {
        tracing::warn!(
            "{request} was not applied because berth runs as uid {}, not root: the command runs as uid {}",
            host.euid,
            host.euid
        );
    }
    Ok(credentials)
}

/// The decision behind [`identity`], without logging: the credentials the
/// command runs with, and the request that was set aside, if any.
///
/// A non-root berth cannot switch users (setuid needs CAP_SETUID). When the
/// target came from BERTH_USER (an image's `ENV`, while the platform started
/// the container as a user: `docker run -u`, Kubernetes runAsUser, a
/// devcontainer's containerUser) the command runs as the current user and the
/// request is returned for a warning; when it is the current user already,
/// nothing is returned. An explicit `--user` that cannot be honoured is
/// [`AppError::NotRoot`]; one that names no account is [`AppError::User`].
pub(crate) fn resolve_identity(
    request: Option<&UserRequest>,
    euid: u32,
    paths: &Paths,
) -> Result<(Option<Credentials>, Option<UserRequest>), AppError> {
    let current = || resolve_user(&euid.to_string(), paths).ok();
    let Some(request) = request else {
        return Ok(((euid != 0).then(current).flatten(), None));
    };
    let target = match resolve_user(&request.spec, paths) {
        Ok(target) => target,
        // Not root and only the environment asked: nothing to switch to anyway.
        Err(_) if euid != 0 && request.source == UserSource::Env => {
            return Ok((current(), Some(request.clone())));
        }
        Err(err) => return Err(err.into()),
    };
    if euid == target.uid {
        // Already that user: nothing to switch (a nested berth, or USER in the image).
        return Ok((Some(target), None));
    }
    if euid == 0 {
        return Ok((Some(target), None));
    }
    match request.source {
        UserSource::Env => Ok((current(), Some(request.clone()))),
        UserSource::Flag => Err(AppError::NotRoot {
            request: request.clone(),
            uid: euid,
        }),
    }
}

/// The target user as the child will run: uid, gid and every group.
fn resolve_user(spec: &str, paths: &Paths) -> Result<Credentials, users::UsersError> {
    let passwd = users::Passwd::load(&paths.passwd)?;
    let groups = users::Groups::load(&paths.group)?;
    let target = users::resolve_target(spec, &passwd, &groups)?;
    Ok(Credentials {
        uid: target.uid,
        gid: target.gid,
        groups: target.supplementary_gids,
        name: target.name,
        home: PathBuf::from(target.home),
    })
}

fn become_reaper(asked: bool, host: &HostFacts) {
    if host.is_pid1() {
        return;
    }
    if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
        tracing::warn!(error = %err, "cannot become a child subreaper: orphans will be reaped by the real init, not berth");
    } else if asked {
        tracing::debug!("running as a child subreaper");
    } else {
        tracing::debug!("not PID 1: became a child subreaper");
    }
}

fn set_parent_death_signal(sig: i32) {
    // Not nix's set_pdeathsig: its Signal type has no real-time signals, and
    // --pdeathsig takes SIGRTMIN+N too.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number only.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        tracing::warn!(error = %err, signal = %signals::name(sig), "cannot set the parent-death signal");
    }
}

/// A runtime for the one-shot subcommands (no reaper, no signalfd).
fn one_shot_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `berth doctor`: the report on stdout; 0 when a way to Docker exists (or
/// Docker is off), 1 when none does.
pub fn doctor(mut config: Config, args: DoctorArgs, host: &HostFacts) -> u8 {
    if let Some(spec) = args.user {
        config.user = Some(UserRequest::flag(spec));
    }
    let user = match identity(&config, host, &Paths::default()) {
        Ok(user) => user,
        Err(err) => {
            output::stderr(&format!("berth doctor: {err}\n"));
            return err.exit_code();
        }
    };
    let runtime = match one_shot_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            output::stderr(&format!("berth doctor: {}\n", AppError::Runtime(err)));
            return Failure::Os.code();
        }
    };
    let settings = docker_settings(&config);
    // No reaper runs in `berth doctor`: helpers wait on their own children.
    let helpers = OneShotRunner::without_reaper();
    let examination = runtime.block_on(setup::examine(&settings, host, user.as_ref(), &helpers));
    let report = doctor::Report::new(examination, &config.docker_why, user.as_ref());
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(err) => {
                output::stderr(&format!("berth doctor: cannot encode the report: {err}\n"));
                return Failure::Internal.code();
            }
        }
    } else {
        doctor::render(&report)
    };
    match output::stdout(&text) {
        Ok(()) => report.exit_code(),
        Err(err) => {
            output::stderr(&format!("berth doctor: cannot write the report: {err}\n"));
            Failure::Output.code()
        }
    }
}

/// `berth health`: one line on stdout; 0 when the engine answers (or
/// Docker is off), 1 otherwise.
pub fn health(config: &Config, args: &HealthArgs, host: &HostFacts) -> u8 {
    let runtime = match one_shot_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            output::stderr(&format!("berth health: {}\n", AppError::Runtime(err)));
            return Failure::Os.code();
        }
    };
    // No reaper in this process: helpers wait on their own children. An
    // ssh:// engine is pinged as the target user (its ~/.ssh), as the run does.
    // Quietly: a health check runs often, and the run warned already.
    let user = resolve_identity(config.user.as_ref(), host.euid, &Paths::default())
        .ok()
        .and_then(|(user, _)| user);
    let helpers = OneShotRunner::without_reaper().as_user(setup::helper_user(host, user.as_ref()));
    let pinger = BollardPinger::for_host(host, helpers);
    let patience = match args.timeout {
        Some(budget) => health::Patience::Until(budget),
        None => health::Patience::Once(health::ONE_SHOT_TIMEOUT),
    };
    let verdict = runtime.block_on(health::check(
        config.docker,
        &config.docker_why,
        &host.env,
        host.euid,
        patience,
        &pinger,
    ));
    match output::stdout(&format!("{}\n", verdict.message)) {
        Ok(()) => u8::from(!verdict.healthy),
        Err(err) => {
            output::stderr(&format!("berth health: cannot write the verdict: {err}\n"));
            Failure::Output.code()
        }
    }
}

/// `berth host-path DIR`: the host path on stdout, or the reason on stderr
/// with exit 69 (no engine) or 78 (not on a mount, not on that engine).
pub fn host_path(args: &HostPathArgs, host: &HostFacts) -> u8 {
    let runtime = match one_shot_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            output::stderr(&format!("berth host-path: {}\n", AppError::Runtime(err)));
            return Failure::Os.code();
        }
    };
    match runtime.block_on(host_path::resolve_here(&args.dir, host, args.timeout)) {
        Ok(path) => match output::stdout(&format!("{}\n", path.display())) {
            Ok(()) => 0,
            Err(err) => {
                output::stderr(&format!("berth host-path: cannot write the path: {err}\n"));
                Failure::Output.code()
            }
        },
        Err(err) => {
            output::stderr(&format!("berth host-path: {err}\n"));
            err.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dind_paths_are_anchored_at_the_start_directory() {
        let env = |key: &str| match key {
            "DOCKER_TLS_CERTDIR" => Some("certs".to_string()),
            "BERTH_DOCKERD_DATA_ROOT" => Some("/data/docker".to_string()),
            "BERTH_DOCKERD_LOG" => Some("logs/dockerd.log".to_string()),
            "BERTH_DOCKERD_ARGS" => Some(
                "--config-file conf/daemon.json --tlscert=tls/cert.pem -p run/d.pid \
                 -H unix://run/extra.sock --seccomp-profile unconfined --init-path docker-init \
                 --userland-proxy-path bin/proxy --label x=y"
                    .to_string(),
            ),
            _ => None,
        };
        let args = <crate::config::InitArgs as clap::Parser>::parse_from(["berth"]);
        let mut config = Config::resolve(args, &env).expect("valid settings");
        let here = Path::new("/start/here");
        anchor_paths(&mut config, here);
        assert_eq!(config.dind.tls_certdir, Some(here.join("certs")));
        assert_eq!(config.dind.data_root, Some(PathBuf::from("/data/docker")));
        assert_eq!(config.dind.log_file, Some(here.join("logs/dockerd.log")));
        assert_eq!(
            config.dind.extra_args,
            [
                "--config-file",
                "/start/here/conf/daemon.json",
                "--tlscert=/start/here/tls/cert.pem",
                "-p",
                "/start/here/run/d.pid",
                "-H",
                "unix:///start/here/run/extra.sock",
                "--seccomp-profile",
                "unconfined",
                "--init-path",
                "docker-init",
                "--userland-proxy-path",
                "/start/here/bin/proxy",
                "--label",
                "x=y",
            ]
        );
    }

    fn accounts() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = Paths {
            passwd: dir.path().join("passwd"),
            group: dir.path().join("group"),
        };
        std::fs::write(
            &paths.passwd,
            "root:x:0:0:root:/root:/bin/sh\n\
             dev:x:1000:1000::/home/dev:/bin/bash\n\
             ci:x:1001:1001::/home/ci:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(&paths.group, "root:x:0:\ndev:x:1000:\nci:x:1001:\n").expect("group");
        (dir, paths)
    }

    fn env_user(spec: &str) -> UserRequest {
        UserRequest {
            spec: spec.into(),
            source: UserSource::Env,
        }
    }

    #[test]
    fn berth_user_from_the_environment_is_set_aside_when_not_root() {
        let (_dir, paths) = accounts();
        // `docker run --user 1001` on an image with ENV BERTH_USER=dev.
        let request = env_user("dev");
        let (creds, unapplied) = resolve_identity(Some(&request), 1001, &paths).unwrap();
        assert_eq!(
            creds.map(|c| (c.uid, c.name)),
            Some((1001, Some("ci".into())))
        );
        assert_eq!(unapplied, Some(request));
        // A uid with no passwd entry: still runs, as itself.
        let (creds, unapplied) = resolve_identity(Some(&env_user("dev")), 4242, &paths).unwrap();
        assert_eq!(creds.map(|c| c.uid), Some(4242));
        assert!(unapplied.is_some());
        // BERTH_USER naming no account, as non-root: nothing to switch to either.
        let (_, unapplied) =
            resolve_identity(Some(&env_user("nobody-here")), 1001, &paths).unwrap();
        assert!(unapplied.is_some());
    }

    #[test]
    fn berth_user_that_is_the_current_user_is_silent() {
        let (_dir, paths) = accounts();
        let (creds, unapplied) = resolve_identity(Some(&env_user("dev")), 1000, &paths).unwrap();
        assert_eq!(creds.map(|c| c.uid), Some(1000));
        assert_eq!(unapplied, None);
        let flag = UserRequest::flag("1000".into());
        let (creds, unapplied) = resolve_identity(Some(&flag), 1000, &paths).unwrap();
        assert_eq!(creds.map(|c| c.uid), Some(1000));
        assert_eq!(unapplied, None);
    }

    #[test]
    fn root_switches_to_the_target_from_either_source() {
        let (_dir, paths) = accounts();
        for request in [env_user("dev"), UserRequest::flag("dev".into())] {
            let (creds, unapplied) = resolve_identity(Some(&request), 0, &paths).unwrap();
            assert_eq!(creds.map(|c| c.uid), Some(1000));
            assert_eq!(unapplied, None);
        }
        assert!(matches!(
            resolve_identity(Some(&env_user("nobody-here")), 0, &paths),
            Err(AppError::User(_))
        ));
    }

    #[test]
    fn an_explicit_user_flag_that_cannot_be_honoured_fails_with_its_source_and_fix() {
        let (_dir, paths) = accounts();
        let err = resolve_identity(Some(&UserRequest::flag("dev".into())), 1001, &paths)
            .expect_err("non-root cannot switch");
        assert_eq!(err.exit_code(), Failure::NoPerm.code());
        let message = err.to_string();
        assert!(
            message.starts_with("--user \"dev\" cannot be honoured"),
            "{message}"
        );
        assert!(message.contains("uid 1001"), "{message}");
        assert!(message.contains("start the container as root"), "{message}");
        assert!(message.contains("drop --user"), "{message}");
        // Its Display for the environment's source names the variable instead.
        let err = AppError::NotRoot {
            request: env_user("dev"),
            uid: 1001,
        };
        assert!(
            err.to_string().starts_with("BERTH_USER=dev cannot"),
            "{err}"
        );
        assert!(err.to_string().contains("unset BERTH_USER"), "{err}");
    }

    #[test]
    fn login_shells_get_a_dash() {
        assert_eq!(login_arg0(Path::new("/bin/bash")), OsString::from("-bash"));
        assert_eq!(login_arg0(Path::new("sh")), OsString::from("-sh"));
    }
}
