//! `berth doctor [--json]`: what berth detects here, what it would do, and
//! what will not work, with the fix for each.
//!
//! It decides nothing of its own: the checks are the set-up's
//! ([`crate::docker::setup::examine`]), read-only; this module orders the
//! findings (what bears on the chosen or requested mode first), picks out
//! the problems (warnings and missing pieces, each with its fix) and renders
//! them as text or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::EngineInfo;
use crate::docker::detect::{DetectError, SocketFacts};
use crate::docker::finding::{Finding, Verdict};
use crate::docker::mode::{Mode, Request};
use crate::docker::setup::Examination;
use crate::init::role::InitRole;
use crate::init::spawn::Credentials;

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
    /// The mode the run would use (None: off, nothing works, or auto mode
    /// will not start the detected engine here).
    pub mode: Option<Mode>,
    /// The mode detection found; differs from [`Self::mode`] when berth is
    /// not this container's init ([`Self::init`]).
    pub detected: Option<Mode>,
    /// Whether berth is this container's init, when that decides whether
    /// auto mode starts an engine (the run asks the same question).
    pub init: Option<InitRole>,
    pub endpoint: Option<Endpoint>,
    pub engine: Option<EngineInfo>,
    pub socket: Option<SocketFacts>,
    /// Set when detection itself failed (a forced mode that cannot work).
    pub detection_error: Option<String>,
    /// One sentence: what `berth` would do at start.
    pub plan: String,
    /// Every check, once; what bears on the chosen (or requested) mode first.
    pub findings: Vec<Finding>,
    /// The findings that ask for a change, in the same order, plus a failed
    /// forced mode.
    pub problems: Vec<Finding>,
}

impl Report {
    /// The report on `examination`, for `user`; `why` says where the
    /// request came from.
    pub fn new(examination: Examination, why: &str, user: Option<&Credentials>) -> Report {
        let requested = examination.requested;
        let mode = examination.mode();
        let detected = examination.detected_mode();
        let init = examination.init.clone();
        let focus = detected.or(requested.forced());
        let mut findings = Vec::new();
        for finding in examination.findings {
            if !findings.contains(&finding) {
                findings.push(finding);
            }
        }
        // The request, then the focus mode's checks, then the rest; within
        // each group the checks keep the order they ran in.
        let (request, rest): (Vec<Finding>, Vec<Finding>) =
            findings.into_iter().partition(|f| f.check == "request");
        let (focused, others): (Vec<Finding>, Vec<Finding>) = rest
            .into_iter()
            .partition(|f| focus.is_some() && f.mode == focus);
        let findings: Vec<Finding> = request.into_iter().chain(focused).chain(others).collect();
        let mut problems: Vec<Finding> = findings
            .iter()
            .filter(|f| f.is_problem())
            .cloned()
            .collect();
        let (endpoint, engine, socket, detection_error) = match examination.detection {
            Ok(detection) => (detection.endpoint, detection.engine, detection.socket, None),
            Err(err) => {
                let mut failed = Finding::new("request", Verdict::Missing, err.to_string());
                if let DetectError::ForcedModeUnavailable { mode, .. } = &err {
                    failed = failed
                        .with_fix(
                            "see what berth saw above; unset BERTH_DOCKER to let berth detect",
                        )
                        .about(*mode);
                }
                problems.insert(0, failed);
                (None, None, None, Some(err.to_string()))
            }
        };
        Report {
            berth_version: env!("CARGO_PKG_VERSION"),
            requested,
            requested_because: why.to_string(),
            user: user.map(|u| UserReport {
                name: u.name.clone(),
                uid: u.uid,
                gid: u.gid,
                groups: u.groups.clone(),
            }),
            mode,
            detected,
            endpoint,
            engine,
            socket,
            detection_error,
            plan: match (&init, detected) {
                (Some(role), Some(found)) if !role.is_init => format!(
                    "run the command without Docker: {found} was detected, but berth is not this container's init ({}), so auto mode does not start an engine (BERTH_DOCKER={found} would)",
                    role.reason
                ),
                _ => plan_for(requested, mode),
            },
            init,
            findings,
            problems,
        }
    }

    /// 0 when a way to Docker exists (or Docker is off), 1 when none does.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.requested != Request::Off && self.mode.is_none())
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

/// The human report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "berth doctor (berth {})\n", report.berth_version);
    let mode = match (report.requested, report.mode, &report.detection_error) {
        (Request::Off, ..) => "off".to_string(),
        (_, Some(mode), _) => mode.to_string(),
        (_, None, _) if report.detected.is_some() => format!(
            "none ({} detected, not started: berth is not this container's init)",
            report.detected.map_or("", Mode::as_str)
        ),
        (_, None, Some(_)) => "cannot be decided".to_string(),
        (_, None, None) => "none".to_string(),
    };
    let _ = writeln!(out, "Mode:   {mode}");
    if let Some(endpoint) = &report.endpoint {
        let _ = writeln!(out, "Engine: {endpoint}");
    }
    if let Some(engine) = &report.engine {
        let _ = writeln!(
            out,
            "        Docker {} (API {}, {})",
            engine.version, engine.api_version, engine.os
        );
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
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nWhat berth saw:");
        for finding in &report.findings {
            let _ = writeln!(
                out,
                "  {:<9} {:<20} {}",
                finding.verdict.as_str(),
                finding.check,
                finding.seen
            );
        }
    }
    if report.problems.is_empty() {
        let _ = writeln!(out, "\nNo problems found.");
    } else {
        let _ = writeln!(out, "\nProblems ({}):", report.problems.len());
        for (n, problem) in report.problems.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", n + 1, problem.seen);
            if let Some(fix) = &problem.fix {
                let _ = writeln!(out, "     fix: {fix}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::detect::tests::FakeHost;
    use crate::docker::engine::rootless::{inspect, RootlessUser};
    use crate::host::syscall::NixSyscall;

    #[test]
    fn every_mode_has_a_plan() {
        for mode in Mode::ALL {
            assert!(!plan_for(Request::Auto, Some(mode)).is_empty());
        }
        assert!(plan_for(Request::Auto, None).contains("without Docker"));
        assert!(plan_for(Request::Off, None).contains("init only"));
    }

    fn dev() -> (Credentials, RootlessUser) {
        let home = std::path::PathBuf::from("/nonexistent");
        let creds = Credentials {
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            name: Some("dev".into()),
            home: home.clone(),
        };
        let user = RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            home,
        };
        (creds, user)
    }

    /// As a non-root user where no engine answers, detection checks the
    /// rootless prerequisites and so does the examination for doctor: each
    /// check is shown once and each problem listed once (it was 15 problems
    /// with the rootless prerequisites twice).
    #[test]
    fn no_check_is_shown_twice() {
        let mut h = FakeHost::plain();
        let (creds, user) = dev();
        h.host.euid = 1000;
        h.options.rootless_user = Some(user.clone());
        let detection = h.detect(vec![]).0;
        let rootless = inspect(&h.paths.rootless, &user, h.host.euid, &NixSyscall);
        assert!(!rootless.is_empty());
        let examination = Examination::new(Request::Auto, detection, None, rootless);
        let report = Report::new(examination, "BERTH_DOCKER is unset", Some(&creds));
        let text = render(&report);
        let mut seen = std::collections::BTreeSet::new();
        for finding in &report.findings {
            assert!(
                seen.insert((finding.check, finding.seen.clone())),
                "{finding} twice in\n{text}"
            );
        }
        let mut problems = std::collections::BTreeSet::new();
        for problem in &report.problems {
            assert!(problems.insert(problem.check), "{problem} twice in\n{text}");
        }
        let subuid = text.matches("subuid has no range for dev").count();
        assert_eq!(subuid, 2, "once seen, once as a problem:\n{text}");
        assert!(
            report.problems.iter().any(|p| p.check == "subuid"),
            "{text}"
        );
    }

    /// What bears on the chosen mode comes first, after the request.
    #[test]
    fn the_chosen_modes_findings_come_first() {
        let h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        let detection = h.detect(vec![]).0;
        let report = Report::new(
            Examination::new(Request::Auto, detection, None, Vec::new()),
            "",
            None,
        );
        assert_eq!(report.mode, Some(Mode::Dind));
        assert_eq!(report.findings[0].check, "request");
        let first_other = report
            .findings
            .iter()
            .position(|f| f.check != "request" && f.mode != Some(Mode::Dind))
            .expect("other findings");
        assert!(
            report.findings[first_other..]
                .iter()
                .all(|f| f.mode != Some(Mode::Dind)),
            "{:#?}",
            report.findings
        );
        assert!(report.findings[1..first_other]
            .iter()
            .any(|f| f.verdict == Verdict::Chosen));
    }

    fn role(is_init: bool, reason: &str) -> InitRole {
        InitRole {
            is_init,
            reason: reason.into(),
            container: vec!["the root filesystem is overlay (an image's layers)".into()],
            started_by: vec!["1 docker-init (a known init)".into()],
            supervisor: None,
        }
    }

    /// Doctor shows the run's decision (issue 13): under `docker run
    /// --init` berth is the container's init and the plan starts dockerd;
    /// where it is not (a `docker exec` session, a host), the plan says the
    /// run goes without Docker, why, and what to set, and doctor exits 1.
    #[test]
    fn the_plan_is_the_runs_engine_gate() {
        let h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        let report_for = |role: InitRole| {
            let finding = crate::docker::setup::gate_finding(&role, Mode::Dind);
            Report::new(
                Examination::new(Request::Auto, h.detect(vec![]).0, Some(role), vec![finding]),
                "BERTH_DOCKER is unset",
                None,
            )
        };
        let init = report_for(role(
            true,
            "it was started by the container's PID 1 (docker-init)",
        ));
        assert_eq!(
            (init.mode, init.detected),
            (Some(Mode::Dind), Some(Mode::Dind))
        );
        assert!(init.plan.contains("start dockerd"), "{}", init.plan);
        assert_eq!(init.exit_code(), 0);
        assert!(init.problems.iter().all(|p| p.check != "init"));

        let exec = report_for(role(false, "berth was started from outside the pid namespace (PPid 0) into PID 1's own container: a `docker exec` or `kubectl exec` session, not as the container's first process"));
        assert_eq!((exec.mode, exec.detected), (None, Some(Mode::Dind)));
        assert_eq!(exec.exit_code(), 1);
        assert!(exec.plan.starts_with("run the command without Docker: dind was detected, but berth is not this container's init"), "{}", exec.plan);
        let problem = exec
            .problems
            .iter()
            .find(|p| p.check == "init")
            .expect("a problem");
        assert!(problem
            .fix
            .as_deref()
            .unwrap_or_default()
            .contains("BERTH_DOCKER=dind"));
        let text = render(&exec);
        assert!(
            text.contains(
                "Mode:   none (dind detected, not started: berth is not this container's init)"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&exec).expect("json");
        assert_eq!(json["init"]["is_init"], false);
        assert_eq!(json["detected"], "dind");
    }

    /// A forced mode that cannot work: the error is the first problem, and
    /// what detection saw is still shown.
    #[test]
    fn a_failed_forced_mode_shows_why() {
        let mut h = FakeHost::plain();
        h.request = Request::Force(Mode::Dind);
        h.install("dockerd");
        let detection = h.detect(vec![]).0;
        let report = Report::new(
            Examination::new(h.request, detection, None, Vec::new()),
            "BERTH_DOCKER=dind",
            None,
        );
        assert_eq!(report.exit_code(), 1);
        assert!(report.problems[0].seen.starts_with("BERTH_DOCKER=dind but"));
        assert!(report.findings.iter().any(|f| f.check == "dind"));
        let text = render(&report);
        assert!(text.contains("Mode:   cannot be decided"), "{text}");
        assert!(text.contains("fix: "), "{text}");
    }
}
