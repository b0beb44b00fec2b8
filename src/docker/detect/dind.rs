//! Privileged (dind): dockerd on PATH, CAP_SYS_ADMIN and CAP_NET_ADMIN
//! effective, the cgroup fs writable; seccomp and a short bounding set noted.

use std::path::Path;

use super::*;
use crate::docker::client::ping::Pinger;
use crate::docker::finding::Verdict;
use crate::host::caps::SeccompMode;

impl<P: Pinger> Probe<'_, P> {
    /// Privileged: dockerd on PATH, CAP_SYS_ADMIN + CAP_NET_ADMIN effective,
    /// cgroup fs writable; notes seccomp and a short bounding set.
    pub(super) fn dind(&mut self) -> Found {
        self.probing = Some(Mode::Dind);
        let mut missing = Vec::new();
        match self.host.which("dockerd") {
            Some(p) => self.note(
                "dind",
                Verdict::Supports,
                format!("{} on PATH", p.display()),
            ),
            None => missing.push("dockerd is not on PATH: install docker in the image".to_owned()),
        }
        match &self.facts.status {
            Some(s) if s.can_run_dockerd() => self.note(
                "dind",
                Verdict::Supports,
                "CAP_SYS_ADMIN and CAP_NET_ADMIN are effective",
            ),
            Some(_) => missing.push(
                "CAP_SYS_ADMIN is not effective: run the container with --privileged or use sysbox"
                    .to_owned(),
            ),
            None => {
                missing.push("capabilities are unknown (/proc/self/status unreadable)".to_owned())
            }
        }
        self.note_seccomp_and_bounding_set();
        if !self.cgroup_writable() {
            missing.push(format!("cgroups under {} are not writable (read-only cgroup mounts): run the container with --privileged (or --cgroupns=private on cgroup v2)", self.paths.cgroup_root.display()));
        }
        if missing.is_empty() {
            self.note(
                "dind",
                Verdict::Chosen,
                "privileged container: berth starts dockerd",
            );
            return Found::Yes(Box::new(self.finish(Some(Mode::Dind))));
        }
        for m in &missing {
            self.note("dind", Verdict::Rejected, m.clone());
        }
        Found::No(missing.join("; "))
    }

    pub(super) fn note_seccomp_and_bounding_set(&mut self) {
        let Some(status) = self.facts.status.clone() else {
            return;
        };
        // Only worth saying when the capabilities are there (e.g. --cap-add
        // SYS_ADMIN without --privileged); otherwise the caps are the problem.
        if status.can_run_dockerd() && status.seccomp == Some(SeccompMode::Filter) {
            self.push(
                Finding::new(
                    "seccomp",
                    Verdict::Warning,
                    "a seccomp filter is active: dockerd may fail on mount/unshare calls",
                )
                .with_fix("run the container with --privileged (it disables the filter)"),
            );
        }
        let Some(last_cap) = self.facts.last_cap else {
            return;
        };
        if !status.can_run_dockerd() {
            return;
        }
        let (classic, newer) = status.bounding_set_missing_split(last_cap);
        if !classic.is_empty() {
            self.push(
                Finding::new("bounding-set", Verdict::Warning, format!("the capability bounding set lacks {}: every `docker run --privileged` inside will fail with \"unable to apply caps: operation not permitted\"", classic.join(", ")))
                    .with_fix("the outer runtime must grant the full capability set (berth cannot add to it from inside)"),
            );
        }
        if !newer.is_empty() {
            self.push(
                Finding::new("bounding-set", Verdict::Warning, format!("the capability bounding set lacks {}, which the kernel has but the outer engine did not grant (it predates them, as Docker 20.10 does): an inner engine that knows them will fail `docker run --privileged` with \"unable to apply caps\"", newer.join(", ")))
                    .with_fix("use an inner engine no newer than the outer one (it does not request them), or an outer engine that grants them"),
            );
        }
    }

    /// The mount holding the cgroup root is rw, and so are cgroup v1
    /// controller mounts below it (a plain container gets them ro).
    pub(super) fn cgroup_writable(&mut self) -> bool {
        let root = self.paths.cgroup_root.clone();
        let mounts = &self.facts.mounts;
        let Some(holder) = mounts.mount_containing(&root) else {
            self.note(
                "cgroup",
                Verdict::Warning,
                format!("no mount holds {}", root.display()),
            );
            return false;
        };
        let ro_controllers: Vec<String> = mounts
            .mounts
            .iter()
            .filter(|m| {
                Path::new(&m.mount_point).starts_with(&root)
                    && m.fs_type == "cgroup"
                    && !m.is_read_write()
            })
            .map(|m| m.mount_point.clone())
            .collect();
        let writable = holder.is_read_write() && ro_controllers.is_empty();
        // One reading of the two facts, so the evidence never says "rw"
        // next to dind's "not writable".
        let saw = match (holder.is_read_write(), ro_controllers.is_empty()) {
            (true, true) => format!(
                "{} is writable ({} on {}, read-write)",
                root.display(),
                holder.fs_type,
                holder.mount_point
            ),
            (false, _) => format!(
                "{} is not writable: {} on {} is mounted read-only",
                root.display(),
                holder.fs_type,
                holder.mount_point
            ),
            (true, false) => format!(
                "{} is not writable: its own {} mount is read-write, but the controllers under it are mounted read-only ({})",
                root.display(),
                holder.fs_type,
                ro_controllers.join(", ")
            ),
        };
        self.note(
            "cgroup",
            if writable {
                Verdict::Supports
            } else {
                Verdict::Rejected
            },
            saw,
        );
        writable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::docker::detect::tests::FakeHost;

    /// A rw tmpfs at /sys/fs/cgroup with read-only controllers under it:
    /// the evidence says "not writable", as dind's rejection does, and why
    /// (the trial read "is rw" next to "is not writable").
    #[test]
    fn cgroup_evidence_agrees_with_the_rejection() {
        let h = FakeHost::plain();
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        let cgroup = d
            .findings
            .iter()
            .find(|f| f.check == "cgroup")
            .expect("a cgroup finding");
        assert_eq!(cgroup.verdict, Verdict::Rejected);
        assert!(
            cgroup.seen.starts_with("/sys/fs/cgroup is not writable: its own tmpfs mount is read-write, but the controllers under it are mounted read-only (/sys/fs/cgroup/memory"),
            "{cgroup}"
        );
        assert!(d.findings.iter().any(|f| f.check == "dind"
            && f.seen
                .starts_with("cgroups under /sys/fs/cgroup are not writable")));
    }

    #[test]
    fn privileged_fixture_is_dind() {
        let h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
        assert_eq!(d.warnings().count(), 0, "{:#?}", d.findings);
    }

    #[test]
    fn short_bounding_set_is_named() {
        let h = FakeHost::new(
            "status-privileged-no-sys-resource",
            "mountinfo-dind",
            "uid_map-identity",
        );
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
        let w = d
            .warnings()
            .find(|e| e.check == "bounding-set")
            .expect("warning");
        assert!(
            w.seen.contains("CAP_SYS_RESOURCE") && w.seen.contains("unable to apply caps"),
            "{}",
            w.seen
        );
    }

    #[test]
    fn forced_dind_without_privileges_names_the_flag() {
        let mut h = FakeHost::plain();
        h.install("dockerd");
        h.request = Request::Force(Mode::Dind);
        let err = h.detect(vec![]).0.expect_err("not privileged");
        let text = err.to_string();
        assert!(text.starts_with("BERTH_DOCKER=dind but CAP_SYS_ADMIN is not effective: run the container with --privileged or use sysbox"), "{text}");
        assert!(
            text.contains("not writable (read-only cgroup mounts)"),
            "{text}"
        );
    }

    #[test]
    fn forced_dind_without_dockerd() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.request = Request::Force(Mode::Dind);
        let err = h.detect(vec![]).0.expect_err("no dockerd");
        assert!(err.to_string().contains("dockerd is not on PATH"), "{err}");
    }
}
