//! A pseudo-terminal session, as `docker run -it` gives one.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Session {
    master: std::fs::File,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// Where the next `expect` starts looking.
    cursor: usize,
}

impl Session {
    /// Starts `command` as the leader of a new session whose controlling
    /// terminal is the slave side of a fresh pty.
    pub fn start(mut command: Command) -> Session {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        command
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn under pty");
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let _ = master.as_raw_fd();
        Session {
            master,
            child,
            output,
            cursor: 0,
        }
    }

    /// The pid of the session leader.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The terminal's foreground process group (TIOCGPGRP on the master side,
    /// as a pid of this process's namespace), if the slave has one.
    pub fn foreground_group(&self) -> Option<i32> {
        nix::unistd::tcgetpgrp(&self.master)
            .ok()
            .map(|group| group.as_raw())
    }

    pub fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("write to pty");
    }

    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until `pattern` appears after the previous match.
    pub fn expect(&mut self, pattern: &str, limit: Duration) {
        let start = Instant::now();
        loop {
            {
                let out = self.output.lock().unwrap();
                let text = String::from_utf8_lossy(&out[self.cursor.min(out.len())..]).into_owned();
                if let Some(at) = text.find(pattern) {
                    self.cursor += at + pattern.len();
                    return;
                }
            }
            assert!(
                start.elapsed() < limit,
                "no {pattern:?} on the terminal after {limit:?}; transcript:\n{}",
                self.transcript()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "session did not end; transcript:\n{}",
                self.transcript()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
