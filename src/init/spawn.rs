//! Starting the user's command with the signal state berth was started with.
//!
//! Rust's `Command` copies berth's blocked-signal mask and ignored dispositions
//! into the child, and `Command::uid` drops every supplementary group (it calls
//! setgroups(0)). So the child is prepared by hand in `pre_exec`, in this
//! order: own process group, the terminal's foreground (while signals are
//! still blocked, so tcsetpgrp cannot stop it with SIGTTOU), groups, gid, uid,
//! then the caller's ignored dispositions and mask ([`signals::Inherited`],
//! as tini's `restore_signals` does). Only async-signal-safe calls happen
//! after the fork: everything they need is computed before.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use crate::exit::{CANNOT_EXECUTE, NOT_FOUND};
use crate::init::signals::{self, Inherited};

/// Who the child runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// The complete supplementary group list (setgroups replaces it).
    pub groups: Vec<u32>,
    /// Exported as USER and LOGNAME when known.
    pub name: Option<String>,
    pub home: PathBuf,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// argv[0] when it differs from the program (a login shell's "-bash").
    pub arg0: Option<OsString>,
    pub credentials: Option<Credentials>,
    /// Variables set on top of berth's environment.
    pub env: Vec<(OsString, OsString)>,
    /// Make the child's process group the terminal's foreground group, when
    /// berth's own group holds the foreground: a berth started in the
    /// background (`berth -- cmd &`) must not steal the terminal from the
    /// shell (tini's `spawn` leaves this as a TODO).
    pub take_terminal: bool,
    /// The mask and ignored dispositions the command starts with: the ones
    /// berth was started with ([`signals::inherited`]).
    pub signals: Inherited,
}

impl ChildSpec {
    pub fn new(program: impl Into<OsString>) -> ChildSpec {
        ChildSpec {
            program: program.into(),
            args: Vec::new(),
            arg0: None,
            credentials: None,
            env: Vec::new(),
            take_terminal: false,
            signals: Inherited::CLEAN,
        }
    }

    /// The `Command` that starts this child. Spawn it through the reaper.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        if let Some(arg0) = &self.arg0 {
            command.arg0(arg0);
        }
        if let Some(creds) = &self.credentials {
            command.env("HOME", &creds.home);
            if let Some(name) = &creds.name {
                command.env("USER", name).env("LOGNAME", name);
            }
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let creds = self.credentials.clone();
        let take_terminal = self.take_terminal;
        let signals = self.signals;
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe system calls on data prepared before the fork; it
        // allocates nothing.
        unsafe {
            command.pre_exec(move || prepare_child(creds.as_ref(), take_terminal, signals));
        }
        command
    }
}

fn prepare_child(
    creds: Option<&Credentials>,
    take_terminal: bool,
    signals: Inherited,
) -> io::Result<()> {
    // Own process group: job control, and `--pgroup` signals reach the whole
    // pipeline without touching berth.
    // SAFETY: setpgid/getpid/getpgrp/tcgetpgrp/tcsetpgrp/isatty are
    // async-signal-safe syscalls.
    unsafe {
        // Still in berth's group here: is it the terminal's foreground?
        let foreground = take_terminal
            && libc::isatty(libc::STDIN_FILENO) == 1
            && libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp();
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if foreground {
            // Best effort: not being the terminal's session leader's child is
            // not fatal; the shell will report job control as unavailable.
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
        }
    }
    if let Some(creds) = creds {
        // SAFETY: setgroups reads `len` gids from a live Vec; setgid/setuid
        // take plain integers. Order matters: groups and gid need root.
        unsafe {
            if libc::setgroups(creds.groups.len(), creds.groups.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgid(creds.gid) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setuid(creds.uid) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    signals::restore_dispositions(signals.ignored);
    signals::set_mask(signals.blocked)
}

/// The exit code for a command that could not be started, by the exec errno.
pub fn spawn_failure_code(err: &io::Error) -> u8 {
    match err.kind() {
        io::ErrorKind::NotFound => NOT_FOUND,
        _ => CANNOT_EXECUTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_failures_map_to_126_and_127() {
        let not_found = io::Error::from(io::ErrorKind::NotFound);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let exec_format = io::Error::from_raw_os_error(libc::ENOEXEC);
        assert_eq!(spawn_failure_code(&not_found), 127);
        assert_eq!(spawn_failure_code(&denied), 126);
        assert_eq!(spawn_failure_code(&exec_format), 126);
    }

    #[test]
    fn credentials_set_identity_variables() {
        let mut spec = ChildSpec::new("/bin/true");
        spec.credentials = Some(Credentials {
            uid: 1000,
            gid: 1000,
            groups: vec![1000, 999],
            name: Some("dev".into()),
            home: "/home/dev".into(),
        });
        let command = spec.command();
        let envs: Vec<_> = command.get_envs().collect();
        assert!(envs.contains(&("HOME".as_ref(), Some("/home/dev".as_ref()))));
        assert!(envs.contains(&("USER".as_ref(), Some("dev".as_ref()))));
        assert!(envs.contains(&("LOGNAME".as_ref(), Some("dev".as_ref()))));
    }
}
