//! Accounts: user specs against passwd and group, subuid/subgid ranges and
//! the file capabilities of newuidmap/newgidmap.

use std::path::Path;

use super::input::text_parts;
use crate::docker::engine::rootless::{
    file_caps_grant, free_range_start, parse_subid, total_ids, SubIdRange, SUBID_FLOOR,
};
use crate::host::users::{resolve_target, Groups, Passwd};

/// `BERTH_USER` / `--user` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`) against
/// /etc/passwd and /etc/group. A resolved user is the passwd entry named
/// (or the numeric uid given, with its entry's home when it has one); a
/// group part given is the gid used; the group list starts with that gid,
/// has no duplicates and holds every group listing the user by name.
///
/// Parts: passwd, group, the spec.
pub fn user_spec(data: &[u8]) {
    let [passwd, group, spec]: [String; 3] = text_parts(data, 3).try_into().expect("three parts");
    let passwd = Passwd::parse(Path::new("/etc/passwd"), &passwd);
    let groups = Groups::parse(Path::new("/etc/group"), &group);
    let Ok(target) = resolve_target(&spec, &passwd, &groups) else {
        return;
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec.as_str(), None),
    };
    match user.parse::<u32>() {
        Ok(uid) => {
            assert_eq!(target.uid, uid);
            match passwd.by_uid(uid) {
                Some(entry) => assert_eq!(target.name.as_deref(), Some(entry.name.as_str())),
                None => assert_eq!((target.name.as_deref(), target.home.as_str()), (None, "/")),
            }
        }
        Err(_) => {
            let entry = passwd.by_name(user).expect("a named user has an entry");
            assert_eq!(
                (target.uid, target.name.as_deref()),
                (entry.uid, Some(user))
            );
        }
    }
    if let Some(group) = group {
        let gid = group
            .parse::<u32>()
            .ok()
            .or_else(|| groups.by_name(group).map(|g| g.gid));
        assert_eq!(Some(target.gid), gid);
    }
    let gids = &target.supplementary_gids;
    assert_eq!(gids.first(), Some(&target.gid));
    for (i, gid) in gids.iter().enumerate() {
        assert!(!gids[..i].contains(gid), "{gid} twice in {gids:?}");
    }
    if let Some(name) = &target.name {
        for gid in groups.memberships(name) {
            assert!(gids.contains(&gid), "{gid} missing from {gids:?}");
        }
    }
}

/// /etc/subuid and /etc/subgid, and the range berth would add. Parsed
/// ranges written back as `owner:start:count` lines parse to the same
/// ranges; a free range found starts at or above the floor, fits in the
/// 32-bit id space below (uid_t)-1 and overlaps no existing range. Also
/// the `security.capability` xattr: a value written in the kernel's layout
/// grants exactly the permitted, effective capabilities it was written with.
///
/// Parts: the subid file, then 8 bytes of count and an xattr's fields.
pub fn subid(data: &[u8]) {
    let [text, rest]: [String; 2] = text_parts(data, 2).try_into().expect("two parts");
    let ranges = parse_subid(&text);
    let written: String = ranges
        .iter()
        .map(|r| format!("{}:{}:{}\n", r.owner, r.start, r.count))
        .collect();
    assert_eq!(parse_subid(&written), ranges, "{written:?}");
    for r in &ranges {
        assert!(!r.owner.is_empty() && !r.owner.contains(':'), "{r:?}");
    }
    // What doctor reports a user has: the sum, or u64::MAX when it is more.
    for owner in ranges.iter().map(|r| &r.owner) {
        let mine: Vec<&SubIdRange> = ranges.iter().filter(|r| r.owner == *owner).collect();
        let sum: u128 = mine.iter().map(|r| u128::from(r.count)).sum();
        let want = u64::try_from(sum).unwrap_or(u64::MAX);
        assert_eq!(total_ids(&mine), want, "{mine:?}");
    }

    let tail = rest.as_bytes();
    let byte = |i: usize| tail.get(i).copied().unwrap_or(0);
    let count = u64::from_le_bytes(std::array::from_fn(byte)) % (1 << 34);
    if let Some(start) = free_range_start(&ranges, count) {
        assert!(start >= SUBID_FLOOR);
        assert!(start + count <= u64::from(u32::MAX), "{start}+{count}");
        for r in ranges.iter().filter(|r| r.count > 0) {
            let overlaps = start < r.start.saturating_add(r.count) && r.start < start + count;
            assert!(!overlaps || count == 0, "{start}+{count} overlaps {r:?}");
        }
    }
    let all: Vec<SubIdRange> = ranges.iter().chain(&ranges).cloned().collect();
    assert_eq!(
        free_range_start(&all, count),
        free_range_start(&ranges, count)
    );

    // vfs_cap_data: le32 magic_etc (revision << 24 | effective flag), then
    // (permitted, inheritable) le32 pairs: one in revision 1, two after.
    let revision = u32::from(byte(8) % 3 + 1);
    let effective = byte(9) & 1 == 1;
    let permitted = u64::from_le_bytes(std::array::from_fn(|i| byte(10 + i)));
    let words = if revision == 1 { 1 } else { 2 };
    let mut xattr = ((revision << 24) | u32::from(effective))
        .to_le_bytes()
        .to_vec();
    for w in 0..words {
        xattr.extend_from_slice(&((permitted >> (32 * w)) as u32).to_le_bytes());
        xattr.extend_from_slice(&0u32.to_le_bytes());
    }
    if revision == 3 {
        xattr.extend_from_slice(&0u32.to_le_bytes());
    }
    for cap in 0..64 {
        let held = cap < 32 * words && permitted & (1 << cap) != 0;
        assert_eq!(
            file_caps_grant(&xattr, cap),
            effective && held,
            "cap {cap} in {xattr:02x?}"
        );
        let _ = file_caps_grant(tail, cap);
    }
}
