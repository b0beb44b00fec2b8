//! (a) AppArmor: whether berth's dockerd confines its containers with the
//! `docker-default` profile, decided from what the kernel and the image
//! offer, and the fallback that keeps dockerd from trying where it cannot.
//!
//! Who decides inside dockerd (issue 9, notes/dind-apparmor-cgroup.md):
//!
//! - Debian's docker.io before 23.0 (bookworm's 20.10) is built against
//!   Debian's runc (1.0.0-rc93 and later), whose `apparmor.IsEnabled` is
//!   "/sys/kernel/security/apparmor exists and
//!   /sys/module/apparmor/parameters/enabled starts with Y"
//!   (runc v1.1.5 libcontainer/apparmor/apparmor_linux.go). It then applies
//!   docker-default, loading it with `apparmor_parser` first when it is not
//!   loaded (moby v20.10.24 daemon/apparmor_default.go), and fails every
//!   `docker run` when that cannot be done.
//! - moby 23.0 and later (commit 2834f842 "Use containerd's apparmor package")
//!   and upstream 20.10 builds (vendored runc 1.0.0-rc92) also want
//!   `/sbin/apparmor_parser` to exist and the variable `container` to be
//!   empty (containerd pkg/apparmor/apparmor_linux.go `hostSupports`, quoted
//!   by moby's hack/dind line 18); otherwise they apply no profile at all.
//!
//! So berth confines where dockerd can apply the profile: the kernel has
//! AppArmor on, securityfs is mounted, and either the image's
//! `apparmor_parser` works and berth may load policy (CAP_MAC_ADMIN, not
//! itself confined), or docker-default is loaded already and the engine
//! applies a loaded profile. Everywhere else it keeps dockerd from trying,
//! for every engine: securityfs stays unmounted (hidden under an empty
//! tmpfs when the runtime mounted it) and dockerd gets `container=docker`,
//! so inner containers run without AppArmor instead of failing.

use super::*;
use crate::host::caps::{ProcStatus, CAP_MAC_ADMIN};
use crate::init::runner::{HelperRunner, Helpers};

/// The profile dockerd applies to containers by default.
pub const DOCKER_DEFAULT_PROFILE: &str = "docker-default";
/// How long `apparmor_parser --version` or `dockerd --version` may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

/// `BERTH_APPARMOR`: whether the inner containers must run under AppArmor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AppArmorChoice {
    /// docker-default where dockerd can apply it; elsewhere unconfined
    /// inner containers, with the reason logged.
    #[default]
    Auto,
    /// docker-default or no dockerd: berth exits 69 naming what is missing.
    Require,
    /// Never: dockerd is kept from applying AppArmor.
    Off,
}

/// Whether a run changes the container or only looks (`berth doctor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Mount, unmount, hide: the run before dockerd starts.
    Change,
    /// Read only; what cannot be seen without a mount is reported unknown.
    LookOnly,
}

/// What berth's dockerd does about AppArmor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppArmorOutcome {
    /// The kernel has AppArmor off (or none): no profile can apply.
    KernelOff,
    /// dockerd loads docker-default itself with the image's apparmor_parser.
    LoadedByDockerd,
    /// docker-default is in the kernel already (the host's engine, or an
    /// earlier docker-in-docker, loaded it) and dockerd applies it.
    AlreadyLoaded,
    /// dockerd is kept from applying AppArmor; inner containers run
    /// unconfined.
    Unconfined,
}

impl AppArmorOutcome {
    /// Inner containers run under docker-default.
    pub fn confines(self) -> bool {
        matches!(self, Self::LoadedByDockerd | Self::AlreadyLoaded)
    }
}

/// The step's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppArmorDecision {
    pub outcome: AppArmorOutcome,
    /// The value of `container` in dockerd's environment: "docker" keeps
    /// engines that check it from applying AppArmor; "" lets them, when the
    /// runtime set it for berth (Podman, LXC). None: berth's own.
    pub container_env: Option<&'static str>,
    /// `BERTH_APPARMOR=require` cannot be met: what is missing.
    pub refused: Option<String>,
}

/// How the installed dockerd decides that it can apply AppArmor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineRule {
    /// securityfs and the kernel switch only: a loaded profile is applied
    /// without apparmor_parser (Debian's docker.io before 23.0).
    KernelOnly,
    /// Also `/sbin/apparmor_parser` and an empty `container` (moby 23.0 and
    /// later, upstream 20.10 builds; the rule for any version berth cannot read).
    WantsParser,
}

impl EngineRule {
    /// The rule of the dockerd that prints `version` (`dockerd --version`:
    /// "Docker version 20.10.24+dfsg1, build 297e128"). "+dfsg" is Debian's
    /// repacked source, built against Debian's runc.
    pub fn from_version(version: &str) -> EngineRule {
        let number = version
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or_default();
        let major = number.split('.').next().and_then(|m| m.parse::<u32>().ok());
        match major {
            Some(major) if major < 23 && number.contains("+dfsg") => EngineRule::KernelOnly,
            _ => EngineRule::WantsParser,
        }
    }
}

/// The version apparmor_parser reports, read the way dockerd 20.10 reads it
/// (moby v20.10.24 pkg/aaparser/aaparser.go `parseVersion`): the last word of
/// the first line of its combined output, up to a `-` or `~`, as up to three
/// dot-separated numbers. A warning printed before the version line (a
/// missing /etc/apparmor/parser.conf) makes dockerd fail, so it fails here.
pub fn parse_parser_version(output: &str) -> Result<String, String> {
    let first = output.lines().next().unwrap_or_default();
    let word = first.split(' ').next_back().unwrap_or_default();
    let version = word.split(['-', '~']).next().unwrap_or_default();
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = !parts.is_empty()
        && parts.len() <= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numeric {
        Ok(version.to_owned())
    } else {
        Err(format!(
            "its first line {first:?} does not end in a version, which dockerd 20.10 reads"
        ))
    }
}

/// What `apparmor_parser --version` showed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Parser {
    Missing,
    Works { path: PathBuf, version: String },
    Broken { path: PathBuf, why: String },
}

/// The image's `apparmor_parser` on dockerd's PATH, run as dockerd runs it.
async fn probe_parser(search_path: &OsString, helpers: &Helpers) -> Parser {
    let Some(path) = find_on_path("apparmor_parser", search_path) else {
        return Parser::Missing;
    };
    match helpers.run(&path, &["--version"], PROBE_DEADLINE).await {
        Ok(out) if out.success() => {
            // dockerd reads the combined output: a warning on stderr comes first.
            let combined = format!("{}{}", out.stderr, out.stdout);
            match parse_parser_version(&combined) {
                Ok(version) => Parser::Works { path, version },
                Err(why) => Parser::Broken { path, why },
            }
        }
        Ok(out) => Parser::Broken {
            why: format!(
                "`apparmor_parser --version` {}: {}",
                out.exit,
                first_line(&format!("{}{}", out.stderr, out.stdout))
            ),
            path,
        },
        Err(err) => Parser::Broken {
            path,
            why: err.to_string(),
        },
    }
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// The installed dockerd's rule, from `dockerd --version`.
async fn engine_rule(dockerd: Option<&Path>, helpers: &Helpers) -> (EngineRule, String) {
    let Some(dockerd) = dockerd else {
        return (EngineRule::WantsParser, "dockerd unknown".into());
    };
    match helpers.run(dockerd, &["--version"], PROBE_DEADLINE).await {
        Ok(out) if out.success() => {
            let version = first_line(&out.stdout).trim().to_owned();
            (EngineRule::from_version(&version), version)
        }
        Ok(out) => (
            EngineRule::WantsParser,
            format!("dockerd --version {}", out.exit),
        ),
        Err(err) => (EngineRule::WantsParser, err.to_string()),
    }
}

/// `/sys/module/apparmor/parameters/enabled`: Ok(()) when it starts with Y,
/// else what it says.
fn kernel_apparmor(path: &Path) -> Result<(), String> {
    match read_kernel_text(path) {
        Ok(text) if text.starts_with('Y') => Ok(()),
        Ok(text) => Err(format!("{} is {:?}", path.display(), text.trim())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(format!(
            "{} is absent: the kernel has no AppArmor",
            path.display()
        )),
        Err(err) => Err(format!("cannot read {}: {err}", path.display())),
    }
}

/// Why berth cannot load policy, if it cannot: CAP_MAC_ADMIN, and berth's
/// own AppArmor label (a confined task may not replace policy).
fn may_load_policy(paths: &PreflightPaths) -> Result<(), String> {
    let status = read_kernel_text(&paths.self_status)
        .map(|text| ProcStatus::parse(&text))
        .unwrap_or_default();
    match status.cap_eff {
        Some(caps) if caps.has(CAP_MAC_ADMIN) => {}
        Some(_) => return Err("CAP_MAC_ADMIN is not effective".into()),
        None => {
            return Err(format!(
                "capabilities unknown ({} unreadable)",
                paths.self_status.display()
            ))
        }
    }
    // Linux 5.8+ has the AppArmor-specific file; older kernels the shared one.
    let label = ["apparmor/current", "current"]
        .iter()
        .find_map(|f| read_kernel_text(paths.self_attr.join(f)).ok())
        .map(|l| l.trim_end_matches(['\n', '\0']).to_owned());
    match label.as_deref() {
        None | Some("unconfined") => Ok(()),
        Some(label) => Err(format!(
            "berth itself runs under the AppArmor profile {label:?}, which may not load policy"
        )),
    }
}

/// Whether securityfs is mounted at its place.
fn securityfs_mounted(paths: &PreflightPaths) -> Result<bool, String> {
    read_kernel_text(&paths.mountinfo)
        .map(|text| MountInfo::parse(&text).is_mount_point(&paths.securityfs))
        .map_err(|err| format!("cannot read {}: {err}", paths.mountinfo.display()))
}

/// docker-default in `<securityfs>/apparmor/profiles`; None when unreadable.
fn docker_default_loaded(paths: &PreflightPaths) -> Option<bool> {
    let text = read_kernel_text(paths.securityfs.join("apparmor/profiles")).ok()?;
    Some(text.lines().any(|line| {
        line.split_once(' ')
            .is_some_and(|(name, _)| name == DOCKER_DEFAULT_PROFILE)
    }))
}

/// securityfs: was it there, or did berth mount it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Securityfs {
    /// Mounted by the runtime (or an earlier run).
    Present,
    MountedByBerth,
    /// Not mounted, and berth only looks.
    NotMounted,
}

/// (a) AppArmor for berth's dockerd: the outcome, the Finding that says why,
/// and what dockerd's environment needs. With `Act::Change` it mounts
/// securityfs where dockerd needs it and, where it falls back, unmounts its
/// own mount or hides the runtime's; with `Act::LookOnly` it changes nothing.
pub async fn decide_apparmor(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn Syscall,
    helpers: &Helpers,
    act: Act,
) -> (Finding, AppArmorDecision) {
    const STEP: Step = Step::AppArmor;
    let choice = opts.apparmor;
    if let Err(why) = kernel_apparmor(&paths.apparmor_enabled) {
        let seen = format!("AppArmor is off in this kernel ({why}): no profile applies to inner containers, nothing to do");
        return match choice {
            AppArmorChoice::Require => refuse(
                format!("BERTH_APPARMOR=require, but AppArmor is off in this kernel ({why})"),
                "run on a host whose kernel has AppArmor on, or unset BERTH_APPARMOR",
            ),
            _ => (
                Finding::new(STEP.as_str(), Verdict::Ok, seen),
                AppArmorDecision {
                    outcome: AppArmorOutcome::KernelOff,
                    container_env: None,
                    refused: None,
                },
            ),
        };
    }
    let mut securityfs = match securityfs_mounted(paths) {
        Ok(true) => Securityfs::Present,
        Ok(false) => Securityfs::NotMounted,
        Err(why) => return unconfined(paths, ops, act, choice, Securityfs::NotMounted, vec![why]),
    };
    let mut why_not = Vec::new();
    if securityfs == Securityfs::NotMounted && act == Act::Change {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        match ops.mount("securityfs", &paths.securityfs, "securityfs", flags, None) {
            Ok(()) => securityfs = Securityfs::MountedByBerth,
            Err(errno) => why_not.push(format!(
                "securityfs cannot be mounted at {} ({errno})",
                paths.securityfs.display()
            )),
        }
    }
    if choice == AppArmorChoice::Off {
        return unconfined(
            paths,
            ops,
            act,
            choice,
            securityfs,
            vec!["BERTH_APPARMOR=off".into()],
        );
    }
    if !why_not.is_empty() {
        return unconfined(paths, ops, act, choice, securityfs, why_not);
    }
    let loaded = match securityfs {
        Securityfs::NotMounted => None,
        _ => docker_default_loaded(paths),
    };
    let parser = probe_parser(&opts.search_path, helpers).await;
    let sbin_parser = paths.sbin_apparmor_parser.exists();
    let may_load = may_load_policy(paths);
    let container_set = opts.container_env.as_deref().is_some_and(|v| !v.is_empty());
    // What every engine needs to load docker-default itself.
    let loads = match (&parser, &may_load) {
        (Parser::Works { path, version }, Ok(())) if sbin_parser => Ok(format!(
            "apparmor_parser {version} works ({})",
            path.display()
        )),
        (Parser::Works { .. }, Ok(())) => Err(format!(
            "apparmor_parser is not at {}, where dockerd 23 and later look",
            paths.sbin_apparmor_parser.display()
        )),
        (Parser::Works { .. }, Err(why)) => Err(why.clone()),
        (Parser::Missing, _) => Err("the image has no apparmor_parser".into()),
        (Parser::Broken { path, why }, _) => {
            Err(format!("apparmor_parser ({}) fails: {why}", path.display()))
        }
    };
    let container_env = container_set.then_some("");
    let unset_note = if container_set {
        format!(
            "; `container` ({}) cleared for dockerd, or it would apply no profile",
            opts.container_env.as_deref().unwrap_or_default()
        )
    } else {
        String::new()
    };
    match (loads, loaded) {
        (Ok(works), loaded) => {
            let (outcome, seen) = if loaded == Some(true) {
                (AppArmorOutcome::AlreadyLoaded, format!("{works}, and {DOCKER_DEFAULT_PROFILE} is already loaded in the kernel: inner containers run under {DOCKER_DEFAULT_PROFILE} (enforce){unset_note}"))
            } else {
                (AppArmorOutcome::LoadedByDockerd, format!("{works} and berth may load policy: dockerd loads {DOCKER_DEFAULT_PROFILE}; inner containers run under {DOCKER_DEFAULT_PROFILE} (enforce){unset_note}"))
            };
            confined(securityfs, outcome, seen, container_env)
        }
        (Err(why), Some(true)) => {
            // A loaded profile: Debian's 20.10 applies it as it is; engines
            // that want the parser apply it when /sbin/apparmor_parser exists
            // (they only stat it) and `container` is empty.
            let rule = if sbin_parser {
                EngineRule::WantsParser
            } else {
                engine_rule(opts.dockerd_program.as_deref(), helpers)
                    .await
                    .0
            };
            if sbin_parser || rule == EngineRule::KernelOnly {
                let seen = format!("{DOCKER_DEFAULT_PROFILE} is already loaded in the kernel (by the host's engine or an earlier docker-in-docker) and this dockerd applies it, although {why}: inner containers run under {DOCKER_DEFAULT_PROFILE} (enforce){unset_note}");
                confined(
                    securityfs,
                    AppArmorOutcome::AlreadyLoaded,
                    seen,
                    container_env,
                )
            } else {
                let reason = format!("although {DOCKER_DEFAULT_PROFILE} is loaded, this dockerd applies a profile only when {} exists, and {why}", paths.sbin_apparmor_parser.display());
                unconfined(paths, ops, act, choice, securityfs, vec![reason])
            }
        }
        (Err(why), None) if act == Act::LookOnly => {
            let seen = format!("AppArmor is on; {why}; whether {DOCKER_DEFAULT_PROFILE} is loaded cannot be read without securityfs (berth mounts it at start): inner containers run under it if the host loaded it, else unconfined");
            let finding = Finding::new(STEP.as_str(), Verdict::Ok, seen).with_fix(INSTALL_FIX);
            (
                finding,
                AppArmorDecision {
                    outcome: AppArmorOutcome::Unconfined,
                    container_env: Some("docker"),
                    refused: None,
                },
            )
        }
        (Err(why), _) => {
            let reason = format!("{why}, and {DOCKER_DEFAULT_PROFILE} is not loaded");
            unconfined(paths, ops, act, choice, securityfs, vec![reason])
        }
    }
}

const INSTALL_FIX: &str = "install Debian's apparmor package in the image (apt-get install apparmor: apparmor_parser and /etc/apparmor.d) so dockerd can load docker-default";

fn confined(
    securityfs: Securityfs,
    outcome: AppArmorOutcome,
    seen: String,
    container_env: Option<&'static str>,
) -> (Finding, AppArmorDecision) {
    let verdict = if securityfs == Securityfs::MountedByBerth {
        Verdict::Done
    } else {
        Verdict::Ok
    };
    let seen = if securityfs == Securityfs::MountedByBerth {
        format!("{seen}; securityfs mounted")
    } else {
        seen
    };
    (
        Finding::new(Step::AppArmor.as_str(), verdict, seen),
        AppArmorDecision {
            outcome,
            container_env,
            refused: None,
        },
    )
}

/// `BERTH_APPARMOR=require` cannot be met.
fn refuse(why: String, fix: &str) -> (Finding, AppArmorDecision) {
    (
        Finding::new(Step::AppArmor.as_str(), Verdict::Missing, why.clone()).with_fix(fix),
        AppArmorDecision {
            outcome: AppArmorOutcome::Unconfined,
            container_env: Some("docker"),
            refused: Some(format!("{why}; fix: {fix}")),
        },
    )
}

/// The fallback: dockerd must not believe AppArmor is usable. Every engine
/// checks /sys/kernel/security/apparmor, so securityfs goes away for it
/// (berth's own mount is undone; the runtime's is covered by an empty
/// read-only tmpfs), and engines that read `container` get "docker", as in
/// moby's hack/dind.
fn unconfined(
    paths: &PreflightPaths,
    ops: &dyn Syscall,
    act: Act,
    choice: AppArmorChoice,
    securityfs: Securityfs,
    reasons: Vec<String>,
) -> (Finding, AppArmorDecision) {
    let why = reasons.join("; ");
    if choice == AppArmorChoice::Require {
        if securityfs == Securityfs::MountedByBerth {
            // Nothing starts: leave the container as it was.
            let _ = ops.umount(&paths.securityfs);
        }
        return refuse(
            format!("BERTH_APPARMOR=require, but dockerd cannot apply {DOCKER_DEFAULT_PROFILE} here: {why}"),
            INSTALL_FIX,
        );
    }
    let target = paths.securityfs.display();
    let hidden = match (act, securityfs) {
        (Act::LookOnly, Securityfs::Present) => {
            format!("berth would hide the securityfs at {target} from dockerd")
        }
        (Act::LookOnly, _) => format!("berth leaves {target} unmounted"),
        (Act::Change, Securityfs::NotMounted) => format!("{target} left unmounted"),
        (Act::Change, Securityfs::MountedByBerth) => match ops.umount(&paths.securityfs) {
            Ok(()) => format!("{target} unmounted again"),
            Err(errno) => {
                return (
                    warn(Step::AppArmor, format!("{why}; berth cannot unmount the securityfs it mounted at {target} ({errno}), so dockerd 20.10 will try to load {DOCKER_DEFAULT_PROFILE} and fail every `docker run`"), INSTALL_FIX),
                    AppArmorDecision { outcome: AppArmorOutcome::Unconfined, container_env: Some("docker"), refused: None },
                )
            }
        },
        (Act::Change, Securityfs::Present) => {
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
            match ops.mount("tmpfs", &paths.securityfs, "tmpfs", flags, Some("size=4k,mode=0555")) {
                Ok(()) => format!("the runtime's securityfs at {target} hidden under an empty tmpfs"),
                Err(errno) => {
                    return (
                        warn(Step::AppArmor, format!("{why}; securityfs is mounted at {target} and berth cannot cover it ({errno}), so dockerd 20.10 will try to load {DOCKER_DEFAULT_PROFILE} and fail every `docker run`"), INSTALL_FIX),
                        AppArmorDecision { outcome: AppArmorOutcome::Unconfined, container_env: Some("docker"), refused: None },
                    )
                }
            }
        }
    };
    let seen = format!("AppArmor is on, but {why}: inner containers run unconfined ({hidden}, container=docker for dockerd)");
    let verdict = if act == Act::Change {
        Verdict::Done
    } else {
        Verdict::Ok
    };
    (
        Finding::new(Step::AppArmor.as_str(), verdict, seen).with_fix(format!(
            "{INSTALL_FIX}; BERTH_APPARMOR=require refuses to run without it"
        )),
        AppArmorDecision {
            outcome: AppArmorOutcome::Unconfined,
            container_env: Some("docker"),
            refused: None,
        },
    )
}

/// After dockerd answers: did it load docker-default as decided? A warning
/// when it did not (dockerd's own log says why): then every `docker run`
/// without `--security-opt apparmor=unconfined` fails.
pub fn verify_loaded(paths: &PreflightPaths, decision: &AppArmorDecision) -> Option<Finding> {
    if !decision.outcome.confines() {
        return None;
    }
    let finding = match docker_default_loaded(paths) {
        Some(true) => Finding::new(
            Step::AppArmor.as_str(),
            Verdict::Ok,
            format!("{DOCKER_DEFAULT_PROFILE} is loaded: inner containers run under {DOCKER_DEFAULT_PROFILE} (enforce)"),
        ),
        seen => warn(
            Step::AppArmor,
            format!(
                "dockerd is up but {DOCKER_DEFAULT_PROFILE} is {} (see dockerd's log): inner `docker run` fails unless given --security-opt apparmor=unconfined",
                if seen.is_some() { "not loaded" } else { "unreadable" }
            ),
            "set BERTH_APPARMOR=off to run inner containers unconfined, or fix apparmor_parser in the image",
        ),
    };
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    use crate::host::syscall::{Call, RecordingSyscall};
    use crate::init::runner::OneShotRunner;

    /// CapEff with every capability (a --privileged container).
    const STATUS_PRIVILEGED: &str = "CapEff:\t000001ffffffffff\n";
    const STATUS_NO_MAC_ADMIN: &str = "CapEff:\t00000001fdffffff\n";
    const PARSER_3_0_8: &str = "#!/bin/sh\necho 'AppArmor parser version 3.0.8'\necho 'Copyright (C) 1999-2008 Novell Inc.'\n";

    /// The kernel's switch, securityfs's view after a mount, berth's status.
    fn apparmor_host(f: &Fixture, enabled: &str, profiles: Option<&str>) {
        fs::create_dir_all(f.paths.apparmor_enabled.parent().unwrap()).unwrap();
        fs::write(&f.paths.apparmor_enabled, enabled).unwrap();
        if let Some(profiles) = profiles {
            fs::create_dir_all(f.paths.securityfs.join("apparmor")).unwrap();
            fs::write(f.paths.securityfs.join("apparmor/profiles"), profiles).unwrap();
        }
        fs::write(&f.paths.self_status, STATUS_PRIVILEGED).unwrap();
        fs::create_dir_all(f.paths.self_attr.join("apparmor")).unwrap();
        fs::write(f.paths.self_attr.join("apparmor/current"), "unconfined\n").unwrap();
    }

    /// An apparmor_parser script in the search path (and at /sbin).
    fn parser(f: &Fixture, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        for path in [
            PathBuf::from(&f.opts.search_path).join("apparmor_parser"),
            f.paths.sbin_apparmor_parser.clone(),
        ] {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, script).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    fn securityfs_premounted(f: &Fixture) {
        fs::write(
            &f.paths.mountinfo,
            format!(
                "40 1 0:5 / {} rw - securityfs securityfs rw\n",
                f.paths.securityfs.display()
            ),
        )
        .unwrap();
    }

    async fn decide(f: &Fixture, ops: &RecordingSyscall, act: Act) -> (Finding, AppArmorDecision) {
        let helpers = Helpers::from(OneShotRunner::without_reaper());
        decide_apparmor(&f.paths, &f.opts, ops, &helpers, act).await
    }

    fn securityfs_mount(f: &Fixture) -> Call {
        Call::Mount {
            source: "securityfs".into(),
            target: f.paths.securityfs.clone(),
            fstype: "securityfs".into(),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        }
    }

    #[test]
    fn parser_versions_are_read_as_dockerd_20_10_reads_them() {
        assert_eq!(
            parse_parser_version("AppArmor parser version 3.0.8\nCopyright"),
            Ok("3.0.8".into())
        );
        assert_eq!(
            parse_parser_version("AppArmor parser version 4.1.0~beta1\n"),
            Ok("4.1.0".into())
        );
        // What the bookworm parser printed without /etc/apparmor/parser.conf.
        let err = parse_parser_version(
            "Warning: unable to find a suitable fs in /proc/mounts, is it mounted?\nconfig file '/etc/apparmor/parser.conf' not found\nAppArmor parser version 3.0.8\n",
        )
        .unwrap_err();
        assert!(err.contains("does not end in a version"), "{err}");
        assert!(parse_parser_version("").is_err());
        assert!(parse_parser_version("version 1.2.3.4").is_err());
    }

    #[test]
    fn engine_rules_follow_the_build() {
        assert_eq!(
            EngineRule::from_version("Docker version 20.10.24+dfsg1, build 297e128"),
            EngineRule::KernelOnly
        );
        for version in [
            "Docker version 26.1.5+dfsg1, build 411e817",
            "Docker version 20.10.24, build 5d6db84",
            "Docker version 28.3.2, build e77ff99",
            "garbage",
        ] {
            assert_eq!(
                EngineRule::from_version(version),
                EngineRule::WantsParser,
                "{version}"
            );
        }
    }

    #[tokio::test]
    async fn kernel_without_apparmor_needs_nothing_and_mounts_nothing() {
        let f = fixture();
        let ops = RecordingSyscall::new();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::KernelOff);
        assert_eq!(decision.container_env, None);
        assert!(finding.seen.contains("absent"), "{finding}");
        assert!(ops.calls().is_empty());
        apparmor_host(&f, "N\n", None);
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::KernelOff);
        assert!(finding.seen.contains("\"N\""), "{finding}");
    }

    #[tokio::test]
    async fn a_working_parser_confines_and_keeps_securityfs() {
        let f = fixture();
        apparmor_host(&f, "Y\n", Some("runc (unconfined)\n"));
        parser(&f, PARSER_3_0_8);
        let ops = RecordingSyscall::new();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(
            decision.outcome,
            AppArmorOutcome::LoadedByDockerd,
            "{finding}"
        );
        assert_eq!(decision.container_env, None);
        assert_eq!(finding.verdict, Verdict::Done);
        assert!(
            finding.seen.contains("apparmor_parser 3.0.8 works"),
            "{finding}"
        );
        assert_eq!(ops.calls(), vec![securityfs_mount(&f)]);
        // The runtime set `container` (Podman): cleared for dockerd.
        let opts = PreflightOptions {
            container_env: Some("podman".into()),
            ..f.opts.clone()
        };
        let helpers = Helpers::from(OneShotRunner::without_reaper());
        let (finding, decision) =
            decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert_eq!(decision.container_env, Some(""));
        assert!(
            finding.seen.contains("`container` (podman) cleared"),
            "{finding}"
        );
    }

    #[tokio::test]
    async fn no_parser_and_no_profile_falls_back_and_unmounts() {
        let f = fixture();
        apparmor_host(&f, "Y\n", Some("runc (unconfined)\n"));
        let ops = RecordingSyscall::new();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert_eq!(decision.container_env, Some("docker"));
        assert_eq!(decision.refused, None);
        assert_eq!(finding.verdict, Verdict::Done);
        assert!(
            finding.seen.contains("the image has no apparmor_parser")
                && finding.seen.contains("unmounted again"),
            "{finding}"
        );
        assert!(finding
            .fix
            .as_deref()
            .unwrap()
            .contains("apt-get install apparmor"));
        assert_eq!(
            ops.calls(),
            vec![
                securityfs_mount(&f),
                Call::Umount(f.paths.securityfs.clone())
            ]
        );
    }

    #[tokio::test]
    async fn a_broken_parser_falls_back_with_its_words() {
        let f = fixture();
        apparmor_host(&f, "Y\n", Some(""));
        parser(
            &f,
            "#!/bin/sh\necho \"Failed to load policy-features from '/usr/share/apparmor-features/features'\" >&2\nexit 1\n",
        );
        let ops = RecordingSyscall::new();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(finding.seen.contains("policy-features"), "{finding}");
        // A warning line before the version: 20.10 cannot read it either.
        parser(
            &f,
            "#!/bin/sh\necho \"config file '/etc/apparmor/parser.conf' not found\" >&2\necho 'AppArmor parser version 3.0.8'\n",
        );
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(
            finding.seen.contains("does not end in a version"),
            "{finding}"
        );
    }

    #[tokio::test]
    async fn without_cap_mac_admin_or_when_confined_the_parser_is_not_enough() {
        let f = fixture();
        apparmor_host(&f, "Y\n", Some(""));
        parser(&f, PARSER_3_0_8);
        fs::write(&f.paths.self_status, STATUS_NO_MAC_ADMIN).unwrap();
        let ops = RecordingSyscall::new();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(finding.seen.contains("CAP_MAC_ADMIN"), "{finding}");
        fs::write(&f.paths.self_status, STATUS_PRIVILEGED).unwrap();
        fs::write(
            f.paths.self_attr.join("apparmor/current"),
            "docker-default (enforce)\n",
        )
        .unwrap();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(finding.seen.contains("may not load policy"), "{finding}");
    }

    #[tokio::test]
    async fn a_loaded_profile_is_used_by_engines_that_apply_it_without_the_parser() {
        let bin = tempfile::tempdir().unwrap();
        let dockerd = |version: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = bin.path().join("dockerd");
            fs::write(
                &path,
                format!("#!/bin/sh\necho 'Docker version {version}'\n"),
            )
            .unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let f = fixture();
        apparmor_host(
            &f,
            "Y\n",
            Some("docker-default (enforce)\nrunc (unconfined)\n"),
        );
        let ops = RecordingSyscall::new();
        let helpers = Helpers::from(OneShotRunner::without_reaper());
        // Debian's 20.10: applies the host's profile, no parser needed.
        let opts = PreflightOptions {
            dockerd_program: Some(dockerd("20.10.24+dfsg1, build 297e128")),
            ..f.opts.clone()
        };
        let (finding, decision) =
            decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert_eq!(
            decision.outcome,
            AppArmorOutcome::AlreadyLoaded,
            "{finding}"
        );
        assert_eq!(ops.calls(), vec![securityfs_mount(&f)]);
        // 26.x: no /sbin/apparmor_parser, no profile applied: berth says so
        // and falls back for all.
        let opts = PreflightOptions {
            dockerd_program: Some(dockerd("26.1.5+dfsg1, build 411e817")),
            ..f.opts.clone()
        };
        let (finding, decision) =
            decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined, "{finding}");
        assert!(
            finding.seen.contains("applies a profile only when"),
            "{finding}"
        );
    }

    #[tokio::test]
    async fn the_runtimes_securityfs_is_hidden_when_falling_back() {
        let f = fixture();
        apparmor_host(&f, "Y\n", Some(""));
        securityfs_premounted(&f);
        let ops = RecordingSyscall::new();
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(
            finding.seen.contains("hidden under an empty tmpfs"),
            "{finding}"
        );
        assert_eq!(
            ops.calls(),
            vec![Call::Mount {
                source: "tmpfs".into(),
                target: f.paths.securityfs.clone(),
                fstype: "tmpfs".into(),
                flags: MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_RDONLY,
            }]
        );
    }

    #[tokio::test]
    async fn securityfs_refused_means_unconfined() {
        let f = fixture();
        apparmor_host(&f, "Y\n", None);
        parser(&f, PARSER_3_0_8);
        let mut ops = RecordingSyscall::new();
        ops.mount_result = Err(Errno::EPERM);
        let (finding, decision) = decide(&f, &ops, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(finding.seen.contains("EPERM"), "{finding}");
    }

    #[tokio::test]
    async fn require_refuses_what_cannot_confine_and_leaves_nothing_mounted() {
        let f = fixture();
        let opts = PreflightOptions {
            apparmor: AppArmorChoice::Require,
            ..f.opts.clone()
        };
        let helpers = Helpers::from(OneShotRunner::without_reaper());
        let ops = RecordingSyscall::new();
        // No AppArmor in the kernel.
        let (finding, decision) =
            decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert_eq!(finding.verdict, Verdict::Missing);
        let refused = decision.refused.expect("refused");
        assert!(
            refused.contains("AppArmor is off in this kernel"),
            "{refused}"
        );
        // AppArmor on, no parser, no profile.
        apparmor_host(&f, "Y\n", Some(""));
        let (finding, decision) =
            decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert_eq!(finding.verdict, Verdict::Missing);
        let refused = decision.refused.expect("refused");
        assert!(
            refused.contains("no apparmor_parser") && refused.contains("apt-get install apparmor"),
            "{refused}"
        );
        assert_eq!(
            ops.calls(),
            vec![
                securityfs_mount(&f),
                Call::Umount(f.paths.securityfs.clone())
            ]
        );
        // With a parser: confined, not refused.
        parser(&f, PARSER_3_0_8);
        let (_, decision) = decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert!(decision.outcome.confines());
        assert_eq!(decision.refused, None);
    }

    #[tokio::test]
    async fn off_never_confines() {
        let f = fixture();
        apparmor_host(&f, "Y\n", Some(""));
        parser(&f, PARSER_3_0_8);
        let opts = PreflightOptions {
            apparmor: AppArmorChoice::Off,
            ..f.opts.clone()
        };
        let helpers = Helpers::from(OneShotRunner::without_reaper());
        let ops = RecordingSyscall::new();
        let (finding, decision) =
            decide_apparmor(&f.paths, &opts, &ops, &helpers, Act::Change).await;
        assert_eq!(decision.outcome, AppArmorOutcome::Unconfined);
        assert!(finding.seen.contains("BERTH_APPARMOR=off"), "{finding}");
        assert_eq!(decision.container_env, Some("docker"));
    }

    #[tokio::test]
    async fn doctor_only_looks() {
        let f = fixture();
        apparmor_host(&f, "Y\n", None);
        let ops = RecordingSyscall::new();
        let (finding, _) = decide(&f, &ops, Act::LookOnly).await;
        assert!(ops.calls().is_empty());
        assert!(
            finding.seen.contains("cannot be read without securityfs"),
            "{finding}"
        );
        parser(&f, PARSER_3_0_8);
        let (finding, decision) = decide(&f, &ops, Act::LookOnly).await;
        assert!(ops.calls().is_empty());
        assert_eq!(
            decision.outcome,
            AppArmorOutcome::LoadedByDockerd,
            "{finding}"
        );
    }

    #[test]
    fn verification_after_start_reads_the_profiles() {
        let f = fixture();
        let confined = AppArmorDecision {
            outcome: AppArmorOutcome::LoadedByDockerd,
            container_env: None,
            refused: None,
        };
        apparmor_host(&f, "Y\n", Some("runc (unconfined)\n"));
        let finding = verify_loaded(&f.paths, &confined).expect("checked");
        assert_eq!(finding.verdict, Verdict::Warning, "{finding}");
        apparmor_host(&f, "Y\n", Some("docker-default (enforce)\n"));
        let finding = verify_loaded(&f.paths, &confined).expect("checked");
        assert_eq!(finding.verdict, Verdict::Ok, "{finding}");
        let unconfined = AppArmorDecision {
            outcome: AppArmorOutcome::Unconfined,
            ..confined
        };
        assert_eq!(verify_loaded(&f.paths, &unconfined), None);
    }
}
