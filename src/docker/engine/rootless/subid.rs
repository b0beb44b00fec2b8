//! /etc/subuid and /etc/subgid: the ranges, a free one, and adding it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

/// One `owner:start:count` line of /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubIdRange {
    /// User name or numeric uid.
    pub owner: String,
    pub start: u64,
    pub count: u64,
}

impl SubIdRange {
    fn end(&self) -> u64 {
        self.start.saturating_add(self.count)
    }
}

/// Parse subid text; comments, blank and malformed lines are skipped.
pub fn parse_subid(text: &str) -> Vec<SubIdRange> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.trim().split(':');
            let owner = parts.next().filter(|o| !o.is_empty())?;
            let start = parts.next()?.parse().ok()?;
            let count = parts.next()?.parse().ok()?;
            parts.next().is_none().then(|| SubIdRange {
                owner: owner.to_owned(),
                start,
                count,
            })
        })
        .collect()
}

/// The user's ranges (by name or by uid).
pub fn ranges_of<'a>(ranges: &'a [SubIdRange], user: &RootlessUser) -> Vec<&'a SubIdRange> {
    let uid = user.uid.to_string();
    ranges
        .iter()
        .filter(|r| r.owner == user.name || r.owner == uid)
        .collect()
}

/// How many ids the ranges give together; u64::MAX when the counts add up
/// to more (the file is the user's text: a count may be any u64).
pub fn total_ids(ranges: &[&SubIdRange]) -> u64 {
    ranges
        .iter()
        .fold(0u64, |total, r| total.saturating_add(r.count))
}

/// The lowest start at or above [`SUBID_FLOOR`] where `count` ids overlap
/// none of `taken`, within the 32-bit id space.
pub fn free_range_start(taken: &[SubIdRange], count: u64) -> Option<u64> {
    let mut sorted: Vec<&SubIdRange> = taken.iter().filter(|r| r.count > 0).collect();
    sorted.sort_by_key(|r| r.start);
    let mut candidate = SUBID_FLOOR;
    for r in sorted {
        if r.start >= candidate.saturating_add(count) {
            break;
        }
        candidate = candidate.max(r.end());
    }
    // uid_t is 32 bits and (uid_t)-1 is reserved.
    (candidate.saturating_add(count) <= u64::from(u32::MAX)).then_some(candidate)
}

pub(super) fn read_optional(path: &Path) -> Result<String, RootlessError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(RootlessError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Replace `path` with `content` atomically: temp file in the same dir with
/// the original's mode (0644 for a new file), fsync, rename.
fn replace_file(path: &Path, content: &str) -> Result<(), RootlessError> {
    let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    crate::host::files::write_atomic(path, content.as_bytes(), mode, None).map_err(|source| {
        RootlessError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Give `user` a range of [`SUBID_COUNT`] ids in both subuid and subgid when
/// either lacks one, at the same start in both, overlapping no existing
/// range in either file. Existing entries are never changed. Returns the
/// start when something was added.
pub fn ensure_subid_ranges(
    paths: &RootlessPaths,
    user: &RootlessUser,
) -> Result<Option<u64>, RootlessError> {
    let uid_text = read_optional(&paths.subuid)?;
    let gid_text = read_optional(&paths.subgid)?;
    let uids = parse_subid(&uid_text);
    let gids = parse_subid(&gid_text);
    let need_uid = ranges_of(&uids, user).is_empty();
    let need_gid = ranges_of(&gids, user).is_empty();
    if !need_uid && !need_gid {
        return Ok(None);
    }
    let all: Vec<SubIdRange> = uids.iter().chain(&gids).cloned().collect();
    let start = free_range_start(&all, SUBID_COUNT).ok_or_else(|| RootlessError::NoFreeRange {
        path: paths.subuid.clone(),
        count: SUBID_COUNT,
    })?;
    let line = format!("{}:{start}:{SUBID_COUNT}\n", user.name);
    for (needed, path, text) in [
        (need_uid, &paths.subuid, &uid_text),
        (need_gid, &paths.subgid, &gid_text),
    ] {
        if needed {
            let mut content = text.clone();
            if !content.is_empty() && !content.ends_with('\n') {
                content.push('\n');
            }
            content.push_str(&line);
            replace_file(path, &content)?;
        }
    }
    Ok(Some(start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::rootless::tests::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn subid_parsing_skips_junk() {
        let r = parse_subid(
            "# comment\nalice:100000:65536\n\nbob:x:1\n1000:200000:65536\ncarol:1:2:3\n",
        );
        assert_eq!(
            r,
            vec![
                SubIdRange {
                    owner: "alice".into(),
                    start: 100_000,
                    count: 65_536
                },
                SubIdRange {
                    owner: "1000".into(),
                    start: 200_000,
                    count: 65_536
                },
            ]
        );
        let u = user(Path::new("/home/dev"));
        assert_eq!(ranges_of(&r, &u).len(), 1, "matched by uid");
    }

    #[test]
    fn free_range_avoids_every_existing_range() {
        let r = |start, count| SubIdRange {
            owner: "x".into(),
            start,
            count,
        };
        assert_eq!(free_range_start(&[], SUBID_COUNT), Some(100_000));
        assert_eq!(
            free_range_start(&[r(100_000, 65_536)], SUBID_COUNT),
            Some(165_536)
        );
        // A gap too small is skipped; one large enough is used.
        assert_eq!(
            free_range_start(
                &[r(100_000, 10), r(150_000, 65_536), r(300_000, 5)],
                SUBID_COUNT
            ),
            Some(215_536)
        );
        assert_eq!(
            free_range_start(&[r(200_000, 10)], SUBID_COUNT),
            Some(100_000)
        );
        // Overlapping, unsorted input.
        assert_eq!(
            free_range_start(&[r(120_000, 100_000), r(90_000, 50_000)], 10),
            Some(220_000)
        );
        assert_eq!(free_range_start(&[r(0, u64::from(u32::MAX))], 10), None);
    }

    #[test]
    fn subid_entries_are_added_once_at_one_non_overlapping_start() {
        let f = fixture();
        fs::write(&f.paths.subuid, "alice:100000:65536").expect("write");
        fs::write(&f.paths.subgid, "alice:100000:65536\nbob:165536:65536\n").expect("write");
        // The originals' mode is kept, so set it here: fs::write's depends
        // on the umask, which other tests in this process change for an
        // instant (the proxy's socket, the TLS umask test).
        for file in [&f.paths.subuid, &f.paths.subgid] {
            fs::set_permissions(file, fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let u = user(&f.root);
        let start = ensure_subid_ranges(&f.paths, &u).expect("ensure");
        assert_eq!(start, Some(231_072));
        assert_eq!(
            fs::read_to_string(&f.paths.subuid).expect("read"),
            "alice:100000:65536\ndev:231072:65536\n"
        );
        assert_eq!(
            fs::read_to_string(&f.paths.subgid).expect("read"),
            "alice:100000:65536\nbob:165536:65536\ndev:231072:65536\n"
        );
        assert_eq!(ensure_subid_ranges(&f.paths, &u).expect("again"), None);
        assert_eq!(
            fs::metadata(&f.paths.subuid).expect("stat").mode() & 0o777,
            0o644
        );
    }
}
