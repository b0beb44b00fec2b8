//! The helper runner under a running reaper (DESIGN.md invariant 1).
//!
//! Once berth's reaper runs, every exit status goes to it: a helper that
//! waits on its own child (as the ssh ping's docker CLI once did) got
//! "No child processes (os error 10)". Here a loop stands in for the
//! reaper's SIGCHLD handling and calls `waitpid(-1)` all the time, while
//! helpers run through the supervised runner.
//!
//! One test function on purpose: the reaper takes every child of this
//! process, so no other test may run children alongside it.

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "common/reaping.rs"]
mod reaping;

use berth::reaper::Exit;
use berth::runner::{HelperError, HelperRunner, SupervisedRunner};

#[test]
fn helpers_run_through_the_reaper_while_it_reaps() {
    reaping::with_reaper(|reaper| async move {
        let runner = SupervisedRunner::new(reaper.clone());
        let sh = Path::new("/bin/sh");

        // Its exit code and both outputs arrive, every time.
        for _ in 0..20 {
            let out = runner
                .run(
                    sh,
                    &["-c", "echo out; echo err >&2; exit 3"],
                    Duration::from_secs(10),
                )
                .await
                .expect("the helper's exit reaches the runner");
            assert_eq!(out.exit, Exit::Code(3));
            assert_eq!(out.stdout, "out\n");
            assert_eq!(out.stderr, "err\n");
        }
        let killed = runner
            .run(sh, &["-c", "kill -TERM $$"], Duration::from_secs(10))
            .await
            .expect("ran");
        assert_eq!(killed.exit, Exit::Signal(libc::SIGTERM));

        // Past its deadline a helper is SIGKILLed, with what it started, and
        // reported as timed out.
        let started = Instant::now();
        let err = runner
            .run(
                sh,
                &["-c", "sleep 30 & sleep 30"],
                Duration::from_millis(300),
            )
            .await
            .expect_err("timed out");
        let elapsed = started.elapsed();
        let HelperError::TimedOut { pid, .. } = err else {
            panic!("expected a timeout, got {err}");
        };
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        // Its whole process group is gone (reaped, not left a zombie).
        let deadline = Instant::now() + Duration::from_secs(5);
        while any_in_group(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!any_in_group(pid), "processes of group {pid} remain");
        assert_eq!(reaper.registered(), 0, "every helper's exit was handed out");
    });
}

/// Whether any process (zombies included) is in process group `pgid`.
fn any_in_group(pgid: i32) -> bool {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // Fields after the ")" of the command name: state ppid pgrp ...
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split(' ').nth(2)?.parse::<i32>().ok()
                })
                == Some(pgid)
        })
}
