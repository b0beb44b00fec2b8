//! (g) pid files a stopped dockerd or containerd left behind.

use super::*;

/// (g) Remove dockerd/containerd pid files left by an unclean stop: with
/// them in place the next start refuses ("pid file found, ensure docker is
/// not running"). A pid counts as alive only when `/proc/<pid>/comm` names
/// the expected process: after a container restart the old pid is often
/// reused by something else (berth itself is pid 1).
pub fn remove_stale_pid_files(paths: &PreflightPaths) -> Finding {
    const STEP: Step = Step::StalePidFiles;
    let mut removed = Vec::new();
    let mut running = Vec::new();
    let mut failed = Vec::new();
    for spec in &paths.pid_files {
        let content = match fs::read_to_string(&spec.path) {
            Ok(c) => c,
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => {
                failed.push(format!("{}: {err}", spec.path.display()));
                continue;
            }
        };
        if let Ok(pid) = content.trim().parse::<u32>() {
            if process_is(&paths.proc_root, pid, &spec.process_name) {
                running.push(format!("{} (pid {pid})", spec.process_name));
                continue;
            }
        }
        match fs::remove_file(&spec.path) {
            Ok(()) => removed.push(spec.path.display().to_string()),
            Err(err) => failed.push(format!("{}: {err}", spec.path.display())),
        }
    }
    if !running.is_empty() {
        return warn(
            STEP,
            format!("already running: {}", running.join(", ")),
            "a second dockerd would fail on the pid file; stop the running one or let berth use it",
        );
    }
    if !failed.is_empty() {
        return warn(
            STEP,
            format!("cannot remove stale pid files: {}", failed.join("; ")),
            "remove them by hand, or make their directory writable",
        );
    }
    if removed.is_empty() {
        skipped(STEP, "no pid files left behind")
    } else {
        done(STEP, format!("removed stale {}", removed.join(", ")))
    }
}

/// Whether `pid` is a live process named `name` (comm is cut at 15 bytes).
fn process_is(proc_root: &Path, pid: u32, name: &str) -> bool {
    let comm = proc_root.join(pid.to_string()).join("comm");
    let Ok(comm) = read_kernel_text(comm) else {
        return false;
    };
    let expected: String = name.chars().take(15).collect();
    comm.trim_end_matches('\n') == expected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    #[allow(unused_imports)]
    use crate::host::syscall::{Call, RecordingSyscall};

    fn fake_process(f: &Fixture, pid: u32, comm: &str) {
        let d = f.paths.proc_root.join(pid.to_string());
        fs::create_dir_all(&d).expect("mkdir");
        fs::write(d.join("comm"), format!("{comm}\n")).expect("write");
    }

    #[test]
    fn stale_pid_files_are_removed_and_live_ones_kept() {
        let f = fixture();
        fs::write(f.root.join("run/docker.pid"), "1").expect("write");
        fs::write(f.root.join("run/containerd.pid"), "4242\n").expect("write");
        fake_process(&f, 1, "berth"); // pid reused by someone else: stale
        let r = remove_stale_pid_files(&f.paths);
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert!(!f.root.join("run/docker.pid").exists());
        assert!(!f.root.join("run/containerd.pid").exists());

        fs::write(f.root.join("run/docker.pid"), "7").expect("write");
        fake_process(&f, 7, "dockerd");
        let r = remove_stale_pid_files(&f.paths);
        assert!(is_warn(&r), "{r:?}");
        assert!(f.root.join("run/docker.pid").exists());
    }

    #[test]
    fn no_pid_files_is_skipped_and_garbage_is_removed() {
        let f = fixture();
        let r = remove_stale_pid_files(&f.paths);
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        fs::write(f.root.join("run/docker.pid"), "not a pid").expect("write");
        let r = remove_stale_pid_files(&f.paths);
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert!(!f.root.join("run/docker.pid").exists());
    }
}
