//! The one-shot subcommands as a user runs them: the binary, its exit code
//! and what it prints. No engine, no root needed.

use std::process::{Command, Output};
use std::time::Duration;

#[path = "common/fake_engine.rs"]
mod fake_engine;
use fake_engine::{FakeEngine, FAKE_VERSION};

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
    for args in [&["health"][..], &["doctor"][..], &["--", "true"][..]] {
        let out = berth(args, &[("BERTH_DOCKER", "kubernetes")]);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            text(&out.stderr).contains("BERTH_DOCKER"),
            "{}",
            text(&out.stderr)
        );
        // BERTH_DOCKERD_ARGS is split as shell words: an unclosed quote is
        // a usage error naming the variable, before anything starts.
        let out = berth(
            args,
            &[("BERTH_DOCKERD_ARGS", r#"--label "team=a b --debug"#)],
        );
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let said = text(&out.stderr);
        assert!(
            said.contains("BERTH_DOCKERD_ARGS") && said.contains("unbalanced quotes"),
            "{said}"
        );
    }
}

/// A remote engine whose name does not resolve is retried for the whole
/// BERTH_REMOTE_TIMEOUT (default 15 s: 13 attempts), then the command runs
/// without Docker under the warn policy; the message names the knob, and a
/// short budget means fewer attempts (counted, not timed).
#[test]
fn an_unreachable_remote_engine_is_retried_within_berth_remote_timeout() {
    let out = berth(
        &["--", "true"],
        &[
            ("DOCKER_HOST", "tcp://nowhere.invalid:2376"),
            ("BERTH_REMOTE_TIMEOUT", "1s"),
        ],
    );
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("BERTH_REMOTE_TIMEOUT=1s bounds the wait"),
        "{said}"
    );
    let attempts: u32 = said
        .split(" attempt(s)")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no attempt count in: {said}"));
    // 0, 0.1, 0.3, 0.7 s; the next (1.5 s) would end past the budget.
    assert!((2..=5).contains(&attempts), "{attempts} attempts: {said}");
}

/// A subcommand's usage error names the program as the user types it
/// (`Usage: berth doctor ...`, not `Usage: doctor`), and exits 64.
#[test]
fn subcommand_usage_lines_name_berth() {
    for (args, usage) in [
        (&["doctor", "--bogus"][..], "Usage: berth doctor"),
        (&["health", "--bogus"][..], "Usage: berth health"),
        (&["host-path"][..], "Usage: berth host-path"),
    ] {
        let out = berth(args, &[]);
        let said = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {said}");
        assert!(said.contains(usage), "{args:?}: {said}");
    }
}

/// A DOCKER_HOST that does not parse is a configuration error (64) under the
/// default auto mode and warn policy, not "Docker is unavailable" (69): no
/// mode can honour it. The message names the variable, the value and the
/// schemes berth accepts, and the command never runs.
#[test]
fn an_unparseable_docker_host_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    for (value, said) in [
        ("bogus://x", "use unix://, tcp:// or ssh://"),
        ("tcp://", "expected host[:port]"),
        ("no-scheme-here", "expected scheme://address"),
    ] {
        let out = berth(&["--", "sh", "-c", &script], &[("DOCKER_HOST", value)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{value}: {stderr}");
        assert!(
            stderr.contains(&format!("DOCKER_HOST={value:?}")) && stderr.contains(said),
            "{value}: {stderr}"
        );
        assert!(!marker.exists(), "{value}: the command ran");
    }
}

/// berth started as a user (`docker run --user`, Kubernetes runAsUser) in an
/// image that sets `ENV BERTH_USER=...` for its root start: berth cannot
/// switch, so it runs the command as itself with one warning; an explicit
/// `--user` it cannot honour still fails (77), naming the flag and the fix.
/// Needs root to start berth as another uid; skips otherwise.
#[test]
fn berth_user_from_the_image_is_set_aside_for_a_non_root_start() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to start berth as uid 65534");
        return;
    }
    let as_nobody = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("BERTH_DOCKER", "off");
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run setpriv")
    };
    let out = as_nobody(&["--", "id", "-u"], &[("BERTH_USER", "root")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout).trim(), "65534");
    assert_eq!(
        stderr
            .matches("BERTH_USER=root was not applied because berth runs as uid 65534, not root")
            .count(),
        1,
        "{stderr}"
    );

    // BERTH_USER naming the current user: silent.
    let out = as_nobody(&["--", "id", "-u"], &[("BERTH_USER", "65534")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("not applied"),
        "{}",
        text(&out.stderr)
    );

    let out = as_nobody(
        &["--user", "root", "--", "id", "-u"],
        &[("BERTH_USER", "root")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(
        stderr.contains("--user \"root\" cannot be honoured"),
        "{stderr}"
    );
    assert!(stderr.contains("start the container as root"), "{stderr}");
    assert!(stderr.contains("drop --user"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
}

/// Runs berth with its stdout on a pipe whose reader is already gone, as
/// `berth doctor --json | true` does when `true` exits first.
fn berth_into_closed_pipe(args: &[&str], env: &[(&str, &str)]) -> Output {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run berth")
}

/// A closed stdout ends berth quietly (issue 13): no panic (it was an abort,
/// exit 134, for `berth doctor --json | true`), nothing on stderr, and the
/// exit code each command documents for the same verdict.
#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let off = [("BERTH_DOCKER", "off")];
    let cases: [(&[&str], i32); 8] = [
        (&["doctor", "--json"], 0),
        (&["doctor"], 0),
        (&["health"], 0),
        (&["--help"], 0),
        (&["--version"], 0),
        (&["doctor", "--help"], 0),
        (&["health", "--help"], 0),
        (&["host-path", "--help"], 0),
    ];
    for (args, code) in cases {
        let out = berth_into_closed_pipe(args, &off);
        assert_eq!(
            out.status.code(),
            Some(code),
            "berth {args:?} into a closed pipe: {:?}\nstderr: {}",
            out.status,
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "berth {args:?}: nothing to say");
    }
    // The verdict still decides the code: no engine is exit 1, read or not.
    let dead = [("DOCKER_HOST", "unix:///nonexistent/berth-test/docker.sock")];
    let out = berth_into_closed_pipe(&["health", "--timeout", "1s"], &dead);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

/// `berth health --timeout` waits for the engine (issue 13): started while
/// there is no socket yet, or while the socket refuses (a stale file, an
/// engine still starting), it answers healthy once the engine answers;
/// without `--timeout` it asks once, as HEALTHCHECK wants.
#[test]
fn health_with_a_timeout_waits_for_the_engine() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("docker.sock");
    let host = format!("unix://{}", socket.display());
    let env = [("DOCKER_HOST", host.as_str())];

    // No socket yet: one ping fails at once...
    let once = berth(&["health"], &env);
    assert_eq!(once.status.code(), Some(1), "{}", text(&once.stdout));
    assert!(
        text(&once.stdout).contains("no socket at"),
        "{}",
        text(&once.stdout)
    );

    // ...while --timeout waits for the engine to appear.
    for stale_socket_first in [false, true] {
        if stale_socket_first {
            // A socket file nobody accepts on: connections are refused.
            drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
        }
        let appears = socket.clone();
        let engine = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let _ = std::fs::remove_file(&appears);
            FakeEngine::serve(&appears)
        });
        let waited = berth(&["health", "--timeout", "20s"], &env);
        let _engine = engine.join().expect("the stand-in engine started");
        assert_eq!(
            waited.status.code(),
            Some(0),
            "stale socket first: {stale_socket_first}\nstdout: {}\nstderr: {}",
            text(&waited.stdout),
            text(&waited.stderr)
        );
        assert!(
            text(&waited.stdout).contains(FAKE_VERSION),
            "{}",
            text(&waited.stdout)
        );
    }

    // An engine that never comes: unhealthy once the time is up, saying so.
    let gone = berth(&["health", "--timeout", "1s"], &env);
    assert_eq!(gone.status.code(), Some(1), "{}", text(&gone.stdout));
    assert!(
        text(&gone.stdout).contains("within 1s"),
        "{}",
        text(&gone.stdout)
    );
}
