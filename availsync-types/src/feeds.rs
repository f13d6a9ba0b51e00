//! Activity (runtime traffic), audit (governance events) and usage.

use serde::{Deserialize, Serialize};

use crate::{Plan, PlanLimits, Timestamp};

/// One runtime-traffic event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityItem {
    /// `evt_…`
    pub id: String,
    /// When it happened.
    pub at: Timestamp,
    /// The agent that called, if an agent did.
    pub agent_id: Option<String>,
    /// That agent's name.
    pub agent_name: Option<String>,
    /// `run_started`, `run_skipped`, `hold_created`, …
    pub kind: String,
    /// The resource concerned.
    pub resource: Option<String>,
    /// The decision told, for run starts.
    pub decision: Option<String>,
    /// The run concerned.
    pub run_id: Option<String>,
    /// Details of the event.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// Who did something, in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActor {
    /// `user`, `agent` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user's or agent's id; `null` for the system.
    pub id: Option<String>,
    /// The user's email or agent's name; `null` for the system.
    pub name: Option<String>,
}

/// One governance event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditItem {
    /// `evt_…`
    pub id: String,
    /// When it happened.
    pub at: Timestamp,
    /// Who did it.
    pub actor: AuditActor,
    /// `claim_created`, `agent_deleted`, …
    pub action: String,
    /// The resource concerned.
    pub resource: Option<String>,
    /// Details of the event.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// `POST /v1/activity/usage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageRequest {
    /// Count events from this instant (RFC 3339); default: the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub since: Option<String>,
    /// Count events before this instant (RFC 3339), after `since`; default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub until: Option<String>,
}

/// Current usage against the plan's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Agents that exist.
    pub agents: u64,
    /// Live work claims.
    pub active_claims: u64,
    /// Resources ever claimed (releasing a claim does not remove one).
    pub protected_resources: u64,
    /// Rules declared (SPEC §11).
    #[serde(default)]
    pub rules: u64,
}

/// What happened within the asked period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageCounts {
    /// Runs granted a claim.
    pub runs_started: u64,
    /// Observe runs.
    pub runs_observed: u64,
    /// Runs told `skip_run`.
    pub runs_skipped: u64,
    /// Observe runs that would have been blocked.
    pub would_have_blocked: u64,
    /// Holds created.
    pub holds_created: u64,
}

/// The answer of `POST /v1/activity/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageResponse {
    /// The workspace's plan.
    pub plan: Plan,
    /// Its limits (`null` when unlimited).
    pub limits: PlanLimits,
    /// Current usage.
    pub usage: Usage,
    /// Counts within the period.
    pub counts: UsageCounts,
    /// Start of the period counted, if bounded.
    pub since: Option<Timestamp>,
    /// End of the period counted.
    pub until: Timestamp,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// What an activity item records (its `kind`). The wire type
/// [`ActivityItem::kind`] stays a string, so that a client reads a kind a
/// newer server adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActivityKind {
    /// A run was granted a claim.
    RunStarted,
    /// A run was told to skip.
    RunSkipped,
    /// An observe run started (no claim).
    RunObserved,
    /// A run's lease (or an observe run's deadline) was extended.
    RunExtended,
    /// A run was finished.
    RunFinished,
    /// A person released a run's claim.
    RunReleased,
    /// An extend found the lease gone.
    LeaseLost,
    /// A live claim's working set gained or lost paths.
    WorkingSetUpdated,
    /// Availability of a resource was read.
    AvailabilityChecked,
    /// A window was checked for conflicting holds.
    ConflictsChecked,
    /// A hold was created.
    HoldCreated,
    /// A hold was refused: it overlapped live holds.
    HoldRejected,
    /// A hold was released.
    HoldReleased,
}

impl ActivityKind {
    /// Every kind, in the SPEC's order.
    pub const ALL: [Self; 13] = [
        Self::RunStarted,
        Self::RunSkipped,
        Self::RunObserved,
        Self::RunExtended,
        Self::RunFinished,
        Self::RunReleased,
        Self::LeaseLost,
        Self::WorkingSetUpdated,
        Self::AvailabilityChecked,
        Self::ConflictsChecked,
        Self::HoldCreated,
        Self::HoldRejected,
        Self::HoldReleased,
    ];

    /// The kind as the API spells it, e.g. `run_started`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RunStarted => "run_started",
            Self::RunSkipped => "run_skipped",
            Self::RunObserved => "run_observed",
            Self::RunExtended => "run_extended",
            Self::RunFinished => "run_finished",
            Self::RunReleased => "run_released",
            Self::LeaseLost => "lease_lost",
            Self::WorkingSetUpdated => "working_set_updated",
            Self::AvailabilityChecked => "availability_checked",
            Self::ConflictsChecked => "conflicts_checked",
            Self::HoldCreated => "hold_created",
            Self::HoldRejected => "hold_rejected",
            Self::HoldReleased => "hold_released",
        }
    }

    /// The kind spelled `text`, if it is one.
    ///
    /// ```
    /// use availsync_types::ActivityKind;
    /// assert_eq!(ActivityKind::parse("lease_lost"), Some(ActivityKind::LeaseLost));
    /// assert_eq!(ActivityKind::parse("nope"), None);
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl std::fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an audit item records (its `action`). The wire type
/// [`AuditItem::action`] stays a string, so that a client reads an action a
/// newer server adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A workspace and its first user were created.
    Signup,
    /// A user logged in.
    Login,
    /// A log-in failed.
    LoginFailed,
    /// A user logged out.
    Logout,
    /// An agent was created.
    AgentCreated,
    /// An agent was renamed or its mode changed.
    AgentUpdated,
    /// An agent's key was rotated.
    AgentKeyRotated,
    /// An agent was deleted.
    AgentDeleted,
    /// A claim was granted.
    ClaimCreated,
    /// A claim was released (finished, by a person, or its agent deleted).
    ClaimReleased,
    /// A claim lapsed.
    ClaimExpired,
    /// A run was told to skip.
    RunBlocked,
    /// An observe run would have been told to skip.
    ObserveWouldBlock,
    /// A hold was created.
    HoldCreated,
    /// A hold was released.
    HoldReleased,
    /// A tentative hold lapsed.
    HoldExpired,
    /// A hold was refused for overlapping live holds.
    HoldConflict,
    /// A plan limit refused something.
    PlanLimitReached,
    /// A rule was created.
    RuleCreated,
    /// A rule was changed.
    RuleUpdated,
    /// A rule was deleted.
    RuleDeleted,
}

impl AuditAction {
    /// Every action, in the SPEC's order.
    pub const ALL: [Self; 21] = [
        Self::Signup,
        Self::Login,
        Self::LoginFailed,
        Self::Logout,
        Self::AgentCreated,
        Self::AgentUpdated,
        Self::AgentKeyRotated,
        Self::AgentDeleted,
        Self::ClaimCreated,
        Self::ClaimReleased,
        Self::ClaimExpired,
        Self::RunBlocked,
        Self::ObserveWouldBlock,
        Self::HoldCreated,
        Self::HoldReleased,
        Self::HoldExpired,
        Self::HoldConflict,
        Self::PlanLimitReached,
        Self::RuleCreated,
        Self::RuleUpdated,
        Self::RuleDeleted,
    ];

    /// The action as the API spells it, e.g. `claim_created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::AgentCreated => "agent_created",
            Self::AgentUpdated => "agent_updated",
            Self::AgentKeyRotated => "agent_key_rotated",
            Self::AgentDeleted => "agent_deleted",
            Self::ClaimCreated => "claim_created",
            Self::ClaimReleased => "claim_released",
            Self::ClaimExpired => "claim_expired",
            Self::RunBlocked => "run_blocked",
            Self::ObserveWouldBlock => "observe_would_block",
            Self::HoldCreated => "hold_created",
            Self::HoldReleased => "hold_released",
            Self::HoldExpired => "hold_expired",
            Self::HoldConflict => "hold_conflict",
            Self::PlanLimitReached => "plan_limit_reached",
            Self::RuleCreated => "rule_created",
            Self::RuleUpdated => "rule_updated",
            Self::RuleDeleted => "rule_deleted",
        }
    }

    /// The action spelled `text`, if it is one.
    ///
    /// ```
    /// use availsync_types::AuditAction;
    /// assert_eq!(AuditAction::parse("login"), Some(AuditAction::Login));
    /// ```
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == text)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_actions_are_spelled_as_serde_spells_them() {
        for kind in ActivityKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(kind));
        }
        for action in AuditAction::ALL {
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::json!(action.as_str())
            );
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
    }
}
