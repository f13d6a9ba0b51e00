//! Availability holds: atomic check-and-insert, release, availability and
//! conflict previews.

use crate::store::StoreResult;
use availsync_types::{
    AvailabilityResponse, ConflictsCheckResponse, Hold, HoldHolder, HoldResponse, Page,
    ResourceKey, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::accounts::Refusable;
use super::events::record;
use super::rows::{self, paginate};
use crate::domain::holds::{self, Placement};
use crate::store::records::{hold_status, holder_of};
use crate::store::{HoldFilter, HoldId, Listing, NewHold, Principal, Refusal, Slot};

const HOLD_COLUMNS: &str = "seq, id, resource, start_at, end_at, purpose, holder_type, holder_id,
    holder_name, expires_at, created_at, released_at";

/// A hold as stored.
struct StoredHold {
    seq: i64,
    hold: Hold,
}

fn stored_hold(row: &Row<'_>, now: Timestamp) -> rusqlite::Result<StoredHold> {
    let expires_at = row.get::<_, Option<i64>>(9)?.map(rows::ts);
    let status = hold_status(
        row.get::<_, Option<i64>>(11)?.map(rows::ts),
        expires_at,
        now,
    );
    Ok(StoredHold {
        seq: row.get(0)?,
        hold: Hold {
            hold_id: row.get(1)?,
            resource: row.get(2)?,
            start: rows::ts(row.get(3)?),
            end: rows::ts(row.get(4)?),
            purpose: row.get(5)?,
            status,
            holder: HoldHolder {
                kind: row.get(6)?,
                id: row.get(7)?,
                name: row.get(8)?,
            },
            expires_at,
            created_at: rows::ts(row.get(10)?),
        },
    })
}

/// Live holds on a resource overlapping a window, by start.
fn overlapping(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    slot: &Slot,
) -> StoreResult<Vec<Hold>> {
    let (resource, window) = (slot.resource.as_str(), slot.window);
    let sql = format!(
        "SELECT {HOLD_COLUMNS} FROM holds
         WHERE workspace_id = ?1 AND resource = ?2 AND released_at IS NULL
           AND (expires_at IS NULL OR expires_at > ?3)
           AND start_at < ?5 AND ?4 < end_at
         ORDER BY start_at, seq"
    );
    let holds = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                workspace_id,
                resource,
                now.unix_millis(),
                window.start.unix_millis(),
                window.end.unix_millis()
            ],
            |row| stored_hold(row, now).map(|s| s.hold),
        )?
        .collect::<Result<_, _>>()?;
    Ok(holds)
}

pub(super) fn create(
    conn: &Connection,
    now: Timestamp,
    principal: &Principal,
    new: NewHold,
) -> Refusable<HoldResponse> {
    let workspace_id = principal.workspace_id();
    let holder = holder_of(principal);
    let resource = new.resource.as_str();
    if let Some(key) = &new.idempotency_key {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM holds
             WHERE workspace_id = ?1 AND holder_id = ?2 AND idempotency_key = ?3"
        );
        let existing = conn
            .prepare_cached(&sql)?
            .query_row(params![workspace_id, holder.id, key], |row| {
                stored_hold(row, now)
            })
            .optional()?;
        if let Some(existing) = existing {
            return Ok(holds::replay(existing.hold, resource, new.window, now).map_err(Into::into));
        }
    }
    let slot = Slot {
        resource: new.resource.clone(),
        window: new.window,
    };
    let conflicts = overlapping(conn, now, workspace_id, &slot)?;
    let answer = match holds::place(principal, &new, conflicts, now) {
        Placement::Conflict { events, refusal } => {
            record(conn, now, &events)?;
            return Ok(Err(refusal.into()));
        }
        Placement::Create { events, answer } => {
            record(conn, now, &events)?;
            answer
        }
    };
    let hold = &answer.hold;
    conn.prepare_cached(
        "INSERT INTO holds (id, workspace_id, resource, start_at, end_at, purpose, holder_type,
                            holder_id, holder_name, expires_at, idempotency_key, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        hold.hold_id,
        workspace_id,
        hold.resource,
        hold.start.unix_millis(),
        hold.end.unix_millis(),
        hold.purpose,
        hold.holder.kind,
        hold.holder.id,
        hold.holder.name,
        hold.expires_at.map(Timestamp::unix_millis),
        new.idempotency_key,
        now.unix_millis(),
    ])?;
    Ok(Ok(answer))
}

fn find(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    hold_id: &str,
) -> StoreResult<Option<StoredHold>> {
    let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE workspace_id = ?1 AND id = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![workspace_id, hold_id], |row| stored_hold(row, now))
        .optional()?)
}

pub(super) fn release(
    conn: &Connection,
    now: Timestamp,
    principal: &Principal,
    hold_id: &HoldId,
) -> StoreResult<()> {
    let workspace_id = principal.workspace_id();
    let stored = find(conn, now, workspace_id, hold_id)?.ok_or(Refusal::NotFound("hold"))?;
    let Some(events) = holds::release(principal, &stored.hold)? else {
        // Already released or lapsed: releasing again changes nothing.
        return Ok(());
    };
    conn.execute(
        "UPDATE holds SET released_at = ?1 WHERE seq = ?2",
        params![now.unix_millis(), stored.seq],
    )?;
    record(conn, now, &events)
}

pub(super) fn list(
    conn: &Connection,
    now: Timestamp,
    query: &Listing<HoldFilter>,
) -> StoreResult<Page<Hold>> {
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    let sql = format!(
        "SELECT {HOLD_COLUMNS} FROM holds
         WHERE workspace_id = ?1
           AND (?2 IS NULL OR resource = ?2)
           AND (?3 IS NULL OR seq < ?3)
           AND (?4 = 0 OR (released_at IS NULL AND (expires_at IS NULL OR expires_at > ?5)))
         ORDER BY seq DESC LIMIT ?6"
    );
    let holds: Vec<(i64, Hold)> = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                workspace_id,
                filter.resource.as_ref().map(ResourceKey::as_str),
                page.after_seq(),
                filter.active_only,
                now.unix_millis(),
                i64::from(page.limit) + 1
            ],
            |row| stored_hold(row, now).map(|s| (s.seq, s.hold)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(paginate(holds, page, now))
}

pub(super) fn availability(
    conn: &Connection,
    now: Timestamp,
    principal: &Principal,
    slot: &Slot,
) -> StoreResult<AvailabilityResponse> {
    let holds = overlapping(conn, now, principal.workspace_id(), slot)?;
    let (answer, events) = holds::availability(principal, slot, holds, now);
    record(conn, now, &events)?;
    Ok(answer)
}

pub(super) fn check_conflicts(
    conn: &Connection,
    now: Timestamp,
    principal: &Principal,
    slot: &Slot,
) -> StoreResult<ConflictsCheckResponse> {
    let holds = overlapping(conn, now, principal.workspace_id(), slot)?;
    let (answer, events) = holds::conflicts(principal, slot, holds, now);
    record(conn, now, &events)?;
    Ok(answer)
}
