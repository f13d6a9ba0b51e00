//! Inputs and contexts that cross the store boundary (answers use the wire
//! types of `availsync-types`).

use availsync_types::{ActivityKind, AuditAction, Mode, Outcome, ResourceKey, Timestamp};

pub use crate::domain::callers::{Actor, AgentContext, Credentials, Principal, SessionContext};
pub use crate::domain::ids::{AgentId, ClaimId, HoldId, RuleId, RunId, UserId, WorkspaceId};
pub use crate::domain::rules::{RuleChange, RuleSettings};

/// One page of a workspace's list (runs, holds, agents, events), filtered.
#[derive(Debug, Clone)]
pub struct Listing<F> {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Which items.
    pub filter: F,
    /// Which page.
    pub page: PageRequest,
}

/// A usage read: a workspace's counts within `[since, until)`.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// From (inclusive); the start of time when absent.
    pub since: Option<Timestamp>,
    /// Until (exclusive); now when absent.
    pub until: Option<Timestamp>,
}

pub use crate::domain::schedule::Slot;

/// Who is trying to log in: the email (lower-cased) and the client (an IP
/// address), the key of the login throttle.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The email, lower-cased.
    pub email_norm: String,
    /// The client's address.
    pub client: String,
}

/// A failed login to record.
#[derive(Debug, Clone)]
pub struct FailedLogin {
    /// Who tried.
    pub attempt: LoginAttempt,
    /// The account of that email, if there is one.
    pub account: Option<Credentials>,
}

/// A successful login: the session to open for the user, from `client`.
#[derive(Debug, Clone)]
pub struct NewLogin {
    /// The user.
    pub user_id: UserId,
    /// The client's address, whose failures for the email are cleared.
    pub client: String,
    /// The session.
    pub session: NewSession,
}

pub use crate::domain::holds::NewHold;

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

pub use crate::domain::accounts::{NewSession, NewSignup};
pub use crate::domain::login_throttle::{LoginFailures, Tally};

pub use crate::domain::agents::{NewAgent, NewKey};

/// Changes to an agent.
#[derive(Debug, Clone)]
pub struct AgentUpdate {
    /// The agent.
    pub agent_id: AgentId,
    /// New name.
    pub name: Option<String>,
    /// New mode.
    pub mode: Option<Mode>,
}

/// A new key for an agent, replacing its old one.
#[derive(Debug, Clone)]
pub struct KeyRotation {
    /// The agent.
    pub agent_id: AgentId,
    /// The new key.
    pub key: NewKey,
}

pub use crate::domain::working_sets::{PathsChange, Want};

/// A validated `/v1/work/check`.
#[derive(Debug, Clone)]
pub struct Check {
    /// The resource (the first one, when several are asked about).
    pub resource: ResourceKey,
    /// The others asked about with it (SPEC §12).
    pub also: Vec<ResourceKey>,
    /// The whole resource, or some paths of it.
    pub want: Want,
}

impl Check {
    /// Every resource asked about, the first one first.
    pub fn requested(&self) -> Vec<ResourceKey> {
        std::iter::once(self.resource.clone())
            .chain(self.also.iter().cloned())
            .collect()
    }
}

/// A validated `run/start`.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// The resource (claimable, normalised).
    pub resource: ResourceKey,
    /// Lease length.
    pub ttl_seconds: u32,
    /// The run id (client's or new).
    pub run_id: RunId,
    /// Purpose.
    pub purpose: Option<String>,
    /// True when the request asked for observe mode.
    pub observe_requested: bool,
    /// Metadata object.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The whole resource, or a working set of it.
    pub want: Want,
    /// The other resources claimed with it, all or none (SPEC §12).
    pub also: Vec<ResourceKey>,
}

/// A validated `run/extend`.
#[derive(Debug, Clone)]
pub struct ExtendRun {
    /// The run.
    pub run_id: RunId,
    /// The new lease length; the run's own when absent.
    pub ttl_seconds: Option<u32>,
}

impl StartRun {
    /// Every resource asked for, the first one first.
    pub fn requested(&self) -> Vec<ResourceKey> {
        std::iter::once(self.resource.clone())
            .chain(self.also.iter().cloned())
            .collect()
    }
}

/// A validated `run/finish`.
#[derive(Debug, Clone)]
pub struct FinishRun {
    /// The run.
    pub run_id: RunId,
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
    pub after: Option<crate::store::cursor::Position>,
}

impl PageRequest {
    /// The `seq` to continue below, for the lists ordered by `seq` alone.
    pub fn after_seq(&self) -> Option<i64> {
        self.after.map(|position| position.seq)
    }
}

/// A committed activity event and its place in the feed.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    /// Where it stands (see [`crate::store::cursor`]).
    pub position: crate::store::cursor::Position,
    /// Its workspace.
    pub workspace_id: String,
    /// The event, as `GET /v1/activity` answers it.
    pub item: availsync_types::ActivityItem,
}

/// Which committed activity to read in feed order.
#[derive(Debug, Clone, Copy)]
pub enum FeedScope<'a> {
    /// Every workspace's (one server-wide reader).
    All,
    /// One workspace's, filtered.
    Workspace(&'a WorkspaceId, &'a ActivityFilter),
}
