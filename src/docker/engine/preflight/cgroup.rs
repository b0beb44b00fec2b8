//! (b) cgroup v2 nesting: every process into a child cgroup, then the
//! controllers enabled for dockerd, with bounded retries.

use super::*;
use crate::retry::{retry, Attempt, Backoff, Retry};

fn read_words(path: &Path) -> io::Result<Vec<String>> {
    Ok(read_kernel_text(path)?
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// (b) cgroup v2 nesting. The root cgroup of a cgroup namespace cannot both
/// hold processes and delegate controllers ("no internal processes"), so
/// every process moves into `<cgroupfs>/<init_name>` and then every
/// available controller is enabled in `cgroup.subtree_control`, as docker's
/// dind entrypoint does.
///
/// A process started between the move and the enable makes the write fail
/// with EBUSY; the cycle repeats at most `cgroup_attempts` times, with a
/// short growing pause, and never kills anything. When enabling all
/// controllers at once fails otherwise, they are enabled one by one so a
/// single unsupported controller does not cost the others.
///
/// Nothing moves unless `/proc/self/cgroup` shows berth at the root of its
/// cgroup namespace (`0::/`, or `0::/<init_name>` on a second run): with
/// `--cgroupns=host` the cgroupfs root is the host's, and moving "every
/// process" there would move the host's.
pub async fn nest_cgroup_v2(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn Syscall,
) -> Finding {
    const STEP: Step = Step::CgroupNesting;
    let root = &paths.cgroupfs;
    let controllers_file = root.join("cgroup.controllers");
    if !controllers_file.exists() {
        return skipped(
            STEP,
            format!(
                "{} is absent: cgroup v1 or hybrid, nothing to nest",
                controllers_file.display()
            ),
        );
    }
    let fix_writable =
        "run the container with --privileged (or --cgroupns=private and a writable /sys/fs/cgroup)";
    let controllers = match read_words(&controllers_file) {
        Ok(c) => c,
        Err(err) => {
            return warn(
                STEP,
                format!("cannot read {}: {err}", controllers_file.display()),
                fix_writable,
            )
        }
    };
    let own_root = read_kernel_text(&paths.self_cgroup).map(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_owned)
            .unwrap_or_default()
    });
    match own_root {
        Ok(path) if path == "/" || path == format!("/{}", opts.cgroup_init_name) => {}
        Ok(path) => {
            return warn(
                STEP,
                format!("berth is in cgroup {path:?}, not at the root of a private cgroup namespace: nothing moved, so no process outside this container is touched"),
                "run the container with --cgroupns=private (Docker's default on cgroup v2)",
            )
        }
        Err(err) => {
            return warn(
                STEP,
                format!("cannot read {}: {err}; nothing moved", paths.self_cgroup.display()),
                "mount /proc in the container",
            )
        }
    }
    let child = root.join(&opts.cgroup_init_name);
    match fs::create_dir(&child) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => {
            return warn(
                STEP,
                format!("cannot create cgroup {}: {err}", child.display()),
                fix_writable,
            )
        }
    }
    let root_procs = root.join("cgroup.procs");
    let child_procs = child.join("cgroup.procs");
    let subtree = root.join("cgroup.subtree_control");
    let wanted = controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut moved = 0usize;
    let attempts = opts.cgroup_attempts.max(1);
    let policy = Retry {
        budget: None,
        attempts: Some(attempts),
        backoff: Backoff::linear(opts.cgroup_backoff),
    };
    // Each attempt moves whoever is in the root cgroup, then enables the
    // controllers; EBUSY (a process appeared in between) means again.
    let cycle = retry(policy, |attempt| {
        let verdict = match read_words(&root_procs) {
            Err(err) => Attempt::Fail(Some(warn(
                STEP,
                format!("cannot read {}: {err}", root_procs.display()),
                fix_writable,
            ))),
            Ok(pids) => {
                for pid in &pids {
                    match ops.write_control_file(&child_procs, pid) {
                        Ok(()) => moved += 1,
                        // The process exited meanwhile.
                        Err(Errno::ESRCH) => {}
                        Err(errno) => {
                            tracing::debug!(pid = %pid, %errno, "cannot move process into the nested cgroup")
                        }
                    }
                }
                enable_controllers(ops, &subtree, &controllers, &wanted, &child, moved, attempt)
            }
        };
        std::future::ready(verdict)
    })
    .await;
    match cycle.result {
        Ok(record) => return record,
        Err(Some(record)) => return record,
        Err(None) => {}
    }
    warn(
        STEP,
        format!(
            "{} stayed busy after {attempts} attempts: processes keep appearing in the root cgroup",
            subtree.display()
        ),
        "start berth as the container's entrypoint so nothing else runs before pre-flight; dockerd may fail with \"Device or resource busy\"",
    )
}

/// The enable half of one nesting attempt. `Again(None)`: EBUSY, a
/// process appeared in the root cgroup since the move.
fn enable_controllers(
    ops: &dyn Syscall,
    subtree: &Path,
    controllers: &[String],
    wanted: &str,
    child: &Path,
    moved: usize,
    attempt: u32,
) -> Attempt<Finding, Option<Finding>> {
    const STEP: Step = Step::CgroupNesting;
    if controllers.is_empty() {
        return Attempt::Done(done(
            STEP,
            format!(
                "moved {moved} processes into {}; no controllers to enable",
                child.display()
            ),
        ));
    }
    match ops.write_control_file(subtree, wanted) {
        Ok(()) => Attempt::Done(done(
            STEP,
            format!(
                "moved {moved} processes into {}, enabled {wanted} (attempt {attempt})",
                child.display()
            ),
        )),
        Err(Errno::EBUSY) => Attempt::Again(None),
        Err(errno) => {
            let failed = enable_one_by_one(ops, subtree, controllers);
            if failed.is_empty() {
                return Attempt::Done(done(
                    STEP,
                    format!(
                        "moved {moved} processes into {}, enabled {wanted} one by one ({errno} for all at once)",
                        child.display()
                    ),
                ));
            }
            Attempt::Fail(Some(warn(
                STEP,
                format!("cannot enable cgroup controllers {}", failed.join(", ")),
                "containers started by this dockerd cannot use those controllers (limits for them will fail); check the host's cgroup delegation",
            )))
        }
    }
}

/// Enable each controller alone; returns those the kernel refused, with why.
fn enable_one_by_one(ops: &dyn Syscall, subtree: &Path, controllers: &[String]) -> Vec<String> {
    controllers
        .iter()
        .filter_map(|c| {
            ops.write_control_file(subtree, &format!("+{c}"))
                .err()
                .map(|errno| format!("{c} ({errno})"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    #[allow(unused_imports)]
    use crate::host::syscall::{Call, RecordingSyscall};
    use std::cell::Cell;
    use std::rc::Rc;

    fn cgroup_tree(f: &Fixture, controllers: &str, procs: &str) {
        let cg = &f.paths.cgroupfs;
        fs::write(cg.join("cgroup.controllers"), controllers).expect("write");
        fs::write(cg.join("cgroup.procs"), procs).expect("write");
        fs::write(cg.join("cgroup.subtree_control"), "").expect("write");
    }

    #[tokio::test]
    async fn cgroup_v1_is_skipped_without_writes() {
        let f = fixture();
        let ops = RecordingSyscall::new();
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        assert!(ops.calls().is_empty());
        assert!(!f.paths.cgroupfs.join("init").exists());
    }

    #[tokio::test]
    async fn cgroup_outside_a_private_namespace_moves_nothing() {
        let f = fixture();
        cgroup_tree(&f, "cpu memory\n", "1\n2\n");
        fs::write(&f.paths.self_cgroup, "0::/system.slice/docker-abc.scope\n").expect("write");
        let ops = RecordingSyscall::new();
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        match (r.verdict, r.fix.as_deref().unwrap_or_default()) {
            (Verdict::Warning, fix) => assert!(fix.contains("--cgroupns=private"), "{fix}"),
            other => panic!("{other:?}"),
        }
        assert!(ops.calls().is_empty());
        // A second run, berth already nested in init/, proceeds.
        fs::write(&f.paths.self_cgroup, "0::/init\n").expect("write");
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Done, "{r:?}");
    }

    #[tokio::test]
    async fn cgroup_v2_moves_every_pid_then_enables_controllers() {
        let f = fixture();
        cgroup_tree(&f, "cpuset cpu io memory pids\n", "1\n23\n45\n");
        let ops = RecordingSyscall::new();
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Done, "{r:?}");
        let cg = &f.paths.cgroupfs;
        assert_eq!(
            fs::read_to_string(cg.join("init/cgroup.procs")).expect("read"),
            "1\n23\n45\n"
        );
        assert_eq!(
            fs::read_to_string(cg.join("cgroup.procs")).expect("read"),
            ""
        );
        assert_eq!(
            fs::read_to_string(cg.join("cgroup.subtree_control")).expect("read"),
            "+cpuset +cpu +io +memory +pids"
        );
        // One pid per write, all before the subtree_control write.
        let writes: Vec<(PathBuf, String)> = ops
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::WriteControl { path, data } => Some((path, data)),
                _ => None,
            })
            .collect();
        assert_eq!(writes.len(), 4);
        assert!(writes[..3]
            .iter()
            .all(|(p, _)| p == &cg.join("init/cgroup.procs")));
        assert_eq!(writes[3].0, cg.join("cgroup.subtree_control"));
    }

    #[tokio::test]
    async fn cgroup_ebusy_retries_after_moving_newcomers() {
        let f = fixture();
        cgroup_tree(&f, "cpu memory\n", "1\n");
        let ops = RecordingSyscall::new();
        let procs = f.paths.cgroupfs.join("cgroup.procs");
        let busy_left = Rc::new(Cell::new(2));
        let busy = Rc::clone(&busy_left);
        ops.on_write(Box::new(move |path, _| {
            if path.ends_with("cgroup.subtree_control") && busy.get() > 0 {
                busy.set(busy.get() - 1);
                // A process started meanwhile in the root cgroup.
                fs::write(&procs, "99\n").expect("write");
                return Some(Errno::EBUSY);
            }
            None
        }));
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        match (r.verdict, r.seen.as_str()) {
            (Verdict::Done, detail) => assert!(detail.contains("attempt 3"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fs::read_to_string(f.paths.cgroupfs.join("init/cgroup.procs")).expect("read"),
            "1\n99\n99\n"
        );
    }

    #[tokio::test]
    async fn cgroup_permanent_ebusy_gives_up_after_the_bound() {
        let f = fixture();
        cgroup_tree(&f, "cpu\n", "1\n");
        let ops = RecordingSyscall::new();
        ops.on_write(Box::new(|path, _| {
            path.ends_with("cgroup.subtree_control")
                .then_some(Errno::EBUSY)
        }));
        let opts = PreflightOptions {
            cgroup_attempts: 4,
            ..f.opts.clone()
        };
        let r = nest_cgroup_v2(&f.paths, &opts, &ops).await;
        assert!(is_warn(&r), "{r:?}");
        let subtree_writes = ops
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::WriteControl { path, .. } if path.ends_with("cgroup.subtree_control")))
            .count();
        assert_eq!(subtree_writes, 4);
    }

    #[tokio::test]
    async fn cgroup_exited_pids_are_ignored() {
        let f = fixture();
        cgroup_tree(&f, "memory\n", "1\n77\n");
        let ops = RecordingSyscall::new();
        ops.on_write(Box::new(|path, data| {
            (path.ends_with("init/cgroup.procs") && data == "77").then_some(Errno::ESRCH)
        }));
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        match (r.verdict, r.seen.as_str()) {
            (Verdict::Done, detail) => assert!(detail.contains("moved 1 processes"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn cgroup_one_bad_controller_does_not_cost_the_others() {
        let f = fixture();
        cgroup_tree(&f, "cpuset memory\n", "1\n");
        let ops = RecordingSyscall::new();
        ops.on_write(Box::new(|path, data| {
            (path.ends_with("cgroup.subtree_control") && data.contains("cpuset"))
                .then_some(Errno::EINVAL)
        }));
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        match (r.verdict, r.seen.as_str()) {
            (Verdict::Warning, message) => {
                assert!(message.contains("cpuset"), "{message}");
                assert!(!message.contains("memory"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fs::read_to_string(f.paths.cgroupfs.join("cgroup.subtree_control")).expect("read"),
            "+memory"
        );
    }
}
