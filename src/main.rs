//! Parse, set up logging, dispatch; the one place that exits.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use berth::config::{Config, DoctorArgs, HealthArgs, InitArgs};
use berth::docker::{engine, host_path};
use berth::exit::Failure;
use berth::{app, doctor, health, logging};

/// Reads the signal mask and ignored dispositions berth was started with,
/// for its command (src/init/signals.rs). An `.init_array` entry: glibc runs
/// it before Rust's start-up code, which sets SIGPIPE to SIG_IGN (Rust's std
/// captures argv the same way on glibc).
#[used]
#[link_section = ".init_array"]
static RECORD_INHERITED_SIGNALS: extern "C" fn() = record_inherited_signals;

extern "C" fn record_inherited_signals() {
    berth::init::signals::record_inherited();
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    ExitCode::from(run(argv))
}

fn run(argv: Vec<OsString>) -> u8 {
    if argv.get(1).is_some_and(|a| a == engine::ROOTLESS_CHILD) {
        // Only returns on failure: it execs dockerd.
        let err = engine::rootless_child(&argv[2..]);
        eprintln!("berth {}: {err}", engine::ROOTLESS_CHILD);
        return Failure::Os.code();
    }
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("doctor") => return doctor(&argv[1..]),
        Some("health") => return health(&argv[1..]),
        Some("host-path") => return host_path(&argv[1..]),
        _ => {}
    }
    let args = match InitArgs::try_parse_from(&argv) {
        Ok(args) => args,
        Err(err) => {
            // --help and --version are not errors.
            let code = if err.use_stderr() {
                Failure::Usage.code()
            } else {
                0
            };
            let _ = err.print();
            return code;
        }
    };
    let config = match Config::resolve(args, &|key| std::env::var(key).ok()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("berth: {err}");
            return Failure::Usage.code();
        }
    };
    logging::init(
        config.log_filter.clone(),
        config.log_format,
        config.log_target,
    );
    match app::run(config) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err}");
            eprintln_if_quiet(&err);
            err.exit_code()
        }
    }
}

fn parse_or_exit<T: Parser>(argv: &[OsString]) -> Result<T, u8> {
    T::try_parse_from(argv).map_err(|err| {
        let _ = err.print();
        if err.use_stderr() {
            Failure::Usage.code()
        } else {
            0
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime needs only an epoll fd")
}

fn doctor(argv: &[OsString]) -> u8 {
    let args: DoctorArgs = match parse_or_exit(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let init = InitArgs::try_parse_from(["berth"]).expect("no flags parse");
    let mut config = match Config::resolve(init, &|key| std::env::var(key).ok()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("berth: {err}");
            return Failure::Usage.code();
        }
    };
    if args.user.is_some() {
        config.user = args.user;
    }
    let user = match app::identity(&config, &app::Paths::default()) {
        Ok(user) => user,
        Err(err) => {
            eprintln!("berth doctor: {err}");
            return err.exit_code();
        }
    };
    let report = runtime().block_on(doctor::examine(&config, user.as_ref()));
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("berth doctor: cannot encode the report: {err}");
                return Failure::Internal.code();
            }
        }
    } else {
        print!("{}", doctor::render(&report));
    }
    report.exit_code()
}

fn health(argv: &[OsString]) -> u8 {
    let args: HealthArgs = match parse_or_exit(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let env = std::env::vars().collect();
    let verdict = runtime().block_on(health::check(&env, args.timeout));
    println!("{}", verdict.message);
    u8::from(!verdict.healthy)
}

fn host_path(argv: &[OsString]) -> u8 {
    let args: host_path::HostPathArgs = match parse_or_exit(argv) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let env = std::env::vars().collect();
    match runtime().block_on(host_path::resolve_here(&args.dir, &env, args.timeout)) {
        Ok(path) => {
            println!("{}", path.display());
            0
        }
        Err(err) => {
            eprintln!("berth host-path: {err}");
            err.exit_code()
        }
    }
}

/// Errors must reach the user even with logging sent to journald.
fn eprintln_if_quiet(err: &app::AppError) {
    if !tracing::enabled!(tracing::Level::ERROR) {
        eprintln!("berth: {err}");
    }
}
