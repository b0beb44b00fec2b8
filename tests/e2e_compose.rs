//! Every Compose file under examples/compose/, run by the real Compose v2
//! (Debian's, installed by tests/clients.sh) against the test engine:
//! `up -d --wait` reaches healthy through the file's own healthcheck
//! (`berth health`, or curl on berth's /healthz), the service works (`docker
//! compose exec -u <user> ... docker ps`, and what the file is for), and
//! `down -v` leaves no container, volume or network of the project.
//!
//! The files run as they are, with their variables pointed at this run's
//! images and engine socket (BERTH_IMAGE, BERTH_IMAGE_ROOTLESS, DOCKER_SOCK),
//! a project directory of the test's own, and one override file that only
//! labels the project's objects `berth-test=<run>` (for tests/run.sh's sweep)
//! and checks health every second instead of every 30 s (the healthcheck's
//! command is the file's).
//!
//! Also: a berth whose engine is gone is reported unhealthy by the Compose
//! healthcheck, with the reason in `docker inspect`'s health log; and the
//! executor-manager recipe's pool of sandboxes goes with `docker compose
//! down`.

mod support;

use std::fs;
use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::time::Duration;

use support::clients::{both, repo, require_client, ComposeProject};
use support::{
    engine_socket, label, require_e2e, rootless_image, wait_until, workspace_image, Docker,
    SocketProxy,
};

/// `up --wait`'s bound: dind and rootless start an engine, executor-manager
/// may build its image (apt-get, once per base image).
const UP: &str = "300";
/// The socket gid of the proxied host socket: no group of the images has it.
const SOCKET_GID: u32 = 4242;

/// Each file under examples/compose/ and the test that runs it: a new file
/// without a test fails `every_compose_example_has_a_test`.
const COVERED: &[(&str, &str)] = &[
    (
        "compile-service.yaml",
        "compile_service_runs_a_sibling_on_its_host_path",
    ),
    (
        "dind-workspace.yaml",
        "dind_workspace_gives_dev_its_own_engine",
    ),
    (
        "rootless-workspace.yaml",
        "rootless_workspace_gives_dev_a_rootless_engine",
    ),
    (
        "executor-manager.yaml",
        "executor_manager_keeps_a_pool_and_removes_it_on_down",
    ),
];

fn example(name: &str) -> PathBuf {
    repo().join("examples/compose").join(name)
}

#[test]
fn every_compose_example_has_a_test() {
    let mut names: Vec<String> = fs::read_dir(repo().join("examples/compose"))
        .expect("examples/compose")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    for name in &names {
        assert!(
            COVERED.iter().any(|(file, _)| file == name),
            "examples/compose/{name} has no e2e test in tests/e2e_compose.rs"
        );
    }
    let source = fs::read_to_string(repo().join("tests/e2e_compose.rs")).expect("read");
    for (file, test) in COVERED {
        assert!(names.iter().any(|n| n == file), "{file} is gone");
        assert!(source.contains(&format!("fn {test}()")), "no fn {test}");
    }
}

/// The engine and Compose, or `None` when the test must return.
fn setup(test: &str) -> Option<Docker> {
    let docker = require_e2e(test)?;
    require_client(test, "BERTH_COMPOSE", "Compose v2 (docker compose)")?;
    Some(docker)
}

/// The project for `file`, with this run's images and the override.
fn project(docker: &Docker, file: &str) -> ComposeProject {
    let mut p = ComposeProject::new(docker, &[example(file)]);
    p.env("BERTH_IMAGE", &workspace_image())
        .env("BERTH_IMAGE_ROOTLESS", &rootless_image());
    let services = p.ok(&["config", "--services"]);
    let volumes = p.ok(&["config", "--volumes"]);
    let (key, value) = label()
        .split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .expect("label");
    let mut over = String::from("services:\n");
    for s in services.lines() {
        over.push_str(&format!(
            "  {s}:\n    labels:\n      {key}: \"{value}\"\n    healthcheck:\n      interval: 1s\n"
        ));
    }
    if !volumes.trim().is_empty() {
        over.push_str("volumes:\n");
        for v in volumes.lines() {
            over.push_str(&format!("  {v}:\n    labels:\n      {key}: \"{value}\"\n"));
        }
    }
    let path = p.dir.path().join("berth-test.override.yaml");
    fs::write(&path, over).expect("override");
    p.add_file(path);
    p
}

/// `up -d --wait`: every service healthy.
fn up(p: &ComposeProject) {
    p.ok(&["up", "-d", "--wait", "--wait-timeout", UP]);
}

/// `down -v`, then nothing of the project is left.
fn down_leaves_nothing(p: &ComposeProject) {
    p.ok(&["down", "-v"]);
    let left = p.leftovers();
    assert!(left.is_empty(), "after down -v: {left:?}");
}

/// `docker compose exec -u USER SERVICE ARGS...`, panic unless it works.
fn exec_as(p: &ComposeProject, user: &str, service: &str, args: &[&str]) -> String {
    let mut full = vec!["exec", "-T", "-u", user, service];
    full.extend(args);
    p.ok(&full)
}

/// A data directory for `./data/compiles`, owned by dev (uid 1000) as the
/// example's header says.
fn compiles_dir(p: &ComposeProject) -> PathBuf {
    let dir = p.dir.path().join("data/compiles");
    fs::create_dir_all(&dir).expect("mkdir data/compiles");
    chown(&dir, Some(1000), Some(1000)).expect("chown data/compiles");
    dir
}

#[test]
fn compile_service_runs_a_sibling_on_its_host_path() {
    let test = "compile_service_runs_a_sibling_on_its_host_path";
    let Some(docker) = setup(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket to mount");
        return;
    };
    let mut p = project(&docker, "compile-service.yaml");
    p.env("DOCKER_SOCK", &engine.display().to_string());
    let dir = compiles_dir(&p);
    up(&p);
    // The worker wrote main.tex as dev, and a sibling container on the host's
    // engine read it through the exported host path.
    let logs = both(&p.output(&["logs", "--no-color", "worker"]));
    assert!(
        logs.contains(&format!("compiles live on the host at {}", dir.display())),
        "SANDBOXED_COMPILES_HOST_DIR is the host path of ./data/compiles:\n{logs}"
    );
    assert!(
        logs.lines().any(|l| l.trim_end().ends_with("| hello")),
        "the sibling read main.tex:\n{logs}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("main.tex")).expect("main.tex"),
        "hello\n"
    );
    exec_as(&p, "dev", "worker", &["docker", "ps"]);
    down_leaves_nothing(&p);
}

#[test]
fn dind_workspace_gives_dev_its_own_engine() {
    let test = "dind_workspace_gives_dev_its_own_engine";
    let Some(docker) = setup(test) else {
        return;
    };
    let p = project(&docker, "dind-workspace.yaml");
    up(&p);
    exec_as(&p, "dev", "workspace", &["docker", "ps"]);
    let driver = exec_as(
        &p,
        "dev",
        "workspace",
        &["docker", "info", "--format", "{{.Driver}}"],
    );
    assert_eq!(driver, "overlay2", "the docker-data volume gives overlay2");
    down_leaves_nothing(&p);
}

#[test]
fn rootless_workspace_gives_dev_a_rootless_engine() {
    let test = "rootless_workspace_gives_dev_a_rootless_engine";
    let Some(docker) = setup(test) else {
        return;
    };
    let p = project(&docker, "rootless-workspace.yaml");
    up(&p);
    let security = exec_as(
        &p,
        "dev",
        "workspace",
        &["docker", "info", "--format", "{{.SecurityOptions}}"],
    );
    assert!(security.contains("rootless"), "{security}");
    down_leaves_nothing(&p);
}

/// Sandboxes of the executor manager's pool (its label), running or not.
fn pool(docker: &Docker, p: &ComposeProject) -> Vec<String> {
    docker
        .ok([
            "ps",
            "-aq",
            "--filter",
            &format!("label=executor-pool={}", p.name),
        ])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The sandboxes are siblings Compose does not know: removed here whatever
/// happens to the test.
struct PoolGuard<'a>(&'a Docker, &'a ComposeProject);

impl Drop for PoolGuard<'_> {
    fn drop(&mut self) {
        for id in pool(self.0, self.1) {
            let _ = self.0.output(["rm", "-f", &id]);
        }
    }
}

#[test]
fn executor_manager_keeps_a_pool_and_removes_it_on_down() {
    let test = "executor_manager_keeps_a_pool_and_removes_it_on_down";
    let Some(docker) = setup(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket to mount");
        return;
    };
    let mut p = project(&docker, "executor-manager.yaml");
    // An image tag of this run's own: the build must not replace another
    // run's image under the default name.
    let image = format!("{}-executor-manager:latest", p.name);
    p.env("DOCKER_SOCK", &engine.display().to_string())
        .env("EXECUTOR_MANAGER_IMAGE", &image);
    let _pool = PoolGuard(&docker, &p);
    let _image = image_guard(&docker, &image);
    up(&p);
    // Healthy through curl on /healthz; the pool fills up to POOL_SIZE.
    let full = wait_until(Duration::from_secs(60), || pool(&docker, &p).len() == 5);
    assert!(
        full,
        "pool: {:?}\n{}",
        pool(&docker, &p),
        both(&p.output(&["logs", "--no-color"]))
    );
    let sandbox = &pool(&docker, &p)[0];
    let limits = docker.ok([
        "inspect",
        "--format",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}} {{.HostConfig.NetworkMode}} {{json .Config.Cmd}}",
        sandbox,
    ]);
    assert_eq!(
        limits,
        "67108864 64 500000000 none [\"timeout\",\"-s\",\"KILL\",\"600\",\"sleep\",\"infinity\"]",
        "memory, pids, cpu, network and time limits"
    );
    exec_as(&p, "executor", "executor-manager", &["docker", "ps"]);
    // `docker compose stop`: berth forwards SIGTERM to the worker, which
    // removes its pool and exits 0 before the stop timeout (no SIGKILL: 137).
    p.ok(&["stop"]);
    let id = p.ok(&["ps", "-aq", "executor-manager"]);
    let code = docker.ok(["inspect", "--format", "{{.State.ExitCode}}", &id]);
    let logs = both(&p.output(&["logs", "--no-color"]));
    assert_eq!(code, "0", "the worker exited on its own:\n{logs}");
    assert!(logs.contains("pool removed"), "{logs}");
    assert!(
        pool(&docker, &p).is_empty(),
        "pool left: {:?}",
        pool(&docker, &p)
    );
    down_leaves_nothing(&p);
}

/// Removes an image tag on drop.
fn image_guard<'a>(docker: &'a Docker, tag: &str) -> impl Drop + 'a {
    struct Rmi<'a>(&'a Docker, String);
    impl Drop for Rmi<'_> {
        fn drop(&mut self) {
            let _ = self.0.output(["rmi", "-f", &self.1]);
        }
    }
    Rmi(docker, tag.to_string())
}

#[test]
fn a_berth_whose_engine_is_gone_is_unhealthy_with_the_reason() {
    let test = "a_berth_whose_engine_is_gone_is_unhealthy_with_the_reason";
    let Some(docker) = setup(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket to proxy");
        return;
    };
    // The compile service on a host socket that the test can take away.
    let mut proxy = SocketProxy::start(engine, SOCKET_GID);
    let mut p = project(&docker, "compile-service.yaml");
    p.env("DOCKER_SOCK", &proxy.path().display().to_string());
    compiles_dir(&p);
    up(&p);
    let id = p.ok(&["ps", "-q", "worker"]);
    let health = |format: &str| docker.ok(["inspect", "--format", format, &id]);
    assert_eq!(health("{{.State.Health.Status}}"), "healthy");
    // The host's engine stops: the socket stays, nothing answers on it.
    proxy.stop_listening();
    let unhealthy = wait_until(Duration::from_secs(60), || {
        health("{{.State.Health.Status}}") == "unhealthy"
    });
    let log = health("{{json .State.Health.Log}}");
    assert!(unhealthy, "still not unhealthy:\n{log}");
    let last: serde_json::Value = serde_json::from_str(&log).expect("health log");
    let last = last
        .as_array()
        .and_then(|l| l.last())
        .expect("a health log entry");
    let output = last["Output"].as_str().unwrap_or_default();
    assert_eq!(last["ExitCode"], 1, "{last}");
    assert!(
        output.contains("unix:///var/run/docker.sock did not answer") && output.contains("refused"),
        "the reason is in the health log: {output:?}"
    );
    down_leaves_nothing(&p);
}
