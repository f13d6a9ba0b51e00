//! Inputs and contexts that cross the store boundary (answers use the wire
//! types of `availsync-types`).

use availsync_types::{ActivityKind, AuditAction, Mode, Outcome, ResourceKey};

pub use crate::domain::callers::{Actor, AgentContext, Credentials, Principal, SessionContext};

/// What creating a hold stores.
#[derive(Debug, Clone)]
pub struct NewHold {
    /// Any valid resource.
    pub resource: ResourceKey,
    /// The window.
    pub window: crate::domain::schedule::Window,
    /// Purpose.
    pub purpose: Option<String>,
    /// Tentative hold lifetime.
    pub ttl_seconds: Option<u32>,
    /// Retry key, unique per holder.
    pub idempotency_key: Option<String>,
}

/// Which holds to list.
#[derive(Debug, Clone, Default)]
pub struct HoldFilter {
    /// Only holds on this resource.
    pub resource: Option<ResourceKey>,
    /// Only live holds.
    pub active_only: bool,
}

/// Which activity events to list.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only on this resource.
    pub resource: Option<ResourceKey>,
    /// Only of this kind.
    pub kind: Option<ActivityKind>,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this actor's (user or agent id).
    pub actor_id: Option<String>,
    /// Only on this resource.
    pub resource: Option<ResourceKey>,
    /// Only this action.
    pub action: Option<AuditAction>,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// `claim_expired` events recorded.
    pub claims_expired: usize,
    /// `hold_expired` events recorded.
    pub holds_expired: usize,
    /// Activity events pruned past retention.
    pub activity_pruned: usize,
}

/// A new session token's hash and lifetime.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Session lifetime in milliseconds.
    pub ttl_ms: i64,
}

/// What signup stores.
#[derive(Debug, Clone)]
pub struct NewSignup {
    /// The email as given.
    pub email: String,
    /// The email lower-cased.
    pub email_norm: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The new workspace's name.
    pub workspace_name: String,
    /// The first session.
    pub session: NewSession,
}

pub use crate::domain::login_throttle::{LoginFailures, Tally};

/// A new agent key's hash and recognisable prefix.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// The first characters of the key.
    pub key_prefix: String,
}

/// What creating an agent stores.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Display name.
    pub name: String,
    /// Mode.
    pub mode: Mode,
    /// Its key.
    pub key: NewKey,
}

/// Changes to an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentUpdate {
    /// New name.
    pub name: Option<String>,
    /// New mode.
    pub mode: Option<Mode>,
}

/// A validated `run/start`.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// The resource (claimable, normalised).
    pub resource: ResourceKey,
    /// Lease length.
    pub ttl_seconds: u32,
    /// The run id (client's or new).
    pub run_id: String,
    /// Purpose.
    pub purpose: Option<String>,
    /// True when the request asked for observe mode.
    pub observe_requested: bool,
    /// Metadata object.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A validated `run/finish`.
#[derive(Debug, Clone)]
pub struct FinishRun {
    /// The run.
    pub run_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Summary.
    pub summary: Option<String>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs holding a live lease (or live observe runs).
    pub active_only: bool,
    /// Only runs on this resource.
    pub resource: Option<ResourceKey>,
}

/// A page request: how many, and after which cursor.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// 1-200.
    pub limit: u32,
    /// Position after which to continue (decoded cursor).
    pub after: Option<i64>,
}
