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

/// Every activity `kind` the server records.
pub const ACTIVITY_KINDS: [&str; 12] = [
    "run_started",
    "run_skipped",
    "run_observed",
    "run_extended",
    "run_finished",
    "run_released",
    "lease_lost",
    "availability_checked",
    "conflicts_checked",
    "hold_created",
    "hold_rejected",
    "hold_released",
];

/// Every audit `action` the server records.
pub const AUDIT_ACTIONS: [&str; 18] = [
    "signup",
    "login",
    "login_failed",
    "logout",
    "agent_created",
    "agent_updated",
    "agent_key_rotated",
    "agent_deleted",
    "claim_created",
    "claim_released",
    "claim_expired",
    "run_blocked",
    "observe_would_block",
    "hold_created",
    "hold_released",
    "hold_expired",
    "hold_conflict",
    "plan_limit_reached",
];
