//! berth as a real PID 1 (in a new user+pid namespace, via `unshare`) and as a
//! subreaper, observed from outside: exit codes, signals, reaping, shutdown,
//! the terminal.
//!
//! This test binary has its own `main` (harness = false): it also plays the
//! child berth supervises (`pid1 --role sigcatcher FILE`), because no shell
//! can catch signals 32 and 33 (glibc reserves them), and the signal test
//! must see every one of 1..=64 arrive.

#[path = "../common/fake_engine.rs"]
mod fake_engine;
mod pty;
mod roles;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn berth() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

fn me() -> PathBuf {
    std::env::current_exe().expect("test binary path")
}

/// Where berth runs: as PID 1 of a new namespace, or as a plain child
/// (then a subreaper).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Place {
    Pid1,
    Subreaper,
}

const PLACES: [Place; 2] = [Place::Pid1, Place::Subreaper];

/// `berth ARGS...`, placed as asked.
fn berth_cmd(place: Place, args: &[&str]) -> Command {
    wrapped_berth_cmd(place, &[], args)
}

/// `berth ARGS...` exec'd by `wrapper` (a program and its arguments; none:
/// berth directly), placed as asked: as PID 1, the wrapper runs as the new
/// namespace's first process and execs berth, which keeps pid 1.
fn wrapped_berth_cmd(place: Place, wrapper: &[&OsStr], args: &[&str]) -> Command {
    let berth = berth();
    let mut argv: Vec<&OsStr> = wrapper.to_vec();
    argv.push(berth.as_os_str());
    let mut command = match place {
        Place::Pid1 => {
            let mut c = Command::new("unshare");
            c.args(["-Upf", "--mount-proc", "--map-root-user", "--kill-child"]);
            c.args(&argv);
            c
        }
        Place::Subreaper => {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    // These tests are about the init: no Docker detection, no engine.
    command
        .args(args)
        .env("BERTH_LOG_LEVEL", "warn")
        .env("BERTH_DOCKER", "off");
    command
}

fn run_status(place: Place, args: &[&str]) -> (ExitStatus, String, String) {
    let out = berth_cmd(place, args)
        .stdin(Stdio::null())
        .output()
        .expect("run berth");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn code(place: Place, args: &[&str]) -> i32 {
    let (status, _, stderr) = run_status(place, args);
    status
        .code()
        .unwrap_or_else(|| panic!("berth died of a signal: {status:?}; stderr: {stderr}"))
}

/// Polls `check` until it returns Some or the deadline passes.
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pid of berth itself: the child of `unshare`, or the process spawned.
fn berth_pid(place: Place, child: &Child) -> i32 {
    let spawned = child.id() as i32;
    match place {
        Place::Subreaper => spawned,
        Place::Pid1 => wait_for("berth under unshare", Duration::from_secs(10), || {
            fs::read_to_string(format!("/proc/{spawned}/task/{spawned}/children"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        }),
    }
}

fn wait_child(child: &mut Child, limit: Duration) -> ExitStatus {
    wait_for("berth to exit", limit, || {
        child.try_wait().expect("try_wait")
    })
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// The first child of `pid` (berth's: the command), once there is one.
fn first_child(pid: i32) -> i32 {
    wait_for("a child process", Duration::from_secs(10), || {
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Fields of /proc/PID/stat after the command name: [0] is the state (R, S,
/// T...), [5] the terminal's foreground process group (tpgid).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn stopped(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] == "T")
}

/// SigBlk/SigIgn as /proc/PID/status prints a set of signals.
fn sig_hex(signals: &[i32]) -> String {
    format!(
        "{:016x}",
        signals.iter().fold(0u64, |bits, sig| bits | 1 << (sig - 1))
    )
}

/// `berth ARGS...` started by a caller that ignores `ignored` and blocks
/// `blocked` (comma-separated names such as SIGINT): the signal-state role.
fn berth_with_signal_state(place: Place, ignored: &str, blocked: &str, args: &[&str]) -> Command {
    let me = me();
    let wrapper: [&OsStr; 5] = [
        me.as_os_str(),
        "--role".as_ref(),
        "signal-state".as_ref(),
        ignored.as_ref(),
        blocked.as_ref(),
    ];
    wrapped_berth_cmd(place, &wrapper, args)
}

// ---------------------------------------------------------------- the tests

fn exit_codes_pass_through() {
    for place in PLACES {
        assert_eq!(code(place, &["--", "sh", "-c", "exit 0"]), 0, "{place:?}");
        assert_eq!(code(place, &["--", "sh", "-c", "exit 42"]), 42, "{place:?}");
        assert_eq!(
            code(place, &["sh", "-c", "kill -TERM $$"]),
            143,
            "{place:?}"
        );
        assert_eq!(
            code(place, &["sh", "-c", "kill -KILL $$"]),
            137,
            "{place:?}"
        );
        assert_eq!(
            code(place, &["-e", "42", "sh", "-c", "exit 42"]),
            0,
            "{place:?}"
        );
    }
}

fn unrunnable_commands_give_126_and_127() {
    let dir = temp_dir();
    let not_exec = dir.path().join("script");
    fs::write(&not_exec, "#!/bin/sh\necho hi\n").unwrap();
    for place in PLACES {
        let (status, _, stderr) = run_status(place, &["definitely-not-a-command-xyz"]);
        assert_eq!(status.code(), Some(127), "{place:?}: {stderr}");
        assert!(stderr.contains("definitely-not-a-command-xyz"), "{stderr}");
        let (status, _, stderr) = run_status(place, &[not_exec.to_str().unwrap()]);
        assert_eq!(status.code(), Some(126), "{place:?}: {stderr}");
    }
}

fn bad_flags_give_usage_errors() {
    let (status, _, stderr) = run_status(Place::Subreaper, &["--grace", "soon", "true"]);
    assert_eq!(status.code(), Some(64));
    assert!(
        stderr.contains("--grace") && stderr.contains("8s"),
        "{stderr}"
    );
    let (status, _, stderr) = run_status(Place::Subreaper, &["--no-such-flag"]);
    assert_eq!(status.code(), Some(64), "{stderr}");
    let (status, stdout, _) = run_status(Place::Subreaper, &["--version"]);
    assert_eq!(status.code(), Some(0));
    assert!(stdout.starts_with("berth "), "{stdout}");
}

fn the_command_gets_the_callers_signal_state() {
    use libc::{SIGHUP, SIGILL, SIGINT, SIGPIPE, SIGSEGV, SIGTERM, SIGTTIN, SIGTTOU};
    // (ignored, blocked) by berth's caller: what the command must start with.
    // No inherited state must give a clean one: berth's own signalfd mask and
    // its SIGTTIN/SIGTTOU handling never reach the command. SIGPIPE shows the
    // state is read before Rust's runtime ignores SIGPIPE in berth.
    let cases: [(&[i32], &[i32]); 3] = [
        (&[SIGTTOU, SIGSEGV, SIGINT], &[SIGTTIN, SIGILL, SIGTERM]),
        (&[SIGHUP, SIGPIPE], &[]),
        (&[], &[]),
    ];
    let names = |sigs: &[i32]| -> String {
        sigs.iter()
            .map(|&s| nix::sys::signal::Signal::try_from(s).unwrap().as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    for place in PLACES {
        for (ignored, blocked) in cases {
            let out = berth_with_signal_state(
                place,
                &names(ignored),
                &names(blocked),
                // cat, not grep: GNU grep installs a SIGSEGV handler.
                &["cat", "/proc/self/status"],
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{place:?}: {text}");
            let seen: String = text
                .lines()
                .filter(|l| l.starts_with("SigBlk:") || l.starts_with("SigIgn:"))
                .map(|l| format!("{l}\n"))
                .collect();
            let want = format!(
                "SigBlk:\t{}\nSigIgn:\t{}\n",
                sig_hex(blocked),
                sig_hex(ignored)
            );
            assert_eq!(
                seen,
                want,
                "{place:?}: caller ignored {} and blocked {}",
                names(ignored),
                names(blocked)
            );
        }
    }
}

fn berth_acts_on_signals_its_caller_ignored_or_blocked() {
    for place in PLACES {
        // nohup: SIGHUP ignored. berth forwards it; the command ignores it
        // (as its caller asked) and ends on its own.
        let mut child =
            berth_with_signal_state(place, "SIGHUP", "", &["sh", "-c", "sleep 1; exit 5"])
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
        let pid = berth_pid(place, &child);
        first_child(pid);
        kill(pid, libc::SIGHUP);
        let status = wait_child(&mut child, Duration::from_secs(20));
        assert_eq!(
            status.code(),
            Some(5),
            "{place:?}: the command survived SIGHUP"
        );

        // SIGTERM blocked: the command keeps it blocked, but berth still acts
        // on it: its grace period starts and ends in SIGKILL.
        let mut child = berth_with_signal_state(place, "", "SIGTERM", &["-t", "1", "sleep", "100"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = berth_pid(place, &child);
        first_child(pid);
        kill(pid, libc::SIGTERM);
        let status = wait_child(&mut child, Duration::from_secs(20));
        assert_eq!(
            status.code(),
            Some(137),
            "{place:?}: SIGKILLed after the grace period"
        );

        // SIGCHLD ignored: the kernel would reap berth's children itself and
        // berth would never see its command end.
        let mut child = berth_with_signal_state(place, "SIGCHLD", "", &["sh", "-c", "exit 3"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let status = wait_child(&mut child, Duration::from_secs(20));
        assert_eq!(status.code(), Some(3), "{place:?}: the command's own code");
    }
}

fn a_stopped_command_gets_term_then_cont() {
    for place in PLACES {
        for flags in [&[][..], &["-g"][..]] {
            let dir = temp_dir();
            let ready = dir.path().join("ready");
            let script = format!(
                "trap 'exit 0' TERM; touch {r}; while :; do sleep 0.1; done",
                r = ready.display()
            );
            let mut args = flags.to_vec();
            args.extend(["--", "sh", "-c", &script]);
            let mut child = berth_cmd(place, &args)
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            let pid = berth_pid(place, &child);
            let shell = first_child(pid);
            wait_for("the TERM trap", Duration::from_secs(10), || {
                ready.exists().then_some(())
            });
            kill(shell, libc::SIGSTOP);
            wait_for("the shell to stop", Duration::from_secs(10), || {
                stopped(shell).then_some(())
            });
            let start = Instant::now();
            kill(pid, libc::SIGTERM);
            // Without SIGCONT the shell sleeps through berth's 8 s grace: 137.
            let status = wait_child(&mut child, Duration::from_secs(30));
            assert_eq!(
                status.code(),
                Some(0),
                "{place:?} {flags:?}: the trap's exit 0"
            );
            eprintln!(
                "  {place:?} {flags:?}: stopped command ended {:?} after SIGTERM",
                start.elapsed()
            );
        }
    }
}

fn berth_leaves_its_start_directory() {
    for place in PLACES {
        let dir = temp_dir();
        let start = fs::canonicalize(dir.path()).unwrap();
        let mut child = berth_cmd(place, &["sleep", "100"])
            .current_dir(&start)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = berth_pid(place, &child);
        let command = first_child(pid);
        let cwd = |pid: i32| fs::read_link(format!("/proc/{pid}/cwd")).ok();
        wait_for("berth to move to /", Duration::from_secs(10), || {
            (cwd(pid)? == Path::new("/")).then_some(())
        });
        assert_eq!(
            cwd(command),
            Some(start.clone()),
            "{place:?}: the command's cwd"
        );
        kill(pid, libc::SIGTERM);
        wait_child(&mut child, Duration::from_secs(20));
    }
    // The same from the command's side: its parent's cwd.
    let dir = temp_dir();
    let (status, stdout, stderr) = {
        let out = berth_cmd(
            Place::Subreaper,
            &[
                "sh",
                "-c",
                "for i in $(seq 500); do [ \"$(readlink /proc/$PPID/cwd)\" = / ] && break; sleep 0.01; done; readlink /proc/$PPID/cwd; pwd",
            ],
        )
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(status.success(), "{stderr}");
    let start = fs::canonicalize(dir.path()).unwrap();
    assert_eq!(stdout, format!("/\n{}\n", start.display()));
}

/// `GET path` from berth's health server at `port`: the status line.
fn http_status(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: berth\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response.lines().next()?.to_string())
}

/// Relative paths berth keeps using after it has left its start directory
/// (issue 13): DOCKER_HOST=unix://engine.sock, relative to where berth
/// started, still reaches the engine from the health server's later pings.
/// Before, the relative socket path was refused at start (exit 69).
fn relative_docker_paths_hold_after_berth_leaves_its_start_directory() {
    for place in PLACES {
        let dir = temp_dir();
        let start = fs::canonicalize(dir.path()).unwrap();
        let _engine = fake_engine::FakeEngine::serve(&start.join("engine.sock"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = berth_cmd(place, &["sleep", "100"])
            .current_dir(&start)
            .env("BERTH_DOCKER", "socket")
            .env("DOCKER_HOST", "unix://engine.sock")
            .env("BERTH_HEALTH_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = berth_pid(place, &child);
        let cwd = |pid: i32| fs::read_link(format!("/proc/{pid}/cwd")).ok();
        wait_for("berth to move to /", Duration::from_secs(10), || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{place:?}: berth exited with {status:?} before its command ran");
            }
            (cwd(pid)? == Path::new("/")).then_some(())
        });
        let status = wait_for("/healthz", Duration::from_secs(10), || {
            http_status(port, "/healthz")
        });
        assert_eq!(
            status, "HTTP/1.1 200 OK",
            "{place:?}: the engine answers from /"
        );
        kill(pid, libc::SIGTERM);
        wait_child(&mut child, Duration::from_secs(20));
    }
}

/// berth as PID 1 of a namespace made by hand on this host (`unshare`, not a
/// container), privileged there, dockerd on PATH, auto mode: it must not
/// start a second dockerd (issue 11's protection, now decided from evidence
/// rather than pid 1). The dockerd here is a stand-in that records a start.
fn berth_by_hand_outside_a_container_starts_no_dockerd() {
    let dir = temp_dir();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let marker = dir.path().join("dockerd-started");
    let fake = bin.join("dockerd");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$1\" in --help) exit 0 ;; esac\necho \"$@\" >> '{}'\nexec /bin/sleep 30\n",
            marker.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/usr/bin/unshare", bin.join("unshare")).unwrap();
    // A /run of its own in the namespace's mount namespace: an engine of
    // the machine's at /var/run/docker.sock would make this socket mode.
    let private_run: [&OsStr; 3] = [
        OsStr::new("/bin/sh"),
        OsStr::new("-c"),
        OsStr::new("/bin/mount -t tmpfs tmpfs /run && exec \"$0\" \"$@\""),
    ];
    let out = wrapped_berth_cmd(Place::Pid1, &private_run, &["/bin/true"])
        .env("BERTH_DOCKER", "auto")
        .env("PATH", &bin)
        .env("BERTH_DOCKERD_DATA_ROOT", dir.path().join("data"))
        .env("BERTH_DOCKERD_READY_TIMEOUT", "2s")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("berth is not this container's init (nothing shows it runs in a container"),
        "{stderr}"
    );
    assert!(
        !marker.exists(),
        "dockerd was started: {:?}",
        fs::read_to_string(&marker)
    );
}

fn tstp_to_berth_stops_it_with_its_command() {
    // Not PID 1: forwarded, then berth stops too; SIGCONT resumes both. berth
    // leads its own process group with a parent in the same session, as a
    // shell's job does (an orphaned group would not stop: see job_control.rs).
    let mut child = berth_cmd(Place::Subreaper, &["sleep", "100"])
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let command = first_child(pid);
    kill(pid, libc::SIGTSTP);
    wait_for(
        "berth and the command to stop",
        Duration::from_secs(10),
        || (stopped(pid) && stopped(command)).then_some(()),
    );
    kill(pid, libc::SIGCONT);
    wait_for("both to run again", Duration::from_secs(10), || {
        (!stopped(pid) && !stopped(command)).then_some(())
    });
    kill(pid, libc::SIGTERM);
    let status = wait_child(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(143));

    // As PID 1 nothing changes: the command stops, berth does not.
    let mut child = berth_cmd(Place::Pid1, &["sleep", "100"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = berth_pid(Place::Pid1, &child);
    let command = first_child(pid);
    kill(pid, libc::SIGTSTP);
    wait_for("the command to stop", Duration::from_secs(10), || {
        stopped(command).then_some(())
    });
    assert!(!stopped(pid), "berth as PID 1 stopped");
    kill(pid, libc::SIGCONT);
    wait_for("the command to run again", Duration::from_secs(10), || {
        (!stopped(command)).then_some(())
    });
    kill(pid, libc::SIGTERM);
    let status = wait_child(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(143));
}

fn ctrl_z_under_a_shell_stops_berth_and_fg_resumes() {
    let mut shell = Command::new("bash");
    shell
        .args(["--norc", "--noprofile", "-i"])
        .env("BERTH_LOG_LEVEL", "warn")
        .env("BERTH_DOCKER", "off");
    let mut session = pty::Session::start(shell);
    // Quoted so that the echo of this line does not read as the prompt.
    session.send("PS1='pro''mpt> '\n");
    session.expect("prompt> ", Duration::from_secs(10));
    session.send(&format!("'{}' -- sleep 100\n", berth().display()));
    // The sleep runs and holds the terminal (its group is the foreground one).
    let bash = session.pid();
    let sleep_holds_terminal =
        |sleep: i32| stat_fields(sleep).is_some_and(|f| f[0] != "T" && f[5] == sleep.to_string());
    let berth_pid = first_child(bash);
    let sleep = first_child(berth_pid);
    wait_for(
        "sleep to hold the terminal",
        Duration::from_secs(10),
        || sleep_holds_terminal(sleep).then_some(()),
    );
    session.send("\x1a");
    // Today's failure: berth keeps running and the prompt never returns.
    session.expect("prompt> ", Duration::from_secs(10));
    assert!(
        stopped(berth_pid) && stopped(sleep),
        "{}",
        session.transcript()
    );
    session.send("jobs\n");
    session.expect("Stopped", Duration::from_secs(10));
    session.send("fg\n");
    wait_for(
        "sleep to hold the terminal again",
        Duration::from_secs(10),
        || (sleep_holds_terminal(sleep) && !stopped(berth_pid)).then_some(()),
    );
    session.send("\x03");
    session.send("echo rc=$?\n");
    session.expect("rc=130", Duration::from_secs(10));
    session.send("exit 0\n");
    let status = session.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", session.transcript());
}

fn every_forwardable_signal_arrives() {
    for place in PLACES {
        let dir = temp_dir();
        let log = dir.path().join("signals");
        // Its own process group, in this session: a shell's job, which the
        // job-control signals stop when berth is not PID 1.
        let mut child = berth_cmd(
            place,
            &["--", me().to_str().unwrap(), "--role", "sigcatcher"],
        )
        .arg(&log)
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
        let pid = berth_pid(place, &child);
        let seen = |log: &Path| -> Vec<i32> {
            fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.parse().ok())
                .collect()
        };
        wait_for("the catcher to start", Duration::from_secs(10), || {
            fs::read_to_string(&log)
                .ok()
                .filter(|t| t.starts_with("ready"))
        });
        let forwardable: Vec<i32> = (1..=64)
            .filter(|s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD, libc::SIGTERM].contains(s))
            .chain([libc::SIGTERM]) // last: the catcher exits on it
            .collect();
        for &sig in &forwardable {
            kill(pid, sig);
            wait_for(
                &format!("signal {sig} at the child ({place:?})"),
                Duration::from_secs(10),
                || seen(&log).contains(&sig).then_some(()),
            );
            if place == Place::Subreaper
                && [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU].contains(&sig)
            {
                // Forwarded, then berth stopped itself (the catcher does not
                // stop: it blocks the signal); SIGCONT resumes berth.
                wait_for("berth to stop", Duration::from_secs(10), || {
                    stopped(pid).then_some(())
                });
                kill(pid, libc::SIGCONT);
                wait_for("berth to run again", Duration::from_secs(10), || {
                    (!stopped(pid)).then_some(())
                });
            }
        }
        let status = wait_child(&mut child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{place:?}");
        // Each once, but SIGCONT: berth follows every signal whose default
        // action ends a process with one (pending ones coalesce).
        let arrived = seen(&log);
        let once: Vec<i32> = arrived
            .iter()
            .copied()
            .filter(|&s| s != libc::SIGCONT)
            .collect();
        assert_eq!(
            once.len(),
            forwardable.len() - 1,
            "{place:?}: each arrived once"
        );
        assert!(arrived.contains(&libc::SIGCONT), "{place:?}");
    }
}

fn orphan_storm_leaves_no_zombie() {
    // 2000 orphans, each reparented to berth; then, once none is running,
    // count zombies in the namespace (or berth's subtree) until none is left.
    let script = r#"
        for i in $(seq 2000); do (sleep 0.01 &) ; done
        while pgrep -P "$BERTH_PID" -x sleep >/dev/null; do sleep 0.05; done
        for i in $(seq 100); do
            z=$(ps -o stat= --ppid "$BERTH_PID" | grep -c '^Z')
            [ "$z" -eq 0 ] && break
            sleep 0.05
        done
        echo "zombies=$z"
    "#;
    for place in PLACES {
        // The script looks for zombies among berth's children: its own parent.
        let (status, stdout, stderr) =
            run_status(place, &["sh", "-c", &format!("BERTH_PID=$PPID; {script}")]);
        assert!(status.success(), "{place:?}: {stderr}");
        assert!(stdout.contains("zombies=0"), "{place:?}: {stdout}");
    }
}

fn ignored_sigterm_is_killed_after_the_grace_period() {
    for place in PLACES {
        let mut child = berth_cmd(place, &["-t", "1", "sh", "-c", "trap '' TERM; sleep 100"])
            .spawn()
            .unwrap();
        let pid = berth_pid(place, &child);
        std::thread::sleep(Duration::from_millis(200)); // let sh set its trap
        let start = Instant::now();
        kill(pid, libc::SIGTERM);
        let status = wait_child(&mut child, Duration::from_secs(20));
        let took = start.elapsed();
        assert_eq!(status.code(), Some(137), "{place:?}: SIGKILLed");
        // Not before the grace period (berth must give the command its time).
        assert!(
            took >= Duration::from_millis(900),
            "{place:?}: killed too early: {took:?}"
        );
        eprintln!("  {place:?}: 1 s grace, berth exited after {took:?}");
    }
}

fn daemonised_grandchild_is_terminated() {
    for place in PLACES {
        let dir = temp_dir();
        let marker = dir.path().join("termed");
        let script = format!(
            "setsid sh -c 'trap \"echo termed > {m}; exit 0\" TERM; sleep 100 & wait' & sleep 0.2; exit 0",
            m = marker.display()
        );
        let start = Instant::now();
        let mut child = berth_cmd(place, &["sh", "-c", &script]).spawn().unwrap();
        let status = wait_child(&mut child, Duration::from_secs(20));
        assert_eq!(status.code(), Some(0), "{place:?}: the command's own code");
        assert_eq!(
            fs::read_to_string(&marker).unwrap_or_default(),
            "termed\n",
            "{place:?}"
        );
        eprintln!(
            "  {place:?}: grandchild TERMed, berth done after {:?}",
            start.elapsed()
        );
    }
}

fn pgroup_flag_signals_the_whole_group() {
    let dir = temp_dir();
    let marker = dir.path().join("grandchild");
    // Without -g only sh would get TERM (and it waits for its child).
    let script = format!(
        "sh -c 'trap \"echo got > {m}; exit 0\" TERM; sleep 100 & wait' & wait",
        m = marker.display()
    );
    let mut child = berth_cmd(Place::Subreaper, &["-g", "sh", "-c", &script])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(child.id() as i32, libc::SIGTERM);
    wait_child(&mut child, Duration::from_secs(20));
    assert_eq!(fs::read_to_string(&marker).unwrap_or_default(), "got\n");
}

fn parent_death_signal_reaches_the_command() {
    let dir = temp_dir();
    let marker = dir.path().join("orphaned");
    let inner = format!(
        "trap \"echo got-term > {m}; exit 0\" TERM; sleep 100 & wait",
        m = marker.display()
    );
    // A parent that starts berth -p TERM in the background and exits.
    let parent = format!(
        "BERTH_DOCKER=off '{b}' -p TERM -- sh -c '{inner}' & sleep 0.3; exit 0",
        b = berth().display()
    );
    let status = Command::new("sh").args(["-c", &parent]).status().unwrap();
    assert!(status.success());
    wait_for(
        "the command to get SIGTERM",
        Duration::from_secs(10),
        || (fs::read_to_string(&marker).unwrap_or_default() == "got-term\n").then_some(()),
    );
}

fn terminal_job_control_works() {
    for place in PLACES {
        let mut session =
            pty::Session::start(berth_cmd(place, &["bash", "--norc", "--noprofile", "-i"]));
        session.send("PS1='prompt> '\n");
        session.expect("prompt> ", Duration::from_secs(10));
        // Ctrl-C interrupts the foreground job, as in a plain shell.
        session.send("sleep 100\n");
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        session.send("\x03");
        session.send("echo rc=$?\n");
        session.expect("rc=130", Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(50),
            "{place:?}: ^C did not stop sleep"
        );
        // Ctrl-Z stops it and the shell's job control takes over.
        session.send("sleep 100\n");
        std::thread::sleep(Duration::from_millis(300));
        session.send("\x1a");
        session.expect("Stopped", Duration::from_secs(10));
        session.send("kill %1; wait; echo jobs-done\n");
        session.expect("jobs-done", Duration::from_secs(10));
        session.send("exit 7\n");
        let status = session.wait(Duration::from_secs(10));
        assert_eq!(
            status.code(),
            Some(7),
            "{place:?}: {}",
            session.transcript()
        );
    }
}

fn logs_can_be_json() {
    let (_, _, stderr) = run_status(
        Place::Subreaper,
        &["--log-format", "json", "--log-level", "info", "true"],
    );
    let line = stderr
        .lines()
        .find(|l| l.contains("command started"))
        .unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(value["level"], "INFO");
}

// ------------------------------------------------------------------ runner

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    ("exit_codes_pass_through", exit_codes_pass_through),
    (
        "unrunnable_commands_give_126_and_127",
        unrunnable_commands_give_126_and_127,
    ),
    ("bad_flags_give_usage_errors", bad_flags_give_usage_errors),
    (
        "the_command_gets_the_callers_signal_state",
        the_command_gets_the_callers_signal_state,
    ),
    (
        "berth_acts_on_signals_its_caller_ignored_or_blocked",
        berth_acts_on_signals_its_caller_ignored_or_blocked,
    ),
    (
        "a_stopped_command_gets_term_then_cont",
        a_stopped_command_gets_term_then_cont,
    ),
    (
        "berth_leaves_its_start_directory",
        berth_leaves_its_start_directory,
    ),
    (
        "relative_docker_paths_hold_after_berth_leaves_its_start_directory",
        relative_docker_paths_hold_after_berth_leaves_its_start_directory,
    ),
    (
        "berth_by_hand_outside_a_container_starts_no_dockerd",
        berth_by_hand_outside_a_container_starts_no_dockerd,
    ),
    (
        "tstp_to_berth_stops_it_with_its_command",
        tstp_to_berth_stops_it_with_its_command,
    ),
    (
        "ctrl_z_under_a_shell_stops_berth_and_fg_resumes",
        ctrl_z_under_a_shell_stops_berth_and_fg_resumes,
    ),
    (
        "every_forwardable_signal_arrives",
        every_forwardable_signal_arrives,
    ),
    (
        "orphan_storm_leaves_no_zombie",
        orphan_storm_leaves_no_zombie,
    ),
    (
        "ignored_sigterm_is_killed_after_the_grace_period",
        ignored_sigterm_is_killed_after_the_grace_period,
    ),
    (
        "daemonised_grandchild_is_terminated",
        daemonised_grandchild_is_terminated,
    ),
    (
        "pgroup_flag_signals_the_whole_group",
        pgroup_flag_signals_the_whole_group,
    ),
    (
        "parent_death_signal_reaches_the_command",
        parent_death_signal_reaches_the_command,
    ),
    ("terminal_job_control_works", terminal_job_control_works),
    ("logs_can_be_json", logs_can_be_json),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--role") {
        roles::run(&args[2..]);
        return;
    }
    // libtest flags (--nocapture, --test-threads...) are accepted and ignored;
    // a bare word filters tests by name, as with libtest.
    let filter: Option<&String> = args[1..].iter().find(|a| !a.starts_with('-'));
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return;
    }
    let selected: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(test);
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!("test {name} ... {verdict} ({:.2?})", start.elapsed());
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    let passed = selected.len() - failed.len();
    println!("\n{passed} passed, {} failed", failed.len());
    if !failed.is_empty() {
        println!("failures: {}", failed.join(", "));
        std::process::exit(101);
    }
}
