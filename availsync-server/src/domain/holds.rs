//! Holds: who holds one, its status, whether a create with a used
//! idempotency key replays it, and who may release it. Windows and free
//! time are in [`super::schedule`].

use availsync_types::{
    AvailabilityResponse, BusyWindow, ConflictsCheckResponse, FreeWindow, Hold, HoldHolder,
    HoldResponse, HoldStatus, ResourceKey, Timestamp,
};

use super::callers::Principal;
use super::refusal::Refusal;
use super::schedule::{Window, free_windows};

/// A hold's status: released, lapsed (tentative and past its expiry) or
/// active.
pub fn hold_status(
    released_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> HoldStatus {
    match (released_at, expires_at) {
        (Some(_), _) => HoldStatus::Released,
        (None, Some(at)) if at <= now => HoldStatus::Expired,
        _ => HoldStatus::Active,
    }
}

/// A hold as a busy window.
pub fn busy(hold: Hold) -> BusyWindow {
    BusyWindow {
        hold_id: hold.hold_id,
        start: hold.start,
        end: hold.end,
        holder: hold.holder,
    }
}

/// Who holds a hold created by `principal`.
pub fn holder_of(principal: &Principal) -> HoldHolder {
    match principal {
        Principal::Agent(a) => HoldHolder {
            kind: "agent".into(),
            id: a.agent_id.clone(),
            name: a.agent_name.clone(),
        },
        Principal::Human(s) => HoldHolder {
            kind: "user".into(),
            id: s.user.id.clone(),
            name: s.user.email.clone(),
        },
    }
}

/// The answer of an availability read of `window` on `resource`, whose
/// live holds overlapping it are `holds` (by start): them as busy, and what
/// is left of the window as free.
pub fn availability(
    resource: &ResourceKey,
    window: Window,
    holds: Vec<Hold>,
    now: Timestamp,
) -> AvailabilityResponse {
    let taken: Vec<Window> = holds
        .iter()
        .map(|h| Window {
            start: h.start,
            end: h.end,
        })
        .collect();
    let free = free_windows(window, &taken)
        .into_iter()
        .map(|w| FreeWindow {
            start: w.start,
            end: w.end,
        })
        .collect();
    AvailabilityResponse {
        resource: resource.to_string(),
        from: window.start,
        to: window.end,
        busy: holds.into_iter().map(busy).collect(),
        free,
        server_time: now,
    }
}

/// The answer of a conflicts check, whose overlapping live holds are
/// `holds`.
pub fn conflicts(holds: Vec<Hold>, now: Timestamp) -> ConflictsCheckResponse {
    ConflictsCheckResponse {
        conflict: !holds.is_empty(),
        conflicts: holds.into_iter().map(busy).collect(),
        server_time: now,
    }
}

/// A create naming an idempotency key its holder used before: the same
/// resource and window replay the hold made then (`replayed: true`);
/// anything else is refused, so a key never means two holds.
pub fn replay(
    existing: Hold,
    resource: &str,
    window: Window,
    now: Timestamp,
) -> Result<HoldResponse, Refusal> {
    let same = existing.resource == resource
        && existing.start == window.start
        && existing.end == window.end;
    if !same {
        return Err(Refusal::IdempotencyKeyReused);
    }
    Ok(HoldResponse {
        hold: existing,
        replayed: true,
        server_time: now,
    })
}

/// Whether `principal` releases `hold` now: an agent may release only its
/// own holds, a workspace member any; a hold already released or lapsed
/// needs nothing (`Ok(false)`: releasing again is harmless).
pub fn may_release(principal: &Principal, hold: &Hold) -> Result<bool, Refusal> {
    if let Principal::Agent(agent) = principal
        && hold.holder.id != agent.agent_id
    {
        return Err(Refusal::Forbidden(
            "this hold belongs to another holder; only its holder or a workspace member may release it",
        ));
    }
    Ok(hold.status == HoldStatus::Active)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::callers::AgentContext;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn hold(holder: &str, status: HoldStatus) -> Hold {
        Hold {
            hold_id: "hold_1".into(),
            resource: "calendar:x".into(),
            start: at(10_000),
            end: at(20_000),
            purpose: None,
            status,
            holder: HoldHolder {
                kind: "agent".into(),
                id: holder.into(),
                name: "a".into(),
            },
            expires_at: None,
            created_at: at(1_000),
        }
    }

    fn agent(id: &str) -> Principal {
        Principal::Agent(AgentContext {
            agent_id: id.into(),
            agent_name: "a".into(),
            workspace_id: "ws_1".into(),
            last_used_at: None,
        })
    }

    #[test]
    fn a_used_key_replays_the_same_hold_and_refuses_any_other() {
        let window = Window {
            start: at(10_000),
            end: at(20_000),
        };
        let replayed = replay(
            hold("agt_1", HoldStatus::Active),
            "calendar:x",
            window,
            at(5),
        )
        .unwrap();
        assert!(replayed.replayed);
        let later = Window {
            end: at(30_000),
            ..window
        };
        assert_eq!(
            replay(
                hold("agt_1", HoldStatus::Active),
                "calendar:x",
                later,
                at(5)
            )
            .unwrap_err(),
            Refusal::IdempotencyKeyReused
        );
        assert_eq!(
            replay(
                hold("agt_1", HoldStatus::Active),
                "calendar:y",
                window,
                at(5)
            )
            .unwrap_err(),
            Refusal::IdempotencyKeyReused
        );
    }

    #[test]
    fn an_agent_releases_only_its_own_holds_and_an_ended_one_needs_nothing() {
        assert_eq!(
            may_release(&agent("agt_1"), &hold("agt_1", HoldStatus::Active)),
            Ok(true)
        );
        assert!(matches!(
            may_release(&agent("agt_2"), &hold("agt_1", HoldStatus::Active)),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(
            may_release(&agent("agt_1"), &hold("agt_1", HoldStatus::Released)),
            Ok(false)
        );
    }
}
