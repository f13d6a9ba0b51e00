//! Small helpers over a connection or transaction: cached statements,
//! column conversions, the database clock and resource locks.

use availsync_types::Timestamp;
use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSqlOwned, ToSql};

use crate::domain::clock::Clock;
use crate::store::StoreError;
use crate::store::text_enum::TextEnum;

/// Statement parameters.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn rows<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

pub(super) async fn row_opt<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_opt(&statement, params).await?)
}

pub(super) async fn row_one<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query_one(&statement, params).await?)
}

pub(super) async fn execute<C: GenericClient>(
    client: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, StoreError> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// A column.
pub(super) fn get<T: FromSqlOwned>(row: &Row, index: usize) -> Result<T, StoreError> {
    Ok(row.try_get(index)?)
}

/// A millisecond column as a timestamp.
pub(super) fn ts(row: &Row, index: usize) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_unix_millis(row.try_get(index)?))
}

/// A nullable millisecond column as a timestamp.
pub(super) fn ts_opt(row: &Row, index: usize) -> Result<Option<Timestamp>, StoreError> {
    Ok(row
        .try_get::<_, Option<i64>>(index)?
        .map(Timestamp::from_unix_millis))
}

/// A text column holding an enum.
pub(super) fn text_enum<T: TextEnum>(row: &Row, index: usize) -> Result<T, StoreError> {
    let text: String = row.try_get(index)?;
    T::from_text(&text)
        .ok_or_else(|| StoreError::Backend(format!("unexpected stored value '{text}'")))
}

/// A nullable JSONB column decoded into `T`.
pub(super) fn json_opt<T: serde::de::DeserializeOwned>(
    row: &Row,
    index: usize,
) -> Result<Option<T>, StoreError> {
    Ok(row
        .try_get::<_, Option<serde_json::Value>>(index)?
        .map(serde_json::from_value)
        .transpose()?)
}

/// A `u32` stored as INTEGER.
pub(super) fn u32_col(row: &Row, index: usize) -> Result<u32, StoreError> {
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
pub(super) async fn now<C: GenericClient>(
    client: &C,
    clock: &Clock,
) -> Result<Timestamp, StoreError> {
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
) -> Result<(), StoreError> {
    let key = lock_key(scope, workspace_id, resource);
    execute(client, LOCK_SQL, &[&key]).await?;
    Ok(())
}

/// Takes a resource's lock, then runs the read `sql`, then reads the
/// clock: three statements in one round trip, which the database runs in
/// that order, so the read and the clock both come after the lock is held
/// (see [`lock_resource`]).
///
/// tokio-postgres sends a query when its future is first polled, and
/// `try_join!(biased; …)` polls in the order written. All three statements
/// are prepared first (from the connection's cache after the first time),
/// so none of them can wait on a prepare while a later one goes out first.
pub(super) async fn lock_read_now<C: GenericClient>(
    client: &C,
    clock: &Clock,
    lock: (LockScope, &str, &str),
    sql: &str,
    params: Params<'_>,
) -> Result<(Option<Row>, Timestamp), StoreError> {
    let (scope, workspace_id, resource) = lock;
    let key = lock_key(scope, workspace_id, resource);
    let lock = client.prepare_cached(LOCK_SQL).await?;
    let read = client.prepare_cached(sql).await?;
    let clock_read = client.prepare_cached(CLOCK_SQL).await?;
    let lock_params: Params<'_> = &[&key];
    let (_, row, millis) = tokio::try_join!(
        biased;
        client.execute(&lock, lock_params),
        client.query_opt(&read, params),
        client.query_one(&clock_read, &[]),
    )?;
    Ok((row, clock.at(ts(&millis, 0)?)))
}
