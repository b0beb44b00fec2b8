//! tracing set-up: human text or JSON on stderr, or journald.

use std::io::{self, IsTerminal};
use std::path::Path;

use clap::ValueEnum;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Where journald listens; its presence makes `auto` choose journald.
pub(crate) const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// `--log-format`: how berth's own log lines look on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// `--log-target`: where berth's own log lines go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogTarget {
    /// journald when its socket exists, else stderr.
    #[default]
    Auto,
    Stderr,
    Journald,
}

/// Installs the global subscriber. Falls back to stderr, with a warning, when
/// journald was asked for but cannot be reached (the usual case inside a
/// container).
pub fn init(filter: Targets, format: LogFormat, target: LogTarget) {
    let want_journald = match target {
        LogTarget::Journald => true,
        LogTarget::Auto => Path::new(JOURNALD_SOCKET).exists(),
        LogTarget::Stderr => false,
    };
    let journald = want_journald.then(tracing_journald::layer);
    let (journald, journald_error) = match journald {
        Some(Ok(layer)) => (Some(layer.with_syslog_identifier("berth".into())), None),
        Some(Err(err)) => (None, Some(err)),
        None => (None, None),
    };
    let stderr = journald.is_none().then(|| match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(io::stderr)
            .with_ansi(io::stderr().is_terminal())
            .without_time()
            .boxed(),
    });
    tracing_subscriber::registry()
        .with(journald)
        .with(stderr)
        .with(filter)
        .init();
    if let (LogTarget::Journald, Some(err)) = (target, journald_error) {
        tracing::warn!(error = %err, "journald is not reachable (usual inside a container); logging to stderr");
    }
}
