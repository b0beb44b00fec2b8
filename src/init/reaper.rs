//! The one reaper: the only caller of waitpid(-1).
//!
//! Every process berth starts is registered here with a channel for its exit
//! before the reaper can next run; every other exit is an orphan adopted by
//! PID 1 (or by berth as a subreaper), reaped silently. Like containerd's
//! shim reaper, but single-threaded: the table is an `Rc<RefCell<_>>`, so it
//! cannot leave the supervisor's thread, and [`Reaper::spawn`] registers the
//! pid in the same synchronous step as the fork. No exit can slip between the
//! two, because reaping only happens when the supervisor loop calls
//! [`Reaper::reap`] on this same thread.
//!
//! Never call `Child::wait` or `Command::output` while the reaper runs: it
//! would race the reaper for the status.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::process::{Child, ChildStderr, ChildStdout, Command};

use tokio::sync::oneshot;

use crate::exit::SIGNAL_BASE;
use crate::init::signals;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// Decodes a raw wait status as returned by waitpid(2).
    pub fn from_wait_status(status: i32) -> Option<Exit> {
        if libc::WIFEXITED(status) {
            Some(Exit::Code(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(Exit::Signal(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// The shell convention: the exit code, or 128+N for death by signal N.
    pub fn shell_code(self) -> u8 {
        match self {
            Exit::Code(code) => (code & 0xff) as u8,
            Exit::Signal(sig) => SIGNAL_BASE.wrapping_add(sig as u8),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited with code {code}"),
            Exit::Signal(sig) => write!(f, "killed by {}", signals::name(*sig)),
        }
    }
}

/// What one pass of [`Reaper::reap`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remaining {
    /// Some children are still running.
    Some,
    /// waitpid said ECHILD: berth has no children, hence (as PID 1 or
    /// subreaper) no descendants either.
    None,
}

/// A started process and the channel that will carry its exit.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub exit: oneshot::Receiver<Exit>,
    /// The child's piped output, when the command asked for pipes.
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

#[derive(Default)]
pub struct Reaper {
    owners: RefCell<HashMap<i32, oneshot::Sender<Exit>>>,
}

impl Reaper {
    pub fn new() -> Reaper {
        Reaper::default()
    }

    /// Starts `command` and registers it before returning.
    pub fn spawn(&self, command: &mut Command) -> io::Result<Spawned> {
        let mut child: Child = command.spawn()?;
        let pid = child.id() as i32;
        let (sender, exit) = oneshot::channel();
        self.owners.borrow_mut().insert(pid, sender);
        // The Child handle is dropped without waiting: its status belongs to
        // the reaper.
        Ok(Spawned {
            pid,
            exit,
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        })
    }

    /// How many registered processes have not exited yet.
    pub fn registered(&self) -> usize {
        self.owners.borrow().len()
    }

    /// Reaps every child that has exited, until none is left to reap.
    ///
    /// Call after each SIGCHLD (signals coalesce: one SIGCHLD may stand for
    /// many exits). Never loops on an unexpected error: it logs and returns.
    pub fn reap(&self) -> Remaining {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes one int through a valid pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid > 0 {
                if let Some(exit) = Exit::from_wait_status(status) {
                    self.dispatch(pid, exit);
                }
                continue;
            }
            if pid == 0 {
                return Remaining::Some;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => return Remaining::None,
                _ => {
                    tracing::error!(error = %err, "waitpid(-1) failed; will retry on the next SIGCHLD");
                    return Remaining::Some;
                }
            }
        }
    }

    fn dispatch(&self, pid: i32, exit: Exit) {
        match self.owners.borrow_mut().remove(&pid) {
            Some(owner) => {
                tracing::debug!(pid, %exit, "child exited");
                // The owner may have stopped listening; the exit is then moot.
                let _ = owner.send(exit);
            }
            None => tracing::trace!(pid, %exit, "reaped an orphan"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_codes_follow_the_convention() {
        assert_eq!(Exit::Code(0).shell_code(), 0);
        assert_eq!(Exit::Code(42).shell_code(), 42);
        assert_eq!(Exit::Code(300).shell_code(), 44);
        assert_eq!(Exit::Signal(libc::SIGTERM).shell_code(), 143);
        assert_eq!(Exit::Signal(libc::SIGKILL).shell_code(), 137);
        assert_eq!(Exit::Signal(64).shell_code(), 192);
    }

    #[test]
    fn decodes_raw_statuses() {
        assert_eq!(Exit::from_wait_status(7 << 8), Some(Exit::Code(7)));
        assert_eq!(Exit::from_wait_status(libc::SIGINT), Some(Exit::Signal(2)));
        // A stopped child (0x7f in the low byte) is not an exit.
        assert_eq!(Exit::from_wait_status(0x137f), None);
    }
}
