//! dockerd as a supervised child of berth.
//!
//! dockerd is never exec'ed over berth: it is a child registered with the
//! reaper, its output re-emitted through tracing under the `dockerd` target,
//! its readiness proven by an API ping (a socket file existing is not a daemon
//! ready). If it dies while the command runs, it is restarted with backoff, a
//! bounded number of times; the command keeps running either way.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use crate::init::reaper::{Exit, Reaper, Spawned};
use crate::init::spawn::ChildSpec;
use crate::retry::{retry, Attempt, Backoff, Retry};

/// How many of dockerd's last output lines are kept for error messages.
const TAIL_LINES: usize = 40;
/// How often readiness is probed. A ping on a missing socket fails in
/// microseconds, so a short interval costs nothing and keeps start-up fast.
const PING_INTERVAL: Duration = Duration::from_millis(10);
/// One ping's own limit.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// First wait before a restart; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// A daemon that ran this long before dying starts a fresh restart budget.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// How long a daemon that never became ready has after SIGTERM before
/// SIGKILL, and then to be reaped.
pub const NOT_READY_STOP_GRACE: Duration = Duration::from_secs(5);

/// How berth knows a daemon is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// The Docker API answers GET /_ping on this socket.
    DockerApi(PathBuf),
    /// This unix socket accepts connections (containerd's gRPC socket).
    Accepts(PathBuf),
}

impl Readiness {
    fn socket(&self) -> &Path {
        match self {
            Readiness::DockerApi(path) | Readiness::Accepts(path) => path,
        }
    }

    async fn check(&self) -> bool {
        match self {
            Readiness::DockerApi(path) => ping(path).await.is_ok(),
            Readiness::Accepts(path) => tokio::net::UnixStream::connect(path).await.is_ok(),
        }
    }
}

/// What to run and how to know it is ready.
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    /// For log lines: "dockerd", "containerd".
    pub name: &'static str,
    pub child: ChildSpec,
    pub ready: Readiness,
    pub ready_timeout: Duration,
    /// Restarts allowed in a row before berth gives up on the daemon.
    pub max_restarts: u32,
    /// Also append dockerd's raw output here.
    pub log_file: Option<PathBuf>,
    /// Run before each (re)start: stale pid files and the like.
    pub before_start: Option<BeforeStart>,
    /// A daemon not ready within `ready_timeout` gets SIGTERM, then SIGKILL
    /// after this long ([`NOT_READY_STOP_GRACE`] for berth's daemons).
    pub stop_grace: Duration,
}

/// A step run before each (re)start of a daemon.
#[derive(Clone)]
pub struct BeforeStart(Rc<dyn Fn()>);

impl BeforeStart {
    pub fn new(step: impl Fn() + 'static) -> BeforeStart {
        BeforeStart(Rc::new(step))
    }
}

impl std::fmt::Debug for BeforeStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeStart(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name} {exit} before it was ready; its last output:\n{tail}")]
    Exited {
        name: &'static str,
        exit: Exit,
        tail: String,
    },
    #[error("{name} did not answer on {socket} within {timeout:?}; its last output:\n{tail}")]
    NotReady {
        name: &'static str,
        socket: PathBuf,
        timeout: Duration,
        tail: String,
    },
}

/// The last lines a daemon printed.
#[derive(Debug, Default, Clone)]
pub struct Tail(Rc<RefCell<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.borrow_mut();
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn text(&self) -> String {
        let lines = self.0.borrow();
        if lines.is_empty() {
            return "(nothing)".into();
        }
        lines
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A running, supervised daemon.
pub struct Daemon {
    name: &'static str,
    pid: Rc<Cell<i32>>,
    stopping: Rc<Cell<bool>>,
    /// Becomes true when supervision ends (stopped, or given up on).
    ended: watch::Receiver<bool>,
}

impl Daemon {
    /// Starts the daemon, waits until it answers, and supervises it from then on.
    pub async fn start(spec: DaemonSpec, reaper: Rc<Reaper>) -> Result<Daemon, DaemonError> {
        let tail = Tail::default();
        let started = Instant::now();
        let running = launch(&spec, &reaper, &tail)?;
        let running = wait_ready(&spec, running, &tail).await?;
        tracing::info!(pid = running.pid, took = ?started.elapsed(), "{} is ready", spec.name);
        let (ended_tx, ended) = watch::channel(false);
        let daemon = Daemon {
            name: spec.name,
            pid: Rc::new(Cell::new(running.pid)),
            stopping: Rc::new(Cell::new(false)),
            ended,
        };
        let shared = Shared {
            pid: daemon.pid.clone(),
            stopping: daemon.stopping.clone(),
        };
        tokio::task::spawn_local(async move {
            supervise(spec, reaper, tail, running, shared).await;
            let _ = ended_tx.send(true);
        });
        Ok(daemon)
    }

    /// Stops the daemon: no more restarts, SIGTERM now.
    pub fn stop(&self) {
        self.stopping.set(true);
        tracing::info!(pid = self.pid(), "stopping {}", self.name);
        let _ = crate::init::signals::send(self.pid(), libc::SIGTERM);
    }

    /// Waits until the daemon has exited for good.
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        let _ = ended.wait_for(|done| *done).await;
    }

    /// The current dockerd pid (it changes after a restart).
    pub fn pid(&self) -> i32 {
        self.pid.get()
    }
}

/// State the supervision task shares with the [`Daemon`] handle.
struct Shared {
    pid: Rc<Cell<i32>>,
    stopping: Rc<Cell<bool>>,
}

fn launch(spec: &DaemonSpec, reaper: &Reaper, tail: &Tail) -> Result<Spawned, DaemonError> {
    if let Some(prepare) = &spec.before_start {
        (prepare.0)();
    }
    let mut command = spec.child.command();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut spawned = reaper
        .spawn(&mut command)
        .map_err(|source| DaemonError::Spawn {
            program: spec.child.program.to_string_lossy().into_owned(),
            source,
        })?;
    tracing::debug!(pid = spawned.pid, "{} started", spec.name);
    let log_file = spec.log_file.clone();
    if let Some(out) = spawned.stdout.take() {
        pump_lines(
            spec.name,
            OwnedFd::from(out),
            tail.clone(),
            log_file.clone(),
        );
    }
    if let Some(err) = spawned.stderr.take() {
        pump_lines(spec.name, OwnedFd::from(err), tail.clone(), log_file);
    }
    Ok(spawned)
}

async fn wait_ready(
    spec: &DaemonSpec,
    mut running: Spawned,
    tail: &Tail,
) -> Result<Spawned, DaemonError> {
    let bounds = Retry {
        budget: Some(spec.ready_timeout),
        attempts: None,
        backoff: Backoff::constant(PING_INTERVAL),
    };
    let ready = &spec.ready;
    let waited = retry(bounds, |_| {
        // An exit the reaper already handed over: it will not get ready.
        let exited = running.exit.try_recv().ok();
        async move {
            match exited {
                Some(exit) => Attempt::Fail(Some(exit)),
                None if ready.check().await => Attempt::Done(()),
                None => Attempt::Again(None),
            }
        }
    })
    .await;
    match waited.result {
        Ok(()) => Ok(running),
        Err(Some(exit)) => {
            // Let the pumps drain what it said last.
            tokio::task::yield_now().await;
            Err(DaemonError::Exited {
                name: spec.name,
                exit,
                tail: tail.text(),
            })
        }
        Err(None) => {
            // Not ready is given up on: a daemon left running would hold
            // its locks and sockets with nobody supervising it.
            stop_unready(spec, running).await;
            Err(DaemonError::NotReady {
                name: spec.name,
                socket: spec.ready.socket().to_path_buf(),
                timeout: spec.ready_timeout,
                tail: tail.text(),
            })
        }
    }
}

/// Stops a daemon that never became ready: SIGTERM, SIGKILL after
/// `spec.stop_grace`, and waits (as long again) until the reaper has its exit.
async fn stop_unready(spec: &DaemonSpec, mut running: Spawned) {
    let (name, pid) = (spec.name, running.pid);
    tracing::warn!(pid, "stopping {name}: it did not become ready");
    let _ = crate::init::signals::send(pid, libc::SIGTERM);
    if let Ok(Ok(exit)) = tokio::time::timeout(spec.stop_grace, &mut running.exit).await {
        tracing::info!(pid, %exit, "{name} stopped");
        return;
    }
    tracing::warn!(pid, grace = ?spec.stop_grace, "{name} ignored SIGTERM; killing it");
    let _ = crate::init::signals::send(pid, libc::SIGKILL);
    match tokio::time::timeout(spec.stop_grace, &mut running.exit).await {
        Ok(Ok(exit)) => tracing::info!(pid, %exit, "{name} killed"),
        _ => tracing::error!(pid, "{name} has not exited after SIGKILL"),
    }
}

async fn supervise(
    spec: DaemonSpec,
    reaper: Rc<Reaper>,
    tail: Tail,
    mut running: Spawned,
    shared: Shared,
) {
    let Shared { pid, stopping } = shared;
    let name = spec.name;
    let mut in_a_row = 0;
    let mut backoff = Backoff::doubling(FIRST_BACKOFF, MAX_BACKOFF);
    let mut up_since = Instant::now();
    loop {
        let exit = match (&mut running.exit).await {
            Ok(exit) => exit,
            Err(_) => return, // the reaper is gone: berth is exiting
        };
        if stopping.get() {
            tracing::info!(%exit, "{name} stopped");
            return;
        }
        if up_since.elapsed() >= STABLE_AFTER {
            in_a_row = 0;
            backoff.reset();
        }
        if in_a_row >= spec.max_restarts {
            tracing::error!(%exit, restarts = in_a_row, "{name} keeps dying; giving up on it (the command keeps running). Last output:\n{}", tail.text());
            return;
        }
        let pause = backoff.next_delay();
        tracing::warn!(%exit, backoff = ?pause, "{name} died; restarting it");
        sleep(pause).await;
        if stopping.get() {
            return;
        }
        in_a_row += 1;
        let attempt = launch(&spec, &reaper, &tail);
        running = match attempt {
            Ok(spawned) => spawned,
            Err(err) => {
                tracing::error!(error = %err, "cannot restart {name}");
                return;
            }
        };
        pid.set(running.pid);
        up_since = Instant::now();
        match wait_ready(&spec, running, &tail).await {
            Ok(ready) => {
                tracing::warn!(pid = ready.pid, "{name} restarted and ready");
                running = ready;
            }
            Err(err) => {
                tracing::error!(error = %err, "restarted {name} did not become ready");
                return;
            }
        }
    }
}

/// Re-emits each line a daemon writes, at the level it gave it.
fn pump_lines(name: &'static str, fd: OwnedFd, tail: Tail, log_file: Option<PathBuf>) {
    let Ok(pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        tracing::warn!("cannot read {name}'s output");
        return;
    };
    tokio::task::spawn_local(async move {
        let mut log = log_file.as_deref().and_then(open_log);
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(file) = log.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            emit(name, &line);
            tail.push(line);
        }
    });
}

fn open_log(path: &Path) -> Option<std::fs::File> {
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(file) => Some(file),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot open the dockerd log file");
            None
        }
    }
}

/// dockerd and containerd log logfmt: `time="..." level=info msg="..."`.
fn level_of(line: &str) -> &str {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("level="))
        .unwrap_or("info")
        .trim_matches('"')
}

/// Log lines go out under the `dockerd` target (containerd's too, tagged
/// with its name), so `BERTH_LOG_LEVEL=warn,dockerd=info` selects them.
fn emit(name: &str, line: &str) {
    match level_of(line) {
        "fatal" | "panic" | "error" => tracing::error!(target: "dockerd", daemon = name, "{line}"),
        "warning" | "warn" => tracing::warn!(target: "dockerd", daemon = name, "{line}"),
        "debug" | "trace" => tracing::debug!(target: "dockerd", daemon = name, "{line}"),
        _ => tracing::info!(target: "dockerd", daemon = name, "{line}"),
    }
}

/// One GET /_ping on a unix socket.
pub async fn ping(socket: &Path) -> Result<(), bollard::errors::Error> {
    let docker = bollard::Docker::connect_with_unix(
        &socket.to_string_lossy(),
        PING_TIMEOUT.as_secs(),
        bollard::API_DEFAULT_VERSION,
    )?;
    docker.ping().await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dockerd_levels() {
        assert_eq!(level_of(r#"time="2026" level=warning msg="x""#), "warning");
        assert_eq!(
            level_of(r#"time="2026" level=error msg="level=info""#),
            "error"
        );
        assert_eq!(level_of("plain text"), "info");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let tail = Tail::default();
        assert_eq!(tail.text(), "(nothing)");
        for i in 0..100 {
            tail.push(format!("line {i}"));
        }
        let text = tail.text();
        assert!(text.starts_with("  line 60"), "{text}");
        assert!(text.ends_with("line 99"));
    }

    #[tokio::test]
    async fn ping_fails_fast_without_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        assert!(ping(&dir.path().join("none.sock")).await.is_err());
        assert!(started.elapsed() < PING_TIMEOUT);
    }
}
