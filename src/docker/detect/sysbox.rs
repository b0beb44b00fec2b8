//! Sysbox: sysboxfs mounts on /proc, /var/lib/docker from /var/lib/sysbox;
//! a shifted uid_map only supports.

use std::path::Path;

use super::*;
use crate::docker::client::ping::Pinger;
use crate::docker::finding::Verdict;
use crate::host::mountinfo::MountInfo;

/// Where sysboxfs is mounted for a sysbox container (sysbox docs, "procfs virtualization").
const SYSBOX_PROC_MOUNTS: [&str; 3] = ["/proc/sys", "/proc/swaps", "/proc/uptime"];

/// Human descriptions of each sysbox fingerprint found.
pub fn sysbox_fingerprints(mounts: &MountInfo) -> Vec<String> {
    let mut found: Vec<String> = mounts
        .mounts
        .iter()
        .filter(|m| {
            m.source == "sysboxfs"
                && m.fs_type.starts_with("fuse")
                && SYSBOX_PROC_MOUNTS.contains(&m.mount_point.as_str())
        })
        .map(|m| format!("{} is a {} mount from sysboxfs", m.mount_point, m.fs_type))
        .collect();
    if let Some(m) = mounts.mount_at(Path::new("/var/lib/docker")) {
        if m.root.starts_with("/var/lib/sysbox/") {
            found.push(format!("/var/lib/docker is bind-mounted from {}", m.root));
        }
    }
    found
}

/// `0 0 4294967295`: no user namespace (or the host's).
pub fn is_identity_uid_map(text: &str) -> bool {
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    matches!(lines.as_slice(), [f] if f.as_slice() == ["0", "0", "4294967295"])
}

impl<P: Pinger> Probe<'_, P> {
    /// Sysbox: sysboxfs fuse mounts; /var/lib/docker from /var/lib/sysbox;
    /// a shifted uid_map only supports (rootless podman looks the same).
    pub(super) fn sysbox(&mut self) -> Found {
        self.probing = Some(Mode::Sysbox);
        let fingerprints = sysbox_fingerprints(&self.facts.mounts);
        let uid_map_mapped = self
            .facts
            .uid_map
            .as_deref()
            .is_some_and(|m| !is_identity_uid_map(m));
        if uid_map_mapped {
            self.note("sysbox", Verdict::Supports, "uid_map is not the identity (user namespace): consistent with sysbox, also with rootless podman");
        }
        if fingerprints.is_empty() {
            self.note(
                "sysbox",
                Verdict::Rejected,
                "no sysboxfs mounts on /proc/sys, /proc/swaps, /proc/uptime",
            );
            return Found::No("no sysbox fingerprints (sysboxfs mounts) are in /proc/self/mountinfo: run the container with --runtime=sysbox-runc".into());
        }
        for f in &fingerprints {
            self.note("sysbox", Verdict::Supports, f.clone());
        }
        match self.host.which("dockerd") {
            Some(dockerd) => {
                self.note(
                    "sysbox",
                    Verdict::Chosen,
                    format!(
                        "sysbox runtime; {} will run without --privileged",
                        dockerd.display()
                    ),
                );
                Found::Yes(Box::new(self.finish(Some(Mode::Sysbox))))
            }
            None => {
                self.note(
                    "sysbox",
                    Verdict::Rejected,
                    "sysbox runtime, but dockerd is not on PATH",
                );
                Found::No("dockerd is not on PATH: install docker in the image".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::docker::detect::tests::FakeHost;
    use crate::docker::detect::tests::*;

    use crate::host::mountinfo::MountInfo;

    #[test]
    fn sysbox_fixture_is_sysbox_mode() {
        let h = FakeHost::new("status-unprivileged", "mountinfo-sysbox", "uid_map-mapped");
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Sysbox));
        let supports: Vec<_> = d
            .findings
            .iter()
            .filter(|e| e.check == "sysbox" && e.verdict == Verdict::Supports)
            .collect();
        assert_eq!(supports.len(), 5, "{supports:#?}");
    }

    #[test]
    fn mapped_uid_map_alone_is_not_sysbox() {
        let h = FakeHost::new("status-unprivileged", "mountinfo-overlay", "uid_map-mapped");
        h.install("dockerd");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, None);
        assert!(d
            .findings
            .iter()
            .any(|e| e.check == "sysbox" && e.verdict == Verdict::Supports));
    }

    #[test]
    fn forced_sysbox_on_plain_container() {
        let mut h = FakeHost::plain();
        h.request = Request::Force(Mode::Sysbox);
        let err = h.detect(vec![]).0.expect_err("not sysbox");
        assert!(err.to_string().contains("sysbox-runc"), "{err}");
    }

    #[test]
    fn sysbox_fingerprints_from_fixture() {
        let mounts = MountInfo::parse(&fixture("mountinfo-sysbox"));
        let f = sysbox_fingerprints(&mounts);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f.iter().any(|s| s.contains("/var/lib/sysbox/docker/")));
        assert!(sysbox_fingerprints(&MountInfo::parse(&fixture("mountinfo-dind"))).is_empty());
    }

    #[test]
    fn uid_map_identity() {
        assert!(is_identity_uid_map(&fixture("uid_map-identity")));
        assert!(!is_identity_uid_map(&fixture("uid_map-mapped")));
        assert!(!is_identity_uid_map(""));
    }
}
