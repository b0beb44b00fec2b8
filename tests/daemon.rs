//! A daemon berth started that never becomes ready is stopped, not left
//! running: containerd waiting forever on a locked boltdb outlived berth's
//! readiness timeout before (a new user's trial found it still running
//! while the command ran without Docker).
//!
//! One test function on purpose: the reaper takes every child of this
//! process, so no other test may run children alongside it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "common/reaping.rs"]
mod reaping;

use berth::daemon::{Daemon, DaemonError, DaemonSpec, Readiness};
use berth::ChildSpec;

/// A daemon that writes its pid to `pid_file` and never listens; with
/// `ignore_term`, it ignores SIGTERM (as a daemon stuck in a kernel wait or
/// with its own handler might).
fn never_ready(dir: &Path, pid_file: &Path, ignore_term: bool) -> DaemonSpec {
    let trap = if ignore_term { "trap '' TERM; " } else { "" };
    let mut child = ChildSpec::new("/bin/sh");
    child.args = vec![
        "-c".into(),
        format!("{trap}echo $$ > {}; exec sleep 1000", pid_file.display()).into(),
    ];
    DaemonSpec {
        name: "containerd",
        child,
        ready: Readiness::Accepts(dir.join("never.sock")),
        ready_timeout: Duration::from_millis(300),
        max_restarts: 0,
        log_file: None,
        before_start: None,
        stop_grace: Duration::from_millis(500),
    }
}

fn alive(pid: i32) -> bool {
    // kill(pid, 0) succeeds for a live process and for a zombie not yet
    // reaped; the reaper below reaps at once.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn read_pid(path: &PathBuf) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the daemon never wrote its pid");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_daemon_that_never_becomes_ready_is_stopped() {
    reaping::with_reaper(|reaper| async move {
        let dir = tempfile::tempdir().expect("tempdir");
        for ignore_term in [false, true] {
            let pid_file = dir.path().join(format!("pid-{ignore_term}"));
            let spec = never_ready(dir.path(), &pid_file, ignore_term);
            let result = Daemon::start(spec, reaper.clone()).await;
            let Err(err) = result else {
                panic!("a daemon that never listens was taken for ready");
            };
            assert!(
                matches!(err, DaemonError::NotReady { .. }),
                "ignore_term={ignore_term}: {err}"
            );
            let pid = read_pid(&pid_file);
            // Stopped and reaped by the time the error is returned (the
            // reaper's loop may need a moment to collect the zombie).
            let deadline = Instant::now() + Duration::from_secs(2);
            while alive(pid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(
                !alive(pid),
                "ignore_term={ignore_term}: pid {pid} still runs after the readiness timeout"
            );
        }
        assert_eq!(reaper.registered(), 0, "every daemon's exit was collected");
    });
}
