//! The deployment examples and the devcontainer feature's metadata parse, and
//! say what berth needs: every examples/**/*.yaml and examples/**/*.json, plus
//! devcontainer-feature/berth/devcontainer-feature.json.
//!
//! - Kubernetes: apiVersion, kind, metadata.name; containers have an image;
//!   a berth container in dind or rootless mode is privileged and one in
//!   remote or socket mode is not; berth containers have startup, readiness
//!   and liveness probes that point at `berth health` or at the port
//!   BERTH_HEALTH_ADDR names; mounts name declared volumes; dind has a volume
//!   at /var/lib/docker; remote mode has its TLS variables and certificates.
//! - Compose: services with an image; berth services have a `berth health`
//!   healthcheck and no second init; named volumes are declared; the
//!   privilege and user each mode needs; BERTH_EXPORT_HOST_PATH names a
//!   mounted path.
//! - devcontainer: the feature's options, and what devcontainer.json files
//!   pass to it.
//!
//! - Stop timeouts: Compose's `stop_grace_period` and Kubernetes'
//!   `terminationGracePeriodSeconds` cover berth's grace plus its kill wait.
//! - README: each recipe names tests that exist.
//!
//! When `docker compose` is installed, `docker compose config` checks the
//! Compose files too; otherwise that part says so and is skipped. The
//! Kubernetes manifests are validated against the API schemas by
//! `kubernetes-validate --strict` (tests/clients.sh installs it; a loud skip
//! without it, a failure under CI=true).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files under `dir` whose names end in one of `exts`, sorted.
fn files_with(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn rel(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `value[a][b]...` for mapping keys.
fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

fn seq_at<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Scalars as text: YAML `1`, `true` and `"1"` all read as what a shell sees.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A berth image: the examples use berth/workspace and berth/workspace-rootless
/// (or an image built FROM them), directly or as the default of a Compose
/// variable (`${BERTH_IMAGE:-berth/workspace:latest}`).
fn is_berth_image(image: &str) -> bool {
    image_default(image).starts_with("berth/")
}

/// `${VAR:-default}` -> `default`; anything else as it is.
fn image_default(image: &str) -> &str {
    image
        .strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|inner| inner.split_once(":-"))
        .map_or(image, |(_, default)| default)
}

/// berth's default grace period (src/config.rs, DEFAULT_GRACE) and the time
/// it waits for SIGKILLed processes after it (src/init/supervisor.rs,
/// KILL_WAIT). berth stops dockerd inside the grace period (dockerd's
/// --shutdown-timeout is the grace minus 2 s), so berth is gone at most
/// grace + KILL_WAIT after its SIGTERM: a platform's stop timeout must be at
/// least that, or it SIGKILLs berth before berth has stopped its engine.
const DEFAULT_GRACE_SECS: u64 = 8;
const KILL_WAIT_SECS: u64 = 2;

/// `8s`, `500ms`, `2m`, `3` (seconds), `1m30s` (Compose's form), as seconds.
fn duration_secs(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Some(secs);
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            unit.push(chars.next()?);
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        total += value
            * match unit.as_str() {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
    }
    number.is_empty().then_some(total)
}

/// The stop timeout berth needs: its grace (BERTH_GRACE or the default) plus
/// KILL_WAIT.
fn berth_stop_secs(env: &BTreeMap<String, String>) -> f64 {
    let grace = env
        .get("BERTH_GRACE")
        .map(|g| duration_secs(g).unwrap_or_else(|| panic!("BERTH_GRACE {g:?} is no duration")))
        .unwrap_or(DEFAULT_GRACE_SECS as f64);
    grace + KILL_WAIT_SECS as f64
}

#[test]
fn durations_read_as_berth_and_compose_write_them() {
    assert_eq!(duration_secs("8s"), Some(8.0));
    assert_eq!(duration_secs("20"), Some(20.0));
    assert_eq!(duration_secs("500ms"), Some(0.5));
    assert_eq!(duration_secs("1m30s"), Some(90.0));
    assert_eq!(duration_secs("10x"), None);
    assert_eq!(duration_secs("5s3"), None);
}

/// Modes in which berth starts dockerd itself, which needs privilege.
fn needs_privilege(mode: &str) -> bool {
    matches!(mode, "dind" | "rootless")
}

/// The examples must not be empty, and every file must be one of these.
#[derive(Debug, Default)]
struct Seen {
    k8s: usize,
    compose: usize,
    devcontainer: usize,
}

#[test]
fn every_example_parses_and_has_what_berth_needs() {
    let examples = repo().join("examples");
    let mut seen = Seen::default();
    for path in files_with(&examples, &["yaml", "yml"]) {
        let text = fs::read_to_string(&path).expect("read example");
        assert!(
            text.starts_with('#'),
            "{}: start with a comment header saying what it shows and how to run it",
            rel(&path)
        );
        let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| {
                Value::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", rel(&path)))
            })
            .collect();
        assert!(!docs.is_empty(), "{}: no YAML documents", rel(&path));
        for doc in &docs {
            let what = rel(&path);
            if doc.get("apiVersion").is_some() {
                check_k8s(&what, doc);
                seen.k8s += 1;
            } else if doc.get("services").is_some() {
                check_compose(&what, doc);
                compose_config(&path);
                seen.compose += 1;
            } else {
                panic!("{what}: neither a Kubernetes object (apiVersion) nor a Compose file (services)");
            }
        }
    }
    for path in files_with(&examples, &["json"]) {
        let what = rel(&path);
        let text = fs::read_to_string(&path).expect("read example");
        let doc: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not valid JSON (no comments here): {e}"));
        if path.file_name().is_some_and(|n| n == "devcontainer.json") {
            check_devcontainer(&what, &doc);
            seen.devcontainer += 1;
        } else {
            panic!("{what}: an unexpected JSON example; teach tests/examples.rs what it is");
        }
    }
    assert!(
        seen.k8s >= 2 && seen.compose >= 3 && seen.devcontainer >= 1,
        "examples went missing: {seen:?}"
    );
}

// ---------------------------------------------------------------- kubernetes

fn check_k8s(what: &str, doc: &Value) {
    let kind = str_at(doc, &["kind"]).unwrap_or_else(|| panic!("{what}: no kind"));
    let what = format!("{what} ({kind})");
    assert!(
        str_at(doc, &["apiVersion"]).is_some_and(|v| !v.is_empty()),
        "{what}: apiVersion"
    );
    assert!(
        str_at(doc, &["metadata", "name"]).is_some_and(|v| !v.is_empty()),
        "{what}: metadata.name"
    );
    match kind {
        "Pod" => check_pod_spec(&what, at(doc, &["spec"]).expect("Pod spec")),
        "Deployment" | "StatefulSet" | "DaemonSet" => {
            let template =
                at(doc, &["spec", "template"]).unwrap_or_else(|| panic!("{what}: spec.template"));
            let selector = at(doc, &["spec", "selector", "matchLabels"])
                .and_then(Value::as_mapping)
                .unwrap_or_else(|| panic!("{what}: spec.selector.matchLabels"));
            for (key, value) in selector {
                assert_eq!(
                    at(template, &["metadata", "labels"]).and_then(|l| l.get(key)),
                    Some(value),
                    "{what}: the selector's {key:?} must match the template's labels"
                );
            }
            check_pod_spec(&what, at(template, &["spec"]).expect("template spec"));
        }
        "PersistentVolumeClaim" => {
            assert!(
                !seq_at(doc, &["spec", "accessModes"]).is_empty(),
                "{what}: spec.accessModes"
            );
            assert!(
                str_at(doc, &["spec", "resources", "requests", "storage"]).is_some(),
                "{what}: spec.resources.requests.storage"
            );
        }
        other => panic!("{what}: no checks for kind {other}; add them to tests/examples.rs"),
    }
}

fn env_map(container: &Value) -> BTreeMap<String, String> {
    seq_at(container, &["env"])
        .iter()
        .filter_map(|e| {
            Some((
                str_at(e, &["name"])?.to_string(),
                e.get("value").and_then(scalar_text)?,
            ))
        })
        .collect()
}

/// The port of BERTH_HEALTH_ADDR (`0.0.0.0:9385` -> 9385).
fn health_port(env: &BTreeMap<String, String>) -> Option<u16> {
    env.get("BERTH_HEALTH_ADDR")
        .and_then(|addr| addr.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok())
}

fn check_pod_spec(what: &str, spec: &Value) {
    // Kubernetes' default is 30 s.
    let termination = at(spec, &["terminationGracePeriodSeconds"])
        .and_then(Value::as_u64)
        .unwrap_or(30) as f64;
    let volumes: BTreeSet<&str> = seq_at(spec, &["volumes"])
        .iter()
        .filter_map(|v| str_at(v, &["name"]))
        .collect();
    let containers: Vec<&Value> = seq_at(spec, &["initContainers"])
        .iter()
        .chain(seq_at(spec, &["containers"]))
        .collect();
    assert!(
        !seq_at(spec, &["containers"]).is_empty(),
        "{what}: no containers"
    );
    // Containers of a pod share one network namespace: health ports must differ.
    let mut health_ports = BTreeSet::new();
    for container in containers {
        let name =
            str_at(container, &["name"]).unwrap_or_else(|| panic!("{what}: unnamed container"));
        let what = format!("{what} container {name}");
        let image = str_at(container, &["image"]).unwrap_or_else(|| panic!("{what}: no image"));
        let mounts: BTreeMap<&str, &str> = seq_at(container, &["volumeMounts"])
            .iter()
            .map(|m| {
                let volume = str_at(m, &["name"]).expect("mount name");
                assert!(
                    volumes.contains(volume),
                    "{what}: mounts undeclared volume {volume}"
                );
                (str_at(m, &["mountPath"]).expect("mountPath"), volume)
            })
            .collect();
        if !is_berth_image(image) {
            continue;
        }
        let env = env_map(container);
        let needed = berth_stop_secs(&env);
        assert!(
            termination >= needed,
            "{what}: terminationGracePeriodSeconds {termination} is shorter than berth's grace plus {KILL_WAIT_SECS}s ({needed}s): the kubelet would SIGKILL berth before it has stopped the command and dockerd"
        );
        let mode = env
            .get("BERTH_DOCKER")
            .map(String::as_str)
            .unwrap_or("auto");
        let privileged = at(container, &["securityContext", "privileged"]).and_then(Value::as_bool)
            == Some(true);
        if needs_privilege(mode) {
            assert!(
                privileged,
                "{what}: mode {mode} needs securityContext.privileged: true"
            );
        }
        if matches!(mode, "remote" | "socket") {
            assert!(!privileged, "{what}: mode {mode} must not be privileged");
        }
        if mode == "dind" {
            assert!(
                mounts.contains_key("/var/lib/docker"),
                "{what}: dind needs a volume at /var/lib/docker (else vfs on the overlay root)"
            );
        }
        if let Some(certdir) = env.get("DOCKER_TLS_CERTDIR") {
            assert!(
                mounts.contains_key(format!("{certdir}/client").as_str()),
                "{what}: share {certdir}/client (only the client dir) through a volume"
            );
        }
        if mode == "remote" {
            for var in ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
                assert!(env.contains_key(var), "{what}: remote over TLS needs {var}");
            }
            assert!(
                mounts.contains_key(env["DOCKER_CERT_PATH"].as_str()),
                "{what}: DOCKER_CERT_PATH must be a mounted volume"
            );
        }
        let port = health_port(&env);
        if let Some(port) = port {
            assert!(
                health_ports.insert(port),
                "{what}: health port {port} used twice in the pod"
            );
        }
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            let probe_value = container
                .get(probe)
                .unwrap_or_else(|| panic!("{what}: no {probe}"));
            check_probe(&format!("{what} {probe}"), container, probe_value, port);
        }
    }
}

fn check_probe(what: &str, container: &Value, probe: &Value, health_port: Option<u16>) {
    if let Some(exec) = at(probe, &["exec", "command"]) {
        let argv: Vec<&str> = exec
            .as_sequence()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            argv.len() >= 2 && argv[0].ends_with("berth") && argv[1] == "health",
            "{what}: exec probes run `berth health`, not {argv:?}"
        );
        return;
    }
    let http = at(probe, &["httpGet"]).unwrap_or_else(|| panic!("{what}: exec or httpGet"));
    let path = str_at(http, &["path"]).unwrap_or_default();
    assert!(
        matches!(path, "/healthz" | "/readyz"),
        "{what}: berth serves /healthz and /readyz, not {path:?}"
    );
    let want = health_port.unwrap_or_else(|| panic!("{what}: httpGet needs BERTH_HEALTH_ADDR"));
    let port = match at(http, &["port"]) {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Some(Value::String(named)) => seq_at(container, &["ports"])
            .iter()
            .find(|p| str_at(p, &["name"]) == Some(named))
            .and_then(|p| at(p, &["containerPort"]))
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok()),
        _ => None,
    };
    assert_eq!(port, Some(want), "{what}: probe port vs BERTH_HEALTH_ADDR");
}

// ------------------------------------------------------------------- compose

/// `environment:` as a map or as a list of `KEY=VALUE`.
fn compose_env(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar_text(v)?)))
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// (source, target) of each of a service's volumes, short or long syntax.
fn compose_mounts(what: &str, service: &Value) -> Vec<(String, String)> {
    seq_at(service, &["volumes"])
        .iter()
        .map(|v| match v {
            Value::String(short) => {
                // A `${VAR:-default}` source holds a colon of its own.
                let (source, rest) = match short.strip_prefix("${").and_then(|r| r.split_once('}'))
                {
                    Some((var, rest)) => (format!("${{{var}}}"), rest),
                    None => match short.split_once(':') {
                        Some((source, _)) => (source.to_string(), &short[source.len()..]),
                        None => (short.clone(), ""),
                    },
                };
                let target = rest
                    .strip_prefix(':')
                    .and_then(|r| r.split(':').next())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| panic!("{what}: volume {short:?} has no target"));
                (source, target.to_string())
            }
            long => (
                str_at(long, &["source"]).unwrap_or_default().to_string(),
                str_at(long, &["target"])
                    .unwrap_or_else(|| panic!("{what}: volume without target"))
                    .to_string(),
            ),
        })
        .collect()
}

/// A named volume, not a host path (`/x`, `./x`, `~/x`, `${VAR}`).
fn is_named_volume(source: &str) -> bool {
    !source.is_empty() && !source.starts_with(['/', '.', '~', '$'])
}

fn check_compose(what: &str, doc: &Value) {
    let services = at(doc, &["services"])
        .and_then(Value::as_mapping)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{what}: services must be a non-empty map"));
    let declared: BTreeSet<&str> = at(doc, &["volumes"])
        .and_then(Value::as_mapping)
        .map(|m| m.keys().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut used = BTreeSet::new();
    for (name, service) in services {
        let name = name.as_str().expect("service name");
        let what = format!("{what} service {name}");
        let image = str_at(service, &["image"]).unwrap_or_else(|| panic!("{what}: no image"));
        let mounts = compose_mounts(&what, service);
        for (source, _) in &mounts {
            if is_named_volume(source) {
                assert!(
                    declared.contains(source.as_str()),
                    "{what}: named volume {source} is not declared under top-level volumes"
                );
                used.insert(source.clone());
            }
        }
        if !is_berth_image(image) {
            continue;
        }
        let test: Vec<&str> = seq_at(service, &["healthcheck", "test"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let env = compose_env(service);
        check_compose_healthcheck(&what, &test, &env);
        assert_ne!(
            service.get("init").and_then(Value::as_bool),
            Some(true),
            "{what}: berth is the init; init: true would put docker-init in front of it"
        );
        let mode = env
            .get("BERTH_DOCKER")
            .map(String::as_str)
            .unwrap_or("auto");
        let privileged = service.get("privileged").and_then(Value::as_bool) == Some(true);
        if needs_privilege(mode) {
            assert!(privileged, "{what}: mode {mode} needs privileged: true");
        }
        // Compose's default stop timeout is 10 s.
        let stop = service
            .get("stop_grace_period")
            .and_then(Value::as_str)
            .map(|t| duration_secs(t).unwrap_or_else(|| panic!("{what}: stop_grace_period {t:?}")))
            .unwrap_or(10.0);
        let needed = berth_stop_secs(&env);
        assert!(
            stop >= needed,
            "{what}: stop_grace_period {stop}s is shorter than berth's grace plus {KILL_WAIT_SECS}s ({needed}s): Compose would SIGKILL berth before it has stopped the command and dockerd"
        );
        let targets: BTreeSet<&str> = mounts.iter().map(|(_, t)| t.as_str()).collect();
        match mode {
            "dind" => assert!(
                targets.contains("/var/lib/docker"),
                "{what}: dind needs a volume at /var/lib/docker"
            ),
            "socket" => assert!(
                targets.contains("/var/run/docker.sock"),
                "{what}: socket mode needs the host socket mounted"
            ),
            "rootless" => assert_eq!(
                service.get("user").and_then(scalar_text).as_deref(),
                Some("0"),
                "{what}: rootless needs user \"0\" so berth can prepare /dev/net/tun"
            ),
            _ => {}
        }
        if let Some(export) = env.get("BERTH_EXPORT_HOST_PATH") {
            for pair in export.split(',') {
                let (var, path) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{what}: BERTH_EXPORT_HOST_PATH is VAR=PATH"));
                assert!(
                    !var.is_empty(),
                    "{what}: BERTH_EXPORT_HOST_PATH names a variable"
                );
                assert!(
                    targets.contains(path),
                    "{what}: BERTH_EXPORT_HOST_PATH's {path} must be a mount target"
                );
            }
        }
    }
    for volume in &declared {
        assert!(
            used.contains(*volume),
            "{what}: volume {volume} is declared but unused"
        );
    }
}

/// A berth service's healthcheck: `berth health`, or an HTTP GET of
/// /healthz on the port BERTH_HEALTH_ADDR names (curl or wget).
fn check_compose_healthcheck(what: &str, test: &[&str], env: &BTreeMap<String, String>) {
    let berth_health = test.first() == Some(&"CMD")
        && test.get(1).is_some_and(|p| p.ends_with("berth"))
        && test.get(2) == Some(&"health");
    if berth_health {
        return;
    }
    let http = test.first() == Some(&"CMD")
        && test
            .get(1)
            .is_some_and(|p| p.ends_with("curl") || p.ends_with("wget"));
    let url = test.iter().find(|a| a.starts_with("http://"));
    assert!(
        http && url.is_some(),
        "{what}: healthcheck must be [\"CMD\", \"/usr/local/bin/berth\", \"health\", ...] or an HTTP GET of berth's /healthz, not {test:?}"
    );
    let url = url.expect("checked");
    assert!(
        test.contains(&"--fail") || test.get(1).is_some_and(|p| p.ends_with("wget")),
        "{what}: curl needs --fail, or a 503 from /healthz counts as healthy"
    );
    let port =
        health_port(env).unwrap_or_else(|| panic!("{what}: /healthz needs BERTH_HEALTH_ADDR"));
    assert!(
        url.ends_with(&format!(":{port}/healthz")),
        "{what}: the healthcheck asks {url}, berth serves /healthz on port {port}"
    );
}

/// `docker compose config -q` when Compose is installed.
fn compose_config(path: &Path) {
    let available = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!(
            "docker compose is not installed: skipping `docker compose config` for {}",
            rel(path)
        );
        return;
    }
    let out = Command::new("docker")
        .args(["compose", "-f"])
        .arg(path)
        .args(["config", "-q"])
        .output()
        .expect("run docker compose config");
    assert!(
        out.status.success(),
        "docker compose config {}: {}",
        rel(path),
        String::from_utf8_lossy(&out.stderr)
    );
}

// -------------------------------------------------------------- devcontainer

fn feature_metadata() -> serde_json::Value {
    let path = repo().join("devcontainer-feature/berth/devcontainer-feature.json");
    let text = fs::read_to_string(&path).expect("read devcontainer-feature.json");
    serde_json::from_str(&text).expect("devcontainer-feature.json is JSON")
}

fn mode_enum(feature: &serde_json::Value) -> Vec<String> {
    feature["options"]["mode"]["enum"]
        .as_array()
        .expect("mode enum")
        .iter()
        .map(|v| v.as_str().expect("mode").to_string())
        .collect()
}

#[test]
fn feature_metadata_matches_install_sh() {
    let feature = feature_metadata();
    assert_eq!(feature["id"], "berth");
    let version = feature["version"].as_str().expect("version");
    assert_eq!(version.split('.').count(), 3, "semver: {version}");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "semver: {version}"
    );
    assert_eq!(feature["entrypoint"], "/usr/local/share/berth-init.sh");
    // The devcontainer CLI fetches every installsAfter feature's metadata
    // from its registry, even one devcontainer.json does not use: offline
    // (or behind a registry mirror without it) `devcontainer up` fails on
    // it. berth-init.sh resolves the user at start instead, so the order
    // relative to common-utils does not matter.
    assert!(
        feature.get("installsAfter").is_none() && feature.get("dependsOn").is_none(),
        "no installsAfter/dependsOn: the CLI would reach for a registry"
    );
    // As the official docker-in-docker feature: a volume for the inner
    // engine's data, one per dev container, and BuildKit on.
    let mounts = feature["mounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().any(|m| m["target"] == "/var/lib/docker"
            && m["type"] == "volume"
            && m["source"]
                .as_str()
                .is_some_and(|s| s.contains("${devcontainerId}"))),
        "a volume at /var/lib/docker keyed by ${{devcontainerId}}: {mounts:?}"
    );
    assert_eq!(feature["containerEnv"]["DOCKER_BUILDKIT"], "1");
    // A feature's privileged flag applies whatever the options say: socket
    // and remote users would get a privileged container for nothing.
    assert!(
        feature.get("privileged").is_none(),
        "privileged belongs in devcontainer.json"
    );
    let install = fs::read_to_string(repo().join("devcontainer-feature/berth/install.sh"))
        .expect("read install.sh");
    let options = &feature["options"];
    assert_eq!(options["mode"]["default"], "auto");
    assert_eq!(options["user"]["default"], "automatic");
    assert_eq!(options["installDockerIo"]["type"], "boolean");
    assert_eq!(options["installDockerBuildx"]["type"], "boolean");
    assert_eq!(
        options["dockerDashComposeVersion"]["enum"],
        serde_json::json!(["none", "v2"])
    );
    assert!(
        mode_enum(&feature).iter().any(|m| m == "sysbox"),
        "sysbox is a mode"
    );
    // Every option reaches install.sh (upper-cased, as the CLI passes it)
    // and is in its list of known options.
    for name in options.as_object().expect("options").keys() {
        let upper = name.to_uppercase();
        assert!(
            install.contains(&format!("${{{upper}:-"))
                || install.contains(&format!("${{{upper}}}")),
            "install.sh never reads ${upper} (option {name})"
        );
        let known = install
            .lines()
            .find(|l| l.starts_with("KNOWN_OPTIONS="))
            .expect("KNOWN_OPTIONS in install.sh");
        assert!(
            known.split(['"', ' ']).any(|w| w == upper),
            "KNOWN_OPTIONS lacks {upper}"
        );
    }
    // install.sh accepts exactly the modes the metadata offers.
    let accepted = format!("{})", mode_enum(&feature).join(" | "));
    assert!(
        install.lines().any(|l| l.trim().starts_with(&accepted)),
        "install.sh's mode case must read `{accepted}`"
    );
}

fn check_devcontainer(what: &str, doc: &serde_json::Value) {
    let feature = feature_metadata();
    let features = doc["features"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: features"));
    let (_, options) = features
        .iter()
        .find(|(id, _)| {
            id.trim_end_matches(|c: char| c == ':' || c.is_ascii_digit())
                .ends_with("berth")
        })
        .unwrap_or_else(|| panic!("{what}: does not use the berth feature"));
    let known: BTreeSet<&str> = feature["options"]
        .as_object()
        .expect("options")
        .keys()
        .map(String::as_str)
        .collect();
    for key in options.as_object().expect("feature options").keys() {
        assert!(
            known.contains(key.as_str()),
            "{what}: unknown berth option {key}"
        );
    }
    let mode = options["mode"].as_str().unwrap_or("auto");
    assert!(
        mode_enum(&feature).iter().any(|m| m == mode),
        "{what}: mode {mode}"
    );
    if let Some(install) = options.get("installDockerIo") {
        assert!(install.is_boolean(), "{what}: installDockerIo is a boolean");
    }
    if needs_privilege(mode) {
        assert_eq!(
            doc["privileged"], true,
            "{what}: mode {mode} needs \"privileged\": true"
        );
    }
    if mode == "dind" {
        // The feature declares the volume; devcontainer.json may too.
        let mut mounts = doc["mounts"].as_array().cloned().unwrap_or_default();
        mounts.extend(feature["mounts"].as_array().cloned().unwrap_or_default());
        assert!(
            mounts
                .iter()
                .any(|m| m["target"] == "/var/lib/docker" && m["type"] == "volume"),
            "{what}: dind needs a volume at /var/lib/docker"
        );
    }
}

#[test]
fn the_deployment_docs_cover_every_example() {
    let docs = fs::read_to_string(repo().join("docs/deployments.md")).expect("docs/deployments.md");
    let examples = repo().join("examples");
    for path in files_with(&examples, &["yaml", "yml", "json"]) {
        let name = rel(&path);
        assert!(
            docs.contains(&name),
            "docs/deployments.md does not mention {name}"
        );
    }
}

// ------------------------------------------- Kubernetes API schema validation

/// `kubernetes-validate` (PyPI, pinned by tests/clients.sh, which exports
/// BERTH_KUBERNETES_VALIDATE): the path, or `None` after a loud skip; under
/// CI=true a missing validator fails.
fn kubernetes_validate(test: &str) -> Option<String> {
    if let Some(bin) = std::env::var("BERTH_KUBERNETES_VALIDATE")
        .ok()
        .filter(|b| !b.is_empty())
    {
        return Some(bin);
    }
    let reason = "kubernetes-validate is not installed (BERTH_KUBERNETES_VALIDATE is unset): run `eval \"$(bash tests/clients.sh)\"` (tests/run.sh does)";
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{test}: {reason}");
    }
    eprintln!("\n*** SKIPPED: {test}: {reason} ***\n");
    None
}

/// Runs the validator in strict mode (unknown fields are errors) against
/// the schemas of the Kubernetes release it ships (its own version).
fn validate(bin: &str, files: &[PathBuf]) -> std::process::Output {
    Command::new(bin)
        .arg("--strict")
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schemas() {
    let test = "kubernetes_manifests_validate_against_the_api_schemas";
    let Some(bin) = kubernetes_validate(test) else {
        return;
    };
    let files = files_with(&repo().join("examples/k8s"), &["yaml", "yml"]);
    assert!(!files.is_empty(), "no Kubernetes examples");
    let out = validate(&bin, &files);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate --strict:\n{text}"
    );
    // Every object was checked (one "passed" line each), none skipped for
    // want of a schema.
    let objects: usize = files
        .iter()
        .map(|f| {
            serde_yaml_ng::Deserializer::from_str(&fs::read_to_string(f).expect("read")).count()
        })
        .sum();
    let passed = text
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(passed, objects, "every object validated:\n{text}");

    // The validator can fail: the same manifest with a string where the
    // schema wants an integer, and with a misspelt field.
    let dir = tempfile::tempdir().expect("temp dir");
    let original =
        fs::read_to_string(repo().join("examples/k8s/workspace-dind.yaml")).expect("read");
    for (what, from, to) in [
        (
            "a string grace period",
            "terminationGracePeriodSeconds: 30",
            "terminationGracePeriodSeconds: \"30s\"",
        ),
        (
            "a misspelt probe field",
            "failureThreshold: 60",
            "failureTreshold: 60",
        ),
    ] {
        assert!(
            original.contains(from),
            "{from:?} is no longer in the example"
        );
        let broken = dir.path().join("broken.yaml");
        fs::write(&broken, original.replacen(from, to, 1)).expect("write");
        let out = validate(&bin, &[broken]);
        assert!(
            !out.status.success(),
            "kubernetes-validate accepted {what}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// Every recipe in the README names the test that runs it: each
/// `tests/<file>.rs` mentioned in the "Recipes" section is followed by test
/// names that exist there as functions, and every recipe has one.
#[test]
fn the_readme_recipes_name_tests_that_exist() {
    let readme = fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find("\n## Recipes")
        .expect("README has a Recipes section");
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let recipes = section.matches("\n**").count();
    assert!(
        recipes >= 4,
        "the four systems (and more): {recipes} recipes"
    );
    let mut named = 0;
    for paragraph in section.split("\n\n") {
        let mut file: Option<String> = None;
        for token in paragraph.split('`') {
            if token.starts_with("tests/") && token.ends_with(".rs") {
                file = Some(
                    fs::read_to_string(repo().join(token))
                        .unwrap_or_else(|e| panic!("{token}: {e}")),
                );
            } else if let Some(source) = &file {
                let is_name = !token.is_empty()
                    && token
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && token.contains('_');
                if is_name {
                    assert!(
                        source.contains(&format!("fn {token}()")),
                        "README names test {token}, which does not exist"
                    );
                    named += 1;
                }
            }
        }
    }
    assert!(
        named >= recipes,
        "{named} tests named for {recipes} recipes"
    );
}
