//! Remote: DOCKER_HOST (tcp://, ssh://) or a docker context, proven by a ping.

use std::path::Path;

use super::facts::*;
use super::*;
use crate::docker::client::endpoint::{ConfiguredEndpoint, Endpoint};
use crate::docker::client::ping::{ping_with_retry, Pinger};
use crate::docker::finding::Verdict;

impl<P: Pinger> Probe<'_, P> {
    /// The configured endpoint when it is tcp:// or ssh:// (remote mode).
    pub(super) fn remote_endpoint(&self) -> Option<&ConfiguredEndpoint> {
        self.configured
            .as_ref()
            .filter(|c| !matches!(c.endpoint, Endpoint::Unix { .. }))
    }

    /// DOCKER_HOST=unix://PATH: the socket the CLI will use.
    pub(super) fn configured_unix_path(&self) -> Option<&Path> {
        match self.configured.as_ref().map(|c| &c.endpoint) {
            Some(Endpoint::Unix { path }) => Some(path),
            _ => None,
        }
    }

    /// The warning for a DOCKER_HOST=unix://PATH away from the default
    /// socket, where berth is about to start a dockerd of its own: that
    /// dockerd listens on the default socket unless told otherwise.
    pub(super) fn custom_unix_host_warning(&self) -> Option<Finding> {
        let path = self.configured_unix_path()?;
        if self.paths.socket_candidates.iter().any(|c| c == path) {
            return None;
        }
        Some(
            Finding::new(
                "docker-host",
                Verdict::Warning,
                format!(
                    "DOCKER_HOST is unix://{}, where the dockerd berth starts here does not listen",
                    path.display()
                ),
            )
            .with_fix(format!(
                "make that dockerd listen there (-H unix://{}), or unset DOCKER_HOST",
                path.display()
            )),
        )
    }

    /// Remote: DOCKER_HOST (tcp/ssh) or a docker context, proven by a ping.
    pub(super) async fn remote(&mut self) -> Found {
        self.probing = Some(Mode::Remote);
        let Some(configured) = self.remote_endpoint().cloned() else {
            self.note(
                "remote",
                Verdict::Rejected,
                "no remote engine configured: DOCKER_HOST is not tcp:// or ssh:// and no docker context is selected",
            );
            return Found::No(
                "DOCKER_HOST is not set to tcp:// or ssh:// and no docker context is selected"
                    .into(),
            );
        };
        let report =
            ping_with_retry(self.pinger, &configured.endpoint, self.options.remote_retry).await;
        let saw = format!(
            "{} from {}: {}",
            configured.endpoint,
            configured.source,
            describe_ping(&report)
        );
        if !report.answered() {
            // A failure worth retrying was retried for the whole budget
            // (a compose service may not be in DNS yet): say which knob
            // bounds that wait.
            let knob = match &report.failure {
                Some(failure) if failure.is_retryable() => format!(
                    " (BERTH_REMOTE_TIMEOUT={}s bounds the wait)",
                    self.options.remote_retry.total.as_secs_f64()
                ),
                _ => String::new(),
            };
            self.note("remote", Verdict::Rejected, format!("{saw}{knob}"));
            // The run's warning carries this text (the evidence is logged
            // at debug): the attempts and the knob belong in it.
            return Found::No(format!(
                "{} did not answer: {}{knob}",
                configured.endpoint,
                describe_ping(&report)
            ));
        }
        self.note("remote", Verdict::Chosen, saw);
        let mut d = self.finish(Some(Mode::Remote));
        d.endpoint = Some(configured.endpoint);
        d.engine = report.engine;
        Found::Yes(Box::new(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::client::ping::tests::engine;

    use crate::docker::detect::tests::FakeHost;

    /// A configured remote engine that does not answer: the warning
    /// carries the reason itself (the run logs it before the evidence, so
    /// "see why above" pointed at nothing).
    #[test]
    fn the_remote_warning_says_why() {
        let mut h = FakeHost::plain();
        h.set("DOCKER_HOST", "tcp://docker:2375");
        let d = h.detect(vec![]).0.expect("ok");
        let warning = d.warnings().next().expect("a warning");
        assert!(
            warning.seen.contains(
                "tcp://docker:2375 did not answer: connection refused by tcp://docker:2375"
            ),
            "{warning}"
        );
        assert!(
            !warning.fix.as_deref().unwrap_or_default().contains("above"),
            "{warning}"
        );
    }

    #[test]
    fn remote_wins_over_socket() {
        let mut h = FakeHost::plain();
        h.add_socket(true);
        h.set("DOCKER_HOST", "tcp://docker:2375");
        let (d, asked) = h.detect(vec![Ok(engine())]);
        let d = d.expect("ok");
        assert_eq!(d.mode, Some(Mode::Remote));
        assert_eq!(asked, ["tcp://docker:2375"]);
        assert!(d
            .findings
            .iter()
            .any(|e| e.check == "remote" && e.verdict == Verdict::Chosen));
    }

    #[test]
    fn unreachable_remote_reports_and_does_not_fall_back() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.set("DOCKER_HOST", "tcp://docker:2376");
        let (d, _) = h.detect(vec![]);
        let d = d.expect("ok");
        assert_eq!(d.mode, None);
        let remote = d
            .findings
            .iter()
            .find(|e| e.check == "remote" && e.verdict == Verdict::Rejected)
            .expect("remote findings");
        assert!(
            remote.seen.contains("connection refused"),
            "{}",
            remote.seen
        );
    }

    #[test]
    fn forced_remote_without_config_names_the_gap() {
        let mut h = FakeHost::plain();
        h.request = Request::Force(Mode::Remote);
        h.set("HOME", "/nonexistent");
        let err = h.detect(vec![]).0.expect_err("forced remote");
        assert!(
            err.to_string()
                .starts_with("BERTH_DOCKER=remote but DOCKER_HOST"),
            "{err}"
        );
    }

    #[test]
    fn custom_unix_docker_host_without_engine_warns_when_starting_dind() {
        let mut h = FakeHost::new("status-privileged", "mountinfo-dind", "uid_map-identity");
        h.install("dockerd");
        h.set("DOCKER_HOST", "unix:///srv/engine/docker.sock");
        let d = h.detect(vec![]).0.expect("ok");
        assert_eq!(d.mode, Some(Mode::Dind));
        let w = d
            .warnings()
            .find(|e| e.check == "docker-host")
            .expect("warning");
        assert!(
            w.fix
                .as_deref()
                .is_some_and(|fix| fix.contains("-H unix:///srv/engine/docker.sock")),
            "{w}"
        );
    }

    #[test]
    fn malformed_docker_host_is_an_error() {
        let mut h = FakeHost::plain();
        h.set("DOCKER_HOST", "docker:2375");
        assert!(matches!(h.detect(vec![]).0, Err(DetectError::Endpoint(_))));
    }
}
