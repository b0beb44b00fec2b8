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

pub fn run(args: &[String]) {
    match args {
        [role, path] if role == "sigcatcher" => sigcatcher(path),
        _ => panic!("unknown role {args:?}"),
    }
}
