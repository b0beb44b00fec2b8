//! Rootless: a non-root user (or forced) with rootlesskit and every
//! prerequisite of dockerd under it.

use super::*;
use crate::docker::client::ping::Pinger;
use crate::docker::finding::Verdict;
use crate::host::syscall::NixSyscall;

impl<P: Pinger> Probe<'_, P> {
    /// Rootless: non-root (or forced), with every prerequisite present.
    pub(super) fn rootless(&mut self, forced: bool) -> Found {
        self.probing = Some(Mode::Rootless);
        if self.host.euid == 0 && !forced {
            self.note(
                "rootless",
                Verdict::Skipped,
                "berth runs as root; rootless applies to non-root users or when forced",
            );
            return Found::No("berth runs as root".into());
        }
        let Some(user) = self.options.rootless_user.clone() else {
            self.note(
                "rootless",
                Verdict::Rejected,
                "no target user for rootless dockerd",
            );
            return Found::No("no target user is set for rootless dockerd".into());
        };
        // As root, berth fixes some of these before starting rootlesskit
        // (rootless::prepare); a root berth is only here when forced.
        let checks = crate::docker::engine::rootless::inspect(
            &self.paths.rootless,
            &user,
            self.host.euid,
            &NixSyscall,
        );
        let mut missing = Vec::new();
        let mut details = Vec::new();
        for finding in checks {
            // Fixable: a root berth fixes it before starting rootlesskit.
            if finding.verdict == Verdict::Missing {
                missing.push(finding.check);
                // What was seen and the fix, so a forced mode's error (exit
                // 69) says what to change, not only which check failed.
                details.push(match &finding.fix {
                    Some(fix) => format!("{}: {} (fix: {fix})", finding.check, finding.seen),
                    None => format!("{}: {}", finding.check, finding.seen),
                });
            }
            self.push(finding);
        }
        if missing.is_empty() {
            self.note(
                "rootless",
                Verdict::Chosen,
                "rootlesskit and every prerequisite are present",
            );
            return Found::Yes(Box::new(self.finish(Some(Mode::Rootless))));
        }
        self.note(
            "rootless",
            Verdict::Rejected,
            format!("rootless prerequisites are missing: {}", missing.join(", ")),
        );
        Found::No(format!(
            "rootless prerequisites are missing: {}",
            details.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::docker::detect::tests::FakeHost;

    use std::fs;
    use std::path::{Path, PathBuf};

    use crate::docker::engine::rootless::RootlessUser;

    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn rootless_for_non_root_with_prerequisites() {
        if !nix::unistd::geteuid().is_root() {
            // setuid-root helpers, a tun node and uid 1000's dirs need root to make.
            eprintln!("skipped: needs root to build the fake host");
            return;
        }
        let mut h = FakeHost::plain();
        for tool in [
            "dockerd",
            "rootlesskit",
            "newuidmap",
            "newgidmap",
            "slirp4netns",
        ] {
            h.install(tool);
        }
        for tool in ["newuidmap", "newgidmap"] {
            let p = Path::new(&h.paths.rootless.search_path).join(tool);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o4755)).expect("chmod");
        }
        fs::write(&h.paths.rootless.subuid, "dev:100000:65536\n").expect("write");
        fs::write(&h.paths.rootless.subgid, "dev:100000:65536\n").expect("write");
        fs::write(&h.paths.rootless.max_user_namespaces, "100\n").expect("write");
        // The container's own tun node, usable by the user.
        let tun = h.dir.path().join("tun");
        nix::sys::stat::mknod(
            &tun,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(10, 200),
        )
        .expect("mknod");
        fs::set_permissions(&tun, fs::Permissions::from_mode(0o666)).expect("chmod");
        h.paths.rootless.dev_net_tun = tun;
        let home = h.dir.path().join("home");
        let runtime = h.paths.rootless.run_user.join("1000");
        for (dir, mode) in [(&home, 0o755), (&runtime, 0o700)] {
            fs::create_dir_all(dir).expect("mkdir");
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).expect("chmod");
            std::os::unix::fs::chown(dir, Some(1000), Some(1000)).expect("chown");
        }
        h.host.euid = 1000;
        h.options.rootless_user = Some(RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![1000],
            home,
        });
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Rootless), "{:#?}", d.findings);
    }

    #[test]
    fn forced_rootless_lists_missing_pieces() {
        let mut h = FakeHost::plain();
        h.request = Request::Force(Mode::Rootless);
        // A non-root berth cannot fix anything itself: all of it is missing.
        h.host.euid = 1000;
        h.options.rootless_user = Some(RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![],
            home: PathBuf::from("/nonexistent"),
        });
        let err = h.detect(vec![]).0.expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("rootlesskit") && text.contains("subuid"),
            "{text}"
        );
    }

    /// Forced rootless under no-new-privileges: the error (exit 69) names
    /// it and the fix, instead of rootlesskit's later "write to uid_map
    /// failed" (issue 13).
    #[test]
    fn forced_rootless_under_no_new_privileges_says_to_drop_it() {
        let mut h = FakeHost::plain();
        h.request = Request::Force(Mode::Rootless);
        h.options.rootless_user = Some(RootlessUser {
            name: "dev".into(),
            uid: 1000,
            gid: 1000,
            groups: vec![],
            home: PathBuf::from("/nonexistent"),
        });
        h.install("newuidmap");
        h.install("newgidmap");
        let status = fs::read_to_string(h.paths.proc_self.join("status")).expect("status");
        let nnp = status.replace("NoNewPrivs:\t0", "NoNewPrivs:\t1");
        assert_ne!(nnp, status, "the fixture has a NoNewPrivs line");
        fs::write(h.paths.proc_self.join("status"), nnp).expect("write");
        let err = h.detect(vec![]).0.expect_err("unusable");
        let text = err.to_string();
        assert!(
            text.starts_with(
                "BERTH_DOCKER=rootless but rootless prerequisites are missing: newuidmap: "
            ),
            "{text}"
        );
        assert!(text.contains("runs with no-new-privileges"), "{text}");
        assert!(text.contains("(fix: drop no-new-privileges"), "{text}");
    }
}
