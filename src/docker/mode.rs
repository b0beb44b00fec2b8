//! What was asked about Docker, typed once: the configuration resolves
//! `--docker`, `BERTH_DOCKER`, the image's opt-in and the
//! WS_DOCKER_ENABLE_CLIENT toggle into one [`Request`]; detection, the run,
//! `berth health` and `berth doctor` all take that value and never read the
//! variables again.

use std::fmt;

use clap::builder::PossibleValue;
use clap::ValueEnum;
use serde::{Serialize, Serializer};

/// The variable that selects the mode (the `--docker` flag's), as errors name it.
pub const MODE_VAR: &str = "BERTH_DOCKER";

/// How berth gives the container Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The host's engine socket, mounted in (sibling containers).
    Socket,
    /// An engine elsewhere: DOCKER_HOST=tcp:// or ssh://, or a docker context.
    Remote,
    /// berth's own dockerd in a privileged container.
    Dind,
    /// berth's own dockerd under rootlesskit as the user.
    Rootless,
    /// berth's own dockerd under the sysbox runtime.
    Sysbox,
}

impl Mode {
    #[cfg(test)]
    pub const ALL: [Mode; 5] = [
        Mode::Socket,
        Mode::Remote,
        Mode::Dind,
        Mode::Rootless,
        Mode::Sysbox,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Socket => "socket",
            Mode::Remote => "remote",
            Mode::Dind => "dind",
            Mode::Rootless => "rootless",
            Mode::Sysbox => "sysbox",
        }
    }

    /// Modes in which berth starts an engine of its own.
    pub fn starts_an_engine(self) -> bool {
        matches!(self, Mode::Dind | Mode::Sysbox | Mode::Rootless)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was asked: detect, nothing, or exactly one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Detect (the default).
    Auto,
    /// Docker is off: asked by name, by the toggle, or an opt-in image
    /// without the toggle.
    Off,
    /// Only this mode; one that cannot work is an error naming the gap.
    Force(Mode),
}

impl Request {
    const VARIANTS: [Request; 7] = [
        Request::Auto,
        Request::Off,
        Request::Force(Mode::Socket),
        Request::Force(Mode::Remote),
        Request::Force(Mode::Dind),
        Request::Force(Mode::Rootless),
        Request::Force(Mode::Sysbox),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Request::Auto => "auto",
            Request::Off => "off",
            Request::Force(mode) => mode.as_str(),
        }
    }

    /// The forced mode, if any.
    pub fn forced(self) -> Option<Mode> {
        match self {
            Request::Force(mode) => Some(mode),
            Request::Auto | Request::Off => None,
        }
    }

    /// Combines `--docker`/`BERTH_DOCKER`, the image's opt-in setting and
    /// the WS_DOCKER_ENABLE_CLIENT toggle. An explicit mode wins; otherwise
    /// the toggle decides when given, and opt-in images default to off.
    pub fn combine(mode: Option<Request>, opt_in: bool, toggle: Option<bool>) -> Request {
        match (mode, toggle) {
            (Some(request), _) => request,
            (None, Some(true)) => Request::Auto,
            (None, Some(false)) => Request::Off,
            (None, None) if opt_in => Request::Off,
            (None, None) => Request::Auto,
        }
    }
}

impl ValueEnum for Request {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::VARIANTS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What berth does when Docker cannot be set up in auto mode, or a remote
/// engine does not answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Log one clear warning and run the command anyway.
    #[default]
    #[value(alias = "continue")]
    Warn,
    /// Exit with the documented code instead of running the command.
    Fail,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_parses_and_lists_valid_values() {
        assert_eq!(
            Request::from_str("Dind", true),
            Ok(Request::Force(Mode::Dind))
        );
        assert_eq!(Request::from_str("auto", true), Ok(Request::Auto));
        assert_eq!(Request::from_str("OFF", true), Ok(Request::Off));
        let names: Vec<String> = Request::value_variants()
            .iter()
            .filter_map(|r| r.to_possible_value())
            .map(|v| v.get_name().to_owned())
            .collect();
        assert_eq!(
            names.join(", "),
            "auto, off, socket, remote, dind, rootless, sysbox"
        );
        assert!(Request::from_str("docker", true).is_err());
        assert_eq!(
            serde_json::to_string(&Mode::Sysbox).expect("json"),
            "\"sysbox\""
        );
        for m in Mode::ALL {
            assert_eq!(Request::from_str(m.as_str(), false), Ok(Request::Force(m)));
            assert_eq!(Mode::from_str(&m.to_string(), false), Ok(m));
        }
        assert_eq!(
            FailurePolicy::from_str("continue", true),
            Ok(FailurePolicy::Warn)
        );
    }

    #[test]
    fn an_explicit_mode_beats_the_toggle_and_opt_in_defaults_to_off() {
        let dind = Request::Force(Mode::Dind);
        assert_eq!(Request::combine(Some(dind), true, Some(false)), dind);
        assert_eq!(Request::combine(None, true, None), Request::Off);
        assert_eq!(Request::combine(None, true, Some(true)), Request::Auto);
        assert_eq!(Request::combine(None, false, Some(false)), Request::Off);
        assert_eq!(Request::combine(None, false, None), Request::Auto);
    }
}
