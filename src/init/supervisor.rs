//! The supervision loop: forward signals, wait for the command, shut down.
//!
//! Shutdown order (DESIGN.md, invariant 5): the stop signal goes to the
//! command; when the command has exited, SIGTERM (then SIGCONT, for stopped
//! jobs) goes to every process left, except those `spare` leaves to their own
//! manager (dockerd stops its containers itself). berth waits until it has no
//! child left or the grace period ends, then SIGKILLs the survivors, reaps,
//! and returns. The grace period starts at the first SIGTERM berth receives,
//! or when the command exits, whichever comes first.
//!
//! Every forwarded signal whose default action ends a process is followed by
//! SIGCONT to the same target, so a stopped command (a suspended job, a
//! process under a debugger) acts on it instead of sleeping through the grace
//! period: systemd does the same for every kill signal (`kill_and_sigcont`,
//! src/basic/process-util.c), csh's `kill` for TERM and HUP. When berth is
//! not PID 1, job-control stops are mirrored (job_control.rs).

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::init::job_control;
use crate::init::procs::{self, ProcInfo};
use crate::init::reaper::{Exit, Reaper, Remaining, Spawned};
use crate::init::signals::{self, Received, SignalFd};

/// How long berth waits for SIGKILLed processes to be reaped before it gives
/// up on them (a process in uninterruptible sleep cannot die sooner).
pub const KILL_WAIT: Duration = Duration::from_secs(2);

/// What the signal pump reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A signal other than SIGCHLD.
    Signal(Received),
    /// SIGCHLD arrived and the reaper ran.
    Reaped(Remaining),
}

/// Starts the task that reads signals: SIGCHLD runs the reaper at once (so
/// reaping never waits on anything else berth is doing), every other signal
/// is passed on as an [`Event`].
pub fn start_pump(
    signals: SignalFd,
    reaper: Rc<Reaper>,
) -> (mpsc::UnboundedReceiver<Event>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::task::spawn_local(async move {
        loop {
            let event = match signals.recv().await {
                Ok(received) if received.signo == libc::SIGCHLD => Event::Reaped(reaper.reap()),
                Ok(received) => Event::Signal(received),
                Err(err) => {
                    tracing::error!(error = %err, "cannot read signals; berth can no longer supervise");
                    return;
                }
            };
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    (rx, task)
}

/// Settings of one supervision.
#[derive(Debug, Clone)]
pub struct Supervision {
    pub grace: Duration,
    /// Forward signals to the command's process group, not just the command.
    pub signal_group: bool,
    pub proc_root: PathBuf,
    /// berth's own pid (1 as a namespace's init).
    pub me: i32,
}

/// Outcome of [`supervise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// How the command ended; `None` only if the signal pump failed first.
    pub command: Option<Exit>,
    /// The grace period ran out and survivors were SIGKILLed.
    pub killed: bool,
}

/// Long-running helpers berth started before the command (dockerd), which
/// shut down by their own rules rather than by the leftover sweep.
pub struct Services<'a> {
    /// Processes the sweep leaves alone: the service and what it manages.
    pub spare: &'a dyn Fn(&ProcInfo) -> bool,
    /// Asks the services to stop (once): SIGTERM to dockerd, no restarts.
    pub stop: &'a dyn Fn(),
}

impl Services<'_> {
    /// No services: every leftover is swept.
    pub const NONE: Services<'static> = Services {
        spare: &|_| false,
        stop: &|| {},
    };
}

/// Runs until the command has exited and every other child is gone (or the
/// grace period and [`KILL_WAIT`] have passed).
///
/// Services are stopped when the command exits, or, if the command is slow to
/// obey SIGTERM (an interactive shell ignores it), half-way through the grace
/// period, so dockerd still has time to stop its containers cleanly.
pub async fn supervise(
    events: &mut mpsc::UnboundedReceiver<Event>,
    main: Spawned,
    settings: &Supervision,
    services: &Services<'_>,
) -> Ended {
    let target = if settings.signal_group {
        -main.pid
    } else {
        main.pid
    };
    let mut main_exit = main.exit;
    // A namespace's init is never stopped; anywhere else berth is some
    // shell's job and follows the command's job-control stops.
    let job_control = settings.me != 1;
    let mut command: Option<Exit> = None;
    let mut children_left = true;
    let mut deadline: Option<Instant> = None;
    let mut services_deadline: Option<Instant> = None;
    let services_stopped = std::cell::Cell::new(false);
    let stop_services = || {
        if !services_stopped.replace(true) {
            (services.stop)();
        }
    };
    let mut killed = false;

    loop {
        if command.is_some() && !children_left {
            break;
        }
        let timer = deadline.map(sleep_until);
        let services_timer = services_deadline.map(sleep_until);
        tokio::select! {
            event = events.recv() => match event {
                None => {
                    // No more SIGCHLD can be seen: stop everything now.
                    kill_remaining(settings, target, command.is_none());
                    break;
                }
                Some(Event::Reaped(remaining)) => {
                    children_left = remaining == Remaining::Some;
                    // The reaper has just handed out exits: the command's may be one.
                    if command.is_none() {
                        if let Ok(exit) = main_exit.try_recv() {
                            tracing::info!(pid = main.pid, %exit, "command ended");
                            command = Some(exit);
                            deadline.get_or_insert_with(|| Instant::now() + settings.grace);
                            // With no child left there is no descendant either:
                            // skip the /proc walk (it is most of `berth true`'s cost).
                            if children_left {
                                stop_services();
                                signal_leftovers(settings, services.spare, libc::SIGTERM);
                            }
                        } else if job_control {
                            // Or it stopped: Ctrl-Z at the terminal it holds.
                            if let Some(sig) = job_control::stopped_by(main.pid) {
                                job_control::suspend(sig, main.pid);
                            }
                        }
                    }
                }
                Some(Event::Signal(received)) => {
                    if command.is_none() {
                        if job_control && received.signo == libc::SIGCONT {
                            // `fg` of a running berth: the command takes the terminal.
                            job_control::hand_terminal_to(nix::unistd::Pid::from_raw(main.pid));
                        }
                        forward(target, received);
                        if job_control && job_control::is_job_control_stop(received.signo) {
                            job_control::suspend(received.signo, main.pid);
                        }
                    } else {
                        tracing::debug!(signal = %signals::name(received.signo), "command already exited; not forwarded");
                    }
                    if received.signo == libc::SIGTERM && deadline.is_none() {
                        tracing::info!(grace = ?settings.grace, "SIGTERM received; shutting down");
                        deadline = Some(Instant::now() + settings.grace);
                        services_deadline = Some(Instant::now() + settings.grace / 2);
                    }
                }
            },
            () = async { services_timer.expect("guarded").await }, if services_timer.is_some() && !services_stopped.get() => {
                tracing::info!("the command is still running half-way through the grace period; stopping services now");
                stop_services();
                services_deadline = None;
            },
            () = async { timer.expect("guarded").await }, if timer.is_some() => {
                if killed {
                    tracing::warn!("processes remain after SIGKILL; exiting without them");
                    break;
                }
                tracing::warn!(grace = ?settings.grace, "grace period over; sending SIGKILL");
                kill_remaining(settings, target, command.is_none());
                killed = true;
                deadline = Some(Instant::now() + KILL_WAIT);
            },
        }
    }
    tracing::info!(killed, "supervision over: no child left");
    Ended { command, killed }
}

fn forward(target: i32, received: Received) {
    let name = signals::name(received.signo);
    match signals::send(target, received.signo) {
        Ok(()) => tracing::debug!(signal = %name, target, from = received.sender, "forwarded"),
        // ESRCH: the command is exiting; its exit will arrive through the reaper.
        Err(err) => {
            tracing::debug!(signal = %name, target, error = %err, "could not forward");
            return;
        }
    }
    // A stopped process keeps the signal pending until it runs again.
    if signals::terminates_by_default(received.signo) {
        let _ = signals::send(target, libc::SIGCONT);
    }
}

/// Waits for the future `work` (start-up before the command: Docker set-up)
/// while watching the signals. SIGTERM or SIGINT there cancels it: every
/// process berth started is SIGKILLed (nothing of the user's runs yet, and a
/// dockerd still starting has nothing to save) and `Err(signal)` returned, so
/// `docker stop` during a slow start returns at once instead of after its
/// timeout. Other signals have no command to go to yet and are dropped.
pub async fn unless_stopped<T>(
    events: &mut mpsc::UnboundedReceiver<Event>,
    settings: &Supervision,
    work: impl std::future::Future<Output = T>,
) -> Result<T, i32> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            event = events.recv() => match event {
                Some(Event::Signal(received)) if matches!(received.signo, libc::SIGTERM | libc::SIGINT) => {
                    tracing::warn!(signal = %signals::name(received.signo), "stopped while starting up; killing what was started");
                    signal_leftovers(settings, &|_| false, libc::SIGKILL);
                    return Err(received.signo);
                }
                Some(Event::Signal(received)) => {
                    tracing::debug!(signal = %signals::name(received.signo), "no command yet; not forwarded");
                }
                Some(Event::Reaped(_)) => {}
                None => return Err(libc::SIGKILL),
            },
        }
    }
}

fn signal_leftovers(settings: &Supervision, spare: &dyn Fn(&ProcInfo) -> bool, sig: i32) {
    let all = procs::list(&settings.proc_root);
    let pids = procs::to_stop(&all, settings.me, spare);
    if !pids.is_empty() {
        tracing::info!(count = pids.len(), signal = %signals::name(sig), "stopping leftover processes");
    }
    for pid in pids {
        // Ignore ESRCH: a process may exit between listing and signalling.
        let _ = signals::send(pid, sig);
        if sig == libc::SIGTERM {
            let _ = signals::send(pid, libc::SIGCONT);
        }
    }
}

fn kill_remaining(settings: &Supervision, target: i32, command_running: bool) {
    if command_running {
        let _ = signals::send(target, libc::SIGKILL);
    }
    signal_leftovers(settings, &|_| false, libc::SIGKILL);
}
