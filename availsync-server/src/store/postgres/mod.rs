//! The shared store: PostgreSQL, so several stateless server replicas can
//! serve one workspace.
//!
//! Correctness comes from the database, never from a replica's memory:
//! - decisions about a resource run under a transaction-scoped advisory
//!   lock of that resource and read the **database's** clock after taking
//!   it, so every replica orders them the same way;
//! - plan limits are counted under the workspace row's lock;
//! - exclusion constraints refuse two live claims on one resource and two
//!   overlapping live holds, whatever a replica does;
//! - a transaction that loses a race (serialization failure, deadlock, a
//!   unique key taken by a concurrent retry) is run again from the start.
//!
//! Nothing is cached between requests.

mod accounts;
mod events;
mod feeds;
mod holds;
mod migrations;
mod queue;
mod rules;
mod sql;
mod sweep;
#[cfg(test)]
mod test_db;
mod tx;
mod work;
mod working_sets;

use crate::store::StoreResult;
use crate::store::live_claim;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use availsync_types::{
    ActivityItem, Agent, AuditItem, AvailabilityResponse, CheckResponse, ConflictsCheckResponse,
    ExtendRunResponse, FinishRunResponse, Hold, HoldResponse, Page, Plan, ReleaseClaimResponse,
    ResourceKey, Rule, Run, UpdateWorkingSetResponse, UsageResponse, Workspace,
};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use super::{
    ActivityFilter, AgentContext, AgentId, AgentUpdate, AuditFilter, Check, ClaimId, Credentials,
    ExtendRun, FailedLogin, FinishRun, HoldFilter, HoldId, KeyRotation, Listing, LoginAttempt,
    LoginFailures, NewAgent, NewHold, NewLogin, NewSignup, PathsChange, Principal, RuleChange,
    RuleId, RuleSettings, RunFilter, SessionContext, Slot, StartRun, Store, StoreError,
    SweepReport, UsageQuery, WorkspaceId,
};
use crate::domain::clock::Clock;
use crate::domain::queue::{
    QueueSignal, Queueing, Replica, SignalSender, StartOutcome, signal_channel,
};
use crate::store::cursor::Position;
use crate::store::write_health::WriteHealth;
use crate::store::{FeedEvent, FeedScope};
use std::sync::Arc;
use tokio::sync::Notify;

/// Connections per replica when not configured.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Attempts of a transaction that keeps losing races before giving up.
const MAX_ATTEMPTS: u32 = 8;

/// Where the database is and how to use it.
#[derive(Clone)]
pub struct PostgresConfig {
    /// `postgres://user:password@host:port/database` (or key=value form).
    /// It holds a password, so it is never logged or shown.
    pub url: String,
    /// A schema to keep the tables in (created when missing); `None` uses
    /// the database's default search path.
    pub schema: Option<String>,
    /// Most connections this replica opens.
    pub pool_size: usize,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &"<redacted>")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// Why the PostgreSQL store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgOpenError {
    /// The URL does not parse.
    #[error("invalid database URL: {0}")]
    Url(String),
    /// The schema name is not a plain identifier.
    #[error("invalid database schema {0:?}: use lower-case letters, digits and _")]
    Schema(String),
    /// The database could not be reached or refused the login.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// The schema could not be brought up to date.
    #[error("cannot migrate the database: {0}")]
    Migration(String),
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    clock: Clock,
    writes: WriteHealth,
    /// Woken when a write of this replica commits (other replicas'
    /// commits are found by the event hub's periodic read).
    committed: Arc<Notify>,
    /// The queue's notification channel (see [`queue`]).
    channel: String,
    signals: SignalSender,
    listener: queue::Listener,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit()
}

impl PostgresStore {
    /// Connects, creates the schema if asked for one, and brings it up to
    /// date.
    pub async fn open(config: &PostgresConfig, clock: Clock) -> Result<Self, PgOpenError> {
        let mut pg = tokio_postgres::Config::from_str(&config.url)
            .map_err(|e| PgOpenError::Url(e.to_string()))?;
        if let Some(schema) = &config.schema {
            if !valid_schema(schema) {
                return Err(PgOpenError::Schema(schema.clone()));
            }
            // Every connection looks in the schema first; extensions live in
            // public.
            pg.options(format!("-c search_path={schema},public"));
        }
        pg.connect_timeout(Duration::from_secs(10));
        if pg.get_application_name().is_none() {
            pg.application_name("availsync-server");
        }
        let channel = queue::channel_name(config.schema.as_deref());
        let signals = signal_channel();
        let listener = queue::Listener::new(pg.clone(), channel.clone(), signals.clone());
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .wait_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| PgOpenError::Connect(describe(&e)))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| PgOpenError::Connect(describe(&e)))?;
        if let Some(schema) = &config.schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(|e| PgOpenError::Migration(describe(&e)))?;
        }
        migrations::apply(&mut client)
            .await
            .map_err(|e| PgOpenError::Migration(describe(&e)))?;
        Ok(Self {
            pool,
            clock,
            writes: WriteHealth::default(),
            committed: Arc::new(Notify::new()),
            channel,
            signals,
            listener,
        })
    }

    /// Tells every replica's waiters in the workspace that something was
    /// released (in the releasing transaction, after its locks).
    async fn freed<C: GenericClient>(
        &self,
        client: &C,
        workspace_id: &WorkspaceId,
    ) -> StoreResult<()> {
        queue::notify_freed(client, &self.channel, workspace_id.as_str()).await
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Backend(format!("no database connection: {}", describe(&e))))
    }
}

/// An error and every cause under it, joined with `: `. The driver's own
/// message is only its kind ("db error"); what the database said is the
/// cause, and the only part worth reading. Of a database error only its
/// severity, code, message and the names of the constraint, table and
/// column are kept: its DETAIL can quote a whole row (a failing row's
/// values, hashes of secrets among them), which must not reach a log.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cause = Some(error);
    while let Some(next) = cause {
        let part = match next.downcast_ref::<tokio_postgres::error::DbError>() {
            Some(db) => database_said(db),
            None => next.to_string(),
        };
        if !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
}

fn database_said(db: &tokio_postgres::error::DbError) -> String {
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    for (what, name) in [
        ("constraint", db.constraint()),
        ("table", db.table()),
        ("column", db.column()),
    ] {
        if let Some(name) = name {
            text.push_str(&format!(" ({what} {name})"));
        }
    }
    text
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(code)
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::UNIQUE_VIOLATION =>
            {
                Self::Contention(describe(&e))
            }
            Some(code) if *code == SqlState::DISK_FULL => Self::StorageFull(describe(&e)),
            Some(code) if *code == SqlState::IN_FAILED_SQL_TRANSACTION => {
                Self::SkippedAfterFailure(format!(
                    "{}: {}",
                    sql::SKIPPED_AFTER_FAILURE,
                    describe(&e)
                ))
            }
            _ => Self::Backend(describe(&e)),
        }
    }
}

/// Runs `$body` (which uses `$tx`, a [`tx::Tx`]) in a transaction and
/// commits it, again from the start while it loses races with concurrent
/// transactions.
macro_rules! transact {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut attempt = 0u32;
        let asked = std::time::Instant::now();
        let outcome = loop {
            attempt += 1;
            let $tx = tx::Tx::new($store.client().await?);
            let outcome = $tx.run(async { $body }).await;
            match outcome {
                Err(StoreError::Contention(why)) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(attempt, %why, "transaction lost a race; retrying");
                    let jitter = rand::random_range(1..=(5 * u64::from(attempt)));
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                other => break other,
            }
        };
        $store.writes.observe(&outcome);
        $crate::metrics::global().storage_write(&outcome, asked.elapsed());
        if outcome.is_ok() {
            $store.committed.notify_one();
        }
        outcome
    }};
}

/// Runs `$body` on a pooled connection outside any explicit transaction.
macro_rules! read {
    ($store:expr, |$client:ident| $body:expr) => {{
        let $client = $store.client().await?;
        $body
    }};
}

#[async_trait]
impl Store for PostgresStore {
    async fn live_claims(&self) -> StoreResult<u64> {
        read!(self, |client| {
            let now = sql::now(&client, &self.clock).await?;
            let row = sql::row_one(
                &client,
                concat!(
                    "SELECT COUNT(*) FROM claims WHERE ",
                    live_claim!(postgres, "", "$1")
                ),
                &[&now.unix_millis()],
            )
            .await?;
            let live: i64 = sql::get(&row, 0)?;
            Ok(u64::try_from(live).unwrap_or_default())
        })
    }

    async fn health(&self) -> StoreResult<()> {
        read!(self, |client| sql::row_one(&client, "SELECT 1", &[])
            .await
            .map(|_| ()))?;
        if self.writes.failing().is_some() {
            transact!(self, |tx| {
                let now = sql::now(tx.db(), &self.clock).await?;
                sql::execute(
                    tx.db(),
                    "INSERT INTO health_probe (id, at) VALUES (1, $1)
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    &[&now.unix_millis()],
                )
                .await
                .map(|_| ())
            })?;
        }
        Ok(())
    }

    async fn signup(&self, signup: NewSignup) -> StoreResult<SessionContext> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::signup(tx.db(), now, signup.clone()).await
        })
    }

    async fn login_credentials(&self, email_norm: &str) -> StoreResult<Option<Credentials>> {
        read!(self, |client| accounts::credentials(&client, email_norm)
            .await)
    }

    async fn recent_login_failures(&self, attempt: &LoginAttempt) -> StoreResult<LoginFailures> {
        read!(self, |client| {
            let now = sql::now(&client, &self.clock).await?;
            accounts::login_failures(&client, now, attempt).await
        })
    }

    async fn record_login_failure(&self, failure: FailedLogin) -> StoreResult<()> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::record_login_failure(tx.db(), now, &failure).await
        })
    }

    async fn login(&self, login: NewLogin) -> StoreResult<SessionContext> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::login(tx.db(), now, &login).await
        })
    }

    async fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionContext>> {
        read!(self, |client| {
            let now = sql::now(&client, &self.clock).await?;
            accounts::session(&client, now, token_hash).await
        })
    }

    async fn logout(&self, session: &SessionContext) -> StoreResult<()> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::logout(tx.db(), now, session).await
        })
    }

    async fn create_agent(&self, actor: &SessionContext, agent: NewAgent) -> StoreResult<Agent> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::create_agent(tx.db(), now, actor, agent.clone()).await
        })?
    }

    async fn list_agents(&self, query: Listing<()>) -> StoreResult<Page<Agent>> {
        read!(self, |client| {
            let now = sql::now(&client, &self.clock).await?;
            accounts::list_agents(&client, now, &query).await
        })
    }

    async fn update_agent(
        &self,
        actor: &SessionContext,
        update: AgentUpdate,
    ) -> StoreResult<Agent> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::update_agent(tx.db(), now, actor, &update).await
        })
    }

    async fn rotate_agent_key(
        &self,
        actor: &SessionContext,
        rotation: KeyRotation,
    ) -> StoreResult<Agent> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            accounts::rotate_key(tx.db(), now, actor, &rotation).await
        })
    }

    async fn delete_agent(&self, actor: &SessionContext, agent_id: &AgentId) -> StoreResult<()> {
        transact!(self, |tx| {
            // The agent's row first: a concurrent start (which share-locks
            // it) waits, and then finds the agent gone.
            sql::execute(
                tx.db(),
                "SELECT 1 FROM agents WHERE id = $1 FOR UPDATE",
                &[&agent_id.as_str()],
            )
            .await?;
            let agent = accounts::find_agent(tx.db(), actor, agent_id).await?;
            let (released, now) =
                work::release_agent_claims(tx.db(), &self.clock, actor, agent_id).await?;
            accounts::delete_agent(tx.db(), now, actor, &agent, released).await?;
            self.freed(tx.db(), &actor.workspace_id()).await
        })
    }

    async fn agent_by_key(&self, key_hash: &[u8]) -> StoreResult<Option<AgentContext>> {
        read!(self, |client| accounts::agent_by_key(&client, key_hash)
            .await)
    }

    async fn touch_agent(&self, agent_id: &AgentId) -> StoreResult<()> {
        read!(self, |client| {
            let now = sql::now(&client, &self.clock).await?;
            accounts::touch_agent(&client, now, agent_id).await
        })
    }

    async fn create_rule(
        &self,
        actor: &SessionContext,
        resource: ResourceKey,
        settings: RuleSettings,
    ) -> StoreResult<Rule> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            rules::create(tx.db(), now, actor, &resource, settings.clone()).await
        })
    }

    async fn list_rules(&self, workspace_id: &WorkspaceId) -> StoreResult<Vec<Rule>> {
        read!(self, |client| rules::list(&client, workspace_id).await)
    }

    async fn update_rule(
        &self,
        actor: &SessionContext,
        rule_id: &RuleId,
        change: RuleChange,
    ) -> StoreResult<Rule> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            let rule = rules::update(tx.db(), now, actor, rule_id, change.clone()).await?;
            self.freed(tx.db(), &actor.workspace_id()).await?;
            Ok(rule)
        })
    }

    async fn delete_rule(&self, actor: &SessionContext, rule_id: &RuleId) -> StoreResult<()> {
        transact!(self, |tx| {
            let now = sql::now(tx.db(), &self.clock).await?;
            rules::delete(tx.db(), now, actor, rule_id).await?;
            self.freed(tx.db(), &actor.workspace_id()).await
        })
    }

    async fn start_queued(
        &self,
        agent: &AgentContext,
        start: StartRun,
        queueing: Queueing,
    ) -> StoreResult<StartOutcome> {
        if queueing != Queueing::Immediate {
            // Listening before queueing: no release after it goes unheard.
            self.listener.ensure().await;
        }
        let (outcome, _served) = transact!(self, |tx| work::start_run(
            tx.db(),
            &self.clock,
            agent,
            start.clone(),
            queueing,
            &self.channel,
        )
        .await)?;
        Ok(outcome)
    }

    async fn serve_waiters(&self, workspace_id: &WorkspaceId) -> StoreResult<()> {
        transact!(self, |tx| queue::serve(
            tx.db(),
            &self.clock,
            workspace_id.as_str(),
            None,
            None,
            &self.channel,
        )
        .await)?;
        Ok(())
    }

    async fn leave_queue(&self, seq: i64) -> StoreResult<()> {
        read!(self, |client| queue::leave(&client, seq).await)
    }

    async fn renew_waiters(&self, replica: Replica) -> StoreResult<()> {
        read!(self, |client| queue::renew(&client, &self.clock, replica)
            .await)
    }

    fn queue_signals(&self) -> tokio::sync::broadcast::Receiver<QueueSignal> {
        self.signals.subscribe()
    }

    async fn check_resource(&self, caller: &Principal, check: Check) -> StoreResult<CheckResponse> {
        let workspace_id = caller.workspace_id();
        read!(self, |client| work::check(
            &client,
            &self.clock,
            workspace_id,
            &check
        )
        .await)
    }

    async fn change_paths(
        &self,
        agent: &AgentContext,
        change: PathsChange,
    ) -> StoreResult<UpdateWorkingSetResponse> {
        transact!(self, |tx| {
            let changed = work::change_paths(tx.db(), &self.clock, agent, &change).await?;
            self.freed(tx.db(), &agent.workspace_id).await?;
            Ok(changed)
        })?
    }

    async fn extend_run(
        &self,
        agent: &AgentContext,
        extend: ExtendRun,
    ) -> StoreResult<ExtendRunResponse> {
        transact!(self, |tx| work::extend(
            tx.db(),
            &self.clock,
            agent,
            &extend
        )
        .await)?
    }

    async fn finish_run(
        &self,
        agent: &AgentContext,
        finish: FinishRun,
    ) -> StoreResult<FinishRunResponse> {
        transact!(self, |tx| {
            let finished = work::finish(tx.db(), &self.clock, agent, finish.clone()).await?;
            self.freed(tx.db(), &agent.workspace_id).await?;
            Ok(finished)
        })
    }

    async fn release_claim(
        &self,
        actor: &SessionContext,
        claim_id: &ClaimId,
    ) -> StoreResult<ReleaseClaimResponse> {
        transact!(self, |tx| {
            let released = work::release_claim(tx.db(), &self.clock, actor, claim_id).await?;
            self.freed(tx.db(), &actor.workspace_id()).await?;
            Ok(released)
        })
    }

    async fn list_runs(&self, query: Listing<RunFilter>) -> StoreResult<Page<Run>> {
        read!(self, |client| work::list_runs(&client, &self.clock, &query)
            .await)
    }

    async fn create_hold(&self, holder: &Principal, hold: NewHold) -> StoreResult<HoldResponse> {
        transact!(self, |tx| holds::create(
            tx.db(),
            &self.clock,
            holder,
            hold.clone()
        )
        .await)?
    }

    async fn release_hold(&self, caller: &Principal, hold_id: &HoldId) -> StoreResult<()> {
        transact!(self, |tx| holds::release(
            tx.db(),
            &self.clock,
            caller,
            hold_id
        )
        .await)
    }

    async fn list_holds(&self, query: Listing<HoldFilter>) -> StoreResult<Page<Hold>> {
        read!(self, |client| holds::list(&client, &self.clock, &query)
            .await)
    }

    async fn availability(
        &self,
        caller: &Principal,
        slot: Slot,
    ) -> StoreResult<AvailabilityResponse> {
        transact!(self, |tx| {
            holds::availability(tx.db(), &self.clock, caller, &slot).await
        })
    }

    async fn check_conflicts(
        &self,
        caller: &Principal,
        slot: Slot,
    ) -> StoreResult<ConflictsCheckResponse> {
        transact!(self, |tx| {
            holds::check_conflicts(tx.db(), &self.clock, caller, &slot).await
        })
    }

    async fn list_activity(
        &self,
        query: Listing<ActivityFilter>,
    ) -> StoreResult<Page<ActivityItem>> {
        read!(self, |client| feeds::activity(&client, &self.clock, &query)
            .await)
    }

    async fn activity_since(
        &self,
        scope: FeedScope<'_>,
        after: Position,
        limit: u32,
    ) -> StoreResult<Vec<FeedEvent>> {
        read!(self, |client| feeds::activity_since(
            &client, scope, after, limit
        )
        .await)
    }

    async fn activity_head(&self) -> StoreResult<Position> {
        read!(self, |client| feeds::activity_head(&client).await)
    }

    async fn activity_position(
        &self,
        workspace_id: &WorkspaceId,
        event_id: &str,
    ) -> StoreResult<Option<Position>> {
        read!(self, |client| feeds::activity_position(
            &client,
            workspace_id,
            event_id
        )
        .await)
    }

    fn activity_committed(&self) -> Arc<Notify> {
        Arc::clone(&self.committed)
    }

    async fn list_audit(&self, query: Listing<AuditFilter>) -> StoreResult<Page<AuditItem>> {
        read!(self, |client| feeds::audit(&client, &self.clock, &query)
            .await)
    }

    async fn usage(&self, query: UsageQuery) -> StoreResult<UsageResponse> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let usage = feeds::usage(&tx, &self.clock, &query).await?;
        tx.commit().await?;
        Ok(usage)
    }

    async fn sweep(&self, activity_retention_ms: i64) -> StoreResult<SweepReport> {
        transact!(self, |tx| sweep::sweep(
            tx.db(),
            &self.clock,
            activity_retention_ms
        )
        .await)
    }

    async fn set_plan(&self, workspace: &str, plan: Plan) -> StoreResult<Workspace> {
        transact!(self, |tx| {
            let changed = accounts::set_plan(tx.db(), workspace, plan).await?;
            self.freed(tx.db(), &WorkspaceId::new(&changed.id)).await?;
            Ok(changed)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(super::valid_schema("availsync"));
        assert!(super::valid_schema("test_42"));
        assert!(!super::valid_schema(""));
        assert!(!super::valid_schema("1abc"));
        assert!(!super::valid_schema("a;drop"));
        assert!(!super::valid_schema("Upper"));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("db error")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_is_described_with_its_causes() {
        let error = Outer(std::io::Error::other("ERROR: could not extend file"));
        assert_eq!(
            super::describe(&error),
            "db error: ERROR: could not extend file"
        );
        let plain = std::io::Error::other("no route");
        assert_eq!(super::describe(&plain), "no route");
    }

    /// What the database said, but never a DETAIL, which can quote a whole
    /// failing row. Needs `AVAILSYNC_TEST_DATABASE_URL` (as `.ci/run` sets
    /// for this crate's tests on PostgreSQL); says so and checks nothing
    /// without it.
    #[tokio::test]
    async fn a_database_error_keeps_its_code_and_message_but_not_the_row() {
        let Some(url) = super::test_db::url() else {
            return;
        };
        let client = super::test_db::connect(&url).await;
        client
            .batch_execute("CREATE TEMPORARY TABLE describe_me (a TEXT NOT NULL, b TEXT)")
            .await
            .unwrap();
        let error = client
            .execute(
                "INSERT INTO describe_me (a, b) VALUES (NULL, 'argon2-hash-of-a-secret')",
                &[],
            )
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("argon2-hash-of-a-secret")
                || error.as_db_error().and_then(|db| db.detail()).is_some(),
            "the database gave no detail to leave out: {error:?}"
        );
        let text = super::describe(&error);
        assert!(text.starts_with("db error: ERROR 23502: "), "{text}");
        assert!(text.contains("(table describe_me) (column a)"), "{text}");
        assert!(!text.contains("argon2"), "{text}");
    }
}
