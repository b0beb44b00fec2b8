//! What berth reads from /proc: status, `<pid>/stat`, `net/route`, and the
//! mountinfo round trip (the `mountinfo` target itself is in the parent).

use std::path::Path;

use super::input::{parts, scratch, text_parts, write};
use crate::docker::detect::is_identity_uid_map;
use crate::docker::engine::preflight::mtu::default_route_interface;
use crate::host::caps::{parse_last_cap, CapSet, ProcStatus, SeccompMode};
use crate::host::mountinfo::MountEntry;
use crate::init::procs::{list, parse_stat, to_stop, ProcInfo};

/// /proc/self/status (CapEff, CapBnd, Seccomp, NoNewPrivs), cap_last_cap and
/// uid_map. The lines the kernel would print after any junk win (the last
/// occurrence of a key is the one read); the bounding-set answers agree
/// with each other; a uid_map's verdict does not depend on blank lines or
/// spacing.
pub fn proc_status(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let status = ProcStatus::parse(&text);
    let last_cap = u32::from(data.first().copied().unwrap_or(40));
    let missing = status.bounding_set_missing(last_cap);
    let (classic, newer) = status.bounding_set_missing_split(last_cap);
    assert_eq!([classic, newer].concat(), missing, "split of {last_cap}");
    let lacking = status
        .cap_bnd
        .map_or(0, |b| (0..=last_cap.min(63)).filter(|c| !b.has(*c)).count());
    assert_eq!(missing.len(), lacking);
    assert_eq!(
        status.can_run_dockerd(),
        status
            .cap_eff
            .is_some_and(|c| c.0 & (1 << 21) != 0 && c.0 & (1 << 12) != 0)
    );

    // The kernel's own lines (fs/proc/array.c: "%016llx" for capability
    // sets, "%d" for Seccomp and NoNewPrivs), after the input's.
    let word = |at: usize| {
        let mut bytes = [0u8; 8];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = data.get(at + i).copied().unwrap_or(0x5a);
        }
        u64::from_le_bytes(bytes)
    };
    let (eff, bnd) = (word(1), word(9));
    let seccomp = data.get(17).map_or(0, |b| b % 3);
    let nnp = data.get(18).map_or(0, |b| b % 2);
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let full = format!(
        "{text}{sep}CapEff:\t{eff:016x}\nCapBnd:\t{bnd:016x}\nSeccomp:\t{seccomp}\nNoNewPrivs:\t{nnp}\n"
    );
    let parsed = ProcStatus::parse(&full);
    assert_eq!(parsed.cap_eff, Some(CapSet(eff)), "{full:?}");
    assert_eq!(parsed.cap_bnd, Some(CapSet(bnd)), "{full:?}");
    let want = [
        SeccompMode::Disabled,
        SeccompMode::Strict,
        SeccompMode::Filter,
    ][usize::from(seccomp)];
    assert_eq!(parsed.seccomp, Some(want), "{full:?}");
    assert_eq!(parsed.no_new_privs, Some(nnp == 1), "{full:?}");

    if let Some(n) = parse_last_cap(&text) {
        assert_eq!(parse_last_cap(&format!(" {n}\n")), Some(n));
    }
    let identity = is_identity_uid_map(&text);
    assert_eq!(
        is_identity_uid_map(&format!("\n {}\t\n\n", text.replace(' ', "  "))),
        identity
    );
    if identity {
        assert!(text.contains("4294967295"));
    }
}

/// /proc/<pid>/stat, read the way the shutdown code reads it: from files
/// under a proc root. A process's name (comm) is whatever it set with
/// prctl(PR_SET_NAME): up to 15 bytes, anything but NUL, parentheses,
/// spaces and newlines included. Every process written in the kernel's
/// layout is listed with its pid and parent; the shutdown choice (as a
/// subreaper) is exactly the listed descendants of berth.
pub fn proc_stat(data: &[u8]) {
    let [raw, procs]: [&[u8]; 2] = parts(data, 2).try_into().expect("two parts");
    let raw_text = String::from_utf8_lossy(raw);
    if let Some(info) = parse_stat(&raw_text) {
        assert!(
            raw_text.contains(&format!("({})", info.comm)),
            "{info:?} from {raw_text:?}"
        );
    }

    // Processes from the second part: 2 bytes of pid, 1 of parent index, a
    // length and the name's bytes.
    let mut written: Vec<(i32, i32, Vec<u8>)> = Vec::new();
    let mut rest = procs;
    while let [hi, lo, parent, len, tail @ ..] = rest {
        let pid = 2 + i32::from(u16::from_be_bytes([*hi, *lo]) % 30_000);
        let ppid = match written.get(usize::from(*parent)) {
            Some((p, _, _)) => *p,
            None => 1,
        };
        let take = usize::from(*len % 16).min(tail.len());
        let comm: Vec<u8> = tail[..take]
            .iter()
            .map(|b| if *b == 0 { b'?' } else { *b })
            .collect();
        rest = &tail[take..];
        if pid != ppid && written.iter().all(|(p, _, _)| *p != pid) {
            written.push((pid, ppid, comm));
        }
    }
    let root = scratch();
    for (pid, ppid, comm) in &written {
        let mut line = format!("{pid} (").into_bytes();
        line.extend_from_slice(comm);
        line.extend_from_slice(
            format!(") S {ppid} {pid} {pid} 0 -1 4194560 97 0 0 0 0 0\n").as_bytes(),
        );
        write(&root.join(pid.to_string()).join("stat"), &line);
    }
    let listed = list(&root);
    for (pid, ppid, comm) in &written {
        let found = listed.iter().find(|p| p.pid == *pid);
        let want = String::from_utf8_lossy(comm);
        assert!(
            found.is_some_and(|p| p.ppid == *ppid && p.comm == want),
            "pid {pid} (parent {ppid}, comm {comm:?}): listed as {found:?}"
        );
    }
    let Some((me, _, _)) = written.first() else {
        return;
    };
    let mut chosen = to_stop(&listed, *me, &|_| false);
    chosen.sort_unstable();
    let mut descendants = descendants_of(&listed, *me);
    descendants.sort_unstable();
    assert_eq!(chosen, descendants, "descendants of {me}");
}

/// The pids whose parent chain reaches `me`, by a plain walk.
fn descendants_of(all: &[ProcInfo], me: i32) -> Vec<i32> {
    let mut found = vec![me];
    let mut grew = true;
    while grew {
        grew = false;
        for p in all {
            if !found.contains(&p.pid) && found.contains(&p.ppid) {
                found.push(p.pid);
                grew = true;
            }
        }
    }
    found.retain(|p| *p != me);
    found
}

/// /proc/net/route: the IPv4 default route's interface for the MTU step.
/// What is found is a line of the table with destination and mask
/// 00000000 and the RTF_UP flag; a default route written in the kernel's
/// layout as the first entry is the one found, whatever follows it.
pub fn proc_net_route(data: &[u8]) {
    let [table, iface]: [String; 2] = text_parts(data, 2).try_into().expect("two parts");
    if let Some(found) = default_route_interface(&table) {
        let ok = table.lines().skip(1).any(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.first() == Some(&found.as_str())
                && cols.get(1) == Some(&"00000000")
                && cols.get(7) == Some(&"00000000")
                && cols
                    .get(3)
                    .and_then(|f| u32::from_str_radix(f, 16).ok())
                    .is_some_and(|f| f & 1 != 0)
        });
        assert!(ok, "{found:?} is no default route in {table:?}");
    }
    // Interface names: up to 15 bytes without whitespace, '/' or ':'
    // (dev_valid_name in net/core/dev.c).
    let name: String = iface
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '/' && *c != ':')
        .take(15)
        .collect();
    if name.is_empty() {
        return;
    }
    let kernel = format!(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         {name}\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n{}",
        table.lines().skip(1).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(default_route_interface(&kernel), Some(name), "{kernel:?}");
}

/// seq_escape's set for mountinfo paths, fs type and source
/// (fs/proc_namespace.c: `" \t\n\\"`).
fn kernel_escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A mountinfo line as show_mountinfo writes it, from four fields of the
/// input, parses back to those fields.
pub(super) fn mount_line_round_trip(data: &[u8]) {
    let fields = text_parts(data, 4);
    let [root, point, fs_type, source] = [0, 1, 2, 3].map(|i| {
        let f: String = fields[i].chars().filter(|c| *c != '\0').take(64).collect();
        f
    });
    if [&root, &point, &fs_type, &source]
        .iter()
        .any(|f| f.is_empty())
    {
        return;
    }
    let line = format!(
        "36 35 98:0 {} {} rw,noatime master:1 - {} {} rw,errors=continue",
        kernel_escape(&root),
        kernel_escape(&point),
        kernel_escape(&fs_type),
        kernel_escape(&source)
    );
    let entry = MountEntry::parse(&line);
    let fields = entry
        .as_ref()
        .map(|e| (&*e.root, &*e.mount_point, &*e.fs_type, &*e.source));
    assert_eq!(
        fields,
        Some((&*root, &*point, &*fs_type, &*source)),
        "{line:?}"
    );
    let entry = entry.expect("parsed");
    assert_eq!(entry.optional_fields, ["master:1"]);
    assert_eq!(entry.super_options, ["rw", "errors=continue"]);
    let in_file = format!("1 0 0:1 / / rw - ext4 /dev/root rw\n{line}\n");
    let info = crate::host::mountinfo::MountInfo::parse(&in_file);
    assert_eq!(info.mounts.len(), 2, "{in_file:?}");
    assert_eq!(info.unparsed_lines, 0);
    if Path::new(&point).is_absolute() {
        assert!(info.is_mount_point(Path::new(&point)));
    }
}
