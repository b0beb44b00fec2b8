//! The test engine itself can do what berth's docker-in-docker tests need:
//! a `--privileged` workspace container runs dockerd (started by hand, berth
//! not involved), with overlay2 on the image's /var/lib/docker volume, and
//! that inner engine runs a container. When this fails, the dind tests of
//! berth cannot pass either, and this says why (e.g. "unable to apply caps":
//! the engine lacks tests/tools/runc-capbnd, see tests/README.md).

mod support;

use std::time::Duration;

use support::{require_e2e, wait_until, workspace_image};

/// The base image tests/images.sh guarantees in the outer engine.
const BASE_IMAGE: &str = "debian:bookworm";

#[test]
fn a_privileged_container_runs_docker_in_docker() {
    let Some(docker) = require_e2e("a_privileged_container_runs_docker_in_docker") else {
        return;
    };
    let image = workspace_image();
    let c = docker.run_detached(&[
        "--privileged",
        "--no-healthcheck",
        "--entrypoint",
        "dockerd",
        &image,
    ]);
    let ready = wait_until(Duration::from_secs(60), || {
        c.exec(&["docker", "version"]).status.success()
    });
    assert!(
        ready,
        "inner dockerd did not answer within 60 s; logs:\n{}",
        c.logs()
    );
    assert_eq!(
        c.exec_ok(&["docker", "info", "--format", "{{.Driver}}"]),
        "overlay2",
        "the image's /var/lib/docker volume should give the inner engine overlay2"
    );
    c.load_image(BASE_IMAGE);
    let out = c.exec_ok(&[
        "docker",
        "run",
        "--rm",
        BASE_IMAGE,
        "sh",
        "-c",
        "echo inner-ok",
    ]);
    assert_eq!(out, "inner-ok");
}
