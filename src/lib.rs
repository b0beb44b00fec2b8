//! berth: a static PID 1 for containers that need Docker.
//!
//! `main.rs` parses and dispatches; the work lives here, in layers:
//! [`config`] turns flags and `BERTH_*` variables into one value, [`host`]
//! says what the machine is, [`init`] is the PID 1 core (reaper, signals,
//! spawn, shutdown), [`docker`] decides how Docker is reached and prepares
//! it, and [`app`] runs those steps in order.

pub mod app;
pub mod config;
pub mod docker;
pub mod doctor;
pub mod exit;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod health_server;
pub mod host;
pub mod init;
pub mod logging;
pub mod retry;
