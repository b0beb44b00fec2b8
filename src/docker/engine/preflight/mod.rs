//! Pre-flight for a dockerd that berth starts itself (dind): the steps mature
//! dind entrypoints run before `exec dockerd`, one file each, each one
//! returning a [`Finding`] that the init logs and `berth doctor` prints.
//!
//! Every path is injected through [`PreflightPaths`] and every system call
//! whose effect a temp dir cannot show goes through [`Syscall`], so the
//! decisions are unit-tested against fake trees. Steps never fail the start:
//! what cannot be done becomes a [`Verdict::Warning`] naming the fix, because a
//! dockerd that starts degraded is more useful than none, and the lead
//! decides what is fatal. The exceptions are the user's own
//! `BERTH_APPARMOR=require`, which the AppArmor step reports in
//! [`AppArmorDecision::refused`] for the caller to turn into an error, and a
//! data root another engine holds ([`Decisions::data_root_in_use`]): an
//! engine started on it would hang, not start degraded.

pub(crate) mod apparmor;
mod cgroup;
mod data_root;
mod data_root_in_use;
pub(crate) mod iptables;
pub(crate) mod mtu;
mod pid_files;
mod storage;

#[cfg(test)]
pub use apparmor::AppArmorOutcome;
pub use apparmor::{decide_apparmor, verify_loaded, Act, AppArmorChoice, AppArmorDecision};
pub use cgroup::nest_cgroup_v2;
pub use data_root::check_data_root_writable;
pub use data_root_in_use::check_data_root_in_use;
pub use iptables::prepare_iptables;
pub use mtu::detect_mtu;
pub use pid_files::remove_stale_pid_files;
pub use storage::choose_storage_driver;

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use nix::errno::Errno;
use nix::mount::MsFlags;
use serde::Serialize;

use crate::docker::engine::dockerd_args::{DockerdFeatures, DockerdOptions};
use crate::docker::finding::{Finding, Verdict};
use crate::host::mountinfo::MountInfo;
use crate::host::syscall::Syscall;
use crate::host::{read_kernel_text, HostFacts, DEFAULT_PATH};
use crate::init::runner::Helpers;

/// overlayfs's statfs magic: the data root sits on the container's own
/// overlay root, so overlay2 cannot stack on it.
pub const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
/// Default dockerd data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/docker";
/// containerd's root when berth runs it (dockerd's managed containerd's
/// place; see `CONTAINERD_CONFIG_TEXT` in the engine module).
pub const DEFAULT_CONTAINERD_ROOT: &str = "/var/lib/docker/containerd/daemon";
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

/// The pre-flight steps, in the order [`run_all`] runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    DataRootInUse,
    AppArmor,
    CgroupNesting,
    StalePidFiles,
    DataRootWritable,
    StorageDriver,
    Iptables,
    Mtu,
}

impl Step {
    /// The step's name: the `check` of its [`Finding`].
    pub fn as_str(self) -> &'static str {
        match self {
            Step::DataRootInUse => "data_root_in_use",
            Step::AppArmor => "apparmor",
            Step::CgroupNesting => "cgroup_nesting",
            Step::StalePidFiles => "stale_pid_files",
            Step::DataRootWritable => "data_root_writable",
            Step::StorageDriver => "storage_driver",
            Step::Iptables => "iptables",
            Step::Mtu => "mtu",
        }
    }
}

/// The step did what it is for.
fn done(step: Step, detail: impl Into<String>) -> Finding {
    Finding::new(step.as_str(), Verdict::Done, detail)
}

/// Nothing to do.
fn skipped(step: Step, reason: impl Into<String>) -> Finding {
    Finding::new(step.as_str(), Verdict::Skipped, reason)
}

/// Something is wrong or degraded; `fix` says what the user can change.
fn warn(step: Step, message: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding::new(step.as_str(), Verdict::Warning, message).with_fix(fix)
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
    /// `/sys/module/apparmor/parameters/enabled`: the kernel's AppArmor switch.
    pub apparmor_enabled: PathBuf,
    /// `/sbin/apparmor_parser`: where dockerd 23 and later look for it.
    pub sbin_apparmor_parser: PathBuf,
    /// `/proc/self/status`: CAP_MAC_ADMIN.
    pub self_status: PathBuf,
    /// `/proc/self/attr`: berth's own AppArmor label.
    pub self_attr: PathBuf,
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
    /// containerd's `root` (its bolt metadata database lives under it).
    pub containerd_root: PathBuf,
    /// `/etc/docker/daemon.json`: settings berth must not pass as flags too.
    pub daemon_json: PathBuf,
    /// `/dev/fuse`.
    pub dev_fuse: PathBuf,
    /// Directory of iptables symlinks prepended to dockerd's PATH.
    pub iptables_bin_dir: PathBuf,
    /// Pid files removed when their process is gone.
    pub pid_files: Vec<PidFileSpec>,
}

impl PreflightPaths {
    /// The standard places, under the host's proc root.
    pub fn for_host(host: &HostFacts) -> Self {
        Self {
            mountinfo: host.mountinfo(),
            securityfs: "/sys/kernel/security".into(),
            apparmor_enabled: "/sys/module/apparmor/parameters/enabled".into(),
            sbin_apparmor_parser: "/sbin/apparmor_parser".into(),
            self_status: host.proc_self().join("status"),
            self_attr: host.proc_self().join("attr"),
            cgroupfs: "/sys/fs/cgroup".into(),
            self_cgroup: host.proc_self().join("cgroup"),
            proc_root: host.proc_root.clone(),
            sys_class_net: "/sys/class/net".into(),
            data_root: DEFAULT_DATA_ROOT.into(),
            containerd_root: DEFAULT_CONTAINERD_ROOT.into(),
            daemon_json: "/etc/docker/daemon.json".into(),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum IptablesChoice {
    /// Decide from `/proc/net/*_tables_names`.
    #[default]
    Auto,
    Legacy,
    #[value(alias = "nf_tables")]
    Nft,
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
    /// `BERTH_APPARMOR`.
    pub apparmor: AppArmorChoice,
    /// berth's own `container` variable (set by Podman, LXC, systemd-nspawn).
    pub container_env: Option<String>,
    /// The dockerd that will run, for `dockerd --version` when its rule matters.
    pub dockerd_program: Option<PathBuf>,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        Self {
            cgroup_init_name: DEFAULT_CGROUP_INIT_NAME.to_owned(),
            cgroup_attempts: DEFAULT_CGROUP_ATTEMPTS,
            cgroup_backoff: DEFAULT_CGROUP_BACKOFF,
            iptables: IptablesChoice::Auto,
            storage_driver: None,
            search_path: OsString::from(DEFAULT_PATH),
            dockerd: DockerdFeatures::default(),
            apparmor: AppArmorChoice::Auto,
            container_env: None,
            dockerd_program: None,
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
    /// What dockerd does about AppArmor, and its `container` variable.
    pub apparmor: Option<AppArmorDecision>,
    /// `--cgroup-parent`, when berth nested inside its own cgroup of the
    /// host's tree (cgroupns=host).
    pub cgroup_parent: Option<String>,
    /// Another engine holds the data root: the [`Step::DataRootInUse`]
    /// finding's words (problem, then fix). The engine must not start.
    pub data_root_in_use: Option<String>,
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
        if let Some(parent) = &self.cgroup_parent {
            // The user's own --cgroup-parent wins.
            if !opts
                .extra_args
                .iter()
                .any(|a| a.starts_with("--cgroup-parent"))
            {
                opts.extra_args
                    .insert(0, format!("--cgroup-parent={parent}"));
            }
        }
    }
}

/// Every step's record, in order, and the decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    pub steps: Vec<Finding>,
    pub decisions: Decisions,
}

/// Run every step, in this order: data root in use, AppArmor (and
/// securityfs), cgroup v2 nesting, stale pid files, data root writable,
/// storage driver, iptables, MTU. Helper processes (`apparmor_parser
/// --version`) go through `helpers`. A data root in use by another engine
/// ends the run after that first step, with nothing changed, and
/// [`Decisions::data_root_in_use`] set.
pub async fn run_all(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn Syscall,
    helpers: &Helpers,
) -> PreflightReport {
    let mut decisions = Decisions::default();
    let in_use = check_data_root_in_use(paths, false);
    in_use.log();
    if in_use.is_problem() {
        decisions.data_root_in_use = Some(match &in_use.fix {
            Some(fix) => format!("{}; fix: {fix}", in_use.seen),
            None => in_use.seen.clone(),
        });
        return PreflightReport {
            steps: vec![in_use],
            decisions,
        };
    }
    let (apparmor, decision) = decide_apparmor(paths, opts, ops, helpers, Act::Change).await;
    decisions.apparmor = Some(decision);
    let (nesting, cgroup_parent) = nest_cgroup_v2(paths, opts, ops).await;
    decisions.cgroup_parent = cgroup_parent.filter(|_| !daemon_json_sets(paths, "cgroup-parent"));
    let mut steps = vec![
        in_use,
        apparmor,
        nesting,
        remove_stale_pid_files(paths),
        check_data_root_writable(paths),
    ];
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
    // The first step logged itself before the others ran.
    for step in &steps[1..] {
        step.log();
    }
    PreflightReport { steps, decisions }
}

/// dockerd's configuration file sets `key` (then the same flag would make
/// dockerd refuse to start).
fn daemon_json_sets(paths: &PreflightPaths, key: &str) -> bool {
    fs::read_to_string(&paths.daemon_json)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|config| config.get(key).is_some())
}

/// `name` on the search path (PATH for dockerd).
pub(super) fn find_on_path(name: &str, search_path: &OsString) -> Option<PathBuf> {
    which::which_in(name, Some(search_path), "/").ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::iptables::tests::iptables_bins;
    use super::mtu::tests::mtu_fixture;
    use super::*;
    use crate::host::syscall::{Call, RecordingSyscall};

    pub(crate) struct Fixture {
        pub(crate) _dir: tempfile::TempDir,
        pub(crate) root: PathBuf,
        pub(crate) paths: PreflightPaths,
        pub(crate) opts: PreflightOptions,
    }

    pub(crate) fn fixture() -> Fixture {
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
            apparmor_enabled: root.join("sys/module/apparmor/parameters/enabled"),
            sbin_apparmor_parser: root.join("sbin/apparmor_parser"),
            self_status: root.join("proc/self/status"),
            self_attr: root.join("proc/self/attr"),
            cgroupfs: root.join("sys/fs/cgroup"),
            self_cgroup: root.join("proc/self/cgroup"),
            proc_root: root.join("proc"),
            sys_class_net: root.join("sys/class/net"),
            data_root: root.join("var/lib/docker"),
            containerd_root: root.join("var/lib/docker/containerd/daemon"),
            daemon_json: root.join("etc/docker/daemon.json"),
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

    pub(crate) fn exe(dir: &Path, name: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    pub(crate) fn is_warn(r: &Finding) -> bool {
        r.verdict == Verdict::Warning
    }

    // ---- all together

    #[test]
    fn decisions_carry_into_dockerd_options() {
        let decisions = Decisions {
            iptables_bin_dir: Some("/run/berth/iptables-bin".into()),
            iptables_backend: Some(IptablesBackend::Legacy),
            storage_driver: Some("vfs".into()),
            mtu: Some(1400),
            apparmor: None,
            cgroup_parent: Some("/docker/abc/docker".into()),
            data_root_in_use: None,
        };
        let mut opts = DockerdOptions {
            storage_driver: Some("overlay2".into()),
            ..DockerdOptions::default()
        };
        decisions.apply_to(&mut opts);
        assert_eq!(opts.storage_driver.as_deref(), Some("vfs"));
        assert_eq!(opts.mtu, Some(1400));
        let args = crate::docker::engine::dockerd_args::dockerd_command(&opts)
            .expect("cmd")
            .args;
        assert!(args.contains(&"--storage-driver=vfs".to_owned()));
        assert!(args.contains(&"--mtu=1400".to_owned()));
        assert!(args.contains(&"--cgroup-parent=/docker/abc/docker".to_owned()));
        // The user's own parent stays the only one.
        let mut own = DockerdOptions {
            extra_args: vec!["--cgroup-parent=/mine".into()],
            ..DockerdOptions::default()
        };
        decisions.apply_to(&mut own);
        assert_eq!(own.extra_args, vec!["--cgroup-parent=/mine".to_owned()]);
        let mut untouched = DockerdOptions {
            mtu: Some(9000),
            ..DockerdOptions::default()
        };
        Decisions::default().apply_to(&mut untouched);
        assert_eq!(untouched.mtu, Some(9000));
    }

    #[tokio::test]
    async fn run_all_records_every_step_in_order_and_serializes() {
        let f = mtu_fixture("1400");
        iptables_bins(&f);
        let ops = RecordingSyscall::new();
        let helpers = Helpers::from(crate::init::runner::OneShotRunner::without_reaper());
        let report = run_all(&f.paths, &f.opts, &ops, &helpers).await;
        let steps: Vec<&str> = report.steps.iter().map(|s| s.check).collect();
        let expected: Vec<&str> = [
            Step::DataRootInUse,
            Step::AppArmor,
            Step::CgroupNesting,
            Step::StalePidFiles,
            Step::DataRootWritable,
            Step::StorageDriver,
            Step::Iptables,
            Step::Mtu,
        ]
        .map(Step::as_str)
        .into();
        assert_eq!(steps, expected);
        assert_eq!(report.decisions.mtu, Some(1400));
        assert_eq!(
            report.decisions.iptables_backend,
            Some(IptablesBackend::Nft)
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["steps"][0]["check"], "data_root_in_use");
        assert_eq!(json["steps"][1]["check"], "apparmor");
        // The fixture's kernel has no AppArmor: nothing mounted.
        assert_eq!(json["steps"][1]["verdict"], "ok");
        assert!(ops.calls().iter().all(|c| !matches!(c, Call::Mount { .. })));
        assert_eq!(
            report.decisions.apparmor.map(|d| d.outcome),
            Some(AppArmorOutcome::KernelOff)
        );
        assert_eq!(json["steps"][2]["verdict"], "skipped");
        assert!(json["steps"][7]["fix"].is_string());
        assert_eq!(report.decisions.data_root_in_use, None);
    }

    /// Another engine holds a database of the data root: pre-flight stops
    /// after its first step, says which file and what to do, and changes
    /// nothing (no iptables links, no data root probe, no mounts).
    #[tokio::test]
    async fn a_data_root_held_by_another_engine_stops_pre_flight_first() {
        use nix::fcntl::{Flock, FlockArg};
        let f = mtu_fixture("1400");
        iptables_bins(&f);
        let db = f.paths.data_root.join("network/files/local-kv.db");
        fs::create_dir_all(db.parent().unwrap()).expect("mkdir");
        fs::write(&db, "").expect("write");
        let _held =
            Flock::lock(fs::File::open(&db).expect("open"), FlockArg::LockExclusive).expect("lock");
        let ops = RecordingSyscall::new();
        let helpers = Helpers::from(crate::init::runner::OneShotRunner::without_reaper());
        let report = run_all(&f.paths, &f.opts, &ops, &helpers).await;
        assert_eq!(report.steps.len(), 1, "{report:?}");
        assert_eq!(report.steps[0].check, Step::DataRootInUse.as_str());
        let said = report.decisions.data_root_in_use.expect("refused");
        assert!(
            said.contains(&db.display().to_string()) && said.contains("fix: give each container"),
            "{said}"
        );
        assert!(ops.calls().is_empty(), "{:?}", ops.calls());
        assert!(!f.paths.iptables_bin_dir.exists());
    }

    /// cgroupns=host: berth nests in its own cgroup and gives dockerd the
    /// parent inside it, unless daemon.json already sets one (dockerd refuses
    /// a flag that its configuration file also sets).
    #[tokio::test]
    async fn the_cgroup_parent_reaches_dockerd_unless_daemon_json_sets_one() {
        let f = fixture();
        let cg = &f.paths.cgroupfs;
        let own = cg.join("docker/abc");
        fs::create_dir_all(&own).expect("mkdir");
        for (dir, procs) in [(cg.clone(), "1\n"), (own.clone(), "7\n")] {
            fs::write(dir.join("cgroup.controllers"), "memory pids\n").expect("write");
            fs::write(dir.join("cgroup.procs"), procs).expect("write");
            fs::write(dir.join("cgroup.subtree_control"), "").expect("write");
        }
        fs::write(&f.paths.self_cgroup, "0::/docker/abc\n").expect("write");
        let helpers = Helpers::from(crate::init::runner::OneShotRunner::without_reaper());
        let ops = RecordingSyscall::new();
        let report = run_all(&f.paths, &f.opts, &ops, &helpers).await;
        assert_eq!(
            report.decisions.cgroup_parent.as_deref(),
            Some("/docker/abc/docker")
        );
        fs::create_dir_all(f.paths.daemon_json.parent().unwrap()).expect("mkdir");
        fs::write(&f.paths.daemon_json, r#"{"cgroup-parent": "/mine"}"#).expect("write");
        let report = run_all(&f.paths, &f.opts, &ops, &helpers).await;
        assert_eq!(report.decisions.cgroup_parent, None);
    }
}
