//! Where the engine is and what it says: DOCKER_HOST, docker contexts, the
//! engine's text, and host paths from the engine's mount list.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::input::{parts, scratch, text_parts, write};
use crate::docker::client::diagnosis::supported_api_version;
use crate::docker::client::endpoint::{
    configured_endpoint, parse_host, DockerEnv, Endpoint, EndpointSource, TlsFiles, TlsSetting,
    DEFAULT_PLAIN_PORT, DEFAULT_TLS_PORT,
};
use crate::docker::engine::dockerd_args::{DaemonConfigFile, DockerdFeatures};
use crate::docker::host_path::{
    container_id_in_root, pick_mount, translate, ContainerFacts, ContainerMount,
};
use crate::host::mountinfo::normalize;

/// DOCKER_HOST. What parses is an engine berth can hand on: the command's
/// DOCKER_HOST ([`Endpoint::command_env`]) parses back to the same engine;
/// a unix path is absolute, a tcp host non-empty with the CLI's default
/// port for TLS or plain when none is given; ssh is kept as written. The
/// error names the variable. `configured_endpoint` gives the same answer.
pub fn docker_host(data: &[u8]) {
    let tls_on = data.first().is_some_and(|b| b & 1 == 1);
    let value = String::from_utf8_lossy(data.get(1..).unwrap_or_default());
    let tls = if tls_on {
        TlsSetting::On(TlsFiles::in_dir(Path::new("/certs")))
    } else {
        TlsSetting::Off
    };
    let parsed = parse_host("DOCKER_HOST", &value, &tls);
    let env = DockerEnv {
        docker_host: Some(value.to_string()),
        tls_verify: tls_on.then(|| "1".to_owned()),
        cert_path: Some(PathBuf::from("/certs")),
        ..DockerEnv::default()
    };
    let configured = configured_endpoint(&env);
    match (&parsed, &configured) {
        (Ok(a), Ok(Some(b))) => {
            assert_eq!(b.source, EndpointSource::DockerHost);
            assert_eq!(*a, b.endpoint);
        }
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        other => panic!("parse_host and configured_endpoint differ: {other:?}"),
    }
    let endpoint = match parsed {
        Ok(endpoint) => endpoint,
        Err(err) => {
            assert!(err.to_string().contains("DOCKER_HOST"), "{err}");
            return;
        }
    };
    match &endpoint {
        Endpoint::Unix { path } => assert!(path.is_absolute(), "{path:?}"),
        Endpoint::Tcp { host, port, tls } => {
            // What a URL host may hold (Go's url.Parse, which the docker CLI
            // uses), `:` only inside the brackets of an IPv6 address.
            assert!(!host.is_empty());
            assert!(
                host.chars().all(|c| c.is_ascii_alphanumeric()
                    || "-._~!$&'()*+,;=%:".contains(c)
                    || !c.is_ascii()),
                "{host:?}"
            );
            assert_eq!(tls.is_some(), tls_on);
            let authority = value.split_once("://").map_or("", |(_, r)| r);
            let authority = authority.split('/').next().unwrap_or_default();
            let explicit = authority
                .rsplit_once(':')
                .is_some_and(|(h, p)| !p.is_empty() && (!h.contains(':') || h.ends_with(']')));
            if !explicit {
                let default = if tls_on {
                    DEFAULT_TLS_PORT
                } else {
                    DEFAULT_PLAIN_PORT
                };
                assert_eq!(*port, default, "{value:?}");
            }
        }
        Endpoint::Ssh { url } => assert_eq!(*url, value),
    }
    let command_env = endpoint.command_env();
    let (name, url) = &command_env[0];
    assert_eq!(name, "DOCKER_HOST");
    let again = parse_host("DOCKER_HOST", url, &tls)
        .unwrap_or_else(|e| panic!("berth's own DOCKER_HOST {url:?} (from {value:?}): {e}"));
    assert_eq!(again, endpoint, "{value:?} -> {url:?}");
}

/// Docker contexts: `currentContext` in config.json (or DOCKER_CONTEXT) and
/// `contexts/meta/<dir>/meta.json`, written to a config dir. When both files
/// are JSON objects, the engine found is the docker endpoint `Host` of the
/// context with that `Name`, parsed as DOCKER_HOST is, with TLS exactly when
/// the context has a TLS dir; `default` means no configured engine.
///
/// Parts: config.json, meta.json, DOCKER_CONTEXT, the meta dir's name, a
/// flag byte (bit 0: the context has a TLS dir).
pub fn docker_context(data: &[u8]) {
    let [config, meta, context, dir_name, flags]: [&[u8]; 5] =
        parts(data, 5).try_into().expect("five parts");
    let base = scratch();
    let dir_name: String = String::from_utf8_lossy(dir_name)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(64)
        .collect();
    let dir_name = if dir_name.is_empty() {
        "0123abcd".to_owned()
    } else {
        dir_name
    };
    if !config.is_empty() {
        write(&base.join("config.json"), config);
    }
    write(
        &base.join("contexts/meta").join(&dir_name).join("meta.json"),
        meta,
    );
    let with_tls = flags.first().is_some_and(|b| b & 1 == 1);
    if with_tls {
        let tls = base.join("contexts/tls").join(&dir_name).join("docker");
        std::fs::create_dir_all(&tls).unwrap_or_else(|e| panic!("{}: {e}", tls.display()));
    }
    let context = String::from_utf8_lossy(context).into_owned();
    let env = DockerEnv {
        docker_context: Some(context.clone()).filter(|c| !c.is_empty()),
        docker_config: Some(base.clone()),
        ..DockerEnv::default()
    };
    let found = configured_endpoint(&env);

    let config_json: Option<Value> = serde_json::from_slice(config).ok();
    let meta_json: Option<Value> = serde_json::from_slice(meta).ok();
    let name = match &env.docker_context {
        Some(name) => name.clone(),
        None => match config_json.as_ref() {
            None if config.is_empty() => return assert!(matches!(found, Ok(None)), "{found:?}"),
            Some(Value::Object(map)) => match map.get("currentContext") {
                None | Some(Value::Null) => return assert!(matches!(found, Ok(None))),
                Some(Value::String(s)) if s.is_empty() => {
                    return assert!(matches!(found, Ok(None)), "{found:?}")
                }
                Some(Value::String(s)) => s.clone(),
                Some(_) => return assert!(found.is_err(), "{found:?}"),
            },
            _ => return,
        },
    };
    if name == "default" {
        return assert!(matches!(found, Ok(None)), "{found:?}");
    }
    let Some(Value::Object(meta)) = meta_json else {
        return;
    };
    // The shape berth's (and the CLI's) reader takes: endpoints are objects
    // whose Host, when there, is a string.
    let endpoints_ok = match meta.get("Endpoints") {
        None | Some(Value::Null) => true,
        Some(Value::Object(e)) => e.values().all(|v| {
            v.as_object().is_some_and(|o| {
                matches!(o.get("Host"), None | Some(Value::Null | Value::String(_)))
            })
        }),
        Some(_) => false,
    };
    if !endpoints_ok {
        return;
    }
    if meta.get("Name") != Some(&Value::String(name.clone())) {
        return assert!(found.is_err(), "context {name:?} is not there: {found:?}");
    }
    let host = meta
        .get("Endpoints")
        .and_then(|e| e.get("docker"))
        .and_then(|d| d.get("Host"));
    let Some(Value::String(host)) = host else {
        return assert!(found.is_err(), "context {name:?} has no host: {found:?}");
    };
    let tls = if with_tls {
        TlsSetting::On(TlsFiles::in_dir(
            &base.join("contexts/tls").join(&dir_name).join("docker"),
        ))
    } else {
        TlsSetting::Off
    };
    match (parse_host("docker context Host", host, &tls), found) {
        (Ok(want), Ok(Some(got))) => {
            assert_eq!(got.endpoint, want);
            assert!(
                matches!(&got.source, EndpointSource::Context { name: n, .. } if *n == name),
                "{:?}",
                got.source
            );
        }
        (Err(want), Err(got)) => assert_eq!(want.to_string(), got.to_string()),
        (want, got) => panic!("context {name:?} with Host {host:?}: want {want:?}, got {got:?}"),
    }
}

/// What the engine's programs print: `dockerd --help` (features) and the
/// API's "client version is too new" message (the version to retry with).
/// A feature once seen stays seen whatever follows; a version found is the
/// one the message states. The second part is also read as daemon.json:
/// what parses is a JSON object, and its `hosts` are the array it holds;
/// a TLS key set is seen.
pub fn engine_text(data: &[u8]) {
    let [help, more]: [String; 2] = text_parts(data, 2).try_into().expect("two parts");
    let features = DockerdFeatures::from_help(&help);
    let longer = DockerdFeatures::from_help(&format!("{help}{more}"));
    daemon_json(&more);
    assert!(!features.default_network_opt || longer.default_network_opt);
    if let Some(v) = supported_api_version(&help) {
        let again = supported_api_version(&format!(
            "client version 1.99 is too new. Maximum supported API version is {}.{}",
            v.major_version, v.minor_version
        ));
        assert_eq!(again, Some(v));
    }
}

fn daemon_json(text: &str) {
    let path = Path::new("/etc/docker/daemon.json");
    let Ok(file) = DaemonConfigFile::parse(path, text) else {
        return;
    };
    // serde_json's Value refuses numbers past f64 (`1e999`) in keys berth
    // skips; dockerd refuses that file itself, berth need not.
    let Ok(Value::Object(json)) = serde_json::from_str::<Value>(text) else {
        assert!(
            text.trim_start().starts_with('{'),
            "{text:?} is no JSON object"
        );
        return;
    };
    let hosts = json.get("hosts").and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|h| h.as_str().expect("a host is a string").to_owned())
            .collect::<Vec<_>>()
    });
    assert_eq!(file.hosts, hosts, "{text:?}");
    let tls_keys = ["tls", "tlsverify", "tlscacert", "tlscert", "tlskey"];
    if tls_keys
        .iter()
        .any(|k| json.get(*k).is_some_and(|v| !v.is_null()))
    {
        assert!(file.sets_tls, "{text:?}");
    }
}

/// `berth host-path` and BERTH_EXPORT_HOST_PATH: a directory's host path
/// from the engine's mount list. The mount used is the one whose
/// destination is the longest component-wise prefix of the directory; the
/// host path is that mount's source joined with the rest of the directory,
/// which never climbs out of the source (`..` is resolved first); tmpfs and
/// sourceless mounts are refused.
///
/// Input: the directory on the first line, then `kind<TAB>source<TAB>destination`
/// lines; then, after a NUL, mount roots to find a container id in.
pub fn host_path(data: &[u8]) {
    let [listing, roots]: [String; 2] = text_parts(data, 2).try_into().expect("two parts");
    for root in roots.lines() {
        if let Some(id) = container_id_in_root(root) {
            assert_eq!(id.len(), 64);
            assert!(id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            assert!(root.to_ascii_lowercase().contains(&id));
        }
    }
    let mut lines = listing.lines();
    let Some(dir) = lines.next() else { return };
    let mounts: Vec<ContainerMount> = lines
        .filter_map(|line| {
            let mut f = line.splitn(3, '\t');
            Some(ContainerMount {
                kind: f.next()?.to_owned(),
                source: PathBuf::from(f.next()?),
                destination: PathBuf::from(f.next()?),
            })
        })
        .collect();
    let dir = Path::new(dir);
    let facts = ContainerFacts {
        id: String::new(),
        hostname: None,
        mounts,
    };
    let normal = normalize(dir);
    let picked = pick_mount(dir, &facts.mounts);
    let depth = |m: &ContainerMount| normalize(&m.destination).components().count();
    for m in &facts.mounts {
        if normal.starts_with(normalize(&m.destination)) {
            let best = picked.expect("a mount holds the directory");
            assert!(depth(best) >= depth(m));
        }
    }
    match translate(dir, &facts) {
        Ok(host) => {
            let mount = picked.expect("translated through a mount");
            assert!(matches!(mount.kind.as_str(), "bind" | "volume"));
            assert!(!mount.source.as_os_str().is_empty());
            let rest = normal
                .strip_prefix(normalize(&mount.destination))
                .expect("destination is a prefix");
            assert!(
                rest.components().all(|c| matches!(c, Component::Normal(_))),
                "{rest:?}"
            );
            assert!(host.starts_with(&mount.source), "{host:?} from {mount:?}");
            assert_eq!(host.strip_prefix(&mount.source).ok(), Some(rest));
        }
        Err(_) => {
            if let Some(m) = picked {
                assert!(
                    !matches!(m.kind.as_str(), "bind" | "volume")
                        || m.source.as_os_str().is_empty()
                );
            }
        }
    }
}
