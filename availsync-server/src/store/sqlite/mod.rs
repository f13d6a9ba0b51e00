//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`,
//! one group-committing writer thread and a few reader threads.

mod accounts;
mod checkpoints;
mod events;
mod feeds;
mod holds;
mod key_cache;
mod migrations;
mod priority;
mod queue;
mod readers;
mod rows;
mod rules;
mod sweep;
mod work;
mod working_sets;
mod writer;
mod writer_cache;

use crate::store::StoreResult;
use crate::store::live_claim;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use availsync_types::{
    ActivityItem, Agent, AuditItem, AvailabilityResponse, CheckResponse, ConflictsCheckResponse,
    ExtendRunResponse, FinishRunResponse, Hold, HoldResponse, Page, Plan, ReleaseClaimResponse,
    ResourceKey, Rule, Run, UpdateWorkingSetResponse, UsageResponse, Workspace,
};
use rusqlite::{Connection, OpenFlags};

use self::checkpoints::Checkpoints;
use self::key_cache::KeyCache;
use self::readers::Readers;
use self::writer::{Undo, Writer};
use super::write_health::WriteHealth;
use super::{
    ActivityFilter, AgentContext, AgentId, AgentUpdate, AuditFilter, Check, ClaimId, Credentials,
    ExtendRun, FailedLogin, FinishRun, HoldFilter, HoldId, KeyRotation, Listing, LoginAttempt,
    LoginFailures, NewAgent, NewHold, NewLogin, NewSignup, PathsChange, Principal, RuleChange,
    RuleId, RuleSettings, RunFilter, SessionContext, Slot, StartRun, Store, SweepReport,
    UsageQuery, WorkspaceId,
};
use crate::domain::clock::Clock;
use crate::domain::queue::{
    QueueSignal, Queueing, Replica, Served, SignalSender, StartOutcome, signal_channel,
};
use crate::store::cursor::Position;
use crate::store::{FeedEvent, FeedScope};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "availsync.db";

/// Reader threads; two cores are the common deployment, and reads are short.
const READERS: usize = 2;

/// The SQLite store.
pub struct SqliteStore {
    /// Waiters in the queue, about: while there are none, a start cannot
    /// serve any and runs without a savepoint.
    queued: AtomicUsize,
    signals: SignalSender,
    writer: Writer,
    readers: Readers,
    keys: KeyCache,
    clock: Clock,
    writes: WriteHealth,
    /// Woken after every commit of the writer.
    committed: Arc<Notify>,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite refused to open or configure the database.
    #[error("cannot open database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate database {path}: {message}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A store thread could not be started.
    #[error("cannot start a store thread: {0}")]
    Thread(std::io::Error),
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir` and brings its
    /// schema up to date.
    pub fn open(data_dir: &Path, clock: Clock) -> Result<Self, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let sqlite = |source| OpenError::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(sqlite)?;
        configure(&conn).map_err(sqlite)?;
        migrations::apply(&mut conn).map_err(|message| OpenError::Migration {
            path: path.clone(),
            message,
        })?;
        // One process owns the file: the waiters of an earlier one are gone.
        conn.execute_batch("DELETE FROM waiter_keys; DELETE FROM waiters;")
            .map_err(sqlite)?;
        let mut reader_conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(sqlite)?;
            reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            reader
                .busy_timeout(std::time::Duration::from_secs(5))
                .map_err(sqlite)?;
            reader_conns.push(reader);
        }
        let checkpointer = Connection::open(&path).map_err(sqlite)?;
        configure(&checkpointer).map_err(sqlite)?;
        let checkpoints = Checkpoints::start(&conn, checkpointer).map_err(OpenError::Thread)?;
        Ok(Self {
            queued: AtomicUsize::new(0),
            signals: signal_channel(),
            writer: Writer::start(conn, checkpoints).map_err(OpenError::Thread)?,
            readers: Readers::start(reader_conns).map_err(OpenError::Thread)?,
            keys: KeyCache::default(),
            clock,
            writes: WriteHealth::default(),
            committed: Arc::new(Notify::new()),
        })
    }

    async fn write<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, availsync_types::Timestamp) -> StoreResult<T> + Send + 'static,
    {
        self.write_with(Undo::Savepoint, job).await
    }

    /// Wakes the waiters a write granted.
    fn granted(&self, served: Served) {
        if !served.granted.is_empty() {
            let _ = self.signals.send(QueueSignal::Granted(served.granted));
        }
    }

    /// Tells the queue that something in the workspace was released.
    fn freed(&self, workspace_id: &str) {
        if self.queued.load(Ordering::Relaxed) > 0 {
            let _ = self.signals.send(QueueSignal::Freed {
                workspace_id: workspace_id.to_owned(),
            });
        }
    }

    fn left_queue(&self) {
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// A write whose failure `undo` takes back: [`Undo::WholeBatch`] (no
    /// savepoint) for the hot jobs that check everything before their
    /// first change (see [`writer`]).
    async fn write_with<T, F>(&self, undo: Undo, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, availsync_types::Timestamp) -> StoreResult<T> + Send + 'static,
    {
        let clock = self.clock.clone();
        let asked = std::time::Instant::now();
        // The clock is read inside the transaction, after the writer lock is
        // held, so decisions are ordered the same way as their timestamps.
        let outcome = self
            .writer
            .write(undo, move |conn| job(conn, clock.now()))
            .await;
        self.writes.observe(&outcome);
        crate::metrics::global().storage_write(&outcome, asked.elapsed());
        if outcome.is_ok() {
            self.committed.notify_one();
        }
        outcome
    }

    /// A write that changes agents: the key cache is emptied once it is
    /// committed, before its answer goes back (see [`key_cache`]).
    async fn change_agents<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, availsync_types::Timestamp) -> StoreResult<T> + Send + 'static,
    {
        let changed = self.write(job).await;
        self.keys.invalidate();
        changed
    }

    async fn read<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, availsync_types::Timestamp) -> StoreResult<T> + Send + 'static,
    {
        let clock = self.clock.clone();
        self.readers.read(move |conn| job(conn, clock.now())).await
    }
}

/// Prepared statements each connection keeps. The writer alone runs about
/// 30 distinct cached statements across starts, extends, finishes, holds,
/// sweeps and accounts; with rusqlite's default of 16 a mixed load would
/// evict and parse them again and again.
const STATEMENT_CACHE: usize = 64;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before it is acknowledged, even on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoints' sub-journals and temporary tables stay in memory instead
    // of being written to a temporary file page by page.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints are the writer's and the checkpointer thread's, not
    // SQLite's automatic ones inside a commit (see [`checkpoints`]).
    // After a checkpoint the WAL file is cut back to 64 MiB.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn live_claims(&self) -> StoreResult<u64> {
        self.read(|conn, now| {
            let live: i64 = conn
                .prepare_cached(concat!(
                    "SELECT COUNT(*) FROM claims WHERE ",
                    live_claim!(sqlite, "", "?1")
                ))?
                .query_row([now.unix_millis()], |row| row.get(0))?;
            Ok(u64::try_from(live).unwrap_or_default())
        })
        .await
    }

    async fn health(&self) -> StoreResult<()> {
        self.read(|conn, _| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await?;
        if self.writes.failing().is_some() {
            self.write(|conn, now| {
                conn.execute(
                    "INSERT INTO health_probe (id, at) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    [now.unix_millis()],
                )?;
                Ok(())
            })
            .await?;
        }
        Ok(())
    }

    async fn signup(&self, signup: NewSignup) -> StoreResult<SessionContext> {
        self.write(move |conn, now| accounts::signup(conn, now, signup))
            .await
    }

    async fn login_credentials(&self, email_norm: &str) -> StoreResult<Option<Credentials>> {
        let email_norm = email_norm.to_owned();
        self.read(move |conn, _| accounts::credentials(conn, &email_norm))
            .await
    }

    async fn recent_login_failures(&self, attempt: &LoginAttempt) -> StoreResult<LoginFailures> {
        let attempt = attempt.clone();
        self.read(move |conn, now| accounts::login_failures(conn, now, &attempt))
            .await
    }

    async fn record_login_failure(&self, failure: FailedLogin) -> StoreResult<()> {
        self.write(move |conn, now| accounts::record_login_failure(conn, now, failure))
            .await
    }

    async fn login(&self, login: NewLogin) -> StoreResult<SessionContext> {
        self.write(move |conn, now| accounts::login(conn, now, login))
            .await
    }

    async fn session(&self, token_hash: &[u8]) -> StoreResult<Option<SessionContext>> {
        let token_hash = token_hash.to_vec();
        self.read(move |conn, now| accounts::session(conn, now, &token_hash))
            .await
    }

    async fn logout(&self, session: &SessionContext) -> StoreResult<()> {
        let session = session.clone();
        self.write(move |conn, now| accounts::logout(conn, now, &session))
            .await
    }

    async fn create_agent(&self, actor: &SessionContext, agent: NewAgent) -> StoreResult<Agent> {
        let actor = actor.clone();
        self.write(move |conn, now| accounts::create_agent(conn, now, &actor, agent))
            .await?
    }

    async fn list_agents(&self, query: Listing<()>) -> StoreResult<Page<Agent>> {
        self.read(move |conn, now| accounts::list_agents(conn, now, &query))
            .await
    }

    async fn update_agent(
        &self,
        actor: &SessionContext,
        update: AgentUpdate,
    ) -> StoreResult<Agent> {
        let actor = actor.clone();
        self.change_agents(move |conn, now| accounts::update_agent(conn, now, &actor, update))
            .await
    }

    async fn rotate_agent_key(
        &self,
        actor: &SessionContext,
        rotation: KeyRotation,
    ) -> StoreResult<Agent> {
        let actor = actor.clone();
        self.change_agents(move |conn, now| accounts::rotate_key(conn, now, &actor, rotation))
            .await
    }

    async fn delete_agent(&self, actor: &SessionContext, agent_id: &AgentId) -> StoreResult<()> {
        let (actor, agent_id) = (actor.clone(), agent_id.clone());
        let workspace_id = actor.workspace_id();
        self.change_agents(move |conn, now| accounts::delete_agent(conn, now, &actor, &agent_id))
            .await?;
        self.freed(workspace_id.as_str());
        Ok(())
    }

    async fn agent_by_key(&self, key_hash: &[u8]) -> StoreResult<Option<AgentContext>> {
        let started = match self.keys.get(key_hash) {
            Ok(agent) => return Ok(Some(agent)),
            Err(started) => started,
        };
        let key = key_hash.to_vec();
        let found = self
            .read(move |conn, _| accounts::agent_by_key(conn, &key))
            .await?;
        if let Some(agent) = &found {
            self.keys.insert(started, key_hash.to_vec(), agent);
        }
        Ok(found)
    }

    async fn touch_agent(&self, agent_id: &AgentId) -> StoreResult<()> {
        let id = agent_id.clone();
        let at = self
            .write(move |conn, now| accounts::touch_agent(conn, now, &id).map(|()| now))
            .await?;
        self.keys.touched(agent_id, at);
        Ok(())
    }

    async fn create_rule(
        &self,
        actor: &SessionContext,
        resource: ResourceKey,
        settings: RuleSettings,
    ) -> StoreResult<Rule> {
        let actor = actor.clone();
        self.write(move |conn, now| rules::create(conn, now, &actor, &resource, settings))
            .await
    }

    async fn list_rules(&self, workspace_id: &WorkspaceId) -> StoreResult<Vec<Rule>> {
        let workspace_id = workspace_id.clone();
        self.read(move |conn, _| rules::list(conn, &workspace_id))
            .await
    }

    async fn update_rule(
        &self,
        actor: &SessionContext,
        rule_id: &RuleId,
        change: RuleChange,
    ) -> StoreResult<Rule> {
        let (actor, rule_id) = (actor.clone(), rule_id.clone());
        let workspace_id = actor.workspace_id();
        let rule = self
            .write(move |conn, now| rules::update(conn, now, &actor, &rule_id, change))
            .await?;
        self.freed(workspace_id.as_str());
        Ok(rule)
    }

    async fn delete_rule(&self, actor: &SessionContext, rule_id: &RuleId) -> StoreResult<()> {
        let (actor, rule_id) = (actor.clone(), rule_id.clone());
        let workspace_id = actor.workspace_id();
        self.write(move |conn, now| rules::delete(conn, now, &actor, &rule_id))
            .await?;
        self.freed(workspace_id.as_str());
        Ok(())
    }

    async fn start_queued(
        &self,
        agent: &AgentContext,
        start: StartRun,
        queueing: Queueing,
    ) -> StoreResult<StartOutcome> {
        let agent = agent.clone();
        // The hot path checks everything before its first change; a start
        // that may serve waiters first does not, and takes a savepoint.
        let anyone_waiting = self.queued.load(Ordering::Relaxed) > 0;
        let undo = if queueing == Queueing::Immediate && !anyone_waiting {
            Undo::WholeBatch
        } else {
            Undo::Savepoint
        };
        let (outcome, served) = self
            .write_with(undo, move |conn, now| {
                work::start_run(conn, now, &agent, start, queueing, anyone_waiting)
            })
            .await?;
        match (&outcome, queueing) {
            (StartOutcome::Queued(_), Queueing::Join { .. }) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
            }
            (StartOutcome::Answered(_), Queueing::Retry { .. } | Queueing::Last { .. }) => {
                self.left_queue();
            }
            _ => {}
        }
        self.granted(served);
        Ok(outcome)
    }

    async fn serve_waiters(&self, workspace_id: &WorkspaceId) -> StoreResult<()> {
        let workspace_id = workspace_id.clone();
        let served = self
            .write(move |conn, now| queue::serve_keys(conn, now, &workspace_id, None, None))
            .await?;
        self.granted(served);
        Ok(())
    }

    async fn leave_queue(&self, seq: i64) -> StoreResult<()> {
        self.write(move |conn, _| queue::leave(conn, seq)).await?;
        self.left_queue();
        Ok(())
    }

    async fn renew_waiters(&self, replica: Replica) -> StoreResult<()> {
        self.write(move |conn, now| queue::renew(conn, now, replica))
            .await
    }

    fn queue_signals(&self) -> tokio::sync::broadcast::Receiver<QueueSignal> {
        self.signals.subscribe()
    }

    async fn check_resource(&self, caller: &Principal, check: Check) -> StoreResult<CheckResponse> {
        let workspace_id = caller.workspace_id().to_owned();
        self.read(move |conn, now| work::check(conn, now, &workspace_id, &check))
            .await
    }

    async fn change_paths(
        &self,
        agent: &AgentContext,
        change: PathsChange,
    ) -> StoreResult<UpdateWorkingSetResponse> {
        let workspace_id = agent.workspace_id.clone();
        let agent = agent.clone();
        let changed = self
            .write(move |conn, now| work::change_paths(conn, now, &agent, change))
            .await?;
        self.freed(workspace_id.as_str());
        changed
    }

    async fn extend_run(
        &self,
        agent: &AgentContext,
        extend: ExtendRun,
    ) -> StoreResult<ExtendRunResponse> {
        let agent = agent.clone();
        self.write_with(Undo::WholeBatch, move |conn, now| {
            work::extend(conn, now, &agent, extend)
        })
        .await?
    }

    async fn finish_run(
        &self,
        agent: &AgentContext,
        finish: FinishRun,
    ) -> StoreResult<FinishRunResponse> {
        let workspace_id = agent.workspace_id.clone();
        let agent = agent.clone();
        let finished = self
            .write_with(Undo::WholeBatch, move |conn, now| {
                work::finish(conn, now, &agent, finish)
            })
            .await?;
        self.freed(workspace_id.as_str());
        Ok(finished)
    }

    async fn release_claim(
        &self,
        actor: &SessionContext,
        claim_id: &ClaimId,
    ) -> StoreResult<ReleaseClaimResponse> {
        let (actor, claim_id) = (actor.clone(), claim_id.clone());
        let workspace_id = actor.workspace_id();
        let released = self
            .write(move |conn, now| work::release_claim(conn, now, &actor, &claim_id))
            .await?;
        self.freed(workspace_id.as_str());
        Ok(released)
    }

    async fn list_runs(&self, query: Listing<RunFilter>) -> StoreResult<Page<Run>> {
        self.read(move |conn, now| work::list_runs(conn, now, &query))
            .await
    }

    async fn create_hold(&self, holder: &Principal, hold: NewHold) -> StoreResult<HoldResponse> {
        let holder = holder.clone();
        self.write(move |conn, now| holds::create(conn, now, &holder, hold))
            .await?
    }

    async fn release_hold(&self, caller: &Principal, hold_id: &HoldId) -> StoreResult<()> {
        let (caller, hold_id) = (caller.clone(), hold_id.clone());
        self.write(move |conn, now| holds::release(conn, now, &caller, &hold_id))
            .await
    }

    async fn list_holds(&self, query: Listing<HoldFilter>) -> StoreResult<Page<Hold>> {
        self.read(move |conn, now| holds::list(conn, now, &query))
            .await
    }

    async fn availability(
        &self,
        caller: &Principal,
        slot: Slot,
    ) -> StoreResult<AvailabilityResponse> {
        let caller = caller.clone();
        self.write(move |conn, now| holds::availability(conn, now, &caller, &slot))
            .await
    }

    async fn check_conflicts(
        &self,
        caller: &Principal,
        slot: Slot,
    ) -> StoreResult<ConflictsCheckResponse> {
        let caller = caller.clone();
        self.write(move |conn, now| holds::check_conflicts(conn, now, &caller, &slot))
            .await
    }

    async fn list_activity(
        &self,
        query: Listing<ActivityFilter>,
    ) -> StoreResult<Page<ActivityItem>> {
        self.read(move |conn, now| feeds::activity(conn, now, &query))
            .await
    }

    async fn activity_since(
        &self,
        scope: FeedScope<'_>,
        after: Position,
        limit: u32,
    ) -> StoreResult<Vec<FeedEvent>> {
        let owned = match scope {
            FeedScope::All => None,
            FeedScope::Workspace(workspace_id, filter) => {
                Some((workspace_id.clone(), filter.clone()))
            }
        };
        self.read(move |conn, _| {
            let scope = match &owned {
                None => FeedScope::All,
                Some((workspace_id, filter)) => FeedScope::Workspace(workspace_id, filter),
            };
            feeds::activity_since(conn, scope, after, limit)
        })
        .await
    }

    async fn activity_head(&self) -> StoreResult<Position> {
        self.read(|conn, _| feeds::activity_head(conn)).await
    }

    async fn activity_position(
        &self,
        workspace_id: &WorkspaceId,
        event_id: &str,
    ) -> StoreResult<Option<Position>> {
        let (workspace_id, event_id) = (workspace_id.clone(), event_id.to_owned());
        self.read(move |conn, _| feeds::activity_position(conn, &workspace_id, &event_id))
            .await
    }

    fn activity_committed(&self) -> Arc<Notify> {
        Arc::clone(&self.committed)
    }

    async fn list_audit(&self, query: Listing<AuditFilter>) -> StoreResult<Page<AuditItem>> {
        self.read(move |conn, now| feeds::audit(conn, now, &query))
            .await
    }

    async fn usage(&self, query: UsageQuery) -> StoreResult<UsageResponse> {
        self.read(move |conn, now| feeds::usage(conn, now, &query))
            .await
    }

    async fn sweep(&self, activity_retention_ms: i64) -> StoreResult<SweepReport> {
        self.write(move |conn, now| sweep::sweep(conn, now, activity_retention_ms))
            .await
    }

    async fn set_plan(&self, workspace: &str, plan: Plan) -> StoreResult<Workspace> {
        let workspace = workspace.to_owned();
        let changed = self
            .write(move |conn, _| accounts::set_plan(conn, &workspace, plan))
            .await?;
        self.freed(&changed.id);
        Ok(changed)
    }
}
