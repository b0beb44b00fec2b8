//! berth: a static PID 1 for containers that need Docker.
//!
//! `main.rs` parses and dispatches; the work lives here, in layers (see
//! docs/architecture.md): [`config`] turns flags and `BERTH_*` variables into
//! one value, `host` says what the machine is, `init` is the PID 1 core
//! (reaper, signals, spawn, shutdown, helper processes), `docker` decides how
//! Docker is reached and prepares it, and [`app`] runs those steps in order.
//!
//! Public here is only what the binary, the integration tests and the fuzz
//! targets use.

pub mod app;
pub mod config;
pub mod exit;
#[doc(hidden)]
pub mod fuzzing;
pub mod logging;
pub mod output;

mod docker;
mod doctor;
mod health;
mod health_server;
mod host;
mod init;
mod retry;

pub use host::HostFacts;
/// For main's `.init_array` entry: the signal state berth was started with.
pub use init::signals::record_inherited as record_inherited_signals;

// Driven directly by the integration tests: berth's TLS material (the e2e
// remote-engine test makes its certificates with it), the real system-call
// layer, and the reaper with its helper runner.
pub use docker::engine::tls;
pub use host::syscall::NixSyscall;
pub use init::{reaper, runner};
/// berth's supervised daemons (dockerd, containerd), for tests/daemon.rs.
#[doc(hidden)]
pub use {docker::engine::daemon, init::spawn::ChildSpec};
