//! /etc/passwd, /etc/group and /etc/gshadow, read (and for the group files,
//! rewritten) without NSS.
//!
//! berth is linked statically against glibc, where getpwnam(3)/getgrnam(3)
//! would try to dlopen NSS modules that a scratch image does not have. The
//! files are parsed here instead. Every line the parser does not understand
//! (comments, blank lines, NIS `+`/`-` entries, wrong field counts) is kept
//! verbatim, so a rewrite changes only the lines berth means to change.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Fallback shell when the passwd entry names none, or one that cannot run.
pub const DEFAULT_SHELL: &str = "/bin/sh";
/// Home directory for a numeric uid with no passwd entry (as docker and gosu do).
pub const DEFAULT_HOME: &str = "/";
/// Primary gid for a numeric uid with no passwd entry and no group given.
/// `docker run -u 1234` and gosu both use 0 here; berth matches them so the
/// same `--user` value means the same thing under berth as without it.
pub const DEFAULT_GID_FOR_UNKNOWN_UID: u32 = 0;

/// Errors reading the account files or resolving a user spec.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("user {name:?} is not in {passwd}")]
    UnknownUser { name: String, passwd: PathBuf },
    #[error("group {name:?} is not in {group}")]
    UnknownGroup { name: String, group: PathBuf },
    #[error("invalid user spec {spec:?}: {reason}")]
    BadSpec { spec: String, reason: &'static str },
}

pub type Result<T, E = UsersError> = std::result::Result<T, E>;

/// A colon-separated account file as lines, kept so it can be written back
/// byte for byte apart from deliberate edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColonFile {
    lines: Vec<String>,
    ends_with_newline: bool,
}

impl ColonFile {
    /// Splits `text` into lines, remembering whether the last line ended in `\n`.
    pub fn parse(text: &str) -> Self {
        let ends_with_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let lines = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n').map(str::to_owned).collect()
        };
        Self {
            lines,
            ends_with_newline,
        }
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The file's text, identical to the input when nothing was edited.
    pub fn render(&self) -> String {
        let mut out = self.lines.join("\n");
        if self.ends_with_newline && !self.lines.is_empty() {
            out.push('\n');
        }
        out
    }

    /// Appends `member` to the comma list in the last field of line `index`.
    /// Appending (rather than re-serialising) keeps the rest of the line intact.
    pub fn append_member(&mut self, index: usize, member: &str) {
        if let Some(line) = self.lines.get_mut(index) {
            if !line.ends_with(':') && !line.ends_with(',') {
                line.push(',');
            }
            line.push_str(member);
        }
    }

    /// Adds a line at the end. A file that lacked a final newline gets one
    /// between the old last line and the new one (otherwise they would merge),
    /// and keeps lacking one at the very end.
    pub fn push_line(&mut self, line: String) {
        if self.lines.is_empty() {
            self.ends_with_newline = true;
        }
        self.lines.push(line);
    }
}

/// One parsed /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

impl PasswdEntry {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _pw, uid, gid, _gecos, home, shell] = fields.as_slice() else {
            return None;
        };
        if name.is_empty() || name.starts_with(['#', '+', '-']) {
            return None;
        }
        Some(Self {
            name: (*name).to_owned(),
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            home: (*home).to_owned(),
            shell: (*shell).to_owned(),
        })
    }
}

/// /etc/passwd, parsed. Malformed lines are skipped (passwd is never rewritten).
#[derive(Debug, Clone, Default)]
pub struct Passwd {
    path: PathBuf,
    entries: Vec<PasswdEntry>,
}

impl Passwd {
    pub fn load(path: &Path) -> Result<Self> {
        let text = read(path)?;
        Ok(Self::parse(path, &text))
    }

    /// `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Self {
        Self {
            path: path.to_owned(),
            entries: text.lines().filter_map(PasswdEntry::parse).collect(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[PasswdEntry] {
        &self.entries
    }

    pub fn by_name(&self, name: &str) -> Option<&PasswdEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn by_uid(&self, uid: u32) -> Option<&PasswdEntry> {
        self.entries.iter().find(|e| e.uid == uid)
    }
}

/// One parsed /etc/group entry, with the index of its line in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
    #[serde(skip)]
    pub line: usize,
}

impl GroupEntry {
    fn parse(index: usize, line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _pw, gid, members] = fields.as_slice() else {
            return None;
        };
        if name.is_empty() || name.starts_with(['#', '+', '-']) {
            return None;
        }
        Some(Self {
            name: (*name).to_owned(),
            gid: gid.parse().ok()?,
            members: split_members(members),
            line: index,
        })
    }

    pub fn has_member(&self, user: &str) -> bool {
        self.members.iter().any(|m| m == user)
    }
}

fn split_members(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// /etc/group: parsed entries plus the raw file for lossless rewriting.
#[derive(Debug, Clone)]
pub struct Groups {
    path: PathBuf,
    file: ColonFile,
    entries: Vec<GroupEntry>,
}

impl Groups {
    pub fn load(path: &Path) -> Result<Self> {
        let text = read(path)?;
        Ok(Self::parse(path, &text))
    }

    /// `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Self {
        let file = ColonFile::parse(text);
        let entries = file
            .lines()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| GroupEntry::parse(i, l))
            .collect();
        Self {
            path: path.to_owned(),
            file,
            entries,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &ColonFile {
        &self.file
    }

    pub fn entries(&self) -> &[GroupEntry] {
        &self.entries
    }

    pub fn by_name(&self, name: &str) -> Option<&GroupEntry> {
        self.entries.iter().find(|g| g.name == name)
    }

    /// The first group with this gid, as getgrgid(3) would return.
    pub fn by_gid(&self, gid: u32) -> Option<&GroupEntry> {
        self.entries.iter().find(|g| g.gid == gid)
    }

    /// Gids of every group that lists `user` as a member, in file order.
    pub fn memberships(&self, user: &str) -> Vec<u32> {
        self.entries
            .iter()
            .filter(|g| g.has_member(user))
            .map(|g| g.gid)
            .collect()
    }
}

/// One parsed /etc/gshadow entry (`name:password:admins:members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GshadowEntry {
    pub name: String,
    pub members: Vec<String>,
    pub line: usize,
}

/// /etc/gshadow: parsed entries plus the raw file for lossless rewriting.
#[derive(Debug, Clone)]
pub struct Gshadow {
    file: ColonFile,
    entries: Vec<GshadowEntry>,
}

impl Gshadow {
    pub fn parse(text: &str) -> Self {
        let file = ColonFile::parse(text);
        let entries = file
            .lines()
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Self::parse_line(i, l))
            .collect();
        Self { file, entries }
    }

    fn parse_line(index: usize, line: &str) -> Option<GshadowEntry> {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _pw, _admins, members] = fields.as_slice() else {
            return None;
        };
        if name.is_empty() || name.starts_with(['#', '+', '-']) {
            return None;
        }
        Some(GshadowEntry {
            name: (*name).to_owned(),
            members: split_members(members),
            line: index,
        })
    }

    pub fn file(&self) -> &ColonFile {
        &self.file
    }

    pub fn by_name(&self, name: &str) -> Option<&GshadowEntry> {
        self.entries.iter().find(|g| g.name == name)
    }
}

/// Who berth runs the command as, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// None for a numeric uid that has no passwd entry.
    pub name: Option<String>,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// The passwd shell field as written (may be empty); see [`Target::login_shell`].
    pub shell: String,
    /// Primary gid first, then every group listing the user by name; no duplicates.
    pub supplementary_gids: Vec<u32>,
}

impl Target {}

/// See [`Target::login_shell`]. `fs_root` is `/` in production.
pub fn login_shell(shell: &str, fs_root: &Path) -> PathBuf {
    if shell.starts_with('/') && is_executable_file(&fs_root.join(&shell[1..])) {
        PathBuf::from(shell)
    } else {
        PathBuf::from(DEFAULT_SHELL)
    }
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves a gosu-style spec: `NAME`, `UID`, `NAME:GROUP`, `UID:GID` (and
/// the mixed forms). A numeric uid without a passwd entry is allowed, with
/// HOME=/ and gid [`DEFAULT_GID_FOR_UNKNOWN_UID`], as `docker run -u` does.
pub fn resolve_target(spec: &str, passwd: &Passwd, groups: &Groups) -> Result<Target> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user_part.is_empty() {
        return Err(bad_spec(spec, "the user part is empty"));
    }
    let mut target = resolve_user(user_part, passwd)?;
    if let Some(group) = group_part {
        if group.is_empty() {
            return Err(bad_spec(spec, "the group part after ':' is empty"));
        }
        target.gid = resolve_group(group, groups)?;
    }
    target.supplementary_gids = supplementary_gids(target.gid, target.name.as_deref(), groups);
    Ok(target)
}

fn bad_spec(spec: &str, reason: &'static str) -> UsersError {
    UsersError::BadSpec {
        spec: spec.to_owned(),
        reason,
    }
}

fn resolve_user(user: &str, passwd: &Passwd) -> Result<Target> {
    let entry = match user.parse::<u32>() {
        Ok(uid) => match passwd.by_uid(uid) {
            Some(entry) => entry,
            None => return Ok(unknown_uid_target(uid)),
        },
        Err(_) => passwd
            .by_name(user)
            .ok_or_else(|| UsersError::UnknownUser {
                name: user.to_owned(),
                passwd: passwd.path().to_owned(),
            })?,
    };
    Ok(Target {
        name: Some(entry.name.clone()),
        uid: entry.uid,
        gid: entry.gid,
        home: if entry.home.is_empty() {
            DEFAULT_HOME.to_owned()
        } else {
            entry.home.clone()
        },
        shell: entry.shell.clone(),
        supplementary_gids: Vec::new(),
    })
}

fn unknown_uid_target(uid: u32) -> Target {
    Target {
        name: None,
        uid,
        gid: DEFAULT_GID_FOR_UNKNOWN_UID,
        home: DEFAULT_HOME.to_owned(),
        shell: String::new(),
        supplementary_gids: Vec::new(),
    }
}

fn resolve_group(group: &str, groups: &Groups) -> Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    groups
        .by_name(group)
        .map(|g| g.gid)
        .ok_or_else(|| UsersError::UnknownGroup {
            name: group.to_owned(),
            group: groups.path().to_owned(),
        })
}

fn supplementary_gids(primary: u32, name: Option<&str>, groups: &Groups) -> Vec<u32> {
    let mut seen = BTreeSet::from([primary]);
    let mut gids = vec![primary];
    if let Some(name) = name {
        for gid in groups.memberships(name) {
            if seen.insert(gid) {
                gids.push(gid);
            }
        }
    }
    gids
}

fn read(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|source| UsersError::Read {
        path: path.to_owned(),
        source,
    })?;
    // Lossy is fine for reading; the rewriter in socket_group refuses files
    // that are not valid UTF-8 rather than corrupting their odd lines.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
broken line without colons
dev:x:1000:1000:Dev,,,:/home/dev:/bin/zsh
nohome:x:1001:1001:::
badnum:x:abc:1:::/bin/sh
";

    pub(crate) const GROUP: &str = "\
root:x:0:
daemon:x:1:
# comment line
dev:x:1000:
docker:x:998:dev
audio:x:29:other,dev
malformed:x:notanumber:dev
+nisgroup
tail:x:1002:dev,dev
";

    fn passwd() -> Passwd {
        Passwd::parse(Path::new("/etc/passwd"), PASSWD)
    }

    fn groups() -> Groups {
        Groups::parse(Path::new("/etc/group"), GROUP)
    }

    #[test]
    fn passwd_skips_malformed_lines() {
        let names: Vec<_> = passwd().entries.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["root", "daemon", "dev", "nohome"]);
    }

    #[test]
    fn group_render_is_identity() {
        for text in [
            GROUP,
            "a:x:1:\nno newline at end",
            "",
            "\n\n",
            "x\r\ny:x:2:\n",
        ] {
            assert_eq!(ColonFile::parse(text).render(), text);
        }
    }

    #[test]
    fn group_entries_skip_malformed_and_nis() {
        let names: Vec<_> = groups().entries().iter().map(|g| g.name.clone()).collect();
        assert_eq!(names, ["root", "daemon", "dev", "docker", "audio", "tail"]);
        assert_eq!(groups().by_name("audio").map(|g| g.line), Some(5));
    }

    #[test]
    fn append_member_handles_empty_and_nonempty_lists() {
        let mut f = ColonFile::parse("a:x:1:\nb:x:2:u1\nc:x:3:u1,\n");
        f.append_member(0, "dev");
        f.append_member(1, "dev");
        f.append_member(2, "dev");
        assert_eq!(f.render(), "a:x:1:dev\nb:x:2:u1,dev\nc:x:3:u1,dev\n");
    }

    #[test]
    fn push_line_keeps_missing_final_newline_state() {
        let mut f = ColonFile::parse("a:x:1:");
        f.push_line("b:x:2:dev".into());
        assert_eq!(f.render(), "a:x:1:\nb:x:2:dev");
        let mut empty = ColonFile::parse("");
        empty.push_line("b:x:2:dev".into());
        assert_eq!(empty.render(), "b:x:2:dev\n");
    }

    #[test]
    fn resolve_by_name_collects_memberships() {
        let t = resolve_target("dev", &passwd(), &groups()).expect("dev resolves");
        assert_eq!(t.name.as_deref(), Some("dev"));
        assert_eq!((t.uid, t.gid), (1000, 1000));
        assert_eq!(t.home, "/home/dev");
        assert_eq!(t.supplementary_gids, [1000, 998, 29, 1002]);
    }

    #[test]
    fn resolve_by_uid_finds_passwd_entry() {
        let t = resolve_target("1000", &passwd(), &groups()).expect("uid resolves");
        assert_eq!(t.name.as_deref(), Some("dev"));
        assert_eq!(t.shell, "/bin/zsh");
    }

    #[test]
    fn resolve_unknown_uid_uses_defaults() {
        let t = resolve_target("4242", &passwd(), &groups()).expect("numeric uid allowed");
        assert_eq!(t.name, None);
        assert_eq!((t.uid, t.gid), (4242, DEFAULT_GID_FOR_UNKNOWN_UID));
        assert_eq!(t.home, "/");
        assert_eq!(t.supplementary_gids, [DEFAULT_GID_FOR_UNKNOWN_UID]);
    }

    #[test]
    fn resolve_uid_gid_pair() {
        let t = resolve_target("4242:4343", &passwd(), &groups()).expect("pair resolves");
        assert_eq!((t.uid, t.gid), (4242, 4343));
        assert_eq!(t.supplementary_gids, [4343]);
    }

    #[test]
    fn resolve_name_with_group_name_overrides_primary() {
        let t = resolve_target("dev:docker", &passwd(), &groups()).expect("resolves");
        assert_eq!(t.gid, 998);
        assert_eq!(t.supplementary_gids, [998, 29, 1002]);
    }

    #[test]
    fn resolve_empty_home_defaults_to_root_dir() {
        let t = resolve_target("nohome", &passwd(), &groups()).expect("resolves");
        assert_eq!(t.home, "/");
    }

    #[test]
    fn resolve_errors_name_the_problem() {
        let p = passwd();
        let g = groups();
        assert!(matches!(
            resolve_target("ghost", &p, &g),
            Err(UsersError::UnknownUser { .. })
        ));
        assert!(matches!(
            resolve_target("dev:ghosts", &p, &g),
            Err(UsersError::UnknownGroup { .. })
        ));
        assert!(matches!(
            resolve_target(":1", &p, &g),
            Err(UsersError::BadSpec { .. })
        ));
        assert!(matches!(
            resolve_target("dev:", &p, &g),
            Err(UsersError::BadSpec { .. })
        ));
    }

    #[test]
    fn login_shell_falls_back_when_missing_or_not_executable() {
        let root = tempfile::tempdir().expect("tempdir");
        let bin = root.path().join("bin");
        fs::create_dir(&bin).expect("mkdir");
        fs::write(bin.join("zsh"), "").expect("write");
        fs::set_permissions(bin.join("zsh"), fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::write(bin.join("plain"), "").expect("write");
        fs::set_permissions(bin.join("plain"), fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(login_shell("/bin/zsh", root.path()), Path::new("/bin/zsh"));
        assert_eq!(login_shell("/bin/plain", root.path()), Path::new("/bin/sh"));
        assert_eq!(login_shell("/bin/fish", root.path()), Path::new("/bin/sh"));
        assert_eq!(login_shell("", root.path()), Path::new("/bin/sh"));
        assert_eq!(login_shell("/bin", root.path()), Path::new("/bin/sh"));
    }

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    #[test]
    fn fixture_files_load_and_resolve() {
        let passwd = Passwd::load(&fixture("passwd")).expect("passwd");
        let groups = Groups::load(&fixture("group")).expect("group");
        let raw = fs::read_to_string(fixture("group")).expect("read");
        assert_eq!(groups.file().render(), raw, "no final newline is kept");
        let dev = resolve_target("dev", &passwd, &groups).expect("dev");
        assert_eq!(dev.supplementary_gids, [1000, 27, 999, 10]);
        let worker = resolve_target("worker", &passwd, &groups).expect("worker");
        assert_eq!(worker.shell, "");
        assert_eq!(
            login_shell(&worker.shell, Path::new("/nonexistent")),
            Path::new(DEFAULT_SHELL)
        );
        assert_eq!(worker.supplementary_gids, [1001, 999]);
        assert!(passwd.by_name("+@netgroup").is_none());
    }

    #[test]
    fn load_reports_path_on_error() {
        let err = Passwd::load(Path::new("/nonexistent/passwd")).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/passwd"));
    }

    #[test]
    fn gshadow_parse() {
        let g = Gshadow::parse("docker:!::dev,x\n# c\nbad\n");
        assert_eq!(
            g.by_name("docker").map(|e| e.members.clone()),
            Some(vec!["dev".to_owned(), "x".to_owned()])
        );
        assert_eq!(g.file().render(), "docker:!::dev,x\n# c\nbad\n");
    }
}
