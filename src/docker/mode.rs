//! What the user asked for about Docker, before anything is detected.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// How berth gives the container Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Off,
    Socket,
    Remote,
    Dind,
    Rootless,
    Sysbox,
}

impl Mode {
    pub const ALL: [Mode; 6] = [
        Mode::Off,
        Mode::Socket,
        Mode::Remote,
        Mode::Dind,
        Mode::Rootless,
        Mode::Sysbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Socket => "socket",
            Mode::Remote => "remote",
            Mode::Dind => "dind",
            Mode::Rootless => "rootless",
            Mode::Sysbox => "sysbox",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown docker mode {value:?}: valid values are auto, off, socket, remote, dind, rootless, sysbox")]
pub struct ParseModeError {
    pub value: String,
}

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == wanted)
            .ok_or_else(|| ParseModeError {
                value: s.to_owned(),
            })
    }
}

/// Detect, or use the mode the user forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DockerChoice {
    Auto,
    /// Docker is off (forced off, or the image asks for opt-in and it was not given).
    Off,
    Forced(Mode),
}

impl FromStr for DockerChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<DockerChoice, String> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(DockerChoice::Auto);
        }
        match Mode::from_str(text).map_err(|e| e.to_string())? {
            Mode::Off => Ok(DockerChoice::Off),
            mode => Ok(DockerChoice::Forced(mode)),
        }
    }
}

impl DockerChoice {
    /// Combines `--docker`, the image's opt-in setting and the
    /// WS_DOCKER_ENABLE_CLIENT toggle. An explicit mode wins; otherwise the
    /// toggle decides when given, and opt-in images default to off.
    pub fn combine(mode: Option<DockerChoice>, opt_in: bool, toggle: Option<bool>) -> DockerChoice {
        match (mode, toggle) {
            (Some(choice), _) => choice,
            (None, Some(true)) => DockerChoice::Auto,
            (None, Some(false)) => DockerChoice::Off,
            (None, None) if opt_in => DockerChoice::Off,
            (None, None) => DockerChoice::Auto,
        }
    }
}

/// What berth does when Docker cannot be set up in auto mode, or a remote
/// engine does not answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Log one clear warning and run the command anyway.
    #[default]
    Warn,
    /// Exit with the documented code instead of running the command.
    Fail,
}

impl FromStr for FailurePolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<FailurePolicy, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "warn" | "continue" => Ok(FailurePolicy::Warn),
            "fail" => Ok(FailurePolicy::Fail),
            _ => Err("use warn (run the command without Docker) or fail".into()),
        }
    }
}
