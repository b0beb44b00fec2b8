//! Starting berth's own dockerd: docker-in-docker and sysbox.
//!
//! The steps, each logged: pre-flight (data root not in use by another
//! engine, AppArmor and securityfs, cgroup v2 nesting, stale pid files, data
//! root writable, storage driver, iptables backend, MTU), TLS
//! certificates when a TCP listener is wanted, then dockerd as a supervised
//! child, ready when its API answers. The socket belongs to the target user's
//! primary group (`dockerd --group`), so the user, and every later `docker
//! exec -u USER` session, reaches it at the default path without any group
//! file being edited.

pub mod daemon;
pub mod dockerd_args;
pub mod preflight;
pub mod rootless;
pub mod tls;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::docker::client::endpoint::Endpoint;
use crate::docker::engine::daemon::{BeforeStart, Daemon, DaemonError, DaemonSpec, Readiness};
use crate::docker::engine::dockerd_args::{
    config_file_path, user_tcp_listeners, DaemonConfigFile, DockerdFeatures, DockerdOptions,
    Flavor, TcpListen, TcpSecurity, DEFAULT_CONFIG_FILE, DOCKER_TLS_PORT,
};
use crate::docker::engine::preflight::{PreflightOptions, PreflightPaths, PreflightReport};
use crate::docker::engine::rootless::{RootlessPaths, RootlessUser, RootlesskitOptions};
use crate::docker::engine::tls::TlsRequest;
use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::Mode;
use crate::host::syscall::{NixSyscall, Syscall};
use crate::host::HostFacts;
use crate::init::procs::ProcInfo;
use crate::init::reaper::Reaper;
use crate::init::runner::{HelperRunner, Helpers, SupervisedRunner};
use crate::init::spawn::{ChildSpec, Credentials};

/// The socket berth's dockerd listens on: the docker CLI's default, so a
/// `docker exec` session needs no DOCKER_HOST.
pub const DIND_SOCKET: &str = "/var/run/docker.sock";
/// How long dockerd may take to answer its first ping.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Restarts in a row before berth gives up on a crashing dockerd.
pub const MAX_RESTARTS: u32 = 5;

/// The user's choices for berth's own dockerd (from `BERTH_DOCKERD_*` and
/// dind's own `DOCKER_TLS_CERTDIR`).
#[derive(Debug, Clone, Default)]
pub struct DindSettings {
    /// Generate certificates here and listen on tcp with TLS.
    pub tls_certdir: Option<PathBuf>,
    /// Extra SANs for the server certificate (`DOCKER_TLS_SAN`).
    pub tls_san: Vec<String>,
    /// Listen on plain TCP here: only when asked by name.
    pub insecure_tcp: Option<String>,
    /// dockerd's `--data-root` (default /var/lib/docker).
    pub data_root: Option<PathBuf>,
    pub iptables: preflight::IptablesChoice,
    /// `BERTH_APPARMOR`: whether inner containers must run under docker-default.
    pub apparmor: preflight::AppArmorChoice,
    pub storage_driver: Option<String>,
    pub extra_args: Vec<String>,
    pub log_file: Option<PathBuf>,
    pub ready_timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("dockerd is not on PATH: install docker.io (Debian/Ubuntu) or docker-ce in the image")]
    NoDockerd,
    #[error("cannot prepare TLS certificates: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("bad dockerd options: {0}")]
    Args(#[from] dockerd_args::DockerdArgsError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error("rootless Docker cannot start: {0}")]
    Rootless(String),
    /// `BERTH_APPARMOR=require` and dockerd cannot apply docker-default: the
    /// user refused the fallback, so this is fatal whatever the failure policy.
    #[error("{0}")]
    AppArmorRequired(String),
    /// Another engine (another container on the same volume) holds the
    /// data root's databases: pre-flight's words, problem and fix.
    #[error("{0}")]
    DataRootInUse(String),
    #[error("cannot write {path}: {source}{}", crate::host::files::read_only_run_hint(.source))]
    Config {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// containerd's socket when berth runs it (dockerd's own layout).
pub const CONTAINERD_SOCKET: &str = "/var/run/docker/containerd/containerd.sock";
const CONTAINERD_CONFIG: &str = "/run/berth/containerd.toml";
/// dockerd's managed containerd uses the same places; keeping them means a
/// data root made by either setup works with the other.
const CONTAINERD_CONFIG_TEXT: &str = r#"version = 2
root = "/var/lib/docker/containerd/daemon"
state = "/var/run/docker/containerd/daemon"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "/var/run/docker/containerd/containerd.sock"
"#;

/// berth's dockerd, and the containerd it uses when berth runs that too.
///
/// berth starts containerd itself (when it is installed) rather than letting
/// dockerd do it: at shutdown dockerd 20.10 sends its managed containerd
/// SIGTERM and then sleeps a whole second before looking again, which was
/// most of a `docker stop`. With containerd as berth's child, berth stops
/// dockerd, and the moment dockerd is gone, containerd.
pub struct Engine {
    pub dockerd: Daemon,
    pub containerd: Option<Daemon>,
}

impl Engine {
    /// Stops dockerd now, then containerd once dockerd has exited.
    pub fn stop(engine: &Rc<Engine>) {
        engine.dockerd.stop();
        let engine = engine.clone();
        tokio::task::spawn_local(async move {
            engine.dockerd.ended().await;
            if let Some(containerd) = &engine.containerd {
                containerd.stop();
            }
        });
    }
}

/// A running engine and where the command reaches it.
pub struct Started {
    pub engine: Rc<Engine>,
    /// The engine's socket, for the command (and `docker exec` sessions).
    pub endpoint: Endpoint,
}

/// Processes dockerd manages: left for dockerd to stop at shutdown.
pub fn managed_by_dockerd(info: &ProcInfo) -> bool {
    info.comm == "dockerd"
        || info.comm.starts_with("containerd")
        || info.comm == "docker-proxy"
        || info.comm == "rootlesskit"
}

/// Runs pre-flight, prepares TLS, starts dockerd and waits until it answers.
pub async fn start_dind(
    settings: &DindSettings,
    flavor: Flavor,
    user: Option<&Credentials>,
    grace: Duration,
    host: &HostFacts,
    helpers: &SupervisedRunner,
) -> Result<Started, EngineError> {
    let reaper = helpers.reaper();
    let program = host.which("dockerd").ok_or(EngineError::NoDockerd)?;
    let plan = DindPlan {
        flavor,
        settings,
        user,
        grace,
        paths: preflight_paths(settings, host),
        search_path: host.search_path(),
        container_env: host.var("container").map(str::to_owned),
    };
    // Pre-flight logged each step; its decisions are in `opts`.
    let helpers = Helpers::from(helpers.clone());
    let (mut opts, report) = plan.dockerd_options(program, &helpers, &NixSyscall).await;
    if let Some(in_use) = report.decisions.data_root_in_use.clone() {
        return Err(EngineError::DataRootInUse(in_use));
    }
    let apparmor = report.decisions.apparmor.clone();
    if let Some(refused) = apparmor.as_ref().and_then(|d| d.refused.clone()) {
        return Err(EngineError::AppArmorRequired(refused));
    }
    if let Some(certdir) = &settings.tls_certdir {
        let material = tls::ensure_certs(
            &TlsRequest {
                certdir: certdir.clone(),
                hostname: nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "localhost".into()),
                ip_addresses: tls::host_ip_addresses().unwrap_or_default(),
                extra_sans: settings.tls_san.clone(),
                client_owner: user.map(|u| (u.uid, u.gid)),
                now: SystemTime::now(),
            },
            &NixSyscall,
        )?;
        tracing::info!(certdir = %certdir.display(), ca = ?material.ca, server = ?material.server, client = ?material.client, "TLS certificates ready");
        opts.tcp = TcpListen::Tls {
            addr: format!("0.0.0.0:{DOCKER_TLS_PORT}"),
            tls: material.daemon.clone(),
        };
    } else if let Some(addr) = &settings.insecure_tcp {
        tracing::warn!(%addr, "dockerd listens on plain TCP without TLS, as asked: anyone who reaches it is root");
        opts.tcp = TcpListen::PlainExplicitlyRequested { addr: addr.clone() };
    }
    log_tcp_listeners(&opts);
    // Before containerd starts: a command line dockerd would refuse stops here.
    let mut command = dockerd_args::dockerd_command(&opts)?;
    let containerd = match host.which("containerd") {
        Some(program) => Some(start_containerd(program, settings, reaper.clone()).await?),
        None => None,
    };
    if containerd.is_some() {
        opts.extra_args
            .insert(0, format!("--containerd={CONTAINERD_SOCKET}"));
        command = dockerd_args::dockerd_command(&opts)?;
    }
    if let Some(value) = apparmor.as_ref().and_then(|d| d.container_env) {
        // engines that read `container` (containerd's hostSupports) follow
        // the AppArmor decision: "docker" keeps them from applying a profile.
        command.env.push(("container".into(), value.into()));
    }
    let child = child_spec(command.program, command.args, command.env);
    tracing::info!(args = ?child.args, "starting dockerd");
    let pid_file_paths = plan.paths.clone();
    let dockerd = Daemon::start(
        DaemonSpec {
            before_start: Some(BeforeStart::new(move || {
                preflight::remove_stale_pid_files(&pid_file_paths).log()
            })),
            ..daemon_spec(
                "dockerd",
                child,
                Readiness::DockerApi(DIND_SOCKET.into()),
                settings,
            )
        },
        reaper,
    )
    .await;
    let dockerd = match dockerd {
        Ok(dockerd) => dockerd,
        Err(err) => {
            // No engine after all: containerd has nothing to serve.
            if let Some(containerd) = &containerd {
                containerd.stop();
            }
            return Err(err.into());
        }
    };
    // dockerd loads docker-default while it starts, before its API answers.
    if let Some(finding) = apparmor
        .as_ref()
        .and_then(|d| preflight::verify_loaded(&plan.paths, d))
    {
        finding.log();
    }
    Ok(Started {
        engine: Rc::new(Engine {
            dockerd,
            containerd,
        }),
        endpoint: Endpoint::Unix {
            path: DIND_SOCKET.into(),
        },
    })
}

/// The configuration file dockerd will read (`--config-file`, else
/// `default`), for what it says about listeners and TLS. A file dockerd
/// cannot use is left to dockerd to refuse, with berth's warning first.
fn read_config_file(extra_args: &[String], default: &Path) -> Option<DaemonConfigFile> {
    match DaemonConfigFile::read(&config_file_path(extra_args, default)) {
        Ok(file) => file,
        Err(err) => {
            tracing::warn!("{err}: dockerd will refuse to start with it");
            None
        }
    }
}

/// Says which TCP listeners dockerd gets, from where, and how they are
/// secured: the user's own (`-H` in BERTH_DOCKERD_ARGS, `hosts` in
/// daemon.json) are taken as asked for, made fast (`--tls=false`) or secure
/// (DOCKER_TLS_CERTDIR's certificates).
fn log_tcp_listeners(opts: &DockerdOptions) {
    if let Some(file) = opts.config_file.as_ref().filter(|f| f.hosts.is_some()) {
        tracing::info!(file = %file.path.display(), "the configuration file sets hosts: berth passes no --host of its own (dockerd refuses a directive given both ways)");
        if let TcpListen::Tls { addr, .. } | TcpListen::PlainExplicitlyRequested { addr } =
            &opts.tcp
        {
            tracing::warn!(
                "berth's own TCP listener on {addr} is not added because {} sets hosts: add \"tcp://{addr}\" to its hosts to have it",
                file.path.display()
            );
        }
    }
    let listeners = user_tcp_listeners(opts);
    if listeners.is_empty() {
        return;
    }
    let listed = listeners
        .iter()
        .map(|l| format!("{} (from {})", l.host, l.source))
        .collect::<Vec<_>>()
        .join(", ");
    match opts.tcp_security() {
        TcpSecurity::Plain => tracing::warn!(
            "dockerd listens on plain TCP at {listed}, as asked: anyone who reaches it is root; berth passes --tls=false so dockerd does not first sleep 15 s (set DOCKER_TLS_CERTDIR for TLS with certificates berth makes)"
        ),
        TcpSecurity::BerthTls(_) => tracing::info!(
            "dockerd listens on TCP at {listed} with TLS: berth gives it the certificates of DOCKER_TLS_CERTDIR (--tlsverify; clients use its client/ directory)"
        ),
        TcpSecurity::UserTls => {
            tracing::info!("dockerd listens on TCP at {listed} with your own TLS settings")
        }
        TcpSecurity::NoTcp => {}
    }
}

/// How long `dockerd --help` may take (it answers in well under a second).
const HELP_DEADLINE: Duration = Duration::from_secs(10);

/// What the installed dockerd supports, from `dockerd --help` run as a
/// helper process. When it cannot be run, the oldest supported dockerd's
/// (20.10) features are assumed, as before.
pub async fn dockerd_features(helpers: &Helpers, dockerd: &Path) -> DockerdFeatures {
    match helpers.run(dockerd, &["--help"], HELP_DEADLINE).await {
        Ok(help) => {
            // Some versions print their help on stderr.
            let features = DockerdFeatures::from_help(&format!("{}{}", help.stdout, help.stderr));
            tracing::debug!(?features, "dockerd --help");
            features
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot ask dockerd what it supports; assuming dockerd 20.10");
            DockerdFeatures::default()
        }
    }
}

/// What decides berth's own dockerd's command line (TLS aside).
struct DindPlan<'a> {
    flavor: Flavor,
    settings: &'a DindSettings,
    user: Option<&'a Credentials>,
    grace: Duration,
    paths: PreflightPaths,
    search_path: OsString,
    /// berth's own `container` variable, which the AppArmor step may change
    /// for dockerd.
    container_env: Option<String>,
}

impl DindPlan<'_> {
    /// Asks `program` what it supports, runs pre-flight, and gives dockerd's
    /// options with pre-flight's decisions applied (the MTU reaches
    /// user-defined networks when dockerd has `--default-network-opt`).
    async fn dockerd_options(
        &self,
        program: PathBuf,
        helpers: &Helpers,
        ops: &dyn Syscall,
    ) -> (DockerdOptions, PreflightReport) {
        let features = dockerd_features(helpers, &program).await;
        let options = PreflightOptions {
            iptables: self.settings.iptables,
            apparmor: self.settings.apparmor,
            container_env: self.container_env.clone(),
            dockerd_program: Some(program.clone()),
            storage_driver: self.settings.storage_driver.clone(),
            search_path: self.search_path.clone(),
            dockerd: features,
            ..PreflightOptions::default()
        };
        let report = preflight::run_all(&self.paths, &options, ops, helpers).await;
        let mut opts = DockerdOptions {
            program,
            flavor: self.flavor,
            unix_socket: DIND_SOCKET.into(),
            data_root: self.settings.data_root.clone(),
            socket_group: self.user.map(|u| u.gid),
            // dockerd stops containers within this; it must fit berth's grace.
            shutdown_timeout_secs: Some(self.grace.as_secs().saturating_sub(2).max(1) as u32),
            extra_args: self.settings.extra_args.clone(),
            features,
            config_file: read_config_file(
                &self.settings.extra_args,
                Path::new(DEFAULT_CONFIG_FILE),
            ),
            ..DockerdOptions::default()
        };
        report.decisions.apply_to(&mut opts);
        (opts, report)
    }
}

/// The pre-flight steps that only look (data root in use, AppArmor, storage
/// driver, MTU), for `berth doctor`: what the start would decide, nothing
/// changed. The data root's locks held by an engine of this container are
/// its own engine's, not a problem.
pub async fn preflight_checks(
    settings: &DindSettings,
    host: &HostFacts,
    dockerd: &Path,
    helpers: &Helpers,
) -> Vec<Finding> {
    let features = dockerd_features(helpers, dockerd).await;
    let paths = preflight_paths(settings, host);
    let options = PreflightOptions {
        iptables: settings.iptables,
        apparmor: settings.apparmor,
        container_env: host.var("container").map(str::to_owned),
        dockerd_program: Some(dockerd.to_path_buf()),
        storage_driver: settings.storage_driver.clone(),
        search_path: host.search_path(),
        dockerd: features,
        ..PreflightOptions::default()
    };
    let (apparmor, _) = preflight::decide_apparmor(
        &paths,
        &options,
        &NixSyscall,
        helpers,
        preflight::Act::LookOnly,
    )
    .await;
    let (storage, _) = preflight::choose_storage_driver(&paths, &options, &NixSyscall);
    let (mtu, _) = preflight::detect_mtu(&paths, &features);
    vec![
        preflight::check_data_root_in_use(&paths, true).about(Mode::Dind),
        apparmor.about(Mode::Dind),
        storage.about(Mode::Dind),
        mtu.about(Mode::Dind),
    ]
}

/// Pre-flight's paths: the standard ones under the host's proc root, with
/// the user's data root.
fn preflight_paths(settings: &DindSettings, host: &HostFacts) -> PreflightPaths {
    let mut paths = PreflightPaths::for_host(host);
    if let Some(root) = &settings.data_root {
        paths.data_root = root.clone();
    }
    paths
}

/// Rootless dockerd under rootlesskit as `user` (berth may be that user, or
/// root about to switch to it). As root, berth first fixes what it safely can
/// (subuid/subgid ranges, the runtime dir, /dev/net/tun for this container);
/// whatever is still missing fails with the fix named.
pub async fn start_rootless(
    settings: &DindSettings,
    user: &Credentials,
    host: &HostFacts,
    reaper: Rc<Reaper>,
) -> Result<Started, EngineError> {
    let Some(name) = user.name.clone() else {
        return Err(EngineError::Rootless(
            "rootless Docker needs a named user (subuid/subgid entries are by name): pass --user NAME".into(),
        ));
    };
    let rootless_user = RootlessUser {
        name,
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        home: user.home.clone(),
    };
    let paths = RootlessPaths::for_host(host);
    let findings = if host.is_root() {
        rootless::prepare(&paths, &rootless_user, host.euid, &NixSyscall)
    } else {
        rootless::inspect(&paths, &rootless_user, host.euid, &NixSyscall)
    };
    let mut missing = Vec::new();
    for finding in &findings {
        let unmet = matches!(finding.verdict, Verdict::Missing | Verdict::Fixable);
        // Stale /run entries are cleared by the child step (ROOTLESS_CHILD).
        if unmet && finding.check != rootless::Check::RunCopyUp.as_str() {
            let fix = finding.fix.as_deref().unwrap_or("see berth doctor");
            missing.push(format!("{} (fix: {fix})", finding.seen));
        } else {
            finding.log();
        }
    }
    if !missing.is_empty() {
        return Err(EngineError::Rootless(missing.join("; ")));
    }
    let program = host.which("dockerd").ok_or(EngineError::NoDockerd)?;
    let kit = RootlesskitOptions {
        program: host.which("rootlesskit").ok_or_else(|| {
            EngineError::Rootless("rootlesskit is not on PATH: install rootlesskit".into())
        })?,
        // The step that clears the parent's /run entries inside the namespace.
        child_prefix: vec![
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "berth".into()),
            ROOTLESS_CHILD.into(),
            "--".into(),
        ],
        ..RootlesskitOptions::default()
    };
    let dockerd = DockerdOptions {
        program,
        extra_args: settings.extra_args.clone(),
        // Rootless dockerd reads $XDG_CONFIG_HOME/docker/daemon.json; berth
        // gives it the user's HOME.
        config_file: read_config_file(
            &settings.extra_args,
            &user.home.join(".config/docker/daemon.json"),
        ),
        ..DockerdOptions::default()
    };
    log_tcp_listeners(&dockerd);
    let command = rootless::rootless_command(&rootless_user, &paths.run_user, &kit, &dockerd)
        .map_err(|err| EngineError::Rootless(err.to_string()))?;
    let socket = PathBuf::from(command.docker_host.trim_start_matches("unix://"));
    let mut child = child_spec(command.program, command.args, command.env);
    if host.euid != user.uid {
        child.credentials = Some(user.clone());
    }
    tracing::info!(args = ?child.args, "starting rootless dockerd");
    let dockerd = Daemon::start(
        daemon_spec(
            "dockerd",
            child,
            Readiness::DockerApi(socket.clone()),
            settings,
        ),
        reaper,
    )
    .await?;
    Ok(Started {
        engine: Rc::new(Engine {
            dockerd,
            containerd: None,
        }),
        endpoint: Endpoint::Unix { path: socket },
    })
}

/// The hidden subcommand rootlesskit runs inside its namespace.
pub const ROOTLESS_CHILD: &str = "rootless-child";

/// `berth rootless-child -- dockerd ARGS`: clear the copies of the parent's
/// /run/docker and /run/containerd that rootlesskit's copy-up left, then
/// become dockerd (as dockerd-rootless.sh's second half does).
pub fn rootless_child(argv: &[OsString]) -> std::io::Error {
    if let Err(err) = rootless::remove_child_stale_run_entries(Path::new("/run")) {
        return std::io::Error::other(err.to_string());
    }
    let args = match argv.first().map(|a| a == "--") {
        Some(true) => &argv[1..],
        _ => argv,
    };
    let Some((program, rest)) = args.split_first() else {
        return std::io::Error::other("rootless-child: no command given");
    };
    use std::os::unix::process::CommandExt;
    std::process::Command::new(program).args(rest).exec()
}

async fn start_containerd(
    program: PathBuf,
    settings: &DindSettings,
    reaper: Rc<Reaper>,
) -> Result<Daemon, EngineError> {
    let config = Path::new(CONTAINERD_CONFIG);
    write_config(config).map_err(|source| EngineError::Config {
        path: config.to_path_buf(),
        source,
    })?;
    let mut child = ChildSpec::new(program);
    child.args = vec!["--config".into(), config.into()];
    let containerd = Daemon::start(
        daemon_spec(
            "containerd",
            child,
            Readiness::Accepts(CONTAINERD_SOCKET.into()),
            settings,
        ),
        reaper,
    )
    .await?;
    Ok(containerd)
}

/// A daemon's process: program, arguments, and variables on top of berth's.
fn child_spec(program: PathBuf, args: Vec<String>, env: Vec<(String, OsString)>) -> ChildSpec {
    let mut child = ChildSpec::new(program);
    child.args = args.into_iter().map(OsString::from).collect();
    child.env = env
        .into_iter()
        .map(|(k, v)| (OsString::from(k), v))
        .collect();
    child
}

/// A daemon of berth's, with the user's timeout and log file and the
/// restart budget.
fn daemon_spec(
    name: &'static str,
    child: ChildSpec,
    ready: Readiness,
    settings: &DindSettings,
) -> DaemonSpec {
    DaemonSpec {
        name,
        child,
        ready,
        ready_timeout: settings.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT),
        max_restarts: MAX_RESTARTS,
        log_file: settings.log_file.clone(),
        before_start: None,
        stop_grace: daemon::NOT_READY_STOP_GRACE,
    }
}

fn write_config(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, CONTAINERD_CONFIG_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::dockerd_args::dockerd_command;
    use crate::docker::engine::preflight::iptables::tests::iptables_bins;
    use crate::docker::engine::preflight::mtu::tests::mtu_fixture;
    use crate::host::syscall::RecordingSyscall;
    use crate::init::runner::OneShotRunner;
    use std::os::unix::fs::PermissionsExt;

    /// A dockerd that only prints `help`, as `dockerd --help` would.
    fn fake_dockerd(dir: &Path, help: &str) -> PathBuf {
        let path = dir.join("dockerd");
        std::fs::write(&path, format!("#!/bin/sh\ncat <<'EOF'\n{help}\nEOF\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    const HELP_20_10: &str =
        "Usage:\tdockerd [OPTIONS]\n      --mtu int   Set the containers network MTU";
    const HELP_26: &str = "Usage:\tdockerd [OPTIONS]\n      --default-network-opt mapmap   Default network options (default map[])\n      --mtu int   Set the containers network MTU";

    /// `dockerd --help` is asked (through a helper runner) and its answer
    /// reaches the command line: with a default route MTU of 1450, a dockerd
    /// that has `--default-network-opt` gets it for user-defined networks,
    /// one that lacks it gets `--mtu` only (and pre-flight warns).
    #[tokio::test]
    async fn the_mtu_reaches_user_defined_networks_when_dockerd_can_take_it() {
        let bin = tempfile::tempdir().expect("tempdir");
        let settings = DindSettings::default();
        let network_opt = "--default-network-opt=bridge=com.docker.network.driver.mtu=1450";
        for (help, has_option) in [(HELP_26, true), (HELP_20_10, false)] {
            let dockerd = fake_dockerd(bin.path(), help);
            let f = mtu_fixture("1450\n");
            iptables_bins(&f);
            let plan = DindPlan {
                flavor: Flavor::Privileged,
                settings: &settings,
                user: None,
                grace: Duration::from_secs(8),
                paths: f.paths.clone(),
                search_path: f.opts.search_path.clone(),
                container_env: None,
            };
            let runner = Helpers::from(OneShotRunner::without_reaper());
            let (opts, report) = plan
                .dockerd_options(dockerd, &runner, &RecordingSyscall::new())
                .await;
            assert_eq!(opts.features.default_network_opt, has_option, "{help}");
            let args = dockerd_command(&opts).expect("command").args;
            assert!(args.contains(&"--mtu=1450".to_owned()), "{args:?}");
            assert_eq!(
                args.contains(&network_opt.to_owned()),
                has_option,
                "{args:?}"
            );
            let mtu_step = report
                .steps
                .iter()
                .find(|s| s.check == preflight::Step::Mtu.as_str());
            let warned = mtu_step.is_some_and(|s| s.verdict == Verdict::Warning);
            assert_eq!(warned, !has_option, "{mtu_step:?}");
        }
    }

    /// Pre-flight probes containerd's metadata database where berth's
    /// containerd configuration puts its root.
    #[test]
    fn pre_flight_probes_containerd_where_berth_puts_it() {
        let root = format!("root = \"{}\"\n", preflight::DEFAULT_CONTAINERD_ROOT);
        assert!(
            CONTAINERD_CONFIG_TEXT.contains(&root),
            "{CONTAINERD_CONFIG_TEXT}"
        );
    }

    #[tokio::test]
    async fn a_dockerd_that_cannot_be_asked_is_taken_for_20_10() {
        let runner = Helpers::from(OneShotRunner::without_reaper());
        let features = dockerd_features(&runner, Path::new("/nonexistent/dockerd")).await;
        assert_eq!(features, DockerdFeatures::default());
    }
}
