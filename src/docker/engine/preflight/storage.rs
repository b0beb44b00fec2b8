//! (d) the storage driver: overlay2 cannot stack on an overlay root.

use super::*;

/// The nearest existing ancestor of `path` (the data root may not exist yet;
/// dockerd will create it on the filesystem of its parent).
fn nearest_existing(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new("/"))
}

/// (d) Storage driver. An explicit choice is honoured. Otherwise, when the
/// data root is on overlayfs (no volume: the container's own root), overlay2
/// cannot work; in order: fuse-overlayfs when the binary is on PATH and
/// /dev/fuse exists, else vfs (slow, full copies). Both warn loudly with the
/// fix. On any other filesystem dockerd's own default (overlay2) is kept.
pub fn choose_storage_driver(
    paths: &PreflightPaths,
    opts: &PreflightOptions,
    ops: &dyn Syscall,
) -> (Finding, Option<String>) {
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
            let record = warn(
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
            let record = warn(
                STEP,
                format!("storage driver overlay2 was asked for, but {} is on overlayfs: dockerd will fail to mount", root.display()),
                fix,
            );
            return (record, Some(driver.clone()));
        }
        return (
            done(STEP, format!("storage driver {driver} (explicit)")),
            Some(driver.clone()),
        );
    }
    if !on_overlay {
        return (
            skipped(
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
        let record = warn(
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
    let record = warn(
        STEP,
        format!(
            "{} is on the container's overlay root (no volume) and {why}: using vfs, which copies every layer in full (slow, large)",
            root.display()
        ),
        fix,
    );
    (record, Some("vfs".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::preflight::tests::*;
    #[allow(unused_imports)]
    use crate::host::syscall::{Call, RecordingSyscall};

    fn overlay_ops(f: &Fixture) -> RecordingSyscall {
        let mut ops = RecordingSyscall::new();
        // The data root does not exist yet: its nearest ancestor is probed.
        fs::create_dir_all(f.root.join("var/lib")).expect("mkdir");
        ops.statfs
            .insert(f.root.join("var/lib"), OVERLAYFS_SUPER_MAGIC);
        ops
    }

    #[test]
    fn storage_on_a_volume_keeps_dockerds_default() {
        let f = fixture();
        let (r, d) = choose_storage_driver(&f.paths, &f.opts, &RecordingSyscall::new());
        assert!(r.verdict == Verdict::Skipped, "{r:?}");
        assert_eq!(d, None);
    }

    #[test]
    fn storage_on_overlay_prefers_fuse_overlayfs_then_vfs() {
        let f = fixture();
        let ops = overlay_ops(&f);
        let (r, d) = choose_storage_driver(&f.paths, &f.opts, &ops);
        assert_eq!(d.as_deref(), Some("vfs"));
        match (
            r.verdict,
            r.seen.as_str(),
            r.fix.as_deref().unwrap_or_default(),
        ) {
            (Verdict::Warning, message, fix) => {
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
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert_eq!(d.as_deref(), Some("btrfs"));
        let opts = PreflightOptions {
            storage_driver: Some("overlay2".into()),
            ..f.opts.clone()
        };
        let (r, d) = choose_storage_driver(&f.paths, &opts, &ops);
        assert!(is_warn(&r), "{r:?}");
        assert_eq!(d.as_deref(), Some("overlay2"));
    }
}
