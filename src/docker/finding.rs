//! What a probe saw and what it concluded: the unit `berth doctor` prints.

use std::fmt;

use serde::Serialize;

/// A probe's conclusion about the mode it was probing for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// This probe decided the mode.
    Chosen,
    /// The mode does not work here; `saw` says why.
    Rejected,
    /// A fact in favour, not enough on its own.
    Supports,
    /// The probe was not run (an earlier step decided, or it does not apply).
    Skipped,
    /// Works, but something will go wrong later unless fixed.
    Warning,
    /// A prerequisite is met.
    Ok,
    /// A prerequisite is missing.
    Missing,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Chosen => "chosen",
            Verdict::Rejected => "rejected",
            Verdict::Supports => "supports",
            Verdict::Skipped => "skipped",
            Verdict::Warning => "warning",
            Verdict::Ok => "ok",
            Verdict::Missing => "missing",
        })
    }
}

/// One observation: which probe, what it saw, what it concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub probe: &'static str,
    pub saw: String,
    pub verdict: Verdict,
}

impl Evidence {
    pub fn new(probe: &'static str, verdict: Verdict, saw: impl Into<String>) -> Self {
        Self {
            probe,
            saw: saw.into(),
            verdict,
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.verdict, self.probe, self.saw)
    }
}
