//! One kind of finding for everything berth checks before Docker works:
//! what was checked, the verdict, what was seen, and the fix. Detection,
//! pre-flight and the rootless checks all produce [`Finding`]s; the run logs
//! them and `berth doctor` filters and renders them, without reading the
//! text.

use std::fmt;

use serde::Serialize;

use crate::docker::mode::Mode;

/// A check's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// This check decided the mode.
    Chosen,
    /// The mode does not work here; `seen` says why.
    Rejected,
    /// A fact in favour, not enough on its own.
    Supports,
    /// Not run, or nothing to do (an earlier step decided, or it does not apply).
    Skipped,
    /// A prerequisite is met.
    Ok,
    /// berth changed something to meet it (a pre-flight step, a rootless fix).
    Done,
    /// Not met, and berth meets it itself when it runs as root.
    Fixable,
    /// A prerequisite is missing.
    Missing,
    /// Works, but something will go wrong later unless fixed.
    Warning,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Chosen => "chosen",
            Verdict::Rejected => "rejected",
            Verdict::Supports => "supports",
            Verdict::Skipped => "skipped",
            Verdict::Ok => "ok",
            Verdict::Done => "done",
            Verdict::Fixable => "fixable",
            Verdict::Missing => "missing",
            Verdict::Warning => "warning",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check: what was checked, the verdict, what was seen, the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked: a short, stable name (`socket`, `storage_driver`,
    /// `subuid`).
    pub check: &'static str,
    /// The mode it bears on; None for the request and the overall result.
    pub mode: Option<Mode>,
    pub verdict: Verdict,
    /// What was seen, in one sentence.
    pub seen: String,
    /// What to change, when the verdict asks for a change.
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(check: &'static str, verdict: Verdict, seen: impl Into<String>) -> Finding {
        Finding {
            check,
            mode: None,
            verdict,
            seen: seen.into(),
            fix: None,
        }
    }

    /// The same finding, naming what to change.
    pub fn with_fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }

    /// The same finding, about `mode`.
    pub fn about(mut self, mode: Mode) -> Finding {
        self.mode = Some(mode);
        self
    }

    /// Something the user should change: a warning, or a missing
    /// prerequisite berth cannot supply.
    pub fn is_problem(&self) -> bool {
        matches!(self.verdict, Verdict::Warning | Verdict::Missing)
    }

    /// Logs the finding at the level its verdict deserves, with its fix
    /// when it has one.
    pub fn log(&self) {
        let check = self.check;
        match (self.verdict, &self.fix) {
            (Verdict::Warning | Verdict::Missing, Some(fix)) => {
                tracing::warn!(check, fix = %fix, "{}", self.seen)
            }
            (Verdict::Warning | Verdict::Missing, None) => tracing::warn!(check, "{}", self.seen),
            (Verdict::Skipped | Verdict::Supports, _) => tracing::debug!(check, "{}", self.seen),
            // A decision that has a better alternative (AppArmor's fallback).
            (_, Some(fix)) => {
                tracing::info!(check, verdict = %self.verdict, fix = %fix, "{}", self.seen)
            }
            (_, None) => tracing::info!(check, verdict = %self.verdict, "{}", self.seen),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.verdict, self.check, self.seen)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_reads_as_one_line_with_its_fix() {
        let f = Finding::new("dev_net_tun", Verdict::Missing, "/dev/net/tun is 0600")
            .with_fix("chown 1000 /dev/net/tun")
            .about(Mode::Rootless);
        assert_eq!(
            f.to_string(),
            "[missing] dev_net_tun: /dev/net/tun is 0600; fix: chown 1000 /dev/net/tun"
        );
        assert!(f.is_problem());
        assert!(!Finding::new("socket", Verdict::Rejected, "absent").is_problem());
        let json = serde_json::to_value(&f).expect("json");
        assert_eq!(json["verdict"], "missing");
        assert_eq!(json["mode"], "rootless");
        assert_eq!(json["fix"], "chown 1000 /dev/net/tun");
    }
}
