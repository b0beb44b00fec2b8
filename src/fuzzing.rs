//! Properties the parsers must keep for any input, shared by the libFuzzer
//! targets in `fuzz/` (one `[[bin]]` per function here) and by the
//! random-input smoke tests (`cargo test --lib fuzzing`), which run every
//! property on a few thousand inputs with the normal test build.
//!
//! Each function panics only when a property is broken; a parser panicking
//! on its own is the bug the fuzzer looks for (PID 1 must never panic).
//! Inputs that stand for several files are split at NUL bytes ([`parts`]);
//! parsers that are only reachable through files (docker contexts, /proc,
//! the cgroupfs) get them written into a scratch directory ([`scratch`]).

mod accounts;
mod cgroup;
mod docker;
mod input;
mod procfs;
mod settings;
#[cfg(test)]
mod smoke;

pub use accounts::{subid, user_spec};
pub use cgroup::cgroup;
pub use docker::{docker_context, docker_host, engine_text, host_path};
pub use procfs::{proc_net_route, proc_stat, proc_status};
pub use settings::config_env;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::docker::access::group::{
    fix_socket_group, AccountFiles, GroupPaths, GroupUser, Outcome, Plan, RootGroupPolicy,
};
use crate::docker::client::endpoint::{parse_host, TlsSetting};
use crate::docker::detect::sysbox_fingerprints;
use crate::docker::engine::rootless::parse_subid;
use crate::docker::host_path::container_id_from_mountinfo;
use crate::host::mountinfo::{unescape, MountInfo};
use crate::host::users::{resolve_target, ColonFile, Groups, Gshadow, Passwd};

/// Account files in memory, for exercising the rewrite without a disk.
#[derive(Default)]
struct MemFiles(RefCell<BTreeMap<PathBuf, Vec<u8>>>);

impl AccountFiles for MemFiles {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        Ok(self.0.borrow().get(path).cloned())
    }

    fn replace(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.0
            .borrow_mut()
            .insert(path.to_owned(), contents.to_vec());
        Ok(())
    }
}

/// /etc/group, gshadow, passwd parsers and the socket-group rewrite.
pub fn group_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    assert_eq!(
        ColonFile::parse(&text).render(),
        text,
        "render must be lossless"
    );
    let groups = Groups::parse(Path::new("/etc/group"), &text);
    for entry in groups.entries() {
        let line = &groups.file().lines()[entry.line];
        assert!(
            line.starts_with(&entry.name),
            "entry {entry:?} vs line {line:?}"
        );
    }
    let _ = Gshadow::parse(&text);
    let passwd = Passwd::parse(Path::new("/etc/passwd"), &text);
    let spec: String = text.chars().take(12).collect();
    let _ = resolve_target(&spec, &passwd, &groups);
    let _ = parse_subid(&text);
    let gid = data.first().map_or(0, |b| u32::from(*b % 8) * 500);
    rewrite_keeps_other_lines(&text, gid);
}

/// Adding a user changes at most one line or appends one, and the result
/// lists the user in a group with the socket's gid.
fn rewrite_keeps_other_lines(text: &str, gid: u32) {
    let files = MemFiles::default();
    let paths = GroupPaths::default();
    files
        .0
        .borrow_mut()
        .insert(paths.group.clone(), text.as_bytes().to_vec());
    let user = GroupUser {
        name: "fuzzuser",
        primary_gid: 65533,
    };
    let Ok((plan, outcome)) = fix_socket_group(gid, user, &paths, &files, RootGroupPolicy::Allow)
    else {
        return;
    };
    let after = String::from_utf8(files.0.borrow()[&paths.group].clone()).unwrap_or_default();
    let (old, new) = (ColonFile::parse(text), ColonFile::parse(&after));
    match (&plan, &outcome) {
        (Plan::AddToExisting { .. }, Outcome::Updated { .. }) => {
            assert_eq!(old.lines().len(), new.lines().len());
            let changed = old
                .lines()
                .iter()
                .zip(new.lines())
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(changed, 1, "exactly one line edited");
        }
        (Plan::CreateGroup { .. }, Outcome::Updated { .. }) => {
            assert_eq!(&new.lines()[..old.lines().len()], old.lines());
            assert_eq!(new.lines().len(), old.lines().len() + 1);
        }
        _ => assert_eq!(after, text, "no plan to write, no change"),
    }
    let reparsed = Groups::parse(&paths.group, &after);
    let member = reparsed
        .entries()
        .iter()
        .any(|g| g.gid == gid && g.has_member("fuzzuser"));
    assert!(
        member,
        "user not in a gid-{gid} group after {plan:?}: {after:?}"
    );
}

/// /proc/self/mountinfo: every parsed mount is found again by the lookups;
/// a line written the way the kernel writes it (octal escapes for space,
/// tab, newline and backslash, fields separated by one space) parses back
/// to the fields it was written from, whatever bytes the paths hold; and
/// what detection and `berth host-path` read from it.
pub fn mountinfo(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let info = MountInfo::parse(&text);
    for m in &info.mounts {
        let point = Path::new(&m.mount_point);
        if point.is_absolute() {
            assert!(info.is_mount_point(point), "{m:?}");
            assert!(info.mount_containing(point).is_some(), "{m:?}");
        }
    }
    procfs::mount_line_round_trip(data);
    let _ = unescape(&text);
    let _ = sysbox_fingerprints(&info);
    if let Some(reference) = container_id_from_mountinfo(&info) {
        let id = reference.reference();
        assert!(id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    }
    for line in text.lines().take(4) {
        let _ = parse_host("DOCKER_HOST", line, &TlsSetting::Off);
    }
}

/// The health endpoint's request heads: bounds, pipelining, the answers to
/// bad ones (its stable smoke test is in `health_server::request`).
pub fn health_request(data: &[u8]) {
    crate::health_server::check_head_properties(data);
}

#[cfg(test)]
mod tests {
    use super::smoke::XorShift;
    use super::*;

    const GROUP_ALPHABET: &[u8] = b"::::,,,\n\n\nabcxyz0123456789#+- \r";
    const MOUNT_ALPHABET: &[u8] = b"   ---//\n\n0123456789:,\\\\abcfuseysbox_rwo";

    #[test]
    fn group_file_properties_hold_on_random_inputs() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            group_file(&rng.input(GROUP_ALPHABET, 200));
        }
    }

    #[test]
    fn group_file_properties_hold_on_seeds() {
        for seed in [
            &b"root:x:0:\ndocker:x:0:a,b\n"[..],
            b"a:x:1:\nno newline",
            b"\n\n",
            b"",
            b"fuzzuser:x:0:\n",
            b"docker-host:x:1:\ndocker-host-0:x:2:\n",
            // A repeated name with another gid: the edit must hit the gid's line.
            b"a:x:1:\na:x:500:\n",
        ] {
            group_file(seed);
        }
    }

    #[test]
    fn mountinfo_properties_hold_on_random_inputs() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
        for _ in 0..3000 {
            mountinfo(&rng.input(MOUNT_ALPHABET, 300));
        }
        let real = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mountinfo-sysbox"
        ))
        .unwrap_or_default();
        mountinfo(&real);
    }
}
