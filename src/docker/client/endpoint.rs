//! Where a Docker engine is: DOCKER_HOST, docker contexts, TLS material.
//!
//! Follows the docker CLI's precedence (cli/command/cli.go, resolveContextName):
//! DOCKER_HOST wins over DOCKER_CONTEXT, which wins over `currentContext` in
//! the CLI config; the context named `default` means the local socket. TLS is
//! on when DOCKER_TLS_VERIFY (or DOCKER_TLS) is non-empty, with ca.pem,
//! cert.pem and key.pem from DOCKER_CERT_PATH (default ~/.docker).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The docker CLI's default ports: 2376 with TLS, 2375 without.
pub const DEFAULT_TLS_PORT: u16 = 2376;
pub const DEFAULT_PLAIN_PORT: u16 = 2375;
/// The sockets a root engine listens on by default, in the order probed
/// (`/var/run` is usually a link to `/run`), then where the
/// docker-outside-of-docker devcontainer feature mounts the host's socket
/// (it serves /var/run/docker.sock itself; so does berth when it must, see
/// `docker::access`). The rootless engine's is `$XDG_RUNTIME_DIR/docker.sock`,
/// added from the environment.
pub const DEFAULT_SOCKETS: [&str; 3] = [
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/docker-host.sock",
];

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{var}={value:?}: scheme {scheme:?} is not supported (use unix://, tcp:// or ssh://)")]
    UnsupportedScheme {
        var: &'static str,
        value: String,
        scheme: String,
    },
    #[error("{var}={value:?}: {reason}")]
    BadAddress {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("docker context {name:?} (from {origin}) was not found under {dir}")]
    UnknownContext {
        name: String,
        origin: &'static str,
        dir: PathBuf,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("docker context {name:?} has no docker endpoint host")]
    ContextWithoutHost { name: String },
}

pub type Result<T, E = EndpointError> = std::result::Result<T, E>;

/// Client TLS material for a tcp endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    /// The directory holding all three, when they share one (DOCKER_CERT_PATH).
    pub fn dir(&self) -> Option<&Path> {
        let dir = self.ca.parent()?;
        (self.cert.parent() == Some(dir) && self.key.parent() == Some(dir)).then_some(dir)
    }

    /// The files that do not exist (yet: a sidecar may still be writing them).
    pub fn missing(&self) -> Vec<PathBuf> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .filter(|p| !p.is_file())
            .cloned()
            .collect()
    }
}

/// A Docker engine address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Endpoint {
    Unix {
        path: PathBuf,
    },
    Tcp {
        host: String,
        port: u16,
        tls: Option<TlsFiles>,
    },
    /// `ssh://[user@]host[:port]`, kept as written for ssh(1).
    Ssh {
        url: String,
    },
}

impl Endpoint {
    /// The URL form (`unix:///...`, `tcp://host:port`, `ssh://...`).
    pub fn url(&self) -> String {
        match self {
            Endpoint::Unix { path } => format!("unix://{}", path.display()),
            Endpoint::Tcp { host, port, .. } if host.contains(':') => {
                format!("tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port, .. } => format!("tcp://{host}:{port}"),
            Endpoint::Ssh { url } => url.clone(),
        }
    }
}

impl Endpoint {
    /// What a docker client needs in its environment to use this engine:
    /// DOCKER_HOST, and for TLS DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (the
    /// directory of the client's ca.pem, cert.pem and key.pem). The one
    /// place these variables are written.
    pub fn command_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("DOCKER_HOST".to_owned(), self.url())];
        if let Endpoint::Tcp { tls: Some(tls), .. } = self {
            env.push(("DOCKER_TLS_VERIFY".to_owned(), "1".to_owned()));
            if let Some(dir) = tls.dir() {
                env.push(("DOCKER_CERT_PATH".to_owned(), dir.display().to_string()));
            }
        }
        env
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())?;
        if let Endpoint::Tcp { tls: Some(_), .. } = self {
            f.write_str(" (TLS)")?;
        }
        Ok(())
    }
}

/// How TLS applies to a tcp address, resolved before parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSetting {
    Off,
    On(TlsFiles),
}

/// Parses a DOCKER_HOST-style address. `var` names the source in errors.
pub fn parse_host(var: &'static str, value: &str, tls: &TlsSetting) -> Result<Endpoint> {
    let bad = |reason| EndpointError::BadAddress {
        var,
        value: value.to_owned(),
        reason,
    };
    let (scheme, rest) = value
        .split_once("://")
        .ok_or_else(|| bad("expected scheme://address"))?;
    match scheme {
        "unix" if rest.starts_with('/') => Ok(Endpoint::Unix {
            path: PathBuf::from(rest),
        }),
        "unix" => Err(bad("a unix socket path must be absolute")),
        "tcp" | "http" | "https" => parse_tcp(rest, tls).ok_or_else(|| {
            bad("expected host[:port]: a host name, an IPv4 address or an [IPv6] address, and a port number")
        }),
        "ssh" if !rest.is_empty() => Ok(Endpoint::Ssh {
            url: value.to_owned(),
        }),
        "ssh" => Err(bad("expected ssh://[user@]host[:port]")),
        _ => Err(EndpointError::UnsupportedScheme {
            var,
            value: value.to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

fn parse_tcp(rest: &str, tls: &TlsSetting) -> Option<Endpoint> {
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return None;
    }
    let tls = match tls {
        TlsSetting::Off => None,
        TlsSetting::On(files) => Some(files.clone()),
    };
    let default_port = if tls.is_some() {
        DEFAULT_TLS_PORT
    } else {
        DEFAULT_PLAIN_PORT
    };
    Some(Endpoint::Tcp {
        host: host.to_owned(),
        port: port.unwrap_or(default_port),
        tls,
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`. None on a bad port or bracket,
/// or a host the docker CLI refuses, so what berth hands on as DOCKER_HOST
/// is an address every client parses: Go's url.Parse takes in a host only
/// letters, digits, `-._~!$&'()*+,;=`, `%` escapes and non-ASCII, and
/// net.SplitHostPort brackets only around the whole host (where `:` may
/// appear, for IPv6).
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if !host.chars().all(|c| c == ':' || is_host_char(c)) {
            return None;
        }
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if !host.chars().all(is_host_char) {
            return None;
        }
        (host, port)
    };
    let port = match port {
        Some(port) => Some(port.parse().ok()?),
        None => None,
    };
    Some((host, port))
}

/// A character Go's url.Parse accepts in a host name (`shouldEscape` with
/// `encodeHost`, plus `%` escapes and any non-ASCII).
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=%".contains(c) || !c.is_ascii()
}

/// The environment variables the docker CLI reads, as berth sees them.
#[derive(Debug, Clone, Default)]
pub struct DockerEnv {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub tls_verify: Option<String>,
    pub tls: Option<String>,
    pub cert_path: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl DockerEnv {
    pub fn from_map(env: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            docker_host: get("DOCKER_HOST"),
            docker_context: get("DOCKER_CONTEXT"),
            tls_verify: get("DOCKER_TLS_VERIFY"),
            tls: get("DOCKER_TLS"),
            cert_path: get("DOCKER_CERT_PATH").map(PathBuf::from),
            docker_config: get("DOCKER_CONFIG").map(PathBuf::from),
            home: get("HOME").map(PathBuf::from),
        }
    }

    /// ~/.docker, or DOCKER_CONFIG.
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }

    fn tls_setting(&self) -> TlsSetting {
        if self.tls_verify.is_none() && self.tls.is_none() {
            return TlsSetting::Off;
        }
        let dir = self
            .cert_path
            .clone()
            .or_else(|| self.config_dir())
            .unwrap_or_else(|| PathBuf::from(".docker"));
        TlsSetting::On(TlsFiles::in_dir(&dir))
    }
}

/// The docker client's variables that name files or a socket, made absolute
/// from `base` (the directory berth was started in): berth leaves that
/// directory once its command runs, and its later pings (the health server)
/// must still find the same certificates and socket, as the docker CLI
/// resolves them against its own working directory. DOCKER_CERT_PATH and
/// DOCKER_CONFIG when relative; DOCKER_HOST when it is `unix://` with a
/// relative path. Returns the variables changed, for the log.
pub fn anchor_client_paths(env: &mut BTreeMap<String, String>, base: &Path) -> Vec<&'static str> {
    let mut changed = Vec::new();
    for var in ["DOCKER_CERT_PATH", "DOCKER_CONFIG"] {
        if let Some(value) = env.get_mut(var).filter(|v| !v.is_empty()) {
            if Path::new(value.as_str()).is_relative() {
                *value = base.join(value.as_str()).display().to_string();
                changed.push(var);
            }
        }
    }
    if let Some(value) = env.get_mut("DOCKER_HOST") {
        if let Some(path) = value
            .strip_prefix("unix://")
            .filter(|p| !p.is_empty() && !p.starts_with('/'))
        {
            *value = format!("unix://{}", base.join(path).display());
            changed.push("DOCKER_HOST");
        }
    }
    changed
}

/// Where the configured endpoint came from, for evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum EndpointSource {
    DockerHost,
    Context { name: String, origin: &'static str },
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointSource::DockerHost => f.write_str("DOCKER_HOST"),
            EndpointSource::Context { name, origin } => {
                write!(f, "docker context {name:?} ({origin})")
            }
        }
    }
}

/// An endpoint the user configured (not a default path berth probes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfiguredEndpoint {
    pub source: EndpointSource,
    pub endpoint: Endpoint,
}

/// The endpoint the docker CLI would use, if one is configured at all.
/// Ok(None): nothing configured (or the `default` context): probe local sockets.
pub fn configured_endpoint(env: &DockerEnv) -> Result<Option<ConfiguredEndpoint>> {
    if let Some(host) = &env.docker_host {
        let endpoint = parse_host("DOCKER_HOST", host, &env.tls_setting())?;
        return Ok(Some(ConfiguredEndpoint {
            source: EndpointSource::DockerHost,
            endpoint,
        }));
    }
    let Some((name, origin)) = context_name(env)? else {
        return Ok(None);
    };
    if name == "default" {
        return Ok(None);
    }
    let endpoint = context_endpoint(env, &name, origin)?;
    Ok(Some(ConfiguredEndpoint {
        source: EndpointSource::Context { name, origin },
        endpoint,
    }))
}

/// The engine a docker client in this environment would use: the
/// configured one (DOCKER_HOST or a context), else the first default socket
/// that exists, else the rootless user's (`$XDG_RUNTIME_DIR/docker.sock`,
/// `/run/user/<euid>/docker.sock` without XDG_RUNTIME_DIR). Ok(None): none.
pub fn local_engine(env: &BTreeMap<String, String>, euid: u32) -> Result<Option<Endpoint>> {
    if let Some(configured) = configured_endpoint(&DockerEnv::from_map(env))? {
        return Ok(Some(configured.endpoint));
    }
    let runtime_dir = env
        .get("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{euid}")));
    Ok(DEFAULT_SOCKETS
        .iter()
        .map(PathBuf::from)
        .chain([runtime_dir.join("docker.sock")])
        .find(|path| path.exists())
        .map(|path| Endpoint::Unix { path }))
}

#[derive(Deserialize)]
struct CliConfig {
    #[serde(rename = "currentContext", default)]
    current_context: Option<String>,
}

fn context_name(env: &DockerEnv) -> Result<Option<(String, &'static str)>> {
    if let Some(name) = &env.docker_context {
        return Ok(Some((name.clone(), "DOCKER_CONTEXT")));
    }
    let Some(dir) = env.config_dir() else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    let Some(config) = read_json::<CliConfig>(&path)? else {
        return Ok(None);
    };
    Ok(config
        .current_context
        .filter(|c| !c.is_empty())
        .map(|c| (c, "currentContext in config.json")))
}

#[derive(Deserialize)]
struct ContextMeta {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Endpoints", default)]
    endpoints: BTreeMap<String, ContextEndpoint>,
}

#[derive(Deserialize)]
struct ContextEndpoint {
    #[serde(rename = "Host", default)]
    host: Option<String>,
}

/// Finds the context by scanning `contexts/meta/*/meta.json` for its Name
/// (the directory is the name's SHA-256; scanning needs no hash crate). Its
/// TLS files live in `contexts/tls/<same dir>/docker/`.
fn context_endpoint(env: &DockerEnv, name: &str, origin: &'static str) -> Result<Endpoint> {
    let base = env.config_dir().unwrap_or_else(|| PathBuf::from(".docker"));
    let meta_dir = base.join("contexts").join("meta");
    let unknown = || EndpointError::UnknownContext {
        name: name.to_owned(),
        origin,
        dir: meta_dir.clone(),
    };
    let entries = match fs::read_dir(&meta_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(unknown()),
        Err(source) => {
            return Err(EndpointError::Read {
                path: meta_dir.clone(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        let Some(meta) = read_json::<ContextMeta>(&entry.path().join("meta.json"))? else {
            continue;
        };
        if meta.name != name {
            continue;
        }
        let host = meta
            .endpoints
            .get("docker")
            .and_then(|e| e.host.clone())
            .ok_or_else(|| EndpointError::ContextWithoutHost {
                name: name.to_owned(),
            })?;
        let tls_dir = base
            .join("contexts")
            .join("tls")
            .join(entry.file_name())
            .join("docker");
        let tls = if tls_dir.is_dir() {
            TlsSetting::On(TlsFiles::in_dir(&tls_dir))
        } else {
            TlsSetting::Off
        };
        return parse_host("docker context Host", &host, &tls);
    }
    Err(unknown())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(EndpointError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| EndpointError::Json {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    /// Relative client paths hold after berth leaves its start directory
    /// (issue 13): they are made absolute from it once, at start.
    #[test]
    fn relative_client_paths_are_anchored_at_the_start_directory() {
        let mut env: BTreeMap<String, String> = [
            ("DOCKER_CERT_PATH", "certs/client"),
            ("DOCKER_CONFIG", "/abs/.docker"),
            ("DOCKER_HOST", "unix://run/docker.sock"),
            ("HOME", "home"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let changed = anchor_client_paths(&mut env, Path::new("/work/ws"));
        assert_eq!(changed, ["DOCKER_CERT_PATH", "DOCKER_HOST"]);
        assert_eq!(env["DOCKER_CERT_PATH"], "/work/ws/certs/client");
        assert_eq!(env["DOCKER_CONFIG"], "/abs/.docker");
        assert_eq!(env["DOCKER_HOST"], "unix:///work/ws/run/docker.sock");
        assert_eq!(env["HOME"], "home", "not a docker client path");
        let endpoint = configured_endpoint(&DockerEnv::from_map(&env))
            .expect("parses")
            .expect("configured");
        assert_eq!(
            endpoint.endpoint,
            Endpoint::Unix {
                path: "/work/ws/run/docker.sock".into()
            }
        );
        for fine in [
            "unix:///var/run/docker.sock",
            "tcp://docker:2376",
            "unix://",
        ] {
            let mut env = BTreeMap::from([("DOCKER_HOST".to_owned(), fine.to_owned())]);
            assert!(
                anchor_client_paths(&mut env, Path::new("/x")).is_empty(),
                "{fine}"
            );
            assert_eq!(env["DOCKER_HOST"], fine);
        }
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> DockerEnv {
        DockerEnv::from_map(
            &pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn parses_schemes_and_default_ports() {
        let off = TlsSetting::Off;
        let on = TlsSetting::On(TlsFiles::in_dir(Path::new("/certs")));
        assert_eq!(
            parse_host("DOCKER_HOST", "unix:///var/run/docker.sock", &off).expect("unix"),
            Endpoint::Unix {
                path: "/var/run/docker.sock".into()
            }
        );
        let tcp = |v: &str, t: &TlsSetting| parse_host("DOCKER_HOST", v, t).expect(v);
        assert!(matches!(
            tcp("tcp://docker", &off),
            Endpoint::Tcp { port: 2375, .. }
        ));
        assert!(matches!(
            tcp("tcp://docker", &on),
            Endpoint::Tcp {
                port: 2376,
                tls: Some(_),
                ..
            }
        ));
        assert!(matches!(
            tcp("tcp://10.0.0.1:1234/", &off),
            Endpoint::Tcp { port: 1234, .. }
        ));
        assert_eq!(
            tcp("tcp://[::1]:2376", &off).url(),
            "tcp://[::1]:2376".to_owned()
        );
        assert!(matches!(
            parse_host("DOCKER_HOST", "ssh://me@host:2222", &off),
            Ok(Endpoint::Ssh { .. })
        ));
    }

    /// Found by the `docker_host` fuzz target: `tcp://[[]` was taken as host
    /// "[", and the command got DOCKER_HOST=tcp://[:2375, which nothing
    /// parses. A host is what the docker CLI takes (Go's url.Parse and
    /// net.SplitHostPort): brackets only around an IPv6 address, and only
    /// characters a URL host may hold.
    #[test]
    fn hosts_the_cli_cannot_use_are_refused() {
        let off = TlsSetting::Off;
        for bad in [
            "tcp://[[]",
            "tcp://[[x]:1",
            "tcp://[a]]:1",
            "tcp://x]:2375",
            "tcp://a[b:2375",
            "tcp://a b:2375",
            "tcp://a\\b",
            "tcp://host{1}",
            "tcp://a|b:1",
        ] {
            let err = parse_host("DOCKER_HOST", bad, &off).expect_err(bad);
            assert!(err.to_string().contains("DOCKER_HOST"), "{err}");
        }
        for good in [
            "tcp://docker-1.example.com:2376",
            "tcp://[fe80::1%25eth0]:2376",
            "tcp://10.0.0.1",
            "tcp://my_host~x:1",
            "tcp://bücher.example",
        ] {
            let endpoint = parse_host("DOCKER_HOST", good, &off).expect(good);
            assert_eq!(
                parse_host("DOCKER_HOST", &endpoint.url(), &off).expect(good),
                endpoint
            );
        }
    }

    #[test]
    fn rejects_bad_addresses() {
        let off = TlsSetting::Off;
        for bad in [
            "docker:2375",
            "unix://relative",
            "tcp://",
            "tcp://h:port",
            "tcp://[::1",
            "ssh://",
            "tcp://::1:5",
        ] {
            assert!(
                matches!(
                    parse_host("DOCKER_HOST", bad, &off),
                    Err(EndpointError::BadAddress { .. })
                ),
                "{bad}"
            );
        }
        let err = parse_host("DOCKER_HOST", "fd://", &off).expect_err("fd");
        assert!(err.to_string().contains("not supported"), "{err}");
    }

    #[test]
    fn docker_host_with_tls_uses_cert_path() {
        let e = env(&[
            ("DOCKER_HOST", "tcp://docker:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs/client"),
            ("DOCKER_CONTEXT", "ignored-because-host-wins"),
        ]);
        let c = configured_endpoint(&e).expect("ok").expect("configured");
        assert_eq!(c.source, EndpointSource::DockerHost);
        let Endpoint::Tcp { tls: Some(tls), .. } = c.endpoint else {
            panic!("expected tls tcp endpoint");
        };
        assert_eq!(tls.key, Path::new("/certs/client/key.pem"));
        assert_eq!(tls.missing().len(), 3);
    }

    #[test]
    fn tls_cert_path_defaults_to_home_docker() {
        let e = env(&[
            ("DOCKER_HOST", "tcp://d"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("HOME", "/home/dev"),
        ]);
        let c = configured_endpoint(&e).expect("ok").expect("configured");
        assert!(
            matches!(c.endpoint, Endpoint::Tcp { tls: Some(ref t), .. } if t.ca == Path::new("/home/dev/.docker/ca.pem"))
        );
    }

    #[test]
    fn nothing_configured_is_none() {
        assert_eq!(
            configured_endpoint(&env(&[("HOME", "/nonexistent")])).expect("ok"),
            None
        );
        assert_eq!(
            configured_endpoint(&env(&[("DOCKER_CONTEXT", "default")])).expect("ok"),
            None
        );
    }

    fn write_context(home: &Path, dir: &str, name: &str, host: &str, tls: bool) {
        let meta = home.join(".docker/contexts/meta").join(dir);
        fs::create_dir_all(&meta).expect("mkdir");
        let json = format!(
            r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
        );
        fs::write(meta.join("meta.json"), json).expect("write");
        if tls {
            fs::create_dir_all(home.join(".docker/contexts/tls").join(dir).join("docker"))
                .expect("mkdir");
        }
    }

    #[test]
    fn current_context_from_config_json() {
        let home = tempfile::tempdir().expect("tempdir");
        write_context(home.path(), "aaaa", "other", "tcp://other:2375", false);
        write_context(home.path(), "bbbb", "remote", "tcp://builder:2376", true);
        fs::write(
            home.path().join(".docker/config.json"),
            r#"{"auths":{},"currentContext":"remote"}"#,
        )
        .expect("write");
        let e = env(&[("HOME", home.path().to_str().expect("utf8"))]);
        let c = configured_endpoint(&e).expect("ok").expect("configured");
        assert!(matches!(c.source, EndpointSource::Context { ref name, .. } if name == "remote"));
        let Endpoint::Tcp {
            host,
            tls: Some(tls),
            ..
        } = c.endpoint
        else {
            panic!("expected tls tcp endpoint");
        };
        assert_eq!(host, "builder");
        assert!(tls.ca.ends_with("contexts/tls/bbbb/docker/ca.pem"));
    }

    #[test]
    fn docker_context_env_and_unknown_context() {
        let home = tempfile::tempdir().expect("tempdir");
        write_context(home.path(), "cccc", "ssh-box", "ssh://me@box", false);
        let h = home.path().to_str().expect("utf8");
        let c = configured_endpoint(&env(&[("HOME", h), ("DOCKER_CONTEXT", "ssh-box")]))
            .expect("ok")
            .expect("configured");
        assert_eq!(
            c.endpoint,
            Endpoint::Ssh {
                url: "ssh://me@box".into()
            }
        );
        let err = configured_endpoint(&env(&[("HOME", h), ("DOCKER_CONTEXT", "nope")]))
            .expect_err("unknown");
        assert!(matches!(err, EndpointError::UnknownContext { .. }));
    }

    #[test]
    fn broken_config_json_is_an_error_naming_the_file() {
        let home = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(home.path().join(".docker")).expect("mkdir");
        fs::write(home.path().join(".docker/config.json"), "{not json").expect("write");
        let err = configured_endpoint(&env(&[("HOME", home.path().to_str().expect("utf8"))]))
            .expect_err("bad json");
        assert!(err.to_string().contains("config.json"), "{err}");
    }

    #[test]
    fn docker_host_wins() {
        let env = BTreeMap::from([("DOCKER_HOST".to_owned(), "tcp://10.1.2.3:2375".to_owned())]);
        let endpoint = local_engine(&env, 0).unwrap().unwrap();
        assert_eq!(endpoint.url(), "tcp://10.1.2.3:2375");
    }

    #[test]
    fn rootless_socket_is_found_through_xdg_runtime_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let env = BTreeMap::from([(
            "XDG_RUNTIME_DIR".to_owned(),
            dir.path().to_str().unwrap().to_owned(),
        )]);
        let found = local_engine(&env, 1000).unwrap();
        // The dind socket takes precedence when it exists on this machine.
        if !Path::new("/var/run/docker.sock").exists() && !Path::new("/run/docker.sock").exists() {
            assert_eq!(found, Some(Endpoint::Unix { path: sock }));
        }
    }

    #[test]
    fn command_env_renders_host_and_tls() {
        let unix = Endpoint::Unix {
            path: "/var/run/docker.sock".into(),
        };
        assert_eq!(
            unix.command_env(),
            vec![(
                "DOCKER_HOST".to_owned(),
                "unix:///var/run/docker.sock".to_owned()
            )]
        );
        let tls = Endpoint::Tcp {
            host: "docker".into(),
            port: 2376,
            tls: Some(TlsFiles::in_dir(Path::new("/certs/client"))),
        };
        let env = tls.command_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            env,
            [
                ("DOCKER_HOST", "tcp://docker:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs/client")
            ]
        );
    }
}
