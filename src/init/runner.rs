//! Helper processes berth runs for itself (the docker CLI for `ssh://`
//! engines, `dockerd --help`): started with a clean signal state in their
//! own process group, both pipes read to the end, bounded by a deadline and
//! SIGKILLed (the whole group) when it passes.
//!
//! Once the reaper runs, it takes every exit status (DESIGN.md invariant 1):
//! a helper that waits on its own child then gets ECHILD ("No child
//! processes") or a status that belongs to nobody. So every helper started
//! after the reaper is up goes through [`SupervisedRunner`], which registers
//! the helper in the reaper's pid table in the same step as the fork and
//! receives its exit from there. [`OneShotRunner`] waits on its own child;
//! it exists only for the one-shot subcommands (`doctor`, `health`,
//! `host-path`) that never start a reaper, and is a different type, so the
//! run's set-up (which takes a `&SupervisedRunner`) cannot be handed one.
//!
//! Either runner can run its helpers as another user ([`Helpers::as_user`]:
//! groups, gid, uid set before exec, HOME, USER and LOGNAME from the
//! account): the docker CLI that reaches an `ssh://` engine must read the
//! target user's ~/.ssh (key, known_hosts, config), not root's.

use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Stdio};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::init::reaper::{Exit, Reaper};
use crate::init::signals;
use crate::init::spawn::{ChildSpec, Credentials};
use crate::retry::{retry, Attempt, Backoff, Retry};

/// How long a helper's pipes may stay open after it exited (a grandchild
/// that inherited them, like ssh under the docker CLI), before berth stops
/// reading.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// How long berth waits for a SIGKILLed helper's exit to come back.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// [`OneShotRunner`] polls its child this often (helpers take 10s to 100s of ms).
const ONE_SHOT_POLL: Duration = Duration::from_millis(10);

/// What a helper did: how it ended and everything it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperOutput {
    pub exit: Exit,
    /// Lossy UTF-8.
    pub stdout: String,
    pub stderr: String,
}

impl HelperOutput {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.exit == Exit::Code(0)
    }
}

/// Why a helper gave no output.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} did not finish within {deadline:?}; it was killed (SIGKILL)")]
    TimedOut {
        program: String,
        deadline: Duration,
        /// The helper's pid (its process group was killed).
        pid: i32,
    },
    #[error("cannot wait for {program}: {source}")]
    Wait {
        program: String,
        #[source]
        source: io::Error,
    },
}

/// Runs one helper to its end. Implementations read both pipes, bound the
/// run by `deadline` and kill the helper's process group when it passes.
pub trait HelperRunner {
    fn run(
        &self,
        program: &Path,
        args: &[&str],
        deadline: Duration,
    ) -> impl Future<Output = Result<HelperOutput, HelperError>>;
}

/// Helpers through berth's reaper: the only runner once the reaper is up.
#[derive(Clone)]
pub struct SupervisedRunner {
    reaper: Rc<Reaper>,
    /// Who the helpers run as (None: as berth).
    user: Option<Credentials>,
}

impl SupervisedRunner {
    pub fn new(reaper: Rc<Reaper>) -> SupervisedRunner {
        SupervisedRunner { reaper, user: None }
    }

    /// The same runner, starting its helpers as `user` (None: as berth).
    /// Switching needs root; a helper that cannot switch fails to start.
    pub fn as_user(mut self, user: Option<Credentials>) -> SupervisedRunner {
        self.user = user;
        self
    }

    /// The reaper it registers helpers with (daemons register there too).
    pub fn reaper(&self) -> Rc<Reaper> {
        self.reaper.clone()
    }
}

impl HelperRunner for SupervisedRunner {
    async fn run(
        &self,
        program: &Path,
        args: &[&str],
        deadline: Duration,
    ) -> Result<HelperOutput, HelperError> {
        let name = program.display().to_string();
        let mut command = helper_command(program, args, self.user.as_ref());
        let spawned = self
            .reaper
            .spawn(&mut command)
            .map_err(|source| HelperError::Spawn {
                program: name.clone(),
                source,
            })?;
        let pid = spawned.pid;
        let mut exit = spawned.exit;
        let pipes = Pipes::new(
            spawned.stdout.map(OwnedFd::from),
            spawned.stderr.map(OwnedFd::from),
        );
        let waited = pipes
            .collect_until(
                deadline,
                Box::pin(async {
                    (&mut exit).await.map_err(|_| {
                        io::Error::other("the reaper stopped before the helper exited")
                    })
                }),
            )
            .await;
        match waited {
            Some(done) => finished(name, done),
            None => {
                kill_group(pid);
                // The reaper hands the exit over once the kill lands.
                let _ = tokio::time::timeout(KILL_WAIT, exit).await;
                Err(HelperError::TimedOut {
                    program: name,
                    deadline,
                    pid,
                })
            }
        }
    }
}

/// A helper that exited within its deadline: its output, or why its exit
/// could not be had.
fn finished(
    program: String,
    (exit, stdout, stderr): (io::Result<Exit>, String, String),
) -> Result<HelperOutput, HelperError> {
    match exit {
        Ok(exit) => Ok(HelperOutput {
            exit,
            stdout,
            stderr,
        }),
        Err(source) => Err(HelperError::Wait { program, source }),
    }
}

/// Helpers that wait on their own child. Only for the one-shot subcommands,
/// which never start a reaper: under a reaper its waits would fail with
/// ECHILD or take an exit that is not theirs.
#[derive(Debug, Clone)]
pub struct OneShotRunner {
    _only_without_a_reaper: (),
    /// Who the helpers run as (None: as berth).
    user: Option<Credentials>,
}

impl OneShotRunner {
    /// For a process in which no reaper runs, now or later.
    pub fn without_reaper() -> OneShotRunner {
        OneShotRunner {
            _only_without_a_reaper: (),
            user: None,
        }
    }

    /// The same runner, starting its helpers as `user` (None: as berth).
    pub fn as_user(mut self, user: Option<Credentials>) -> OneShotRunner {
        self.user = user;
        self
    }
}

impl HelperRunner for OneShotRunner {
    async fn run(
        &self,
        program: &Path,
        args: &[&str],
        deadline: Duration,
    ) -> Result<HelperOutput, HelperError> {
        let name = program.display().to_string();
        let mut child: Child = helper_command(program, args, self.user.as_ref())
            .spawn()
            .map_err(|source| HelperError::Spawn {
                program: name.clone(),
                source,
            })?;
        let pid = child.id() as i32;
        let pipes = Pipes::new(
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        );
        let waited = pipes
            .collect_until(deadline, Box::pin(wait_polling(&mut child)))
            .await;
        match waited {
            Some(done) => finished(name, done),
            None => {
                kill_group(pid);
                let _ = child.wait();
                Err(HelperError::TimedOut {
                    program: name,
                    deadline,
                    pid,
                })
            }
        }
    }
}

/// Either runner, for the code the run and the one-shot subcommands share
/// (detection's ssh ping): one type, so that code is compiled once. Made
/// from a [`SupervisedRunner`] in the run and a [`OneShotRunner`] in the
/// subcommands; the run's set-up itself only takes a `&SupervisedRunner`.
#[derive(Clone)]
pub enum Helpers {
    Supervised(SupervisedRunner),
    OneShot(OneShotRunner),
}

impl Helpers {
    /// The same runner, starting its helpers as `user` (None: as berth).
    pub fn as_user(self, user: Option<Credentials>) -> Helpers {
        match self {
            Helpers::Supervised(runner) => Helpers::Supervised(runner.as_user(user)),
            Helpers::OneShot(runner) => Helpers::OneShot(runner.as_user(user)),
        }
    }
}

impl From<SupervisedRunner> for Helpers {
    fn from(runner: SupervisedRunner) -> Helpers {
        Helpers::Supervised(runner)
    }
}

impl From<OneShotRunner> for Helpers {
    fn from(runner: OneShotRunner) -> Helpers {
        Helpers::OneShot(runner)
    }
}

impl HelperRunner for Helpers {
    async fn run(
        &self,
        program: &Path,
        args: &[&str],
        deadline: Duration,
    ) -> Result<HelperOutput, HelperError> {
        match self {
            Helpers::Supervised(runner) => runner.run(program, args, deadline).await,
            Helpers::OneShot(runner) => runner.run(program, args, deadline).await,
        }
    }
}

/// `program args`, stdin from /dev/null, both outputs piped; started with
/// the signal state of berth's own commands, in its own process group, as
/// `user` when given (its groups, gid and uid; HOME, USER, LOGNAME).
fn helper_command(
    program: &Path,
    args: &[&str],
    user: Option<&Credentials>,
) -> std::process::Command {
    let mut spec = ChildSpec::new(program.as_os_str());
    spec.args = args.iter().map(OsString::from).collect();
    spec.credentials = user.cloned();
    let mut command = spec.command();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// SIGKILL to the helper's process group (it leads one: see ChildSpec),
/// so what it started dies with it. ESRCH: already gone.
fn kill_group(pid: i32) {
    let _ = signals::send(-pid, libc::SIGKILL);
}

/// Polls `child` until it exits (the one-shot runner has no SIGCHLD to
/// wait on); the caller's deadline bounds it.
async fn wait_polling(child: &mut Child) -> io::Result<Exit> {
    let forever = Retry {
        budget: None,
        attempts: None,
        backoff: Backoff::constant(ONE_SHOT_POLL),
    };
    let polled = retry(forever, |_| {
        let verdict = match child.try_wait() {
            Ok(Some(status)) => Attempt::Done(exit_of(status)),
            Ok(None) => Attempt::Again(None),
            Err(err) => Attempt::Fail(Some(err)),
        };
        std::future::ready(verdict)
    })
    .await;
    polled
        .result
        .map_err(|err| err.unwrap_or_else(|| io::Error::other("still running")))
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        // Neither: not an exit (stopped); waits only report exits.
        (None, None) => Exit::Code(-1),
    }
}

/// A helper's two output pipes, read concurrently to the end.
struct Pipes {
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

impl Pipes {
    fn new(stdout: Option<OwnedFd>, stderr: Option<OwnedFd>) -> Pipes {
        Pipes { stdout, stderr }
    }

    /// Reads both pipes while `exited` runs; once it has an answer, reads on
    /// until both pipes close or [`DRAIN_AFTER_EXIT`] passes. None: the
    /// deadline came first.
    async fn collect_until(
        self,
        deadline: Duration,
        exited: Pin<Box<dyn Future<Output = io::Result<Exit>> + '_>>,
    ) -> Option<(io::Result<Exit>, String, String)> {
        let end = Instant::now() + deadline;
        let mut out = Vec::new();
        let mut err = Vec::new();
        let result = {
            let reading = async {
                // A read error keeps what was read so far; the exit decides.
                let _ = tokio::join!(
                    read_all(self.stdout, &mut out),
                    read_all(self.stderr, &mut err)
                );
            };
            tokio::pin!(reading);
            let mut exited = exited;
            let mut done_reading = false;
            let result = loop {
                tokio::select! {
                    () = &mut reading, if !done_reading => done_reading = true,
                    result = &mut exited => break result,
                    () = tokio::time::sleep_until(end) => return None,
                }
            };
            if !done_reading {
                let drain_end = end.min(Instant::now() + DRAIN_AFTER_EXIT);
                let _ = tokio::time::timeout_at(drain_end, &mut reading).await;
            }
            result
        };
        Some((
            result,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        ))
    }
}

async fn read_all(fd: Option<OwnedFd>, into: &mut Vec<u8>) -> io::Result<()> {
    let Some(fd) = fd else {
        return Ok(());
    };
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
    pipe.read_to_end(into).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (std::path::PathBuf, Vec<&str>) {
        ("/bin/sh".into(), vec!["-c", script])
    }

    #[tokio::test]
    async fn one_shot_runner_reads_both_pipes_and_the_code() {
        let (program, args) = sh("echo out; echo err >&2; exit 3");
        let out = OneShotRunner::without_reaper()
            .run(&program, &args, Duration::from_secs(10))
            .await
            .expect("ran");
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert!(!out.success());
    }

    #[tokio::test]
    async fn one_shot_runner_kills_at_the_deadline() {
        let (program, args) = sh("sleep 30");
        let started = std::time::Instant::now();
        let err = OneShotRunner::without_reaper()
            .run(&program, &args, Duration::from_millis(200))
            .await
            .expect_err("killed");
        assert!(matches!(err, HelperError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_helper_runs_as_the_user_with_its_home() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: running a helper as another user needs root");
            return;
        }
        let user = Credentials {
            uid: 4321,
            gid: 4322,
            groups: vec![4322, 4323],
            name: Some("someone".into()),
            home: "/home/someone".into(),
        };
        let (program, args) = sh("echo $(id -u) $(id -g) $(id -G) $HOME $USER");
        let out = OneShotRunner::without_reaper()
            .as_user(Some(user))
            .run(&program, &args, Duration::from_secs(10))
            .await
            .expect("ran");
        assert_eq!(
            out.stdout.trim(),
            "4321 4322 4322 4323 /home/someone someone",
            "{}",
            out.stderr
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let err = OneShotRunner::without_reaper()
            .run(
                Path::new("/nonexistent/helper"),
                &[],
                Duration::from_secs(1),
            )
            .await
            .expect_err("no such program");
        assert!(matches!(err, HelperError::Spawn { .. }), "{err}");
    }
}
