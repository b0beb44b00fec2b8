//! A docker CLI context for the user, naming berth's socket: how later
//! `docker exec -u dev CONTAINER docker ...` sessions find it when berth
//! cannot serve the default path (the host's socket is mounted there).
//!
//! Such a session gets the container's configured environment, not the one
//! berth gives its command, and runs no login shell, so neither an exported
//! DOCKER_HOST nor a profile.d snippet reaches it; a bind mount over
//! /var/run/docker.sock would (a `docker exec` joins berth's mount
//! namespace) but needs CAP_SYS_ADMIN, which a container that merely has the
//! host socket mounted does not have. The docker CLI (and its plugins:
//! Compose, buildx) reads `currentContext` from `$HOME/.docker/config.json`
//! in every session, so berth writes a context named [`CONTEXT_NAME`] there
//! and makes it current, as `docker context create` and `docker context
//! use` would:
//!
//! - `~/.docker/contexts/meta/<sha256 of the name>/meta.json`:
//!   `{"Name":"berth","Metadata":{...},"Endpoints":{"docker":{"Host":"unix:///run/berth/docker.sock","SkipTLSVerify":false}}}`
//! - `~/.docker/config.json`: `currentContext` set, every other key kept.
//!
//! A `currentContext` the user chose (anything but empty, `default` or
//! berth's) is left alone. The files are written with the user's file
//! system identity (setfsuid/setfsgid on this thread), so they are the
//! user's and berth, root, writes nothing the user could not write: a
//! symlink planted in the home directory gets the user's permissions, not
//! root's. DOCKER_HOST, when set in a session, still wins over the context
//! (the CLI's precedence): then that session bypasses berth's socket.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The name of the context berth writes.
pub const CONTEXT_NAME: &str = "berth";
/// config.json's mode when berth creates it (the CLI's own).
const CONFIG_MODE: u32 = 0o600;
/// meta.json's mode (the CLI's own).
const META_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("the home directory {home} does not exist; `docker exec` sessions as this user cannot be pointed at berth's socket (give the user a home, or set DOCKER_HOST=unix://{socket} in those sessions)", home = home.display(), socket = socket.display())]
    NoHome { home: PathBuf, socket: PathBuf },
    #[error("{path} is not a JSON object; berth does not rewrite it (fix it, or run `docker context use berth`)", path = path.display())]
    NotJson { path: PathBuf },
    #[error("cannot write {path} as the user: {source}", path = path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {path} as the user: {source}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What [`make_current`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextOutcome {
    /// The context exists and is current (written now or already).
    Current { config: PathBuf },
    /// The context was written, but the user's config names another one.
    UserChoseAnother { config: PathBuf, current: String },
}

impl fmt::Display for ContextOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextOutcome::Current { config } => write!(
                f,
                "docker context `{CONTEXT_NAME}` is current in {}",
                config.display()
            ),
            ContextOutcome::UserChoseAnother { config, current } => write!(
                f,
                "{} selects the docker context `{current}`, so `docker` in exec sessions uses it, not berth's socket; `docker context use {CONTEXT_NAME}` switches",
                config.display()
            ),
        }
    }
}

/// Who the files are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOwner {
    pub uid: u32,
    pub gid: u32,
}

/// The directory name of a context: the hex SHA-256 of its name (the docker
/// CLI's context store, `contextdirOf`).
pub fn context_dir_name(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The meta.json of a context whose docker endpoint is `host` (a URL).
pub fn meta_json(name: &str, host: &str) -> String {
    serde_json::json!({
        "Name": name,
        "Metadata": { "Description": "berth's socket in front of the host's Docker engine" },
        "Endpoints": { "docker": { "Host": host, "SkipTLSVerify": false } },
    })
    .to_string()
}

/// Writes the context for `socket` under `config_dir` (`$HOME/.docker`, or
/// DOCKER_CONFIG) and makes it current, as `owner`; `home` must exist.
pub fn make_current(
    home: &Path,
    config_dir: &Path,
    owner: FileOwner,
    socket: &Path,
) -> Result<ContextOutcome, ContextError> {
    let _as_user = FsIdentity::become_(owner);
    if !home.is_dir() {
        return Err(ContextError::NoHome {
            home: home.to_owned(),
            socket: socket.to_owned(),
        });
    }
    let meta_dir = config_dir
        .join("contexts")
        .join("meta")
        .join(context_dir_name(CONTEXT_NAME));
    create_dirs(config_dir, &meta_dir)?;
    let host = format!("unix://{}", socket.display());
    let meta = meta_dir.join("meta.json");
    write(&meta, meta_json(CONTEXT_NAME, &host).as_bytes(), META_MODE)?;

    let config = config_dir.join("config.json");
    let (mut object, mode) = match fs::read(&config) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => (object, file_mode(&config)),
            _ => return Err(ContextError::NotJson { path: config }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Map::new(), CONFIG_MODE),
        Err(source) => {
            return Err(ContextError::Read {
                path: config,
                source,
            })
        }
    };
    match object.get("currentContext").and_then(Value::as_str) {
        Some(CONTEXT_NAME) => return Ok(ContextOutcome::Current { config }),
        Some(current) if !current.is_empty() && current != "default" => {
            return Ok(ContextOutcome::UserChoseAnother {
                current: current.to_owned(),
                config,
            })
        }
        _ => {}
    }
    object.insert("currentContext".into(), Value::from(CONTEXT_NAME));
    let mut text = serde_json::to_string_pretty(&Value::Object(object))
        .unwrap_or_else(|_| format!("{{\"currentContext\":\"{CONTEXT_NAME}\"}}"));
    text.push('\n');
    write(&config, text.as_bytes(), mode)?;
    Ok(ContextOutcome::Current { config })
}

fn create_dirs(config_dir: &Path, meta_dir: &Path) -> Result<(), ContextError> {
    use std::os::unix::fs::DirBuilderExt;
    // ~/.docker itself as the CLI makes it; the rest 0755 like the CLI's store.
    for (dir, mode) in [(config_dir, 0o700), (meta_dir, 0o755)] {
        if dir.is_dir() {
            continue;
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|source| ContextError::Write {
                path: dir.to_owned(),
                source,
            })?;
    }
    Ok(())
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), ContextError> {
    crate::host::files::write_atomic(path, contents, mode, None).map_err(|source| {
        ContextError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).map_or(CONFIG_MODE, |m| m.mode() & 0o7777)
}

/// This thread's file system uid and gid switched to the user's for as
/// long as it lives (setfsuid(2): permission checks and the owner of new
/// files; the capabilities that bypass file permissions drop with a
/// non-zero fsuid), then back.
struct FsIdentity {
    previous: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl FsIdentity {
    fn become_(owner: FileOwner) -> FsIdentity {
        let (uid, gid) = (
            nix::unistd::Uid::from_raw(owner.uid),
            nix::unistd::Gid::from_raw(owner.gid),
        );
        if nix::unistd::geteuid() == uid {
            return FsIdentity { previous: None };
        }
        // The gid first: it needs CAP_SETGID, which a non-zero fsuid keeps,
        // but the order mirrors setgid-before-setuid everywhere else.
        let previous_gid = nix::unistd::setfsgid(gid);
        let previous_uid = nix::unistd::setfsuid(uid);
        FsIdentity {
            previous: Some((previous_uid, previous_gid)),
        }
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        if let Some((uid, gid)) = self.previous {
            nix::unistd::setfsuid(uid);
            nix::unistd::setfsgid(gid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::client::endpoint::{
        configured_endpoint, DockerEnv, Endpoint, EndpointSource,
    };
    use std::collections::BTreeMap;
    use std::os::unix::fs::MetadataExt;

    fn me() -> FileOwner {
        FileOwner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }

    #[test]
    fn the_directory_is_the_names_sha256() {
        // `echo -n berth | sha256sum`, and the directory `docker context
        // create berth` made (docker CLI 28.2).
        assert_eq!(
            context_dir_name("berth"),
            "5c2f64c7f21efd5fb5e3d6a499abe5eacb248ae6f6f0085387c9a056d10ef5fd"
        );
    }

    #[test]
    fn the_context_is_written_and_read_back_as_the_cli_would() {
        let home = tempfile::tempdir().expect("tempdir");
        let config_dir = home.path().join(".docker");
        let socket = Path::new("/run/berth/docker.sock");
        let outcome = make_current(home.path(), &config_dir, me(), socket).expect("written");
        assert_eq!(
            outcome,
            ContextOutcome::Current {
                config: config_dir.join("config.json")
            }
        );
        let env = DockerEnv::from_map(&BTreeMap::from([(
            "HOME".to_owned(),
            home.path().display().to_string(),
        )]));
        let configured = configured_endpoint(&env)
            .expect("readable")
            .expect("a context");
        assert_eq!(
            configured.endpoint,
            Endpoint::Unix {
                path: socket.to_owned()
            }
        );
        assert!(
            matches!(configured.source, EndpointSource::Context { ref name, .. } if name == "berth")
        );
        let mode = |p: &Path| fs::metadata(p).expect("stat").mode() & 0o7777;
        assert_eq!(mode(&config_dir), 0o700);
        assert_eq!(mode(&config_dir.join("config.json")), 0o600);
    }

    #[test]
    fn other_settings_are_kept_and_a_users_own_context_is_left_alone() {
        let home = tempfile::tempdir().expect("tempdir");
        let config_dir = home.path().join(".docker");
        fs::create_dir(&config_dir).expect("mkdir");
        let config = config_dir.join("config.json");
        fs::write(
            &config,
            r#"{"auths":{"r.example":{"auth":"eA=="}},"currentContext":"default"}"#,
        )
        .expect("write");
        let socket = Path::new("/run/berth/docker.sock");
        make_current(home.path(), &config_dir, me(), socket).expect("written");
        let json: Value = serde_json::from_slice(&fs::read(&config).expect("read")).expect("json");
        assert_eq!(json["currentContext"], "berth");
        assert_eq!(json["auths"]["r.example"]["auth"], "eA==");

        fs::write(&config, r#"{"currentContext":"remote-builder"}"#).expect("write");
        let outcome = make_current(home.path(), &config_dir, me(), socket).expect("written");
        assert!(
            matches!(outcome, ContextOutcome::UserChoseAnother { ref current, .. } if current == "remote-builder"),
            "{outcome:?}"
        );
        assert_eq!(
            fs::read_to_string(&config).expect("read"),
            r#"{"currentContext":"remote-builder"}"#
        );

        fs::write(&config, "not json").expect("write");
        let err = make_current(home.path(), &config_dir, me(), socket).expect_err("refused");
        assert!(matches!(err, ContextError::NotJson { .. }), "{err}");
    }

    #[test]
    fn a_missing_home_is_an_error_naming_the_way_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("nobody");
        let err = make_current(
            &home,
            &home.join(".docker"),
            me(),
            Path::new("/run/berth/docker.sock"),
        )
        .expect_err("no home");
        assert!(
            err.to_string()
                .contains("DOCKER_HOST=unix:///run/berth/docker.sock"),
            "{err}"
        );
        assert!(!home.exists());
    }

    #[test]
    fn files_are_written_with_the_users_identity() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: switching the file system identity needs root");
            return;
        }
        let home = tempfile::tempdir().expect("tempdir");
        let user = FileOwner {
            uid: 4321,
            gid: 4322,
        };
        std::os::unix::fs::chown(home.path(), Some(user.uid), Some(user.gid)).expect("chown");
        let config_dir = home.path().join(".docker");
        make_current(
            home.path(),
            &config_dir,
            user,
            Path::new("/run/berth/docker.sock"),
        )
        .expect("written");
        for path in [config_dir.clone(), config_dir.join("config.json")] {
            let meta = fs::metadata(&path).expect("stat");
            assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "{}", path.display());
        }
        // A home the user cannot write: berth, root, does not write it either.
        let locked = tempfile::tempdir().expect("tempdir");
        let err = make_current(
            locked.path(),
            &locked.path().join(".docker"),
            user,
            Path::new("/s"),
        )
        .expect_err("the user cannot write there");
        assert!(matches!(err, ContextError::Write { .. }), "{err}");
        // And berth's own identity is back.
        assert_eq!(
            nix::unistd::setfsuid(nix::unistd::Uid::from_raw(0)).as_raw(),
            0
        );
    }
}
