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
//! - `--group <gid>` puts the socket in a group the user already has, so no
//!   group file needs editing;
//! - under sysbox, dockerd runs plain: no `--data-root` or storage driver
//!   (sysbox backs /var/lib/docker itself).

use std::ffi::OsString;
use std::path::PathBuf;

use serde::Serialize;

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
    let mut args = vec![format!("--host=unix://{}", opts.unix_socket.display())];
    match &opts.tcp {
        TcpListen::None => {}
        TcpListen::Tls { addr, tls } => {
            args.push(format!("--host=tcp://{}", normalize_tcp(addr)?));
            args.extend(tls.dockerd_flags());
        }
        TcpListen::PlainExplicitlyRequested { addr } => {
            args.push(format!("--host=tcp://{}", normalize_tcp(addr)?));
            args.push("--tls=false".to_owned());
        }
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
