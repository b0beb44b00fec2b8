//! dockerd's command line, as a pure function of decided options.
//!
//! The init spawns it through the reaper; this module only says what to run.
//! Rules kept here so they cannot be forgotten at a call site:
//! - a TCP listener gets TLS (DESIGN invariant 8); plain TCP only when asked
//!   for explicitly, and then with `--tls=false`, which tells dockerd the
//!   choice is deliberate so it skips its 15 s "insecure TCP" startup sleep.
//!   Measured with this machine's dockerd 20.10.24 (isolated daemon in a
//!   network namespace, time to "API listen on"): plain TCP on a
//!   non-loopback address 16.3 s; the same with `--tls=false` 1.3 s; plain
//!   TCP on 127.0.0.1 1.1 s (loopback is exempt). The remaining 1 s is an
//!   unconditional sleep after the plain-TCP warning in 20.10; TLS costs none;
//! - a TCP listener the user wrote themselves (`-H`/`--host` in
//!   `BERTH_DOCKERD_ARGS`, `hosts` in daemon.json) counts as asked for by
//!   name: it is made fast the same way, or secure with the certificates of
//!   `DOCKER_TLS_CERTDIR` when that is set; TLS flags or keys of the user's
//!   own win and berth adds none ([`TcpSecurity`]);
//! - dockerd refuses a directive given both as a flag and in its
//!   configuration file ("the following directives are specified both as a
//!   flag and in the configuration file: hosts"), so when daemon.json sets
//!   `hosts`, berth passes no `--host` of its own (the file must then name
//!   berth's socket, see [`DockerdArgsError::ConfigHostsWithoutSocket`]),
//!   and no TLS flag when it sets any TLS key;
//! - `--group <gid>` puts the socket in a group the user already has, so no
//!   group file needs editing;
//! - under sysbox, dockerd runs plain: no `--data-root` or storage driver
//!   (sysbox backs /var/lib/docker itself).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::docker::engine::tls::DaemonTlsPaths;

/// Default unix socket of a root dockerd.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/docker.sock";
/// Conventional TLS port.
pub const DOCKER_TLS_PORT: u16 = 2376;

/// What the installed dockerd supports, learnt from `dockerd --help` (run it
/// once, before the reaper starts). The default assumes the oldest dockerd
/// berth supports (20.10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DockerdFeatures {
    /// `--default-network-opt` (dockerd 24.0+; absent from 20.10's help).
    pub default_network_opt: bool,
}

impl DockerdFeatures {
    /// Read the features from the text of `dockerd --help`.
    pub fn from_help(help: &str) -> Self {
        Self {
            default_network_opt: help.contains("--default-network-opt"),
        }
    }
}

/// How dockerd runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// Privileged container, berth's own dockerd (dind).
    #[default]
    Privileged,
    /// Under the sysbox runtime: plain dockerd, no data-root or driver changes.
    Sysbox,
    /// Under rootlesskit as an unprivileged user (see `rootless`): no socket
    /// group (the socket lives in the user's runtime dir).
    Rootless,
}

/// The TCP listener, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TcpListen {
    #[default]
    None,
    /// `host:port` with mutual TLS.
    Tls { addr: String, tls: DaemonTlsPaths },
    /// `host:port` without TLS: only when the user asked for it by name.
    PlainExplicitlyRequested { addr: String },
}

/// One `--default-address-pool base=...,size=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPool {
    pub base: String,
    pub size: u8,
}

/// Everything decided before dockerd starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerdOptions {
    pub program: PathBuf,
    pub flavor: Flavor,
    pub unix_socket: PathBuf,
    pub tcp: TcpListen,
    pub data_root: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub storage_driver: Option<String>,
    pub mtu: Option<u32>,
    pub features: DockerdFeatures,
    /// gid for `--group`.
    pub socket_group: Option<u32>,
    /// Prepended to `base_path` in dockerd's PATH (iptables backend links).
    pub iptables_bin_dir: Option<PathBuf>,
    pub base_path: OsString,
    pub shutdown_timeout_secs: Option<u32>,
    pub userland_proxy: Option<bool>,
    pub default_address_pools: Vec<AddressPool>,
    /// Appended last, verbatim (the user's own dockerd flags).
    pub extra_args: Vec<String>,
    /// What dockerd's configuration file says about listeners and TLS
    /// (None: no file, or berth did not read one).
    pub config_file: Option<DaemonConfigFile>,
}

/// dockerd's default configuration file when it runs as root.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/docker/daemon.json";

/// What dockerd's configuration file sets that berth's own flags must not
/// contradict: `hosts`, and whether any TLS key is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonConfigFile {
    pub path: PathBuf,
    /// `hosts`, when the file sets it.
    pub hosts: Option<Vec<String>>,
    /// Any of `tls`, `tlsverify`, `tlscacert`, `tlscert`, `tlskey`.
    pub sets_tls: bool,
}

#[derive(Deserialize)]
struct DaemonJson {
    hosts: Option<Vec<String>>,
    tls: Option<serde_json::Value>,
    tlsverify: Option<serde_json::Value>,
    tlscacert: Option<serde_json::Value>,
    tlscert: Option<serde_json::Value>,
    tlskey: Option<serde_json::Value>,
}

impl DaemonConfigFile {
    /// The parts of daemon.json's `text` berth needs (other keys are
    /// dockerd's business).
    pub fn parse(path: &Path, text: &str) -> Result<DaemonConfigFile, serde_json::Error> {
        let json: DaemonJson = serde_json::from_str(text)?;
        let sets_tls = [
            &json.tls,
            &json.tlsverify,
            &json.tlscacert,
            &json.tlscert,
            &json.tlskey,
        ]
        .iter()
        .any(|key| key.is_some());
        Ok(DaemonConfigFile {
            path: path.to_owned(),
            hosts: json.hosts,
            sets_tls,
        })
    }

    /// Reads `path`; Ok(None) when it does not exist. An unreadable or
    /// invalid file is an error for the caller to report (dockerd itself
    /// refuses to start with it).
    pub fn read(path: &Path) -> Result<Option<DaemonConfigFile>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => DaemonConfigFile::parse(path, &text)
                .map(Some)
                .map_err(|err| format!("{} is not valid JSON: {err}", path.display())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(format!("cannot read {}: {err}", path.display())),
        }
    }
}

/// The configuration file dockerd will read: `--config-file` among the
/// user's flags, else `default`.
pub fn config_file_path(extra_args: &[String], default: &Path) -> PathBuf {
    flag_values(extra_args, &["--config-file"], None)
        .pop()
        .map_or_else(|| default.to_owned(), PathBuf::from)
}

/// Where the values of a flag sit among `args`, in every form pflag
/// (dockerd's flag parser) takes: `--name VALUE`, `--name=VALUE`, and for a
/// one-letter `short`, `-S VALUE`, `-SVALUE` and `-S=VALUE`. Each spot is
/// (index of the argument, byte offset of the value in it). Flags are read
/// one at a time, without knowing which others take a value, so a value that
/// itself looks like one of these flags is misread: harmless for what berth
/// does with them.
fn flag_value_spots(args: &[String], long: &str, short: Option<char>) -> Vec<(usize, usize)> {
    let mut spots = Vec::new();
    let mut i = 0;
    while i < args.len() && args[i] != "--" {
        let arg = &args[i];
        if arg == long {
            if i + 1 < args.len() {
                spots.push((i + 1, 0));
            }
            i += 1;
        } else if arg.strip_prefix(long).is_some_and(|r| r.starts_with('=')) {
            spots.push((i, long.len() + 1));
        } else if let Some(short) = short.filter(|_| !arg.starts_with("--")) {
            match arg.strip_prefix('-').and_then(|r| r.strip_prefix(short)) {
                Some("") => {
                    if i + 1 < args.len() {
                        spots.push((i + 1, 0));
                    }
                    i += 1;
                }
                Some(rest) if rest.starts_with('=') => spots.push((i, 3)),
                Some(_) => spots.push((i, 2)),
                None => {}
            }
        }
        i += 1;
    }
    spots
}

/// The values of a flag among `args` (see [`flag_value_spots`]).
fn flag_values(args: &[String], long: &[&str], short: Option<char>) -> Vec<String> {
    let mut spots: Vec<(usize, usize)> = long
        .iter()
        .flat_map(|name| flag_value_spots(args, name, short))
        .collect();
    spots.sort_unstable();
    spots.dedup();
    spots
        .into_iter()
        .map(|(i, offset)| args[i][offset..].to_owned())
        .collect()
}

/// dockerd flags whose value is a file or directory, relative to dockerd's
/// working directory when not absolute (`dockerd --help` of 20.10 and 26).
const PATH_FLAGS: [(&str, Option<char>); 8] = [
    ("--config-file", None),
    ("--data-root", None),
    ("--exec-root", None),
    ("--pidfile", Some('p')),
    ("--seccomp-profile", None),
    ("--tlscacert", None),
    ("--tlscert", None),
    ("--tlskey", None),
];
/// Flags naming a program or a socket: a path only with a `/` in it (a bare
/// name is looked up on PATH, or is an address).
const PROGRAM_FLAGS: [&str; 3] = ["--init-path", "--userland-proxy-path", "--containerd"];
/// `--seccomp-profile` values that are not files.
const SECCOMP_KEYWORDS: [&str; 3] = ["unconfined", "builtin", "default"];

/// Makes the relative paths among the user's dockerd flags absolute from
/// `base` (berth's start directory): berth leaves that directory once the
/// command runs, and a dockerd restarted later would start in `/`. Covers
/// the file and directory flags ([`PATH_FLAGS`]), program and socket flags
/// with a `/` ([`PROGRAM_FLAGS`]) and `-H`/`--host unix://relative`, in
/// every form [`flag_value_spots`] reads. Returns the rewritten arguments,
/// for the log.
pub fn anchor_relative_paths(args: &mut [String], base: &Path) -> Vec<String> {
    let anchor = |value: &str| base.join(value).display().to_string();
    let relative = |value: &str| !value.is_empty() && Path::new(value).is_relative();
    let mut rewrites: Vec<(usize, usize, String)> = Vec::new();
    for (long, short) in PATH_FLAGS {
        for (i, offset) in flag_value_spots(args, long, short) {
            let value = &args[i][offset..];
            let keyword = long == "--seccomp-profile" && SECCOMP_KEYWORDS.contains(&value);
            if relative(value) && !keyword {
                rewrites.push((i, offset, anchor(value)));
            }
        }
    }
    for long in PROGRAM_FLAGS {
        for (i, offset) in flag_value_spots(args, long, None) {
            let value = &args[i][offset..];
            if relative(value) && value.contains('/') {
                rewrites.push((i, offset, anchor(value)));
            }
        }
    }
    for (i, offset) in flag_value_spots(args, "--host", Some('H')) {
        let value = &args[i][offset..];
        if let Some(path) = value.strip_prefix("unix://").filter(|p| relative(p)) {
            rewrites.push((i, offset, format!("unix://{}", anchor(path))));
        }
    }
    rewrites
        .into_iter()
        .map(|(i, offset, value)| {
            args[i] = format!("{}{value}", &args[i][..offset]);
            args[i].clone()
        })
        .collect()
}

/// Whether the user's own flags set TLS up (`--tls`, `--tlsverify`,
/// `--tlscacert`, `--tlscert`, `--tlskey`, in any form).
fn tls_flags_given(args: &[String]) -> bool {
    const TLS_FLAGS: [&str; 5] = [
        "--tls",
        "--tlsverify",
        "--tlscacert",
        "--tlscert",
        "--tlskey",
    ];
    args.iter().take_while(|a| *a != "--").any(|arg| {
        let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
        TLS_FLAGS.contains(&name)
    })
}

/// Whether a `-H` value is a TCP listener: `tcp://...`, or an address
/// without a scheme, which dockerd reads as TCP (`-H 0.0.0.0:2375`; its
/// opts.parseDaemonHost).
pub fn is_tcp_host(host: &str) -> bool {
    match host.split_once("://") {
        Some((scheme, _)) => scheme == "tcp",
        None => !host.trim().is_empty(),
    }
}

/// A TCP listener the user asked for, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListener {
    pub host: String,
    /// `BERTH_DOCKERD_ARGS`, or the configuration file's path.
    pub source: String,
}

/// The TCP listeners of the user's own flags and configuration file.
pub fn user_tcp_listeners(opts: &DockerdOptions) -> Vec<UserListener> {
    let from_args = flag_values(&opts.extra_args, &["--host"], Some('H'))
        .into_iter()
        .map(|host| (host, EXTRA_ARGS_VAR.to_owned()));
    let from_file = opts.config_file.iter().flat_map(|file| {
        file.hosts
            .iter()
            .flatten()
            .map(|host| (host.clone(), file.path.display().to_string()))
    });
    from_args
        .chain(from_file)
        .filter(|(host, _)| is_tcp_host(host))
        .map(|(host, source)| UserListener { host, source })
        .collect()
}

/// The variable that carries the user's own dockerd flags.
pub const EXTRA_ARGS_VAR: &str = "BERTH_DOCKERD_ARGS";

/// How dockerd's TCP listeners (berth's own and the user's) are secured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpSecurity {
    /// No TCP listener at all.
    NoTcp,
    /// TLS from the user's own flags or configuration file: berth adds nothing.
    UserTls,
    /// berth's certificates (`DOCKER_TLS_CERTDIR`): `--tlsverify` and its files.
    BerthTls(DaemonTlsPaths),
    /// Plain TCP, as asked by name: `--tls=false` so dockerd does not sleep.
    Plain,
}

impl DockerdOptions {
    /// berth's own TCP listener, unless the configuration file sets `hosts`
    /// (then berth may pass no `--host` at all).
    fn own_tcp_host(&self) -> Option<&str> {
        if self.file_sets_hosts() {
            return None;
        }
        match &self.tcp {
            TcpListen::None => None,
            TcpListen::Tls { addr, .. } | TcpListen::PlainExplicitlyRequested { addr } => {
                Some(addr)
            }
        }
    }

    fn file_sets_hosts(&self) -> bool {
        self.config_file.as_ref().is_some_and(|f| f.hosts.is_some())
    }

    /// How the TCP listeners are secured (see [`TcpSecurity`]).
    pub fn tcp_security(&self) -> TcpSecurity {
        if self.own_tcp_host().is_none() && user_tcp_listeners(self).is_empty() {
            return TcpSecurity::NoTcp;
        }
        let file_tls = self.config_file.as_ref().is_some_and(|f| f.sets_tls);
        if file_tls || tls_flags_given(&self.extra_args) {
            return TcpSecurity::UserTls;
        }
        match &self.tcp {
            TcpListen::Tls { tls, .. } => TcpSecurity::BerthTls(tls.clone()),
            TcpListen::None | TcpListen::PlainExplicitlyRequested { .. } => TcpSecurity::Plain,
        }
    }
}

impl Default for DockerdOptions {
    fn default() -> Self {
        Self {
            program: PathBuf::from("dockerd"),
            flavor: Flavor::Privileged,
            unix_socket: PathBuf::from(DEFAULT_UNIX_SOCKET),
            tcp: TcpListen::None,
            data_root: None,
            exec_root: None,
            pidfile: None,
            storage_driver: None,
            mtu: None,
            features: DockerdFeatures::default(),
            socket_group: None,
            iptables_bin_dir: None,
            base_path: OsString::from(
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
            shutdown_timeout_secs: None,
            userland_proxy: None,
            default_address_pools: Vec::new(),
            extra_args: Vec::new(),
            config_file: None,
        }
    }
}

/// The process to spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerdCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables to set (on top of the inherited environment).
    pub env: Vec<(String, OsString)>,
}

/// Options that cannot make a valid command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerdArgsError {
    #[error("TCP listen address {addr:?} is not host:port (e.g. 0.0.0.0:2376)")]
    BadTcpAddress { addr: String },
    #[error("unix socket path {path:?} is not absolute")]
    RelativeSocket { path: PathBuf },
    #[error("{} sets hosts {hosts:?} without berth's socket: dockerd refuses a --host flag next to a hosts key, and berth needs {socket} to check its engine and hand it to your command; add \"unix://{socket}\" to hosts", path.display())]
    ConfigHostsWithoutSocket {
        path: PathBuf,
        hosts: Vec<String>,
        socket: String,
    },
}

/// Whether `hosts` names the unix socket at `socket` (`unix://` alone is
/// dockerd's default socket; /var/run is a link to /run).
fn hosts_name_socket(hosts: &[String], socket: &Path) -> bool {
    let normal = |p: &str| {
        p.strip_prefix("/var")
            .map(str::to_owned)
            .unwrap_or_else(|| p.to_owned())
    };
    let want = normal(&socket.to_string_lossy());
    hosts.iter().any(|host| match host.strip_prefix("unix://") {
        Some("") => normal(DEFAULT_UNIX_SOCKET) == want,
        Some(path) => normal(path) == want,
        None => false,
    })
}

/// Accept `host:port` or `tcp://host:port`; return `host:port`.
fn normalize_tcp(addr: &str) -> Result<String, DockerdArgsError> {
    let bare = addr.strip_prefix("tcp://").unwrap_or(addr);
    let bad = || DockerdArgsError::BadTcpAddress {
        addr: addr.to_owned(),
    };
    let (host, port) = bare.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(bare.to_owned())
}

/// dockerd's argv and environment for `opts`.
pub fn dockerd_command(opts: &DockerdOptions) -> Result<DockerdCommand, DockerdArgsError> {
    if !opts.unix_socket.is_absolute() {
        return Err(DockerdArgsError::RelativeSocket {
            path: opts.unix_socket.clone(),
        });
    }
    let mut args = Vec::new();
    match opts
        .config_file
        .as_ref()
        .and_then(|f| f.hosts.as_ref().map(|h| (f, h)))
    {
        Some((file, hosts)) if !hosts_name_socket(hosts, &opts.unix_socket) => {
            return Err(DockerdArgsError::ConfigHostsWithoutSocket {
                path: file.path.clone(),
                hosts: hosts.clone(),
                socket: opts.unix_socket.display().to_string(),
            });
        }
        // The file's hosts are the listeners; a --host flag would stop dockerd.
        Some(_) => {}
        None => {
            args.push(format!("--host=unix://{}", opts.unix_socket.display()));
            if let Some(addr) = opts.own_tcp_host() {
                args.push(format!("--host=tcp://{}", normalize_tcp(addr)?));
            }
        }
    }
    match opts.tcp_security() {
        TcpSecurity::NoTcp | TcpSecurity::UserTls => {}
        TcpSecurity::BerthTls(tls) => args.extend(tls.dockerd_flags()),
        TcpSecurity::Plain => args.push("--tls=false".to_owned()),
    }
    if opts.flavor != Flavor::Sysbox {
        if let Some(root) = &opts.data_root {
            args.push(format!("--data-root={}", root.display()));
        }
        if let Some(driver) = &opts.storage_driver {
            args.push(format!("--storage-driver={driver}"));
        }
    }
    if let Some(root) = &opts.exec_root {
        args.push(format!("--exec-root={}", root.display()));
    }
    if let Some(pidfile) = &opts.pidfile {
        args.push(format!("--pidfile={}", pidfile.display()));
    }
    if let (Some(gid), false) = (opts.socket_group, opts.flavor == Flavor::Rootless) {
        args.push(format!("--group={gid}"));
    }
    if let Some(mtu) = opts.mtu {
        args.push(format!("--mtu={mtu}"));
        if opts.features.default_network_opt {
            args.push(format!(
                "--default-network-opt=bridge=com.docker.network.driver.mtu={mtu}"
            ));
        }
    }
    for pool in &opts.default_address_pools {
        args.push(format!(
            "--default-address-pool=base={},size={}",
            pool.base, pool.size
        ));
    }
    if let Some(secs) = opts.shutdown_timeout_secs {
        args.push(format!("--shutdown-timeout={secs}"));
    }
    if let Some(proxy) = opts.userland_proxy {
        args.push(format!("--userland-proxy={proxy}"));
    }
    args.extend(opts.extra_args.iter().cloned());

    let mut path = OsString::new();
    if let Some(dir) = &opts.iptables_bin_dir {
        path.push(dir.as_os_str());
        if !opts.base_path.is_empty() {
            path.push(":");
        }
    }
    path.push(&opts.base_path);
    Ok(DockerdCommand {
        program: opts.program.clone(),
        args,
        env: vec![("PATH".to_owned(), path)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls() -> DaemonTlsPaths {
        DaemonTlsPaths {
            ca: "/certs/server/ca.pem".into(),
            cert: "/certs/server/cert.pem".into(),
            key: "/certs/server/key.pem".into(),
        }
    }

    #[test]
    fn default_is_only_the_unix_socket() {
        let cmd = dockerd_command(&DockerdOptions::default()).expect("cmd");
        assert_eq!(cmd.args, vec!["--host=unix:///var/run/docker.sock"]);
        assert_eq!(cmd.program, PathBuf::from("dockerd"));
        assert_eq!(
            cmd.env,
            vec![(
                "PATH".to_owned(),
                OsString::from("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            )]
        );
    }

    #[test]
    fn tls_listener_has_tlsverify_and_no_tls_false() {
        let opts = DockerdOptions {
            tcp: TcpListen::Tls {
                addr: "tcp://0.0.0.0:2376".into(),
                tls: tls(),
            },
            ..DockerdOptions::default()
        };
        let args = dockerd_command(&opts).expect("cmd").args;
        assert_eq!(
            args,
            vec![
                "--host=unix:///var/run/docker.sock",
                "--host=tcp://0.0.0.0:2376",
                "--tlsverify",
                "--tlscacert=/certs/server/ca.pem",
                "--tlscert=/certs/server/cert.pem",
                "--tlskey=/certs/server/key.pem",
            ]
        );
    }

    #[test]
    fn plain_tcp_only_when_requested_and_then_with_tls_false() {
        let opts = DockerdOptions {
            tcp: TcpListen::PlainExplicitlyRequested {
                addr: "0.0.0.0:2375".into(),
            },
            ..DockerdOptions::default()
        };
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(args.contains(&"--host=tcp://0.0.0.0:2375".to_owned()));
        assert!(args.contains(&"--tls=false".to_owned()));
        assert!(!args.iter().any(|a| a.starts_with("--tlsverify")));
        // Without a TCP listener nothing TCP-related appears at all.
        let args = dockerd_command(&DockerdOptions::default())
            .expect("cmd")
            .args;
        assert!(!args
            .iter()
            .any(|a| a.contains("tcp://") || a.starts_with("--tls")));
    }

    fn with_args(args: &[&str]) -> DockerdOptions {
        DockerdOptions {
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            ..DockerdOptions::default()
        }
    }

    fn hosts(opts: &DockerdOptions) -> Vec<String> {
        user_tcp_listeners(opts)
            .into_iter()
            .map(|l| l.host)
            .collect()
    }

    /// Every form of -H/--host dockerd's flag parser takes is recognised as a
    /// TCP listener, and an address without a scheme is TCP too (issue 13).
    #[test]
    fn every_form_of_a_tcp_host_flag_is_recognised() {
        for args in [
            &["-H", "tcp://0.0.0.0:2375"][..],
            &["-Htcp://0.0.0.0:2375"],
            &["-H=tcp://0.0.0.0:2375"],
            &["--host", "tcp://0.0.0.0:2375"],
            &["--host=tcp://0.0.0.0:2375"],
            &["--debug", "--host=tcp://0.0.0.0:2375", "--label", "a=b"],
        ] {
            assert_eq!(hosts(&with_args(args)), ["tcp://0.0.0.0:2375"], "{args:?}");
            let listener = &user_tcp_listeners(&with_args(args))[0];
            assert_eq!(listener.source, "BERTH_DOCKERD_ARGS");
        }
        assert_eq!(hosts(&with_args(&["-H", "0.0.0.0:2375"])), ["0.0.0.0:2375"]);
        for not_tcp in [
            &["-H", "unix:///run/other.sock"][..],
            &["--host=fd://"],
            &["--hosts-file", "x"],
            &["--", "-H", "tcp://0.0.0.0:2375"],
        ] {
            assert!(hosts(&with_args(not_tcp)).is_empty(), "{not_tcp:?}");
        }
        assert!(is_tcp_host("tcp://") && is_tcp_host(":2375") && !is_tcp_host("ssh://x"));
    }

    /// A TCP listener in the user's flags, without certificates: fast
    /// (`--tls=false`, so dockerd skips its 15 s sleep); with
    /// DOCKER_TLS_CERTDIR's material: `--tlsverify` and berth's files; with
    /// the user's own TLS flags: nothing added.
    #[test]
    fn a_users_tcp_listener_is_made_fast_or_secure() {
        let args = dockerd_command(&with_args(&["--host=tcp://0.0.0.0:2375"]))
            .expect("cmd")
            .args;
        assert_eq!(
            args,
            [
                "--host=unix:///var/run/docker.sock",
                "--tls=false",
                "--host=tcp://0.0.0.0:2375"
            ]
        );
        let mut opts = with_args(&["-H", "tcp://0.0.0.0:2377"]);
        opts.tcp = TcpListen::Tls {
            addr: "0.0.0.0:2376".into(),
            tls: tls(),
        };
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(args.contains(&"--tlsverify".to_owned()), "{args:?}");
        assert!(!args.contains(&"--tls=false".to_owned()), "{args:?}");
        let opts = with_args(&[
            "-H",
            "tcp://0.0.0.0:2376",
            "--tlsverify",
            "--tlscacert=/mine/ca.pem",
        ]);
        assert_eq!(opts.tcp_security(), TcpSecurity::UserTls);
        let args = dockerd_command(&opts).expect("cmd").args;
        assert_eq!(
            args.iter().filter(|a| a.starts_with("--tls")).count(),
            2,
            "{args:?}"
        );
        // No TCP anywhere: nothing TLS-related.
        assert_eq!(
            with_args(&["-H", "unix:///x.sock"]).tcp_security(),
            TcpSecurity::NoTcp
        );
    }

    fn file(text: &str) -> DaemonConfigFile {
        DaemonConfigFile::parse(Path::new("/etc/docker/daemon.json"), text).expect("valid json")
    }

    /// `hosts` in daemon.json: dockerd refuses a --host flag next to it, so
    /// berth passes none; its TCP hosts are made fast or secure like the
    /// flags'; a file without berth's socket is an error naming the fix.
    #[test]
    fn hosts_in_the_configuration_file() {
        let mut opts = DockerdOptions {
            config_file: Some(file(
                r#"{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"], "debug": true}"#,
            )),
            ..DockerdOptions::default()
        };
        let args = dockerd_command(&opts).expect("cmd").args;
        assert_eq!(args, ["--tls=false"]);
        let listeners = user_tcp_listeners(&opts);
        assert_eq!(listeners[0].source, "/etc/docker/daemon.json");
        // The certificates of DOCKER_TLS_CERTDIR secure the file's listener.
        opts.tcp = TcpListen::Tls {
            addr: "0.0.0.0:2376".into(),
            tls: tls(),
        };
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(!args.iter().any(|a| a.starts_with("--host")), "{args:?}");
        assert!(args.contains(&"--tlsverify".to_owned()), "{args:?}");
        // The file's own TLS keys win.
        opts.config_file = Some(file(
            r#"{"hosts": ["unix://", "tcp://0.0.0.0:2376"], "tlsverify": true}"#,
        ));
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(!args.iter().any(|a| a.starts_with("--tls")), "{args:?}");
        // /run is /var/run.
        opts.config_file = Some(file(r#"{"hosts": ["unix:///run/docker.sock"]}"#));
        assert!(dockerd_command(&opts).is_ok());
        opts.config_file = Some(file(r#"{"hosts": ["tcp://0.0.0.0:2375"]}"#));
        let err = dockerd_command(&opts).expect_err("no unix socket");
        assert!(matches!(
            err,
            DockerdArgsError::ConfigHostsWithoutSocket { .. }
        ));
        assert!(
            err.to_string()
                .contains("add \"unix:///var/run/docker.sock\" to hosts"),
            "{err}"
        );
        // A file without hosts changes nothing.
        opts.config_file = Some(file(r#"{"log-level": "warn"}"#));
        let args = dockerd_command(&opts).expect("cmd").args;
        assert_eq!(args[0], "--host=unix:///var/run/docker.sock");
        assert!(DaemonConfigFile::parse(Path::new("x"), "{not json").is_err());
    }

    #[test]
    fn the_configuration_file_is_the_users_or_dockerds_default() {
        let default = Path::new(DEFAULT_CONFIG_FILE);
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(config_file_path(&args(&["--debug"]), default), default);
        assert_eq!(
            config_file_path(&args(&["--config-file", "/srv/d.json"]), default),
            Path::new("/srv/d.json")
        );
        assert_eq!(
            config_file_path(&args(&["--config-file=/srv/e.json"]), default),
            Path::new("/srv/e.json")
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            DaemonConfigFile::read(&dir.path().join("none.json")),
            Ok(None)
        );
        std::fs::write(dir.path().join("bad.json"), "{").expect("write");
        let err = DaemonConfigFile::read(&dir.path().join("bad.json")).expect_err("invalid");
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn bad_tcp_address_and_relative_socket_are_errors() {
        for addr in ["0.0.0.0", ":2375", "host:port", "tcp://x:99999"] {
            let opts = DockerdOptions {
                tcp: TcpListen::PlainExplicitlyRequested { addr: addr.into() },
                ..DockerdOptions::default()
            };
            assert!(
                matches!(
                    dockerd_command(&opts),
                    Err(DockerdArgsError::BadTcpAddress { .. })
                ),
                "{addr}"
            );
        }
        let opts = DockerdOptions {
            unix_socket: "docker.sock".into(),
            ..DockerdOptions::default()
        };
        assert!(matches!(
            dockerd_command(&opts),
            Err(DockerdArgsError::RelativeSocket { .. })
        ));
    }

    fn everything() -> DockerdOptions {
        DockerdOptions {
            data_root: Some("/data/docker".into()),
            storage_driver: Some("vfs".into()),
            mtu: Some(1450),
            socket_group: Some(998),
            iptables_bin_dir: Some("/run/berth/iptables-bin".into()),
            base_path: "/usr/bin:/bin".into(),
            shutdown_timeout_secs: Some(5),
            userland_proxy: Some(false),
            default_address_pools: vec![AddressPool {
                base: "10.200.0.0/16".into(),
                size: 24,
            }],
            extra_args: vec!["--debug".into()],
            ..DockerdOptions::default()
        }
    }

    #[test]
    fn decided_options_map_to_flags_in_order() {
        let cmd = dockerd_command(&everything()).expect("cmd");
        assert_eq!(
            cmd.args,
            vec![
                "--host=unix:///var/run/docker.sock",
                "--data-root=/data/docker",
                "--storage-driver=vfs",
                "--group=998",
                "--mtu=1450",
                "--default-address-pool=base=10.200.0.0/16,size=24",
                "--shutdown-timeout=5",
                "--userland-proxy=false",
                "--debug",
            ]
        );
        assert_eq!(
            cmd.env,
            vec![(
                "PATH".to_owned(),
                OsString::from("/run/berth/iptables-bin:/usr/bin:/bin")
            )]
        );
    }

    #[test]
    fn default_network_opt_only_when_dockerd_has_it() {
        let mut opts = everything();
        opts.features = DockerdFeatures {
            default_network_opt: true,
        };
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(args.contains(
            &"--default-network-opt=bridge=com.docker.network.driver.mtu=1450".to_owned()
        ));
        assert!(!dockerd_command(&everything())
            .expect("cmd")
            .args
            .iter()
            .any(|a| a.starts_with("--default-network-opt")));
    }

    #[test]
    fn sysbox_keeps_data_root_and_driver_untouched_rootless_drops_group() {
        let mut opts = everything();
        opts.flavor = Flavor::Sysbox;
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(!args
            .iter()
            .any(|a| a.starts_with("--data-root") || a.starts_with("--storage-driver")));
        assert!(args.contains(&"--group=998".to_owned()));
        opts.flavor = Flavor::Rootless;
        let args = dockerd_command(&opts).expect("cmd").args;
        assert!(!args.iter().any(|a| a.starts_with("--group")));
        assert!(args.contains(&"--data-root=/data/docker".to_owned()));
    }

    #[test]
    fn features_from_help_text() {
        assert!(
            !DockerdFeatures::from_help("  --mtu int   Set the containers network MTU\n")
                .default_network_opt
        );
        assert!(
            DockerdFeatures::from_help(
                "      --default-network-opt mapmap   Default network options\n"
            )
            .default_network_opt
        );
    }

    /// Checks flag names and syntax against the installed dockerd: cobra
    /// parses every flag before honouring `--help`, so an unknown flag fails.
    #[test]
    fn installed_dockerd_accepts_the_generated_flags() {
        let dockerd = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(dockerd) = dockerd else {
            eprintln!("skipping: no dockerd installed");
            return;
        };
        let help = std::process::Command::new(&dockerd)
            .arg("--help")
            .output()
            .expect("dockerd --help");
        let features = DockerdFeatures::from_help(&String::from_utf8_lossy(&help.stdout));
        let mut opts = everything();
        opts.features = features;
        opts.tcp = TcpListen::Tls {
            addr: "0.0.0.0:2376".into(),
            tls: tls(),
        };
        let mut args = dockerd_command(&opts).expect("cmd").args;
        args.push("--help".into());
        let out = std::process::Command::new(&dockerd)
            .args(&args)
            .output()
            .expect("run dockerd");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        opts.tcp = TcpListen::PlainExplicitlyRequested {
            addr: "0.0.0.0:2375".into(),
        };
        let mut args = dockerd_command(&opts).expect("cmd").args;
        args.push("--help".into());
        let out = std::process::Command::new(&dockerd)
            .args(&args)
            .output()
            .expect("run dockerd");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !features.default_network_opt {
            // The reason the flag is gated: this dockerd rejects it.
            let out = std::process::Command::new(&dockerd)
                .args([
                    "--default-network-opt=bridge=com.docker.network.driver.mtu=1450",
                    "--help",
                ])
                .output()
                .expect("run dockerd");
            assert!(!out.status.success());
        }
    }
}
