//! Domain enums stored as their snake_case names.

use availsync_types::{Decision, Mode, Outcome, Plan, WorkingSetMode};

/// An enum stored as text.
pub trait TextEnum: Sized + Copy {
    /// Its stored name.
    fn to_text(self) -> &'static str;
    /// Parses a stored name.
    fn from_text(text: &str) -> Option<Self>;
}

impl TextEnum for Mode {
    fn to_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        match text {
            "enforce" => Some(Self::Enforce),
            "observe" => Some(Self::Observe),
            _ => None,
        }
    }
}

impl TextEnum for Plan {
    fn to_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl TextEnum for Outcome {
    fn to_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        [Self::Succeeded, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

impl TextEnum for Decision {
    fn to_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        [Self::Proceed, Self::PartialProceed, Self::SkipRun]
            .into_iter()
            .find(|d| d.as_str() == text)
    }
}

impl TextEnum for WorkingSetMode {
    fn to_text(self) -> &'static str {
        self.as_str()
    }
    fn from_text(text: &str) -> Option<Self> {
        [Self::Edit, Self::Read]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}
