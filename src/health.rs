//! `berth health`: exit 0 when the Docker engine answers a ping.
//!
//! Made for `HEALTHCHECK CMD ["berth", "health"]`, which runs in the
//! container's environment (not the command's): the engine is DOCKER_HOST or
//! the docker context when set, else the first default socket that exists
//! (the dind socket, then the rootless user's). When the resolved request is
//! off (`BERTH_DOCKER=off`, or an opt-in image without the toggle) there is
//! no engine to check and berth being alive is all there is: healthy.
//!
//! Asked once ([`Patience::Once`], the default: a HEALTHCHECK repeats the
//! question itself), or until the engine answers ([`Patience::Until`],
//! `--timeout`): for a devcontainer lifecycle command or a compose
//! healthcheck that must wait for a dockerd still starting, when there is no
//! socket yet or a socket that does not answer yet.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::docker::client::endpoint::{local_engine, Endpoint};
use crate::docker::client::ping::{ping_with_retry, Pinger, RetryPolicy, DEFAULT_ATTEMPT_TIMEOUT};
use crate::docker::mode::Request;
use crate::retry::{retry, Attempt, Backoff, Retry};

/// One ping's bound without `--timeout`: well within HEALTHCHECK's 30 s.
pub const ONE_SHOT_TIMEOUT: Duration = Duration::from_secs(3);
/// The first pause between attempts while waiting; it doubles up to
/// [`WAIT_MAX_PAUSE`].
const WAIT_FIRST_PAUSE: Duration = Duration::from_millis(100);
const WAIT_MAX_PAUSE: Duration = Duration::from_secs(1);

/// How long `berth health` waits for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// One ping, cut at this long (HEALTHCHECK's use).
    Once(Duration),
    /// Look for the engine and ping it again and again until it answers or
    /// this much time has passed (no socket yet, a socket that refuses or
    /// does not answer yet, every failure until the deadline).
    Until(Duration),
}

/// The verdict, with one line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub message: String,
}

impl Health {
    fn sick(message: impl Into<String>) -> Health {
        Health {
            healthy: false,
            message: message.into(),
        }
    }
}

const NO_ENGINE: &str = "no Docker engine: DOCKER_HOST is unset and no socket exists at /var/run/docker.sock, /run/docker.sock or $XDG_RUNTIME_DIR/docker.sock";

/// Pings the engine of `env` as `patience` says; `request` is the
/// configuration's (`why` says where it came from, for the message).
pub async fn check(
    request: Request,
    why: &str,
    env: &BTreeMap<String, String>,
    euid: u32,
    patience: Patience,
    pinger: &impl Pinger,
) -> Health {
    if request == Request::Off {
        return Health {
            healthy: true,
            message: format!("Docker is off ({why}): no engine to check"),
        };
    }
    let (budget, backoff) = match patience {
        // No pause can fit in a zero budget: exactly one attempt.
        Patience::Once(timeout) => (Duration::ZERO, Backoff::constant(timeout)),
        Patience::Until(budget) => (budget, Backoff::doubling(WAIT_FIRST_PAUSE, WAIT_MAX_PAUSE)),
    };
    let deadline = Instant::now() + budget;
    let retried = retry(
        Retry {
            budget: Some(budget),
            attempts: None,
            backoff,
        },
        |_| async move {
            let endpoint = match local_engine(env, euid) {
                Ok(Some(endpoint)) => endpoint,
                Ok(None) => return Attempt::Again(Health::sick(NO_ENGINE)),
                // A DOCKER_HOST or context berth cannot read will not improve.
                Err(err) => return Attempt::Fail(Health::sick(err.to_string())),
            };
            let timeout = match patience {
                Patience::Once(timeout) => timeout,
                Patience::Until(_) => DEFAULT_ATTEMPT_TIMEOUT
                    .min(deadline.saturating_duration_since(Instant::now()))
                    .max(Duration::from_millis(100)),
            };
            ping_once(pinger, &endpoint, timeout).await
        },
    )
    .await;
    match (retried.result, patience) {
        (Ok(health), _) => health,
        (Err(health), Patience::Once(_)) => health,
        (Err(health), Patience::Until(budget)) => Health::sick(format!(
            "{} (still, after {} attempt(s) within {})",
            health.message,
            retried.attempts,
            humantime(budget)
        )),
    }
}

async fn ping_once(
    pinger: &impl Pinger,
    endpoint: &Endpoint,
    timeout: Duration,
) -> Attempt<Health, Health> {
    let report = ping_with_retry(pinger, endpoint, RetryPolicy::once(timeout)).await;
    match (&report.engine, &report.failure) {
        (Some(engine), _) => Attempt::Done(Health {
            healthy: true,
            message: format!(
                "{} answered: Docker {} (API {})",
                endpoint, engine.version, engine.api_version
            ),
        }),
        (None, Some(failure)) => Attempt::Again(Health::sick(format!(
            "{endpoint} did not answer: {failure}"
        ))),
        (None, None) => Attempt::Again(Health::sick(format!("{endpoint} did not answer"))),
    }
}

/// `20s`, `1.5s`, `500ms`: as `--timeout` takes it.
fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::client::diagnosis::PingFailure;
    use crate::docker::client::ping::tests::{engine, ScriptedPinger};
    use crate::docker::client::ping::BollardPinger;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn off_is_healthy_and_a_dead_socket_is_not() {
        let pinger = BollardPinger::without_reaper(None);
        let off = check(
            Request::Off,
            "BERTH_DOCKER=off",
            &env(&[]),
            0,
            Patience::Once(ONE_SHOT_TIMEOUT),
            &pinger,
        )
        .await;
        assert!(off.healthy, "{}", off.message);
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}/none.sock", dir.path().display());
        let env = env(&[("DOCKER_HOST", &host)]);
        let health = check(
            Request::Auto,
            "",
            &env,
            0,
            Patience::Once(Duration::from_millis(500)),
            &pinger,
        )
        .await;
        assert!(!health.healthy);
        assert!(health.message.contains("none.sock"), "{}", health.message);
    }

    fn missing() -> Result<crate::docker::client::ping::EngineInfo, PingFailure> {
        Err(PingFailure::SocketMissing {
            path: "/run/dind/docker.sock".into(),
        })
    }

    fn refused() -> Result<crate::docker::client::ping::EngineInfo, PingFailure> {
        Err(PingFailure::SocketRefused {
            path: "/run/dind/docker.sock".into(),
        })
    }

    /// `--timeout` waits: no socket yet, then one that refuses, then an
    /// engine that answers (issue 13). Without it, the first failure is
    /// the verdict, as HEALTHCHECK needs.
    #[tokio::test(start_paused = true)]
    async fn with_a_timeout_it_waits_for_the_engine_to_answer() {
        let env = env(&[("DOCKER_HOST", "unix:///run/dind/docker.sock")]);
        let pinger = ScriptedPinger::new(vec![missing(), refused(), refused(), Ok(engine())]);
        let started = Instant::now();
        let health = check(
            Request::Auto,
            "",
            &env,
            0,
            Patience::Until(Duration::from_secs(20)),
            &pinger,
        )
        .await;
        assert!(health.healthy, "{}", health.message);
        assert_eq!(pinger.asked.borrow().len(), 4);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        let pinger = ScriptedPinger::new(vec![missing(), Ok(engine())]);
        let once = check(
            Request::Auto,
            "",
            &env,
            0,
            Patience::Once(ONE_SHOT_TIMEOUT),
            &pinger,
        )
        .await;
        assert!(!once.healthy, "{}", once.message);
        assert_eq!(pinger.asked.borrow().len(), 1, "one ping only");
        assert!(once.message.contains("no socket at"), "{}", once.message);
    }

    /// An engine that never answers: unhealthy once the time is up, with
    /// the last reason and what was tried.
    #[tokio::test(start_paused = true)]
    async fn it_gives_up_when_the_timeout_passes() {
        let env = env(&[("DOCKER_HOST", "unix:///run/dind/docker.sock")]);
        let pinger = ScriptedPinger::new(Vec::new()); // refuses every time
        let started = Instant::now();
        let health = check(
            Request::Auto,
            "",
            &env,
            0,
            Patience::Until(Duration::from_secs(5)),
            &pinger,
        )
        .await;
        assert!(!health.healthy);
        let waited = started.elapsed();
        assert!(waited <= Duration::from_secs(5), "{waited:?}");
        assert!(waited >= Duration::from_secs(3), "{waited:?}");
        assert!(health.message.contains("within 5s"), "{}", health.message);
        assert!(pinger.asked.borrow().len() > 3);
    }

    /// With no DOCKER_HOST and no socket yet, the default sockets are looked
    /// for again until one appears (dockerd creating /run/user/N/docker.sock).
    #[tokio::test(start_paused = true)]
    async fn it_waits_for_a_default_socket_to_appear() {
        if DEFAULT_SOCKETS_HERE
            .iter()
            .any(|p| std::path::Path::new(p).exists())
        {
            eprintln!("skipped: this machine has a default docker socket");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let runtime_dir = dir.path().display().to_string();
        let env = env(&[("XDG_RUNTIME_DIR", &runtime_dir)]);
        let pinger = ScriptedPinger::new(vec![Ok(engine())]);
        let appears = socket.clone();
        let listener = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            std::os::unix::net::UnixListener::bind(&appears).expect("bind")
        });
        let health = check(
            Request::Auto,
            "",
            &env,
            0,
            Patience::Until(Duration::from_secs(20)),
            &pinger,
        )
        .await;
        drop(listener.await);
        assert!(health.healthy, "{}", health.message);
        assert_eq!(
            *pinger.asked.borrow(),
            [format!("unix://{}", socket.display())]
        );
    }

    const DEFAULT_SOCKETS_HERE: [&str; 2] = crate::docker::client::endpoint::DEFAULT_SOCKETS;

    #[test]
    fn durations_read_as_given() {
        assert_eq!(humantime(Duration::from_secs(20)), "20s");
        assert_eq!(humantime(Duration::from_millis(500)), "500ms");
        assert_eq!(humantime(Duration::from_millis(1500)), "1.5s");
    }
}
