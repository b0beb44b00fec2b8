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

/// Where berth's own cgroup sits in the cgroupfs mounted at `paths.cgroupfs`:
/// its path relative to the mount's root ("" at the root, as in a private
/// cgroup namespace), from `/proc/self/cgroup` and the mount's root in
/// mountinfo. A trailing `/<init_name>` (berth already nested by an earlier
/// run) is dropped: the container's cgroup is its parent.
fn own_cgroup(paths: &PreflightPaths, init_name: &str) -> Result<String, (String, &'static str)> {
    let text = read_kernel_text(&paths.self_cgroup).map_err(|err| {
        (
            format!(
                "cannot read {}: {err}; nothing moved",
                paths.self_cgroup.display()
            ),
            "mount /proc in the container",
        )
    })?;
    let own = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_default()
        .to_owned();
    // The mount's root: "/" for a cgroup2 mount made in berth's own cgroup
    // namespace (private or the host's); a runtime may bind a subtree.
    let mount_root = read_kernel_text(&paths.mountinfo)
        .ok()
        .and_then(|t| {
            MountInfo::parse(&t)
                .mount_at(&paths.cgroupfs)
                .map(|m| m.root.clone())
        })
        .unwrap_or_else(|| "/".to_owned());
    let rel = Path::new(&own)
        .strip_prefix(&mount_root)
        .ok()
        .filter(|_| !own.split('/').any(|c| c == ".."))
        .map(|p| p.to_string_lossy().into_owned());
    let Some(mut rel) = rel else {
        return Err((
            format!("berth is in cgroup {own:?}, outside the tree mounted at {} (root {mount_root:?}): nothing moved", paths.cgroupfs.display()),
            "run the container with --cgroupns=private (Docker's default on cgroup v2)",
        ));
    };
    if rel == init_name {
        rel.clear();
    } else if let Some(parent) = rel.strip_suffix(&format!("/{init_name}")) {
        rel = parent.to_owned();
    }
    Ok(rel)
}

/// (b) cgroup v2 nesting. A cgroup cannot both hold processes and delegate
/// controllers ("no internal processes", cgroups(7)), so every process of
/// berth's own cgroup moves into `<own>/<init_name>` and then every
/// controller `<own>` has is enabled in its `cgroup.subtree_control`, as
/// docker's dind entrypoint does (moby hack/dind lines 61-79) for the
/// namespace root.
///
/// `<own>` is the root of the cgroupfs in a private cgroup namespace (the
/// container's own tree). With `--cgroupns=host` (a Kubernetes privileged
/// pod) the cgroupfs is the host's whole tree and `<own>` is the container's
/// cgroup in it (`/docker/<id>`): berth nests there, touching only the
/// processes listed in it, and the second value is the `--cgroup-parent`
/// dockerd needs (`/docker/<id>/docker`) so inner containers stay inside the
/// container's cgroup and its limits, where dockerd's default would put them
/// at the host's `/docker`. When nesting fails there, no parent is given
/// and dockerd keeps its default.
///
/// A process started between the move and the enable makes the write fail
/// with EBUSY; the cycle repeats at most `cgroup_attempts` times, with a
/// short growing pause, and never kills anything. Processes of other pid
/// namespaces show as pid 0 and cannot be moved: then the bound ends it.
/// When enabling all controllers at once fails otherwise, they are enabled
/// one by one so a single unsupported controller does not cost the others.
/// Whatever happens, every process berth moved stays inside its own cgroup.
pub async fn nest_cgroup_v2(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn Syscall,
) -> (Finding, Option<String>) {
    const STEP: Step = Step::CgroupNesting;
    let controllers_file = paths.cgroupfs.join("cgroup.controllers");
    if !controllers_file.exists() {
        return (
            skipped(
                STEP,
                format!(
                    "{} is absent: cgroup v1 or hybrid, nothing to nest",
                    controllers_file.display()
                ),
            ),
            None,
        );
    }
    let rel = match own_cgroup(paths, &opts.cgroup_init_name) {
        Ok(rel) => rel,
        Err((seen, fix)) => return (warn(STEP, seen, fix), None),
    };
    let root = if rel.is_empty() {
        paths.cgroupfs.clone()
    } else {
        paths.cgroupfs.join(&rel)
    };
    let record = nest_in(&root, opts, ops).await;
    if rel.is_empty() {
        return (record, None);
    }
    let parent = format!("/{rel}/docker");
    match record.verdict {
        Verdict::Done => {
            let seen = format!(
                "the cgroupfs is not this container's own (cgroupns=host): nested in its cgroup /{rel}: {}; dockerd gets --cgroup-parent={parent}, so inner containers stay inside it",
                record.seen
            );
            (done(STEP, seen), Some(parent))
        }
        _ => {
            let seen = format!(
                "the cgroupfs is not this container's own (cgroupns=host) and nesting in its cgroup /{rel} failed: {}; dockerd keeps its default cgroup parent, so inner containers are created outside this container's cgroup (at /docker of the host's tree) and its limits do not cover them",
                record.seen
            );
            (
                warn(
                    STEP,
                    seen,
                    "run the container with --cgroupns=private (Docker's default on cgroup v2)",
                ),
                None,
            )
        }
    }
}

/// The move-then-enable cycle in the cgroup `root`.
async fn nest_in(root: &Path, opts: &PreflightOptions, ops: &dyn Syscall) -> Finding {
    const STEP: Step = Step::CgroupNesting;
    let controllers_file = root.join("cgroup.controllers");
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
    let mut foreign = 0usize;
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
                foreign = 0;
                for pid in &pids {
                    if pid == "0" {
                        // A process of another pid namespace: not ours to move.
                        foreign += 1;
                        continue;
                    }
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
    let why = if foreign > 0 {
        format!(
            "{foreign} processes of another pid namespace share cgroup {}",
            root.display()
        )
    } else {
        "processes keep appearing in it".to_owned()
    };
    warn(
        STEP,
        format!(
            "{} stayed busy (EBUSY) after {attempts} attempts: {why}; the processes moved so far stay in {}",
            subtree.display(),
            child.display()
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
        let (r, _) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        assert!(ops.calls().is_empty());
        assert!(!f.paths.cgroupfs.join("init").exists());
    }

    /// The host's tree (cgroupns=host): berth's cgroup is /docker/abc in it.
    fn host_tree(f: &Fixture, own_procs: &str) -> PathBuf {
        cgroup_tree(f, "cpu memory pids\n", "1\n2\n");
        let own = f.paths.cgroupfs.join("docker/abc");
        fs::create_dir_all(&own).expect("mkdir");
        fs::write(own.join("cgroup.controllers"), "cpu memory pids\n").expect("write");
        fs::write(own.join("cgroup.procs"), own_procs).expect("write");
        fs::write(own.join("cgroup.subtree_control"), "").expect("write");
        fs::write(&f.paths.self_cgroup, "0::/docker/abc\n").expect("write");
        own
    }

    #[tokio::test]
    async fn cgroupns_host_nests_inside_its_own_cgroup_only() {
        let f = fixture();
        let own = host_tree(&f, "7\n8\n");
        let ops = RecordingSyscall::new();
        let (r, parent) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert!(r.seen.contains("cgroupns=host"), "{}", r.seen);
        assert_eq!(parent.as_deref(), Some("/docker/abc/docker"));
        assert_eq!(
            fs::read_to_string(own.join("init/cgroup.procs")).expect("read"),
            "7\n8\n"
        );
        assert_eq!(
            fs::read_to_string(own.join("cgroup.subtree_control")).expect("read"),
            "+cpu +memory +pids"
        );
        // The host's own processes and controllers were not touched.
        assert_eq!(
            fs::read_to_string(f.paths.cgroupfs.join("cgroup.procs")).expect("read"),
            "1\n2\n"
        );
        assert!(ops.calls().iter().all(|c| match c {
            Call::WriteControl { path, .. } => path.starts_with(&own),
            _ => true,
        }));
        // A second run, berth already in init/, nests the same cgroup.
        fs::write(&f.paths.self_cgroup, "0::/docker/abc/init\n").expect("write");
        let (r, parent) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert_eq!(parent.as_deref(), Some("/docker/abc/docker"));
    }

    #[tokio::test]
    async fn cgroupns_host_with_foreign_processes_gives_up_within_the_bound() {
        let f = fixture();
        let own = host_tree(&f, "7\n0\n");
        let ops = RecordingSyscall::new();
        let writes = Rc::new(Cell::new(0));
        let counted = Rc::clone(&writes);
        // The kernel refuses subtree_control while pid 0 (another pid
        // namespace's process) is still in the cgroup.
        ops.on_write(Box::new(move |path, _| {
            if path.ends_with("cgroup.subtree_control") {
                counted.set(counted.get() + 1);
                return Some(Errno::EBUSY);
            }
            None
        }));
        let (r, parent) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(is_warn(&r), "{r:?}");
        assert!(
            r.seen.contains("another pid namespace") && r.seen.contains("keeps its default"),
            "{}",
            r.seen
        );
        assert_eq!(parent, None);
        assert_eq!(writes.get(), DEFAULT_CGROUP_ATTEMPTS);
        // What was moved stays inside the container's cgroup.
        assert_eq!(
            fs::read_to_string(own.join("init/cgroup.procs")).expect("read"),
            "7\n"
        );
    }

    #[tokio::test]
    async fn a_cgroup_outside_the_mounted_tree_moves_nothing() {
        let f = fixture();
        cgroup_tree(&f, "cpu memory\n", "1\n2\n");
        let ops = RecordingSyscall::new();
        for own in ["0::/../outside\n", "0::/elsewhere\n"] {
            fs::write(&f.paths.self_cgroup, own).expect("write");
            // The runtime bound only /kubepods of the tree at /sys/fs/cgroup.
            fs::write(
                &f.paths.mountinfo,
                format!(
                    "30 1 0:26 /kubepods {} rw - cgroup2 cgroup2 rw\n",
                    f.paths.cgroupfs.display()
                ),
            )
            .expect("write");
            let (r, parent) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
            match (r.verdict, r.fix.as_deref().unwrap_or_default()) {
                (Verdict::Warning, fix) => assert!(fix.contains("--cgroupns=private"), "{fix}"),
                other => panic!("{other:?}"),
            }
            assert_eq!(parent, None);
        }
        assert!(ops.calls().is_empty());
        // A second run in a private namespace, berth already in init/.
        fs::write(&f.paths.mountinfo, "").expect("write");
        fs::write(&f.paths.self_cgroup, "0::/init\n").expect("write");
        let (r, parent) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert_eq!(parent, None);
    }

    #[tokio::test]
    async fn cgroup_v2_moves_every_pid_then_enables_controllers() {
        let f = fixture();
        cgroup_tree(&f, "cpuset cpu io memory pids\n", "1\n23\n45\n");
        let ops = RecordingSyscall::new();
        let (r, _) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
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
        let (r, _) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
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
        let (r, _) = nest_cgroup_v2(&f.paths, &opts, &ops).await;
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
        let (r, _) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
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
        let (r, _) = nest_cgroup_v2(&f.paths, &f.opts, &ops).await;
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
