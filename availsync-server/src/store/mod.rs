//! Durable state behind one trait, so that the embedded SQLite store and a
//! shared PostgreSQL store can serve the same HTTP layer.
//!
//! Every method that changes state is one transaction: it reads what the
//! decision needs, decides with the rules in [`crate::domain`], writes the
//! result and the events that describe it, and answers only once that is
//! durable.

pub mod cursor;
mod error;
pub mod event;
mod model;
pub mod postgres;
pub mod records;
pub mod sqlite;
pub mod text_enum;
pub mod write_health;

use async_trait::async_trait;
use availsync_types::{
    ActivityItem, Agent, AuditItem, AvailabilityResponse, CheckResponse, ConflictsCheckResponse,
    ExtendRunResponse, FinishRunResponse, Hold, HoldResponse, Page, Plan, ReleaseClaimResponse,
    ResourceKey, Rule, StartRunResponse, UpdateWorkingSetResponse, UsageResponse, Workspace,
};

pub use error::{Refusal, StoreError};

use crate::domain::queue::{QueueSignal, Queueing, Replica, StartOutcome};

/// What a store operation answers.
pub type StoreResult<T> = Result<T, StoreError>;
pub use model::*;

/// The one definition of a live claim, as SQL: not released, its lapse not
/// recorded by the sweep, and `now < expires_at` (`StoredClaim::is_live`
/// says the same of a loaded claim). `$store` is `sqlite` (booleans are 0
/// and 1) or `postgres`; `$claims` the table's alias with its dot (or
/// `""`), `$now` the parameter holding the clock. A literal, for `concat!`.
macro_rules! live_claim {
    (sqlite, $claims:literal, $now:literal) => {
        concat!(
            $claims,
            "released_at IS NULL AND ",
            $claims,
            "expiry_recorded = 0 AND ",
            $claims,
            "expires_at > ",
            $now
        )
    };
    (postgres, $claims:literal, $now:literal) => {
        concat!(
            $claims,
            "released_at IS NULL AND NOT ",
            $claims,
            "expiry_recorded AND ",
            $claims,
            "expires_at > ",
            $now
        )
    };
}
pub(crate) use live_claim;

/// How stale an agent's `last_used_at` may get before a request refreshes it.
pub const TOUCH_INTERVAL_MS: i64 = 60_000;

/// Everything the server keeps.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Claims live now (granted, not ended, not lapsed), in every
    /// workspace: the `live_claims` gauge.
    async fn live_claims(&self) -> StoreResult<u64>;

    /// Answers when the store can read and its writes are not failing for
    /// lack of space; while they were, it tries a small write of its own
    /// first ([`write_health`]).
    async fn health(&self) -> StoreResult<()>;

    /// Creates a workspace, its first user and a session. Refused
    /// ([`Refusal::EmailTaken`]) when the email is in use.
    async fn signup(&self, signup: NewSignup) -> StoreResult<SessionContext>;

    /// The stored password hash for an email (lower-cased), if any.
    async fn login_credentials(&self, email_norm: &str) -> StoreResult<Option<Credentials>>;

    /// Failed logins within the throttle window for the attempt's email,
    /// for it from its client (an IP address), and from that client for any
    /// email.
    async fn recent_login_failures(&self, attempt: &LoginAttempt) -> StoreResult<LoginFailures>;

    /// Records a failed login (and its audit event).
    async fn record_login_failure(&self, failure: FailedLogin) -> StoreResult<()>;

    /// Opens a session after a successful login, clearing the client's
    /// earlier failures for the email.
    async fn login(&self, login: NewLogin) -> StoreResult<SessionContext>;

    /// The live session with this token hash, if any.
    async fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionContext>>;

    /// Revokes a session.
    async fn logout(&self, session: &SessionContext) -> StoreResult<()>;

    /// Creates an agent with its key hash, within the plan's agent limit.
    async fn create_agent(&self, actor: &SessionContext, agent: NewAgent) -> StoreResult<Agent>;

    /// The workspace's agents, newest first.
    async fn list_agents(&self, query: Listing<()>) -> StoreResult<Page<Agent>>;

    /// Renames an agent or changes its mode.
    async fn update_agent(&self, actor: &SessionContext, update: AgentUpdate)
    -> StoreResult<Agent>;

    /// Replaces an agent's key; the old key stops working at once.
    async fn rotate_agent_key(
        &self,
        actor: &SessionContext,
        rotation: KeyRotation,
    ) -> StoreResult<Agent>;

    /// Deletes an agent: its key stops working and its live claims are
    /// released.
    async fn delete_agent(&self, actor: &SessionContext, agent_id: &AgentId) -> StoreResult<()>;

    /// The live agent with this key hash, if any.
    async fn agent_by_key(&self, key_hash: &[u8]) -> StoreResult<Option<AgentContext>>;

    /// Notes that an agent's key was used (at most about once a minute).
    async fn touch_agent(&self, agent_id: &AgentId) -> StoreResult<()>;

    /// Creates a rule for `resource` (humans), refusing a second rule for
    /// it and any `depends_on` cycle or oversized closure.
    async fn create_rule(
        &self,
        actor: &SessionContext,
        resource: ResourceKey,
        settings: RuleSettings,
    ) -> StoreResult<Rule>;

    /// The workspace's rules, by resource.
    async fn list_rules(&self, workspace_id: &WorkspaceId) -> StoreResult<Vec<Rule>>;

    /// Changes a rule (humans), with the same checks as a create.
    async fn update_rule(
        &self,
        actor: &SessionContext,
        rule_id: &RuleId,
        change: RuleChange,
    ) -> StoreResult<Rule>;

    /// Deletes a rule (humans).
    async fn delete_rule(&self, actor: &SessionContext, rule_id: &RuleId) -> StoreResult<()>;

    /// Decides a `run/start` and records the run, in one transaction,
    /// after granting the earlier waiters on its resources that can be
    /// served now (SPEC §13).
    async fn start_run(
        &self,
        agent: &AgentContext,
        start: StartRun,
    ) -> StoreResult<StartRunResponse> {
        match self.start_queued(agent, start, Queueing::Immediate).await? {
            StartOutcome::Answered(answer) => Ok(*answer),
            StartOutcome::Queued(_) => Err(StoreError::Backend(
                "a start that does not wait was queued".into(),
            )),
        }
    }

    /// Decides a `run/start` taking part in the waiters' queue as
    /// `queueing` says (see [`crate::domain::queue`]): a start that waits
    /// and would be told to skip joins the queue, or keeps its place,
    /// instead; its last try leaves the queue and answers whatever it is.
    async fn start_queued(
        &self,
        agent: &AgentContext,
        start: StartRun,
        queueing: Queueing,
    ) -> StoreResult<StartOutcome>;

    /// Grants the live waiters of a workspace that can be served now, in
    /// arrival order.
    async fn serve_waiters(&self, workspace_id: &WorkspaceId) -> StoreResult<()>;

    /// Takes a waiter out of the queue (its client went away).
    async fn leave_queue(&self, seq: i64) -> StoreResult<()>;

    /// Keeps `replica`'s waiters in the queue for another
    /// [`crate::domain::queue::WAITER_LIVENESS`], and drops those whose
    /// replica stopped doing so.
    async fn renew_waiters(&self, replica: Replica) -> StoreResult<()>;

    /// What frees or grants waiters, as it commits, from every replica.
    fn queue_signals(&self) -> tokio::sync::broadcast::Receiver<QueueSignal>;

    /// Whether a resource (or some of its paths) is free in the caller's
    /// workspace, changing nothing.
    async fn check_resource(&self, caller: &Principal, check: Check) -> StoreResult<CheckResponse>;

    /// Extends a run's lease from now.
    async fn extend_run(
        &self,
        agent: &AgentContext,
        extend: ExtendRun,
    ) -> StoreResult<ExtendRunResponse>;

    /// Adds paths to, or removes paths from, a run's live working-set claim
    /// atomically; the fencing token stays.
    async fn change_paths(
        &self,
        agent: &AgentContext,
        change: PathsChange,
    ) -> StoreResult<UpdateWorkingSetResponse>;

    /// Finishes a run, releasing its live claim. Idempotent.
    async fn finish_run(
        &self,
        agent: &AgentContext,
        finish: FinishRun,
    ) -> StoreResult<FinishRunResponse>;

    /// Releases a work claim on a human's order: a live claim ends at once
    /// (its run's next extend gets `lease_lost`), recorded as the audit
    /// action `claim_released` with the user as actor and the activity kind
    /// `run_released`. Idempotent: a claim that has already ended answers
    /// `released: false` and records nothing. A claim of another workspace
    /// is not found ([`Refusal::NotFound`]).
    async fn release_claim(
        &self,
        actor: &SessionContext,
        claim_id: &ClaimId,
    ) -> StoreResult<ReleaseClaimResponse>;

    /// The workspace's runs, newest first.
    async fn list_runs(&self, query: Listing<RunFilter>)
    -> StoreResult<Page<availsync_types::Run>>;

    /// Creates a hold after checking, in the same transaction, that no live
    /// hold overlaps it; replays an earlier create with the same
    /// idempotency key.
    async fn create_hold(&self, holder: &Principal, hold: NewHold) -> StoreResult<HoldResponse>;

    /// Releases a hold. Idempotent; an agent may release only its own.
    async fn release_hold(&self, caller: &Principal, hold_id: &HoldId) -> StoreResult<()>;

    /// The workspace's holds, newest first.
    async fn list_holds(&self, query: Listing<HoldFilter>) -> StoreResult<Page<Hold>>;

    /// Busy and free time of a resource within a window (records activity).
    async fn availability(
        &self,
        caller: &Principal,
        slot: Slot,
    ) -> StoreResult<AvailabilityResponse>;

    /// Live holds overlapping a window (records activity, nothing else).
    async fn check_conflicts(
        &self,
        caller: &Principal,
        slot: Slot,
    ) -> StoreResult<ConflictsCheckResponse>;

    /// The workspace's activity, newest first.
    async fn list_activity(
        &self,
        query: Listing<ActivityFilter>,
    ) -> StoreResult<Page<ActivityItem>>;

    /// Committed activity after `after`, oldest first (feed order), at
    /// most `limit` events: only events below every position still to come
    /// ([`cursor`]), so a reader that goes on from the last one misses
    /// nothing.
    async fn activity_since(
        &self,
        scope: FeedScope<'_>,
        after: cursor::Position,
        limit: u32,
    ) -> StoreResult<Vec<FeedEvent>>;

    /// The position of the newest committed activity (by the rule of
    /// [`Store::activity_since`]), or the start when there is none.
    async fn activity_head(&self) -> StoreResult<cursor::Position>;

    /// The position of a workspace's activity event, unless it is unknown
    /// or was pruned.
    async fn activity_position(
        &self,
        workspace_id: &WorkspaceId,
        event_id: &str,
    ) -> StoreResult<Option<cursor::Position>>;

    /// Woken (at least) after activity commits: this process's writes
    /// and, where replicas share the store, theirs.
    fn activity_committed(&self) -> std::sync::Arc<tokio::sync::Notify>;

    /// The workspace's audit log, newest first.
    async fn list_audit(&self, query: Listing<AuditFilter>) -> StoreResult<Page<AuditItem>>;

    /// Usage against the plan, and counts within the query's range.
    async fn usage(&self, query: UsageQuery) -> StoreResult<UsageResponse>;

    /// Records lapsed claims and holds (once each) and prunes activity
    /// older than `activity_retention_ms`.
    async fn sweep(&self, activity_retention_ms: i64) -> StoreResult<SweepReport>;

    /// Changes a workspace's plan (operator only). `workspace` is an id or a
    /// unique name.
    async fn set_plan(&self, workspace: &str, plan: Plan) -> StoreResult<Workspace>;
}
