//! Host paths for sibling containers.
//!
//! A worker that talks to the host's engine through a mounted socket starts
//! its job containers as *siblings*: `docker run -v SRC:/job` resolves SRC on
//! the host, not in the worker. So the worker must name its own data
//! directory by its host path. berth finds its own container (the mountinfo
//! root of /etc/hostname is `<data-root>/containers/<64-hex id>/hostname`;
//! /etc/hosts and /etc/resolv.conf likewise; else the hostname, which Docker
//! sets to the id's first 12 characters), inspects it through the engine API
//! and translates DIR through the container's `Mounts`: the mount whose
//! Destination is the longest component-wise prefix of DIR gives
//! `Source + rest`.
//!
//! DIR is first resolved as the kernel resolves it inside the container
//! ([`resolve_in_container`]: every symlink followed, across mounts), and
//! so are the Destinations (Docker mounts at a Destination's resolved
//! path): with `-v /srv/app:/app -v appvol:/vol`, `/app/link -> /vol/real`
//! is the volume's `.../volumes/appvol/_data/real`, not `/srv/app/link`,
//! which on the host would point at the host's `/vol/real`. A path that
//! resolves outside every mount is an error naming the mount it was
//! reached through ([`HostPathError::Escaped`]).
//!
//! With berth's own engine (dind, sysbox, rootless) the engine sees the
//! container's own file system, so a path is its own host path.
//!
//! The decisions (which id, which mount, which path) are pure functions over
//! parsed inputs; the engine is behind [`ContainerLookup`] so tests use a fake.

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::ContainerInspectResponse;

use crate::docker::client::diagnosis::{self, PingFailure};
use crate::docker::client::endpoint::{local_engine, Endpoint};
use crate::docker::client::ping;
use crate::docker::mode::FailurePolicy;
use crate::docker::setup::DockerSetup;
use crate::exit::Failure;
use crate::host::mountinfo::MountInfo;
use crate::host::HostFacts;

/// The variable that asks berth to export host paths to the command.
pub const EXPORT_VAR: &str = "BERTH_EXPORT_HOST_PATH";
/// One API call; an engine that answers at all answers an inspect quickly.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(5);
/// Files Docker bind-mounts from `<data-root>/containers/<id>/`, in the order tried.
pub const ID_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// Why a host path could not be found. Display is one sentence with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPathError {
    #[error("no Docker engine to ask: {reason}")]
    NoEngine { reason: String },
    #[error("the Docker engine at {endpoint} did not answer: {failure}")]
    EngineUnreachable {
        endpoint: String,
        #[source]
        failure: PingFailure,
    },
    #[error("cannot tell which container this is: no container id in the mount sources of {} and no hostname; is this running in a Docker container?", ID_FILES.join(", "))]
    NoContainerId,
    #[error("the engine at {endpoint} has no container {reference:?} (found from {origin}): is this running in a container on that engine?")]
    OwnContainerNotFound {
        endpoint: String,
        reference: String,
        origin: String,
    },
    #[error("{} is relative and the current directory is unknown: give an absolute path inside the container", dir.display())]
    RelativeDir { dir: PathBuf },
    #[error("{} is not on a bind mount or volume of this container (mounts: {mounts}): mount it: -v /host/dir:{} or a named volume", dir.display(), dir.display())]
    NotOnMount { dir: PathBuf, mounts: String },
    #[error("{} resolves to {}, which is on no bind mount or volume of this container: the symlink leaves the mount at {} (mounts: {mounts}); a sibling container cannot see it there: point the link inside a mount, or mount its target", dir.display(), resolved.display(), mount.display())]
    Escaped {
        dir: PathBuf,
        resolved: PathBuf,
        /// The mount `dir` is on as written.
        mount: PathBuf,
        mounts: String,
    },
    #[error("{} is on a tmpfs mounted at {}, which exists only in this container's memory: a sibling container cannot see it; mount a host directory or a named volume there instead", dir.display(), destination.display())]
    Tmpfs { dir: PathBuf, destination: PathBuf },
    #[error("{} is on a {kind} mount at {} that has no host path: use a bind mount or a named volume", dir.display(), destination.display())]
    NoHostSource {
        dir: PathBuf,
        destination: PathBuf,
        kind: String,
    },
}

impl HostPathError {
    /// The documented exit code (see `berth host-path --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            HostPathError::NoEngine { .. } | HostPathError::EngineUnreachable { .. } => {
                Failure::DockerUnavailable.code()
            }
            HostPathError::NoContainerId
            | HostPathError::OwnContainerNotFound { .. }
            | HostPathError::RelativeDir { .. }
            | HostPathError::NotOnMount { .. }
            | HostPathError::Escaped { .. }
            | HostPathError::Tmpfs { .. }
            | HostPathError::NoHostSource { .. } => Failure::Config.code(),
        }
    }
}

// ------------------------------------------------------------------ exports

/// One `VAR=DIR` of BERTH_EXPORT_HOST_PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathExport {
    pub var: String,
    pub dir: PathBuf,
}

/// Parses `VAR=DIR[,VAR2=DIR2]` (empty entries are ignored).
pub fn parse_exports(text: &str) -> Result<Vec<HostPathExport>, String> {
    const HINT: &str = "use VAR=/abs/dir[,VAR2=/abs/dir2]";
    let mut exports: Vec<HostPathExport> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((var, dir)) = entry.split_once('=') else {
            return Err(format!("{entry:?} has no '=': {HINT}"));
        };
        let (var, dir) = (var.trim(), dir.trim());
        if !is_variable_name(var) {
            return Err(format!(
                "{var:?} is not a variable name (letters, digits, _; not starting with a digit): {HINT}"
            ));
        }
        if !dir.starts_with('/') {
            return Err(format!(
                "{dir:?} (for {var}) is not an absolute path: {HINT}"
            ));
        }
        if exports.iter().any(|e| e.var == var) {
            return Err(format!("{var} is listed twice"));
        }
        exports.push(HostPathExport {
            var: var.to_string(),
            dir: PathBuf::from(dir),
        });
    }
    Ok(exports)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How paths reach the engine the command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineView {
    /// No engine was set up.
    None,
    /// berth's own dockerd: it sees this container's file system.
    Own,
    /// Another engine (the host's socket, a remote one): ask its API.
    Api(Endpoint),
}

/// What `setup` means for host paths.
pub fn engine_view(setup: &DockerSetup) -> EngineView {
    match (setup.mode, &setup.endpoint) {
        (Some(mode), _) if mode.starts_an_engine() => EngineView::Own,
        (Some(_), Some(endpoint)) => EngineView::Api(endpoint.clone()),
        _ => EngineView::None,
    }
}

/// Sets each requested variable the command does not already have (in
/// berth's environment or `child_env`) to the host path of its directory.
/// Called by app.rs before the command starts. A failure is a warning, or
/// an error under BERTH_ON_DOCKER_FAILURE=fail.
pub async fn export_to_command(
    exports: &[HostPathExport],
    on_failure: FailurePolicy,
    setup: &DockerSetup,
    host: &HostFacts,
    child_env: &mut Vec<(OsString, OsString)>,
) -> Result<(), HostPathError> {
    let wanted: Vec<&HostPathExport> = exports
        .iter()
        .filter(|e| {
            host.var(&e.var).is_none() && !child_env.iter().any(|(k, _)| k == e.var.as_str())
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let view = engine_view(setup);
    let resolved = resolve_exports(
        &wanted,
        &view,
        &EngineLookup::new,
        DEFAULT_API_TIMEOUT,
        host,
    )
    .await;
    for (export, result) in wanted.iter().zip(resolved) {
        match result {
            Ok(path) => {
                tracing::info!(var = %export.var, dir = %export.dir.display(), host_path = %path.display(), "exported a host path");
                child_env.push((export.var.clone().into(), path.into_os_string()));
            }
            Err(err) if on_failure == FailurePolicy::Fail => {
                return Err(err);
            }
            Err(err) => tracing::warn!(
                "{EXPORT_VAR}: {} is not set for the command: {err}",
                export.var
            ),
        }
    }
    Ok(())
}

/// The host path of each export's directory, looking the container up once.
pub async fn resolve_exports<L: ContainerLookup>(
    exports: &[&HostPathExport],
    view: &EngineView,
    lookup_for: &dyn Fn(Endpoint, Duration) -> L,
    timeout: Duration,
    host: &HostFacts,
) -> Vec<Result<PathBuf, HostPathError>> {
    let facts = match view {
        EngineView::None => Err(HostPathError::NoEngine {
            reason:
                "Docker was not set up for the command (see the warnings above, or `berth doctor`)"
                    .into(),
        }),
        EngineView::Own => return exports.iter().map(|e| Ok(normalize(&e.dir))).collect(),
        EngineView::Api(endpoint) => {
            let lookup = lookup_for(endpoint.clone(), timeout);
            let mountinfo = read_own_mountinfo(host);
            find_own_container(&lookup, &mountinfo, own_hostname(host).as_deref()).await
        }
    };
    exports
        .iter()
        .map(|e| match &facts {
            Ok(facts) => host_path_for(&e.dir, facts),
            Err(err) => Err(err.clone()),
        })
        .collect()
}

// ------------------------------------------------------- the `host-path` CLI

/// `berth host-path DIR` against the engine of berth's environment.
pub async fn resolve_here(
    dir: &Path,
    host: &HostFacts,
    timeout: Duration,
) -> Result<PathBuf, HostPathError> {
    let endpoint = match local_engine(&host.env, host.euid) {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            return Err(HostPathError::NoEngine {
                reason: "DOCKER_HOST is unset and no socket exists at /var/run/docker.sock or /run/docker.sock: mount the host's socket (-v /var/run/docker.sock:/var/run/docker.sock)".into(),
            })
        }
        Err(err) => {
            return Err(HostPathError::NoEngine {
                reason: err.to_string(),
            })
        }
    };
    let dir = absolute_dir(dir)?;
    let lookup = EngineLookup::new(endpoint, timeout);
    let facts = find_own_container(
        &lookup,
        &read_own_mountinfo(host),
        own_hostname(host).as_deref(),
    )
    .await?;
    host_path_for(&dir, &facts)
}

fn absolute_dir(dir: &Path) -> Result<PathBuf, HostPathError> {
    if dir.is_absolute() {
        return Ok(dir.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(dir))
        .map_err(|_| HostPathError::RelativeDir {
            dir: dir.to_path_buf(),
        })
}

fn read_own_mountinfo(host: &HostFacts) -> MountInfo {
    // Unreadable /proc: no id from mounts; the hostname fallback still works.
    crate::host::read_kernel_text(host.mountinfo())
        .map(|text| MountInfo::parse(&text))
        .unwrap_or_default()
}

/// HOSTNAME, else gethostname(2).
fn own_hostname(host: &HostFacts) -> Option<String> {
    host.var("HOSTNAME")
        .map(str::to_string)
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

// ------------------------------------------------------ own container (pure)

/// A mount of a container, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMount {
    /// `bind`, `volume`, `tmpfs`, `npipe`, ...
    pub kind: String,
    /// The host path (a volume's Mountpoint for volumes).
    pub source: PathBuf,
    pub destination: PathBuf,
}

/// What berth needs to know about its own container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFacts {
    pub id: String,
    pub hostname: Option<String>,
    pub mounts: Vec<ContainerMount>,
}

impl ContainerFacts {
    /// From the engine's inspect answer: `Mounts`, plus `HostConfig.Tmpfs`
    /// (`--tmpfs DIR` is listed only there).
    pub fn from_inspect(inspect: &ContainerInspectResponse) -> ContainerFacts {
        let mut mounts: Vec<ContainerMount> = inspect
            .mounts
            .iter()
            .flatten()
            .filter_map(|m| {
                Some(ContainerMount {
                    kind: m.typ.clone().unwrap_or_default(),
                    source: PathBuf::from(m.source.clone().unwrap_or_default()),
                    destination: PathBuf::from(m.destination.clone()?),
                })
            })
            .collect();
        let tmpfs = inspect.host_config.as_ref().and_then(|h| h.tmpfs.as_ref());
        for destination in tmpfs.into_iter().flat_map(|t| t.keys()) {
            mounts.push(ContainerMount {
                kind: "tmpfs".into(),
                source: PathBuf::new(),
                destination: PathBuf::from(destination),
            });
        }
        ContainerFacts {
            id: inspect.id.clone().unwrap_or_default(),
            hostname: inspect.config.as_ref().and_then(|c| c.hostname.clone()),
            mounts,
        }
    }
}

/// How berth names its own container to the engine, and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfReference {
    /// The full id, from the mount source of one of [`ID_FILES`].
    MountedFile { id: String, file: String },
    /// The hostname: Docker's default is the id's first 12 characters.
    Hostname(String),
}

impl SelfReference {
    pub fn reference(&self) -> &str {
        match self {
            SelfReference::MountedFile { id, .. } => id,
            SelfReference::Hostname(name) => name,
        }
    }

    fn origin(&self) -> String {
        match self {
            SelfReference::MountedFile { file, .. } => format!("the mount of {file}"),
            SelfReference::Hostname(_) => "the hostname".into(),
        }
    }
}

/// A 64-hex component of a mount root such as
/// `/var/lib/docker/containers/<id>/hostname` (any data root; podman's
/// `.../overlay-containers/<id>/userdata/hostname` too).
pub fn container_id_in_root(root: &str) -> Option<String> {
    root.split('/')
        .rev()
        .find(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
}

/// The container id from mountinfo, trying [`ID_FILES`] in order.
pub fn container_id_from_mountinfo(info: &MountInfo) -> Option<SelfReference> {
    ID_FILES.iter().find_map(|file| {
        let entry = info.mount_at(Path::new(file))?;
        container_id_in_root(&entry.root).map(|id| SelfReference::MountedFile {
            id,
            file: (*file).to_string(),
        })
    })
}

/// Every way to name this container, best first.
pub fn self_references(info: &MountInfo, hostname: Option<&str>) -> Vec<SelfReference> {
    let mut refs: Vec<SelfReference> = container_id_from_mountinfo(info).into_iter().collect();
    if let Some(name) = hostname.map(str::trim).filter(|h| !h.is_empty()) {
        refs.push(SelfReference::Hostname(name.to_string()));
    }
    refs
}

/// Does the engine's answer for a hostname lookup really describe us? The
/// engine resolves a name or id prefix, so another container could be named
/// like our hostname.
fn is_us(facts: &ContainerFacts, reference: &SelfReference) -> bool {
    match reference {
        SelfReference::MountedFile { id, .. } => facts.id.eq_ignore_ascii_case(id),
        SelfReference::Hostname(name) => {
            facts.id.starts_with(name.as_str()) || facts.hostname.as_deref() == Some(name.as_str())
        }
    }
}

/// Inspects berth's own container: by the id in mountinfo, else by hostname.
pub async fn find_own_container(
    lookup: &impl ContainerLookup,
    info: &MountInfo,
    hostname: Option<&str>,
) -> Result<ContainerFacts, HostPathError> {
    let refs = self_references(info, hostname);
    let mut tried = Vec::new();
    for reference in &refs {
        if let Some(facts) = lookup.inspect(reference.reference()).await? {
            if is_us(&facts, reference) {
                return Ok(facts);
            }
        }
        tried.push(reference);
    }
    match tried.first() {
        None => Err(HostPathError::NoContainerId),
        Some(first) => Err(HostPathError::OwnContainerNotFound {
            endpoint: lookup.endpoint(),
            reference: first.reference().to_string(),
            origin: tried
                .iter()
                .map(|r| r.origin())
                .collect::<Vec<_>>()
                .join(", then "),
        }),
    }
}

// ------------------------------------------------------ translation (pure)

use crate::host::mountinfo::normalize;

/// The mount whose destination is the longest component-wise prefix of `dir`.
pub fn pick_mount<'a>(dir: &Path, mounts: &'a [ContainerMount]) -> Option<&'a ContainerMount> {
    let dir = normalize(dir);
    mounts
        .iter()
        .filter(|m| dir.starts_with(normalize(&m.destination)))
        .max_by_key(|m| normalize(&m.destination).components().count())
}

/// `dir`'s host path through `facts`' mounts.
pub fn translate(dir: &Path, facts: &ContainerFacts) -> Result<PathBuf, HostPathError> {
    let normal = normalize(dir);
    let Some(mount) = pick_mount(&normal, &facts.mounts) else {
        return Err(HostPathError::NotOnMount {
            dir: normal,
            mounts: describe_mounts(&facts.mounts),
        });
    };
    let destination = normalize(&mount.destination);
    match mount.kind.as_str() {
        "tmpfs" => {
            return Err(HostPathError::Tmpfs {
                dir: normal,
                destination,
            })
        }
        "bind" | "volume" if !mount.source.as_os_str().is_empty() => {}
        _ => {
            return Err(HostPathError::NoHostSource {
                dir: normal,
                destination,
                kind: if mount.kind.is_empty() {
                    "unknown".into()
                } else {
                    mount.kind.clone()
                },
            })
        }
    }
    let rest = normal
        .strip_prefix(&destination)
        .unwrap_or_else(|_| Path::new(""));
    Ok(if rest.as_os_str().is_empty() {
        mount.source.clone()
    } else {
        mount.source.join(rest)
    })
}

/// `path` as the kernel resolves it here: every symlink followed (across
/// mounts), `.` and `..` applied; a tail that does not exist yet is kept as
/// written on the resolved part that does (`realpath -m`).
pub fn resolve_in_container(path: &Path) -> PathBuf {
    let normal = normalize(path);
    let mut existing = normal.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut resolved = real;
            for part in tail.iter().rev() {
                resolved.push(part);
            }
            return normalize(&resolved);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_owned());
                existing = parent;
            }
            _ => return normal,
        }
    }
}

/// The host path of `dir`: `dir` and every mount's Destination resolved in
/// the container ([`resolve_in_container`]), then [`host_path_resolved`].
pub fn host_path_for(dir: &Path, facts: &ContainerFacts) -> Result<PathBuf, HostPathError> {
    let resolved = resolve_in_container(dir);
    let mut real = facts.clone();
    for mount in &mut real.mounts {
        mount.destination = resolve_in_container(&mount.destination);
    }
    host_path_resolved(dir, &resolved, &real, facts)
}

/// [`translate`] of `resolved` (what `dir` resolves to) through `real`
/// (the mounts at their resolved places). When `resolved` is on no mount
/// but `dir` as written is on one of `facts`' mounts, a symlink led out of
/// it: [`HostPathError::Escaped`]. Pure.
pub fn host_path_resolved(
    dir: &Path,
    resolved: &Path,
    real: &ContainerFacts,
    facts: &ContainerFacts,
) -> Result<PathBuf, HostPathError> {
    match translate(resolved, real) {
        Err(HostPathError::NotOnMount { mounts, .. }) => {
            let written = normalize(dir);
            match pick_mount(&written, &facts.mounts) {
                Some(mount) => Err(HostPathError::Escaped {
                    dir: written,
                    resolved: normalize(resolved),
                    mount: normalize(&mount.destination),
                    mounts,
                }),
                None => Err(HostPathError::NotOnMount {
                    dir: written,
                    mounts,
                }),
            }
        }
        other => other,
    }
}

fn describe_mounts(mounts: &[ContainerMount]) -> String {
    if mounts.is_empty() {
        return "none".into();
    }
    mounts
        .iter()
        .map(|m| format!("{} ({})", m.destination.display(), m.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

// ----------------------------------------------------------- the engine API

/// `diagnosis::classify` cannot know the deadline at which bollard gave up (it
/// reports 0 ms); the caller does.
pub fn with_deadline(failure: PingFailure, timeout: Duration) -> PingFailure {
    match failure {
        PingFailure::Timeout {
            address,
            after_ms: 0,
        } => PingFailure::Timeout {
            address,
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        },
        other => other,
    }
}

/// Looks a container up on an engine. None: the engine has no such container.
pub trait ContainerLookup {
    fn inspect(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<ContainerFacts>, HostPathError>>;
    /// The engine's address, for messages.
    fn endpoint(&self) -> String;
}

/// The real lookup: bollard's inspect, speaking the engine's API version.
#[derive(Debug, Clone)]
pub struct EngineLookup {
    pub endpoint: Endpoint,
    pub timeout: Duration,
}

impl EngineLookup {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> EngineLookup {
        EngineLookup { endpoint, timeout }
    }

    fn unreachable(&self, failure: PingFailure) -> HostPathError {
        HostPathError::EngineUnreachable {
            endpoint: self.endpoint.url(),
            failure,
        }
    }

    fn client(&self, version: &bollard::ClientVersion) -> Result<bollard::Docker, HostPathError> {
        ping::connect(&self.endpoint, self.timeout, version).map_err(|f| self.unreachable(f))
    }

    async fn inspect_negotiated(
        &self,
        reference: &str,
    ) -> Result<Option<ContainerFacts>, HostPathError> {
        // bollard asks with its own (newer) API version; an older engine
        // answers 400 naming the version it supports (as in ping.rs).
        let docker = self.client(bollard::API_DEFAULT_VERSION)?;
        let answer = match docker.inspect_container(reference, None).await {
            Err(BollardError::DockerResponseServerError {
                status_code: 400,
                message,
            }) => match diagnosis::supported_api_version(&message) {
                Some(version) => {
                    self.client(&version)?
                        .inspect_container(reference, None)
                        .await
                }
                None => Err(BollardError::DockerResponseServerError {
                    status_code: 400,
                    message,
                }),
            },
            other => other,
        };
        match answer {
            Ok(inspect) => Ok(Some(ContainerFacts::from_inspect(&inspect))),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(err) => Err(self.unreachable(with_deadline(
                diagnosis::classify(&err, &self.endpoint),
                self.timeout,
            ))),
        }
    }
}

impl ContainerLookup for EngineLookup {
    async fn inspect(&self, reference: &str) -> Result<Option<ContainerFacts>, HostPathError> {
        if matches!(self.endpoint, Endpoint::Ssh { .. }) {
            return Err(HostPathError::NoEngine {
                reason: format!(
                    "{} is an ssh engine; host paths need the engine API over a socket or tcp",
                    self.endpoint
                ),
            });
        }
        match tokio::time::timeout(self.timeout, self.inspect_negotiated(reference)).await {
            Ok(result) => result,
            Err(_) => Err(self.unreachable(PingFailure::Timeout {
                address: self.endpoint.url(),
                after_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            })),
        }
    }

    fn endpoint(&self) -> String {
        self.endpoint.url()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const ID: &str = "3fa3690105bd9034ad7b4554749d5c5baddc4c927affe1354e2a5e2d9d81aa12";

    fn mountinfo(root_dir: &str) -> MountInfo {
        MountInfo::parse(&format!(
            "78 60 0:50 / / rw - overlay overlay rw\n\
             95 78 254:0 {root_dir}/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw\n\
             96 78 254:0 {root_dir}/{ID}/hostname /etc/hostname rw - ext4 /dev/vda rw\n\
             97 78 254:0 {root_dir}/{ID}/hosts /etc/hosts rw - ext4 /dev/vda rw\n"
        ))
    }

    fn mount(kind: &str, source: &str, destination: &str) -> ContainerMount {
        ContainerMount {
            kind: kind.into(),
            source: source.into(),
            destination: destination.into(),
        }
    }

    fn facts(mounts: Vec<ContainerMount>) -> ContainerFacts {
        ContainerFacts {
            id: ID.into(),
            hostname: Some(ID[..12].into()),
            mounts,
        }
    }

    #[test]
    fn id_from_the_hostname_mount_with_any_data_root() {
        let found = container_id_from_mountinfo(&mountinfo("/var/lib/docker/containers"));
        assert_eq!(
            found,
            Some(SelfReference::MountedFile {
                id: ID.into(),
                file: "/etc/hostname".into()
            })
        );
        // A data root on its own partition shows as a root relative to it.
        let found = container_id_from_mountinfo(&mountinfo("/containers")).unwrap();
        assert_eq!(found.reference(), ID);
        // podman's layout.
        assert_eq!(
            container_id_in_root(&format!(
                "/var/lib/containers/storage/overlay-containers/{ID}/userdata/hostname"
            ))
            .as_deref(),
            Some(ID)
        );
    }

    #[test]
    fn id_falls_back_to_hosts_then_resolv_conf() {
        let info = MountInfo::parse(&format!(
            "1 0 0:1 / / rw - overlay overlay rw\n\
             2 1 0:2 /somewhere/else /etc/hostname rw - ext4 /dev/vda rw\n\
             3 1 0:2 /d/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw\n"
        ));
        let found = container_id_from_mountinfo(&info).unwrap();
        assert_eq!(
            found,
            SelfReference::MountedFile {
                id: ID.into(),
                file: "/etc/resolv.conf".into()
            }
        );
    }

    #[test]
    fn no_id_on_a_plain_host_and_short_hex_is_not_an_id() {
        let info = MountInfo::parse("1 0 0:1 / / rw - ext4 /dev/sda1 rw\n");
        assert_eq!(container_id_from_mountinfo(&info), None);
        assert_eq!(container_id_in_root("/x/containers/abc123/hostname"), None);
        assert_eq!(
            self_references(&info, Some("3fa369010")),
            vec![SelfReference::Hostname("3fa369010".into())]
        );
        assert!(self_references(&info, Some("  ")).is_empty());
    }

    #[test]
    fn longest_destination_wins_component_wise() {
        let f = facts(vec![
            mount("bind", "/srv/app", "/var/lib/app"),
            mount("bind", "/srv/compiles", "/var/lib/app/data/compiles"),
            mount(
                "volume",
                "/var/lib/docker/volumes/v/_data",
                "/var/lib/app/data",
            ),
            mount("bind", "/srv/other", "/var/lib/app/data/comp"),
        ]);
        let host = |dir: &str| translate(Path::new(dir), &f);
        assert_eq!(
            host("/var/lib/app/data/compiles"),
            Ok(PathBuf::from("/srv/compiles"))
        );
        assert_eq!(
            host("/var/lib/app/data/compiles/job-1/"),
            Ok(PathBuf::from("/srv/compiles/job-1"))
        );
        // "/var/lib/app/data/comp" is not a component-wise prefix of ".../compiles2".
        assert_eq!(
            host("/var/lib/app/data/compiles2"),
            Ok(PathBuf::from("/var/lib/docker/volumes/v/_data/compiles2"))
        );
        assert_eq!(
            host("/var/lib/app/./x/../logs"),
            Ok(PathBuf::from("/srv/app/logs"))
        );
    }

    #[test]
    fn dirs_off_mounts_and_tmpfs_are_refused_with_the_fix() {
        let f = facts(vec![
            mount("bind", "/run/docker.sock", "/var/run/docker.sock"),
            mount("tmpfs", "", "/scratch"),
            mount("npipe", "", "/pipe"),
        ]);
        let err = translate(Path::new("/var/lib/app"), &f).unwrap_err();
        assert!(matches!(err, HostPathError::NotOnMount { .. }), "{err}");
        assert!(
            err.to_string().contains("-v /host/dir:/var/lib/app"),
            "{err}"
        );
        assert!(
            err.to_string().contains("/var/run/docker.sock (bind)"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 78);
        let err = translate(Path::new("/scratch/a"), &f).unwrap_err();
        assert!(matches!(err, HostPathError::Tmpfs { .. }), "{err}");
        assert!(err.to_string().contains("memory"), "{err}");
        let err = translate(Path::new("/pipe"), &f).unwrap_err();
        assert!(matches!(err, HostPathError::NoHostSource { .. }), "{err}");
        let err = translate(Path::new("/x"), &facts(vec![])).unwrap_err();
        assert!(err.to_string().contains("mounts: none"), "{err}");
    }

    /// `-v /srv/app:/app -v appvol:/vol`, and `/app/link -> /vol/real`.
    fn app_and_vol() -> ContainerFacts {
        facts(vec![
            mount("bind", "/srv/app", "/app"),
            mount("volume", "/var/lib/docker/volumes/appvol/_data", "/vol"),
        ])
    }

    #[test]
    fn a_symlink_into_another_mount_translates_through_that_mount() {
        let f = app_and_vol();
        let got = host_path_resolved(Path::new("/app/link"), Path::new("/vol/real"), &f, &f);
        assert_eq!(
            got,
            Ok(PathBuf::from("/var/lib/docker/volumes/appvol/_data/real"))
        );
    }

    #[test]
    fn a_symlink_out_of_every_mount_names_the_mount_it_left() {
        let f = app_and_vol();
        let err = host_path_resolved(Path::new("/app/escape"), Path::new("/etc/app"), &f, &f)
            .unwrap_err();
        assert_eq!(
            err,
            HostPathError::Escaped {
                dir: "/app/escape".into(),
                resolved: "/etc/app".into(),
                mount: "/app".into(),
                mounts: "/app (bind), /vol (volume)".into(),
            }
        );
        assert_eq!(err.exit_code(), 78);
        assert!(
            err.to_string().contains("leaves the mount at /app"),
            "{err}"
        );
        // Not reached through a mount at all: the plain error.
        let err =
            host_path_resolved(Path::new("/etc/app"), Path::new("/etc/app"), &f, &f).unwrap_err();
        assert!(matches!(err, HostPathError::NotOnMount { .. }), "{err}");
    }

    #[test]
    fn paths_resolve_as_the_kernel_resolves_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("vol/real")).unwrap();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::os::unix::fs::symlink(root.join("vol/real"), root.join("app/link")).unwrap();
        std::os::unix::fs::symlink("../vol", root.join("app/rel")).unwrap();
        assert_eq!(
            resolve_in_container(&root.join("app/link")),
            root.join("vol/real")
        );
        assert_eq!(
            resolve_in_container(&root.join("app/rel/real/./x/../y")),
            root.join("vol/real/y"),
            "a missing tail stays as written, on the resolved part"
        );
        assert_eq!(
            resolve_in_container(&root.join("app/link/not/yet")),
            root.join("vol/real/not/yet")
        );
        // Through the real file system, mounts at resolved destinations.
        let f = facts(vec![
            mount("bind", "/srv/app", &root.join("app").display().to_string()),
            mount(
                "volume",
                "/var/lib/docker/volumes/appvol/_data",
                &root.join("vol").display().to_string(),
            ),
        ]);
        assert_eq!(
            host_path_for(&root.join("app/link"), &f),
            Ok(PathBuf::from("/var/lib/docker/volumes/appvol/_data/real"))
        );
    }

    #[test]
    fn inspect_json_gives_mounts_and_tmpfs() {
        let json = serde_json::json!({
            "Id": ID,
            "Config": {"Hostname": "worker"},
            "HostConfig": {"Tmpfs": {"/run/scratch": "size=64m"}},
            "Mounts": [
                {"Type": "bind", "Source": "/srv/c", "Destination": "/data", "Mode": "", "RW": true, "Propagation": "rprivate"},
                {"Type": "volume", "Name": "v", "Source": "/var/lib/docker/volumes/v/_data", "Destination": "/vol", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""}
            ]
        });
        let inspect: ContainerInspectResponse = serde_json::from_value(json).unwrap();
        let f = ContainerFacts::from_inspect(&inspect);
        assert_eq!(f.id, ID);
        assert_eq!(f.hostname.as_deref(), Some("worker"));
        assert_eq!(
            f.mounts,
            vec![
                mount("bind", "/srv/c", "/data"),
                mount("volume", "/var/lib/docker/volumes/v/_data", "/vol"),
                mount("tmpfs", "", "/run/scratch"),
            ]
        );
    }

    #[test]
    fn export_lists_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_exports("A=/x, B_2=/y/z ,").unwrap(),
            vec![
                HostPathExport {
                    var: "A".into(),
                    dir: "/x".into()
                },
                HostPathExport {
                    var: "B_2".into(),
                    dir: "/y/z".into()
                },
            ]
        );
        assert_eq!(parse_exports("").unwrap(), vec![]);
        assert!(parse_exports("A").unwrap_err().contains("no '='"));
        assert!(parse_exports("1A=/x")
            .unwrap_err()
            .contains("variable name"));
        assert!(parse_exports("A-B=/x")
            .unwrap_err()
            .contains("variable name"));
        assert!(parse_exports("A=rel").unwrap_err().contains("absolute"));
        assert!(parse_exports("A=/x,A=/y").unwrap_err().contains("twice"));
    }

    /// A fake engine: containers by exact reference; records what was asked.
    struct FakeEngine {
        containers: Vec<(String, ContainerFacts)>,
        asked: RefCell<Vec<String>>,
        down: bool,
    }

    impl FakeEngine {
        fn with(containers: Vec<(&str, ContainerFacts)>) -> FakeEngine {
            FakeEngine {
                containers: containers
                    .into_iter()
                    .map(|(r, f)| (r.to_string(), f))
                    .collect(),
                asked: RefCell::new(Vec::new()),
                down: false,
            }
        }
    }

    impl ContainerLookup for FakeEngine {
        async fn inspect(&self, reference: &str) -> Result<Option<ContainerFacts>, HostPathError> {
            self.asked.borrow_mut().push(reference.to_string());
            if self.down {
                return Err(HostPathError::EngineUnreachable {
                    endpoint: self.endpoint(),
                    failure: PingFailure::Refused {
                        address: self.endpoint(),
                    },
                });
            }
            Ok(self
                .containers
                .iter()
                .find(|(r, _)| r == reference)
                .map(|(_, f)| f.clone()))
        }

        fn endpoint(&self) -> String {
            "unix:///fake.sock".into()
        }
    }

    #[tokio::test]
    async fn own_container_by_mountinfo_id_then_by_hostname() {
        let us = facts(vec![mount("bind", "/srv", "/data")]);
        let engine = FakeEngine::with(vec![(ID, us.clone())]);
        let found = find_own_container(&engine, &mountinfo("/d/containers"), Some("h"))
            .await
            .unwrap();
        assert_eq!(found, us);
        assert_eq!(*engine.asked.borrow(), vec![ID.to_string()]);

        // No id in mountinfo: the hostname (the id's prefix) is tried.
        let engine = FakeEngine::with(vec![(&ID[..12], us.clone())]);
        let found = find_own_container(&engine, &MountInfo::default(), Some(&ID[..12]))
            .await
            .unwrap();
        assert_eq!(found.id, ID);
    }

    #[tokio::test]
    async fn a_namesake_is_not_us_and_errors_name_the_engine() {
        // Another container is *named* like our hostname, with another hostname.
        let mut other = facts(vec![]);
        other.id = "f".repeat(64);
        other.hostname = Some("x".into());
        let engine = FakeEngine::with(vec![("worker", other)]);
        let err = find_own_container(&engine, &mountinfo("/d/containers"), Some("worker"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HostPathError::OwnContainerNotFound { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("unix:///fake.sock"), "{text}");
        assert!(
            text.contains("running in a container on that engine"),
            "{text}"
        );
        assert!(text.contains("then the hostname"), "{text}");
        assert_eq!(err.exit_code(), 78);

        let err = find_own_container(&engine, &MountInfo::default(), None)
            .await
            .unwrap_err();
        assert_eq!(err, HostPathError::NoContainerId);

        let mut down = FakeEngine::with(vec![]);
        down.down = true;
        let err = find_own_container(&down, &mountinfo("/d/containers"), None)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 69);
        assert!(err.to_string().contains("connection refused"), "{err}");
    }

    #[tokio::test]
    async fn exports_resolve_per_engine_view() {
        let export = HostPathExport {
            var: "D".into(),
            dir: "/var/lib/app/./data".into(),
        };
        let never = |_: Endpoint, _: Duration| -> FakeEngine { panic!("no engine is asked") };
        let host = HostFacts::read();
        let own = resolve_exports(
            &[&export],
            &EngineView::Own,
            &never,
            DEFAULT_API_TIMEOUT,
            &host,
        )
        .await;
        assert_eq!(own, vec![Ok(PathBuf::from("/var/lib/app/data"))]);
        let none = resolve_exports(
            &[&export],
            &EngineView::None,
            &never,
            DEFAULT_API_TIMEOUT,
            &host,
        )
        .await;
        assert!(matches!(none[0], Err(HostPathError::NoEngine { .. })));
        assert_eq!(none[0].as_ref().unwrap_err().exit_code(), 69);
    }

    #[test]
    fn timeouts_get_their_deadline() {
        let t = |after_ms| PingFailure::Timeout {
            address: "a".into(),
            after_ms,
        };
        let deadline = Duration::from_secs(2);
        assert_eq!(with_deadline(t(0), deadline), t(2000));
        assert_eq!(with_deadline(t(7), deadline), t(7));
    }

    #[tokio::test]
    async fn a_dead_socket_is_an_unreachable_engine() {
        let dir = tempfile::tempdir().unwrap();
        let lookup = EngineLookup::new(
            Endpoint::Unix {
                path: dir.path().join("none.sock"),
            },
            Duration::from_millis(500),
        );
        let err = lookup.inspect(ID).await.unwrap_err();
        assert_eq!(err.exit_code(), 69, "{err}");
        assert!(err.to_string().contains("none.sock"), "{err}");
    }
}
