//! The one-shot subcommands as a user runs them: the binary, its exit code
//! and what it prints. No engine, no root needed.

use std::process::{Command, Output};

fn berth(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.args(args).env_clear().env("PATH", "/usr/bin:/bin");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run berth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An image that opts in (BERTH_DOCKER_OPT_IN=1) without the toggle has
/// Docker off: `berth health` must not call it unhealthy for lacking an
/// engine, and `berth doctor` must say the same thing (issue 12).
#[test]
fn opt_in_image_without_the_toggle_is_healthy_and_doctor_says_off() {
    // An engine address that cannot answer: were Docker on, health would fail.
    let env = [
        ("BERTH_DOCKER_OPT_IN", "1"),
        ("DOCKER_HOST", "unix:///nonexistent/berth-test/docker.sock"),
    ];
    let health = berth(&["health", "--timeout", "1s"], &env);
    assert_eq!(
        health.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&health.stdout),
        text(&health.stderr)
    );
    assert!(
        text(&health.stdout).contains("Docker is off"),
        "{}",
        text(&health.stdout)
    );

    let doctor = berth(&["doctor"], &env);
    let report = text(&doctor.stdout);
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "{report}{}",
        text(&doctor.stderr)
    );
    assert!(report.contains("Mode:   off"), "{report}");
    assert!(report.contains("BERTH_DOCKER_OPT_IN"), "{report}");

    // The toggle switches it on: now the dead engine makes it unhealthy.
    let on = [env[0], env[1], ("WS_DOCKER_ENABLE_CLIENT", "1")];
    let health = berth(&["health", "--timeout", "1s"], &on);
    assert_eq!(health.status.code(), Some(1), "{}", text(&health.stdout));
}

/// health, doctor and the run read the same settings: a value the run would
/// refuse is refused by the subcommands too, naming the variable.
#[test]
fn subcommands_refuse_what_the_run_refuses() {
    for args in [&["health"][..], &["doctor"][..]] {
        let out = berth(args, &[("BERTH_DOCKER", "kubernetes")]);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            text(&out.stderr).contains("BERTH_DOCKER"),
            "{}",
            text(&out.stderr)
        );
    }
}
