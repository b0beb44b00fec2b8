//! `berth doctor [--json]`: what berth detects here, what it would do, and
//! what will not work, with the fix for each.
//!
//! Read-only: detection pings and reads /proc; the dockerd checks are the
//! pre-flight steps that only look (storage driver, iptables backend, MTU);
//! nothing is mounted, moved, chowned or written.

use std::fmt::Write as _;

use serde::Serialize;

use crate::docker::detect::Detection;
use crate::docker::engine::dockerd_args::DockerdFeatures;
use crate::docker::engine::preflight::{
    self, Action, PreflightOptions, PreflightPaths, StepRecord,
};
use crate::docker::engine::rootless::{self, RootlessPaths, RootlessUser, Status};
use crate::docker::finding::Verdict;
use crate::docker::mode::{Mode, Request};
use crate::docker::setup;
use crate::docker::setup::DockerSettings;
use crate::host::syscall::NixSyscall;
use crate::host::HostFacts;
use crate::init::runner::OneShotRunner;
use crate::init::spawn::Credentials;

/// Something that will not work, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

/// The target user as berth resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserReport {
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Everything `berth doctor` knows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub berth_version: &'static str,
    /// What was asked about Docker, and why (which flag, variable or default).
    pub requested: Request,
    pub requested_because: String,
    pub user: Option<UserReport>,
    pub detection: Option<Detection>,
    /// Set when detection itself failed (a forced mode that cannot work).
    pub detection_error: Option<String>,
    /// One sentence: what `berth` would do at start.
    pub plan: String,
    pub dockerd_checks: Vec<StepRecord>,
    pub rootless_checks: Vec<rootless::Finding>,
    pub problems: Vec<Problem>,
}

impl Report {
    /// 0 when a way to Docker exists (or Docker is off), 1 when none does.
    pub fn exit_code(&self) -> u8 {
        match &self.detection {
            _ if self.requested == Request::Off => 0,
            Some(detection) if detection.mode.is_some() => 0,
            _ => 1,
        }
    }
}

/// Gathers the report for the configuration's Docker settings (`why` says
/// where its request came from).
pub async fn examine(
    settings: &DockerSettings,
    why: &str,
    host: &HostFacts,
    user: Option<&Credentials>,
) -> Report {
    // No reaper runs in `berth doctor`: helpers wait on their own children.
    let helpers = OneShotRunner::without_reaper();
    let (detection, detection_error) =
        match setup::detect_here(settings.request, host, user, helpers).await {
            Ok(detection) => (Some(detection), None),
            Err(err) => (None, Some(err.to_string())),
        };
    let off = settings.request == Request::Off;
    let mode = detection.as_ref().and_then(|d| d.mode);
    let mut problems = Vec::new();
    if let Some(err) = &detection_error {
        problems.push(Problem {
            what: err.clone(),
            fix: "see the evidence above; unset BERTH_DOCKER to let berth detect".into(),
        });
    }
    if let Some(detection) = &detection {
        for evidence in &detection.evidence {
            if matches!(evidence.verdict, Verdict::Warning | Verdict::Missing) {
                problems.push(split_fix(&evidence.saw));
            }
        }
        if detection.mode.is_none() && !off {
            problems.push(Problem {
                what: "no way to reach Docker was found".into(),
                fix: "mount the host socket (-v /var/run/docker.sock:/var/run/docker.sock), run privileged (--privileged -v berth-docker:/var/lib/docker), use sysbox, or set DOCKER_HOST".into(),
            });
        }
        if let (Some(socket), Some(user)) = (&detection.socket, user) {
            if user.uid != 0 && !user.groups.contains(&socket.gid) {
                problems.push(Problem {
                    what: format!(
                        "{} belongs to gid {}, which {} lacks: `docker` fails with \"permission denied\"",
                        socket.path.display(),
                        socket.gid,
                        user.name.as_deref().unwrap_or("the user")
                    ),
                    fix: "berth fixes this at start when it runs as root with --user (it adds the user to that group); otherwise --group-add GID".into(),
                });
            }
        }
    }
    // berth's own dockerd, once running, shows up as socket mode: check it too.
    let own_dockerd = crate::init::procs::find_by_comm(&host.proc_root, "dockerd").is_some();
    let dockerd_checks = if host.which("dockerd").is_some()
        && !off
        && (own_dockerd || matches!(mode, Some(Mode::Dind | Mode::Sysbox) | None))
    {
        dockerd_checks(settings, host)
    } else {
        Vec::new()
    };
    for step in &dockerd_checks {
        if let Action::Warn { message, fix } = &step.action {
            problems.push(Problem {
                what: message.clone(),
                fix: fix.clone(),
            });
        }
    }
    let rootless_checks = match (mode, user) {
        _ if off => Vec::new(),
        (Some(Mode::Rootless), Some(user)) | (None, Some(user)) if user.uid != 0 => {
            rootless_checks(user, host)
        }
        _ => Vec::new(),
    };
    if mode != Some(Mode::Rootless) {
        // Already reported as detection evidence when rootless was chosen.
        for finding in &rootless_checks {
            if let Status::Missing { problem, fix, .. } = &finding.status {
                problems.push(Problem {
                    what: format!("rootless: {problem}"),
                    fix: fix.clone(),
                });
            }
        }
    }
    problems.dedup();
    Report {
        berth_version: env!("CARGO_PKG_VERSION"),
        requested: settings.request,
        requested_because: why.to_string(),
        user: user.map(|u| UserReport {
            name: u.name.clone(),
            uid: u.uid,
            gid: u.gid,
            groups: u.groups.clone(),
        }),
        plan: plan_for(settings.request, mode),
        detection,
        detection_error,
        dockerd_checks,
        rootless_checks,
        problems,
    }
}

fn plan_for(request: Request, mode: Option<Mode>) -> String {
    match mode {
        _ if request == Request::Off => "run the command as an init only (Docker is off)".into(),
        Some(Mode::Socket) => "use the mounted host socket, adding the user to its group".into(),
        Some(Mode::Remote) => "use the remote engine DOCKER_HOST names".into(),
        Some(Mode::Dind) => "run pre-flight and start dockerd (privileged docker-in-docker)".into(),
        Some(Mode::Sysbox) => "start dockerd without --privileged (sysbox)".into(),
        Some(Mode::Rootless) => "start rootless dockerd under rootlesskit as the user".into(),
        None => "warn once and run the command without Docker (or fail with BERTH_ON_DOCKER_FAILURE=fail)".into(),
    }
}

/// Evidence texts end with "; fix: ..." or "... : run ..."; split where we can.
fn split_fix(saw: &str) -> Problem {
    match saw.split_once("; fix: ") {
        Some((what, fix)) => Problem {
            what: what.to_string(),
            fix: fix.to_string(),
        },
        None => Problem {
            what: saw.to_string(),
            fix: "see the message".into(),
        },
    }
}

/// The pre-flight steps that only look.
fn dockerd_checks(settings: &DockerSettings, host: &HostFacts) -> Vec<StepRecord> {
    let mut paths = PreflightPaths::for_host(host);
    if let Some(root) = &settings.engine.data_root {
        paths.data_root = root.clone();
    }
    let options = PreflightOptions {
        iptables: settings.engine.iptables,
        storage_driver: settings.engine.storage_driver.clone(),
        search_path: host.search_path(),
        ..PreflightOptions::default()
    };
    let (storage, _) = preflight::choose_storage_driver(&paths, &options, &NixSyscall);
    let (mtu, _) = preflight::detect_mtu(&paths, &DockerdFeatures::default());
    vec![storage, mtu]
}

fn rootless_checks(user: &Credentials, host: &HostFacts) -> Vec<rootless::Finding> {
    let Some(name) = &user.name else {
        return Vec::new();
    };
    let rootless_user = RootlessUser {
        name: name.clone(),
        uid: user.uid,
        gid: user.gid,
        groups: user.groups.clone(),
        home: user.home.clone(),
    };
    rootless::inspect(&RootlessPaths::for_host(host), &rootless_user, &NixSyscall)
}

/// The human report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "berth doctor (berth {})\n", report.berth_version);
    match &report.detection {
        _ if report.requested == Request::Off => {
            let _ = writeln!(out, "Mode:   off");
        }
        Some(detection) => {
            let mode = detection.mode.map_or("none".to_string(), |m| m.to_string());
            let _ = writeln!(out, "Mode:   {mode}");
            if let Some(endpoint) = &detection.endpoint {
                let _ = writeln!(out, "Engine: {endpoint}");
            }
            if let Some(engine) = &detection.engine {
                let _ = writeln!(
                    out,
                    "        Docker {} (API {}, {})",
                    engine.version, engine.api_version, engine.os
                );
            }
        }
        None => {
            let _ = writeln!(out, "Mode:   cannot be decided");
        }
    }
    let _ = writeln!(
        out,
        "Asked:  {} ({})",
        report.requested, report.requested_because
    );
    let _ = writeln!(out, "Plan:   {}", report.plan);
    if let Some(user) = &report.user {
        let groups: Vec<String> = user.groups.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "User:   {} (uid {}, gid {}, groups {})",
            user.name.as_deref().unwrap_or("-"),
            user.uid,
            user.gid,
            groups.join(",")
        );
    }
    if let Some(detection) = &report.detection {
        let _ = writeln!(out, "\nWhat berth saw:");
        for evidence in &detection.evidence {
            let _ = writeln!(
                out,
                "  {:<9} {:<20} {}",
                evidence.verdict.to_string(),
                evidence.probe,
                evidence.saw
            );
        }
    }
    if !report.dockerd_checks.is_empty() {
        let _ = writeln!(out, "\ndockerd checks:");
        for step in &report.dockerd_checks {
            let text = match &step.action {
                Action::Done { detail } => format!("ok       {detail}"),
                Action::Skipped { reason } => format!("skipped  {reason}"),
                Action::Warn { message, .. } => format!("warning  {message}"),
            };
            let _ = writeln!(out, "  {:<17} {text}", format!("{:?}", step.step));
        }
    }
    if !report.rootless_checks.is_empty() {
        let _ = writeln!(out, "\nRootless prerequisites:");
        for finding in &report.rootless_checks {
            let text = match &finding.status {
                Status::Ok { detail } | Status::Fixed { detail } => format!("ok       {detail}"),
                Status::Missing { problem, .. } => format!("missing  {problem}"),
            };
            let _ = writeln!(out, "  {:<20} {text}", finding.check.as_str());
        }
    }
    if report.problems.is_empty() {
        let _ = writeln!(out, "\nNo problems found.");
    } else {
        let _ = writeln!(out, "\nProblems ({}):", report.problems.len());
        for (n, problem) in report.problems.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {}\n     fix: {}",
                n + 1,
                problem.what,
                problem.fix
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_are_split_from_evidence() {
        let problem = split_fix("/dev/net/tun is 0600; fix: chown 1000 /dev/net/tun");
        assert_eq!(problem.what, "/dev/net/tun is 0600");
        assert_eq!(problem.fix, "chown 1000 /dev/net/tun");
        assert_eq!(split_fix("plain").fix, "see the message");
    }

    #[test]
    fn every_mode_has_a_plan() {
        for mode in Mode::ALL {
            assert!(!plan_for(Request::Auto, Some(mode)).is_empty());
        }
        assert!(plan_for(Request::Auto, None).contains("without Docker"));
        assert!(plan_for(Request::Off, None).contains("init only"));
    }
}
