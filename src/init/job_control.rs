//! Job control when berth is not PID 1: Ctrl-Z stops berth with its command.
//!
//! Run from an interactive shell, berth is the shell's job, but its command
//! runs in a process group of its own that holds the terminal (spawn.rs). So
//! Ctrl-Z stops the command and not berth, and the shell waits on a berth
//! that never stops: no prompt, and Ctrl-C no longer reaches anything. berth
//! therefore follows job-control stops:
//!
//! - SIGTSTP, SIGTTIN or SIGTTOU sent to berth is forwarded to the command,
//!   then berth stops itself (dumb-init, `handle_signal`: forward, then stop);
//! - a command stopped by one of them (Ctrl-Z at its terminal) stops berth
//!   with the same signal (sudo without a pty does the same:
//!   `suspend_sudo_nopty`; sudo-rs `src/exec/no_pty.rs`, `suspend_parent`).
//!
//! When the shell continues berth (`fg` or `bg`), berth hands the terminal
//! back to the command's group if the shell gave it to berth's own group
//! (`fg`), and continues the command's group. The SIGCONT berth receives is
//! also forwarded as any signal is.
//!
//! berth stops itself with the job-control signal's default action, where
//! dumb-init sends itself SIGSTOP: the kernel then applies the rule for
//! orphaned process groups (get_signal in kernel/signal.c; POSIX, "orphaned
//! process group"): with no job-control shell above berth (berth a session
//! leader, its parent in another session), the stop is discarded, and berth
//! continues the command at once instead of leaving both stopped with nobody
//! to continue them.
//!
//! As PID 1 none of this applies: the kernel does not stop a namespace's init
//! (SIGNAL_UNKILLABLE), and nothing above it in the container would continue it.

use std::io;

use nix::sys::signal::{self as nix_signal, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{self, Pid};

use crate::init::signals;

/// SIGTSTP (Ctrl-Z), SIGTTIN and SIGTTOU (a background job using the
/// terminal): the stops a job-control shell manages. Not SIGSTOP, which a
/// debugger or `kill -STOP` sends and no shell resumes on its own.
pub fn is_job_control_stop(sig: i32) -> bool {
    matches!(sig, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

/// The job-control signal that stopped `pid`, if it is stopped by one.
///
/// waitid(WSTOPPED | WNOHANG) without WEXITED: it reports (and consumes) a
/// stop, never an exit, so exits stay with the reaper, the only waiter for
/// them. A stop by SIGSTOP is consumed and ignored.
pub fn stopped_by(pid: i32) -> Option<i32> {
    match waitid(
        Id::Pid(Pid::from_raw(pid)),
        WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG,
    ) {
        Ok(WaitStatus::Stopped(_, sig)) if is_job_control_stop(sig as i32) => Some(sig as i32),
        _ => None,
    }
}

/// Stops berth as `sig` would stop a job, and, once berth runs again, gives
/// the terminal back to the command's process group `command` (the command
/// leads it: spawn.rs) and continues that group.
///
/// A command stopped by SIGTTIN/SIGTTOU while berth's own group holds the
/// terminal only needs the terminal: it gets it and is continued, and berth
/// does not stop (sudo's rule).
pub fn suspend(sig: i32, command: i32) {
    let group = Pid::from_raw(command);
    if matches!(sig, libc::SIGTTIN | libc::SIGTTOU) && hand_terminal_to(group) {
        tracing::debug!(signal = %signals::name(sig), "the command wanted the terminal berth holds; handed over");
        continue_group(command);
        return;
    }
    tracing::info!(signal = %signals::name(sig), "job-control stop: stopping berth with its command");
    if let Err(err) = stop_self(sig) {
        tracing::warn!(signal = %signals::name(sig), error = %err, "cannot stop berth itself");
    }
    // Running again: `fg`, `bg`, or the kernel discarded the stop.
    hand_terminal_to(group);
    continue_group(command);
    tracing::info!("continued");
}

/// Makes `group` the terminal's foreground process group if berth's own group
/// is the foreground one now (the shell's `fg` gave it the terminal). berth
/// blocks SIGTTOU, so tcsetpgrp cannot stop it. False without a terminal.
pub fn hand_terminal_to(group: Pid) -> bool {
    let stdin = io::stdin();
    match unistd::tcgetpgrp(&stdin) {
        Ok(foreground) if foreground == unistd::getpgrp() => {
            unistd::tcsetpgrp(&stdin, group).is_ok()
        }
        _ => false,
    }
}

fn continue_group(command: i32) {
    // ESRCH: the command is gone; its exit reaches the reaper.
    let _ = signals::send(-command, libc::SIGCONT);
}

/// Raises `sig` with its default action on this thread, then blocks it again.
/// The call returns once berth is continued (or at once, if the kernel
/// discarded the stop).
fn stop_self(sig: i32) -> nix::Result<()> {
    let signal = nix_signal::Signal::try_from(sig)?;
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_DFL runs no code of berth's; the previous action (also
    // SIG_DFL: berth resets its own dispositions at start) is not needed.
    unsafe { nix_signal::sigaction(signal, &default) }?;
    let mut only = SigSet::empty();
    only.add(signal);
    nix_signal::pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&only), None)?;
    // A thread-directed signal, unblocked on this thread only: delivered here,
    // before raise returns; its default action stops every thread.
    let raised = nix_signal::raise(signal);
    nix_signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&only), None)?;
    raised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_terminal_stops_are_job_control() {
        for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
            assert!(is_job_control_stop(sig));
        }
        for sig in [libc::SIGSTOP, libc::SIGCONT, libc::SIGTERM, libc::SIGCHLD] {
            assert!(!is_job_control_stop(sig));
        }
    }
}
