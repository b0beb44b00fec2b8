//! (f) the data root exists and is writable.

use super::*;

/// (f) The data root exists (created 0711 like dockerd does) and is writable.
pub fn check_data_root_writable(paths: &PreflightPaths) -> Finding {
    const STEP: Step = Step::DataRootWritable;
    let root = &paths.data_root;
    let fix = format!(
        "mount a writable volume at {}: docker run -v berth-docker:{} ...",
        root.display(),
        root.display()
    );
    if let Err(err) = fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
    {
        return warn(
            STEP,
            format!("cannot create {}: {err}", root.display()),
            fix,
        );
    }
    let probe = root.join(format!(".berth-write-probe-{}", std::process::id()));
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match created {
        Ok(_) => {
            // Best effort: a leftover probe is harmless and named for berth.
            let _ = fs::remove_file(&probe);
            done(STEP, format!("{} is writable", root.display()))
        }
        Err(err) => warn(
            STEP,
            format!("{} is not writable: {err}", root.display()),
            fix,
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
    fn data_root_is_created_and_probed() {
        let f = fixture();
        let r = check_data_root_writable(&f.paths);
        assert!(r.verdict == Verdict::Done, "{r:?}");
        assert!(f.paths.data_root.is_dir());
        assert_eq!(
            fs::read_dir(&f.paths.data_root).expect("ls").count(),
            0,
            "probe removed"
        );
    }

    #[test]
    fn unwritable_data_root_warns() {
        let f = fixture();
        // A regular file where the data root should be: creation fails for everyone, root included.
        fs::create_dir_all(f.root.join("var/lib")).expect("mkdir");
        fs::write(&f.paths.data_root, "").expect("write");
        let r = check_data_root_writable(&f.paths);
        match (r.verdict, r.fix.as_deref().unwrap_or_default()) {
            (Verdict::Warning, fix) => assert!(fix.contains("-v berth-docker:")),
            other => panic!("{other:?}"),
        }
    }
}
