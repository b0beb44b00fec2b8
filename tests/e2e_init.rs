//! berth as PID 1 of a real `berth/workspace` container, with Docker handling
//! switched off (`BERTH_DOCKER=off`), so only the init is under test: signal
//! forwarding, exit codes, reaping, and an interactive terminal.
//!
//! Needs an engine and the images: `bash tests/run.sh` provides both (see
//! tests/support/mod.rs for the skip/fail policy).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    image_args, init_is_stand_in, label, require_e2e, skip, unique_name, wait_until,
    workspace_image, Container, Docker, Pty,
};

/// Long enough for a slow, loaded machine; a healthy run takes a second or two.
const START: Duration = Duration::from_secs(60);

/// `docker run` arguments common to these tests: berth as a plain init, and no
/// healthcheck exec'ing into the container while we count its processes.
fn init_args() -> Vec<String> {
    ["-e", "BERTH_DOCKER=off", "--no-healthcheck"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Start the workspace image with `command` under the init.
fn start(docker: &Docker, command: &[&str]) -> Container {
    let mut args = init_args();
    args.extend(image_args(&workspace_image()));
    args.extend(command.iter().map(|s| s.to_string()));
    docker.run_detached(&args)
}

fn exit_code_from_inspect(c: &Container) -> i32 {
    let raw = c.inspect("{{.State.ExitCode}}");
    raw.parse()
        .unwrap_or_else(|_| panic!("{}: ExitCode {raw:?} is not a number", c.name))
}

#[test]
fn docker_stop_reaches_the_commands_term_trap() {
    let Some(docker) = require_e2e("docker_stop_reaches_the_commands_term_trap") else {
        return;
    };
    // `wait` returns as soon as a trapped signal arrives, so the trap runs at
    // once; the background sleep is left behind for the init to clean up.
    let c = start(
        &docker,
        &[
            "bash",
            "-c",
            "trap 'echo trapped TERM; exit 0' TERM; echo ready; sleep 1000 & wait $!",
        ],
    );
    c.wait_for_log("ready", START);
    let took = c.stop(10);
    eprintln!("e2e_init: `docker stop -t 10` took {took:.2?} (exit code 0 expected)");
    let code = exit_code_from_inspect(&c);
    let logs = c.logs();
    assert_eq!(
        code, 0,
        "the TERM trap should have made the command exit 0 (137 = SIGKILLed after the grace period); logs:\n{logs}"
    );
    assert!(
        logs.contains("trapped TERM"),
        "the trap did not run; logs:\n{logs}"
    );
}

#[test]
fn docker_wait_returns_the_commands_exit_code() {
    let Some(docker) = require_e2e("docker_wait_returns_the_commands_exit_code") else {
        return;
    };
    let c = start(&docker, &["sh", "-c", "exit 42"]);
    assert_eq!(c.wait_exit_code(START), 42, "logs:\n{}", c.logs());
}

#[test]
fn a_command_killed_by_a_signal_exits_128_plus_n() {
    let Some(docker) = require_e2e("a_command_killed_by_a_signal_exits_128_plus_n") else {
        return;
    };
    // SIGUSR2 (12): default action terminates, and nothing else sends it.
    let c = start(&docker, &["sh", "-c", "kill -USR2 $$"]);
    assert_eq!(c.wait_exit_code(START), 128 + 12, "logs:\n{}", c.logs());
}

#[test]
fn docker_kill_usr1_reaches_the_command() {
    let Some(docker) = require_e2e("docker_kill_usr1_reaches_the_command") else {
        return;
    };
    let c = start(
        &docker,
        &[
            "bash",
            "-c",
            "trap 'echo got USR1; exit 7' USR1; echo ready; sleep 1000 & wait $!",
        ],
    );
    c.wait_for_log("ready", START);
    c.kill("USR1");
    let code = c.wait_exit_code(START);
    let logs = c.logs();
    assert!(
        logs.contains("got USR1"),
        "USR1 never arrived; logs:\n{logs}"
    );
    assert_eq!(code, 7, "logs:\n{logs}");
}

/// Lines of `ps -eo pid,ppid,stat,args` inside the container whose state is Z.
fn zombies(c: &Container) -> Vec<String> {
    c.exec_ok(&["ps", "-eo", "pid=,ppid=,stat=,args="])
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(2)
                .is_some_and(|s| s.starts_with('Z'))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn an_orphan_storm_leaves_no_zombies() {
    let Some(docker) = require_e2e("an_orphan_storm_leaves_no_zombies") else {
        return;
    };
    const STORM: &str =
        "for i in $(seq 2000); do (sleep 0.01 &); done; echo storm-done; exec sleep 1000";
    // Storm 1: orphans of the command itself, reparented to PID 1.
    let c = start(&docker, &["bash", "-c", STORM]);
    let started = Instant::now();
    c.wait_for_log("storm-done", Duration::from_secs(300));
    eprintln!(
        "e2e_init: 2000 orphans from the command spawned in {:.2?}",
        started.elapsed()
    );
    let settle = Instant::now();
    let mut last = Vec::new();
    let clean = wait_until(Duration::from_secs(30), || {
        last = zombies(&c);
        last.is_empty()
    });
    assert!(
        clean,
        "{} zombies left 30 s after the storm, e.g.:\n{}",
        last.len(),
        last[..last.len().min(20)].join("\n")
    );
    eprintln!(
        "e2e_init: no zombies {:.2?} after the command's storm",
        settle.elapsed()
    );

    // Storm 2: orphans of a `docker exec` session. The kernel hands them to
    // the container's PID 1 too (the shim is a subreaper, but in the parent
    // pid namespace).
    c.exec_ok(&[
        "bash",
        "-c",
        "for i in $(seq 1000); do (sleep 0.01 &); done",
    ]);
    let settle = Instant::now();
    let clean = wait_until(Duration::from_secs(30), || {
        last = zombies(&c);
        last.is_empty()
    });
    assert!(
        clean,
        "{} zombies left 30 s after the exec storm, e.g.:\n{}",
        last.len(),
        last[..last.len().min(20)].join("\n")
    );
    eprintln!(
        "e2e_init: no zombies {:.2?} after the exec storm",
        settle.elapsed()
    );
    assert!(c.is_running(), "the container died during the storm");
}

#[test]
fn interactive_shell_ctrl_c_interrupts_the_foreground_job() {
    let Some(docker) = require_e2e("interactive_shell_ctrl_c_interrupts_the_foreground_job") else {
        return;
    };
    let name = unique_name("tty");
    let _guard = Container::adopt(&docker, &name);
    let mut cmd = Command::new(std::env::var("BERTH_DOCKER_CLI").unwrap_or("docker".into()));
    cmd.args(["run", "-it", "--rm", "--label", &label(), "--name", &name])
        .args(init_args())
        .args(image_args(&workspace_image()))
        .arg("bash");
    let mut tty = Pty::spawn(cmd);

    // A prompt no output can fake: the typed line shows 'berth''-prompt> '.
    tty.send(b"PS1='berth''-prompt> '\r");
    tty.expect("berth-prompt> ", START);

    tty.send(b"sleep 100\r");
    // Readline redraws the prompt while echoing the line: consume through the
    // echo, so the next prompt seen is the one after the job ends.
    tty.expect("sleep 100", START);
    let sleeping = wait_until(Duration::from_secs(30), || {
        docker
            .output(["exec", &name, "pgrep", "-x", "sleep"])
            .status
            .success()
    });
    assert!(
        sleeping,
        "sleep never started; transcript:\n{}",
        tty.transcript()
    );

    let sent = Instant::now();
    tty.send(b"\x03");
    tty.expect("berth-prompt> ", Duration::from_secs(10));
    eprintln!("e2e_init: prompt back {:.2?} after Ctrl-C", sent.elapsed());

    tty.send(b"echo \"rc=$?\"\r");
    tty.expect("rc=130", Duration::from_secs(10));

    tty.send(b"exit\r");
    let code = tty.wait_exit(Duration::from_secs(30));
    assert_eq!(
        code,
        Some(0),
        "docker run -it did not end with the shell; transcript:\n{}",
        tty.transcript()
    );
}

#[test]
fn the_command_runs_as_berth_user() {
    let Some(docker) = require_e2e("the_command_runs_as_berth_user") else {
        return;
    };
    if init_is_stand_in() {
        skip(
            "the_command_runs_as_berth_user",
            "berth-only; BERTH_E2E_INIT is set",
        );
        return;
    }
    let c = start(&docker, &["sh", "-c", "echo \"user=$(id -un)\""]);
    assert_eq!(c.wait_exit_code(START), 0, "logs:\n{}", c.logs());
    let logs = c.logs();
    assert!(
        logs.contains("user=dev"),
        "image sets BERTH_USER=dev; logs:\n{logs}"
    );
}

#[test]
fn a_missing_command_exits_127() {
    let Some(docker) = require_e2e("a_missing_command_exits_127") else {
        return;
    };
    if init_is_stand_in() {
        skip(
            "a_missing_command_exits_127",
            "berth-only; BERTH_E2E_INIT is set",
        );
        return;
    }
    let c = start(&docker, &["/no/such/command"]);
    assert_eq!(c.wait_exit_code(START), 127, "logs:\n{}", c.logs());
}

#[test]
fn a_plain_docker_run_gives_the_command_a_clean_signal_state() {
    let Some(docker) = require_e2e("a_plain_docker_run_gives_the_command_a_clean_signal_state")
    else {
        return;
    };
    // Nothing blocked, nothing ignored: neither berth's own signalfd mask nor
    // its handling of SIGTTIN/SIGTTOU reaches the command. `cat`, not grep:
    // GNU grep installs a SIGSEGV handler of its own.
    let c = start(&docker, &["cat", "/proc/self/status"]);
    assert_eq!(c.wait_exit_code(START), 0, "logs:\n{}", c.logs());
    let logs = c.logs();
    for line in ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"] {
        assert!(logs.contains(line), "want {line:?}; logs:\n{logs}");
    }
}

#[test]
fn docker_stop_reaches_a_stopped_command() {
    let Some(docker) = require_e2e("docker_stop_reaches_a_stopped_command") else {
        return;
    };
    if init_is_stand_in() {
        // tini forwards SIGTERM without SIGCONT: the stopped shell is SIGKILLed.
        skip(
            "docker_stop_reaches_a_stopped_command",
            "berth-only; BERTH_E2E_INIT is set",
        );
        return;
    }
    let c = start(
        &docker,
        &[
            "sh",
            "-c",
            "trap 'echo trapped TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    c.wait_for_log("ready", START);
    // The command is berth's only child (BERTH_DOCKER=off): stop it, as a
    // debugger or a suspended job would be.
    c.exec_ok(&["sh", "-c", "kill -STOP $(cat /proc/1/task/1/children)"]);
    let took = c.stop(10);
    eprintln!("e2e_init: `docker stop -t 10` of a stopped command took {took:.2?}");
    let code = exit_code_from_inspect(&c);
    let logs = c.logs();
    assert_eq!(
        code, 0,
        "SIGTERM then SIGCONT should run the trap (137: SIGKILLed after berth's grace period); logs:\n{logs}"
    );
    assert!(logs.contains("trapped TERM"), "logs:\n{logs}");
}
