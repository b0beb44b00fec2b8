//! (a) the data root is not in use by another engine.
//!
//! Two containers started on one volume (`-v berth-docker:/var/lib/docker`
//! twice) share one data root. The first engine holds exclusive flocks on
//! its bolt databases for as long as it runs; the second engine's containerd
//! then waits forever in "waiting for response from boltdb open", and berth
//! would only notice when its readiness timeout ran out. Measured with
//! `cat /proc/locks` in a running dind container: containerd 1.6 locks
//! `meta.db` under its root; dockerd 20.10 locks `volumes/metadata.db` and
//! `buildkit/*.db`; dockerd 26.1 those and `network/files/local-kv.db`.
//!
//! The probe takes a non-blocking exclusive flock on each file and lets go
//! at once: EWOULDBLOCK means someone holds it. Who does is read from
//! `/proc/locks`, which since Linux 4.19 lists only locks held by processes
//! of the reader's pid namespace: a holder listed there runs in this
//! container, one not listed runs elsewhere (another container on the same
//! volume).

use std::fs::File;
use std::os::unix::fs::MetadataExt;

use nix::fcntl::{Flock, FlockArg};

use super::*;

/// containerd's metadata database under its root (containerd's
/// `io.containerd.metadata.v1.bolt` plugin).
const CONTAINERD_META_DB: &str = "io.containerd.metadata.v1.bolt/meta.db";
/// dockerd's bolt databases under its data root that it keeps locked while
/// it runs (20.10 and 26.1), besides `buildkit/*.db`.
const DOCKERD_DBS: [&str; 2] = ["volumes/metadata.db", "network/files/local-kv.db"];

/// Whether another process holds a file's lock, from a non-blocking flock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockProbe {
    /// Absent, or nobody holds it: the probe took the lock and let go.
    Free,
    /// Another open file description holds it (EWOULDBLOCK).
    Held,
}

/// Tries a non-blocking exclusive flock on `path` and releases it at once.
/// A missing file is [`LockProbe::Free`]; the file is opened read-only and
/// never changed or created.
///
/// # Errors
/// Opening the file fails otherwise (permissions), or flock(2) fails with
/// anything but EWOULDBLOCK.
pub fn probe_lock(path: &Path) -> io::Result<LockProbe> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(LockProbe::Free),
        Err(err) => return Err(err),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        // Dropping the guard unlocks (and closes) at once.
        Ok(_locked) => Ok(LockProbe::Free),
        Err((_, Errno::EWOULDBLOCK)) => Ok(LockProbe::Held),
        Err((_, errno)) => Err(io::Error::from(errno)),
    }
}

/// The bolt databases a running engine keeps flocked, for this data root
/// and containerd root. `buildkit/*.db` are listed as they are on disk.
pub fn engine_lock_files(paths: &PreflightPaths) -> Vec<PathBuf> {
    let mut files = vec![paths.containerd_root.join(CONTAINERD_META_DB)];
    files.extend(DOCKERD_DBS.iter().map(|db| paths.data_root.join(db)));
    if let Ok(entries) = fs::read_dir(paths.data_root.join("buildkit")) {
        let mut buildkit: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "db"))
            .collect();
        buildkit.sort();
        files.extend(buildkit);
    }
    files
}

/// Who holds a locked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A process of this container (its pid namespace): pid and comm.
    Here { pid: u32, comm: String },
    /// Not listed in `/proc/locks`: a process of another pid namespace.
    Elsewhere,
}

/// The holder of `path`'s lock, from `<proc_root>/locks` (lines like
/// `3: FLOCK  ADVISORY  WRITE 12 fe:00:1041972 0 EOF`, device in hex).
/// A lock listed with a pid that has no `<proc_root>/<pid>` is taken for one
/// held elsewhere (kernels before 4.19 list every namespace's locks).
pub fn lock_holder(proc_root: &Path, path: &Path) -> Holder {
    let (Ok(meta), Ok(locks)) = (
        fs::metadata(path),
        fs::read_to_string(proc_root.join("locks")),
    ) else {
        return Holder::Elsewhere;
    };
    let (major, minor) = (
        nix::sys::stat::major(meta.dev()),
        nix::sys::stat::minor(meta.dev()),
    );
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "N:" then type, advisory, mode, pid, dev:inode, start, end. A
        // blocked waiter's line has "->" after the number: not a holder.
        if fields.get(1) == Some(&"->") {
            continue;
        }
        let fields = fields.get(1..).unwrap_or_default();
        let (Some(pid), Some(id)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let mut parts = id.split(':');
        let (Some(maj), Some(min), Some(ino)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let same = u64::from_str_radix(maj, 16).ok() == Some(major)
            && u64::from_str_radix(min, 16).ok() == Some(minor)
            && ino.parse::<u64>().ok() == Some(meta.ino());
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if !same || pid == 0 {
            continue;
        }
        if let Ok(comm) = read_kernel_text(proc_root.join(pid.to_string()).join("comm")) {
            return Holder::Here {
                pid,
                comm: comm.trim_end().to_owned(),
            };
        }
    }
    Holder::Elsewhere
}

/// What the data-root probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataRootUse {
    /// No engine holds any of the databases.
    Free,
    /// `file` is locked by a process of this container.
    ThisContainer {
        file: PathBuf,
        pid: u32,
        comm: String,
    },
    /// `file` is locked by a process outside this container.
    AnotherContainer { file: PathBuf },
}

/// Probes every file of [`engine_lock_files`] and says who, if anyone,
/// holds the first one found locked. Files that cannot be probed are
/// skipped (the engine's own start will say more about them).
pub fn data_root_use(paths: &PreflightPaths) -> DataRootUse {
    for file in engine_lock_files(paths) {
        match probe_lock(&file) {
            Ok(LockProbe::Free) => {}
            Ok(LockProbe::Held) => {
                return match lock_holder(&paths.proc_root, &file) {
                    Holder::Here { pid, comm } => DataRootUse::ThisContainer { file, pid, comm },
                    Holder::Elsewhere => DataRootUse::AnotherContainer { file },
                };
            }
            Err(err) => {
                tracing::debug!(file = %file.display(), error = %err, "cannot probe the lock")
            }
        }
    }
    DataRootUse::Free
}

/// (a) Before berth starts containerd and dockerd: is the data root in use
/// by an engine? Any holder is [`Verdict::Missing`] (a free data root is a
/// prerequisite: a second engine on it would hang), so the caller refuses
/// to start and `berth doctor` exits 1. For `berth
/// doctor`, run where berth's engine may already run, pass
/// `own_engine_ok = true`: a holder in this container is then this
/// container's engine and fine.
pub fn check_data_root_in_use(paths: &PreflightPaths, own_engine_ok: bool) -> Finding {
    const STEP: Step = Step::DataRootInUse;
    let root = paths.data_root.display();
    let fix = format!(
        "give each container its own volume for {root} (docker run -v berth-docker-$NAME:{root} ...), or stop the other container first"
    );
    match data_root_use(paths) {
        DataRootUse::Free => done(STEP, format!("no other engine uses {root}")),
        DataRootUse::ThisContainer { file, pid, comm } if own_engine_ok => done(
            STEP,
            format!(
                "{root} is this container's engine's ({comm}, pid {pid}, holds {})",
                file.display()
            ),
        ),
        DataRootUse::ThisContainer { file, pid, comm } => blocked(
            STEP,
            format!(
                "the data root {root} is in use by {comm} (pid {pid}) in this container: it holds the lock on {}, so a second engine would wait on it forever",
                file.display()
            ),
            format!("stop {comm} (pid {pid}) first, or let berth use the engine that runs"),
        ),
        DataRootUse::AnotherContainer { file } => blocked(
            STEP,
            format!(
                "the data root {root} is in use by another Docker engine, most likely another container on the same volume: {} is locked by a process outside this container, so this engine would wait on it forever",
                file.display()
            ),
            fix,
        ),
    }
}

/// The engine cannot start until the user changes something.
fn blocked(step: Step, message: String, fix: String) -> Finding {
    Finding::new(step.as_str(), Verdict::Missing, message).with_fix(fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::fixture;

    fn held_by_another_process(path: &Path) -> std::process::Child {
        // A shell opens the file as fd 9, has flock(1) from util-linux lock
        // that open file description, and becomes `sleep`: killing the
        // returned child closes the last descriptor and so releases the lock.
        std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 9<\"$0\" && flock -x 9 && exec sleep 30")
            .arg(path)
            .spawn()
            .expect("sh")
    }

    #[test]
    fn the_lock_probe_tells_held_from_free_and_absent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("meta.db");
        assert_eq!(probe_lock(&db).expect("absent"), LockProbe::Free);
        fs::write(&db, "bolt").expect("write");
        assert_eq!(probe_lock(&db).expect("unlocked"), LockProbe::Free);
        // Another open file description of this process holds it.
        let other =
            Flock::lock(File::open(&db).expect("open"), FlockArg::LockExclusive).expect("lock");
        assert_eq!(probe_lock(&db).expect("held"), LockProbe::Held);
        drop(other);
        assert_eq!(probe_lock(&db).expect("released"), LockProbe::Free);
        // Another process holds it.
        let mut child = held_by_another_process(&db);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while probe_lock(&db).expect("probe") == LockProbe::Free {
            assert!(
                std::time::Instant::now() < deadline,
                "flock(1) never locked"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(probe_lock(&db).expect("released"), LockProbe::Free);
        assert_eq!(fs::read_to_string(&db).expect("read"), "bolt", "unchanged");
    }

    #[test]
    fn the_holder_is_found_in_proc_locks_or_taken_for_another_container() {
        let f = fixture();
        let file = f.root.join("meta.db");
        fs::write(&file, "").expect("write");
        let meta = fs::metadata(&file).expect("stat");
        let (maj, min) = (
            nix::sys::stat::major(meta.dev()),
            nix::sys::stat::minor(meta.dev()),
        );
        let id = format!("{maj:02x}:{min:02x}:{}", meta.ino());
        // Not listed: another pid namespace's lock.
        fs::write(
            f.paths.proc_root.join("locks"),
            "1: FLOCK  ADVISORY  WRITE 22 fe:00:1 0 EOF\n",
        )
        .expect("write");
        assert_eq!(lock_holder(&f.paths.proc_root, &file), Holder::Elsewhere);
        // Listed, with a live pid here: this container's.
        fs::write(
            f.paths.proc_root.join("locks"),
            format!("1: FLOCK  ADVISORY  WRITE 22 fe:00:1 0 EOF\n2: FLOCK  ADVISORY  WRITE 14 {id} 0 EOF\n2: -> FLOCK  ADVISORY  WRITE 99 {id} 0 EOF\n"),
        )
        .expect("write");
        fs::create_dir_all(f.paths.proc_root.join("14")).expect("mkdir");
        fs::write(f.paths.proc_root.join("14/comm"), "containerd\n").expect("write");
        assert_eq!(
            lock_holder(&f.paths.proc_root, &file),
            Holder::Here {
                pid: 14,
                comm: "containerd".into()
            }
        );
        // Listed with a pid that is not here (an old kernel lists them all).
        fs::remove_dir_all(f.paths.proc_root.join("14")).expect("rm");
        assert_eq!(lock_holder(&f.paths.proc_root, &file), Holder::Elsewhere);
    }

    #[test]
    fn a_data_root_held_elsewhere_is_a_warning_naming_the_file_and_the_fix() {
        let f = fixture();
        assert_eq!(
            check_data_root_in_use(&f.paths, false).verdict,
            Verdict::Done
        );
        let volumes = f.paths.data_root.join("volumes");
        fs::create_dir_all(&volumes).expect("mkdir");
        let db = volumes.join("metadata.db");
        fs::write(&db, "").expect("write");
        let buildkit = f.paths.data_root.join("buildkit");
        fs::create_dir_all(&buildkit).expect("mkdir");
        fs::write(buildkit.join("cache.db"), "").expect("write");
        let files = engine_lock_files(&f.paths);
        assert!(files.contains(&db) && files.contains(&buildkit.join("cache.db")));
        assert!(files.contains(
            &f.paths
                .containerd_root
                .join("io.containerd.metadata.v1.bolt/meta.db")
        ));
        assert_eq!(data_root_use(&f.paths), DataRootUse::Free);
        let held =
            Flock::lock(File::open(&db).expect("open"), FlockArg::LockExclusive).expect("lock");
        // The fixture's /proc has no locks file: the holder is elsewhere.
        let r = check_data_root_in_use(&f.paths, false);
        assert!(r.verdict == Verdict::Missing, "{r:?}");
        assert!(r.seen.contains(&db.display().to_string()), "{}", r.seen);
        assert!(r.seen.contains("another Docker engine"), "{}", r.seen);
        let fix = r.fix.expect("fix");
        assert!(fix.contains("berth-docker-$NAME:"), "{fix}");
        // doctor's leniency is for this container's own engine only.
        assert!(check_data_root_in_use(&f.paths, true).is_problem());
        // /proc/locks names a process of this container as the holder.
        let meta = fs::metadata(&db).expect("stat");
        let (maj, min) = (
            nix::sys::stat::major(meta.dev()),
            nix::sys::stat::minor(meta.dev()),
        );
        fs::write(
            f.paths.proc_root.join("locks"),
            format!(
                "1: FLOCK  ADVISORY  WRITE 14 {maj:02x}:{min:02x}:{} 0 EOF\n",
                meta.ino()
            ),
        )
        .expect("write");
        fs::create_dir_all(f.paths.proc_root.join("14")).expect("mkdir");
        fs::write(f.paths.proc_root.join("14/comm"), "dockerd\n").expect("write");
        let own = check_data_root_in_use(&f.paths, true);
        assert!(own.verdict == Verdict::Done, "{own:?}");
        assert!(own.seen.contains("this container's engine"), "{}", own.seen);
        let start = check_data_root_in_use(&f.paths, false);
        assert!(start.verdict == Verdict::Missing, "{start:?}");
        assert!(
            start.seen.contains("dockerd (pid 14) in this container"),
            "{}",
            start.seen
        );
        drop(held);
        assert_eq!(data_root_use(&f.paths), DataRootUse::Free);
    }
}
