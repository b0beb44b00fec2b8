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

use crate::docker::access::AccessPlan;
use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::EngineInfo;
use crate::docker::detect::{DetectError, OwnEngine, SocketFacts};
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
    /// berth's own dockerd, already running behind the socket detection
    /// found ([`Self::mode`] is its mode then, not socket).
    pub own_engine: Option<OwnEngine>,
    /// Set when detection itself failed (a forced mode that cannot work).
    pub detection_error: Option<String>,
    /// One sentence: what `berth` would do at start.
    pub plan: String,
    /// How the user reaches the socket (socket mode, a non-root user):
    /// group membership or berth's own socket, and why.
    pub access: Option<AccessPlan>,
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
        // A socket served by berth's own dockerd is that engine's mode
        // (dind, sysbox, rootless), already running: not a host's socket.
        let own_engine = examination
            .detection
            .as_ref()
            .ok()
            .and_then(|d| d.socket.as_ref())
            .and_then(|s| s.own_engine)
            .filter(|_| examination.detected_mode() == Some(Mode::Socket));
        let own_mode = own_engine.map(|own| own.mode);
        let mode = own_mode.or(examination.mode());
        let detected = own_mode.or(examination.detected_mode());
        let init = examination.init.clone();
        let access = examination.access;
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
        let mut problems = problems_for(focus, &findings);
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
            plan: match (&access, mode, &init, detected) {
                _ if own_engine.is_some() => own_engine_plan(own_engine, access.as_ref()),
                (_, _, Some(role), Some(found)) if !role.is_init => format!(
                    "run the command without Docker: {found} was detected, but berth is not this container's init ({}), so auto mode does not start an engine (BERTH_DOCKER={found} would)",
                    role.reason
                ),
                (Some(access), Some(Mode::Socket), _, _) if access.served_by_berth.is_some() => {
                    format!("use it: {}", access.summary())
                }
                (Some(access), Some(Mode::Socket), _, _) => {
                    format!("use the mounted host socket: {}", access.summary())
                }
                _ => plan_for(requested, mode),
            },
            access,
            init,
            own_engine,
            findings,
            problems,
        }
    }

    /// 0 when a way to Docker exists (or Docker is off), 1 when none does,
    /// or when the chosen mode lacks a piece the run will refuse to start
    /// without (`BERTH_APPARMOR=require` on a host that cannot confine).
    pub fn exit_code(&self) -> u8 {
        let blocked = self.mode.is_some()
            && self
                .problems
                .iter()
                .any(|p| p.verdict == Verdict::Missing && p.mode == self.mode);
        u8::from(self.requested != Request::Off && (self.mode.is_none() || blocked))
    }
}

/// The findings that ask for a change and bear on `focus` (the chosen,
/// detected or requested mode): its own, and those about no mode in
/// particular (the request, the overall result). Other modes' unmet
/// prerequisites stay in the evidence: as root, or on an image without
/// rootlesskit, six missing rootless pieces are not the fix. With no mode
/// at all, the user-configured ways (a socket, a remote engine) come first,
/// then rootless's prerequisites when rootless is a real candidate (berth
/// considered it, and rootlesskit is installed).
/// The plan when the socket is berth's own running dockerd: use it, with
/// how the user reaches it.
fn own_engine_plan(own: Option<OwnEngine>, access: Option<&AccessPlan>) -> String {
    let who = access.map_or_else(
        || "the user is root: nothing to grant".to_owned(),
        AccessPlan::summary,
    );
    match own {
        Some(own) => format!(
            "use berth's own dockerd (pid {}, started by berth pid {}), already running: {who}",
            own.dockerd, own.berth
        ),
        None => format!("use the engine: {who}"),
    }
}

pub(crate) fn problems_for(focus: Option<Mode>, findings: &[Finding]) -> Vec<Finding> {
    let rootless_candidate = findings
        .iter()
        .any(|f| f.check == "rootless" && f.verdict != Verdict::Skipped)
        && !findings
            .iter()
            .any(|f| f.check == "rootlesskit" && f.verdict == Verdict::Missing);
    let bears = |f: &Finding| match (focus, f.mode) {
        (_, None) => true,
        (Some(focus), Some(mode)) => mode == focus,
        (None, Some(Mode::Socket | Mode::Remote)) => true,
        (None, Some(Mode::Rootless)) => rootless_candidate,
        (None, Some(_)) => false,
    };
    let mut problems: Vec<Finding> = findings
        .iter()
        .filter(|f| f.is_problem() && bears(f))
        .cloned()
        .collect();
    // Stable: the likely mode's fix first, rootless's pieces after it.
    problems.sort_by_key(|f| focus.is_none() && f.mode == Some(Mode::Rootless));
    problems
}

fn plan_for(request: Request, mode: Option<Mode>) -> String {
    match mode {
        _ if request == Request::Off => "run the command as an init only (Docker is off)".into(),
        Some(Mode::Socket) => "use the mounted host socket (the user is root: nothing to grant)".into(),
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
        (_, Some(mode), _) if report.own_engine.is_some() => format!(
            "{mode} (berth's own dockerd, running, pid {})",
            report.own_engine.map_or(0, |own| own.dockerd)
        ),
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
            "        {} {} (API {}, {})",
            engine.product(),
            engine.version,
            engine.api_version,
            engine.os
        );
    }
    let _ = writeln!(
        out,
        "Asked:  {} ({})",
        report.requested, report.requested_because
    );
    let _ = writeln!(out, "Plan:   {}", report.plan);
    if let Some(access) = &report.access {
        if access.user_has_gid {
            let _ = writeln!(
                out,
                "Access: the user has gid {} already",
                access.access.gid()
            );
        } else {
            let _ = writeln!(out, "Access: {}", access.access);
        }
    }
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
        // rootlesskit installed: rootless is a real candidate, so its
        // missing pieces are problems.
        h.install("rootlesskit");
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

    fn report_for(
        h: &FakeHost,
        answers: Vec<crate::docker::client::ping::PingResult>,
        more: Vec<Finding>,
    ) -> Report {
        let (creds, _) = dev();
        let detection = h.detect(answers).0;
        Report::new(
            Examination::new(h.request, detection, None, more),
            "BERTH_DOCKER is unset",
            Some(&creds),
        )
    }

    /// The rootless prerequisites for the user, as `examine` adds them.
    fn rootless_checks(h: &FakeHost) -> Vec<Finding> {
        let (_, user) = dev();
        inspect(&h.paths.rootless, &user, h.host.euid, &NixSyscall)
    }

    /// On an image without rootlesskit (the non-rootless workspace, as
    /// its user or as root), rootless's unmet prerequisites are evidence,
    /// not problems: the one problem is that no engine answers, with its
    /// fix. With rootlesskit installed and berth not root, rootless is a
    /// real candidate and its pieces follow that fix.
    #[test]
    fn other_modes_prerequisites_are_evidence_not_problems() {
        for euid in [1000, 0] {
            let mut h = FakeHost::plain();
            h.host.euid = euid;
            h.options.rootless_user = Some(dev().1);
            let checks = rootless_checks(&h);
            assert!(checks
                .iter()
                .any(|f| f.check == "rootlesskit" && f.verdict == Verdict::Missing));
            let report = report_for(&h, vec![], checks);
            let text = render(&report);
            let checks: Vec<&str> = report.problems.iter().map(|p| p.check).collect();
            assert_eq!(checks, ["result"], "euid {euid}:\n{text}");
            assert!(
                report.findings.iter().any(|f| f.check == "rootlesskit"),
                "{text}"
            );
            assert!(!text.contains("fix: install rootlesskit"), "{text}");
        }
        let mut h = FakeHost::plain();
        h.host.euid = 1000;
        h.options.rootless_user = Some(dev().1);
        h.install("rootlesskit");
        let checks = rootless_checks(&h);
        let report = report_for(&h, vec![], checks);
        assert_eq!(report.problems[0].check, "result", "{}", render(&report));
        assert!(report.problems[1..]
            .iter()
            .all(|p| p.mode == Some(Mode::Rootless)));
        assert!(report.problems.len() > 1);
    }

    /// A chosen mode's report lists only that mode's problems: a dind
    /// host's rootless pieces (for a non-root target user) stay evidence.
    #[test]
    fn a_chosen_modes_report_has_only_its_problems() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.options.rootless_user = Some(dev().1);
        let checks = rootless_checks(&h);
        let report = report_for(&h, vec![], checks);
        assert_eq!(report.mode, Some(Mode::Dind));
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.mode != Some(Mode::Rootless)),
            "{}",
            render(&report)
        );
    }

    /// A mounted socket whose engine is gone: the first problem is that
    /// socket, refused, with restarting the engine or re-mounting as the
    /// fix; no dind-flavoured "make that dockerd listen", and no "mount the
    /// host socket", which the user did.
    #[test]
    fn a_refused_mounted_socket_is_the_first_problem() {
        use crate::docker::client::diagnosis::PingFailure;
        let mut h = FakeHost::plain();
        let path = h.add_socket(true);
        // The mount named by DOCKER_HOST, as `-e DOCKER_HOST=unix:///hostrun/docker.sock`.
        h.set("DOCKER_HOST", &format!("unix://{}", path.display()));
        h.paths.socket_candidates.clear();
        // Every retry is refused the same way.
        let refused = (0..100)
            .map(|_| Err(PingFailure::SocketRefused { path: path.clone() }))
            .collect();
        let report = report_for(&h, refused, vec![]);
        let text = render(&report);
        let first = &report.problems[0];
        assert_eq!(first.check, "socket", "{text}");
        assert!(first.seen.contains("refuses connections"), "{text}");
        assert!(
            first
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("restart the engine"),
            "{text}"
        );
        assert!(!text.contains("make that dockerd listen"), "{text}");
        assert!(!text.contains("fix: mount the host socket"), "{text}");
        assert_eq!(report.exit_code(), 1);
    }

    /// DOCKER_HOST naming a path where nothing exists, in a container that
    /// cannot start an engine: say so, and what to check.
    #[test]
    fn a_docker_host_path_with_nothing_there_says_so() {
        let mut h = FakeHost::plain();
        h.set("DOCKER_HOST", "unix:///nonexistent.sock");
        let report = report_for(&h, vec![], vec![]);
        let text = render(&report);
        let first = &report.problems[0];
        assert_eq!(first.check, "docker-host", "{text}");
        assert!(
            first.seen.contains("nothing exists at /nonexistent.sock"),
            "{text}"
        );
        assert!(
            first
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("check the path"),
            "{text}"
        );
        assert!(!text.contains("make that dockerd listen"), "{text}");
    }

    /// Where berth would start dockerd, a DOCKER_HOST elsewhere is still
    /// the warning about where that dockerd listens.
    #[test]
    fn a_custom_docker_host_is_dind_advice_only_where_dind_starts() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.set("DOCKER_HOST", "unix:///nonexistent.sock");
        let report = report_for(&h, vec![], vec![]);
        assert_eq!(report.mode, Some(Mode::Dind));
        let text = render(&report);
        assert!(text.contains("make that dockerd listen there"), "{text}");
        assert!(!text.contains("nothing exists at"), "{text}");
    }

    /// A socket served by a dockerd that berth started (a `docker exec`
    /// session into berth's dind): the mode is dind, running, with its
    /// pid, and the plan is not a mounted host socket.
    #[test]
    fn berths_own_running_dockerd_is_dind_not_a_host_socket() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.add_socket(false);
        // This test process listens on the socket: in the fake /proc it is
        // dockerd, a child of berth (PID 1); this session is berth too.
        let root = h.host.proc_root.clone();
        let me = std::process::id();
        let proc = |pid: &str, comm: &str, ppid: u32| {
            let dir = root.join(pid);
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("comm"), format!("{comm}\n")).expect("comm");
            std::fs::write(dir.join("stat"), format!("{pid} ({comm}) S {ppid} 1 1 0"))
                .expect("stat");
        };
        proc("1", "berth", 0);
        proc(&me.to_string(), "dockerd", 1);
        proc("self", "berth", 0);
        let report = report_for(
            &h,
            vec![Ok(crate::docker::client::ping::tests::engine())],
            vec![],
        );
        let text = render(&report);
        assert_eq!(report.mode, Some(Mode::Dind), "{text}");
        assert!(
            text.contains(&format!(
                "Mode:   dind (berth's own dockerd, running, pid {me})"
            )),
            "{text}"
        );
        assert!(!text.contains("mounted host socket"), "{text}");
        assert!(report.plan.contains("berth's own dockerd"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["own_engine"]["dockerd"], me, "{json}");
        assert_eq!(json["own_engine"]["berth"], 1, "{json}");
        // A dockerd nobody's berth started stays a socket.
        proc(&me.to_string(), "dockerd", 7);
        proc("7", "containerd", 0);
        let report = report_for(
            &h,
            vec![Ok(crate::docker::client::ping::tests::engine())],
            vec![],
        );
        assert_eq!(report.mode, Some(Mode::Socket), "{}", render(&report));
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

    /// Socket mode with a gid berth will not grant: the plan and the
    /// Access line say berth's own socket, and why.
    #[test]
    fn the_access_choice_and_its_reason_are_shown() {
        use crate::docker::access::rule::{Access, ProxyGroup, ProxyReason};
        use crate::docker::access::{AccessPlan, Layout, ProxyPlan};
        let mut h = FakeHost::plain();
        h.add_socket(true);
        let detection = h
            .detect(vec![Ok(crate::docker::client::ping::tests::engine())])
            .0;
        let mut examination = Examination::new(Request::Auto, detection, None, Vec::new());
        examination.access = Some(AccessPlan {
            socket: "/var/run/docker.sock".into(),
            access: Access::Proxy {
                gid: 42,
                group: Some("shadow".into()),
                why: ProxyReason::NotDockerGroup,
            },
            user: Some("dev".into()),
            user_has_gid: false,
            proxy: Some(ProxyPlan {
                path: "/run/berth/docker.sock".into(),
                group: ProxyGroup {
                    name: "docker".into(),
                    gid: 101,
                    exists: true,
                },
                layout: Layout::CliContext,
            }),
            docker_host_bypasses: false,
            served_by_berth: None,
        });
        let (creds, _) = dev();
        let report = Report::new(examination, "", Some(&creds));
        let text = render(&report);
        assert!(
            text.contains("Plan:   use the mounted host socket: berth serves /run/berth/docker.sock (root:docker 0660)"),
            "{text}"
        );
        assert!(
            text.contains("Access: proxy: gid 42 is `shadow` in this image"),
            "{text}"
        );
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["access"]["access"]["choice"], "proxy", "{json}");
        assert_eq!(json["access"]["proxy"]["layout"], "cli_context", "{json}");
    }

    /// dind works here, but the user refused unconfined inner containers
    /// and nothing can confine them: doctor exits 1, as the run would fail.
    #[test]
    fn a_refused_requirement_of_the_chosen_mode_fails_doctor() {
        let h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        let refused = Finding::new(
            "apparmor",
            Verdict::Missing,
            "BERTH_APPARMOR=require, but AppArmor is off in this kernel",
        )
        .with_fix("run on a host whose kernel has AppArmor on")
        .about(Mode::Dind);
        let report = Report::new(
            Examination::new(
                Request::Auto,
                h.detect(vec![]).0,
                None,
                vec![refused.clone()],
            ),
            "",
            None,
        );
        assert_eq!(report.mode, Some(Mode::Dind));
        assert_eq!(report.exit_code(), 1);
        assert!(report.problems.contains(&refused));
        // The same finding about another mode does not block dind.
        let other = Finding {
            mode: Some(Mode::Rootless),
            ..refused
        };
        let report = Report::new(
            Examination::new(Request::Auto, h.detect(vec![]).0, None, vec![other]),
            "",
            None,
        );
        assert_eq!(report.exit_code(), 0);
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
