//! The user's access to an engine's socket, granting Docker and nothing
//! more (DESIGN invariant 7). [`rule::decide`] chooses between membership
//! of the socket's group ([`group`]) and a socket of berth's own in front of
//! the engine ([`proxy`]); where berth's socket cannot take the default
//! path, later docker CLI sessions find it through a docker context
//! ([`cli_context`]).
//!
//! Which host layout gets what (the user is not root and lacks the gid):
//!
//! | the engine's socket | its gid in the image | access | how the user's clients find it |
//! |---|---|---|---|
//! | anywhere | unknown, or a Docker group | group | the socket itself |
//! | elsewhere than /var/run/docker.sock (`/var/run/docker-host.sock`, the docker-outside-of-docker feature's place, or `DOCKER_HOST=unix://...`) | 0, or any other group | berth's socket at /var/run/docker.sock | every client, with no configuration |
//! | /var/run/docker.sock itself | 0, or any other group | berth's socket at /run/berth/docker.sock | the command: DOCKER_HOST; `docker exec` sessions: the docker CLI context `berth` |

pub mod cli_context;
pub mod group;
pub mod proxy;
pub mod rule;

use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::docker::access::cli_context::{ContextOutcome, FileOwner};
use crate::docker::access::group::{
    fix_socket_group, GroupPaths, GroupUser, Outcome, RealAccountFiles, RootGroupPolicy,
};
use crate::docker::access::proxy::ProxySocket;
use crate::docker::access::rule::{Access, ProxyGroup};
use crate::docker::client::endpoint::DEFAULT_SOCKETS;
use crate::docker::detect::{Detection, SocketFacts};
use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::Mode;
use crate::host::users::{Groups, Passwd};
use crate::host::HostFacts;
use crate::init::spawn::Credentials;

/// Where berth's socket goes when the default path is the engine's own.
pub const PROXY_SOCKET: &str = "/run/berth/docker.sock";

/// The files and paths access works with (the real ones by default; tests
/// point them into a temp dir).
#[derive(Debug, Clone)]
pub struct AccessPaths {
    pub accounts: GroupPaths,
    pub passwd: PathBuf,
    /// Where clients look without configuration.
    pub default_socket: PathBuf,
    /// berth's socket when [`Self::default_socket`] is the engine's.
    pub proxy_socket: PathBuf,
}

impl Default for AccessPaths {
    fn default() -> Self {
        AccessPaths {
            accounts: GroupPaths::default(),
            passwd: PathBuf::from("/etc/passwd"),
            default_socket: PathBuf::from(DEFAULT_SOCKETS[0]),
            proxy_socket: PathBuf::from(PROXY_SOCKET),
        }
    }
}

/// Where berth serves its socket, and so how clients find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// At the default path: every client finds it with no configuration.
    DefaultPath,
    /// Beside the engine's socket, which holds the default path: the
    /// command gets DOCKER_HOST, the user's docker CLI a context.
    CliContext,
}

/// berth's socket, as planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyPlan {
    pub path: PathBuf,
    pub group: ProxyGroup,
    pub layout: Layout,
}

/// What berth does (or, in `berth doctor`, would do) for the user's access
/// to the engine's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessPlan {
    /// The engine's socket.
    pub socket: PathBuf,
    pub access: Access,
    pub user: Option<String>,
    /// The user has the socket's gid already: nothing is granted.
    pub user_has_gid: bool,
    /// Set for [`Access::Proxy`] when the user lacks the gid.
    pub proxy: Option<ProxyPlan>,
    /// DOCKER_HOST in berth's environment names the engine's socket
    /// itself: `docker exec` sessions inherit it and bypass berth's socket.
    pub docker_host_bypasses: bool,
    /// The socket is berth's own, served by this pid (doctor in a running
    /// container).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by_berth: Option<i32>,
}

impl AccessPlan {
    /// One sentence: what the user gets (why: [`Self::access`]'s Display).
    pub fn summary(&self) -> String {
        let who = self.user.as_deref().unwrap_or("the user");
        if let (Some(pid), true) = (self.served_by_berth, self.user_has_gid) {
            return format!(
                "{} is berth's own socket (pid {pid}) in front of the engine, and {who} has its gid {}",
                self.socket.display(),
                self.access.gid(),
            );
        }
        if self.user_has_gid {
            return format!(
                "{who} already has gid {} of {}: nothing to grant",
                self.access.gid(),
                self.socket.display()
            );
        }
        match (&self.access, &self.proxy) {
            (Access::Group { gid, group }, _) => format!(
                "{who} joins {} (gid {gid}) for {}",
                group.as_deref().unwrap_or(group::CREATED_GROUP_NAME),
                self.socket.display(),
            ),
            (Access::Proxy { .. }, Some(proxy)) => {
                let found = match proxy.layout {
                    Layout::DefaultPath => "every client finds it there".to_string(),
                    Layout::CliContext => format!(
                        "the command gets DOCKER_HOST and {who}'s docker CLI the context `{}`",
                        cli_context::CONTEXT_NAME
                    ),
                };
                format!(
                    "berth serves {} (root:{} 0660) in front of {} and {who} joins {}; {found}",
                    proxy.path.display(),
                    proxy.group.name,
                    self.socket.display(),
                    proxy.group.name,
                )
            }
            (Access::Proxy { .. }, None) => format!(
                "{}; but no group for berth's socket is free, so {who} gets no access",
                self.access
            ),
        }
    }

    /// The `access` finding `berth doctor` shows.
    pub fn finding(&self) -> Finding {
        let verdict = if self.proxy.is_none() && self.access.is_proxy() && !self.user_has_gid {
            Verdict::Missing
        } else {
            Verdict::Chosen
        };
        let seen = if self.user_has_gid {
            self.summary()
        } else {
            format!("{} ({})", self.summary(), self.access)
        };
        Finding::new("access", verdict, seen).about(Mode::Socket)
    }

    /// A warning when DOCKER_HOST sends `docker exec` sessions around berth's socket.
    pub fn bypass_finding(&self) -> Option<Finding> {
        let proxy = self.proxy.as_ref().filter(|_| self.docker_host_bypasses)?;
        Some(
            Finding::new(
                "access",
                Verdict::Warning,
                format!(
                    "DOCKER_HOST names {} itself: the command gets berth's socket, but `docker exec` sessions inherit DOCKER_HOST and get \"permission denied\"",
                    self.socket.display()
                ),
            )
            .with_fix(format!(
                "mount the host's socket at /var/run/docker-host.sock and leave DOCKER_HOST unset (berth then serves /var/run/docker.sock), or set DOCKER_HOST=unix://{} for the container",
                proxy.path.display()
            ))
            .about(Mode::Socket),
        )
    }
}

/// Why access could not be planned.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct PlanError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// Plans `user`'s access to `socket` from the image's account files.
/// Reads only; `docker_host` is DOCKER_HOST of berth's environment.
pub fn plan(
    socket: &SocketFacts,
    user: &Credentials,
    paths: &AccessPaths,
    docker_host: Option<&str>,
) -> Result<AccessPlan, PlanError> {
    let groups = Groups::parse(
        &paths.accounts.group,
        &read_or_empty(&paths.accounts.group)?,
    );
    let passwd = Passwd::parse(&paths.passwd, &read_or_empty(&paths.passwd)?);
    let access = rule::decide(socket.gid, &groups, &passwd);
    let user_has_gid = user.uid == 0 || user.gid == socket.gid || user.groups.contains(&socket.gid);
    let proxy = match &access {
        Access::Proxy { .. } if !user_has_gid => rule::proxy_group(&groups, &passwd).map(|group| {
            let (layout, path) = layout(&socket.path, paths);
            ProxyPlan {
                path,
                group,
                layout,
            }
        }),
        _ => None,
    };
    let engine_url = format!("unix://{}", socket.path.display());
    Ok(AccessPlan {
        socket: socket.path.clone(),
        access,
        user: user.name.clone(),
        user_has_gid,
        proxy,
        docker_host_bypasses: docker_host.is_some_and(|h| h.trim_end_matches('/') == engine_url),
        served_by_berth: socket.served_by_berth,
    })
}

fn read_or_empty(path: &Path) -> Result<String, PlanError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        // A scratch image may have no /etc/group yet: berth creates it.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(PlanError {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The default path when it is free (absent, or a socket nothing answers:
/// berth's own from an earlier start) and not the engine's socket; else
/// [`AccessPaths::proxy_socket`].
fn layout(engine: &Path, paths: &AccessPaths) -> (Layout, PathBuf) {
    let default = &paths.default_socket;
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let is_engines = canonical(engine) == canonical(default);
    let free = match fs::symlink_metadata(default) {
        Err(e) => e.kind() == io::ErrorKind::NotFound,
        Ok(meta) => {
            meta.file_type().is_socket()
                && matches!(std::os::unix::net::UnixStream::connect(default), Err(e) if e.kind() == io::ErrorKind::ConnectionRefused)
        }
    };
    if free && !is_engines {
        (Layout::DefaultPath, default.clone())
    } else {
        (Layout::CliContext, paths.proxy_socket.clone())
    }
}

/// Whether `user` can use the socket detection chose, and how: the
/// findings `berth doctor` shows (the access chosen and why, and a
/// DOCKER_HOST that bypasses it). Reads only.
pub fn examine(
    detection: &Detection,
    user: Option<&Credentials>,
    host: &HostFacts,
) -> (Option<AccessPlan>, Vec<Finding>) {
    let (Some(socket), Some(user)) = (&detection.socket, user) else {
        return (None, Vec::new());
    };
    if user.uid == 0 {
        return (None, Vec::new());
    }
    match plan(
        socket,
        user,
        &AccessPaths::default(),
        host.var("DOCKER_HOST"),
    ) {
        Ok(plan) => {
            let mut findings = vec![plan.finding()];
            findings.extend(plan.bypass_finding());
            if !plan.user_has_gid && !host.is_root() {
                findings.push(
                    Finding::new("access", Verdict::Warning, format!("{} belongs to gid {}, which the user lacks, and berth is not root, so it can grant nothing", socket.path.display(), socket.gid))
                        .with_fix("start the container as root with --user NAME (berth drops to it), or add --group-add GID for a Docker group")
                        .about(Mode::Socket),
                );
            }
            (Some(plan), findings)
        }
        Err(err) => (
            None,
            vec![Finding::new("access", Verdict::Warning, err.to_string()).about(Mode::Socket)],
        ),
    }
}

/// What the run granted: groups for the command, and berth's socket when
/// it serves one (the command's DOCKER_HOST).
#[derive(Debug, Default)]
pub struct Granted {
    pub extra_groups: Vec<u32>,
    pub proxy: Option<PathBuf>,
}

/// Gives the target user access to the socket detection chose (nothing to
/// do for root): joins the socket's group, or serves berth's own socket
/// (its accept loop runs as a task on berth's LocalSet from here on).
/// Failures are warnings: the command runs without Docker access.
pub fn socket_access(
    detection: &Detection,
    user: Option<&Credentials>,
    host: &HostFacts,
    paths: &AccessPaths,
) -> Granted {
    let mut granted = Granted::default();
    let (Some(socket), Some(user)) = (&detection.socket, user) else {
        return granted;
    };
    if user.uid == 0 {
        return granted;
    }
    let plan = match plan(socket, user, paths, host.var("DOCKER_HOST")) {
        Ok(plan) => plan,
        Err(err) => {
            tracing::warn!(
                "cannot decide the user's access to {}: {err}",
                socket.path.display()
            );
            return granted;
        }
    };
    if plan.user_has_gid {
        tracing::info!(gid = socket.gid, "the user already has the socket's group");
        return granted;
    }
    if !host.is_root() {
        tracing::warn!(
            gid = socket.gid,
            "{} is owned by gid {}, which the user lacks, and berth is not root so it can grant nothing: \
             start the container as root with --user NAME (berth drops to it)",
            socket.path.display(),
            socket.gid,
        );
        return granted;
    }
    match &plan.access {
        Access::Group { .. } => {
            granted
                .extra_groups
                .extend(join_group(socket.gid, user, paths));
        }
        Access::Proxy { group, .. } => {
            let Some(proxy) = &plan.proxy else {
                tracing::warn!("{}", plan.summary());
                return granted;
            };
            if group.is_some() && socket.gid != 0 {
                // A gid the image gives to another group: say so where it shows.
                tracing::warn!(
                    gid = socket.gid,
                    group = group.as_deref().unwrap_or_default(),
                    "{} belongs to gid {}, which this image gives to `{}`; berth does not add {} to it and serves {} in front of the engine instead ({})",
                    socket.path.display(),
                    socket.gid,
                    group.as_deref().unwrap_or_default(),
                    user.name.as_deref().unwrap_or("the user"),
                    proxy.path.display(),
                    plan.access,
                );
            }
            if let Some(path) = serve(socket, proxy, paths) {
                granted
                    .extra_groups
                    .extend(join_group(proxy.group.gid, user, paths));
                if path != paths.default_socket {
                    point_cli_at(&path, user, host);
                }
                tracing::info!(socket = %path.display(), "{} ({})", plan.summary(), plan.access);
                if let Some(warning) = plan.bypass_finding() {
                    warning.log();
                }
                granted.proxy = Some(path);
            }
        }
    }
    granted
}

/// Binds berth's socket where the plan says (else beside the engine's:
/// the default path may have been taken since), and starts serving it.
fn serve(socket: &SocketFacts, proxy: &ProxyPlan, paths: &AccessPaths) -> Option<PathBuf> {
    let mut tried = vec![proxy.path.clone()];
    if proxy.path != paths.proxy_socket {
        tried.push(paths.proxy_socket.clone());
    }
    for path in tried {
        let wanted = ProxySocket {
            path: path.clone(),
            gid: proxy.group.gid,
            upstream: socket.path.clone(),
        };
        let bound = proxy::bind(&wanted).and_then(|listener| {
            tokio::net::UnixListener::from_std(listener).map_err(|source| proxy::ProxyError::Bind {
                path: path.clone(),
                source,
            })
        });
        match bound {
            Ok(listener) => {
                tokio::task::spawn_local(proxy::serve(
                    listener,
                    socket.path.clone(),
                    proxy::MAX_CONNECTIONS,
                ));
                return Some(path);
            }
            Err(err) => tracing::warn!("cannot serve berth's docker socket: {err}"),
        }
    }
    None
}

/// Makes `user` a member of `gid` in /etc/group (and gshadow); the gid for
/// the command either way, unless that failed outright.
fn join_group(gid: u32, user: &Credentials, paths: &AccessPaths) -> Option<u32> {
    let Some(name) = &user.name else {
        tracing::warn!(gid, "the user has no name in /etc/passwd, so no group can list it; giving gid {gid} to the command only");
        return Some(gid);
    };
    let fix = fix_socket_group(
        gid,
        GroupUser {
            name,
            primary_gid: user.gid,
        },
        &paths.accounts,
        &RealAccountFiles,
        RootGroupPolicy::Refuse,
    );
    match fix {
        Ok((plan, outcome)) => {
            tracing::info!(%plan, %outcome, "docker socket group");
            match outcome {
                Outcome::Unchanged { gid } | Outcome::Updated { gid, .. } => Some(gid),
                Outcome::DirectChildOnly { gid, warning } => {
                    tracing::warn!("{warning}");
                    Some(gid)
                }
                Outcome::RefusedRootGroup { explanation } => {
                    tracing::warn!("{explanation}");
                    None
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot give the user the docker socket's group");
            None
        }
    }
}

/// The docker CLI context for `user`, naming berth's socket at `path`.
fn point_cli_at(path: &Path, user: &Credentials, host: &HostFacts) {
    let config_dir = host
        .var("DOCKER_CONFIG")
        .map_or_else(|| user.home.join(".docker"), PathBuf::from);
    let owner = FileOwner {
        uid: user.uid,
        gid: user.gid,
    };
    match cli_context::make_current(&user.home, &config_dir, owner, path) {
        Ok(outcome @ ContextOutcome::Current { .. }) => tracing::info!("{outcome}"),
        Ok(outcome @ ContextOutcome::UserChoseAnother { .. }) => tracing::warn!("{outcome}"),
        Err(err) => tracing::warn!("`docker exec` sessions will not find berth's socket: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(path: &Path, gid: u32) -> SocketFacts {
        SocketFacts {
            path: path.to_owned(),
            gid,
            mode: 0o660,
            bind_mounted: true,
            served_by_berth: None,
            own_engine: None,
        }
    }

    fn dev() -> Credentials {
        Credentials {
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            name: Some("dev".into()),
            home: "/home/dev".into(),
        }
    }

    struct Files {
        dir: tempfile::TempDir,
        paths: AccessPaths,
    }

    fn files(group: &str) -> Files {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = AccessPaths {
            accounts: GroupPaths {
                group: dir.path().join("group"),
                gshadow: dir.path().join("gshadow"),
            },
            passwd: dir.path().join("passwd"),
            default_socket: dir.path().join("var-run/docker.sock"),
            proxy_socket: dir.path().join("run-berth/docker.sock"),
        };
        fs::write(&paths.accounts.group, group).expect("group");
        fs::write(&paths.passwd, "dev:x:1000:1000::/home/dev:/bin/bash\n").expect("passwd");
        Files { dir, paths }
    }

    const GROUP: &str = "root:x:0:\nshadow:x:42:\ndocker:x:101:\ndev:x:1000:\n";

    #[test]
    fn the_engines_socket_at_the_default_path_puts_berths_beside_it() {
        let f = files(GROUP);
        let engine = f.paths.default_socket.clone();
        fs::create_dir_all(engine.parent().expect("parent")).expect("mkdir");
        let _engine = std::os::unix::net::UnixListener::bind(&engine).expect("bind");
        let plan = plan(&socket(&engine, 42), &dev(), &f.paths, None).expect("plan");
        let proxy = plan.proxy.clone().expect("a proxy for shadow gid");
        assert_eq!(proxy.layout, Layout::CliContext);
        assert_eq!(proxy.path, f.paths.proxy_socket);
        assert_eq!(proxy.group.name, "docker");
        assert!(
            plan.summary().contains("context `berth`"),
            "{}",
            plan.summary()
        );
    }

    #[test]
    fn the_engines_socket_elsewhere_frees_the_default_path() {
        let f = files(GROUP);
        let engine = f.dir.path().join("docker-host.sock");
        let plan = plan(&socket(&engine, 0), &dev(), &f.paths, None).expect("plan");
        let proxy = plan.proxy.expect("a proxy for gid 0");
        assert_eq!(
            (proxy.layout, proxy.path),
            (Layout::DefaultPath, f.paths.default_socket.clone())
        );
        // berth's own socket from an earlier start (nothing answers) is free too.
        fs::create_dir_all(f.paths.default_socket.parent().expect("parent")).expect("mkdir");
        drop(std::os::unix::net::UnixListener::bind(&f.paths.default_socket).expect("bind"));
        let again = super::plan(&socket(&engine, 0), &dev(), &f.paths, None).expect("plan");
        assert_eq!(again.proxy.expect("proxy").layout, Layout::DefaultPath);
        // A live socket there is someone's: beside it.
        fs::remove_file(&f.paths.default_socket).expect("rm");
        let _live = std::os::unix::net::UnixListener::bind(&f.paths.default_socket).expect("bind");
        let beside = super::plan(&socket(&engine, 0), &dev(), &f.paths, None).expect("plan");
        assert_eq!(beside.proxy.expect("proxy").layout, Layout::CliContext);
    }

    #[test]
    fn a_group_grant_and_a_user_with_the_gid_need_no_proxy() {
        let f = files(GROUP);
        let engine = f.dir.path().join("docker.sock");
        let plan1 = plan(&socket(&engine, 101), &dev(), &f.paths, None).expect("plan");
        assert!(!plan1.access.is_proxy() && plan1.proxy.is_none());
        assert!(
            plan1.summary().contains("joins docker"),
            "{}",
            plan1.summary()
        );
        let mut in_shadow = dev();
        in_shadow.groups.push(42);
        let plan2 = plan(&socket(&engine, 42), &in_shadow, &f.paths, None).expect("plan");
        assert!(plan2.user_has_gid && plan2.proxy.is_none());
        assert_eq!(plan2.finding().verdict, Verdict::Chosen);
    }

    #[test]
    fn docker_host_naming_the_engines_socket_is_a_warning() {
        let f = files(GROUP);
        let engine = f.dir.path().join("docker-host.sock");
        let url = format!("unix://{}", engine.display());
        let plan = plan(&socket(&engine, 42), &dev(), &f.paths, Some(&url)).expect("plan");
        let warning = plan.bypass_finding().expect("a warning");
        assert_eq!(warning.verdict, Verdict::Warning);
        assert!(warning.seen.contains("docker exec"), "{}", warning.seen);
    }
}
