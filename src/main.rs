//! Parse, read the host facts, set up logging, dispatch; the one place that exits.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use berth::app;
use berth::config::{Config, ConfigError, DoctorArgs, HealthArgs, HostPathArgs, InitArgs};
use berth::exit::Failure;
use berth::logging;
use berth::output;
use berth::HostFacts;

/// Reads the signal mask and ignored dispositions berth was started with,
/// for its command (src/init/signals.rs). An `.init_array` entry: glibc runs
/// it before Rust's start-up code, which sets SIGPIPE to SIG_IGN (Rust's std
/// captures argv the same way on glibc).
#[used]
#[link_section = ".init_array"]
static RECORD_INHERITED_SIGNALS: extern "C" fn() = record_inherited_signals;

extern "C" fn record_inherited_signals() {
    berth::record_inherited_signals();
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    ExitCode::from(run(argv))
}

fn run(argv: Vec<OsString>) -> u8 {
    if argv.get(1).is_some_and(|a| a == app::ROOTLESS_CHILD) {
        // Only returns on failure: it execs dockerd.
        let err = app::rootless_child(&argv[2..]);
        output::stderr(&format!("berth {}: {err}\n", app::ROOTLESS_CHILD));
        return Failure::Os.code();
    }
    // Read once, like the configuration, and handed down; relative docker
    // client paths taken from the start directory (the run leaves it).
    let mut host = HostFacts::read();
    app::anchor_client_paths(&mut host);
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("doctor") => return doctor(&argv[1..], &host),
        Some("health") => return health(&argv[1..], &host),
        Some("host-path") => return host_path(&argv[1..], &host),
        _ => {}
    }
    let args = match parse::<InitArgs>(&argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let config = match resolve(args, &host) {
        Ok(config) => config,
        Err(code) => return code,
    };
    logging::init(
        config.log_filter.clone(),
        config.log_format,
        config.log_target,
    );
    match app::run(config, host) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err}");
            eprintln_if_quiet(&err);
            err.exit_code()
        }
    }
}

/// The parsed flags, or the exit code: --help and --version are not errors.
/// clap returns a failed write (EPIPE: `berth --help | true`) instead of
/// panicking; there is nothing left to tell the reader.
fn parse<T: Parser>(argv: &[OsString]) -> Result<T, u8> {
    T::try_parse_from(argv).map_err(|err| {
        let _ = err.print();
        if err.use_stderr() {
            Failure::Usage.code()
        } else {
            0
        }
    })
}

/// The configuration from `args` and berth's environment, or exit 64.
fn resolve(args: InitArgs, host: &HostFacts) -> Result<Config, u8> {
    Config::resolve(args, &|key| host.var(key).map(str::to_string)).map_err(|err: ConfigError| {
        output::stderr(&format!("berth: {err}\n"));
        Failure::Usage.code()
    })
}

/// The configuration of a plain `berth` start: subcommands see the same
/// settings (BERTH_*, the opt-in toggle) as the run.
fn resolve_env_only(host: &HostFacts) -> Result<Config, u8> {
    let args = InitArgs::try_parse_from(["berth"]).expect("no flags parse");
    resolve(args, host)
}

fn doctor(argv: &[OsString], host: &HostFacts) -> u8 {
    let args: DoctorArgs = match parse(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    match resolve_env_only(host) {
        Ok(config) => app::doctor(config, args, host),
        Err(code) => code,
    }
}

fn health(argv: &[OsString], host: &HostFacts) -> u8 {
    let args: HealthArgs = match parse(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    match resolve_env_only(host) {
        Ok(config) => app::health(&config, &args, host),
        Err(code) => code,
    }
}

fn host_path(argv: &[OsString], host: &HostFacts) -> u8 {
    match parse::<HostPathArgs>(argv) {
        Ok(args) => app::host_path(&args, host),
        Err(code) => code,
    }
}

/// Errors must reach the user even with logging sent to journald.
fn eprintln_if_quiet(err: &app::AppError) {
    if !tracing::enabled!(tracing::Level::ERROR) {
        output::stderr(&format!("berth: {err}\n"));
    }
}
