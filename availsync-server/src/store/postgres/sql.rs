//! Small helpers over a connection or transaction: cached statements,
//! column conversions, the database clock and resource locks.

use crate::store::{StoreResult, live_claim};
use availsync_types::Timestamp;
use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSqlOwned, ToSql};

use crate::domain::clock::Clock;
use crate::domain::ids::{AgentId, ClaimId, HoldId, RuleId, RunId, UserId, WorkspaceId};
use crate::store::StoreError;
use crate::store::text_enum::TextEnum;

/// Statement parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn rows<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

pub(super) async fn row_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

pub(super) async fn row_one<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<Row> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_one(&statement, params).await?)
}

pub(super) async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// What a statement answers when an earlier statement of its transaction
/// failed (SQLSTATE 25P02). Among statements pipelined together it only
/// echoes that earlier failure, so [`pipelined!`] reports another one.
pub(super) const SKIPPED_AFTER_FAILURE: &str =
    "statement skipped: an earlier statement of the transaction failed";

/// Whether `error` only echoes an earlier failure of its transaction.
pub(super) fn skipped_after_failure(error: &StoreError) -> bool {
    matches!(error, StoreError::SkippedAfterFailure(_))
}

/// Awaits statements sent together in one round trip and answers their
/// values as a tuple, or the failure that matters.
///
/// tokio-postgres pipelines queries whose futures are polled concurrently:
/// each goes out when its future is first polled, and `join!(biased; …)`
/// polls them in the order written, so the database runs them in that
/// order (statements already prepared; see [`lock_read_now`] for when the
/// order matters). All of them are awaited: once one fails, those after it
/// answer [`SKIPPED_AFTER_FAILURE`], whichever completes first, and the
/// answer is the first other failure — a lost race stays
/// [`StoreError::Contention`] and is retried.
///
/// For example (in `work.rs`):
/// `let (run_seq, token) = pipelined!(run_seq = insert_run, token = token)?;`
macro_rules! pipelined {
    ($($name:ident = $future:expr),+ $(,)?) => {{
        let ($($name,)+) = tokio::join!(biased; $($future),+);
        let mut failure: Option<$crate::store::StoreError> = None;
        $(
            let $name = match $name {
                Ok(value) => Some(value),
                Err(error) => {
                    failure = match failure {
                        Some(earlier) if !$crate::store::postgres::sql::skipped_after_failure(&earlier) => {
                            Some(earlier)
                        }
                        _ => Some(error),
                    };
                    None
                }
            };
        )+
        match ($($name,)+) {
            ($(Some($name),)+) => Ok(($($name,)+)),
            _ => Err(failure.unwrap_or_else(|| {
                $crate::store::StoreError::SkippedAfterFailure(
                    $crate::store::postgres::sql::SKIPPED_AFTER_FAILURE.to_owned(),
                )
            })),
        }
    }};
}
pub(super) use pipelined;

/// A column.
pub(super) fn get<T: FromSqlOwned>(row: &Row, index: usize) -> StoreResult<T> {
    Ok(row.try_get(index)?)
}

/// A millisecond column as a timestamp.
pub(super) fn ts(row: &Row, index: usize) -> StoreResult<Timestamp> {
    Ok(Timestamp::from_unix_millis(row.try_get(index)?))
}

/// A nullable millisecond column as a timestamp.
pub(super) fn ts_opt(row: &Row, index: usize) -> StoreResult<Option<Timestamp>> {
    Ok(row
        .try_get::<_, Option<i64>>(index)?
        .map(Timestamp::from_unix_millis))
}

/// A text column holding an enum.
pub(super) fn text_enum<T: TextEnum>(row: &Row, index: usize) -> StoreResult<T> {
    let text: String = row.try_get(index)?;
    T::from_text(&text)
        .ok_or_else(|| StoreError::Backend(format!("unexpected stored value '{text}'")))
}

/// A nullable JSONB column decoded into `T`.
pub(super) fn json_opt<T: serde::de::DeserializeOwned>(
    row: &Row,
    index: usize,
) -> StoreResult<Option<T>> {
    Ok(row
        .try_get::<_, Option<serde_json::Value>>(index)?
        .map(serde_json::from_value)
        .transpose()?)
}

/// A `u32` stored as INTEGER.
pub(super) fn u32_col(row: &Row, index: usize) -> StoreResult<u32> {
    let value: i32 = row.try_get(index)?;
    u32::try_from(value).map_err(|_| StoreError::Backend(format!("negative stored count {value}")))
}

/// A `u32` as INTEGER.
pub(super) fn int(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The database's clock, read now (not at the transaction's start), shifted
/// by the server clock's offset. Every replica decides with this one clock,
/// so skewed hosts cannot disagree about when a lease lapses.
pub(super) async fn now<C: GenericClient>(client: &C, clock: &Clock) -> StoreResult<Timestamp> {
    let row = row_one(client, CLOCK_SQL, &[]).await?;
    Ok(clock.at(ts(&row, 0)?))
}

/// What a resource lock protects.
#[derive(Debug, Clone, Copy)]
pub(super) enum LockScope {
    /// Claims and fencing tokens of a resource.
    Claims,
    /// Holds on a resource.
    Holds,
}

/// The database clock's reading, in milliseconds.
const CLOCK_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Takes a resource's transaction-scoped lock.
const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock($1)";

/// The advisory lock key of a resource: a SHA-256 of the scope, the
/// workspace and the resource. A hash collision only makes two resources
/// wait for each other.
fn lock_key(scope: LockScope, workspace_id: &str, resource: &str) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(match scope {
        LockScope::Claims => b"claims\0".as_slice(),
        LockScope::Holds => b"holds\0".as_slice(),
    });
    hasher.update(workspace_id.as_bytes());
    hasher.update([0]);
    hasher.update(resource.as_bytes());
    let digest = hasher.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// Takes the transaction-scoped lock of a resource: every decision about a
/// resource's claims (or holds), on any replica, runs under it, so they are
/// ordered, and each reads the clock after taking it.
pub(super) async fn lock_resource<C: GenericClient>(
    client: &C,
    scope: LockScope,
    workspace_id: &str,
    resource: &str,
) -> StoreResult<()> {
    let key = lock_key(scope, workspace_id, resource);
    execute(client, LOCK_SQL, &[&key]).await?;
    Ok(())
}

/// Where [`lock_read_now`]'s read goes relative to the resource's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadOrder {
    /// The read first: a locking read (a workspace row `FOR UPDATE`) that
    /// every path takes before any resource lock, so the order never
    /// deadlocks, and a start queued on the row holds no resource yet.
    BeforeLock,
    /// The read after the lock (and the clock): it sees what the lock
    /// protects as it is now.
    AfterLock,
}

/// The lock [`lock_read_now`] takes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Lock<'a> {
    /// A resource's lock: scope, workspace, resource.
    Resource(LockScope, &'a str, &'a str),
    /// The claims locks of every resource of an agent's run (in byte
    /// order, as a start takes them), found from the run by the database;
    /// nothing when there is no such run. A run's resources never change,
    /// so the locks are those their other decisions take.
    RunResource {
        /// The agent.
        agent_id: &'a str,
        /// The agent's run id.
        run_id: &'a str,
    },
}

/// Takes a resource's lock (`$1`, a [`lock_key`]) and then reads the clock.
/// The subquery is evaluated first, whole (`OFFSET 0` keeps the planner
/// from folding it in), so the clock is read once the lock is held.
const LOCK_NOW_SQL: &str = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
    FROM (SELECT pg_advisory_xact_lock($1) OFFSET 0) AS locked";

/// The claims lock key of resource column `$col` of workspace column
/// `$ws`, computed by the database exactly as [`lock_key`] computes it.
macro_rules! claims_lock_key {
    ($ws:literal, $col:literal) => {
        concat!(
            "('x' || encode(substr(sha256(
                convert_to('claims', 'UTF8') || decode('00', 'hex')
                || convert_to(",
            $ws,
            ", 'UTF8') || decode('00', 'hex')
                || convert_to(",
            $col,
            ", 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint"
        )
    };
}

/// Every resource of run `$1`'s claim (its resource, and the others of a
/// claim on several) with its workspace, in byte order: the canonical
/// order every start takes its locks in.
macro_rules! run_resources {
    ($run:literal) => {
        concat!(
            "SELECT workspace_id, resource COLLATE \"C\" AS resource FROM runs WHERE ",
            $run,
            " UNION SELECT p.workspace_id, p.resource COLLATE \"C\"
               FROM claim_parts p JOIN runs ON runs.seq = p.run_seq WHERE ",
            $run,
            " ORDER BY 2"
        )
    };
}

/// Takes the claims lock of every row (`workspace_id`, `resource`) of the
/// query `$rows`, in its order, keyed as [`lock_key`] keys them; answers
/// one row (how many were taken).
macro_rules! lock_each {
    ($rows:expr) => {
        concat!(
            "SELECT count(pg_advisory_xact_lock(",
            claims_lock_key!("workspace_id", "resource"),
            ")) FROM (",
            $rows,
            ") AS resources"
        )
    };
}

/// Takes the claims locks of every resource of an agent's (`$1`) run
/// (`$2`), in byte order, by the database from the run's rows, and then
/// reads the clock (the aggregate ends its scan, and so takes every lock,
/// before its one row reaches the clock).
const RUN_LOCK_NOW_SQL: &str = concat!(
    "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM (",
    lock_each!(run_resources!("runs.agent_id = $1 AND runs.run_id = $2")),
    ") AS locked"
);

/// Takes the claims locks of every resource of run `$1` (its `seq`), in
/// byte order.
const RUN_SEQ_LOCK_SQL: &str = lock_each!(run_resources!("runs.seq = $1"));

/// Takes the claims locks of every resource of agent `$1`'s claims live at
/// `$2`, in byte order.
const AGENT_CLAIMS_LOCK_SQL: &str = lock_each!(concat!(
    "SELECT c.workspace_id, c.resource COLLATE \"C\" AS resource
       FROM claims c WHERE c.agent_id = $1 AND ",
    live_claim!(postgres, "c.", "$2"),
    " UNION SELECT p.workspace_id, p.resource COLLATE \"C\"
       FROM claim_parts p JOIN claims c ON c.run_seq = p.run_seq
      WHERE c.agent_id = $1 AND ",
    live_claim!(postgres, "c.", "$2"),
    " ORDER BY 2"
));

/// Takes the claims locks of every resource of an agent's claims live at
/// `now`, all at once in the canonical (byte) order.
pub(super) async fn lock_agent_claim_resources<C: GenericClient>(
    client: &C,
    agent_id: &str,
    now: Timestamp,
) -> StoreResult<()> {
    execute(
        client,
        AGENT_CLAIMS_LOCK_SQL,
        &[&agent_id, &now.unix_millis()],
    )
    .await?;
    Ok(())
}

/// Takes the claims locks of every resource of run `seq`'s claim, in the
/// canonical (byte) order.
pub(super) async fn lock_run_resources<C: GenericClient>(client: &C, seq: i64) -> StoreResult<()> {
    execute(client, RUN_SEQ_LOCK_SQL, &[&seq]).await?;
    Ok(())
}

/// Takes a lock and reads the clock after it, and runs the read `sql`
/// before or after both: two statements in one round trip, which the
/// database runs in the order sent.
///
/// Both statements are prepared first (from the connection's cache after
/// the first time), so neither can wait on a prepare while the other goes
/// out ahead of it (see [`pipelined!`]).
pub(super) async fn lock_read_now<C: GenericClient>(
    client: &C,
    clock: &Clock,
    lock: Lock<'_>,
    order: ReadOrder,
    sql: &str,
    params: Params<'_>,
) -> StoreResult<(Option<Row>, Timestamp)> {
    let key;
    let run: [&(dyn ToSql + Sync); 2];
    let (lock_sql, lock_params): (_, Params<'_>) = match &lock {
        Lock::Resource(scope, workspace_id, resource) => {
            key = lock_key(*scope, workspace_id, resource);
            (LOCK_NOW_SQL, &[&key])
        }
        Lock::RunResource { agent_id, run_id } => {
            run = [agent_id, run_id];
            (RUN_LOCK_NOW_SQL, &run)
        }
    };
    let lock_now = client.prepare_cached(lock_sql).await?;
    let read = client.prepare_cached(sql).await?;
    let take_lock = async { Ok::<_, StoreError>(client.query_one(&lock_now, lock_params).await?) };
    let run_read = async { Ok::<_, StoreError>(client.query_opt(&read, params).await?) };
    let (row, millis) = match order {
        ReadOrder::BeforeLock => pipelined!(row = run_read, millis = take_lock)?,
        ReadOrder::AfterLock => {
            let (millis, row) = pipelined!(millis = take_lock, row = run_read)?;
            (row, millis)
        }
    };
    Ok((row, clock.at(ts(&millis, 0)?)))
}

#[cfg(test)]
mod tests {
    use super::super::test_db;
    use super::*;

    fn skipped() -> StoreError {
        StoreError::SkippedAfterFailure(SKIPPED_AFTER_FAILURE.to_owned())
    }

    #[tokio::test]
    async fn pipelined_answers_every_value_in_order() {
        let answer: StoreResult<(u8, &str)> = pipelined!(
            first = async { Ok::<_, StoreError>(1) },
            second = async { Ok::<_, StoreError>("two") },
        );
        assert_eq!(answer.ok(), Some((1, "two")));
    }

    #[tokio::test]
    async fn pipelined_answers_the_failure_rather_than_its_echo() {
        // The echo completes first, as it may when the poll comes late.
        let answer: StoreResult<((), ())> = pipelined!(
            echo = async { Err::<(), _>(skipped()) },
            cause = async { Err::<(), _>(StoreError::Contention("a race".into())) },
        );
        assert!(
            matches!(answer, Err(StoreError::Contention(_))),
            "{answer:?}"
        );
        let answer: StoreResult<((), (), ())> = pipelined!(
            cause =
                async { Err::<(), _>(StoreError::Refused(crate::store::Refusal::NotFound("run"))) },
            echo = async { Err::<(), _>(skipped()) },
            later = async { Err::<(), _>(StoreError::Contention("later".into())) },
        );
        assert!(
            matches!(
                answer,
                Err(StoreError::Refused(crate::store::Refusal::NotFound("run")))
            ),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn pipelined_with_only_echoes_still_fails() {
        let answer: StoreResult<((), u8)> = pipelined!(
            echo = async { Err::<(), _>(skipped()) },
            fine = async { Ok::<_, StoreError>(3) },
        );
        assert!(
            answer.as_ref().is_err_and(skipped_after_failure),
            "{answer:?}"
        );
    }

    /// The lock a run's resource gets from [`RUN_LOCK_NOW_SQL`], which the
    /// database keys, is the one [`lock_key`] keys for the other paths, or
    /// a start and an extend of one resource would not exclude each other.
    /// Needs `AVAILSYNC_TEST_DATABASE_URL`; says so and checks nothing
    /// without it.
    #[tokio::test]
    async fn the_database_keys_a_runs_lock_as_the_server_does() {
        let Some(url) = test_db::url() else { return };
        let client = test_db::connect(&url).await;
        let cases = [
            ("ws_1", "repo:owner/name"),
            ("ws_0196f3a2", "project:homepage"),
            ("ws_x", "repo:ünïcödé/名前 with spaces"),
            ("", ""),
        ];
        for (workspace_id, resource) in cases {
            client
                .batch_execute(
                    "BEGIN;
                     CREATE TEMPORARY TABLE runs (seq BIGINT, agent_id TEXT, run_id TEXT,
                                                  workspace_id TEXT, resource TEXT)
                     ON COMMIT DROP;
                     CREATE TEMPORARY TABLE claim_parts (run_seq BIGINT, workspace_id TEXT,
                                                         resource TEXT)
                     ON COMMIT DROP",
                )
                .await
                .expect("temporary runs");
            client
                .execute(
                    "INSERT INTO runs VALUES (1, 'agent', 'run', $1, $2)",
                    &[&workspace_id, &resource],
                )
                .await
                .expect("insert run");
            client
                .execute(RUN_LOCK_NOW_SQL, &[&"agent", &"run"])
                .await
                .expect("lock");
            let row = client
                .query_one(
                    "SELECT classid::bigint, objid::bigint FROM pg_locks
                     WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid()",
                    &[],
                )
                .await
                .expect("the lock taken");
            client.batch_execute("ROLLBACK").await.expect("rollback");
            let (high, low): (i64, i64) = (row.get(0), row.get(1));
            let key = (high << 32) | low;
            assert_eq!(
                key,
                lock_key(LockScope::Claims, workspace_id, resource),
                "{workspace_id:?} {resource:?}"
            );
        }
    }

    /// Both lock statements read the clock only once they hold the lock:
    /// a session holding it reads the clock and only then lets go, and the
    /// waiting statement's reading is not earlier. Needs
    /// `AVAILSYNC_TEST_DATABASE_URL`; says so and checks nothing without it.
    #[tokio::test]
    async fn the_clock_is_read_after_the_lock_is_taken() {
        let Some(url) = test_db::url() else { return };
        let (holder, waiter) = (test_db::connect(&url).await, test_db::connect(&url).await);
        waiter
            .batch_execute(
                "CREATE TEMPORARY TABLE runs (seq BIGINT, agent_id TEXT, run_id TEXT,
                                              workspace_id TEXT, resource TEXT);
                 CREATE TEMPORARY TABLE claim_parts (run_seq BIGINT, workspace_id TEXT,
                                                     resource TEXT);
                 INSERT INTO runs VALUES (1, 'agent', 'run', 'ws_clock', 'repo:a/clock');
                 INSERT INTO claim_parts VALUES (1, 'ws_clock', 'repo:a/clock')",
            )
            .await
            .expect("temporary runs");
        let key = lock_key(LockScope::Claims, "ws_clock", "repo:a/clock");
        for (sql, params) in [
            (LOCK_NOW_SQL, vec![&key as &(dyn ToSql + Sync)]),
            (RUN_LOCK_NOW_SQL, vec![&"agent", &"run"]),
        ] {
            holder
                .execute("SELECT pg_advisory_lock($1)", &[&key])
                .await
                .expect("hold");
            waiter.batch_execute("BEGIN").await.expect("begin");
            let waiting = waiter.query_one(sql, &params);
            let release = async {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                let before: i64 = holder
                    .query_one(CLOCK_SQL, &[])
                    .await
                    .expect("clock")
                    .get(0);
                holder
                    .execute("SELECT pg_advisory_unlock($1)", &[&key])
                    .await
                    .expect("unlock");
                before
            };
            let (locked, released_at) = tokio::join!(waiting, release);
            let locked_at: i64 = locked.expect("lock and clock").get(0);
            waiter.batch_execute("COMMIT").await.expect("commit");
            assert!(
                locked_at >= released_at,
                "{sql}: clock {locked_at} read before the lock was released at {released_at}"
            );
        }
    }

    /// A run holding several resources takes the lock of each, as a start
    /// on them would.
    #[tokio::test]
    async fn a_runs_locks_cover_every_resource_of_its_claim() {
        let Some(url) = test_db::url() else {
            return;
        };
        let client = test_db::connect(&url).await;
        client
            .batch_execute(
                "BEGIN;
                 CREATE TEMPORARY TABLE runs (seq BIGINT, agent_id TEXT, run_id TEXT,
                                              workspace_id TEXT, resource TEXT)
                 ON COMMIT DROP;
                 CREATE TEMPORARY TABLE claim_parts (run_seq BIGINT, workspace_id TEXT,
                                                     resource TEXT)
                 ON COMMIT DROP;
                 INSERT INTO runs VALUES (7, 'agent', 'run', 'ws_m', 'service:b');
                 INSERT INTO claim_parts VALUES (7, 'ws_m', 'service:b'), (7, 'ws_m', 'db:a')",
            )
            .await
            .expect("temporary tables");
        client
            .execute(RUN_LOCK_NOW_SQL, &[&"agent", &"run"])
            .await
            .expect("lock");
        let mut held: Vec<i64> = client
            .query(
                "SELECT classid::bigint, objid::bigint FROM pg_locks
                 WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("locks")
            .iter()
            .map(|row| (row.get::<_, i64>(0) << 32) | row.get::<_, i64>(1))
            .collect();
        client.batch_execute("COMMIT").await.expect("commit");
        let mut expected: Vec<i64> = ["db:a", "service:b"]
            .iter()
            .map(|r| lock_key(LockScope::Claims, "ws_m", r))
            .collect();
        held.sort_unstable();
        expected.sort_unstable();
        assert_eq!(held, expected);
    }
}

/// Ids read as the text they are (they bind with `as_str()`).
macro_rules! id_columns {
    ($($id:ty),*) => {$(
        impl<'a> tokio_postgres::types::FromSql<'a> for $id {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                String::from_sql(ty, raw).map(<$id>::new)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <String as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }
    )*};
}

id_columns!(WorkspaceId, UserId, AgentId, RunId, ClaimId, HoldId, RuleId);
