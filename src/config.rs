//! Flags and `BERTH_*` variables, resolved into one [`Config`].
//!
//! A flag beats its variable, a variable beats the default. The environment is
//! passed in as a lookup function rather than read by clap's `env` attribute,
//! so resolution is a pure function the unit tests can drive without touching
//! the process environment.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tracing_subscriber::filter::Targets;

use crate::docker::engine::preflight::{AppArmorChoice, IptablesChoice};
use crate::docker::engine::DindSettings;
use crate::docker::host_path::{parse_exports, HostPathExport, EXPORT_VAR};
use crate::docker::mode::{FailurePolicy, Request};
use crate::health_server;
use crate::init::signals;
use crate::logging::{LogFormat, LogTarget};

/// Grace period between SIGTERM and SIGKILL at shutdown. Below `docker
/// stop`'s default 10 s, so berth (not the engine) decides what gets killed
/// and can still reap and report before the engine's SIGKILL.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(8);
/// Quiet by default: berth's warnings and errors, and only the errors of the
/// daemons it runs. dockerd's and containerd's lines are re-emitted under the
/// one target `dockerd` (containerd's tagged `daemon=containerd`, see
/// `docker::engine::daemon`), and their routine warnings (devmapper, blkio,
/// "shim disconnected", grpc reconnects) are noise on a user's terminal;
/// `BERTH_LOG_LEVEL=warn,dockerd=info` brings them back.
pub(crate) const DEFAULT_LOG_LEVEL: &str = "warn,dockerd=error";

const ENV_HELP: &str = "\
Every option can also be set in the environment; a flag wins over its variable:
  BERTH_SUBREAPER=1          --subreaper
  BERTH_PGROUP=1             --pgroup
  BERTH_REMAP_EXIT=143,130   --remap-exit (comma-separated)
  BERTH_PDEATHSIG=TERM       --pdeathsig
  BERTH_GRACE=8s             --grace
  BERTH_USER=dev             --user
  BERTH_DOCKER=auto          --docker
  BERTH_DOCKER_OPT_IN=1      --docker-opt-in (then WS_DOCKER_ENABLE_CLIENT=1 switches Docker on)
  BERTH_ON_DOCKER_FAILURE=warn  --on-docker-failure
  BERTH_REMOTE_TIMEOUT=15s   how long a remote engine (tcp://, ssh://, a context) is pinged before giving up
  BERTH_DOCKERD_ARGS=FLAGS   extra dockerd flags (berth's own dockerd), split as shell words
  BERTH_DOCKERD_LOG=PATH     also append dockerd's output to PATH
  BERTH_DOCKERD_DATA_ROOT=DIR  dockerd's data root (default /var/lib/docker)
  BERTH_DOCKERD_READY_TIMEOUT=60s  how long dockerd may take to answer
  BERTH_IPTABLES=auto        iptables backend for dockerd: auto, legacy, nft
  BERTH_APPARMOR=auto        inner containers under docker-default: auto, require, off
  BERTH_STORAGE_DRIVER=...   dockerd's storage driver (default: chosen by pre-flight)
  DOCKER_TLS_CERTDIR=/certs  generate TLS certificates there and listen on tcp :2376
  DOCKER_TLS_SAN=SANS        extra names for the server certificate
  BERTH_DOCKERD_INSECURE_TCP=ADDR  plain TCP listener (only when asked by name)
  BERTH_EXPORT_HOST_PATH=VAR=DIR[,VAR2=DIR2]  give the command VAR = the host path of DIR (sibling containers)
  BERTH_HEALTH_ADDR=0.0.0.0:9385  serve GET /healthz and /readyz over HTTP there
  BERTH_LOG_LEVEL=warn,dockerd=error  --log-level (dockerd=info: the daemons' own lines)
  BERTH_LOG_FORMAT=text      --log-format
  BERTH_LOG_TARGET=auto      --log-target

Subcommands (only as the first argument; use `berth -- doctor` to run a program named doctor):
  berth doctor [--json] [--user USER]  what berth detects about Docker here, and what to fix
  berth health [--timeout 20s]         exit 0 when the Docker engine answers a ping (--timeout: wait for it)
  berth host-path [--timeout 5s] DIR   print DIR's path on the engine's host (exit 69: no engine, 78: not on a mount)";

/// `berth [OPTIONS] [--] [COMMAND [ARGS...]]`
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "PID 1 for containers that need Docker: prepares Docker access, reaps zombies, forwards signals, runs your command.",
    override_usage = "berth [OPTIONS] [--] [COMMAND [ARGS...]]\n       berth doctor [--json] | berth health | berth host-path DIR",
    after_help = ENV_HELP
)]
pub struct InitArgs {
    /// Become a child subreaper (automatic when berth is not PID 1).
    #[arg(short = 's', long)]
    pub(crate) subreaper: bool,
    /// Send forwarded signals to the command's whole process group.
    #[arg(short = 'g', long)]
    pub(crate) pgroup: bool,
    /// Report this exit code of the command as 0 (repeatable).
    #[arg(short = 'e', long = "remap-exit", value_name = "CODE")]
    pub(crate) remap_exit: Vec<String>,
    /// Signal berth receives when its parent dies (then forwarded as usual).
    #[arg(short = 'p', long, value_name = "SIGNAL")]
    pub(crate) pdeathsig: Option<String>,
    /// Time between SIGTERM and SIGKILL at shutdown, e.g. 8s, 500ms, 3.
    #[arg(short = 't', long, value_name = "DURATION")]
    pub(crate) grace: Option<String>,
    /// Run the command as NAME, UID, NAME:GROUP or UID:GID (berth must be root).
    #[arg(short = 'u', long, value_name = "USER")]
    pub(crate) user: Option<String>,
    /// Docker mode (default: auto, detect).
    #[arg(long, value_name = "MODE", value_enum, ignore_case = true)]
    pub(crate) docker: Option<Request>,
    /// Set Docker up only when WS_DOCKER_ENABLE_CLIENT=1 (or --docker) asks.
    #[arg(long)]
    pub(crate) docker_opt_in: bool,
    /// When Docker cannot be set up in auto mode: warn (run anyway) or fail.
    #[arg(long, value_name = "POLICY", value_enum, ignore_case = true)]
    pub(crate) on_docker_failure: Option<FailurePolicy>,
    /// Log filter: a level (error, warn, info, debug, trace) or targets like warn,dockerd=info.
    #[arg(long, value_name = "FILTER")]
    pub(crate) log_level: Option<String>,
    /// Log format.
    #[arg(long, value_name = "FORMAT", value_enum, ignore_case = true)]
    pub(crate) log_format: Option<LogFormat>,
    /// Log destination (auto: journald when its socket exists).
    #[arg(long, value_name = "TARGET", value_enum, ignore_case = true)]
    pub(crate) log_target: Option<LogTarget>,
    /// The command and its arguments; default: the user's login shell.
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

/// `berth doctor [--json] [--user USER]`
#[derive(Debug, Parser)]
#[command(
    name = "berth doctor",
    bin_name = "berth doctor",
    about = "Report what berth detects about Docker here, what it would do, and what to fix."
)]
pub struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub(crate) json: bool,
    /// Check for this user (default: BERTH_USER, else the current user).
    #[arg(short = 'u', long, value_name = "USER")]
    pub(crate) user: Option<String>,
}

/// `berth health [--timeout DURATION]`
#[derive(Debug, Parser)]
#[command(
    name = "berth health",
    bin_name = "berth health",
    about = "Exit 0 when the Docker engine answers a ping (for HEALTHCHECK).",
    after_help = "Without --timeout: one ping of at most 3 s, as HEALTHCHECK wants (it asks again \
                  itself). With --timeout: wait for the engine, asking again until it answers or \
                  the time is up (no socket yet, a socket that does not answer yet), e.g. in a \
                  devcontainer postStartCommand: berth health --timeout 60s"
)]
pub struct HealthArgs {
    /// Wait up to this long for the engine to answer (e.g. 20s); default: one ping.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
}

/// `berth host-path [--timeout DURATION] DIR`
#[derive(Debug, Parser)]
#[command(
    name = "berth host-path",
    bin_name = "berth host-path",
    about = "Print the host path of DIR, for `docker run -v HOSTPATH:...` on the host's engine.",
    after_help = "Exit codes: 0 printed; 69 no Docker engine answers; 78 this container is not on \
                  that engine, or DIR is not on a bind mount or volume (or is on a tmpfs)."
)]
pub struct HostPathArgs {
    /// How long each engine API call may take.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// A directory inside this container.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

/// Everything berth needs to know, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) subreaper: bool,
    pub(crate) signal_group: bool,
    pub(crate) remap_exit: Vec<u8>,
    pub(crate) pdeathsig: Option<i32>,
    pub(crate) grace: Duration,
    /// Whom the command runs as, and who asked (`--user` or BERTH_USER).
    pub(crate) user: Option<UserRequest>,
    /// What was asked about Docker, decided once (see [`Request::combine`]).
    pub(crate) docker: Request,
    /// Why: which flag, variable or default gave [`Self::docker`].
    pub(crate) docker_why: String,
    pub(crate) on_docker_failure: FailurePolicy,
    /// BERTH_REMOTE_TIMEOUT: how long a remote engine (DOCKER_HOST tcp:// or
    /// ssh://, a context) is pinged before berth gives up on it.
    pub(crate) remote_timeout: Duration,
    pub log_filter: Targets,
    pub log_format: LogFormat,
    pub log_target: LogTarget,
    pub(crate) dind: DindSettings,
    /// BERTH_EXPORT_HOST_PATH: variables set to the host path of a directory.
    pub(crate) export_host_paths: Vec<HostPathExport>,
    /// BERTH_HEALTH_ADDR: where the HTTP health endpoint listens.
    pub(crate) health_addr: Option<SocketAddr>,
    pub(crate) command: Vec<OsString>,
}

/// A target user (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`) and where it came from.
///
/// The source matters when berth is not root and cannot switch users: an
/// explicit `--user` that cannot be honoured is an error, a BERTH_USER that an
/// image sets for its root start (`ENV BERTH_USER=dev`) is a warning, because
/// `docker run --user`, Kubernetes' runAsUser and a devcontainer's
/// containerUser start berth as the user already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRequest {
    pub(crate) spec: String,
    pub(crate) source: UserSource,
}

/// Which setting named the target user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSource {
    /// `--user` on berth's command line (or `berth doctor --user`).
    Flag,
    /// The BERTH_USER variable, typically the image's `ENV`.
    Env,
}

impl UserRequest {
    /// A request from the `--user` flag.
    pub(crate) fn flag(spec: String) -> UserRequest {
        UserRequest {
            spec,
            source: UserSource::Flag,
        }
    }
}

impl std::fmt::Display for UserRequest {
    /// `--user "dev"` or `BERTH_USER=dev`: the request as the user wrote it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.source {
            UserSource::Flag => write!(f, "--user {:?}", self.spec),
            UserSource::Env => write!(f, "BERTH_USER={}", self.spec),
        }
    }
}

/// A value berth cannot use, and where it came from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {origin} value {value:?}: {reason}")]
pub struct ConfigError {
    /// `--grace` or `BERTH_GRACE`: whichever supplied the value.
    pub(crate) origin: String,
    pub(crate) value: String,
    pub(crate) reason: String,
}

/// One setting's raw text and where it came from.
struct Raw {
    source: String,
    value: String,
}

struct Resolver<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Resolver<'_> {
    fn pick(&self, flag: &str, from_flag: Option<String>, var: &str) -> Option<Raw> {
        match from_flag {
            Some(value) => Some(Raw {
                source: flag.to_string(),
                value,
            }),
            None => (self.env)(var).map(|value| Raw {
                source: var.to_string(),
                value,
            }),
        }
    }

    fn flag(&self, set: bool, flag: &str, var: &str) -> Result<bool, ConfigError> {
        if set {
            return Ok(true);
        }
        match (self.env)(var) {
            None => Ok(false),
            Some(value) => parse_bool(&value).ok_or_else(|| ConfigError {
                origin: var.to_string(),
                value,
                reason: format!("use 1/true/yes/on or 0/false/no/off (or pass {flag})"),
            }),
        }
    }

    fn parsed<T>(
        &self,
        flag: &str,
        from_flag: Option<String>,
        var: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(raw) = self.pick(flag, from_flag, var) else {
            return Ok(None);
        };
        parse(&raw.value).map(Some).map_err(|reason| ConfigError {
            origin: raw.source,
            value: raw.value,
            reason,
        })
    }
}

impl Resolver<'_> {
    /// A setting with a fixed set of values: the flag was checked by clap
    /// already; the variable is checked here against the same values.
    fn choice<T: ValueEnum>(
        &self,
        from_flag: Option<T>,
        flag: &str,
        var: &str,
        hint: &str,
    ) -> Result<Option<(T, String)>, ConfigError> {
        if let Some(value) = from_flag {
            return Ok(Some((value, flag.to_string())));
        }
        let Some(value) = (self.env)(var) else {
            return Ok(None);
        };
        match T::from_str(value.trim(), true) {
            Ok(parsed) => Ok(Some((parsed, var.to_string()))),
            Err(_) => {
                let names: Vec<String> = T::value_variants()
                    .iter()
                    .filter_map(|v| v.to_possible_value())
                    .map(|v| v.get_name().to_string())
                    .collect();
                Err(ConfigError {
                    origin: var.to_string(),
                    value,
                    reason: format!("use one of {}{hint}", names.join(", ")),
                })
            }
        }
    }
}

impl Config {
    /// Resolves parsed flags against an environment lookup.
    pub fn resolve(
        args: InitArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let r = Resolver { env };
        let request = Self::docker_request(&r, args.docker, args.docker_opt_in)?;
        let remap_flag = (!args.remap_exit.is_empty()).then(|| args.remap_exit.join(","));
        Ok(Config {
            subreaper: r.flag(args.subreaper, "--subreaper", "BERTH_SUBREAPER")?,
            signal_group: r.flag(args.pgroup, "--pgroup", "BERTH_PGROUP")?,
            remap_exit: r
                .parsed("--remap-exit", remap_flag, "BERTH_REMAP_EXIT", parse_codes)?
                .unwrap_or_default(),
            pdeathsig: r.parsed(
                "--pdeathsig",
                args.pdeathsig,
                "BERTH_PDEATHSIG",
                signals::parse,
            )?,
            grace: r
                .parsed("--grace", args.grace, "BERTH_GRACE", parse_duration)?
                .unwrap_or(DEFAULT_GRACE),
            user: r
                .pick("--user", args.user, "BERTH_USER")
                .filter(|raw| !raw.value.trim().is_empty())
                .map(|raw| UserRequest {
                    source: if raw.source == "--user" {
                        UserSource::Flag
                    } else {
                        UserSource::Env
                    },
                    spec: raw.value,
                }),
            docker: request.0,
            docker_why: request.1,
            on_docker_failure: r
                .choice(
                    args.on_docker_failure,
                    "--on-docker-failure",
                    "BERTH_ON_DOCKER_FAILURE",
                    " (warn runs the command without Docker)",
                )?
                .map(|(policy, _)| policy)
                .unwrap_or_default(),
            remote_timeout: r
                .parsed(
                    "BERTH_REMOTE_TIMEOUT",
                    None,
                    "BERTH_REMOTE_TIMEOUT",
                    parse_duration,
                )?
                .unwrap_or(crate::docker::client::ping::DEFAULT_TOTAL_BUDGET),
            log_filter: r
                .parsed(
                    "--log-level",
                    args.log_level,
                    "BERTH_LOG_LEVEL",
                    parse_filter,
                )?
                .unwrap_or_else(|| parse_filter(DEFAULT_LOG_LEVEL).expect("valid default")),
            log_format: r
                .choice(args.log_format, "--log-format", "BERTH_LOG_FORMAT", "")?
                .map(|(format, _)| format)
                .unwrap_or_default(),
            log_target: r
                .choice(
                    args.log_target,
                    "--log-target",
                    "BERTH_LOG_TARGET",
                    " (auto: journald when its socket exists)",
                )?
                .map(|(target, _)| target)
                .unwrap_or_default(),
            dind: DindSettings {
                tls_certdir: r
                    .pick("DOCKER_TLS_CERTDIR", None, "DOCKER_TLS_CERTDIR")
                    .map(|raw| raw.value)
                    .filter(|dir| !dir.trim().is_empty())
                    .map(PathBuf::from),
                tls_san: words(r.pick("DOCKER_TLS_SAN", None, "DOCKER_TLS_SAN")),
                insecure_tcp: r
                    .pick(
                        "BERTH_DOCKERD_INSECURE_TCP",
                        None,
                        "BERTH_DOCKERD_INSECURE_TCP",
                    )
                    .map(|raw| raw.value)
                    .filter(|addr| !addr.trim().is_empty()),
                data_root: r
                    .pick("BERTH_DOCKERD_DATA_ROOT", None, "BERTH_DOCKERD_DATA_ROOT")
                    .map(|raw| raw.value)
                    .filter(|dir| !dir.trim().is_empty())
                    .map(PathBuf::from),
                iptables: match (env)("BERTH_IPTABLES") {
                    // Empty: auto, as when unset.
                    Some(v) if v.trim().is_empty() => IptablesChoice::Auto,
                    _ => r
                        .choice(
                            None,
                            "BERTH_IPTABLES",
                            "BERTH_IPTABLES",
                            "; auto picks the backend the kernel already uses",
                        )?
                        .map(|(choice, _)| choice)
                        .unwrap_or_default(),
                },
                apparmor: match (env)("BERTH_APPARMOR") {
                    Some(v) if v.trim().is_empty() => AppArmorChoice::Auto,
                    _ => r
                        .choice(
                            None,
                            "BERTH_APPARMOR",
                            "BERTH_APPARMOR",
                            " (auto: docker-default where dockerd can apply it, else unconfined; require: exit 69 instead of unconfined)",
                        )?
                        .map(|(choice, _)| choice)
                        .unwrap_or_default(),
                },
                storage_driver: r
                    .pick("BERTH_STORAGE_DRIVER", None, "BERTH_STORAGE_DRIVER")
                    .map(|raw| raw.value)
                    .filter(|d| !d.trim().is_empty()),
                extra_args: r
                    .parsed(
                        "BERTH_DOCKERD_ARGS",
                        None,
                        "BERTH_DOCKERD_ARGS",
                        shell_words,
                    )?
                    .unwrap_or_default(),
                log_file: r
                    .pick("BERTH_DOCKERD_LOG", None, "BERTH_DOCKERD_LOG")
                    .map(|raw| PathBuf::from(raw.value)),
                ready_timeout: r.parsed(
                    "BERTH_DOCKERD_READY_TIMEOUT",
                    None,
                    "BERTH_DOCKERD_READY_TIMEOUT",
                    parse_duration,
                )?,
            },
            export_host_paths: r
                .parsed(EXPORT_VAR, None, EXPORT_VAR, parse_exports)?
                .unwrap_or_default(),
            health_addr: r.parsed("BERTH_HEALTH_ADDR", None, "BERTH_HEALTH_ADDR", |v| {
                health_server::parse_addr(v)
            })?,
            command: args.command,
        })
    }

    /// `--docker`/`BERTH_DOCKER`, the opt-in and the toggle, combined once,
    /// with the reason in words (for `berth doctor`).
    fn docker_request(
        r: &Resolver<'_>,
        flag: Option<Request>,
        opt_in_flag: bool,
    ) -> Result<(Request, String), ConfigError> {
        let opt_in = r.flag(opt_in_flag, "--docker-opt-in", "BERTH_DOCKER_OPT_IN")?;
        let asked = r.choice(flag, "--docker", "BERTH_DOCKER", "")?;
        let toggle = r.parsed(
            "WS_DOCKER_ENABLE_CLIENT",
            None,
            "WS_DOCKER_ENABLE_CLIENT",
            |v| parse_bool(v).ok_or_else(|| "use 1 to enable Docker, 0 to disable it".into()),
        )?;
        let request = Request::combine(asked.as_ref().map(|(r, _)| *r), opt_in, toggle);
        let why = match (asked, toggle) {
            (Some((request, source)), _) if source.starts_with("--") => {
                format!("{source} {request}")
            }
            (Some((request, source)), _) => format!("{source}={request}"),
            (None, Some(on)) => format!("WS_DOCKER_ENABLE_CLIENT={}", u8::from(on)),
            (None, None) if opt_in => {
                "the image asks for opt-in (BERTH_DOCKER_OPT_IN) and WS_DOCKER_ENABLE_CLIENT is unset"
                    .to_string()
            }
            (None, None) => "BERTH_DOCKER is unset".to_string(),
        };
        Ok((request, why))
    }

    /// The exit code berth reports for the command's `code`.
    pub(crate) fn remap(&self, code: u8) -> u8 {
        if self.remap_exit.contains(&code) {
            0
        } else {
            code
        }
    }
}

fn words(raw: Option<Raw>) -> Vec<String> {
    raw.map(|raw| raw.value.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// `text` split as a POSIX shell splits words, without expanding anything:
/// `--label "team=a b"` is two words, `'` and `"` quote, `\` escapes, `#`
/// at the start of a word starts a comment. Unbalanced quotes are an error.
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    shlex::split(text).ok_or_else(|| {
        "unbalanced quotes (or a trailing backslash): the value is split into words as a shell \
         does, so quote values with spaces and close every quote, e.g. --label \"team=a b\""
            .to_string()
    })
}

pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// `8s`, `500ms`, `2m`, or a bare number of seconds (`3`, `0.5`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| "not a duration: use e.g. 8s, 500ms, 2m or a number of seconds".to_string())?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit {other:?}: use ms, s or m")),
    };
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err("must be between 0 and 24h".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_codes(text: &str) -> Result<Vec<u8>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<u8>().map_err(|_| {
                format!("{part:?} is not an exit code: use numbers 0-255, comma-separated")
            })
        })
        .collect()
}

/// A level, or comma-separated `target=level` directives. Stricter than
/// `Targets::from_str`, which would take a misspelt level for a target name.
fn parse_filter(text: &str) -> Result<Targets, String> {
    const HINT: &str =
        "use off, error, warn, info, debug or trace, optionally per target (warn,dockerd=info)";
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for directive in text.split(',').map(str::trim) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!("{level:?} is not a level: {HINT}"));
        }
    }
    Targets::from_str(text.trim()).map_err(|err| format!("{err}: {HINT}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::mode::{Mode, Request};
    use std::collections::HashMap;

    fn resolve(argv: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let args = InitArgs::try_parse_from(std::iter::once("berth").chain(argv.iter().copied()))
            .expect("flags parse");
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(args, &|key| env.get(key).cloned())
    }

    #[test]
    fn defaults_apply_without_flags_or_env() {
        let config = resolve(&[], &[]).unwrap();
        assert!(!config.subreaper);
        assert!(!config.signal_group);
        assert_eq!(config.grace, DEFAULT_GRACE);
        assert_eq!(config.remap_exit, Vec::<u8>::new());
        assert_eq!(config.pdeathsig, None);
        assert_eq!(config.user, None);
        assert_eq!(config.docker, Request::Auto);
        assert_eq!(config.on_docker_failure, FailurePolicy::Warn);
        assert_eq!(config.remote_timeout, Duration::from_secs(15));
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_target, LogTarget::Auto);
        assert!(config.command.is_empty());
    }

    /// The default keeps the daemons' routine warnings off the terminal
    /// (berth's own stay), and an explicit filter replaces it whole.
    #[test]
    fn default_log_filter_shows_berths_warnings_and_only_the_daemons_errors() {
        let filter = resolve(&[], &[]).unwrap().log_filter;
        assert!(filter.would_enable("berth::docker::setup", &tracing::Level::WARN));
        assert!(!filter.would_enable("berth::docker::setup", &tracing::Level::INFO));
        assert!(!filter.would_enable("dockerd", &tracing::Level::WARN));
        assert!(filter.would_enable("dockerd", &tracing::Level::ERROR));

        let filter = resolve(&[], &[("BERTH_LOG_LEVEL", "warn,dockerd=info")])
            .unwrap()
            .log_filter;
        assert!(filter.would_enable("dockerd", &tracing::Level::INFO));
        let filter = resolve(&[], &[("BERTH_LOG_LEVEL", "warn")])
            .unwrap()
            .log_filter;
        assert!(filter.would_enable("dockerd", &tracing::Level::WARN));
    }

    #[test]
    fn env_supplies_values() {
        let config = resolve(
            &[],
            &[
                ("BERTH_SUBREAPER", "yes"),
                ("BERTH_PGROUP", "1"),
                ("BERTH_GRACE", "500ms"),
                ("BERTH_REMAP_EXIT", "143, 130"),
                ("BERTH_PDEATHSIG", "SIGUSR1"),
                ("BERTH_USER", "dev"),
                ("BERTH_LOG_FORMAT", "json"),
            ],
        )
        .unwrap();
        assert!(config.subreaper && config.signal_group);
        assert_eq!(config.grace, Duration::from_millis(500));
        assert_eq!(config.remap_exit, vec![143, 130]);
        assert_eq!(config.pdeathsig, Some(libc::SIGUSR1));
        assert_eq!(
            config.user,
            Some(UserRequest {
                spec: "dev".into(),
                source: UserSource::Env
            })
        );
        assert_eq!(config.user.unwrap().to_string(), "BERTH_USER=dev");
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn flags_beat_env() {
        let config = resolve(
            &[
                "-t",
                "2",
                "-e",
                "1",
                "-e",
                "2",
                "--user",
                "root",
                "--log-format",
                "text",
            ],
            &[
                ("BERTH_GRACE", "garbage"),
                ("BERTH_REMAP_EXIT", "9"),
                ("BERTH_USER", "dev"),
                ("BERTH_LOG_FORMAT", "json"),
            ],
        )
        .unwrap();
        assert_eq!(config.grace, Duration::from_secs(2));
        assert_eq!(config.remap_exit, vec![1, 2]);
        assert_eq!(config.user, Some(UserRequest::flag("root".into())));
        assert_eq!(config.user.unwrap().to_string(), "--user \"root\"");
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn command_keeps_its_own_flags() {
        let config = resolve(&["-g", "ls", "-la", "--grace"], &[]).unwrap();
        assert!(config.signal_group);
        assert_eq!(config.command, vec!["ls", "-la", "--grace"]);
        let config = resolve(&["--", "-weird-name"], &[]).unwrap();
        assert_eq!(config.command, vec!["-weird-name"]);
    }

    #[test]
    fn bad_values_name_their_source_and_the_fix() {
        let err = resolve(&[], &[("BERTH_GRACE", "soon")]).unwrap_err();
        assert_eq!(err.origin, "BERTH_GRACE");
        assert!(err.to_string().contains("BERTH_GRACE"), "{err}");
        assert!(err.reason.contains("8s"), "{err}");

        let err = resolve(&["--grace", "5h"], &[]).unwrap_err();
        assert_eq!(err.origin, "--grace");
        assert!(err.reason.contains("unknown unit"), "{err}");

        let err = resolve(&[], &[("BERTH_SUBREAPER", "maybe")]).unwrap_err();
        assert!(err.reason.contains("--subreaper"), "{err}");

        let err = resolve(&["-e", "300"], &[]).unwrap_err();
        assert!(err.reason.contains("0-255"), "{err}");

        let err = resolve(&["-p", "NOPE"], &[]).unwrap_err();
        assert!(err.reason.contains("unknown signal"), "{err}");

        let err = resolve(&[], &[("BERTH_LOG_TARGET", "syslog")]).unwrap_err();
        assert!(err.reason.contains("journald"), "{err}");

        let err = resolve(&[], &[("BERTH_DOCKER", "kubernetes")]).unwrap_err();
        assert!(err.reason.contains("dind"), "{err}");

        let err = resolve(&[], &[("BERTH_ON_DOCKER_FAILURE", "panic")]).unwrap_err();
        assert!(err.reason.contains("fail"), "{err}");

        let err = resolve(&[], &[("BERTH_LOG_LEVEL", "loud")]).unwrap_err();
        assert!(err.reason.contains("debug"), "{err}");
    }

    #[test]
    fn empty_user_means_no_switch() {
        assert_eq!(resolve(&[], &[("BERTH_USER", "")]).unwrap().user, None);
    }

    #[test]
    fn docker_toggle_and_opt_in() {
        let mode = |argv: &[&str], env: &[(&str, &str)]| resolve(argv, env).unwrap().docker;
        assert_eq!(mode(&[], &[]), Request::Auto);
        assert_eq!(mode(&["--docker-opt-in"], &[]), Request::Off);
        assert_eq!(
            mode(
                &[],
                &[
                    ("BERTH_DOCKER_OPT_IN", "1"),
                    ("WS_DOCKER_ENABLE_CLIENT", "1")
                ]
            ),
            Request::Auto
        );
        assert_eq!(mode(&[], &[("WS_DOCKER_ENABLE_CLIENT", "0")]), Request::Off);
        assert_eq!(
            mode(&["--docker", "dind"], &[("WS_DOCKER_ENABLE_CLIENT", "0")]),
            Request::Force(Mode::Dind)
        );
        assert!(resolve(&[], &[("WS_DOCKER_ENABLE_CLIENT", "sure")]).is_err());
    }

    /// The opt-in image without the toggle is off, decided here once: the
    /// run, `berth health` and `berth doctor` all take this value.
    #[test]
    fn opt_in_without_the_toggle_is_off_and_says_why() {
        let config = resolve(&[], &[("BERTH_DOCKER_OPT_IN", "1")]).unwrap();
        assert_eq!(config.docker, Request::Off);
        assert!(
            config.docker_why.contains("BERTH_DOCKER_OPT_IN"),
            "{}",
            config.docker_why
        );
        assert!(
            config.docker_why.contains("WS_DOCKER_ENABLE_CLIENT"),
            "{}",
            config.docker_why
        );
        let config = resolve(&["--docker", "socket"], &[("BERTH_DOCKER", "dind")]).unwrap();
        assert_eq!(config.docker, Request::Force(Mode::Socket));
        assert_eq!(config.docker_why, "--docker socket");
        let config = resolve(&[], &[("BERTH_DOCKER", "Rootless")]).unwrap();
        assert_eq!(config.docker, Request::Force(Mode::Rootless));
        assert_eq!(config.docker_why, "BERTH_DOCKER=rootless");
        // Empty BERTH_IPTABLES is auto, as unset.
        let config = resolve(&[], &[("BERTH_IPTABLES", "")]).unwrap();
        assert_eq!(config.dind.iptables, IptablesChoice::Auto);
    }

    #[test]
    fn dind_settings_come_from_the_environment() {
        let config = resolve(
            &[],
            &[
                ("DOCKER_TLS_CERTDIR", "/certs"),
                ("DOCKER_TLS_SAN", "DNS:ws.example IP:10.0.0.5"),
                ("BERTH_DOCKERD_ARGS", "--debug  --experimental"),
                ("BERTH_IPTABLES", "legacy"),
                ("BERTH_DOCKERD_READY_TIMEOUT", "90s"),
                ("BERTH_REMOTE_TIMEOUT", "2s"),
            ],
        )
        .unwrap();
        assert_eq!(config.dind.tls_certdir, Some(PathBuf::from("/certs")));
        assert_eq!(config.dind.tls_san, vec!["DNS:ws.example", "IP:10.0.0.5"]);
        assert_eq!(config.dind.extra_args, vec!["--debug", "--experimental"]);
        assert_eq!(config.dind.iptables, IptablesChoice::Legacy);
        assert_eq!(config.dind.ready_timeout, Some(Duration::from_secs(90)));
        assert_eq!(config.remote_timeout, Duration::from_secs(2));
        // dind's convention: an empty DOCKER_TLS_CERTDIR means no TLS.
        let config = resolve(&[], &[("DOCKER_TLS_CERTDIR", "")]).unwrap();
        assert_eq!(config.dind.tls_certdir, None);
        let err = resolve(&[], &[("BERTH_IPTABLES", "ebtables")]).unwrap_err();
        assert_eq!(err.origin, "BERTH_IPTABLES");
    }

    /// BERTH_DOCKERD_ARGS is split with shell-word rules: quoted values
    /// keep their spaces; unbalanced quotes are exit 64 naming the variable
    /// (issue 13).
    #[test]
    fn dockerd_args_are_shell_words() {
        let args =
            |value: &str| resolve(&[], &[("BERTH_DOCKERD_ARGS", value)]).map(|c| c.dind.extra_args);
        assert_eq!(
            args(r#"--label "team=a b" --host='tcp://0.0.0.0:2375'  -D"#).unwrap(),
            ["--label", "team=a b", "--host=tcp://0.0.0.0:2375", "-D"]
        );
        assert_eq!(args(r"--label a\ b").unwrap(), ["--label", "a b"]);
        assert_eq!(args("").unwrap(), Vec::<String>::new());
        for bad in [r#"--label "team=a b"#, "--label 'x", r"--debug \"] {
            let err = args(bad).unwrap_err();
            assert_eq!(err.origin, "BERTH_DOCKERD_ARGS", "{bad}");
            assert!(err.reason.contains("unbalanced quotes"), "{err}");
            assert!(err.to_string().contains("BERTH_DOCKERD_ARGS"), "{err}");
        }
    }

    #[test]
    fn apparmor_choice_is_validated() {
        assert_eq!(
            resolve(&[], &[]).unwrap().dind.apparmor,
            AppArmorChoice::Auto
        );
        for (value, want) in [
            ("", AppArmorChoice::Auto),
            ("auto", AppArmorChoice::Auto),
            ("Require", AppArmorChoice::Require),
            (" off ", AppArmorChoice::Off),
        ] {
            let config = resolve(&[], &[("BERTH_APPARMOR", value)]).unwrap();
            assert_eq!(config.dind.apparmor, want, "{value:?}");
        }
        let err = resolve(&[], &[("BERTH_APPARMOR", "enforce")]).unwrap_err();
        assert_eq!(err.origin, "BERTH_APPARMOR");
        assert_eq!(err.value, "enforce");
        assert!(
            err.reason.starts_with("use one of auto, require, off"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn host_path_exports_and_health_addr() {
        let config = resolve(
            &[],
            &[
                ("BERTH_EXPORT_HOST_PATH", "JOBS=/var/lib/app/jobs,OUT=/out"),
                ("BERTH_HEALTH_ADDR", ":9385"),
            ],
        )
        .unwrap();
        let vars: Vec<&str> = config
            .export_host_paths
            .iter()
            .map(|e| e.var.as_str())
            .collect();
        assert_eq!(vars, ["JOBS", "OUT"]);
        assert_eq!(config.health_addr, Some("0.0.0.0:9385".parse().unwrap()));
        let defaults = resolve(&[], &[]).unwrap();
        assert!(defaults.export_host_paths.is_empty() && defaults.health_addr.is_none());
        let err = resolve(&[], &[("BERTH_EXPORT_HOST_PATH", "JOBS:/x")]).unwrap_err();
        assert_eq!(err.origin, "BERTH_EXPORT_HOST_PATH");
        assert!(err.reason.contains("VAR=/abs/dir"), "{err}");
        let err = resolve(&[], &[("BERTH_HEALTH_ADDR", "health:9385")]).unwrap_err();
        assert_eq!(err.origin, "BERTH_HEALTH_ADDR");
        assert!(err.reason.contains("0.0.0.0:9385"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1d").is_err());
    }

    #[test]
    fn remap_turns_listed_codes_into_zero() {
        let config = resolve(&["-e", "143"], &[]).unwrap();
        assert_eq!(config.remap(143), 0);
        assert_eq!(config.remap(1), 1);
    }
}
