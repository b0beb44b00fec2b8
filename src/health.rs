//! `berth health`: exit 0 when the Docker engine answers a ping.
//!
//! Made for `HEALTHCHECK CMD ["berth", "health"]`, which runs in the
//! container's environment (not the command's): the engine is DOCKER_HOST or
//! the docker context when set, else the first default socket that exists
//! (the dind socket, then the rootless user's). When the resolved request is
//! off (`BERTH_DOCKER=off`, or an opt-in image without the toggle) there is
//! no engine to check and berth being alive is all there is: healthy.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::docker::client::endpoint::local_engine;
use crate::docker::client::ping::{ping_with_retry, Pinger, RetryPolicy};
use crate::docker::mode::Request;

/// The verdict, with one line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub message: String,
}

/// Pings the engine of `env` once, bounded by `timeout`; `request` is the
/// configuration's (`why` says where it came from, for the message).
pub async fn check(
    request: Request,
    why: &str,
    env: &BTreeMap<String, String>,
    euid: u32,
    timeout: Duration,
    pinger: &impl Pinger,
) -> Health {
    if request == Request::Off {
        return Health {
            healthy: true,
            message: format!("Docker is off ({why}): no engine to check"),
        };
    }
    let endpoint = match local_engine(env, euid) {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            return Health {
                healthy: false,
                message: "no Docker engine: DOCKER_HOST is unset and no socket exists at /var/run/docker.sock, /run/docker.sock or $XDG_RUNTIME_DIR/docker.sock".into(),
            }
        }
        Err(err) => {
            return Health {
                healthy: false,
                message: err.to_string(),
            }
        }
    };
    let report = ping_with_retry(pinger, &endpoint, RetryPolicy::once(timeout)).await;
    match (&report.engine, &report.failure) {
        (Some(engine), _) => Health {
            healthy: true,
            message: format!(
                "{} answered: {} {} (API {})",
                endpoint,
                engine.product(),
                engine.version,
                engine.api_version
            ),
        },
        (None, Some(failure)) => Health {
            healthy: false,
            message: format!("{endpoint} did not answer: {failure}"),
        },
        (None, None) => Health {
            healthy: false,
            message: format!("{endpoint} did not answer"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            Duration::from_secs(3),
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
            Duration::from_millis(500),
            &pinger,
        )
        .await;
        assert!(!health.healthy);
        assert!(health.message.contains("none.sock"), "{}", health.message);
    }
}
