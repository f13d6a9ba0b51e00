//! Reading the activity and audit feeds, and usage counts.

use crate::store::StoreResult;
use crate::store::live_claim;
use availsync_types::{
    ActivityItem, ActivityKind, AuditAction, AuditActor, AuditItem, Page, ResourceKey, Timestamp,
    Usage, UsageCounts, UsageResponse,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::sync::LazyLock;

use super::accounts::plan_of;
use super::rows::{self, paginate};
use crate::store::cursor::Position;
use crate::store::{
    ActivityFilter, AuditFilter, FeedEvent, FeedScope, Listing, UsageQuery, WorkspaceId,
};

fn detail(row: &Row<'_>, index: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
    })
}

/// The columns [`activity_row`] reads. SQLite's one writer commits rows
/// in `seq` order, so a row's position is `(0, seq)` (`store/cursor.rs`).
const ACTIVITY_COLUMNS: &str =
    "seq, workspace_id, id, at, agent_id, agent_name, kind, resource, decision, run_id, detail";

fn activity_row(row: &Row<'_>) -> rusqlite::Result<FeedEvent> {
    Ok(FeedEvent {
        position: Position::of_seq(row.get(0)?),
        workspace_id: row.get(1)?,
        item: ActivityItem {
            id: row.get(2)?,
            at: rows::ts(row.get(3)?),
            agent_id: row.get(4)?,
            agent_name: row.get(5)?,
            kind: row.get(6)?,
            resource: row.get(7)?,
            decision: row.get(8)?,
            run_id: row.get(9)?,
            detail: detail(row, 10)?,
        },
    })
}

pub(super) fn activity(
    conn: &Connection,
    now: Timestamp,
    query: &Listing<ActivityFilter>,
) -> StoreResult<Page<ActivityItem>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {ACTIVITY_COLUMNS}
             FROM activity
             WHERE workspace_id = ?1
               AND (?2 IS NULL OR agent_id = ?2)
               AND (?3 IS NULL OR resource = ?3)
               AND (?4 IS NULL OR kind = ?4)
               AND (?5 IS NULL OR seq < ?5)
             ORDER BY seq DESC LIMIT ?6"
        )
    });
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    let items: Vec<(Position, ActivityItem)> = conn
        .prepare_cached(&SQL)?
        .query_map(
            params![
                workspace_id,
                filter.agent_id,
                filter.resource.as_ref().map(ResourceKey::as_str),
                filter.kind.map(ActivityKind::as_str),
                page.after_seq(),
                i64::from(page.limit) + 1
            ],
            |row| activity_row(row).map(|event| (event.position, event.item)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(paginate(items, page, now))
}

/// Committed activity after `after`, in feed order.
pub(super) fn activity_since(
    conn: &Connection,
    scope: FeedScope<'_>,
    after: Position,
    limit: u32,
) -> StoreResult<Vec<FeedEvent>> {
    static ALL: LazyLock<String> = LazyLock::new(|| {
        format!("SELECT {ACTIVITY_COLUMNS} FROM activity WHERE seq > ?1 ORDER BY seq LIMIT ?2")
    });
    static WORKSPACE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activity
             WHERE workspace_id = ?3
               AND (?4 IS NULL OR agent_id = ?4)
               AND (?5 IS NULL OR resource = ?5)
               AND (?6 IS NULL OR kind = ?6)
               AND seq > ?1
             ORDER BY seq LIMIT ?2"
        )
    });
    let limit = i64::from(limit);
    let found = match scope {
        FeedScope::All => conn
            .prepare_cached(&ALL)?
            .query_map(params![after.seq, limit], activity_row)?
            .collect::<Result<_, _>>()?,
        FeedScope::Workspace(workspace_id, filter) => conn
            .prepare_cached(&WORKSPACE)?
            .query_map(
                params![
                    after.seq,
                    limit,
                    workspace_id.as_str(),
                    filter.agent_id,
                    filter.resource.as_ref().map(ResourceKey::as_str),
                    filter.kind.map(ActivityKind::as_str),
                ],
                activity_row,
            )?
            .collect::<Result<_, _>>()?,
    };
    Ok(found)
}

/// The newest activity's position.
pub(super) fn activity_head(conn: &Connection) -> StoreResult<Position> {
    let seq: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM activity")?
        .query_row([], |row| row.get(0))?;
    Ok(Position::of_seq(seq))
}

/// Where a workspace's activity event stands, if it is kept.
pub(super) fn activity_position(
    conn: &Connection,
    workspace_id: &WorkspaceId,
    event_id: &str,
) -> StoreResult<Option<Position>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM activity WHERE id = ?1 AND workspace_id = ?2")?
        .query_row(params![event_id, workspace_id.as_str()], |row| row.get(0))
        .optional()?
        .map(Position::of_seq))
}

pub(super) fn audit(
    conn: &Connection,
    now: Timestamp,
    query: &Listing<AuditFilter>,
) -> StoreResult<Page<AuditItem>> {
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    let items: Vec<(i64, AuditItem)> = conn
        .prepare_cached(
            "SELECT seq, id, at, actor_type, actor_id, actor_name, action, resource, detail
             FROM audit
             WHERE workspace_id = ?1
               AND (?2 IS NULL OR actor_id = ?2)
               AND (?3 IS NULL OR resource = ?3)
               AND (?4 IS NULL OR action = ?4)
               AND (?5 IS NULL OR seq < ?5)
             ORDER BY seq DESC LIMIT ?6",
        )?
        .query_map(
            params![
                workspace_id,
                filter.actor_id,
                filter.resource.as_ref().map(ResourceKey::as_str),
                filter.action.map(AuditAction::as_str),
                page.after_seq(),
                i64::from(page.limit) + 1
            ],
            |row| {
                Ok((
                    row.get(0)?,
                    AuditItem {
                        id: row.get(1)?,
                        at: rows::ts(row.get(2)?),
                        actor: AuditActor {
                            kind: row.get(3)?,
                            id: row.get(4)?,
                            name: row.get(5)?,
                        },
                        action: row.get(6)?,
                        resource: row.get(7)?,
                        detail: detail(row, 8)?,
                    },
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(paginate(items, page, now))
}

pub(super) fn usage(
    conn: &Connection,
    now: Timestamp,
    query: &UsageQuery,
) -> StoreResult<UsageResponse> {
    let (workspace_id, since, until) = (query.workspace_id.as_str(), query.since, query.until);
    // One read transaction, so every number describes the same moment.
    conn.execute_batch("BEGIN")?;
    let result = usage_in_transaction(conn, now, workspace_id, since, until);
    let _ = conn.execute_batch("COMMIT");
    result
}

fn usage_in_transaction(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> StoreResult<UsageResponse> {
    let plan = plan_of(conn, workspace_id)?;
    let count = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> StoreResult<u64> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row(params, |row| row.get::<_, i64>(0))?
            .max(0) as u64)
    };
    let usage = Usage {
        agents: count(
            "SELECT COUNT(*) FROM agents WHERE workspace_id = ?1 AND deleted_at IS NULL",
            &[&workspace_id],
        )?,
        active_claims: count(
            concat!(
                "SELECT COUNT(*) FROM claims WHERE workspace_id = ?1 AND ",
                live_claim!(sqlite, "", "?2")
            ),
            &[&workspace_id, &now.unix_millis()],
        )?,
        protected_resources: count(
            "SELECT COUNT(*) FROM resources WHERE workspace_id = ?1",
            &[&workspace_id],
        )?,
        rules: count(
            "SELECT COUNT(*) FROM rules WHERE workspace_id = ?1",
            &[&workspace_id],
        )?,
    };
    let until = until.unwrap_or(now);
    let from = since.map_or(i64::MIN, Timestamp::unix_millis);
    let (started, observed, skipped, would_block) = conn
        .prepare_cached(
            "SELECT
                COALESCE(SUM(decision <> 'skip_run' AND mode = 'enforce'), 0),
                COALESCE(SUM(mode = 'observe'), 0),
                COALESCE(SUM(decision = 'skip_run'), 0),
                COALESCE(SUM(mode = 'observe' AND would_block), 0)
             FROM runs WHERE workspace_id = ?1 AND created_at >= ?2 AND created_at < ?3",
        )?
        .query_row(params![workspace_id, from, until.unix_millis()], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })?;
    let holds_created = count(
        "SELECT COUNT(*) FROM holds WHERE workspace_id = ?1 AND created_at >= ?2 AND created_at < ?3",
        &[&workspace_id, &from, &until.unix_millis()],
    )?;
    let non_negative = |n: i64| n.max(0) as u64;
    Ok(UsageResponse {
        plan,
        limits: plan.limits(),
        usage,
        counts: UsageCounts {
            runs_started: non_negative(started),
            runs_observed: non_negative(observed),
            runs_skipped: non_negative(skipped),
            would_have_blocked: non_negative(would_block),
            holds_created,
        },
        since,
        until,
        server_time: now,
    })
}
