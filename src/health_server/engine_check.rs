//! The engine's part of /healthz, shared by every request: at most one ping
//! in flight, and its result reused for [`REUSE`] after it is known, so a
//! probe storm of 1000 requests per second costs the engine about one ping
//! per second, and none at all while nobody asks.
//!
//! Requests that arrive while a ping is in flight wait for it (a hung engine
//! is then reported by every one of them within [`PING_TIMEOUT`]); the ping
//! runs as a task of its own, so a client that hangs up does not cancel it
//! for the others.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::docker::client::endpoint::Endpoint;
use crate::docker::client::ping::{ping_only, BollardPinger};
use crate::docker::host_path::with_deadline;

/// How long a ping's result answers /healthz after it is known. The engine
/// going away shows as 503 at most this long (plus one ping) later.
pub const REUSE: Duration = Duration::from_secs(1);
/// One engine ping: a hung engine shows as 503, not as a probe that times
/// out without saying why.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The engine's verdict: Err is one line saying why it is down.
pub type Verdict = Result<(), Rc<str>>;

/// Asks the engine whether it answers; Err: one line saying why not.
pub trait EngineProbe {
    fn probe(&self) -> impl Future<Output = Result<(), String>>;
}

/// The real probe: one bounded `GET /_ping` of the command's engine
/// ([`ping_only`]: /version and /info would cost dockerd far more than the
/// ping, once a second under load). Its failure reads as doctor's does: the
/// endpoint, then the diagnosis
/// ([`PingFailure`](crate::docker::client::diagnosis::PingFailure)'s text,
/// which names the fix).
#[derive(Clone)]
pub struct PingProbe {
    pub endpoint: Endpoint,
    pub pinger: BollardPinger,
    pub timeout: Duration,
}

impl EngineProbe for PingProbe {
    async fn probe(&self) -> Result<(), String> {
        ping_only(&self.pinger, &self.endpoint, self.timeout)
            .await
            .map_err(|failure| {
                format!(
                    "{} did not answer: {}",
                    self.endpoint,
                    with_deadline(failure, self.timeout)
                )
            })
    }
}

/// One probe's verdict, shared by all requests (single-threaded: berth's
/// LocalSet).
pub struct SharedVerdict<E> {
    probe: E,
    reuse: Duration,
    state: RefCell<State>,
    /// Woken when a ping ends.
    done: Notify,
}

#[derive(Default)]
struct State {
    /// The latest verdict and when it was known.
    last: Option<(Instant, Verdict)>,
    pinging: bool,
    /// Pings finished so far: a waiter takes the verdict of the ping it waited for.
    finished: u64,
}

impl<E: EngineProbe + 'static> SharedVerdict<E> {
    pub fn new(probe: E, reuse: Duration) -> Rc<Self> {
        Rc::new(SharedVerdict {
            probe,
            reuse,
            state: RefCell::default(),
            done: Notify::new(),
        })
    }

    /// The verdict: the last one while it is younger than the reuse window,
    /// else that of the ping in flight (started here when there is none).
    /// Must be called inside a LocalSet (the ping is a local task).
    pub async fn verdict(self: &Rc<Self>) -> Verdict {
        let mut waited_for = None;
        loop {
            // Registered before the state is read: a ping ending in between
            // still wakes this waiter (Notify::notify_waiters' guarantee).
            let pinged = self.done.notified();
            {
                let mut state = self.state.borrow_mut();
                if let Some((at, verdict)) = &state.last {
                    let fresh = at.elapsed() < self.reuse;
                    if fresh || waited_for.is_some_and(|seen| state.finished > seen) {
                        return verdict.clone();
                    }
                }
                waited_for = Some(state.finished);
                if !state.pinging {
                    state.pinging = true;
                    tokio::task::spawn_local(self.clone().ping());
                }
            }
            pinged.await;
        }
    }

    async fn ping(self: Rc<Self>) {
        let verdict = self.probe.probe().await.map_err(Rc::from);
        {
            let mut state = self.state.borrow_mut();
            state.last = Some((Instant::now(), verdict));
            state.pinging = false;
            state.finished += 1;
        }
        self.done.notify_waiters();
    }

    /// Pings finished so far.
    #[cfg(test)]
    pub fn pings(&self) -> u64 {
        self.state.borrow().finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::client::diagnosis::PingFailure;
    use std::cell::Cell;

    /// Answers after `delay` with what `up` says at the time, counting calls.
    struct Counting {
        up: Rc<Cell<bool>>,
        calls: Rc<Cell<u32>>,
        delay: Duration,
    }

    impl EngineProbe for Counting {
        async fn probe(&self) -> Result<(), String> {
            self.calls.set(self.calls.get() + 1);
            tokio::time::sleep(self.delay).await;
            if self.up.get() {
                Ok(())
            } else {
                Err("gone".into())
            }
        }
    }

    fn counting(delay: Duration) -> (Counting, Rc<Cell<bool>>, Rc<Cell<u32>>) {
        let up = Rc::new(Cell::new(true));
        let calls = Rc::new(Cell::new(0));
        let probe = Counting {
            up: up.clone(),
            calls: calls.clone(),
            delay,
        };
        (probe, up, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_one_ping() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (probe, _, calls) = counting(Duration::from_millis(50));
                let shared = SharedVerdict::new(probe, REUSE);
                let asks: Vec<_> = (0..200)
                    .map(|_| {
                        let shared = shared.clone();
                        tokio::task::spawn_local(async move { shared.verdict().await })
                    })
                    .collect();
                for ask in asks {
                    assert_eq!(ask.await.unwrap(), Ok(()));
                }
                assert_eq!(calls.get(), 1);
                // Within the window: no new ping.
                tokio::time::sleep(REUSE / 2).await;
                assert_eq!(shared.verdict().await, Ok(()));
                assert_eq!((calls.get(), shared.pings()), (1, 1));
            })
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_costs_one_ping_per_window() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (probe, _, calls) = counting(Duration::from_millis(5));
                let shared = SharedVerdict::new(probe, REUSE);
                // 1000 requests a second for ten seconds.
                for _ in 0..10_000 {
                    assert_eq!(shared.verdict().await, Ok(()));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // One ping per window of 1 s (plus the 5 ms each ping takes).
                assert!((9..=11).contains(&calls.get()), "{} pings", calls.get());
            })
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_engine_going_away_shows_within_the_reuse_window() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let ping_time = Duration::from_millis(20);
                let (probe, up, _) = counting(ping_time);
                let shared = SharedVerdict::new(probe, REUSE);
                assert_eq!(shared.verdict().await, Ok(()));
                let gone_at = Instant::now();
                up.set(false);
                // Paused clock: the bound is the reuse window, not a speed.
                let bound = REUSE + ping_time + Duration::from_millis(10);
                while shared.verdict().await.is_ok() {
                    assert!(gone_at.elapsed() <= bound, "still Ok after {bound:?}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert!(gone_at.elapsed() <= bound);
                assert_eq!(shared.verdict().await, Err(Rc::from("gone")));
                // And back.
                up.set(true);
                tokio::time::sleep(REUSE).await;
                assert_eq!(shared.verdict().await, Ok(()));
            })
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_gives_up_does_not_cancel_the_ping() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (probe, _, calls) = counting(Duration::from_millis(100));
                let shared = SharedVerdict::new(probe, REUSE);
                let impatient =
                    tokio::time::timeout(Duration::from_millis(10), shared.verdict()).await;
                assert!(impatient.is_err());
                assert_eq!(shared.verdict().await, Ok(()));
                assert_eq!(calls.get(), 1);
            })
            .await;
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_reuse_every_waiter_still_gets_an_answer() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (probe, _, _) = counting(Duration::from_millis(5));
                let shared = SharedVerdict::new(probe, Duration::ZERO);
                assert_eq!(shared.verdict().await, Ok(()));
                assert_eq!(shared.verdict().await, Ok(()));
                assert_eq!(shared.pings(), 2);
            })
            .await;
    }

    /// The 503 reason is the text `berth health` prints, word for word, and
    /// its diagnosis the one doctor gives (the [`PingFailure`] of
    /// [`ping_with_retry`](crate::docker::client::ping::ping_with_retry)),
    /// from real pings of a socket file that is missing, one nobody listens
    /// on, and one that takes the connection and never answers.
    #[tokio::test]
    async fn the_reason_is_the_diagnosis() {
        use crate::docker::client::ping::{ping_with_retry, RetryPolicy};
        use crate::docker::mode::Request;
        use crate::health::{check, Patience};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("docker.sock");
        let timeout = Duration::from_millis(300);
        let probe = PingProbe {
            endpoint: Endpoint::Unix { path: path.clone() },
            pinger: BollardPinger::without_reaper(None),
            timeout,
        };
        let env = [("DOCKER_HOST".to_string(), probe.endpoint.url())].into();
        let url = probe.endpoint.url();
        let compare = |case: &'static str| {
            let (probe, env, url) = (&probe, &env, &url);
            async move {
                let reason = probe.probe().await.expect_err(case);
                let health = check(
                    Request::Auto,
                    "test",
                    env,
                    0,
                    Patience::Once(timeout),
                    &probe.pinger,
                )
                .await;
                assert!(!health.healthy, "{case}");
                assert_eq!(reason, health.message, "{case}: berth health says");
                let report =
                    ping_with_retry(&probe.pinger, &probe.endpoint, RetryPolicy::once(timeout))
                        .await;
                let failure = with_deadline(report.failure.expect(case), timeout);
                assert_eq!(
                    reason,
                    format!("{url} did not answer: {failure}"),
                    "{case}: doctor's diagnosis"
                );
                failure
            }
        };
        let missing = compare("missing").await;
        assert!(
            matches!(missing, PingFailure::SocketMissing { .. }),
            "{missing:?}"
        );
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
        let refused = compare("refused").await;
        assert!(
            matches!(refused, PingFailure::SocketRefused { .. }),
            "{refused:?}"
        );
        std::fs::remove_file(&path).expect("remove");
        let _silent = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let hung = compare("hung").await;
        assert!(matches!(hung, PingFailure::Timeout { .. }), "{hung:?}");
    }

    /// Against a real engine: one `GET /_ping`. Set BERTH_TEST_DOCKER_SOCK
    /// to its socket path to run it.
    #[tokio::test]
    #[ignore = "needs a real engine: BERTH_TEST_DOCKER_SOCK=/path/to/docker.sock cargo test -- --ignored"]
    async fn a_real_engine_answers_the_ping() {
        let Some(sock) = std::env::var_os("BERTH_TEST_DOCKER_SOCK") else {
            panic!("BERTH_TEST_DOCKER_SOCK is not set (this test is #[ignore]d for that reason)");
        };
        let probe = PingProbe {
            endpoint: Endpoint::Unix { path: sock.into() },
            pinger: BollardPinger::without_reaper(None),
            timeout: PING_TIMEOUT,
        };
        assert_eq!(probe.probe().await, Ok(()));
    }
}
