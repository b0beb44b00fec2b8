//! The socket-group fix: give the target user the docker socket's group.
//!
//! Invariant 7 of DESIGN.md: never widen the socket's permissions (no chmod,
//! ever) and never renumber an existing group. Membership is the fix: add the
//! user to the group that already owns the socket's gid, or create a group for
//! that gid. /etc/group (and /etc/gshadow when present) are rewritten
//! atomically with every other line kept byte for byte, so `docker exec -u
//! dev` sessions, which read /etc/group themselves, get access too. On a
//! read-only root the caller falls back to setgroups(2) for its direct child.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::host::users::{Groups, Gshadow};

/// Name of the group berth creates when no group owns the socket's gid.
pub const CREATED_GROUP_NAME: &str = "docker-host";

#[derive(Debug, thiserror::Error)]
pub enum SocketGroupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not valid UTF-8; refusing to rewrite it")]
    NotUtf8 { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = SocketGroupError> = std::result::Result<T, E>;

/// The user the fix is for.
#[derive(Debug, Clone, Copy)]
pub struct GroupUser<'a> {
    pub name: &'a str,
    pub primary_gid: u32,
}

/// Whether gid 0 may be granted. Off by default: root's group usually opens
/// far more than the socket (files under /etc, /root, device nodes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RootGroupPolicy {
    #[default]
    Refuse,
    Allow,
}

/// What berth decided to do about the socket's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum Plan {
    /// The user already has the gid (primary group or listed member).
    AlreadyMember { group: Option<String>, gid: u32 },
    /// A group owns the gid; add the user to it.
    AddToExisting { group: String, gid: u32 },
    /// No group has the gid; create one with a free name.
    CreateGroup { name: String, gid: u32 },
    /// The socket belongs to gid 0 and policy refuses root's group.
    RootGroup,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::AlreadyMember { group, gid } => match group {
                Some(g) => write!(f, "the user is already in group {g} (gid {gid})"),
                None => write!(f, "the user's primary gid is already {gid}"),
            },
            Plan::AddToExisting { group, gid } => {
                write!(f, "add the user to existing group {group} (gid {gid})")
            }
            Plan::CreateGroup { name, gid } => {
                write!(f, "create group {name} with gid {gid} and add the user")
            }
            Plan::RootGroup => f.write_str(ROOT_GROUP_EXPLANATION),
        }
    }
}

const ROOT_GROUP_EXPLANATION: &str =
    "the docker socket belongs to gid 0 (root's group); berth will \
not add the user to root's group because that grants far more than Docker. Start the engine with \
`dockerd --group <gid>` (or mount a socket owned by a docker group), or allow it explicitly";

/// Decides the fix. Pure: `groups` is the parsed /etc/group.
pub fn plan(
    socket_gid: u32,
    user: GroupUser<'_>,
    groups: &Groups,
    policy: RootGroupPolicy,
) -> Plan {
    let owner = groups.by_gid(socket_gid);
    if user.primary_gid == socket_gid {
        return Plan::AlreadyMember {
            group: owner.map(|g| g.name.clone()),
            gid: socket_gid,
        };
    }
    if let Some(g) = groups
        .entries()
        .iter()
        .find(|g| g.gid == socket_gid && g.has_member(user.name))
    {
        return Plan::AlreadyMember {
            group: Some(g.name.clone()),
            gid: socket_gid,
        };
    }
    if socket_gid == 0 && policy == RootGroupPolicy::Refuse {
        return Plan::RootGroup;
    }
    match owner {
        Some(g) => Plan::AddToExisting {
            group: g.name.clone(),
            gid: socket_gid,
        },
        None => Plan::CreateGroup {
            name: free_group_name(socket_gid, groups),
            gid: socket_gid,
        },
    }
}

/// `docker-host`, else `docker-host-<gid>`, else `docker-host-<gid>-<n>`.
pub(crate) fn free_group_name(gid: u32, groups: &Groups) -> String {
    let taken = |n: &str| groups.by_name(n).is_some();
    let preferred = [
        CREATED_GROUP_NAME.to_owned(),
        format!("{CREATED_GROUP_NAME}-{gid}"),
    ];
    if let Some(name) = preferred.into_iter().find(|n| !taken(n)) {
        return name;
    }
    (2u32..)
        .map(|n| format!("{CREATED_GROUP_NAME}-{gid}-{n}"))
        .find(|n| !taken(n))
        .unwrap_or_else(|| format!("{CREATED_GROUP_NAME}-{gid}-x"))
}

/// Where the account files live (injected; `/etc/...` in production).
#[derive(Debug, Clone)]
pub struct GroupPaths {
    pub group: PathBuf,
    pub gshadow: PathBuf,
}

impl Default for GroupPaths {
    fn default() -> Self {
        Self {
            group: PathBuf::from("/etc/group"),
            gshadow: PathBuf::from("/etc/gshadow"),
        }
    }
}

/// The narrow I/O layer for the account files, so the decision and the
/// read-only fallback are tested without root or a read-only mount.
pub trait AccountFiles {
    /// The file's bytes, or None when it does not exist.
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;
    /// Replaces `path` atomically, keeping its mode and owner.
    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
}

/// The real files: temp file in the same directory, fsync, rename, fsync dir.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealAccountFiles;

impl AccountFiles for RealAccountFiles {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        replace_atomically(path, contents)
    }
}

/// Write-temp, fsync, rename, fsync-dir: a crash leaves the old or the new
/// file, never a torn one (rename(2) is atomic within a filesystem).
pub fn replace_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let original = match fs::metadata(path) {
        Ok(meta) => Some(meta),
        // A scratch image may have no /etc/group yet: create it 0644.
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mode = original
        .as_ref()
        .map_or(NEW_FILE_MODE, |m| m.mode() & 0o7777);
    let owner = original.as_ref().map(|m| (m.uid(), m.gid()));
    crate::host::files::write_atomic(path, contents, mode, owner)
}

/// Mode for an account file that did not exist before (as Debian ships /etc/group).
const NEW_FILE_MODE: u32 = 0o644;

/// What happened when the plan was applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing to write: the user already had the gid.
    Unchanged { gid: u32 },
    /// The files were rewritten; `warnings` lists partial failures (gshadow).
    Updated {
        gid: u32,
        files: Vec<PathBuf>,
        warnings: Vec<String>,
    },
    /// /etc is not writable: the caller must add `gid` with setgroups(2) for
    /// its direct child only, and print `warning`.
    DirectChildOnly { gid: u32, warning: String },
    /// gid 0 and the policy refuses: nothing was changed.
    RefusedRootGroup { explanation: String },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Unchanged { gid } => {
                write!(f, "the user already has gid {gid}; nothing changed")
            }
            Outcome::Updated { gid, files, .. } => {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                write!(f, "gave the user gid {gid} in {}", names.join(" and "))
            }
            Outcome::DirectChildOnly { warning, .. } => f.write_str(warning),
            Outcome::RefusedRootGroup { explanation } => f.write_str(explanation),
        }
    }
}

/// Loads the group files, plans and applies in one step, so the plan is
/// applied to exactly the bytes it was computed from.
pub fn fix_socket_group(
    socket_gid: u32,
    user: GroupUser<'_>,
    paths: &GroupPaths,
    files: &impl AccountFiles,
    policy: RootGroupPolicy,
) -> Result<(Plan, Outcome)> {
    let group_text = read_utf8(files, &paths.group)?.unwrap_or_default();
    let groups = Groups::parse(&paths.group, &group_text);
    let plan = plan(socket_gid, user, &groups, policy);
    let outcome = apply(&plan, user.name, &groups, paths, files)?;
    Ok((plan, outcome))
}

/// Applies `plan` to the files `groups` was parsed from.
pub fn apply(
    plan: &Plan,
    user: &str,
    groups: &Groups,
    paths: &GroupPaths,
    files: &impl AccountFiles,
) -> Result<Outcome> {
    let (name, gid) = match plan {
        Plan::AlreadyMember { gid, .. } => return Ok(Outcome::Unchanged { gid: *gid }),
        Plan::RootGroup => {
            return Ok(Outcome::RefusedRootGroup {
                explanation: ROOT_GROUP_EXPLANATION.to_owned(),
            })
        }
        Plan::AddToExisting { group, gid } | Plan::CreateGroup { name: group, gid } => {
            (group.as_str(), *gid)
        }
    };
    let new_group = edited_group_file(plan, user, groups);
    if let Err(source) = files.replace(&paths.group, new_group.as_bytes()) {
        if is_read_only(&source) {
            return Ok(read_only_fallback(gid, &paths.group, &source));
        }
        return Err(SocketGroupError::Write {
            path: paths.group.clone(),
            source,
        });
    }
    let mut written = vec![paths.group.clone()];
    let mut warnings = Vec::new();
    match update_gshadow(name, user, paths, files) {
        Ok(true) => written.push(paths.gshadow.clone()),
        Ok(false) => {}
        Err(e) => warnings.push(format!(
            "{} was updated but {e}; tools that read gshadow (newgrp, gpasswd) may disagree",
            paths.group.display()
        )),
    }
    Ok(Outcome::Updated {
        gid,
        files: written,
        warnings,
    })
}

fn edited_group_file(plan: &Plan, user: &str, groups: &Groups) -> String {
    let mut file = groups.file().clone();
    match plan {
        Plan::AddToExisting { group, gid } => {
            // Name and gid: a file may repeat a name with another gid.
            let entry = groups
                .entries()
                .iter()
                .find(|g| g.name == *group && g.gid == *gid);
            if let Some(entry) = entry {
                file.append_member(entry.line, user);
            }
        }
        Plan::CreateGroup { name, gid } => file.push_line(format!("{name}:x:{gid}:{user}")),
        Plan::AlreadyMember { .. } | Plan::RootGroup => {}
    }
    file.render()
}

/// Adds `user` to `group` in gshadow. Ok(false): no gshadow, or already listed.
fn update_gshadow(
    group: &str,
    user: &str,
    paths: &GroupPaths,
    files: &impl AccountFiles,
) -> Result<bool> {
    let Some(text) = read_utf8(files, &paths.gshadow)? else {
        return Ok(false);
    };
    let gshadow = Gshadow::parse(&text);
    let mut file = gshadow.file().clone();
    match gshadow.by_name(group) {
        Some(entry) if entry.members.iter().any(|m| m == user) => return Ok(false),
        Some(entry) => file.append_member(entry.line, user),
        None => file.push_line(format!("{group}:!::{user}")),
    }
    files
        .replace(&paths.gshadow, file.render().as_bytes())
        .map_err(|source| SocketGroupError::Write {
            path: paths.gshadow.clone(),
            source,
        })?;
    Ok(true)
}

fn read_utf8(files: &impl AccountFiles, path: &Path) -> Result<Option<String>> {
    let bytes = files.read(path).map_err(|source| SocketGroupError::Read {
        path: path.to_owned(),
        source,
    })?;
    bytes
        .map(|b| {
            String::from_utf8(b).map_err(|_| SocketGroupError::NotUtf8 {
                path: path.to_owned(),
            })
        })
        .transpose()
}

/// EROFS, or EACCES/EPERM creating the temp file: /etc cannot be changed
/// here (read-only root, or berth is not root), which is expected, not a bug.
fn is_read_only(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    )
}

fn read_only_fallback(gid: u32, group_file: &Path, cause: &io::Error) -> Outcome {
    Outcome::DirectChildOnly {
        gid,
        warning: format!(
            "cannot update {} ({cause}); the command berth starts gets gid {gid} for the docker \
             socket, but `docker exec` sessions into this container will not have Docker access",
            group_file.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    const GROUP: &str = "\
root:x:0:
# keep this comment
dev:x:1000:
staff:x:50:other
this line is malformed
docker:x:998:alice
weird:x:notanumber:
";

    fn dev() -> GroupUser<'static> {
        GroupUser {
            name: "dev",
            primary_gid: 1000,
        }
    }

    fn groups(text: &str) -> Groups {
        Groups::parse(Path::new("/etc/group"), text)
    }

    /// In-memory account files; `fail_replace` simulates a read-only /etc.
    #[derive(Default)]
    struct FakeFiles {
        files: RefCell<HashMap<PathBuf, Vec<u8>>>,
        fail_replace: Option<i32>,
        writes: RefCell<Vec<PathBuf>>,
    }

    impl FakeFiles {
        fn with(files: &[(&str, &str)]) -> Self {
            let map = files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.as_bytes().to_vec()))
                .collect();
            Self {
                files: RefCell::new(map),
                ..Self::default()
            }
        }

        fn text(&self, p: &str) -> String {
            let files = self.files.borrow();
            String::from_utf8(files.get(Path::new(p)).cloned().unwrap_or_default()).expect("utf8")
        }
    }

    impl AccountFiles for FakeFiles {
        fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
            Ok(self.files.borrow().get(path).cloned())
        }

        fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
            if let Some(errno) = self.fail_replace {
                return Err(io::Error::from_raw_os_error(errno));
            }
            self.writes.borrow_mut().push(path.to_owned());
            self.files
                .borrow_mut()
                .insert(path.to_owned(), contents.to_vec());
            Ok(())
        }
    }

    fn paths() -> GroupPaths {
        GroupPaths::default()
    }

    #[test]
    fn plan_adds_to_existing_group_with_other_name() {
        let p = plan(50, dev(), &groups(GROUP), RootGroupPolicy::Refuse);
        assert_eq!(
            p,
            Plan::AddToExisting {
                group: "staff".into(),
                gid: 50
            }
        );
    }

    #[test]
    fn plan_creates_group_when_gid_absent() {
        let p = plan(4242, dev(), &groups(GROUP), RootGroupPolicy::Refuse);
        assert_eq!(
            p,
            Plan::CreateGroup {
                name: "docker-host".into(),
                gid: 4242
            }
        );
    }

    #[test]
    fn plan_avoids_taken_names() {
        let text = format!("{GROUP}docker-host:x:5:\n");
        let p = plan(4242, dev(), &groups(&text), RootGroupPolicy::Refuse);
        assert_eq!(
            p,
            Plan::CreateGroup {
                name: "docker-host-4242".into(),
                gid: 4242
            }
        );
        let text = format!("{text}docker-host-4242:x:6:\n");
        let p = plan(4242, dev(), &groups(&text), RootGroupPolicy::Refuse);
        assert!(matches!(p, Plan::CreateGroup { name, .. } if name == "docker-host-4242-2"));
    }

    #[test]
    fn plan_sees_listed_membership() {
        let alice = GroupUser {
            name: "alice",
            primary_gid: 1001,
        };
        let p = plan(998, alice, &groups(GROUP), RootGroupPolicy::Refuse);
        assert_eq!(
            p,
            Plan::AlreadyMember {
                group: Some("docker".into()),
                gid: 998
            }
        );
    }

    #[test]
    fn plan_sees_primary_gid_even_without_group_entry() {
        let u = GroupUser {
            name: "dev",
            primary_gid: 4242,
        };
        let p = plan(4242, u, &groups(GROUP), RootGroupPolicy::Refuse);
        assert_eq!(
            p,
            Plan::AlreadyMember {
                group: None,
                gid: 4242
            }
        );
    }

    #[test]
    fn plan_refuses_root_group_unless_allowed() {
        let g = groups(GROUP);
        assert_eq!(plan(0, dev(), &g, RootGroupPolicy::Refuse), Plan::RootGroup);
        assert!(matches!(
            plan(0, dev(), &g, RootGroupPolicy::Allow),
            Plan::AddToExisting { gid: 0, .. }
        ));
        let root = GroupUser {
            name: "root",
            primary_gid: 0,
        };
        assert!(matches!(
            plan(0, root, &g, RootGroupPolicy::Refuse),
            Plan::AlreadyMember { .. }
        ));
    }

    #[test]
    fn apply_add_keeps_every_other_byte() {
        let files = FakeFiles::with(&[("/etc/group", GROUP)]);
        let (_, outcome) =
            fix_socket_group(998, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(
            files.text("/etc/group"),
            GROUP.replace("docker:x:998:alice", "docker:x:998:alice,dev")
        );
        assert_eq!(
            outcome,
            Outcome::Updated {
                gid: 998,
                files: vec![PathBuf::from("/etc/group")],
                warnings: vec![]
            }
        );
    }

    #[test]
    fn repeated_group_name_edits_the_line_with_the_gid() {
        let text = "docker:x:1:\ndocker:x:998:\n";
        let files = FakeFiles::with(&[("/etc/group", text)]);
        fix_socket_group(998, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(files.text("/etc/group"), "docker:x:1:\ndocker:x:998:dev\n");
    }

    #[test]
    fn apply_create_appends_line_and_keeps_missing_newline() {
        let text = "root:x:0:\nbroken";
        let files = FakeFiles::with(&[("/etc/group", text)]);
        fix_socket_group(4242, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(
            files.text("/etc/group"),
            "root:x:0:\nbroken\ndocker-host:x:4242:dev"
        );
    }

    #[test]
    fn apply_updates_gshadow_when_present() {
        let gshadow = "root:*::\ndocker:!::alice\n";
        let files = FakeFiles::with(&[("/etc/group", GROUP), ("/etc/gshadow", gshadow)]);
        fix_socket_group(998, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(
            files.text("/etc/gshadow"),
            "root:*::\ndocker:!::alice,dev\n"
        );

        let files = FakeFiles::with(&[("/etc/group", GROUP), ("/etc/gshadow", gshadow)]);
        fix_socket_group(4242, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(
            files.text("/etc/gshadow"),
            "root:*::\ndocker:!::alice\ndocker-host:!::dev\n"
        );
    }

    #[test]
    fn apply_without_gshadow_writes_only_group() {
        let files = FakeFiles::with(&[("/etc/group", GROUP)]);
        fix_socket_group(50, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(*files.writes.borrow(), [PathBuf::from("/etc/group")]);
        assert!(files
            .files
            .borrow()
            .get(Path::new("/etc/gshadow"))
            .is_none());
    }

    #[test]
    fn already_member_writes_nothing() {
        let files = FakeFiles::with(&[("/etc/group", GROUP), ("/etc/gshadow", "")]);
        let alice = GroupUser {
            name: "alice",
            primary_gid: 1001,
        };
        let (_, outcome) =
            fix_socket_group(998, alice, &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert_eq!(outcome, Outcome::Unchanged { gid: 998 });
        assert!(files.writes.borrow().is_empty());
    }

    #[test]
    fn read_only_root_falls_back_to_direct_child() {
        for errno in [libc::EROFS, libc::EACCES, libc::EPERM] {
            let mut files = FakeFiles::with(&[("/etc/group", GROUP)]);
            files.fail_replace = Some(errno);
            let (_, outcome) =
                fix_socket_group(998, dev(), &paths(), &files, RootGroupPolicy::Refuse)
                    .expect("fallback is not an error");
            match outcome {
                Outcome::DirectChildOnly { gid, warning } => {
                    assert_eq!(gid, 998);
                    assert!(warning.contains("docker exec"), "{warning}");
                }
                other => panic!("errno {errno}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn other_write_errors_are_errors() {
        let mut files = FakeFiles::with(&[("/etc/group", GROUP)]);
        files.fail_replace = Some(libc::ENOSPC);
        let err = fix_socket_group(998, dev(), &paths(), &files, RootGroupPolicy::Refuse)
            .expect_err("ENOSPC is a real failure");
        assert!(matches!(err, SocketGroupError::Write { .. }));
    }

    #[test]
    fn root_group_changes_nothing() {
        let files = FakeFiles::with(&[("/etc/group", GROUP)]);
        let (_, outcome) =
            fix_socket_group(0, dev(), &paths(), &files, RootGroupPolicy::Refuse).expect("fix");
        assert!(matches!(outcome, Outcome::RefusedRootGroup { .. }));
        assert!(files.writes.borrow().is_empty());
    }

    #[test]
    fn non_utf8_group_file_is_refused() {
        let files = FakeFiles::default();
        files
            .files
            .borrow_mut()
            .insert(PathBuf::from("/etc/group"), b"caf\xe9:x:5:\n".to_vec());
        let err = fix_socket_group(998, dev(), &paths(), &files, RootGroupPolicy::Refuse)
            .expect_err("non-utf8");
        assert!(matches!(err, SocketGroupError::NotUtf8 { .. }));
    }

    #[test]
    fn real_files_replace_atomically_keeping_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let group = dir.path().join("group");
        let gshadow = dir.path().join("gshadow");
        fs::write(&group, GROUP).expect("write");
        fs::set_permissions(&group, fs::Permissions::from_mode(0o644)).expect("chmod");
        fs::write(&gshadow, "docker:!::\n").expect("write");
        fs::set_permissions(&gshadow, fs::Permissions::from_mode(0o640)).expect("chmod");
        let paths = GroupPaths {
            group: group.clone(),
            gshadow: gshadow.clone(),
        };
        let (_, outcome) = fix_socket_group(
            998,
            dev(),
            &paths,
            &RealAccountFiles,
            RootGroupPolicy::Refuse,
        )
        .expect("fix");
        assert!(matches!(outcome, Outcome::Updated { ref files, .. } if files.len() == 2));
        let text = fs::read_to_string(&group).expect("read");
        assert!(text.contains("docker:x:998:alice,dev\n"));
        assert!(text.contains("this line is malformed\n"));
        assert_eq!(
            fs::read_to_string(&gshadow).expect("read"),
            "docker:!::dev\n"
        );
        let mode = |p: &Path| fs::metadata(p).expect("stat").mode() & 0o7777;
        assert_eq!((mode(&group), mode(&gshadow)), (0o644, 0o640));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .expect("readdir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    /// The recorded /etc files (comment, blank line, malformed line, no final
    /// newline) survive byte for byte apart from the one intended change.
    #[test]
    fn fixture_files_change_only_the_intended_lines() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["group", "gshadow"] {
            fs::copy(fixtures.join(name), dir.path().join(name)).expect("copy");
        }
        let paths = GroupPaths {
            group: dir.path().join("group"),
            gshadow: dir.path().join("gshadow"),
        };
        let user = GroupUser {
            name: "worker",
            primary_gid: 1001,
        };
        fix_socket_group(27, user, &paths, &RealAccountFiles, RootGroupPolicy::Refuse)
            .expect("fix");
        let original = fs::read_to_string(fixtures.join("group")).expect("read");
        assert_eq!(
            fs::read_to_string(&paths.group).expect("read"),
            original.replace("sudo:x:27:dev\n", "sudo:x:27:dev,worker\n")
        );
        let original = fs::read_to_string(fixtures.join("gshadow")).expect("read");
        assert_eq!(
            fs::read_to_string(&paths.gshadow).expect("read"),
            original.replace("sudo:*::dev\n", "sudo:*::dev,worker\n")
        );
        let (plan, _) = fix_socket_group(
            5000,
            user,
            &paths,
            &RealAccountFiles,
            RootGroupPolicy::Refuse,
        )
        .expect("fix");
        assert_eq!(
            plan,
            Plan::CreateGroup {
                name: "docker-host".into(),
                gid: 5000
            }
        );
        let group = fs::read_to_string(&paths.group).expect("read");
        assert!(
            group.ends_with("wheel:x:10:dev\ndocker-host:x:5000:worker"),
            "{group:?}"
        );
        let gshadow = fs::read_to_string(&paths.gshadow).expect("read");
        assert!(
            gshadow.ends_with("dev:!::\ndocker-host:!::worker\n"),
            "{gshadow:?}"
        );
    }

    #[test]
    fn stale_temp_file_from_a_crash_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let group = dir.path().join("group");
        fs::write(&group, GROUP).expect("write");
        let stale = dir.path().join(".group.berth-tmp");
        fs::write(&stale, "half-written").expect("write");
        replace_atomically(&group, b"new\n").expect("replace despite leftover");
        assert_eq!(fs::read_to_string(&group).expect("read"), "new\n");
        assert!(!stale.exists());
    }

    #[test]
    fn missing_group_file_is_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = GroupPaths {
            group: dir.path().join("group"),
            gshadow: dir.path().join("gshadow"),
        };
        fix_socket_group(
            4242,
            dev(),
            &paths,
            &RealAccountFiles,
            RootGroupPolicy::Refuse,
        )
        .expect("fix");
        assert_eq!(
            fs::read_to_string(&paths.group).expect("read"),
            "docker-host:x:4242:dev\n"
        );
        assert!(!paths.gshadow.exists());
    }

    #[test]
    fn already_correct_leaves_mtime_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let group = dir.path().join("group");
        fs::write(&group, GROUP).expect("write");
        let before = fs::metadata(&group)
            .expect("stat")
            .modified()
            .expect("mtime");
        let paths = GroupPaths {
            group: group.clone(),
            gshadow: dir.path().join("gshadow"),
        };
        let alice = GroupUser {
            name: "alice",
            primary_gid: 1,
        };
        fix_socket_group(
            998,
            alice,
            &paths,
            &RealAccountFiles,
            RootGroupPolicy::Refuse,
        )
        .expect("fix");
        let after = fs::metadata(&group)
            .expect("stat")
            .modified()
            .expect("mtime");
        assert_eq!(before, after);
        assert_eq!(fs::read_to_string(&group).expect("read"), GROUP);
    }

    #[test]
    fn read_only_dir_gives_fallback_when_not_root() {
        if nix::unistd::geteuid().is_root() {
            eprintln!("skipped: root ignores directory permissions (the fake covers EACCES)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let group = dir.path().join("group");
        fs::write(&group, GROUP).expect("write");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).expect("chmod");
        let paths = GroupPaths {
            group,
            gshadow: dir.path().join("gshadow"),
        };
        let result = fix_socket_group(
            998,
            dev(),
            &paths,
            &RealAccountFiles,
            RootGroupPolicy::Refuse,
        );
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod back");
        assert!(matches!(result, Ok((_, Outcome::DirectChildOnly { .. }))));
    }

    /// Against the real /etc of the container this runs in (never on a
    /// developer machine): BERTH_TEST_SOCKET_FIX=<user>:<primary gid>:<expected
    /// outcome> with the engine socket mounted at /var/run/docker.sock.
    #[test]
    #[ignore = "runs inside a prepared container: BERTH_TEST_SOCKET_FIX=<spec> cargo test -- --ignored"]
    fn fix_in_this_container_matches_expectation() {
        let Ok(spec) = std::env::var("BERTH_TEST_SOCKET_FIX") else {
            panic!("BERTH_TEST_SOCKET_FIX is not set (this test is #[ignore]d for that reason)");
        };
        let mut parts = spec.split(':');
        let (Some(name), Some(gid), Some(expected)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("BERTH_TEST_SOCKET_FIX={spec:?}: want user:gid:outcome");
        };
        let user = GroupUser {
            name,
            primary_gid: gid.parse().expect("numeric gid"),
        };
        let socket_gid = fs::metadata("/var/run/docker.sock").expect("socket").gid();
        let (plan, outcome) = fix_socket_group(
            socket_gid,
            user,
            &GroupPaths::default(),
            &RealAccountFiles,
            RootGroupPolicy::Refuse,
        )
        .expect("fix");
        eprintln!("plan: {plan}\noutcome: {outcome}");
        let json = serde_json::to_value(&outcome).expect("json");
        assert_eq!(json["outcome"], expected, "{json}");
        if expected == "updated" {
            let groups = Groups::load(Path::new("/etc/group")).expect("group");
            assert!(groups.memberships(name).contains(&socket_gid));
        }
    }
}
