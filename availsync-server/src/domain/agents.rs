//! An agent's life in a workspace: created within its plan's limit,
//! renamed or switched between modes, given a new key, deleted; each
//! change with its audit event. A store loads the agent (and the count the
//! plan needs), asks here, and writes what comes back.

use availsync_types::{Agent, Mode, Plan, Timestamp};

use super::callers::SessionContext;
use super::events::{self, Events};
use super::ids::AgentId;
use super::plans;
use super::refusal::Refusal;

/// A new agent key's hash and recognisable prefix.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// The first characters of the key.
    pub key_prefix: String,
}

/// What creating an agent asks for.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Display name.
    pub name: String,
    /// Mode.
    pub mode: Mode,
    /// Its key.
    pub key: NewKey,
}

/// An agent as it is after a change, and the change's events.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentChange {
    /// The agent after the change, as answered.
    pub agent: Agent,
    /// The audit events.
    pub events: Events,
}

/// How a create of an agent goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Creation {
    /// Store the new agent and record its events.
    Created(AgentChange),
    /// The plan is at its agent limit: record `events`, then refuse.
    Refused {
        /// The limit's audit event.
        events: Events,
        /// [`Refusal::PlanLimitAgents`].
        refusal: Refusal,
    },
}

/// Creates `new` in `by`'s workspace at `now`, unless the workspace's
/// `plan` is at its agent limit; `live_agents` is how many agents the
/// workspace has, counted only when the plan limits them.
pub fn create(
    by: &SessionContext,
    new: &NewAgent,
    plan: Plan,
    live_agents: Option<u64>,
    now: Timestamp,
) -> Creation {
    if let Some(limit) = live_agents.and_then(|count| plans::agent_limit_reached(plan, count)) {
        return Creation::Refused {
            events: events::agent_limit_reached(by, plan, limit),
            refusal: Refusal::PlanLimitAgents { limit },
        };
    }
    let agent = Agent {
        id: AgentId::generate().into_string(),
        name: new.name.clone(),
        mode: new.mode,
        key_prefix: new.key.key_prefix.clone(),
        created_at: now,
        last_used_at: None,
    };
    let events = events::agent_created(by, &agent);
    Creation::Created(AgentChange { agent, events })
}

/// Renames `before` or changes its mode (what `name` and `mode` give).
pub fn update(
    by: &SessionContext,
    before: &Agent,
    name: Option<&str>,
    mode: Option<Mode>,
) -> AgentChange {
    let agent = Agent {
        name: name.map_or_else(|| before.name.clone(), str::to_owned),
        mode: mode.unwrap_or(before.mode),
        ..before.clone()
    };
    let events = events::agent_updated(by, before, &agent);
    AgentChange { agent, events }
}

/// Gives `before` the key whose prefix is `key_prefix`.
pub fn rotate_key(by: &SessionContext, before: &Agent, key_prefix: &str) -> AgentChange {
    let agent = Agent {
        key_prefix: key_prefix.to_owned(),
        ..before.clone()
    };
    let events = events::agent_key_rotated(by, before, &agent);
    AgentChange { agent, events }
}

#[cfg(test)]
mod tests {
    use availsync_types::AuditAction;

    use super::*;
    use crate::domain::fixtures::{at, human_on as by};

    fn new_agent() -> NewAgent {
        NewAgent {
            name: "ci-bot".into(),
            mode: Mode::Enforce,
            key: NewKey {
                key_hash: vec![1],
                key_prefix: "avs_live_ab".into(),
            },
        }
    }

    fn created(creation: Creation) -> AgentChange {
        match creation {
            Creation::Created(made) => made,
            Creation::Refused { refusal, .. } => panic!("refused: {refusal}"),
        }
    }

    #[test]
    fn a_create_within_the_limit_makes_the_agent_and_audits_it() {
        let made = created(create(
            &by(Plan::Free),
            &new_agent(),
            Plan::Free,
            Some(2),
            at(5),
        ));
        assert!(made.agent.id.starts_with("agt_"));
        assert_eq!(
            (made.agent.created_at, made.agent.last_used_at),
            (at(5), None)
        );
        assert_eq!(made.events.audits[0].action, AuditAction::AgentCreated);
        assert_eq!(made.events.audits[0].detail["key_prefix"], "avs_live_ab");
        let unlimited = create(
            &by(Plan::Business),
            &new_agent(),
            Plan::Business,
            None,
            at(5),
        );
        assert!(matches!(unlimited, Creation::Created(_)));
    }

    #[test]
    fn a_create_at_the_limit_is_refused_and_the_limit_audited() {
        let Creation::Refused { events, refusal } =
            create(&by(Plan::Free), &new_agent(), Plan::Free, Some(3), at(5))
        else {
            panic!("created past the limit")
        };
        assert_eq!(refusal, Refusal::PlanLimitAgents { limit: 3 });
        assert_eq!(events.audits[0].action, AuditAction::PlanLimitReached);
        assert_eq!(events.audits[0].detail["limit"], "agents");
    }

    #[test]
    fn an_update_and_a_rotation_change_only_what_they_name() {
        let before = created(create(
            &by(Plan::Free),
            &new_agent(),
            Plan::Free,
            None,
            at(5),
        ))
        .agent;
        let renamed = update(&by(Plan::Free), &before, Some("deploy-bot"), None);
        assert_eq!(
            (renamed.agent.name.as_str(), renamed.agent.mode),
            ("deploy-bot", Mode::Enforce)
        );
        let detail = &renamed.events.audits[0].detail;
        assert_eq!(
            (&detail["name"]["from"], &detail["name"]["to"]),
            (&"ci-bot".into(), &"deploy-bot".into())
        );
        let observing = update(&by(Plan::Free), &before, None, Some(Mode::Observe));
        assert_eq!(
            (observing.agent.name.as_str(), observing.agent.mode),
            ("ci-bot", Mode::Observe)
        );
        let rotated = rotate_key(&by(Plan::Free), &before, "avs_live_cd");
        assert_eq!(rotated.agent.key_prefix, "avs_live_cd");
        assert_eq!(rotated.agent.id, before.id);
        assert_eq!(
            rotated.events.audits[0].detail["old_key_prefix"],
            "avs_live_ab"
        );
    }
}
