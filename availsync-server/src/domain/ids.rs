//! Opaque ids with a type prefix, built from 16 random bytes.

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
            Self::Event => "evt_",
            Self::Request => "req_",
        }
    }
}

/// A new random id such as `run_5f0c…` (prefix plus 32 hex digits).
pub fn new_id(kind: IdKind) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut id = String::with_capacity(kind.prefix().len() + 32);
    id.push_str(kind.prefix());
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

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
}
