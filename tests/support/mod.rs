//! Harness for the end-to-end tests (tests/e2e_*.rs): they drive a real Docker
//! engine through the `docker` CLI and check what it reports.
//!
//! `bash tests/run.sh` provisions the engine and the images, then runs the e2e
//! binaries with `BERTH_E2E=1` and `DOCKER_HOST` set. Every test starts with
//! [`require_e2e`]: without `BERTH_E2E=1` it skips loudly, or fails under
//! `CI=true`. Everything a test creates carries the label `berth-test=<run id>`
//! ([`label`]) and is removed by a guard's `Drop`, also when the test panics;
//! run.sh sweeps its own run's label once more at the end.
//!
//! Waiting is always deadline-bound polling ([`wait_until`]), never a fixed
//! sleep standing in for an event.
#![allow(dead_code)] // each e2e binary uses its own subset

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub mod clients;

/// The label on every container, volume and network the tests create:
/// `berth-test=<run id>`. tests/run.sh exports `BERTH_TEST_RUN_ID` so its
/// teardown removes this run's objects only, never those of another run
/// sharing the engine; by hand the value is `1`.
pub fn label() -> String {
    let run = std::env::var("BERTH_TEST_RUN_ID").unwrap_or_else(|_| "1".to_string());
    format!("berth-test={run}")
}
/// How often [`wait_until`] looks again.
pub const POLL: Duration = Duration::from_millis(100);
/// Default image under test; `BERTH_IMAGE` overrides it.
pub const WORKSPACE_IMAGE: &str = "berth/workspace";
/// Default rootless image under test; `BERTH_IMAGE_ROOTLESS` overrides it.
pub const ROOTLESS_IMAGE: &str = "berth/workspace-rootless";

/// The e2e policy. Returns the engine to use, or `None` when the test must
/// return early because e2e is not enabled. Under `CI=true` a disabled e2e run
/// is a failure, never a silent pass.
pub fn require_e2e(test: &str) -> Option<Docker> {
    let enabled = std::env::var("BERTH_E2E").is_ok_and(|v| v == "1");
    if enabled {
        return Some(Docker::from_env());
    }
    let reason = "BERTH_E2E is not 1: no engine and images were provisioned \
                  (run `bash tests/run.sh`, which sets it up)";
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if ci {
        panic!("{test}: e2e tests must run in CI, but {reason}");
    }
    skip(test, reason);
    None
}

/// Say loudly that `test` is skipped and why. tests/run.sh counts these
/// lines, so a skipped test is never reported as one that ran.
pub fn skip(test: &str, reason: &str) {
    eprintln!("\n*** E2E SKIPPED: {test}: {reason} ***\n");
}

/// Poll `pred` every [`POLL`] until it returns true or `timeout` passes.
/// Returns whether it became true.
pub fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// A name no other test (or parallel test binary) uses.
pub fn unique_name(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "berth-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The image under test (`BERTH_IMAGE`, default `berth/workspace`).
pub fn workspace_image() -> String {
    std::env::var("BERTH_IMAGE").unwrap_or_else(|_| WORKSPACE_IMAGE.to_string())
}

/// The rootless image under test (`BERTH_IMAGE_ROOTLESS`).
pub fn rootless_image() -> String {
    std::env::var("BERTH_IMAGE_ROOTLESS").unwrap_or_else(|_| ROOTLESS_IMAGE.to_string())
}

/// Default trixie-flavoured image (docker.io 26.x inside); `BERTH_IMAGE_TRIXIE`
/// overrides it.
pub const WORKSPACE_IMAGE_TRIXIE: &str = "berth/workspace:trixie";
/// Default trixie-flavoured rootless image; `BERTH_IMAGE_ROOTLESS_TRIXIE`
/// overrides it.
pub const ROOTLESS_IMAGE_TRIXIE: &str = "berth/workspace-rootless:trixie";

/// The inner engines the dind tests run against: the workspace images built
/// on each Debian release (tests/images.sh builds both flavours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InnerEngine {
    /// debian:bookworm, docker.io 20.10.
    Bookworm,
    /// debian:trixie, docker.io 26.x with iptables-nft.
    Trixie,
}

impl InnerEngine {
    /// The workspace image of this flavour.
    pub fn workspace_image(self) -> String {
        match self {
            InnerEngine::Bookworm => workspace_image(),
            InnerEngine::Trixie => std::env::var("BERTH_IMAGE_TRIXIE")
                .unwrap_or_else(|_| WORKSPACE_IMAGE_TRIXIE.to_string()),
        }
    }

    /// The rootless workspace image of this flavour.
    pub fn rootless_image(self) -> String {
        match self {
            InnerEngine::Bookworm => rootless_image(),
            InnerEngine::Trixie => std::env::var("BERTH_IMAGE_ROOTLESS_TRIXIE")
                .unwrap_or_else(|_| ROOTLESS_IMAGE_TRIXIE.to_string()),
        }
    }
}

/// `#[test]`s named `<body>::bookworm` and `<body>::trixie` that call
/// `body(InnerEngine)` once per inner engine, so each flavour passes or
/// fails on its own line of the test report.
#[macro_export]
macro_rules! for_each_inner_engine {
    ($body:ident) => {
        mod $body {
            #[test]
            fn bookworm() {
                super::$body(super::support::InnerEngine::Bookworm);
            }
            #[test]
            fn trixie() {
                super::$body(super::support::InnerEngine::Trixie);
            }
        }
    };
}

/// `docker run` arguments that select the image and its init: normally the
/// image's own ENTRYPOINT (berth). `BERTH_E2E_INIT=/usr/bin/tini` swaps in
/// another init from the image, to check the tests themselves against a
/// reference implementation.
pub fn image_args(image: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Ok(init) = std::env::var("BERTH_E2E_INIT") {
        if !init.is_empty() {
            args.push("--entrypoint".to_string());
            args.push(init);
        }
    }
    args.push(image.to_string());
    if init_is_stand_in() {
        // tini permutes its arguments: without `--` it takes `bash -c` for
        // its own options.
        args.push("--".to_string());
    }
    args
}

/// Is the init under test a stand-in (see [`image_args`])? Tests of
/// berth-only behaviour (running as BERTH_USER, ...) skip themselves then.
pub fn init_is_stand_in() -> bool {
    std::env::var("BERTH_E2E_INIT").is_ok_and(|v| !v.is_empty())
}

/// The docker CLI, pointed at `DOCKER_HOST` (inherited from the environment).
#[derive(Clone, Debug)]
pub struct Docker {
    cli: String,
}

impl Docker {
    pub fn from_env() -> Self {
        Docker {
            cli: std::env::var("BERTH_DOCKER_CLI").unwrap_or_else(|_| "docker".to_string()),
        }
    }

    /// A `docker` command with `args`, ready to run.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.cli);
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Run `docker args...` and return its output, whatever the exit status.
    pub fn output<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self.command(&args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} {:?}: {e}", self.cli, args))
    }

    /// Run `docker args...`, panic unless it succeeds; return trimmed stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.output(&args);
        assert!(
            out.status.success(),
            "docker {:?} failed ({}): {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `docker run -d --label berth-test=<run> ARGS...`: the container is removed
    /// (with its anonymous volumes) when the returned guard drops.
    pub fn run_detached<S: AsRef<str>>(&self, args: &[S]) -> Container {
        let name = unique_name("c");
        let mut full = vec![
            "run".to_string(),
            "-d".to_string(),
            "--label".to_string(),
            label(),
            "--name".to_string(),
            name.clone(),
        ];
        full.extend(args.iter().map(|a| a.as_ref().to_string()));
        // The guard exists before the container does: if `docker run` creates
        // it and then fails to start it, Drop still removes it.
        let container = Container {
            docker: self.clone(),
            name,
        };
        self.ok(&full);
        container
    }

    /// A labelled volume, removed on drop.
    pub fn volume(&self) -> Volume {
        let name = unique_name("v");
        self.ok(["volume", "create", "--label", &label(), &name]);
        Volume {
            docker: self.clone(),
            name,
        }
    }

    /// A labelled user-defined bridge network, removed on drop.
    pub fn network(&self) -> Network {
        self.network_with(&[])
    }

    /// A network made with extra `docker network create` arguments (e.g.
    /// `-o com.docker.network.driver.mtu=1400`), removed on drop.
    pub fn network_with(&self, args: &[&str]) -> Network {
        let name = unique_name("n");
        let label = label();
        let mut full = vec!["network", "create", "--label", &label];
        full.extend_from_slice(args);
        full.push(&name);
        self.ok(full);
        Network {
            docker: self.clone(),
            name,
        }
    }
}

/// A container that is `docker rm -f -v`'d when dropped.
#[derive(Debug)]
pub struct Container {
    docker: Docker,
    pub name: String,
}

impl Container {
    /// Take charge of a container created by other means (e.g. `docker run
    /// -it --name NAME` on a [`Pty`]): it is removed when the guard drops.
    pub fn adopt(docker: &Docker, name: &str) -> Container {
        Container {
            docker: docker.clone(),
            name: name.to_string(),
        }
    }

    /// `docker exec NAME args...` (output whatever the status).
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut full: Vec<&OsStr> = vec![OsStr::new("exec"), OsStr::new(&self.name)];
        full.extend(args.iter().map(AsRef::as_ref));
        self.docker.output(full)
    }

    /// `docker exec -u USER NAME args...` (output whatever the status): a
    /// later session as that user, with nothing exported.
    pub fn exec_as<S: AsRef<OsStr>>(&self, user: &str, args: &[S]) -> Output {
        let mut full: Vec<&OsStr> = vec![
            OsStr::new("exec"),
            OsStr::new("-u"),
            OsStr::new(user),
            OsStr::new(&self.name),
        ];
        full.extend(args.iter().map(AsRef::as_ref));
        self.docker.output(full)
    }

    /// `docker exec NAME args...`, panic unless it succeeds; trimmed stdout.
    pub fn exec_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "docker exec {} {:?} failed ({}): {}",
            self.name,
            args.iter()
                .map(|a| a.as_ref().to_owned())
                .collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// stdout and stderr of the container, interleaved as docker logged them.
    pub fn logs(&self) -> String {
        let out = self.docker.output(["logs", &self.name]);
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        s
    }

    /// Wait until the logs contain `needle`; panic with the logs after
    /// `timeout`, or as soon as the container has stopped without it.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let mut found = false;
        wait_until(timeout, || {
            // Read the state first: logs read after it include all output of
            // a container that had already stopped.
            let running = self.is_running();
            found = self.logs().contains(needle);
            found || !running
        });
        if !found {
            panic!(
                "{}: {needle:?} not in the logs after {timeout:?}; logs:\n{}\nstate: {}",
                self.name,
                self.logs(),
                self.inspect("{{json .State}}")
            );
        }
    }

    /// `docker inspect --format FORMAT NAME`.
    pub fn inspect(&self, format: &str) -> String {
        self.docker
            .ok(["inspect", "--format", format, &self.name])
            .to_string()
    }

    pub fn is_running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// The exit code once the container has stopped, waiting up to `timeout`
    /// (`docker wait`, bounded: the CLI itself would wait forever).
    pub fn wait_exit_code(&self, timeout: Duration) -> i32 {
        let mut child = self
            .docker
            .command(["wait", &self.name])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker wait");
        let exited = wait_until(timeout, || matches!(child.try_wait(), Ok(Some(_))));
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} still running after {timeout:?}; logs:\n{}",
                self.name,
                self.logs()
            );
        }
        let out = child.wait_with_output().expect("docker wait output");
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim().parse().unwrap_or_else(|_| {
            panic!(
                "docker wait {}: unexpected output {text:?} ({})",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// `docker stop -t GRACE NAME`; returns how long the stop took.
    pub fn stop(&self, grace_secs: u32) -> Duration {
        let start = Instant::now();
        self.docker
            .ok(["stop", "-t", &grace_secs.to_string(), &self.name]);
        start.elapsed()
    }

    /// Copy `image` from the outer engine into the engine running inside this
    /// container (`docker save | docker exec -i NAME docker load`): there is
    /// no registry to pull from in the test environment.
    pub fn load_image(&self, image: &str) {
        let mut save = self
            .docker
            .command(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn docker save");
        let tar = save.stdout.take().expect("docker save stdout");
        let load = self
            .docker
            .command(["exec", "-i", &self.name, "docker", "load", "-q"])
            .stdin(tar)
            .output()
            .expect("run docker load");
        let saved = save.wait().expect("wait docker save");
        assert!(
            saved.success() && load.status.success(),
            "loading {image} into {} failed: {}",
            self.name,
            String::from_utf8_lossy(&load.stderr)
        );
    }

    /// `docker kill -s SIGNAL NAME`.
    pub fn kill(&self, signal: &str) {
        self.docker.ok(["kill", "-s", signal, &self.name]);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self
            .docker
            .command(["rm", "-f", "-v", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A volume that is `docker volume rm -f`'d when dropped (after the
/// containers using it: declare it before them so it drops after).
#[derive(Debug)]
pub struct Volume {
    docker: Docker,
    pub name: String,
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = self
            .docker
            .command(["volume", "rm", "-f", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A network that is `docker network rm`'d when dropped.
#[derive(Debug)]
pub struct Network {
    docker: Docker,
    pub name: String,
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self
            .docker
            .command(["network", "rm", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A command running on a pseudo-terminal, driven like a person at a keyboard:
/// [`send`](Pty::send) keystrokes, [`expect`](Pty::expect) output. The child
/// gets the pty as its controlling terminal, so `docker run -it` behaves as in
/// a real terminal. Dropping it kills the child.
pub struct Pty {
    child: Child,
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    /// Output before this offset was already matched by an earlier `expect`.
    seen: usize,
}

impl Pty {
    pub fn spawn(mut cmd: Command) -> Pty {
        let winsize = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&winsize), None).expect("openpty");
        // Close-on-exec, so processes other tests spawn meanwhile do not hold
        // our terminal open (the child gets the slave as its stdio anyway).
        for fd in [&pty.master, &pty.slave] {
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            )
            .expect("set FD_CLOEXEC on the pty");
        }
        let slave: OwnedFd = pty.slave;
        cmd.stdin(slave.try_clone().expect("dup pty slave"))
            .stdout(slave.try_clone().expect("dup pty slave"))
            .stderr(slave.try_clone().expect("dup pty slave"));
        // SAFETY: between fork and exec the closure only calls setsid(2) and
        // ioctl(2), both async-signal-safe, and touches no heap or locks. By
        // the time it runs, std has made the pty slave the child's stdin.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        drop(slave);
        let master = File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup pty master");
        let sink = Arc::clone(&output);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the child side is closed: the end of the session.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("pty buffer")
                    .extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            master,
            output,
            seen: 0,
        }
    }

    /// Type `bytes` (e.g. `b"sleep 100\r"`, `b"\x03"` for Ctrl-C).
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
    }

    /// Wait until output not yet matched contains `needle`; returns the output
    /// up to and including it. Panics with the whole transcript on timeout.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        let needle_bytes = needle.as_bytes();
        let mut found = None;
        // Once the child has exited, its last output may still be on its way
        // through the reader thread: allow one more look, then give up
        // rather than wait out the whole timeout.
        let mut exited_at: Option<Instant> = None;
        let (output, seen, child) = (&self.output, self.seen, &mut self.child);
        wait_until(timeout, || {
            let out = output.lock().expect("pty buffer");
            found = out[seen..]
                .windows(needle_bytes.len())
                .position(|w| w == needle_bytes)
                .map(|at| at + needle_bytes.len());
            if found.is_some() {
                return true;
            }
            match exited_at {
                Some(at) => at.elapsed() > Duration::from_millis(500),
                None => {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        exited_at = Some(Instant::now());
                    }
                    false
                }
            }
        });
        match found {
            Some(end) => {
                let out = self.output.lock().expect("pty buffer");
                let text = String::from_utf8_lossy(&out[self.seen..self.seen + end]).into_owned();
                drop(out);
                self.seen += end;
                text
            }
            None => panic!(
                "{needle:?} did not appear within {timeout:?}{}; transcript:\n{}",
                if exited_at.is_some() {
                    " (the command exited)"
                } else {
                    ""
                },
                self.transcript()
            ),
        }
    }

    /// Everything the child printed so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("pty buffer")).into_owned()
    }

    /// Wait for the child to exit; its exit code, or None on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.map(|s| s.code().unwrap_or(-1))
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ------------------------------------------------------- a host socket

/// The engine's unix socket path from `DOCKER_HOST` (default
/// /var/run/docker.sock); `None` for a tcp:// or ssh:// engine.
pub fn engine_socket() -> Option<PathBuf> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    host.strip_prefix("unix://").map(PathBuf::from)
}

/// A unix socket owned by `gid` (mode 0660) that forwards every connection to
/// the engine's socket: the "host socket" a container gets mounted, with a gid
/// this test chooses, and without changing the engine's own socket.
pub struct SocketProxy {
    dir: tempfile::TempDir,
    name: String,
    target: PathBuf,
    gid: u32,
    stopped: Arc<std::sync::atomic::AtomicBool>,
    listener: Option<thread::JoinHandle<()>>,
}

impl SocketProxy {
    pub fn start(target: PathBuf, gid: u32) -> SocketProxy {
        SocketProxy::start_named(target, gid, "docker.sock")
    }

    /// The same, with the socket named `name` in its directory (mount the
    /// directory, [`SocketProxy::dir`], to see an engine restart the way a
    /// mounted /var/run does).
    pub fn start_named(target: PathBuf, gid: u32, name: &str) -> SocketProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut proxy = SocketProxy {
            dir,
            name: name.to_string(),
            target,
            gid,
            stopped: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            listener: None,
        };
        proxy.listen();
        proxy
    }

    fn listen(&mut self) {
        let path = self.path();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind proxy socket");
        std::os::unix::fs::chown(&path, Some(0), Some(self.gid)).expect("chown proxy socket");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
        self.stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::clone(&self.stopped);
        let target = self.target.clone();
        self.listener = Some(thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stop.load(Ordering::SeqCst) {
                    // Returning drops the listener: connections are refused.
                    return;
                }
                let target = target.clone();
                thread::spawn(move || {
                    if let Ok(upstream) = UnixStream::connect(&target) {
                        pipe_both_ways(client, upstream);
                    }
                });
            }
        }));
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    /// The directory the socket is in.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The engine comes back, as a restarted dockerd does: a new socket at
    /// the same path (a new inode: a container that bind-mounted the old
    /// socket file does not see it; one that mounted the directory does).
    pub fn resume(&mut self) {
        self.stop_listening();
        self.listen();
    }

    /// The engine behind the socket goes away, as when the host's dockerd
    /// stops: the socket file stays (a bind mount pins it), nothing listens,
    /// and every new connection is refused (ECONNREFUSED).
    pub fn stop_listening(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and closes the listener.
        let _ = UnixStream::connect(self.path());
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
    }
}

fn pipe_both_ways(a: UnixStream, b: UnixStream) {
    let (mut a_read, mut b_write) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let forward = thread::spawn(move || {
        let _ = std::io::copy(&mut a_read, &mut b_write);
        let _ = b_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut b_read, mut a_write) = (b, a);
    let _ = std::io::copy(&mut b_read, &mut a_write);
    let _ = a_write.shutdown(std::net::Shutdown::Write);
    let _ = forward.join();
}

// ------------------------------------------------------------------ images

/// An image built by a test, `docker rmi -f`'d when dropped (declare it before
/// the containers that use it, so it drops after them).
#[derive(Debug)]
pub struct Image {
    docker: Docker,
    pub tag: String,
}

impl Docker {
    /// `docker build --label berth-test=<run> --label berth-test-image=<tag>
    /// -t <unique tag> CONTEXT`: the guard exists before the build does, so a
    /// build that tags and then fails is removed too. The second label gives
    /// every build an image of its own, and the guard removes only that one
    /// (`rmi --no-prune`): two tests building the same context share the
    /// build cache's images, and one test's `rmi` of the last tag of a shared
    /// image (or of its untagged parents) could delete it while the other's
    /// build was reusing it ("Unable to find image", "failed to get digest"
    /// in the other test). Returns the build's combined output on failure.
    pub fn build(&self, context: &std::path::Path, what: &str) -> Result<Image, String> {
        let image = Image {
            docker: self.clone(),
            tag: format!("{}:latest", unique_name(what)),
        };
        let label = label();
        let own = format!("berth-test-image={}", image.tag);
        let out = self.output([
            OsStr::new("build"),
            OsStr::new("--label"),
            OsStr::new(&label),
            OsStr::new("--label"),
            OsStr::new(&own),
            OsStr::new("--tag"),
            OsStr::new(&image.tag),
            context.as_os_str(),
        ]);
        if out.status.success() {
            Ok(image)
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = self
            .docker
            .command(["rmi", "-f", "--no-prune", &self.tag])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
