//! (a) securityfs, so dockerd can load AppArmor profiles.

use super::*;

/// (a) Mount securityfs at `/sys/kernel/security` when it is not mounted, so
/// dockerd can load AppArmor profiles (docker's dind does the same).
pub fn mount_securityfs(paths: &PreflightPaths, ops: &dyn Syscall) -> Finding {
    const STEP: Step = Step::Securityfs;
    let target = &paths.securityfs;
    if !target.is_dir() {
        return skipped(STEP, format!("{} does not exist", target.display()));
    }
    let mounted = match read_kernel_text(&paths.mountinfo) {
        Ok(text) => MountInfo::parse(&text).is_mount_point(target),
        Err(err) => {
            return warn(
                STEP,
                format!("cannot read {}: {err}", paths.mountinfo.display()),
                "mount /proc in the container",
            )
        }
    };
    if mounted {
        return skipped(STEP, format!("{} is already mounted", target.display()));
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    match ops.mount("securityfs", target, "securityfs", flags, None) {
        Ok(()) => done(STEP, format!("mounted securityfs at {}", target.display())),
        Err(errno) => warn(
            STEP,
            format!("cannot mount securityfs at {}: {errno}", target.display()),
            "run the container with --privileged; without securityfs dockerd cannot load AppArmor profiles",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    #[allow(unused_imports)]
    use crate::host::syscall::{Call, RecordingSyscall};

    #[test]
    fn securityfs_is_mounted_when_absent_from_mountinfo() {
        let f = fixture();
        let ops = RecordingSyscall::new();
        let r = mount_securityfs(&f.paths, &ops);
        assert!(r.verdict == Verdict::Done, "{r:?}");
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
        let ops = RecordingSyscall::new();
        let r = mount_securityfs(&f.paths, &ops);
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        assert!(ops.calls().is_empty());
    }

    #[test]
    fn securityfs_mount_refused_warns_with_fix() {
        let f = fixture();
        let mut ops = RecordingSyscall::new();
        ops.mount_result = Err(Errno::EPERM);
        let r = mount_securityfs(&f.paths, &ops);
        match (
            r.verdict,
            r.seen.as_str(),
            r.fix.as_deref().unwrap_or_default(),
        ) {
            (Verdict::Warning, message, fix) => {
                assert!(message.contains("EPERM"), "{message}");
                assert!(fix.contains("--privileged"));
            }
            other => panic!("{other:?}"),
        }
    }
}
