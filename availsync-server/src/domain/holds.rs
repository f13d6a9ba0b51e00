//! Holds: who holds one, its status, whether a create with a used
//! idempotency key replays it, and who may release it. Windows and free
//! time are in [`super::schedule`].

use availsync_types::{
    AvailabilityResponse, BusyWindow, ConflictsCheckResponse, FreeWindow, Hold, HoldHolder,
    HoldResponse, HoldStatus, ResourceKey, Timestamp,
};

use super::callers::Principal;
use super::events::{self, Events};
use super::ids::HoldId;
use super::refusal::Refusal;
use super::schedule::{Slot, Window, free_windows};
use super::ttl::Ttl;

/// What creating a hold asks for, validated.
#[derive(Debug, Clone)]
pub struct NewHold {
    /// Any valid resource.
    pub resource: ResourceKey,
    /// The window.
    pub window: Window,
    /// Purpose.
    pub purpose: Option<String>,
    /// Tentative hold lifetime.
    pub ttl_seconds: Option<u32>,
    /// Retry key, unique per holder.
    pub idempotency_key: Option<String>,
}

/// How a create of a hold goes, once the live holds overlapping its
/// window are known.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Store `answer.hold` and record `events`.
    Create {
        /// `hold_created`.
        events: Events,
        /// The answer, holding the new hold as it is stored.
        answer: HoldResponse,
    },
    /// The window overlaps live holds: record `events`, then refuse.
    Conflict {
        /// `hold_rejected` and the `hold_conflict` audit.
        events: Events,
        /// [`Refusal::HoldConflict`], naming the overlapping holds.
        refusal: Refusal,
    },
}

/// Places `new` for `principal` at `now`, given the live holds that
/// overlap its window (`conflicts`, by start): a new hold, or a refusal
/// naming them.
pub fn place(
    principal: &Principal,
    new: &NewHold,
    conflicts: Vec<Hold>,
    now: Timestamp,
) -> Placement {
    let resource = new.resource.as_str();
    if !conflicts.is_empty() {
        let ids: Vec<&str> = conflicts.iter().map(|h| h.hold_id.as_str()).collect();
        let events = events::hold_rejected(principal, resource, new.window, &ids);
        let conflicts = conflicts.into_iter().map(busy).collect();
        return Placement::Conflict {
            events,
            refusal: Refusal::HoldConflict { conflicts },
        };
    }
    let expires_at = new
        .ttl_seconds
        .map(|ttl| Ttl::from_seconds(ttl).expiry_from(now));
    let hold_id = HoldId::generate();
    let events = events::hold_created(
        principal,
        resource,
        &hold_id,
        new.window,
        expires_at,
        new.purpose.as_deref(),
    );
    let hold = Hold {
        hold_id: hold_id.into_string(),
        resource: resource.to_owned(),
        start: new.window.start,
        end: new.window.end,
        purpose: new.purpose.clone(),
        status: hold_status(None, expires_at, now),
        holder: holder_of(principal),
        expires_at,
        created_at: now,
    };
    Placement::Create {
        events,
        answer: HoldResponse {
            hold,
            replayed: false,
            server_time: now,
        },
    }
}

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
            id: a.agent_id.to_string(),
            name: a.agent_name.clone(),
        },
        Principal::Human(s) => HoldHolder {
            kind: "user".into(),
            id: s.user.id.clone(),
            name: s.user.email.clone(),
        },
    }
}

/// The answer of `principal`'s availability read of `slot`, whose live
/// holds overlapping it are `holds` (by start): them as busy, and what is
/// left of the window as free; with its `availability_checked` event.
pub fn availability(
    principal: &Principal,
    slot: &Slot,
    holds: Vec<Hold>,
    now: Timestamp,
) -> (AvailabilityResponse, Events) {
    let (resource, window) = (&slot.resource, slot.window);
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
    let answer = AvailabilityResponse {
        resource: resource.to_string(),
        from: window.start,
        to: window.end,
        busy: holds.into_iter().map(busy).collect(),
        free,
        server_time: now,
    };
    let (busy, free) = (answer.busy.len(), answer.free.len());
    let events = events::availability_checked(principal, resource.as_str(), window, busy, free);
    (answer, events)
}

/// The answer of `principal`'s conflicts check of `slot`, whose
/// overlapping live holds are `holds`; with its `conflicts_checked` event.
pub fn conflicts(
    principal: &Principal,
    slot: &Slot,
    holds: Vec<Hold>,
    now: Timestamp,
) -> (ConflictsCheckResponse, Events) {
    let (resource, window) = (&slot.resource, slot.window);
    let conflict = !holds.is_empty();
    let events = events::conflicts_checked(principal, resource.as_str(), window, conflict);
    let answer = ConflictsCheckResponse {
        conflict,
        conflicts: holds.into_iter().map(busy).collect(),
        server_time: now,
    };
    (answer, events)
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

/// Whether `principal` releases `hold` now, and the events of it: an agent
/// may release only its own holds, a workspace member any; a hold already
/// released or lapsed needs nothing (`Ok(None)`: releasing again is
/// harmless).
pub fn release(principal: &Principal, hold: &Hold) -> Result<Option<Events>, Refusal> {
    if let Principal::Agent(agent) = principal
        && agent.agent_id != *hold.holder.id
    {
        return Err(Refusal::Forbidden(
            "this hold belongs to another holder; only its holder or a workspace member may release it",
        ));
    }
    Ok((hold.status == HoldStatus::Active).then(|| events::hold_released(principal, hold)))
}

#[cfg(test)]
mod tests {
    use availsync_types::AuditAction;

    use super::*;
    use crate::domain::callers::AgentContext;
    use crate::domain::ids::{AgentId, WorkspaceId};

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
            agent_id: AgentId::new(id),
            agent_name: "a".into(),
            workspace_id: WorkspaceId::new("ws_1"),
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
        let released = release(&agent("agt_1"), &hold("agt_1", HoldStatus::Active));
        let events = released.unwrap().unwrap();
        assert_eq!(events.audits[0].action, AuditAction::HoldReleased);
        assert_eq!(events.activity.unwrap().detail["hold_id"], "hold_1");
        assert!(matches!(
            release(&agent("agt_2"), &hold("agt_1", HoldStatus::Active)),
            Err(Refusal::Forbidden(_))
        ));
        assert_eq!(
            release(&agent("agt_1"), &hold("agt_1", HoldStatus::Released)),
            Ok(None)
        );
    }

    fn new_hold(ttl_seconds: Option<u32>) -> NewHold {
        NewHold {
            resource: "calendar:x".parse().unwrap(),
            window: Window {
                start: at(10_000),
                end: at(20_000),
            },
            purpose: Some("demo".into()),
            ttl_seconds,
            idempotency_key: None,
        }
    }

    #[test]
    fn a_free_window_places_a_hold_and_an_overlap_is_refused_naming_it() {
        let now = at(5_000);
        let Placement::Create { events, answer } =
            place(&agent("agt_1"), &new_hold(Some(60)), vec![], now)
        else {
            panic!("not placed")
        };
        assert!(answer.hold.hold_id.starts_with("hold_") && !answer.replayed);
        assert_eq!(answer.hold.expires_at, Some(at(65_000)));
        assert_eq!(answer.hold.status, HoldStatus::Active);
        assert_eq!(answer.hold.holder.id, "agt_1");
        assert_eq!(events.audits[0].action, AuditAction::HoldCreated);
        let taken = hold("agt_2", HoldStatus::Active);
        let Placement::Conflict { events, refusal } =
            place(&agent("agt_1"), &new_hold(None), vec![taken], now)
        else {
            panic!("placed over a live hold")
        };
        let Refusal::HoldConflict { conflicts } = refusal else {
            panic!("not a conflict")
        };
        assert_eq!(conflicts[0].hold_id, "hold_1");
        assert_eq!(events.audits[0].action, AuditAction::HoldConflict);
        assert_eq!(events.activity.unwrap().detail["conflicts"][0], "hold_1");
    }

    #[test]
    fn reads_of_a_window_answer_busy_and_free_and_are_recorded() {
        let window = Window {
            start: at(0),
            end: at(30_000),
        };
        let slot = Slot {
            resource: "calendar:x".parse().unwrap(),
            window,
        };
        let taken = vec![hold("agt_2", HoldStatus::Active)];
        let (answer, events) = availability(&agent("agt_1"), &slot, taken.clone(), at(5));
        assert_eq!((answer.busy.len(), answer.free.len()), (1, 2));
        assert_eq!(events.activity.unwrap().detail["free"], 2);
        let (answer, events) = conflicts(&agent("agt_1"), &slot, taken, at(5));
        assert!(answer.conflict);
        assert_eq!(events.activity.unwrap().detail["conflict"], true);
    }
}
