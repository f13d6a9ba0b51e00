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
    let row = row_one(
        client,
        "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        &[],
    )
    .await?;
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

/// Takes the transaction-scoped lock of a resource: every decision about a
/// resource's claims (or holds), on any replica, runs under it, so they are
/// ordered, and each reads the clock after taking it. A hash collision only
/// makes two resources wait for each other.
pub(super) async fn lock_resource<C: GenericClient>(
    client: &C,
    scope: LockScope,
    workspace_id: &str,
    resource: &str,
) -> Result<(), StoreError> {
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
    let key = i64::from_be_bytes(key);
    execute(client, "SELECT pg_advisory_xact_lock($1)", &[&key]).await?;
    Ok(())
}
