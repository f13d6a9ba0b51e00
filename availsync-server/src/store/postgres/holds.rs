//! Availability holds: check-and-insert under the resource's hold lock,
//! with the `no_overlapping_live_holds` exclusion constraint behind it.

use crate::store::StoreResult;
use availsync_types::{
    AvailabilityResponse, ConflictsCheckResponse, Hold, HoldHolder, HoldResponse, Page,
    ResourceKey, Timestamp,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::accounts::Refusable;
use super::events::record;
use super::sql::{LockScope, execute, get, lock_resource, now, row_opt, rows, ts, ts_opt};
use crate::domain::clock::Clock;
use crate::domain::ids::{IdKind, new_id};
use crate::domain::schedule::Window;
use crate::domain::ttl::Ttl;
use crate::domain::{events, holds};
use crate::store::cursor::paginate;
use crate::store::records::{busy, hold_status, holder_of};
use crate::store::{HoldFilter, NewHold, PageRequest, Principal, Refusal, StoreError};

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
    resource: &str,
    window: Window,
) -> StoreResult<Vec<Hold>> {
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
    let conflicts = overlapping(client, now, workspace_id, resource, new.window).await?;
    if !conflicts.is_empty() {
        let ids: Vec<&str> = conflicts.iter().map(|h| h.hold_id.as_str()).collect();
        record(
            client,
            now,
            &events::hold_rejected(principal, resource, new.window, &ids),
        )
        .await?;
        return Ok(Err(StoreError::Refused(Refusal::HoldConflict {
            conflicts: conflicts.into_iter().map(busy).collect(),
        })));
    }
    let hold_id = new_id(IdKind::Hold);
    let expires_at = new
        .ttl_seconds
        .map(|ttl| Ttl::from_seconds(ttl).expiry_from(now));
    execute(
        client,
        "INSERT INTO holds (id, workspace_id, resource, start_at, end_at, purpose, holder_type,
                            holder_id, holder_name, expires_at, idempotency_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &[
            &hold_id,
            &workspace_id,
            &resource,
            &new.window.start.unix_millis(),
            &new.window.end.unix_millis(),
            &new.purpose,
            &holder.kind,
            &holder.id,
            &holder.name,
            &expires_at.map(Timestamp::unix_millis),
            &new.idempotency_key,
            &now.unix_millis(),
        ],
    )
    .await?;
    record(
        client,
        now,
        &events::hold_created(
            principal,
            resource,
            &hold_id,
            new.window,
            expires_at,
            new.purpose.as_deref(),
        ),
    )
    .await?;
    let (_, hold) = find(client, now, workspace_id, &hold_id)
        .await?
        .ok_or_else(|| StoreError::Backend("new hold not readable".into()))?;
    Ok(Ok(HoldResponse {
        hold,
        replayed: false,
        server_time: now,
    }))
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
    hold_id: &str,
) -> StoreResult<()> {
    let workspace_id = principal.workspace_id();
    let now = now(client, clock).await?;
    let (seq, hold) = find(client, now, workspace_id, hold_id)
        .await?
        .ok_or(Refusal::NotFound("hold"))?;
    if !holds::may_release(principal, &hold)? {
        // Already released or lapsed: releasing again changes nothing.
        return Ok(());
    }
    let released = execute(
        client,
        "UPDATE holds SET released_at = $1 WHERE seq = $2 AND released_at IS NULL",
        &[&now.unix_millis(), &seq],
    )
    .await?;
    if released == 0 {
        return Ok(()); // a concurrent release won
    }
    record(
        client,
        now,
        &events::hold_released(principal, &hold.resource, hold_id, &hold.holder),
    )
    .await
}

pub(super) async fn list<C: GenericClient>(
    client: &C,
    clock: &Clock,
    workspace_id: &str,
    filter: &HoldFilter,
    page: &PageRequest,
) -> StoreResult<Page<Hold>> {
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
            &page.after,
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
    resource: &ResourceKey,
    window: Window,
) -> StoreResult<AvailabilityResponse> {
    let now = now(client, clock).await?;
    let holds = overlapping(
        client,
        now,
        principal.workspace_id(),
        resource.as_str(),
        window,
    )
    .await?;
    let answer = holds::availability(resource, window, holds, now);
    record(
        client,
        now,
        &events::availability_checked(
            principal,
            resource.as_str(),
            window,
            answer.busy.len(),
            answer.free.len(),
        ),
    )
    .await?;
    Ok(answer)
}

pub(super) async fn check_conflicts<C: GenericClient>(
    client: &C,
    clock: &Clock,
    principal: &Principal,
    resource: &ResourceKey,
    window: Window,
) -> StoreResult<ConflictsCheckResponse> {
    let now = now(client, clock).await?;
    let holds = overlapping(
        client,
        now,
        principal.workspace_id(),
        resource.as_str(),
        window,
    )
    .await?;
    record(
        client,
        now,
        &events::conflicts_checked(principal, resource.as_str(), window, !holds.is_empty()),
    )
    .await?;
    Ok(holds::conflicts(holds, now))
}
