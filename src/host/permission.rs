//! Whether another user may read a file: the kernel's rule for the
//! permission bits (the owner's bits when the uid owns it, else the group's
//! when the gid or a supplementary group owns it, else the others'; search
//! permission on every directory on the way), evaluated from `stat` for that
//! user's uid, gid and groups rather than for berth's own root, which reads
//! everything. POSIX ACLs are not read: a file an ACL opens to the user is
//! reported as unreadable (a warning that errs on the side of saying it).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Who would read: uid, primary gid, supplementary groups.
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
}

/// What the user would need and lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read the file itself.
    Read,
    /// Search (x) a directory on the way to it.
    Search,
}

/// Why a user cannot read a file: the file or directory in the way, its
/// owner and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub path: PathBuf,
    pub uid: u32,
    pub gid: u32,
    /// The permission bits (`mode & 0o7777`).
    pub mode: u32,
    pub needs: Need,
}

/// The rwx bits that apply to `ids` for a file of this owner and mode: the
/// owner's, else the group's, else the others' (no root override).
pub fn bits_for(ids: Ids<'_>, owner_uid: u32, owner_gid: u32, mode: u32) -> u32 {
    if ids.uid == owner_uid {
        (mode >> 6) & 0o7
    } else if ids.gid == owner_gid || ids.groups.contains(&owner_gid) {
        (mode >> 3) & 0o7
    } else {
        mode & 0o7
    }
}

/// Whether `ids` may read `path`. Ok when it may, when it is root, or when
/// the path does not resolve (a missing file is another check's finding).
pub fn check_read(path: &Path, ids: Ids<'_>) -> Result<(), Denied> {
    if ids.uid == 0 {
        return Ok(());
    }
    let Ok(real) = fs::canonicalize(path) else {
        return Ok(());
    };
    let mut ancestors: Vec<&Path> = real.ancestors().skip(1).collect();
    ancestors.reverse();
    let deny = |path: &Path, meta: &fs::Metadata, needs| Denied {
        path: path.to_owned(),
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        needs,
    };
    for dir in ancestors {
        let Ok(meta) = fs::metadata(dir) else {
            return Ok(());
        };
        if bits_for(ids, meta.uid(), meta.gid(), meta.mode()) & 0o1 == 0 {
            return Err(deny(dir, &meta, Need::Search));
        }
    }
    let Ok(meta) = fs::metadata(&real) else {
        return Ok(());
    };
    if bits_for(ids, meta.uid(), meta.gid(), meta.mode()) & 0o4 == 0 {
        return Err(deny(&real, &meta, Need::Read));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn owner_group_and_other_bits_decide() {
        let me = nix::unistd::getuid().as_raw();
        let my_gid = nix::unistd::getgid().as_raw();
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key.pem");
        fs::write(&key, "key").expect("write");
        chmod(dir.path(), 0o755);
        chmod(&key, 0o600);
        let owner = Ids {
            uid: me,
            gid: my_gid,
            groups: &[],
        };
        let stranger = Ids {
            uid: 4242,
            gid: 4242,
            groups: &[],
        };
        if me != 0 {
            assert_eq!(check_read(&key, owner), Ok(()));
        }
        let denied = check_read(&key, stranger).expect_err("0600 is the owner's");
        assert_eq!(denied.needs, Need::Read);
        assert_eq!((denied.uid, denied.mode), (me, 0o600));
        assert!(denied.path.ends_with("key.pem"));
        chmod(&key, 0o640);
        let member = Ids {
            uid: 4242,
            gid: 4242,
            groups: &[my_gid],
        };
        assert_eq!(check_read(&key, member), Ok(()), "a supplementary group");
        assert!(check_read(&key, stranger).is_err());
        chmod(&key, 0o604);
        assert_eq!(check_read(&key, stranger), Ok(()));
        // A directory the user cannot search hides a readable file.
        chmod(dir.path(), 0o700);
        let denied = check_read(&key, stranger).expect_err("no search");
        assert_eq!(denied.needs, Need::Search);
        assert_eq!(denied.path, fs::canonicalize(dir.path()).unwrap());
        chmod(dir.path(), 0o755);
        // Root reads everything; a missing file is not this check's business.
        let root = Ids {
            uid: 0,
            gid: 0,
            groups: &[],
        };
        chmod(&key, 0o000);
        assert_eq!(check_read(&key, root), Ok(()));
        assert_eq!(check_read(&dir.path().join("none"), stranger), Ok(()));
    }
}
