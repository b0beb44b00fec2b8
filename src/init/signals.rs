//! Every catchable signal, received through one signalfd.
//!
//! PID 1 gets no default action for a signal it has no handler for: the kernel
//! drops it (see pid_namespaces(7)). A *blocked* signal is never dropped: it
//! stays pending until it is read. So berth blocks every signal 1..=SIGRTMAX but
//! SIGKILL and SIGSTOP, and reads them from a signalfd, the way tini uses
//! sigtimedwait. Blocking SIGTTIN/SIGTTOU also makes terminal operations from a
//! background process group succeed instead of stopping berth (tty_check_change
//! treats a blocked signal as ignored), while `kill -TTIN` still reaches berth
//! and is forwarded.
//!
//! glibc refuses to block its internal signals 32 and 33 through
//! sigprocmask/sigaddset, so the mask is a plain kernel bit set handed to the
//! raw system calls. berth never calls setuid() with more than one thread (the
//! only use glibc has for signal 33); the child resets everything before exec.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Highest signal number on Linux (`_NSIG - 1`).
pub const SIGRTMAX: i32 = 64;

/// The kernel's signal set: bit N-1 stands for signal N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSigSet(u64);

impl KernelSigSet {
    pub const EMPTY: KernelSigSet = KernelSigSet(0);

    /// Every signal a process can block: all but SIGKILL and SIGSTOP.
    pub fn all_catchable() -> KernelSigSet {
        let mut set = KernelSigSet(u64::MAX);
        set.remove(libc::SIGKILL);
        set.remove(libc::SIGSTOP);
        set
    }

    pub fn remove(&mut self, sig: i32) {
        self.0 &= !(1u64 << (sig - 1));
    }

    pub fn contains(self, sig: i32) -> bool {
        (1..=SIGRTMAX).contains(&sig) && self.0 & (1u64 << (sig - 1)) != 0
    }
}

/// Replaces the calling thread's signal mask. Threads started later inherit it.
///
/// Async-signal-safe: one system call, so it may run in `pre_exec`.
pub fn set_mask(set: KernelSigSet) -> io::Result<()> {
    // SAFETY: rt_sigprocmask reads 8 bytes from a valid u64 and writes nothing
    // (oldset is null); 8 is the kernel's sigset size on every Linux target.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &set.0 as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Puts every signal's disposition back to SIG_DFL.
///
/// For the child, in `pre_exec`: an ignored disposition survives exec, so a
/// SIGINT or SIGPIPE that berth's own parent ignored would stay ignored in the
/// user's command. Async-signal-safe: only sigaction calls, no allocation.
pub fn reset_dispositions() {
    for sig in 1..=SIGRTMAX {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask and no
        // flags; the kernel copies it. Errors (none expected) change nothing.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &action as *const libc::sigaction,
                std::ptr::null_mut::<libc::sigaction>(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

/// A signal as read from the signalfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    /// Who sent it (0 for the kernel).
    pub sender: u32,
}

/// Signals delivered to berth, readable without blocking the runtime.
pub struct SignalFd {
    fd: AsyncFd<OwnedFd>,
}

impl SignalFd {
    /// Opens a non-blocking, close-on-exec signalfd for `set`. The signals must
    /// already be blocked (see [`set_mask`]), or they are delivered normally.
    pub fn open(set: KernelSigSet) -> io::Result<SignalFd> {
        // SAFETY: signalfd4 with fd -1 creates a descriptor; it reads 8 bytes
        // from a valid u64. The returned fd is owned by nobody else.
        let raw = unsafe {
            libc::syscall(
                libc::SYS_signalfd4,
                -1,
                &set.0 as *const u64,
                std::mem::size_of::<u64>(),
                libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor from signalfd4 (checked >= 0).
        let owned = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        // SAFETY: the OwnedFd is moved into the AsyncFd, which keeps it open
        // and unchanged until it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(|err| err.into_parts().1)?;
        Ok(SignalFd { fd })
    }

    /// Waits for the next signal.
    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| read_siginfo(fd.get_ref().as_raw_fd())) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn read_siginfo(fd: i32) -> io::Result<Received> {
    // SAFETY: signalfd_siginfo is plain old data; all-zero is a valid value.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: the buffer is exactly one signalfd_siginfo, owned and writable.
    let n = unsafe { libc::read(fd, &mut info as *mut _ as *mut libc::c_void, size) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("short read from signalfd: {n} of {size} bytes"),
        ));
    }
    Ok(Received {
        signo: info.ssi_signo as i32,
        sender: info.ssi_pid,
    })
}

/// Sends `sig` to `pid` (a process) or, when negative, to a process group.
pub fn send(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) has no memory effects; any pid/signal value is checked by
    // the kernel.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A readable name: SIGTERM, SIGRTMIN+3, or the number.
pub fn name(sig: i32) -> String {
    if let Some(name) = standard_name(sig) {
        return name.to_string();
    }
    let rtmin = libc::SIGRTMIN();
    if (rtmin..=SIGRTMAX).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - rtmin);
    }
    format!("signal {sig}")
}

/// The SIGxxx name of a standard signal. signal-hook knows all but the few
/// Linux-only ones it leaves out.
fn standard_name(sig: i32) -> Option<&'static str> {
    signal_hook::low_level::signal_name(sig).or(match sig {
        libc::SIGSTKFLT => Some("SIGSTKFLT"),
        libc::SIGPWR => Some("SIGPWR"),
        _ => None,
    })
}

/// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, `RTMIN+2` or `SIGRTMAX-1`.
pub fn parse(text: &str) -> Result<i32, String> {
    let trimmed = text.trim();
    if let Ok(n) = trimmed.parse::<i32>() {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(format!("signal number {n} is outside 1..={SIGRTMAX}"))
        };
    }
    let upper = trimmed.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let offset = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix(if sign > 0 { '+' } else { '-' })?
                .parse::<i32>()
                .ok()?
        };
        let sig = base + sign * offset;
        (libc::SIGRTMIN()..=SIGRTMAX).contains(&sig).then_some(sig)
    };
    let found = if let Some(rest) = bare.strip_prefix("RTMIN") {
        rt(libc::SIGRTMIN(), rest, 1)
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        rt(SIGRTMAX, rest, -1)
    } else {
        (1..libc::SIGRTMIN()).find(|&n| standard_name(n).is_some_and(|name| name[3..] == *bare))
    };
    found.ok_or_else(|| {
        format!("unknown signal {text:?}: use a name like TERM or SIGUSR1, RTMIN+N, or a number")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_catchable_excludes_kill_and_stop_only() {
        let set = KernelSigSet::all_catchable();
        for sig in 1..=SIGRTMAX {
            let expected = sig != libc::SIGKILL && sig != libc::SIGSTOP;
            assert_eq!(set.contains(sig), expected, "signal {sig}");
        }
        assert!(!set.contains(0));
        assert!(!set.contains(65));
    }

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(parse("TERM"), Ok(libc::SIGTERM));
        assert_eq!(parse("sigusr1"), Ok(libc::SIGUSR1));
        assert_eq!(parse("SIGHUP"), Ok(libc::SIGHUP));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse("SIGRTMIN+2"), Ok(libc::SIGRTMIN() + 2));
        assert_eq!(parse("RTMAX-1"), Ok(SIGRTMAX - 1));
    }

    #[test]
    fn rejects_unknown_and_out_of_range() {
        assert!(parse("TERMINATE").unwrap_err().contains("unknown signal"));
        assert!(parse("0").unwrap_err().contains("outside"));
        assert!(parse("65").is_err());
        assert!(parse("RTMIN+40").is_err());
        assert!(parse("RTMIN+x").is_err());
    }

    #[test]
    fn names_round_trip() {
        // glibc keeps 32 and 33 for itself and gives them no name.
        assert_eq!(name(32), "signal 32");
        for sig in (1..32).chain(libc::SIGRTMIN()..=SIGRTMAX) {
            assert_eq!(parse(&name(sig)), Ok(sig), "{}", name(sig));
        }
    }
}
