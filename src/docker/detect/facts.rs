//! What the probes share: where they look, what /proc said, how a ping reads.

use std::path::PathBuf;

use super::*;
use crate::docker::client::endpoint::DEFAULT_SOCKETS;
use crate::docker::client::ping::PingReport;
use crate::docker::engine::rootless::RootlessPaths;
use crate::docker::finding::{Finding, Verdict};
use crate::host::caps::{self, ProcStatus};
use crate::host::mountinfo::MountInfo;
use crate::host::read_kernel_text;

/// Where the probes look. Production values from [`HostPaths::for_host`];
/// tests point them at fixtures in a temp dir.
#[derive(Debug, Clone)]
pub struct HostPaths {
    /// /proc/self: status, mountinfo, uid_map are read from here.
    pub proc_self: PathBuf,
    pub cap_last_cap: PathBuf,
    /// Default sockets, probed in order (XDG_RUNTIME_DIR's is added from the env).
    pub socket_candidates: Vec<PathBuf>,
    pub cgroup_root: PathBuf,
    pub rootless: RootlessPaths,
}

impl HostPaths {
    /// The real places, under the host's proc root.
    pub fn for_host(host: &HostFacts) -> Self {
        Self {
            proc_self: host.proc_self(),
            cap_last_cap: host.proc("sys/kernel/cap_last_cap"),
            socket_candidates: DEFAULT_SOCKETS.iter().map(PathBuf::from).collect(),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            rootless: RootlessPaths::for_host(host),
        }
    }
}

/// Everything read from /proc once, with what could not be read.
pub(super) struct ProcFacts {
    pub(super) status: Option<ProcStatus>,
    pub(super) mounts: MountInfo,
    pub(super) uid_map: Option<String>,
    pub(super) last_cap: Option<u32>,
}

impl ProcFacts {
    pub(super) fn read(paths: &HostPaths, findings: &mut Vec<Finding>) -> Self {
        let mut read = |probe: &'static str, path: PathBuf| match read_kernel_text(&path) {
            Ok(text) => Some(text),
            Err(e) => {
                findings.push(Finding::new(
                    probe,
                    Verdict::Warning,
                    format!("cannot read {}: {e}", path.display()),
                ));
                None
            }
        };
        let status =
            read("proc-status", paths.proc_self.join("status")).map(|t| ProcStatus::parse(&t));
        let mounts = read("mountinfo", paths.proc_self.join("mountinfo"))
            .map(|t| MountInfo::parse(&t))
            .unwrap_or_default();
        let uid_map = read("uid_map", paths.proc_self.join("uid_map"));
        let last_cap =
            read("cap_last_cap", paths.cap_last_cap.clone()).and_then(|t| caps::parse_last_cap(&t));
        Self {
            status,
            mounts,
            uid_map,
            last_cap,
        }
    }
}

pub(super) fn describe_ping(report: &PingReport) -> String {
    match &report.engine {
        Some(e) => format!(
            "{} {} (API {}, {}) after {} attempt(s)",
            e.product(),
            e.version,
            e.api_version,
            e.os,
            report.attempts
        ),
        None => format!(
            "{} after {} attempt(s) in {} ms",
            failure_text(report),
            report.attempts,
            report.elapsed_ms
        ),
    }
}

pub(super) fn failure_text(report: &PingReport) -> String {
    report
        .failure
        .as_ref()
        .map_or_else(|| "no answer".to_owned(), ToString::to_string)
}
