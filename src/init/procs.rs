//! Which processes berth is responsible for at shutdown, read from /proc.
//!
//! As PID 1, that is every process in the namespace (a `docker exec` session
//! included: the kernel kills it anyway when PID 1 exits, better with a TERM
//! first). As a subreaper, only berth's own descendants: `kill(-1)` there
//! would reach every process the user may signal on the host.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::host::read_kernel_text;

/// One row of /proc/<pid>/stat that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub comm: String,
}

/// Parses /proc/<pid>/stat. The command name sits in parentheses and may
/// itself contain spaces and parentheses, so split at the *last* ')'.
pub fn parse_stat(text: &str) -> Option<ProcInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(ProcInfo { pid, ppid, comm })
}

/// Every process visible under `proc_root`; unreadable entries (a process
/// that just exited) are skipped.
pub fn list(proc_root: &Path) -> Vec<ProcInfo> {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| read_kernel_text(entry.path().join("stat")).ok())
        .filter_map(|text| parse_stat(&text))
        .collect()
}

/// The pid of a process named `comm` under `proc_root`, if one runs.
pub fn find_by_comm(proc_root: &Path, comm: &str) -> Option<i32> {
    list(proc_root)
        .into_iter()
        .find(|info| info.comm == comm)
        .map(|info| info.pid)
}

/// The processes to stop at shutdown: all but `me` when berth is PID 1 of
/// its namespace, else the descendants of `me`. `spare(info)` exempts a
/// process and its whole subtree (dockerd stops its own containers).
pub fn to_stop(all: &[ProcInfo], me: i32, spare: &dyn Fn(&ProcInfo) -> bool) -> Vec<i32> {
    let by_pid: HashMap<i32, &ProcInfo> = all.iter().map(|p| (p.pid, p)).collect();
    let mut chosen = Vec::new();
    'each: for info in all {
        if info.pid == me {
            continue;
        }
        // Walk up the parent chain: is `me` an ancestor? Is any ancestor spared?
        let mut cursor = Some(info);
        let mut descends = false;
        let mut steps = 0;
        while let Some(current) = cursor {
            if spare(current) {
                continue 'each;
            }
            if current.ppid == me {
                descends = true;
                break;
            }
            steps += 1;
            if steps > all.len() {
                break; // a cycle can only come from a torn read; stop walking
            }
            cursor = by_pid.get(&current.ppid).copied();
        }
        if descends || me == 1 {
            chosen.push(info.pid);
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, comm: &str) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
        }
    }

    #[test]
    fn parses_stat_with_awkward_names() {
        let info = parse_stat("42 (my (odd) name) S 7 42 42 0 -1").unwrap();
        assert_eq!(info, p(42, 7, "my (odd) name"));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x)"), None);
    }

    /// Found by the `proc_stat` fuzz target: a process whose name is not
    /// UTF-8 (prctl(PR_SET_NAME) takes any bytes) was left out of the list,
    /// so at shutdown it and, under a subreaper, its children got no TERM.
    #[test]
    fn a_process_whose_name_is_not_utf8_is_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (pid, stat) in [
            ("7", &b"7 (sh) S 1 7 7 0 -1 4194560"[..]),
            ("9", b"9 (s282\xb0) S 7 9 9 0 -1 4194560"),
            ("12", b"12 (sleep) S 9 12 12 0 -1 4194560"),
        ] {
            fs::create_dir(dir.path().join(pid)).expect("mkdir");
            fs::write(dir.path().join(pid).join("stat"), stat).expect("write");
        }
        let mut all = list(dir.path());
        all.sort_by_key(|p| p.pid);
        assert_eq!(
            all,
            [p(7, 1, "sh"), p(9, 7, "s282\u{fffd}"), p(12, 9, "sleep")]
        );
        let mut chosen = to_stop(&all, 7, &|_| false);
        chosen.sort_unstable();
        assert_eq!(chosen, [9, 12]);
    }

    #[test]
    fn subreaper_stops_only_its_descendants() {
        let all = [
            p(1, 0, "systemd"),
            p(50, 1, "berth"),
            p(51, 50, "bash"),
            p(52, 51, "sleep"),
            p(60, 1, "unrelated"),
        ];
        let mut chosen = to_stop(&all, 50, &|_| false);
        chosen.sort();
        assert_eq!(chosen, vec![51, 52]);
    }

    #[test]
    fn pid1_stops_everything_but_itself() {
        let all = [p(1, 0, "berth"), p(7, 1, "sh"), p(9, 0, "exec-session")];
        let mut chosen = to_stop(&all, 1, &|_| false);
        chosen.sort();
        assert_eq!(chosen, vec![7, 9]);
    }

    #[test]
    fn spared_subtrees_are_left_alone() {
        let all = [
            p(1, 0, "berth"),
            p(10, 1, "dockerd"),
            p(11, 10, "containerd"),
            p(20, 1, "containerd-shim"),
            p(21, 20, "app"),
            p(30, 1, "orphan"),
        ];
        let spare =
            |info: &ProcInfo| info.comm == "dockerd" || info.comm.starts_with("containerd-shim");
        let mut chosen = to_stop(&all, 1, &spare);
        chosen.sort();
        assert_eq!(chosen, vec![30]);
    }

    #[test]
    fn reads_the_real_proc() {
        let me = std::process::id() as i32;
        let all = list(Path::new("/proc"));
        assert!(all.iter().any(|info| info.pid == me));
    }
}
