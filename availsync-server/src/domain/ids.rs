//! Opaque ids with a type prefix: 6 bytes of the creation time in
//! milliseconds, then 10 random bytes (the layout of a UUIDv7).
//!
//! Time first keeps new rows at the right edge of the indexes that hold
//! ids (events, claims, holds): an insert dirties one index page instead of
//! a random one, which is most of what a group commit writes.

use std::fmt::Write as _;

use rand::RngCore;

/// Kinds of object that get an id, with their prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `ws_`
    Workspace,
    /// `usr_`
    User,
    /// `agt_`
    Agent,
    /// `run_`
    Run,
    /// `clm_`
    Claim,
    /// `hold_`
    Hold,
    /// `rul_`
    Rule,
    /// `evt_`
    Event,
    /// `req_`
    Request,
}

impl IdKind {
    const fn prefix(self) -> &'static str {
        match self {
            Self::Workspace => "ws_",
            Self::User => "usr_",
            Self::Agent => "agt_",
            Self::Run => "run_",
            Self::Claim => "clm_",
            Self::Hold => "hold_",
            Self::Rule => "rul_",
            Self::Event => "evt_",
            Self::Request => "req_",
        }
    }
}

/// A new id such as `evt_019ad0…` (prefix plus 32 hex digits), ordered by
/// creation time to the millisecond and unique by its 80 random bits.
pub fn new_id(kind: IdKind) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes[6..]);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let millis = u64::try_from(millis).unwrap_or(u64::MAX).to_be_bytes();
    bytes[..6].copy_from_slice(&millis[2..]);
    let mut id = String::with_capacity(kind.prefix().len() + 32);
    id.push_str(kind.prefix());
    // One formatting call, no allocation: ids are made on every write.
    let _ = write!(id, "{:032x}", u128::from_be_bytes(bytes));
    id
}

/// Declares an id newtype: a string that reads as one (`Deref<Target =
/// str>`, so SQL and JSON take it as it is) but is made only on purpose, so
/// a function taking one kind of id cannot silently be handed another.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $kind:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id of this kind (see [`new_id`]).
            pub fn generate() -> Self {
                Self(new_id(IdKind::$kind))
            }

            /// Wraps an id read from storage or from a request.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string, for an answer.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

typed_id!(
    /// A workspace's id, `ws_…`.
    WorkspaceId,
    Workspace
);
typed_id!(
    /// A user's id, `usr_…`.
    UserId,
    User
);
typed_id!(
    /// An agent's id, `agt_…`.
    AgentId,
    Agent
);
typed_id!(
    /// A run's id: the client's own, or `run_…` when the server made it.
    RunId,
    Run
);
typed_id!(
    /// A work claim's id, `clm_…`.
    ClaimId,
    Claim
);
typed_id!(
    /// A hold's id, `hold_…`.
    HoldId,
    Hold
);
typed_id!(
    /// A rule's id, `rul_…`.
    RuleId,
    Rule
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = new_id(IdKind::Run);
        let b = new_id(IdKind::Run);
        assert!(a.starts_with("run_") && a.len() == 36, "{a}");
        assert_ne!(a, b);
        assert!(new_id(IdKind::Hold).starts_with("hold_"));
    }

    #[test]
    fn an_id_starts_with_its_creation_time_in_hex() {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        };
        let before = now();
        let id = new_id(IdKind::Claim);
        let after = now();
        let hex = id.strip_prefix("clm_").unwrap();
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
        let millis = u64::from_str_radix(&hex[..12], 16).unwrap();
        assert!(
            (before..=after).contains(&millis),
            "{id}: {millis} not in {before}..={after}"
        );
    }

    #[test]
    fn typed_ids_carry_their_kind_and_read_as_text() {
        let claim = ClaimId::generate();
        assert!(claim.starts_with("clm_"));
        assert!(AgentId::generate().starts_with("agt_"));
        let run = RunId::new("deploy-42");
        assert_eq!(run.as_str(), "deploy-42");
        assert_eq!(run.to_string(), "deploy-42");
        assert!(run == *"deploy-42");
        assert_eq!(String::from(run), "deploy-42");
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = new_id(IdKind::Event);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id(IdKind::Event);
        assert!(second > first, "{first} then {second}");
    }
}
