//! Availability holds: check-and-insert under the resource's hold lock,
//! with the `no_overlapping_live_holds` exclusion constraint behind it.

use crate::store::StoreResult;
use availsync_types::{
    AvailabilityResponse, ConflictsCheckResponse, Hold, HoldHolder, HoldResponse, Page,
    ResourceKey, Timestamp,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::accounts::Refusable;
use super::events::record;
use super::sql::{
    LockScope, execute, get, lock_resource, now, pipelined, row_opt, rows, ts, ts_opt,
};
use crate::domain::clock::Clock;
use crate::domain::holds::{self, Placement};
use crate::store::cursor::paginate;
use crate::store::records::{hold_status, holder_of};
use crate::store::{HoldFilter, HoldId, Listing, NewHold, Principal, Refusal, Slot};

const HOLD_COLUMNS: &str = "seq, id, resource, start_at, end_at, purpose, holder_type, holder_id,
    holder_name, expires_at, created_at, released_at";

fn stored_hold(row: &Row, now: Timestamp) -> StoreResult<(i64, Hold)> {
    let expires_at = ts_opt(row, 9)?;
    Ok((
        get(row, 0)?,
        Hold {
            hold_id: get(row, 1)?,
            resource: get(row, 2)?,
            start: ts(row, 3)?,
            end: ts(row, 4)?,
            purpose: get(row, 5)?,
            status: hold_status(ts_opt(row, 11)?, expires_at, now),
            holder: HoldHolder {
                kind: get(row, 6)?,
                id: get(row, 7)?,
                name: get(row, 8)?,
            },
            expires_at,
            created_at: ts(row, 10)?,
        },
    ))
}

/// Live holds on a resource overlapping a window, by start.
async fn overlapping<C: GenericClient>(
    client: &C,
    now: Timestamp,
    workspace_id: &str,
    slot: &Slot,
) -> StoreResult<Vec<Hold>> {
    let (resource, window) = (slot.resource.as_str(), slot.window);
    let sql = format!(
        "SELECT {HOLD_COLUMNS} FROM holds
         WHERE workspace_id = $1 AND resource = $2 AND released_at IS NULL
           AND (expires_at IS NULL OR expires_at > $3)
           AND start_at < $5 AND $4 < end_at
         ORDER BY start_at, seq"
    );
    rows(
        client,
        &sql,
        &[
            &workspace_id,
            &resource,
            &now.unix_millis(),
            &window.start.unix_millis(),
            &window.end.unix_millis(),
        ],
    )
    .await?
    .iter()
    .map(|row| stored_hold(row, now).map(|(_, hold)| hold))
    .collect()
}

pub(super) async fn create<C: GenericClient>(
    client: &C,
    clock: &Clock,
    principal: &Principal,
    new: NewHold,
) -> Refusable<HoldResponse> {
    let workspace_id = principal.workspace_id();
    let holder = holder_of(principal);
    let resource = new.resource.as_str();
    lock_resource(client, LockScope::Holds, workspace_id, resource).await?;
    let now = now(client, clock).await?;
    if let Some(key) = &new.idempotency_key {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM holds
             WHERE workspace_id = $1 AND holder_id = $2 AND idempotency_key = $3"
        );
        let existing = row_opt(client, &sql, &[&workspace_id, &holder.id, key])
            .await?
            .map(|row| stored_hold(&row, now))
            .transpose()?;
        if let Some((_, existing)) = existing {
            return Ok(holds::replay(existing, resource, new.window, now).map_err(Into::into));
        }
    }
    // Tentative holds that have lapsed stop counting for the constraint.
    execute(
        client,
        "UPDATE holds SET lapsed = true
         WHERE workspace_id = $1 AND resource = $2 AND released_at IS NULL AND NOT lapsed
           AND expires_at IS NOT NULL AND expires_at <= $3",
        &[&workspace_id, &resource, &now.unix_millis()],
    )
    .await?;
    let slot = Slot {
        resource: new.resource.clone(),
        window: new.window,
    };
    let conflicts = overlapping(client, now, workspace_id, &slot).await?;
    let (answer, events) = match holds::place(principal, &new, conflicts, now) {
        Placement::Conflict { events, refusal } => {
            record(client, now, &events).await?;
            return Ok(Err(refusal.into()));
        }
        Placement::Create { events, answer } => (answer, events),
    };
    let hold = &answer.hold;
    let params: [&(dyn ToSql + Sync); 12] = [
        &hold.hold_id,
        &workspace_id,
        &hold.resource,
        &hold.start.unix_millis(),
        &hold.end.unix_millis(),
        &hold.purpose,
        &hold.holder.kind,
        &hold.holder.id,
        &hold.holder.name,
        &hold.expires_at.map(Timestamp::unix_millis),
        &new.idempotency_key,
        &now.unix_millis(),
    ];
    let insert = execute(
        client,
        "INSERT INTO holds (id, workspace_id, resource, start_at, end_at, purpose, holder_type,
                            holder_id, holder_name, expires_at, idempotency_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &params,
    );
    pipelined!(hold_row = insert, events = record(client, now, &events))?;
    Ok(Ok(answer))
}

async fn find<C: GenericClient>(
    client: &C,
    now: Timestamp,
    workspace_id: &str,
    hold_id: &str,
) -> StoreResult<Option<(i64, Hold)>> {
    let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE workspace_id = $1 AND id = $2");
    row_opt(client, &sql, &[&workspace_id, &hold_id])
        .await?
        .map(|row| stored_hold(&row, now))
        .transpose()
}

pub(super) async fn release<C: GenericClient>(
    client: &C,
    clock: &Clock,
    principal: &Principal,
    hold_id: &HoldId,
) -> StoreResult<()> {
    let workspace_id = principal.workspace_id();
    let now = now(client, clock).await?;
    let (seq, hold) = find(client, now, workspace_id, hold_id)
        .await?
        .ok_or(Refusal::NotFound("hold"))?;
    let Some(events) = holds::release(principal, &hold)? else {
        // Already released or lapsed: releasing again changes nothing.
        return Ok(());
    };
    let released = execute(
        client,
        "UPDATE holds SET released_at = $1 WHERE seq = $2 AND released_at IS NULL",
        &[&now.unix_millis(), &seq],
    )
    .await?;
    if released == 0 {
        return Ok(()); // a concurrent release won
    }
    record(client, now, &events).await
}

pub(super) async fn list<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &Listing<HoldFilter>,
) -> StoreResult<Page<Hold>> {
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    let now = now(client, clock).await?;
    let sql = format!(
        "SELECT {HOLD_COLUMNS} FROM holds
         WHERE workspace_id = $1
           AND ($2::text IS NULL OR resource = $2)
           AND ($3::bigint IS NULL OR seq < $3)
           AND (NOT $4 OR (released_at IS NULL AND (expires_at IS NULL OR expires_at > $5)))
         ORDER BY seq DESC LIMIT $6"
    );
    let found = rows(
        client,
        &sql,
        &[
            &workspace_id,
            &filter.resource.as_ref().map(ResourceKey::as_str),
            &page.after_seq(),
            &filter.active_only,
            &now.unix_millis(),
            &(i64::from(page.limit) + 1),
        ],
    )
    .await?
    .iter()
    .map(|row| stored_hold(row, now))
    .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(found, page, now))
}

pub(super) async fn availability<C: GenericClient>(
    client: &C,
    clock: &Clock,
    principal: &Principal,
    slot: &Slot,
) -> StoreResult<AvailabilityResponse> {
    let (holds, now) = overlapping_now(client, clock, principal, slot).await?;
    let (answer, events) = holds::availability(principal, slot, holds, now);
    record(client, now, &events).await?;
    Ok(answer)
}

pub(super) async fn check_conflicts<C: GenericClient>(
    client: &C,
    clock: &Clock,
    principal: &Principal,
    slot: &Slot,
) -> StoreResult<ConflictsCheckResponse> {
    let (holds, now) = overlapping_now(client, clock, principal, slot).await?;
    let (answer, events) = holds::conflicts(principal, slot, holds, now);
    record(client, now, &events).await?;
    Ok(answer)
}

/// Reads the clock, then the live holds in `principal`'s workspace that
/// overlap `slot`.
async fn overlapping_now<C: GenericClient>(
    client: &C,
    clock: &Clock,
    principal: &Principal,
    slot: &Slot,
) -> StoreResult<(Vec<Hold>, Timestamp)> {
    let now = now(client, clock).await?;
    let holds = overlapping(client, now, principal.workspace_id(), slot).await?;
    Ok((holds, now))
}
