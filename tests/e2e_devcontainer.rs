//! The berth feature under the real devcontainer CLI (`@devcontainers/cli`,
//! installed by tests/clients.sh), against the test engine.
//!
//! Each test writes a workspace: a Dockerfile FROM the local debian:bookworm
//! (docker.io and a non-root `vscode` baked in, so the layer is cached across
//! runs), a devcontainer.json that uses the feature from its local folder
//! (`./berth`, with the static binary, as package.sh lays it out), and runs
//! `devcontainer up`, then `devcontainer exec` as the remote user:
//! `docker ps` and `docker run --rm <tiny image> echo ok` must work, and
//! again after a second `devcontainer up` (the container is reused).
//!
//! Workspaces: the host socket mounted (auto mode finds it), privileged dind
//! (forced `mode: dind`, and auto mode: berth is the container's init under
//! the CLI's `sh`, though not PID 1), rootless; and the bad inputs: an
//! unknown option value or name fails the build with the option named, and
//! `mode: dind` without `"privileged": true` says what to change.

mod support;

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::clients::{both, require_client, tiny_image, DevContainer};
use support::{engine_socket, require_e2e, wait_until, Docker, Image};

/// The remote user of every workspace.
const USER: &str = "vscode";

/// A base the CLI builds the feature layer on: Docker's client and daemon
/// from Debian, and the remote user (as common-utils would make it).
const DOCKER_BASE: &str = "FROM debian:bookworm
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      ca-certificates docker.io iptables procps \\
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash vscode
";

/// The same with what rootless Docker needs. No subuid/subgid lines: berth
/// writes them at start.
const ROOTLESS_BASE: &str = "FROM debian:bookworm
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      ca-certificates docker.io iptables procps \\
      fuse-overlayfs iproute2 rootlesskit slirp4netns uidmap \\
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 --user-group --shell /bin/bash vscode
";

/// How long Docker may take to be ready once `devcontainer up` returned
/// (berth-init.sh waits for berth's set-up, so normally no time at all).
const READY: Duration = Duration::from_secs(90);

/// The CLI and the engine, or `None` when the test must return (skipped).
fn setup(test: &str) -> Option<(String, Docker)> {
    let docker = require_e2e(test)?;
    let cli = require_client(test, "BERTH_DEVCONTAINER_CLI", "the devcontainer CLI")?;
    Some((cli, docker))
}

fn config(features: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    let mut config = json!({
        "name": "berth e2e",
        "build": { "dockerfile": "Dockerfile" },
        "features": { "./berth": features },
        "remoteUser": USER,
    });
    for (k, v) in extra.as_object().expect("extra is an object") {
        config[k] = v.clone();
    }
    config
}

/// Loads `image` into the engine the remote user reaches inside the
/// workspace (no registry): `docker save | docker exec -i -u vscode C sh -lc
/// 'docker load'`, a login shell so rootless's DOCKER_HOST applies.
fn load_into_workspace(docker: &Docker, container: &str, image: &Image) {
    let mut save = docker
        .command(["save", &image.tag])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn docker save");
    let tar = save.stdout.take().expect("docker save stdout");
    let load = docker
        .command([
            "exec",
            "-i",
            "-u",
            USER,
            container,
            "sh",
            "-lc",
            "docker load -q",
        ])
        .stdin(tar)
        .output()
        .expect("docker load");
    assert!(save.wait().expect("docker save").success(), "docker save");
    assert!(
        load.status.success(),
        "docker load in the workspace: {}",
        both(&load)
    );
}

/// What every workspace must do for its remote user, twice: after `up`, and
/// after `up` again on the same (reused) container.
fn check_docker_works(dc: &DevContainer, docker: &Docker, tiny: &Image, container: &str) {
    // Docker may still be coming up if berth-init.sh stopped waiting.
    let mut last = String::new();
    let ready = wait_until(READY, || {
        let out = dc.exec(&["docker", "ps", "--format", "{{.ID}}"]);
        last = both(&out);
        out.status.success()
    });
    assert!(
        ready,
        "devcontainer exec docker ps failed for {READY:?}: {last}\nlogs:\n{}",
        dc.logs()
    );
    assert_eq!(
        dc.exec_ok(&["id", "-un"]),
        USER,
        "exec runs as the remote user"
    );
    let has_image = dc.exec(&["docker", "image", "inspect", &tiny.tag]);
    if !has_image.status.success() {
        load_into_workspace(docker, container, tiny);
    }
    let ok = dc.exec_ok(&["docker", "run", "--rm", &tiny.tag, "echo", "ok"]);
    assert_eq!(ok.lines().last(), Some("ok"), "{ok}");
}

/// `up`, the checks, `up` again (same container), the checks again.
fn up_twice_and_check(dc: &DevContainer, docker: &Docker, tiny: &Image) -> String {
    let id = dc
        .up()
        .unwrap_or_else(|out| panic!("devcontainer up failed:\n{out}"));
    check_docker_works(dc, docker, tiny, &id);
    let again = dc
        .up()
        .unwrap_or_else(|out| panic!("second devcontainer up failed:\n{out}"));
    assert_eq!(again, id, "the second up reuses the container");
    check_docker_works(dc, docker, tiny, &id);
    id
}

/// PID 1's command line and berth's parent, as `ps` would show them.
fn process_tree(dc: &DevContainer) -> (Vec<u8>, String) {
    let pid1 = dc.exec(&["cat", "/proc/1/cmdline"]).stdout;
    let berth_parent = dc.exec_ok(&[
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm)\" = berth ] && awk '/^PPid:/ { print $2 }' $p/status; done; true",
    ]);
    (pid1, berth_parent)
}

#[test]
fn socket_workspace_gives_the_remote_user_the_host_engine() {
    let test = "socket_workspace_gives_the_remote_user_the_host_engine";
    let Some((cli, docker)) = setup(test) else {
        return;
    };
    let Some(engine) = engine_socket() else {
        support::skip(test, "DOCKER_HOST is not a unix socket to mount");
        return;
    };
    let tiny = tiny_image(&docker);
    // The host's socket, in auto mode: socket mode starts no engine, so
    // auto mode uses it whoever started berth.
    let dc = DevContainer::new(
        &cli,
        &docker,
        DOCKER_BASE,
        &config(
            json!({}),
            json!({ "mounts": [{
                "source": engine.display().to_string(),
                "target": "/var/run/docker.sock",
                "type": "bind"
            }] }),
        ),
    );
    up_twice_and_check(&dc, &docker, &tiny);
    // The process tree berth runs in under the CLI is the recorded one
    // (tests/fixtures/proctree/devcontainer-cli): the CLI's `sh` is PID 1,
    // and berth, started by berth-init.sh, has been reparented to it.
    let (pid1, berth_parent) = process_tree(&dc);
    let fixture = fs::read(
        support::clients::repo().join("tests/fixtures/proctree/devcontainer-cli/1/cmdline"),
    )
    .expect("fixture");
    assert_eq!(
        String::from_utf8_lossy(&pid1),
        String::from_utf8_lossy(&fixture),
        "PID 1 under the devcontainer CLI changed: re-record the fixtures (tests/tools/record-proctree.sh)"
    );
    assert_eq!(berth_parent, "1", "one berth, reparented to the CLI's sh");
}

/// A privileged workspace where berth starts dockerd: `mode` is the
/// feature's option.
fn dind_workspace(test: &str, mode: &str) {
    let Some((cli, docker)) = setup(test) else {
        return;
    };
    let tiny = tiny_image(&docker);
    // The feature declares the /var/lib/docker volume itself (its mounts).
    let dc = DevContainer::new(
        &cli,
        &docker,
        DOCKER_BASE,
        &config(json!({ "mode": mode }), json!({ "privileged": true })),
    );
    let id = up_twice_and_check(&dc, &docker, &tiny);
    // doctor in a session of the workspace: the engine berth started (its
    // child; berth is not PID 1 here), running, not a mounted host socket.
    let doctor = both(&dc.exec(&["berth", "doctor"]));
    assert!(
        doctor.contains("Mode:   dind (berth's own dockerd, running, pid "),
        "{doctor}"
    );
    assert!(!doctor.contains("mounted host socket"), "{doctor}");
    let driver = dc.exec_ok(&["docker", "info", "--format", "{{.Driver}}"]);
    assert_eq!(
        driver, "overlay2",
        "the feature's volume at /var/lib/docker gives overlay2"
    );
    let mounts = docker.ok([
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}",
        &id,
    ]);
    assert!(
        mounts
            .split_whitespace()
            .any(|m| m.starts_with("dind-var-lib-docker-") && m.ends_with("=/var/lib/docker")),
        "the feature's volume, keyed by the devcontainer id: {mounts}"
    );
}

#[test]
fn privileged_workspace_with_mode_dind_runs_dockerd() {
    dind_workspace("privileged_workspace_with_mode_dind_runs_dockerd", "dind");
}

/// Auto mode under the CLI (issue 11): berth is not PID 1, but it is the
/// container's init (started by the CLI's `sh -c` through berth-init.sh),
/// so it starts dockerd as `mode: dind` does.
#[test]
fn privileged_workspace_in_auto_mode_runs_dockerd() {
    dind_workspace("privileged_workspace_in_auto_mode_runs_dockerd", "auto");
}

#[test]
fn rootless_workspace_runs_dockerd_as_the_remote_user() {
    let test = "rootless_workspace_runs_dockerd_as_the_remote_user";
    let Some((cli, docker)) = setup(test) else {
        return;
    };
    let tiny = tiny_image(&docker);
    let dc = DevContainer::new(
        &cli,
        &docker,
        ROOTLESS_BASE,
        &config(json!({ "mode": "rootless" }), json!({ "privileged": true })),
    );
    up_twice_and_check(&dc, &docker, &tiny);
    // The engine is the user's own: rootless, and its daemon runs as vscode.
    let security = dc.exec_ok(&["docker", "info", "--format", "{{.SecurityOptions}}"]);
    assert!(security.contains("rootless"), "{security}");
    let owner = dc.exec_ok(&["sh", "-c", "ps -o user= -C dockerd"]);
    assert_eq!(owner, USER, "dockerd runs as the remote user");
}

#[test]
fn mode_dind_without_privileged_says_what_to_change() {
    let test = "mode_dind_without_privileged_says_what_to_change";
    let Some((cli, docker)) = setup(test) else {
        return;
    };
    let dc = DevContainer::new(
        &cli,
        &docker,
        DOCKER_BASE,
        &config(json!({ "mode": "dind" }), json!({})),
    );
    // The container starts (the workspace stays usable), without Docker, and
    // its log says which setting to change.
    dc.up()
        .unwrap_or_else(|out| panic!("devcontainer up failed:\n{out}"));
    let mut logs = String::new();
    let said = wait_until(READY, || {
        logs = dc.logs();
        logs.contains("berth-init: berth exited")
    });
    assert!(said, "berth-init.sh reports berth's exit:\n{logs}");
    assert!(
        logs.contains("BERTH_DOCKER=dind but CAP_SYS_ADMIN is not effective"),
        "berth names what is missing:\n{logs}"
    );
    assert!(
        logs.contains("set \"privileged\": true in devcontainer.json"),
        "berth-init.sh names the devcontainer.json setting:\n{logs}"
    );
    let ps = dc.exec(&["docker", "ps"]);
    assert!(!ps.status.success(), "no Docker without privilege");
}

#[test]
fn bad_feature_options_fail_the_build_naming_the_option() {
    let test = "bad_feature_options_fail_the_build_naming_the_option";
    let Some((cli, docker)) = setup(test) else {
        return;
    };
    let cases = [
        (
            json!({ "mode": "dnd" }),
            "mode \"dnd\" is not one of auto, off, socket, dind, rootless, sysbox, remote",
        ),
        (
            json!({ "moby": true }),
            "option MOBY (as the devcontainer CLI passes it, upper-cased) is not an option of the berth feature",
        ),
        (
            json!({ "dockerDashComposeVersion": "v2" }),
            "dockerDashComposeVersion v2: Debian GNU/Linux 12 (bookworm) has no Compose v2 package",
        ),
    ];
    for (options, expected) in cases {
        let dc = DevContainer::new(
            &cli,
            &docker,
            DOCKER_BASE,
            &config(options.clone(), json!({})),
        );
        let out = match dc.up() {
            Ok(id) => panic!("{options}: devcontainer up succeeded ({id})"),
            Err(out) => out,
        };
        assert!(
            out.contains("berth feature: error: ") && out.contains(expected),
            "{options}: expected {expected:?} in the CLI's output:\n{out}"
        );
        assert!(dc.container_id().is_none(), "{options}: no container");
    }
}
