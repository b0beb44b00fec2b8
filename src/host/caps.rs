//! Capabilities and seccomp from /proc/self/status, for the privileged probe.
//!
//! A container is "privileged enough" for dockerd when CAP_SYS_ADMIN and
//! CAP_NET_ADMIN are effective. The bounding set matters separately: when it
//! lacks any capability the kernel knows (see /proc/sys/kernel/cap_last_cap),
//! every `--privileged` inner container fails with "unable to apply caps:
//! operation not permitted", because runc asks for the full set.

use serde::Serialize;

/// Capability names by number (capabilities(7)); index = capability number.
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_SYS_ADMIN: u32 = 21;
/// Loading AppArmor policy (apparmor_parser, as dockerd runs it) needs it.
pub const CAP_MAC_ADMIN: u32 = 33;
/// The last capability before Linux 5.8 added CAP_PERFMON, CAP_BPF and
/// CAP_CHECKPOINT_RESTORE. Engines built before then (Docker 20.10 from
/// Debian, measured here) neither grant nor request the newer ones.
pub const CAP_AUDIT_READ: u32 = 37;

/// The name of capability `n`, or `cap_<n>` for one newer than this table.
pub fn cap_name(n: u32) -> String {
    usize::try_from(n)
        .ok()
        .and_then(|i| CAP_NAMES.get(i))
        .map_or_else(|| format!("cap_{n}"), |s| (*s).to_owned())
}

/// A capability bitmask as printed in /proc/<pid>/status (hex).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn has(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1u64 << cap) != 0
    }

    /// Names of the capabilities in `0..=last_cap` this set lacks.
    pub fn missing_names(self, last_cap: u32) -> Vec<String> {
        (0..=last_cap.min(63))
            .filter(|c| !self.has(*c))
            .map(cap_name)
            .collect()
    }
}

/// Seccomp mode from the `Seccomp:` line (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    Disabled,
    Strict,
    Filter,
}

/// The parts of /proc/self/status the probes need; missing lines stay None.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcStatus {
    pub cap_eff: Option<CapSet>,
    pub cap_bnd: Option<CapSet>,
    pub seccomp: Option<SeccompMode>,
    pub no_new_privs: Option<bool>,
}

impl ProcStatus {
    /// Never fails: unreadable values are left None and reported as unknown.
    pub fn parse(text: &str) -> Self {
        let mut status = Self::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "CapEff" => status.cap_eff = parse_caps(value),
                "CapBnd" => status.cap_bnd = parse_caps(value),
                "Seccomp" => status.seccomp = parse_seccomp(value),
                "NoNewPrivs" => status.no_new_privs = value.parse::<u8>().ok().map(|v| v != 0),
                _ => {}
            }
        }
        status
    }

    /// CAP_SYS_ADMIN and CAP_NET_ADMIN effective: what dockerd needs to run.
    pub fn can_run_dockerd(&self) -> bool {
        self.cap_eff
            .is_some_and(|c| c.has(CAP_SYS_ADMIN) && c.has(CAP_NET_ADMIN))
    }

    /// Capabilities missing from the bounding set; empty when complete or unknown.
    pub fn bounding_set_missing(&self, last_cap: u32) -> Vec<String> {
        self.cap_bnd
            .map(|b| b.missing_names(last_cap))
            .unwrap_or_default()
    }

    /// [`Self::bounding_set_missing`] split into capabilities every engine
    /// requests for `--privileged` (up to CAP_AUDIT_READ) and newer ones.
    pub fn bounding_set_missing_split(&self, last_cap: u32) -> (Vec<String>, Vec<String>) {
        let classic = self.bounding_set_missing(last_cap.min(CAP_AUDIT_READ));
        let newer = match self.cap_bnd {
            Some(b) if last_cap > CAP_AUDIT_READ => ((CAP_AUDIT_READ + 1)..=last_cap.min(63))
                .filter(|c| !b.has(*c))
                .map(cap_name)
                .collect(),
            _ => Vec::new(),
        };
        (classic, newer)
    }
}

fn parse_caps(value: &str) -> Option<CapSet> {
    u64::from_str_radix(value, 16).ok().map(CapSet)
}

fn parse_seccomp(value: &str) -> Option<SeccompMode> {
    match value {
        "0" => Some(SeccompMode::Disabled),
        "1" => Some(SeccompMode::Strict),
        "2" => Some(SeccompMode::Filter),
        _ => None,
    }
}

/// /proc/sys/kernel/cap_last_cap's content, e.g. "40\n".
pub fn parse_last_cap(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    #[test]
    fn privileged_status() {
        let s = ProcStatus::parse(&fixture("status-privileged"));
        assert!(s.can_run_dockerd());
        assert_eq!(s.seccomp, Some(SeccompMode::Disabled));
        assert!(s.bounding_set_missing(40).is_empty());
    }

    #[test]
    fn default_container_status() {
        let s = ProcStatus::parse(&fixture("status-unprivileged"));
        assert!(!s.can_run_dockerd());
        assert_eq!(s.seccomp, Some(SeccompMode::Filter));
        assert!(s
            .bounding_set_missing(40)
            .contains(&"CAP_SYS_ADMIN".to_owned()));
    }

    #[test]
    fn bounding_set_without_sys_resource() {
        let s = ProcStatus::parse(&fixture("status-privileged-no-sys-resource"));
        assert!(s.can_run_dockerd());
        assert_eq!(s.bounding_set_missing(40), ["CAP_SYS_RESOURCE"]);
    }

    #[test]
    fn bounding_set_split_separates_newer_caps() {
        // What a --privileged container of Docker 20.10 got on kernel 6.x here,
        // with the test runtime also dropping CAP_SYS_RESOURCE.
        let s = ProcStatus::parse("CapBnd:\t0000003ffeffffff\n");
        let (classic, newer) = s.bounding_set_missing_split(40);
        assert_eq!(classic, ["CAP_SYS_RESOURCE"]);
        assert_eq!(newer, ["CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]);
        let (classic, newer) = s.bounding_set_missing_split(37);
        assert_eq!((classic.len(), newer.len()), (1, 0));
    }

    #[test]
    fn full_set_and_names() {
        assert_eq!(cap_name(24), "CAP_SYS_RESOURCE");
        assert_eq!(cap_name(41), "cap_41");
        assert!(!CapSet(u64::MAX).has(64));
    }

    #[test]
    fn garbage_is_unknown_not_a_panic() {
        let s = ProcStatus::parse("CapEff:\tzz\nSeccomp: 9\nNoNewPrivs: x\n:::\n");
        assert_eq!(s, ProcStatus::default());
        assert_eq!(parse_last_cap("40\n"), Some(40));
        assert_eq!(parse_last_cap("x"), None);
    }
}
