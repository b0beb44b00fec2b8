//! Parse, set up logging, dispatch; the one place that exits.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use berth::config::{Config, InitArgs};
use berth::docker::engine;
use berth::exit::Failure;
use berth::{app, logging};

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

/// Errors must reach the user even with logging sent to journald.
fn eprintln_if_quiet(err: &app::AppError) {
    if !tracing::enabled!(tracing::Level::ERROR) {
        eprintln!("berth: {err}");
    }
}
