//! berth: a static PID 1 for containers that need Docker.
//!
//! `main.rs` parses and dispatches; the work lives here, split by concern:
//! [`init`] is the PID 1 core (reaper, signals, spawn, shutdown), [`docker`]
//! decides how Docker is reached and prepares it, [`users`] reads the account
//! databases, [`config`] turns flags and `BERTH_*` variables into one value.

pub mod app;
pub mod config;
pub mod docker;
pub mod doctor;
pub mod exit;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod health_server;
pub mod init;
pub mod logging;
pub mod users;
