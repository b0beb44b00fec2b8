//! The child roles this test binary plays under berth.

use std::fs::OpenOptions;
use std::io::Write;

/// `--role sigcatcher FILE`: block every signal, read them from a signalfd,
/// and append each number to FILE; exit 0 on SIGTERM.
fn sigcatcher(path: &str) {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    let mask: u64 = !((1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1)));
    // SAFETY: raw rt_sigprocmask/signalfd4 on a valid u64 (glibc would refuse
    // to block 32 and 33); the fd is used only here.
    let fd = unsafe {
        let rc = libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask,
            0usize,
            8usize,
        );
        assert_eq!(rc, 0, "rt_sigprocmask");
        libc::syscall(libc::SYS_signalfd4, -1, &mask, 8usize, libc::SFD_CLOEXEC) as i32
    };
    assert!(fd >= 0, "signalfd");
    writeln!(log, "ready").expect("write");
    loop {
        // SAFETY: all-zero is a valid signalfd_siginfo; the read fills one.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of_val(&info);
        // SAFETY: the buffer is one owned signalfd_siginfo.
        let n = unsafe { libc::read(fd, &mut info as *mut _ as *mut libc::c_void, size) };
        assert_eq!(n as usize, size, "read signalfd");
        let sig = info.ssi_signo as i32;
        writeln!(log, "{sig}").expect("write");
        if sig == libc::SIGTERM {
            std::process::exit(0);
        }
    }
}

/// The kernel's struct sigaction on x86_64, for the raw system call.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: libc::c_ulong,
    mask: u64,
}

/// `--role signal-state IGNORED BLOCKED PROGRAM ARGS...`: a caller with a
/// known signal state. Every disposition back to SIG_DFL (this binary's Rust
/// runtime ignores SIGPIPE and handles SIGSEGV; glibc's posix_spawn, which
/// std uses to start this role, leaves glibc's own signals 32 and 33
/// ignored), then SIG_IGN for the signals in IGNORED and a mask of exactly
/// BLOCKED (comma-separated names such as `SIGINT`, or empty), then exec
/// PROGRAM. execvp directly: std's `Command::exec` would reset the mask and
/// SIGPIPE on the way.
fn signal_state(ignored: &str, blocked: &str, argv: &[String]) -> ! {
    use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
    let parse = |list: &str| -> Vec<Signal> {
        list.split(',')
            .filter(|name| !name.is_empty())
            .map(|name| name.parse().unwrap_or_else(|_| panic!("signal {name:?}")))
            .collect()
    };
    for sig in Signal::iterator().filter(|s| ![Signal::SIGKILL, Signal::SIGSTOP].contains(s)) {
        // SAFETY: SIG_DFL installs no code; single-threaded before exec.
        unsafe { signal::signal(sig, SigHandler::SigDfl) }.expect("SIG_DFL");
    }
    for sig in [32, 33] {
        let default = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: raw rt_sigaction (glibc refuses 32 and 33) reading one
        // live struct in the kernel's layout; 8 is its sigset size.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
        assert_eq!(rc, 0, "SIG_DFL for {sig}");
    }
    for sig in parse(ignored) {
        // SAFETY: as above, SIG_IGN installs no code.
        unsafe { signal::signal(sig, SigHandler::SigIgn) }.expect("SIG_IGN");
    }
    let mut mask = SigSet::empty();
    for sig in parse(blocked) {
        mask.add(sig);
    }
    signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None).expect("mask");
    let argv: Vec<std::ffi::CString> = argv
        .iter()
        .map(|a| std::ffi::CString::new(a.as_str()).expect("argument without NUL"))
        .collect();
    let err = nix::unistd::execvp(&argv[0], &argv).unwrap_err();
    panic!("exec {:?}: {err}", argv[0]);
}

pub fn run(args: &[String]) {
    match args {
        [role, path] if role == "sigcatcher" => sigcatcher(path),
        [role, ignored, blocked, argv @ ..] if role == "signal-state" && !argv.is_empty() => {
            signal_state(ignored, blocked, argv)
        }
        _ => panic!("unknown role {args:?}"),
    }
}
