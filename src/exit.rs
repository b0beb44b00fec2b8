//! berth's own exit codes: one enum, documented in the README.
//!
//! A child's status passes through unchanged (its code, or 128+N for signal N;
//! 126 cannot execute, 127 not found). berth's own failures use the sysexits(3)
//! values below, which no shell convention gives another meaning.

/// Why berth itself (not the command it runs) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Failure {
    /// Bad flag, bad `BERTH_*` value, a command berth does not know, or
    /// Docker variables that do not parse (DOCKER_HOST's scheme or address,
    /// a DOCKER_CONTEXT that names no context), whatever the mode and policy.
    Usage = 64,
    /// The target user or group does not exist.
    NoUser = 67,
    /// Docker access was required (a forced mode such as BERTH_DOCKER=dind, or
    /// BERTH_ON_DOCKER_FAILURE=fail) and is not possible here.
    DockerUnavailable = 69,
    /// A bug in berth.
    Internal = 70,
    /// A system call berth depends on failed (signal mask, fork, /proc).
    Os = 71,
    /// A file berth must write (/etc/group, certificates) could not be written.
    CantCreate = 73,
    /// A subcommand's output could not be written (a reader that closed the
    /// pipe, EPIPE, is not an error: see `output`).
    Output = 74,
    /// berth lacks a privilege it needs for what was asked (an explicit
    /// --user naming another user while berth is not root; a BERTH_USER is
    /// only a warning then).
    NoPerm = 77,
    /// What was asked does not fit this container: `berth host-path` for a
    /// container that is not on that engine, or a DIR on no bind mount or
    /// volume.
    Config = 78,
}

impl Failure {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The command could not be executed (permission, not a binary).
pub(crate) const CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub(crate) const NOT_FOUND: u8 = 127;
/// Added to a signal number when the command died of that signal.
pub(crate) const SIGNAL_BASE: u8 = 128;
