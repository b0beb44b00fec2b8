//! Pre-flight for a dockerd that berth starts itself (dind): the steps mature
//! dind entrypoints run before `exec dockerd`, each one returning a
//! [`StepRecord`] that the init logs and `berth doctor` prints.
//!
//! Every path is injected through [`PreflightPaths`] and every system call
//! whose effect a temp dir cannot show goes through [`HostOps`], so the
//! decisions are unit-tested against fake trees. Steps never fail the start:
//! what cannot be done becomes a [`Action::Warn`] naming the fix, because a
//! dockerd that starts degraded is more useful than none, and the lead
//! decides what is fatal.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::MsFlags;
use serde::Serialize;

use super::dockerd_args::{DockerdFeatures, DockerdOptions};
use super::hostops::HostOps;
use super::mountinfo::MountInfo;

/// overlayfs's statfs magic: the data root sits on the container's own
/// overlay root, so overlay2 cannot stack on it.
pub const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
/// Default dockerd data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/docker";
/// Where berth puts the iptables symlinks it prepends to dockerd's PATH.
pub const DEFAULT_IPTABLES_BIN_DIR: &str = "/run/berth/iptables-bin";
/// Name of the child cgroup every process moves into on cgroup v2.
pub const DEFAULT_CGROUP_INIT_NAME: &str = "init";
/// How many times the move-then-enable cycle runs before giving up.
pub const DEFAULT_CGROUP_ATTEMPTS: u32 = 5;
/// Pause between cgroup attempts, multiplied by the attempt number.
pub const DEFAULT_CGROUP_BACKOFF: Duration = Duration::from_millis(20);
/// The MTU dockerd assumes.
pub const DOCKER_DEFAULT_MTU: u32 = 1500;

/// The iptables tools dockerd runs, as (family, operation): `iptables-save`
/// links to `iptables-legacy-save` / `iptables-nft-save` (the Debian, Ubuntu
/// and Alpine naming: the backend sits between family and operation).
const IPTABLES_TOOLS: [(&str, &str); 6] = [
    ("iptables", ""),
    ("iptables", "-save"),
    ("iptables", "-restore"),
    ("ip6tables", ""),
    ("ip6tables", "-save"),
    ("ip6tables", "-restore"),
];

/// Which pre-flight step a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Securityfs,
    CgroupNesting,
    StalePidFiles,
    DataRootWritable,
    StorageDriver,
    Iptables,
    Mtu,
}

/// What a step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    Done {
        detail: String,
    },
    Skipped {
        reason: String,
    },
    /// Something is wrong or degraded; `fix` says what the user can change.
    Warn {
        message: String,
        fix: String,
    },
}

/// One line of the pre-flight report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    pub step: Step,
    #[serde(flatten)]
    pub action: Action,
}

impl StepRecord {
    fn done(step: Step, detail: impl Into<String>) -> Self {
        Self {
            step,
            action: Action::Done {
                detail: detail.into(),
            },
        }
    }

    fn skipped(step: Step, reason: impl Into<String>) -> Self {
        Self {
            step,
            action: Action::Skipped {
                reason: reason.into(),
            },
        }
    }

    fn warn(step: Step, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            step,
            action: Action::Warn {
                message: message.into(),
                fix: fix.into(),
            },
        }
    }

    /// Log the record at a level matching its action.
    pub fn log(&self) {
        match &self.action {
            Action::Done { detail } => tracing::info!(step = ?self.step, "{detail}"),
            Action::Skipped { reason } => tracing::debug!(step = ?self.step, "skipped: {reason}"),
            Action::Warn { message, fix } => {
                tracing::warn!(step = ?self.step, fix = %fix, "{message}")
            }
        }
    }
}

/// A pid file dockerd or containerd refuses to start over, and the process
/// name (`/proc/<pid>/comm`) that makes its pid really alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFileSpec {
    pub path: PathBuf,
    pub process_name: String,
}

/// Every path pre-flight reads or writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightPaths {
    /// `/proc/self/mountinfo`.
    pub mountinfo: PathBuf,
    /// `/sys/kernel/security`.
    pub securityfs: PathBuf,
    /// `/sys/fs/cgroup`.
    pub cgroupfs: PathBuf,
    /// `/proc/self/cgroup`: proves the cgroupfs root is this container's own.
    pub self_cgroup: PathBuf,
    /// `/proc`: `net/route`, `net/*_tables_names`, `<pid>/comm`.
    pub proc_root: PathBuf,
    /// `/sys/class/net`.
    pub sys_class_net: PathBuf,
    /// dockerd's `--data-root`.
    pub data_root: PathBuf,
    /// `/dev/fuse`.
    pub dev_fuse: PathBuf,
    /// Directory of iptables symlinks prepended to dockerd's PATH.
    pub iptables_bin_dir: PathBuf,
    /// Pid files removed when their process is gone.
    pub pid_files: Vec<PidFileSpec>,
}

impl Default for PreflightPaths {
    fn default() -> Self {
        Self {
            mountinfo: "/proc/self/mountinfo".into(),
            securityfs: "/sys/kernel/security".into(),
            cgroupfs: "/sys/fs/cgroup".into(),
            self_cgroup: "/proc/self/cgroup".into(),
            proc_root: "/proc".into(),
            sys_class_net: "/sys/class/net".into(),
            data_root: DEFAULT_DATA_ROOT.into(),
            dev_fuse: "/dev/fuse".into(),
            iptables_bin_dir: DEFAULT_IPTABLES_BIN_DIR.into(),
            pid_files: vec![
                PidFileSpec {
                    path: "/var/run/docker.pid".into(),
                    process_name: "dockerd".into(),
                },
                PidFileSpec {
                    path: "/run/docker/containerd/containerd.pid".into(),
                    process_name: "containerd".into(),
                },
            ],
        }
    }
}

/// `BERTH_IPTABLES`: which iptables backend dockerd uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IptablesChoice {
    /// Decide from `/proc/net/*_tables_names`.
    #[default]
    Auto,
    Legacy,
    Nft,
}

/// A `BERTH_IPTABLES` value that is not `auto`, `legacy` or `nft`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BERTH_IPTABLES={0:?}: expected auto, legacy or nft")]
pub struct BadIptablesChoice(pub String);

impl std::str::FromStr for IptablesChoice {
    type Err = BadIptablesChoice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "legacy" => Ok(Self::Legacy),
            "nft" | "nf_tables" => Ok(Self::Nft),
            _ => Err(BadIptablesChoice(s.to_owned())),
        }
    }
}

/// An iptables backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IptablesBackend {
    Legacy,
    Nft,
}

impl IptablesBackend {
    fn suffix(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Nft => "nft",
        }
    }
}

/// Decisions and knobs that are not paths.
#[derive(Debug, Clone)]
pub struct PreflightOptions {
    pub cgroup_init_name: String,
    pub cgroup_attempts: u32,
    pub cgroup_backoff: Duration,
    pub iptables: IptablesChoice,
    /// An explicit `--storage-driver` from the user; honoured as is.
    pub storage_driver: Option<String>,
    /// PATH used to find iptables-legacy/-nft and fuse-overlayfs.
    pub search_path: OsString,
    pub dockerd: DockerdFeatures,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        Self {
            cgroup_init_name: DEFAULT_CGROUP_INIT_NAME.to_owned(),
            cgroup_attempts: DEFAULT_CGROUP_ATTEMPTS,
            cgroup_backoff: DEFAULT_CGROUP_BACKOFF,
            iptables: IptablesChoice::Auto,
            storage_driver: None,
            search_path: std::env::var_os("PATH").unwrap_or_else(|| {
                OsString::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            }),
            dockerd: DockerdFeatures::default(),
        }
    }
}

/// What pre-flight decided for dockerd's command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Decisions {
    /// Prepend to dockerd's PATH.
    pub iptables_bin_dir: Option<PathBuf>,
    pub iptables_backend: Option<IptablesBackend>,
    /// `--storage-driver`, when dockerd's own choice would be wrong.
    pub storage_driver: Option<String>,
    /// `--mtu` (and the default network option when dockerd has it).
    pub mtu: Option<u32>,
}

impl Decisions {
    /// Carry the decisions into dockerd's options. An explicit storage
    /// driver was already honoured by [`choose_storage_driver`], so the
    /// decided one replaces whatever `opts` held.
    pub fn apply_to(&self, opts: &mut DockerdOptions) {
        if self.iptables_bin_dir.is_some() {
            opts.iptables_bin_dir.clone_from(&self.iptables_bin_dir);
        }
        if self.storage_driver.is_some() {
            opts.storage_driver.clone_from(&self.storage_driver);
        }
        if self.mtu.is_some() {
            opts.mtu = self.mtu;
        }
    }
}

/// Every step's record, in order, and the decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    pub steps: Vec<StepRecord>,
    pub decisions: Decisions,
}

/// Run every step, in this order: securityfs, cgroup v2 nesting, stale pid
/// files, data root writable, storage driver, iptables, MTU.
pub fn run_all(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn HostOps,
) -> PreflightReport {
    let mut steps = vec![
        mount_securityfs(paths, ops),
        nest_cgroup_v2(paths, opts, ops),
        remove_stale_pid_files(paths),
        check_data_root_writable(paths),
    ];
    let mut decisions = Decisions::default();
    let (record, driver) = choose_storage_driver(paths, opts, ops);
    steps.push(record);
    decisions.storage_driver = driver;
    let (record, iptables) = prepare_iptables(paths, opts);
    steps.push(record);
    if let Some((backend, dir)) = iptables {
        decisions.iptables_backend = Some(backend);
        decisions.iptables_bin_dir = Some(dir);
    }
    let (record, mtu) = detect_mtu(paths, &opts.dockerd);
    steps.push(record);
    decisions.mtu = mtu;
    for step in &steps {
        step.log();
    }
    PreflightReport { steps, decisions }
}

// ---------------------------------------------------------------- (a) securityfs

/// (a) Mount securityfs at `/sys/kernel/security` when it is not mounted, so
/// dockerd can load AppArmor profiles (docker's dind does the same).
pub fn mount_securityfs(paths: &PreflightPaths, ops: &dyn HostOps) -> StepRecord {
    const STEP: Step = Step::Securityfs;
    let target = &paths.securityfs;
    if !target.is_dir() {
        return StepRecord::skipped(STEP, format!("{} does not exist", target.display()));
    }
    let mounted = match fs::read_to_string(&paths.mountinfo) {
        Ok(text) => MountInfo::parse(&text).is_mount_point(target),
        Err(err) => {
            return StepRecord::warn(
                STEP,
                format!("cannot read {}: {err}", paths.mountinfo.display()),
                "mount /proc in the container",
            )
        }
    };
    if mounted {
        return StepRecord::skipped(STEP, format!("{} is already mounted", target.display()));
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match ops.mount("securityfs", target, "securityfs", flags, None) {
        Ok(()) => StepRecord::done(STEP, format!("mounted securityfs at {}", target.display())),
        Err(errno) => StepRecord::warn(
            STEP,
            format!("cannot mount securityfs at {}: {errno}", target.display()),
            "run the container with --privileged; without securityfs dockerd cannot load AppArmor profiles",
        ),
    }
}

// ---------------------------------------------------------------- (b) cgroup v2

fn read_words(path: &Path) -> io::Result<Vec<String>> {
    Ok(fs::read_to_string(path)?
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
pub fn nest_cgroup_v2(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn HostOps,
) -> StepRecord {
    const STEP: Step = Step::CgroupNesting;
    let root = &paths.cgroupfs;
    let controllers_file = root.join("cgroup.controllers");
    if !controllers_file.exists() {
        return StepRecord::skipped(
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
            return StepRecord::warn(
                STEP,
                format!("cannot read {}: {err}", controllers_file.display()),
                fix_writable,
            )
        }
    };
    let own_root = fs::read_to_string(&paths.self_cgroup).map(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .map(str::to_owned)
            .unwrap_or_default()
    });
    match own_root {
        Ok(path) if path == "/" || path == format!("/{}", opts.cgroup_init_name) => {}
        Ok(path) => {
            return StepRecord::warn(
                STEP,
                format!("berth is in cgroup {path:?}, not at the root of a private cgroup namespace: nothing moved, so no process outside this container is touched"),
                "run the container with --cgroupns=private (Docker's default on cgroup v2)",
            )
        }
        Err(err) => {
            return StepRecord::warn(
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
            return StepRecord::warn(
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
    for attempt in 1..=attempts {
        let pids = match read_words(&root_procs) {
            Ok(p) => p,
            Err(err) => {
                return StepRecord::warn(
                    STEP,
                    format!("cannot read {}: {err}", root_procs.display()),
                    fix_writable,
                )
            }
        };
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
        if controllers.is_empty() {
            return StepRecord::done(
                STEP,
                format!(
                    "moved {moved} processes into {}; no controllers to enable",
                    child.display()
                ),
            );
        }
        match ops.write_control_file(&subtree, &wanted) {
            Ok(()) => {
                return StepRecord::done(
                    STEP,
                    format!(
                        "moved {moved} processes into {}, enabled {wanted} (attempt {attempt})",
                        child.display()
                    ),
                )
            }
            Err(Errno::EBUSY) if attempt < attempts => {
                std::thread::sleep(opts.cgroup_backoff * attempt);
            }
            Err(Errno::EBUSY) => break,
            Err(errno) => {
                let failed = enable_one_by_one(ops, &subtree, &controllers);
                if failed.is_empty() {
                    return StepRecord::done(
                        STEP,
                        format!(
                            "moved {moved} processes into {}, enabled {wanted} one by one ({errno} for all at once)",
                            child.display()
                        ),
                    );
                }
                return StepRecord::warn(
                    STEP,
                    format!("cannot enable cgroup controllers {}", failed.join(", ")),
                    "containers started by this dockerd cannot use those controllers (limits for them will fail); check the host's cgroup delegation",
                );
            }
        }
    }
    StepRecord::warn(
        STEP,
        format!(
            "{} stayed busy after {attempts} attempts: processes keep appearing in the root cgroup",
            subtree.display()
        ),
        "start berth as the container's entrypoint so nothing else runs before pre-flight; dockerd may fail with \"Device or resource busy\"",
    )
}

/// Enable each controller alone; returns those the kernel refused, with why.
fn enable_one_by_one(ops: &dyn HostOps, subtree: &Path, controllers: &[String]) -> Vec<String> {
    controllers
        .iter()
        .filter_map(|c| {
            ops.write_control_file(subtree, &format!("+{c}"))
                .err()
                .map(|errno| format!("{c} ({errno})"))
        })
        .collect()
}

// ---------------------------------------------------------------- (g) pid files

/// (g) Remove dockerd/containerd pid files left by an unclean stop: with
/// them in place the next start refuses ("pid file found, ensure docker is
/// not running"). A pid counts as alive only when `/proc/<pid>/comm` names
/// the expected process: after a container restart the old pid is often
/// reused by something else (berth itself is pid 1).
pub fn remove_stale_pid_files(paths: &PreflightPaths) -> StepRecord {
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
        return StepRecord::warn(
            STEP,
            format!("already running: {}", running.join(", ")),
            "a second dockerd would fail on the pid file; stop the running one or let berth use it",
        );
    }
    if !failed.is_empty() {
        return StepRecord::warn(
            STEP,
            format!("cannot remove stale pid files: {}", failed.join("; ")),
            "remove them by hand, or make their directory writable",
        );
    }
    if removed.is_empty() {
        StepRecord::skipped(STEP, "no pid files left behind")
    } else {
        StepRecord::done(STEP, format!("removed stale {}", removed.join(", ")))
    }
}

/// Whether `pid` is a live process named `name` (comm is cut at 15 bytes).
fn process_is(proc_root: &Path, pid: u32, name: &str) -> bool {
    let comm = proc_root.join(pid.to_string()).join("comm");
    let Ok(comm) = fs::read_to_string(comm) else {
        return false;
    };
    let expected: String = name.chars().take(15).collect();
    comm.trim_end_matches('\n') == expected
}

// ---------------------------------------------------------------- (f) data root

/// (f) The data root exists (created 0711 like dockerd does) and is writable.
pub fn check_data_root_writable(paths: &PreflightPaths) -> StepRecord {
    const STEP: Step = Step::DataRootWritable;
    let root = &paths.data_root;
    let fix = format!(
        "mount a writable volume at {}: docker run -v berth-docker:{} ...",
        root.display(),
        root.display()
    );
    if let Err(err) = fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
    {
        return StepRecord::warn(
            STEP,
            format!("cannot create {}: {err}", root.display()),
            fix,
        );
    }
    let probe = root.join(format!(".berth-write-probe-{}", std::process::id()));
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(_) => {
            // Best effort: a leftover probe is harmless and named for berth.
            let _ = fs::remove_file(&probe);
            StepRecord::done(STEP, format!("{} is writable", root.display()))
        }
        Err(err) => StepRecord::warn(
            STEP,
            format!("{} is not writable: {err}", root.display()),
            fix,
        ),
    }
}

// ---------------------------------------------------------------- (d) storage

/// The nearest existing ancestor of `path` (the data root may not exist yet;
/// dockerd will create it on the filesystem of its parent).
fn nearest_existing(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new("/"))
}

fn find_on_path(name: &str, search_path: &OsString) -> Option<PathBuf> {
    which::which_in(name, Some(search_path), "/").ok()
}

/// (d) Storage driver. An explicit choice is honoured. Otherwise, when the
/// data root is on overlayfs (no volume: the container's own root), overlay2
/// cannot work; in order: fuse-overlayfs when the binary is on PATH and
/// /dev/fuse exists, else vfs (slow, full copies). Both warn loudly with the
/// fix. On any other filesystem dockerd's own default (overlay2) is kept.
pub fn choose_storage_driver(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn HostOps,
) -> (StepRecord, Option<String>) {
    const STEP: Step = Step::StorageDriver;
    let root = &paths.data_root;
    let fix = format!(
        "mount a volume at {}: docker run -v berth-docker:{} ...",
        root.display(),
        root.display()
    );
    let probed = nearest_existing(root);
    let on_overlay = match ops.statfs_type(probed) {
        Ok(magic) => magic == OVERLAYFS_SUPER_MAGIC,
        Err(errno) => {
            let record = StepRecord::warn(
                STEP,
                format!(
                    "cannot statfs {}: {errno}; leaving the driver to dockerd",
                    probed.display()
                ),
                fix,
            );
            return (record, opts.storage_driver.clone());
        }
    };
    if let Some(driver) = &opts.storage_driver {
        if on_overlay && driver == "overlay2" {
            let record = StepRecord::warn(
                STEP,
                format!("storage driver overlay2 was asked for, but {} is on overlayfs: dockerd will fail to mount", root.display()),
                fix,
            );
            return (record, Some(driver.clone()));
        }
        return (
            StepRecord::done(STEP, format!("storage driver {driver} (explicit)")),
            Some(driver.clone()),
        );
    }
    if !on_overlay {
        return (
            StepRecord::skipped(
                STEP,
                format!(
                    "{} is not on overlayfs: dockerd's default (overlay2) applies",
                    root.display()
                ),
            ),
            None,
        );
    }
    let fuse = find_on_path("fuse-overlayfs", &opts.search_path);
    if let (Some(bin), true) = (&fuse, paths.dev_fuse.exists()) {
        let record = StepRecord::warn(
            STEP,
            format!(
                "{} is on the container's overlay root (no volume): using fuse-overlayfs ({}), slower than overlay2",
                root.display(),
                bin.display()
            ),
            fix,
        );
        return (record, Some("fuse-overlayfs".to_owned()));
    }
    let why = if fuse.is_none() {
        "fuse-overlayfs is not on PATH".to_owned()
    } else {
        format!("{} is missing", paths.dev_fuse.display())
    };
    let record = StepRecord::warn(
        STEP,
        format!(
            "{} is on the container's overlay root (no volume) and {why}: using vfs, which copies every layer in full (slow, large)",
            root.display()
        ),
        fix,
    );
    (record, Some("vfs".to_owned()))
}

// ---------------------------------------------------------------- (c) iptables

/// Which backend the kernel is already using: legacy when any of
/// `/proc/net/{ip,ip6,arp}_tables_names` lists a table (legacy tables are
/// loaded, and mixing would split the rules), else nft. Reading these files
/// does not load modules, unlike `iptables-legacy -L`.
pub fn detect_iptables_backend(proc_root: &Path) -> (IptablesBackend, String) {
    for name in ["ip_tables_names", "ip6_tables_names", "arp_tables_names"] {
        let path = proc_root.join("net").join(name);
        if fs::read_to_string(&path).is_ok_and(|s| !s.trim().is_empty()) {
            return (
                IptablesBackend::Legacy,
                format!("{} lists legacy tables", path.display()),
            );
        }
    }
    (IptablesBackend::Nft, "no legacy tables loaded".to_owned())
}

/// Replace (or create) `link` so it points to `target`, atomically.
fn symlink_atomic(target: &Path, link: &Path) -> io::Result<()> {
    let tmp = link.with_extension("berth-tmp");
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, &tmp)?;
    fs::rename(&tmp, link)
}

/// (c) iptables backend, applied without update-alternatives: a directory of
/// symlinks (`iptables -> /usr/sbin/iptables-legacy`, ...) that goes first on
/// dockerd's PATH. Returns the backend and the directory when it was made.
pub fn prepare_iptables(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
) -> (StepRecord, Option<(IptablesBackend, PathBuf)>) {
    const STEP: Step = Step::Iptables;
    let (backend, why) = match opts.iptables {
        IptablesChoice::Legacy => (IptablesBackend::Legacy, "BERTH_IPTABLES=legacy".to_owned()),
        IptablesChoice::Nft => (IptablesBackend::Nft, "BERTH_IPTABLES=nft".to_owned()),
        IptablesChoice::Auto => detect_iptables_backend(&paths.proc_root),
    };
    let suffix = backend.suffix();
    let main = format!("iptables-{suffix}");
    if find_on_path(&main, &opts.search_path).is_none() {
        let record = if find_on_path("iptables", &opts.search_path).is_some() {
            StepRecord::skipped(
                STEP,
                format!("{suffix} wanted ({why}) but {main} is not on PATH; dockerd uses the plain iptables"),
            )
        } else {
            StepRecord::warn(
                STEP,
                "no iptables on PATH: dockerd cannot set up container networking",
                "install iptables in the image (Debian's package ships iptables-legacy and iptables-nft)",
            )
        };
        return (record, None);
    }
    let dir = &paths.iptables_bin_dir;
    let fail = |err: io::Error| {
        StepRecord::warn(
            STEP,
            format!("cannot prepare {}: {err}", dir.display()),
            format!(
                "make {} writable, or set BERTH_IPTABLES to match the image's default iptables",
                dir.display()
            ),
        )
    };
    if let Err(err) = fs::create_dir_all(dir) {
        return (fail(err), None);
    }
    let mut linked = Vec::new();
    for (family, op) in IPTABLES_TOOLS {
        let tool = format!("{family}{op}");
        let link = dir.join(&tool);
        let result = match find_on_path(&format!("{family}-{suffix}{op}"), &opts.search_path) {
            Some(target) => symlink_atomic(&target, &link).map(|()| linked.push(tool)),
            // The dir is berth's: drop a link left by an earlier choice.
            None => match fs::remove_file(&link) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if let Err(err) = result {
            return (fail(err), None);
        }
    }
    let record = StepRecord::done(
        STEP,
        format!(
            "{suffix} ({why}): {} -> *-{suffix} in {}",
            linked.join(", "),
            dir.display()
        ),
    );
    (record, Some((backend, dir.clone())))
}

// ---------------------------------------------------------------- (e) MTU

/// The interface of the IPv4 default route in `/proc/net/route` text.
pub fn default_route_interface(route_table: &str) -> Option<String> {
    const RTF_UP: u32 = 0x1;
    route_table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, flags, mask) = (cols.first()?, cols.get(1)?, cols.get(3)?, cols.get(7)?);
        let up = u32::from_str_radix(flags, 16).is_ok_and(|f| f & RTF_UP != 0);
        (*dest == "00000000" && *mask == "00000000" && up).then(|| (*iface).to_owned())
    })
}

/// (e) MTU of the default route's interface. Containers behind a smaller
/// MTU than dockerd's 1500 see TLS handshakes and large transfers hang, so a
/// different value is passed on (`--mtu`, plus the default network option
/// on dockerd versions that have it).
pub fn detect_mtu(paths: &PreflightPaths, dockerd: &DockerdFeatures) -> (StepRecord, Option<u32>) {
    const STEP: Step = Step::Mtu;
    let route_path = paths.proc_root.join("net/route");
    let Ok(table) = fs::read_to_string(&route_path) else {
        return (
            StepRecord::skipped(STEP, format!("cannot read {}", route_path.display())),
            None,
        );
    };
    let Some(iface) = default_route_interface(&table) else {
        return (StepRecord::skipped(STEP, "no IPv4 default route"), None);
    };
    let mtu_path = paths.sys_class_net.join(&iface).join("mtu");
    let mtu = fs::read_to_string(&mtu_path)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    let Some(mtu) = mtu else {
        return (
            StepRecord::skipped(STEP, format!("cannot read {}", mtu_path.display())),
            None,
        );
    };
    if mtu == DOCKER_DEFAULT_MTU {
        return (
            StepRecord::skipped(STEP, format!("{iface} has MTU {mtu}, dockerd's default")),
            None,
        );
    }
    let record = if dockerd.default_network_opt {
        StepRecord::done(
            STEP,
            format!("{iface} has MTU {mtu}: --mtu and the bridge default network option"),
        )
    } else {
        StepRecord::warn(
            STEP,
            format!("{iface} has MTU {mtu}: --mtu covers the default bridge only; this dockerd has no --default-network-opt (added in 24.0), so user-defined networks keep 1500"),
            format!("create networks with: docker network create -o com.docker.network.driver.mtu={mtu} ..., or use dockerd 24.0 or later"),
        )
    };
    (record, Some(mtu))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::hostops::{Call, RecordingHostOps};
    use std::cell::Cell;
    use std::rc::Rc;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        paths: PreflightPaths,
        opts: PreflightOptions,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_owned();
        for d in [
            "proc/net",
            "proc/self",
            "sys/kernel/security",
            "sys/fs/cgroup",
            "sys/class/net",
            "bin",
            "dev",
            "run",
        ] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        fs::write(root.join("proc/self/mountinfo"), "").expect("write");
        fs::write(root.join("proc/self/cgroup"), "0::/\n").expect("write");
        let paths = PreflightPaths {
            mountinfo: root.join("proc/self/mountinfo"),
            securityfs: root.join("sys/kernel/security"),
            cgroupfs: root.join("sys/fs/cgroup"),
            self_cgroup: root.join("proc/self/cgroup"),
            proc_root: root.join("proc"),
            sys_class_net: root.join("sys/class/net"),
            data_root: root.join("var/lib/docker"),
            dev_fuse: root.join("dev/fuse"),
            iptables_bin_dir: root.join("run/berth/iptables-bin"),
            pid_files: vec![
                PidFileSpec {
                    path: root.join("run/docker.pid"),
                    process_name: "dockerd".into(),
                },
                PidFileSpec {
                    path: root.join("run/containerd.pid"),
                    process_name: "containerd".into(),
                },
            ],
        };
        let opts = PreflightOptions {
            cgroup_backoff: Duration::ZERO,
            search_path: root.join("bin").into_os_string(),
            ..PreflightOptions::default()
        };
        Fixture {
            _dir: dir,
            root,
            paths,
            opts,
        }
    }

    fn exe(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    fn is_warn(r: &StepRecord) -> bool {
        matches!(r.action, Action::Warn { .. })
    }

    // ---- mountinfo / securityfs

    #[test]
    fn securityfs_is_mounted_when_absent_from_mountinfo() {
        let f = fixture();
        let ops = RecordingHostOps::new();
        let r = mount_securityfs(&f.paths, &ops);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
        assert_eq!(
            ops.calls(),
            vec![Call::Mount {
                source: "securityfs".into(),
                target: f.paths.securityfs.clone(),
                fstype: "securityfs".into(),
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            }]
        );
    }

    #[test]
    fn securityfs_already_mounted_is_left_alone() {
        let f = fixture();
        fs::write(
            &f.paths.mountinfo,
            format!(
                "40 1 0:5 / {} rw - securityfs securityfs rw\n",
                f.paths.securityfs.display()
            ),
        )
        .expect("write");
        let ops = RecordingHostOps::new();
        let r = mount_securityfs(&f.paths, &ops);
        assert!(matches!(r.action, Action::Skipped { .. }), "{r:?}");
        assert!(ops.calls().is_empty());
    }

    #[test]
    fn securityfs_mount_refused_warns_with_fix() {
        let f = fixture();
        let mut ops = RecordingHostOps::new();
        ops.mount_result = Err(Errno::EPERM);
        let r = mount_securityfs(&f.paths, &ops);
        match r.action {
            Action::Warn { message, fix } => {
                assert!(message.contains("EPERM"), "{message}");
                assert!(fix.contains("--privileged"));
            }
            other => panic!("{other:?}"),
        }
    }

    // ---- cgroup v2

    fn cgroup_tree(f: &Fixture, controllers: &str, procs: &str) {
        let cg = &f.paths.cgroupfs;
        fs::write(cg.join("cgroup.controllers"), controllers).expect("write");
        fs::write(cg.join("cgroup.procs"), procs).expect("write");
        fs::write(cg.join("cgroup.subtree_control"), "").expect("write");
    }

    #[test]
    fn cgroup_v1_is_skipped_without_writes() {
        let f = fixture();
        let ops = RecordingHostOps::new();
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        assert!(matches!(r.action, Action::Skipped { .. }), "{r:?}");
        assert!(ops.calls().is_empty());
        assert!(!f.paths.cgroupfs.join("init").exists());
    }

    #[test]
    fn cgroup_outside_a_private_namespace_moves_nothing() {
        let f = fixture();
        cgroup_tree(&f, "cpu memory\n", "1\n2\n");
        fs::write(&f.paths.self_cgroup, "0::/system.slice/docker-abc.scope\n").expect("write");
        let ops = RecordingHostOps::new();
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        match &r.action {
            Action::Warn { fix, .. } => assert!(fix.contains("--cgroupns=private"), "{fix}"),
            other => panic!("{other:?}"),
        }
        assert!(ops.calls().is_empty());
        // A second run, berth already nested in init/, proceeds.
        fs::write(&f.paths.self_cgroup, "0::/init\n").expect("write");
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
    }

    #[test]
    fn cgroup_v2_moves_every_pid_then_enables_controllers() {
        let f = fixture();
        cgroup_tree(&f, "cpuset cpu io memory pids\n", "1\n23\n45\n");
        let ops = RecordingHostOps::new();
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
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

    #[test]
    fn cgroup_ebusy_retries_after_moving_newcomers() {
        let f = fixture();
        cgroup_tree(&f, "cpu memory\n", "1\n");
        let ops = RecordingHostOps::new();
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
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        match &r.action {
            Action::Done { detail } => assert!(detail.contains("attempt 3"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fs::read_to_string(f.paths.cgroupfs.join("init/cgroup.procs")).expect("read"),
            "1\n99\n99\n"
        );
    }

    #[test]
    fn cgroup_permanent_ebusy_gives_up_after_the_bound() {
        let f = fixture();
        cgroup_tree(&f, "cpu\n", "1\n");
        let ops = RecordingHostOps::new();
        ops.on_write(Box::new(|path, _| {
            path.ends_with("cgroup.subtree_control")
                .then_some(Errno::EBUSY)
        }));
        let opts = PreflightOptions {
            cgroup_attempts: 4,
            ..f.opts.clone()
        };
        let r = nest_cgroup_v2(&f.paths, &opts, &ops);
        assert!(is_warn(&r), "{r:?}");
        let subtree_writes = ops
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::WriteControl { path, .. } if path.ends_with("cgroup.subtree_control")))
            .count();
        assert_eq!(subtree_writes, 4);
    }

    #[test]
    fn cgroup_exited_pids_are_ignored() {
        let f = fixture();
        cgroup_tree(&f, "memory\n", "1\n77\n");
        let ops = RecordingHostOps::new();
        ops.on_write(Box::new(|path, data| {
            (path.ends_with("init/cgroup.procs") && data == "77").then_some(Errno::ESRCH)
        }));
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        match &r.action {
            Action::Done { detail } => assert!(detail.contains("moved 1 processes"), "{detail}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cgroup_one_bad_controller_does_not_cost_the_others() {
        let f = fixture();
        cgroup_tree(&f, "cpuset memory\n", "1\n");
        let ops = RecordingHostOps::new();
        ops.on_write(Box::new(|path, data| {
            (path.ends_with("cgroup.subtree_control") && data.contains("cpuset"))
                .then_some(Errno::EINVAL)
        }));
        let r = nest_cgroup_v2(&f.paths, &f.opts, &ops);
        match &r.action {
            Action::Warn { message, .. } => {
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

    // ---- pid files

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
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
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
        assert!(matches!(r.action, Action::Skipped { .. }), "{r:?}");
        fs::write(f.root.join("run/docker.pid"), "not a pid").expect("write");
        let r = remove_stale_pid_files(&f.paths);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
        assert!(!f.root.join("run/docker.pid").exists());
    }

    // ---- data root

    #[test]
    fn data_root_is_created_and_probed() {
        let f = fixture();
        let r = check_data_root_writable(&f.paths);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
        assert!(f.paths.data_root.is_dir());
        assert_eq!(
            fs::read_dir(&f.paths.data_root).expect("ls").count(),
            0,
            "probe removed"
        );
    }

    #[test]
    fn unwritable_data_root_warns() {
        let f = fixture();
        // A regular file where the data root should be: creation fails for everyone, root included.
        fs::create_dir_all(f.root.join("var/lib")).expect("mkdir");
        fs::write(&f.paths.data_root, "").expect("write");
        let r = check_data_root_writable(&f.paths);
        match r.action {
            Action::Warn { fix, .. } => assert!(fix.contains("-v berth-docker:")),
            other => panic!("{other:?}"),
        }
    }

    // ---- storage driver

    fn overlay_ops(f: &Fixture) -> RecordingHostOps {
        let mut ops = RecordingHostOps::new();
        // The data root does not exist yet: its nearest ancestor is probed.
        fs::create_dir_all(f.root.join("var/lib")).expect("mkdir");
        ops.statfs
            .insert(f.root.join("var/lib"), OVERLAYFS_SUPER_MAGIC);
        ops
    }

    #[test]
    fn storage_on_a_volume_keeps_dockerds_default() {
        let f = fixture();
        let (r, d) = choose_storage_driver(&f.paths, &f.opts, &RecordingHostOps::new());
        assert!(matches!(r.action, Action::Skipped { .. }), "{r:?}");
        assert_eq!(d, None);
    }

    #[test]
    fn storage_on_overlay_prefers_fuse_overlayfs_then_vfs() {
        let f = fixture();
        let ops = overlay_ops(&f);
        let (r, d) = choose_storage_driver(&f.paths, &f.opts, &ops);
        assert_eq!(d.as_deref(), Some("vfs"));
        match &r.action {
            Action::Warn { message, fix } => {
                assert!(
                    message.contains("fuse-overlayfs is not on PATH"),
                    "{message}"
                );
                assert!(fix.contains("docker run -v berth-docker:"), "{fix}");
            }
            other => panic!("{other:?}"),
        }
        exe(&f.root.join("bin"), "fuse-overlayfs");
        let (_, d) = choose_storage_driver(&f.paths, &f.opts, &ops);
        assert_eq!(
            d.as_deref(),
            Some("vfs"),
            "binary without /dev/fuse is not enough"
        );
        fs::write(&f.paths.dev_fuse, "").expect("write");
        let (r, d) = choose_storage_driver(&f.paths, &f.opts, &ops);
        assert_eq!(d.as_deref(), Some("fuse-overlayfs"));
        assert!(is_warn(&r));
        assert!(ops
            .calls()
            .iter()
            .all(|c| *c == Call::Statfs(f.root.join("var/lib"))));
    }

    #[test]
    fn storage_explicit_choice_is_honoured_and_overlay2_on_overlay_warns() {
        let f = fixture();
        let ops = overlay_ops(&f);
        let opts = PreflightOptions {
            storage_driver: Some("btrfs".into()),
            ..f.opts.clone()
        };
        let (r, d) = choose_storage_driver(&f.paths, &opts, &ops);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
        assert_eq!(d.as_deref(), Some("btrfs"));
        let opts = PreflightOptions {
            storage_driver: Some("overlay2".into()),
            ..f.opts.clone()
        };
        let (r, d) = choose_storage_driver(&f.paths, &opts, &ops);
        assert!(is_warn(&r), "{r:?}");
        assert_eq!(d.as_deref(), Some("overlay2"));
    }

    // ---- iptables

    /// Debian's names, spelled out (not derived from IPTABLES_TOOLS).
    const DEBIAN_IPTABLES: [&str; 12] = [
        "iptables-legacy",
        "iptables-legacy-save",
        "iptables-legacy-restore",
        "ip6tables-legacy",
        "ip6tables-legacy-save",
        "ip6tables-legacy-restore",
        "iptables-nft",
        "iptables-nft-save",
        "iptables-nft-restore",
        "ip6tables-nft",
        "ip6tables-nft-save",
        "ip6tables-nft-restore",
    ];

    fn iptables_bins(f: &Fixture) {
        for name in DEBIAN_IPTABLES {
            exe(&f.root.join("bin"), name);
        }
    }

    #[test]
    fn iptables_backend_follows_loaded_legacy_tables() {
        let f = fixture();
        let net = f.paths.proc_root.join("net");
        fs::write(net.join("ip_tables_names"), "").expect("write");
        assert_eq!(
            detect_iptables_backend(&f.paths.proc_root).0,
            IptablesBackend::Nft
        );
        fs::write(net.join("ip6_tables_names"), "filter\n").expect("write");
        assert_eq!(
            detect_iptables_backend(&f.paths.proc_root).0,
            IptablesBackend::Legacy
        );
    }

    #[test]
    fn iptables_symlink_dir_points_at_the_chosen_backend() {
        let f = fixture();
        iptables_bins(&f);
        fs::write(f.paths.proc_root.join("net/arp_tables_names"), "filter\n").expect("write");
        let (r, chosen) = prepare_iptables(&f.paths, &f.opts);
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
        let (backend, dir) = chosen.expect("dir");
        assert_eq!(backend, IptablesBackend::Legacy);
        for (link, target) in [
            ("iptables", "iptables-legacy"),
            ("iptables-save", "iptables-legacy-save"),
            ("iptables-restore", "iptables-legacy-restore"),
            ("ip6tables", "ip6tables-legacy"),
            ("ip6tables-save", "ip6tables-legacy-save"),
            ("ip6tables-restore", "ip6tables-legacy-restore"),
        ] {
            assert_eq!(
                fs::read_link(dir.join(link)).expect("link"),
                f.root.join("bin").join(target)
            );
        }
        // The override wins and relinks.
        let opts = PreflightOptions {
            iptables: IptablesChoice::Nft,
            ..f.opts.clone()
        };
        let (_, chosen) = prepare_iptables(&f.paths, &opts);
        assert_eq!(chosen.map(|c| c.0), Some(IptablesBackend::Nft));
        assert_eq!(
            fs::read_link(dir.join("iptables")).expect("link"),
            f.root.join("bin/iptables-nft")
        );
    }

    #[test]
    fn iptables_without_variants_uses_plain_or_warns() {
        let f = fixture();
        let (r, chosen) = prepare_iptables(&f.paths, &f.opts);
        assert!(is_warn(&r), "{r:?}");
        assert!(chosen.is_none());
        exe(&f.root.join("bin"), "iptables");
        let (r, chosen) = prepare_iptables(&f.paths, &f.opts);
        assert!(matches!(r.action, Action::Skipped { .. }), "{r:?}");
        assert!(chosen.is_none());
    }

    #[test]
    fn iptables_choice_parses() {
        assert_eq!(
            "legacy".parse::<IptablesChoice>(),
            Ok(IptablesChoice::Legacy)
        );
        assert_eq!("NFT".parse::<IptablesChoice>(), Ok(IptablesChoice::Nft));
        assert_eq!("".parse::<IptablesChoice>(), Ok(IptablesChoice::Auto));
        assert!("iptables".parse::<IptablesChoice>().is_err());
    }

    // ---- MTU

    const ROUTE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                         eth0\t0011A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                         eth1\t00000000\t0111A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";

    #[test]
    fn default_route_interface_is_found() {
        assert_eq!(default_route_interface(ROUTE).as_deref(), Some("eth1"));
        assert_eq!(default_route_interface("Iface\tDestination\n"), None);
    }

    fn mtu_fixture(mtu: &str) -> Fixture {
        let f = fixture();
        fs::write(f.paths.proc_root.join("net/route"), ROUTE).expect("write");
        fs::create_dir_all(f.paths.sys_class_net.join("eth1")).expect("mkdir");
        fs::write(f.paths.sys_class_net.join("eth1/mtu"), mtu).expect("write");
        f
    }

    #[test]
    fn mtu_1500_passes_nothing() {
        let f = mtu_fixture("1500\n");
        let (r, mtu) = detect_mtu(&f.paths, &DockerdFeatures::default());
        assert!(matches!(r.action, Action::Skipped { .. }), "{r:?}");
        assert_eq!(mtu, None);
    }

    #[test]
    fn smaller_mtu_is_passed_and_old_dockerd_warns_about_networks() {
        let f = mtu_fixture("1450\n");
        let (r, mtu) = detect_mtu(
            &f.paths,
            &DockerdFeatures {
                default_network_opt: false,
            },
        );
        assert_eq!(mtu, Some(1450));
        match r.action {
            Action::Warn { fix, .. } => {
                assert!(fix.contains("com.docker.network.driver.mtu=1450"), "{fix}")
            }
            other => panic!("{other:?}"),
        }
        let (r, mtu) = detect_mtu(
            &f.paths,
            &DockerdFeatures {
                default_network_opt: true,
            },
        );
        assert_eq!(mtu, Some(1450));
        assert!(matches!(r.action, Action::Done { .. }), "{r:?}");
    }

    // ---- all together

    #[test]
    fn decisions_carry_into_dockerd_options() {
        let decisions = Decisions {
            iptables_bin_dir: Some("/run/berth/iptables-bin".into()),
            iptables_backend: Some(IptablesBackend::Legacy),
            storage_driver: Some("vfs".into()),
            mtu: Some(1400),
        };
        let mut opts = DockerdOptions {
            storage_driver: Some("overlay2".into()),
            ..DockerdOptions::default()
        };
        decisions.apply_to(&mut opts);
        assert_eq!(opts.storage_driver.as_deref(), Some("vfs"));
        assert_eq!(opts.mtu, Some(1400));
        let args = crate::docker::dockerd_args::dockerd_command(&opts)
            .expect("cmd")
            .args;
        assert!(args.contains(&"--storage-driver=vfs".to_owned()));
        assert!(args.contains(&"--mtu=1400".to_owned()));
        let mut untouched = DockerdOptions {
            mtu: Some(9000),
            ..DockerdOptions::default()
        };
        Decisions::default().apply_to(&mut untouched);
        assert_eq!(untouched.mtu, Some(9000));
    }

    #[test]
    fn run_all_records_every_step_in_order_and_serializes() {
        let f = mtu_fixture("1400");
        iptables_bins(&f);
        let ops = RecordingHostOps::new();
        let report = run_all(&f.paths, &f.opts, &ops);
        let steps: Vec<Step> = report.steps.iter().map(|s| s.step).collect();
        assert_eq!(
            steps,
            vec![
                Step::Securityfs,
                Step::CgroupNesting,
                Step::StalePidFiles,
                Step::DataRootWritable,
                Step::StorageDriver,
                Step::Iptables,
                Step::Mtu
            ]
        );
        assert_eq!(report.decisions.mtu, Some(1400));
        assert_eq!(
            report.decisions.iptables_backend,
            Some(IptablesBackend::Nft)
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["steps"][0]["step"], "securityfs");
        assert_eq!(json["steps"][0]["action"], "done");
        assert_eq!(json["steps"][1]["action"], "skipped");
        assert!(json["steps"][6]["fix"].is_string());
    }
}
