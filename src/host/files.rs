//! Replacing a file so that readers see the old bytes or the new, never half.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The fix to add to an error writing under /run: "" unless `err` is EROFS.
/// A read-only root filesystem (`docker run --read-only`, Kubernetes'
/// readOnlyRootFilesystem) leaves /run read-only too, and berth keeps its
/// sockets and the containerd config there (README, "read-only root").
pub fn read_only_run_hint(err: &io::Error) -> &'static str {
    if err.kind() == io::ErrorKind::ReadOnlyFilesystem {
        "; the root filesystem is read-only: mount a tmpfs at /run (docker run --tmpfs /run; \
         Kubernetes: an emptyDir with medium: Memory at /run)"
    } else {
        ""
    }
}

/// Writes `contents` to `path` atomically: a temp file in the same directory,
/// created with `mode` (so a key is never readable by others, not even for
/// an instant) and then set to it exactly (undoing the umask), chowned to
/// `owner`, fsynced, renamed over `path`, and the directory fsynced.
///
/// berth is PID 1, so the temp name is the same on every start: a leftover
/// from a crash between create and rename is removed first (create_new never
/// follows a symlink planted there). On failure the temp file is removed.
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.berth-tmp"));
    let file = create_temp(&tmp, mode)?;
    let result = fill_and_rename(file, &tmp, path, dir, mode, owner, contents);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn create_temp(tmp: &Path, mode: u32) -> io::Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(tmp)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            open()
        }
        other => other,
    }
}

fn fill_and_rename(
    mut file: File,
    tmp: &Path,
    path: &Path,
    dir: &Path,
    mode: u32,
    owner: Option<(u32, u32)>,
    contents: &[u8],
) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
    }
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn replaces_with_the_exact_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        fs::write(&path, "old").unwrap();
        // A leftover temp file from a crash is not in the way.
        fs::write(dir.path().join(".key.pem.berth-tmp"), "crash").unwrap();
        write_atomic(&path, b"new", 0o600, None).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("key.pem")]);
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("file");
        assert!(write_atomic(&path, b"x", 0o644, None).is_err());
        assert!(!path.exists());
    }
}
