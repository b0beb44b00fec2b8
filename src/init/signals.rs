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
//! only use glibc has for signal 33); the child gets its signal state set
//! before exec.
//!
//! The child's signal state is the one berth was started with ([`Inherited`]):
//! the caller's mask and ignored dispositions, as tini restores them in its
//! child (tini.c, `configure_signals` saves them, `restore_signals` puts them
//! back after fork). What berth blocks for its signalfd never reaches the
//! command. berth itself keeps nothing of the caller's: every signal blocked
//! and read here, every disposition at its default (an inherited SIG_IGN for
//! SIGCHLD would make the kernel reap berth's children behind its back).
//! A signal the caller ignored still reaches berth (a blocked signal is queued
//! even when ignored) and is forwarded, as tini does.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

    /// The set whose bit N-1 stands for signal N, as `SigBlk`/`SigIgn` in
    /// /proc/PID/status print it (in hex).
    #[cfg(test)]
    pub const fn from_bits(bits: u64) -> KernelSigSet {
        KernelSigSet(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    pub fn insert(&mut self, sig: i32) {
        self.0 |= 1u64 << (sig - 1);
    }

    pub fn remove(&mut self, sig: i32) {
        self.0 &= !(1u64 << (sig - 1));
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub fn contains(self, sig: i32) -> bool {
        (1..=SIGRTMAX).contains(&sig) && self.0 & (1u64 << (sig - 1)) != 0
    }

    /// The signal numbers in the set, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = i32> {
        (1..=SIGRTMAX).filter(move |&sig| self.contains(sig))
    }
}

/// The signal state berth was started with: what its parent left blocked and
/// ignored. The command gets exactly this back ([`restore_dispositions`] and
/// [`set_mask`] in its `pre_exec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inherited {
    pub blocked: KernelSigSet,
    pub ignored: KernelSigSet,
}

impl Inherited {
    /// Nothing blocked, nothing ignored: what `docker run` gives PID 1.
    pub const CLEAN: Inherited = Inherited {
        blocked: KernelSigSet::EMPTY,
        ignored: KernelSigSet::EMPTY,
    };
}

static INHERITED_READ: AtomicBool = AtomicBool::new(false);
static INHERITED_BLOCKED: AtomicU64 = AtomicU64::new(0);
static INHERITED_IGNORED: AtomicU64 = AtomicU64::new(0);

/// Reads the calling thread's signal mask and ignored dispositions, once:
/// later calls keep the first reading.
///
/// It must run before anything changes them. Rust's runtime sets SIGPIPE to
/// SIG_IGN before `main` runs, so main.rs calls this from an `.init_array`
/// constructor, which glibc runs before Rust's start-up code.
pub fn record_inherited() {
    if INHERITED_READ.load(Ordering::Acquire) {
        return;
    }
    // A failed query (none is expected) reads as "nothing blocked".
    let blocked = current_mask().unwrap_or(KernelSigSet::EMPTY);
    INHERITED_BLOCKED.store(blocked.bits(), Ordering::Relaxed);
    INHERITED_IGNORED.store(ignored_now().bits(), Ordering::Relaxed);
    INHERITED_READ.store(true, Ordering::Release);
}

/// The state [`record_inherited`] read at start. If nothing recorded it (a
/// program without berth's `main`), it is read now; SIGPIPE then counts as not
/// ignored, since Rust's runtime ignores it in every program.
pub fn inherited() -> Inherited {
    let late = !INHERITED_READ.load(Ordering::Acquire);
    record_inherited();
    let mut ignored = KernelSigSet(INHERITED_IGNORED.load(Ordering::Relaxed));
    if late {
        ignored.remove(libc::SIGPIPE);
    }
    Inherited {
        blocked: KernelSigSet(INHERITED_BLOCKED.load(Ordering::Relaxed)),
        ignored,
    }
}

/// The calling thread's signal mask as the kernel holds it (32 and 33
/// included, which glibc's sigprocmask would hide).
pub fn current_mask() -> io::Result<KernelSigSet> {
    let mut old: u64 = 0;
    // SAFETY: with a null new set, rt_sigprocmask only writes the current
    // mask: 8 bytes into a valid, owned u64.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            &mut old as *mut u64,
            std::mem::size_of::<u64>(),
        )
    };
    if rc == 0 {
        Ok(KernelSigSet(old))
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The kernel's `struct sigaction` on x86_64
/// (arch/x86/include/uapi/asm/signal.h), which the raw rt_sigaction system
/// call takes; glibc's `libc::sigaction` has another layout.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: libc::c_ulong,
    mask: u64,
}

/// rt_sigaction(sig, new, old): 0 or a negative value (errno set).
fn raw_sigaction(
    sig: i32,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> i64 {
    let new = new.map_or(std::ptr::null(), |n| n as *const KernelSigaction);
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut KernelSigaction);
    // SAFETY: both pointers are null or point to a live KernelSigaction, the
    // layout the kernel reads and writes; 8 is its sigset size.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            new,
            old,
            std::mem::size_of::<u64>(),
        )
    }
}

/// Every signal whose disposition is SIG_IGN now.
fn ignored_now() -> KernelSigSet {
    let mut set = KernelSigSet::EMPTY;
    for sig in KernelSigSet::all_catchable().iter() {
        let mut old = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        if raw_sigaction(sig, None, Some(&mut old)) == 0 && old.handler == libc::SIG_IGN {
            set.insert(sig);
        }
    }
    set
}

fn set_disposition(sig: i32, handler: libc::sighandler_t) {
    let action = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // Errors (none expected for a catchable signal) change nothing.
    raw_sigaction(sig, Some(&action), None);
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

/// Gives every catchable signal the disposition the command must start with:
/// SIG_IGN for those in `ignored`, SIG_DFL for the rest.
///
/// For the child, in `pre_exec`: an ignored disposition survives exec, so
/// this is how the caller's SIG_IGN (nohup's SIGHUP) reaches the command and
/// nothing else does. Async-signal-safe: only sigaction calls, no allocation.
pub fn restore_dispositions(ignored: KernelSigSet) {
    for sig in KernelSigSet::all_catchable().iter() {
        let handler = if ignored.contains(sig) {
            libc::SIG_IGN
        } else {
            libc::SIG_DFL
        };
        set_disposition(sig, handler);
    }
}

/// Puts the signals in `set` back to SIG_DFL in the calling process: berth's
/// own dispositions, whatever its caller ignored.
pub fn reset_to_default(set: KernelSigSet) {
    for sig in set.iter() {
        set_disposition(sig, libc::SIG_DFL);
    }
}

/// Whether the default action of `sig` ends the process ("Term" or "Core"
/// in signal(7)): every signal but the ignored-by-default SIGCHLD, SIGURG and
/// SIGWINCH, the stop signals SIGSTOP, SIGTSTP, SIGTTIN and SIGTTOU, and
/// SIGCONT. Realtime signals terminate by default.
pub fn terminates_by_default(sig: i32) -> bool {
    (1..=SIGRTMAX).contains(&sig)
        && !matches!(
            sig,
            libc::SIGCHLD
                | libc::SIGURG
                | libc::SIGWINCH
                | libc::SIGSTOP
                | libc::SIGTSTP
                | libc::SIGTTIN
                | libc::SIGTTOU
                | libc::SIGCONT
        )
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
        // Checked: the offset is the user's number, anywhere in i32.
        let sig = base.checked_add(offset.checked_mul(sign)?)?;
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
    fn default_actions_follow_signal_7() {
        for sig in [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGPIPE,
            libc::SIGALRM,
            libc::SIGSEGV,
            libc::SIGKILL,
            libc::SIGPWR,
            libc::SIGSYS,
            34,
            SIGRTMAX,
        ] {
            assert!(terminates_by_default(sig), "{}", name(sig));
        }
        for sig in [
            libc::SIGCHLD,
            libc::SIGCONT,
            libc::SIGSTOP,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGURG,
            libc::SIGWINCH,
            0,
            65,
        ] {
            assert!(!terminates_by_default(sig), "{}", name(sig));
        }
    }

    #[test]
    fn sets_read_like_proc_status() {
        let mut set = KernelSigSet::EMPTY;
        for sig in [libc::SIGINT, libc::SIGSEGV, libc::SIGTTOU] {
            set.insert(sig);
        }
        // SigIgn of a process ignoring INT, SEGV and TTOU.
        assert_eq!(set.bits(), 0x0000_0000_0020_0402);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [libc::SIGINT, libc::SIGSEGV, libc::SIGTTOU]
        );
        assert_eq!(KernelSigSet::from_bits(set.bits()), set);
    }

    #[test]
    fn dispositions_are_read_and_set_through_the_kernel_layout() {
        // A realtime signal nothing else in this test binary uses.
        let sig = SIGRTMAX - 3;
        let mut one = KernelSigSet::EMPTY;
        one.insert(sig);
        assert!(!ignored_now().contains(sig));
        set_disposition(sig, libc::SIG_IGN);
        assert!(ignored_now().contains(sig));
        reset_to_default(one);
        assert!(!ignored_now().contains(sig));
    }

    #[test]
    fn the_mask_is_read_back_whole() {
        // In a thread of its own: the mask is per thread.
        std::thread::spawn(|| {
            let mut set = KernelSigSet::EMPTY;
            for sig in [libc::SIGTERM, 32, SIGRTMAX] {
                set.insert(sig);
            }
            set_mask(set).expect("set mask");
            assert_eq!(current_mask().expect("read mask"), set);
        })
        .join()
        .expect("mask thread");
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

    /// Found by the `config_env` fuzz target: `RTMIN+2147483647` overflowed
    /// the addition (a panic with overflow checks, a wrapped number without)
    /// instead of being refused like any offset past RTMAX.
    #[test]
    fn realtime_offsets_near_the_integer_bounds_are_refused() {
        for text in [
            "RTMIN+2147483647",
            "RTMIN+2147483614",
            "SIGRTMAX--2147483648",
            "RTMAX--2147483600",
            "RTMIN+-1",
            "RTMAX-31",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert_eq!(parse("RTMAX-30"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse("RTMIN+-0"), Ok(libc::SIGRTMIN()));
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
