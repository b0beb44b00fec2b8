//! `berth health`: exit 0 when the Docker engine answers a ping.
//!
//! Made for `HEALTHCHECK CMD ["berth", "health"]`, which runs in the
//! container's environment (not the command's): the engine is DOCKER_HOST or
//! the docker context when set, else the first default socket that exists
//! (the dind socket, then the rootless user's). With BERTH_DOCKER=off there is
//! no engine to check and berth being alive is all there is: healthy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::docker::client::endpoint::{configured_endpoint, DockerEnv, Endpoint};
use crate::docker::client::ping::{ping_with_retry, BollardPinger, RetryPolicy};
use crate::docker::detect::{HostPaths, MODE_VAR};

/// A health check must answer well within Docker's default 30 s timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The verdict, with one line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub healthy: bool,
    pub message: String,
}

/// The engine a health check should ping, from an environment.
pub fn engine_endpoint(
    env: &BTreeMap<String, String>,
    euid: u32,
) -> Result<Option<Endpoint>, String> {
    if let Some(configured) =
        configured_endpoint(&DockerEnv::from_map(env)).map_err(|e| e.to_string())?
    {
        return Ok(Some(configured.endpoint));
    }
    let runtime_dir = env
        .get("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{euid}")));
    // Detection's default sockets, then the rootless user's.
    let mut candidates = HostPaths::default().socket_candidates;
    candidates.push(runtime_dir.join("docker.sock"));
    Ok(candidates
        .into_iter()
        .find(|path| path.exists())
        .map(|path| Endpoint::Unix { path }))
}

/// Pings the engine once, bounded by `timeout`.
pub async fn check(env: &BTreeMap<String, String>, timeout: Duration) -> Health {
    if env
        .get(MODE_VAR)
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("off"))
    {
        return Health {
            healthy: true,
            message: format!("{MODE_VAR}=off: no engine to check"),
        };
    }
    let euid = nix::unistd::geteuid().as_raw();
    let endpoint = match engine_endpoint(env, euid) {
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
                message: err,
            }
        }
    };
    let pinger = BollardPinger::new(which::which("docker").ok());
    let report = ping_with_retry(&pinger, &endpoint, RetryPolicy::once(timeout)).await;
    match (&report.engine, &report.failure) {
        (Some(engine), _) => Health {
            healthy: true,
            message: format!(
                "{} answered: Docker {} (API {})",
                endpoint, engine.version, engine.api_version
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

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn docker_host_wins() {
        let endpoint = engine_endpoint(&env(&[("DOCKER_HOST", "tcp://10.1.2.3:2375")]), 0)
            .unwrap()
            .unwrap();
        assert_eq!(endpoint.url(), "tcp://10.1.2.3:2375");
    }

    #[test]
    fn rootless_socket_is_found_through_xdg_runtime_dir() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let found = engine_endpoint(
            &env(&[("XDG_RUNTIME_DIR", dir.path().to_str().unwrap())]),
            1000,
        )
        .unwrap();
        // The dind socket takes precedence when it exists on this machine.
        if !std::path::Path::new("/var/run/docker.sock").exists()
            && !std::path::Path::new("/run/docker.sock").exists()
        {
            assert_eq!(found, Some(Endpoint::Unix { path: sock }));
        }
    }

    #[tokio::test]
    async fn off_is_healthy_and_a_dead_socket_is_not() {
        assert!(
            check(&env(&[("BERTH_DOCKER", "off")]), DEFAULT_TIMEOUT)
                .await
                .healthy
        );
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}/none.sock", dir.path().display());
        let health = check(&env(&[("DOCKER_HOST", &host)]), Duration::from_millis(500)).await;
        assert!(!health.healthy);
        assert!(health.message.contains("none.sock"), "{}", health.message);
    }
}
