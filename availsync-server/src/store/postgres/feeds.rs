//! Reading the activity and audit feeds, and usage counts.

use crate::store::StoreResult;
use crate::store::live_claim;
use availsync_types::{
    ActivityItem, ActivityKind, AuditAction, AuditActor, AuditItem, Page, ResourceKey, Timestamp,
    Usage, UsageCounts, UsageResponse,
};
use deadpool_postgres::GenericClient;
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use tokio_postgres::Row;

use super::accounts::plan_of;
use super::sql::{get, now, row_one, row_opt, rows, ts};
use crate::domain::clock::Clock;
use crate::store::cursor::{Position, paginate};
use crate::store::{
    ActivityFilter, AuditFilter, FeedEvent, FeedScope, Listing, UsageQuery, WorkspaceId,
};

/// Only rows committed below every position still to come
/// (`store/cursor.rs`): below the oldest transaction running now.
const COMMITTED: &str = "tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Longest a list waits for the transactions that began before its
/// workspace's newest commits to end (see [`settle`]).
const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// Pause between two looks at whether those transactions have ended.
const SETTLE_PAUSE: Duration = Duration::from_millis(10);

/// Read-your-writes for the newest-first lists: rows of the workspace that
/// have committed but still wait behind an older transaction (of any
/// client of the cluster) are not answered yet; wait, for at most
/// [`SETTLE_WAIT`], until every transaction older than the newest of them
/// has ended, so that a list shows what committed before it was asked
/// for. Rows that commit meanwhile are not waited for. `table` is
/// `activity` or `audit`; without a workspace, every workspace's rows
/// count (where a new event stream starts).
async fn settle<C: GenericClient>(
    client: &C,
    table: &str,
    workspace_id: Option<&str>,
) -> StoreResult<()> {
    let newest: Option<i64> = match workspace_id {
        Some(workspace_id) => {
            let held_back = format!(
                "SELECT MAX(tx) FROM {table} WHERE workspace_id = $1 AND NOT ({COMMITTED})"
            );
            get(&row_one(client, &held_back, &[&workspace_id]).await?, 0)?
        }
        None => {
            let held_back = format!("SELECT MAX(tx) FROM {table} WHERE NOT ({COMMITTED})");
            get(&row_one(client, &held_back, &[]).await?, 0)?
        }
    };
    let Some(newest) = newest else {
        return Ok(());
    };
    let deadline = Instant::now() + SETTLE_WAIT;
    while Instant::now() < deadline {
        tokio::time::sleep(SETTLE_PAUSE).await;
        let passed: bool = get(
            &row_one(
                client,
                "SELECT $1 < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
                &[&newest],
            )
            .await?,
            0,
        )?;
        if passed {
            return Ok(());
        }
    }
    Ok(())
}

/// The columns [`activity_row`] reads.
const ACTIVITY_COLUMNS: &str =
    "tx, seq, workspace_id, id, at, agent_id, agent_name, kind, resource, decision, run_id, detail";

fn activity_row(row: &Row) -> StoreResult<FeedEvent> {
    Ok(FeedEvent {
        position: Position {
            tx: get(row, 0)?,
            seq: get(row, 1)?,
        },
        workspace_id: get(row, 2)?,
        item: ActivityItem {
            id: get(row, 3)?,
            at: ts(row, 4)?,
            agent_id: get(row, 5)?,
            agent_name: get(row, 6)?,
            kind: get(row, 7)?,
            resource: get(row, 8)?,
            decision: get(row, 9)?,
            run_id: get(row, 10)?,
            detail: get(row, 11)?,
        },
    })
}

/// `(tx, seq)` of a cursor, as two parameters (both `NULL` without one).
fn cursor_params(after: Option<Position>) -> (Option<i64>, Option<i64>) {
    (after.map(|p| p.tx), after.map(|p| p.seq))
}

pub(super) async fn activity<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &Listing<ActivityFilter>,
) -> StoreResult<Page<ActivityItem>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {ACTIVITY_COLUMNS}
             FROM activity
             WHERE workspace_id = $1
               AND ($2::text IS NULL OR agent_id = $2)
               AND ($3::text IS NULL OR resource = $3)
               AND ($4::text IS NULL OR kind = $4)
               AND ($5::bigint IS NULL OR (tx, seq) < ($5, $6::bigint))
               AND {COMMITTED}
             ORDER BY tx DESC, seq DESC LIMIT $7"
        )
    });
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    settle(client, "activity", Some(workspace_id)).await?;
    let now = now(client, clock).await?;
    let (tx, seq) = cursor_params(page.after);
    let items = rows(
        client,
        &SQL,
        &[
            &workspace_id,
            &filter.agent_id,
            &filter.resource.as_ref().map(ResourceKey::as_str),
            &filter.kind.map(ActivityKind::as_str),
            &tx,
            &seq,
            &(i64::from(page.limit) + 1),
        ],
    )
    .await?
    .iter()
    .map(|row| activity_row(row).map(|event| (event.position, event.item)))
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(paginate(items, page, now))
}

/// Committed activity after `after`, in feed order.
pub(super) async fn activity_since<C: GenericClient>(
    client: &C,
    scope: FeedScope<'_>,
    after: Position,
    limit: u32,
) -> StoreResult<Vec<FeedEvent>> {
    static ALL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activity
             WHERE (tx, seq) > ($1, $2) AND {COMMITTED}
             ORDER BY tx, seq LIMIT $3"
        )
    });
    static WORKSPACE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activity
             WHERE workspace_id = $4
               AND ($5::text IS NULL OR agent_id = $5)
               AND ($6::text IS NULL OR resource = $6)
               AND ($7::text IS NULL OR kind = $7)
               AND (tx, seq) > ($1, $2) AND {COMMITTED}
             ORDER BY tx, seq LIMIT $3"
        )
    });
    let limit = i64::from(limit);
    let found = match scope {
        FeedScope::All => rows(client, &ALL, &[&after.tx, &after.seq, &limit]).await?,
        FeedScope::Workspace(workspace_id, filter) => {
            rows(
                client,
                &WORKSPACE,
                &[
                    &after.tx,
                    &after.seq,
                    &limit,
                    &workspace_id.as_str(),
                    &filter.agent_id,
                    &filter.resource.as_ref().map(ResourceKey::as_str),
                    &filter.kind.map(ActivityKind::as_str),
                ],
            )
            .await?
        }
    };
    found.iter().map(activity_row).collect()
}

/// The newest committed activity's position, once the transactions older
/// than the rows committed so far have ended (see [`settle`]): a stream
/// that starts there has seen what committed before it.
pub(super) async fn activity_head<C: GenericClient>(client: &C) -> StoreResult<Position> {
    settle(client, "activity", None).await?;
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT tx, seq FROM activity WHERE {COMMITTED}
             ORDER BY tx DESC, seq DESC LIMIT 1"
        )
    });
    Ok(match row_opt(client, &SQL, &[]).await? {
        Some(row) => Position {
            tx: get(&row, 0)?,
            seq: get(&row, 1)?,
        },
        None => Position::default(),
    })
}

/// Where a workspace's activity event stands, if it is kept.
pub(super) async fn activity_position<C: GenericClient>(
    client: &C,
    workspace_id: &WorkspaceId,
    event_id: &str,
) -> StoreResult<Option<Position>> {
    row_opt(
        client,
        "SELECT tx, seq FROM activity WHERE id = $1 AND workspace_id = $2",
        &[&event_id, &workspace_id.as_str()],
    )
    .await?
    .map(|row| {
        Ok(Position {
            tx: get(&row, 0)?,
            seq: get(&row, 1)?,
        })
    })
    .transpose()
}

pub(super) async fn audit<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &Listing<AuditFilter>,
) -> StoreResult<Page<AuditItem>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT tx, seq, id, at, actor_type, actor_id, actor_name, action, resource, detail
             FROM audit
             WHERE workspace_id = $1
               AND ($2::text IS NULL OR actor_id = $2)
               AND ($3::text IS NULL OR resource = $3)
               AND ($4::text IS NULL OR action = $4)
               AND ($5::bigint IS NULL OR (tx, seq) < ($5, $6::bigint))
               AND {COMMITTED}
             ORDER BY tx DESC, seq DESC LIMIT $7"
        )
    });
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    settle(client, "audit", Some(workspace_id)).await?;
    let now = now(client, clock).await?;
    let (tx, seq) = cursor_params(page.after);
    let items = rows(
        client,
        &SQL,
        &[
            &workspace_id,
            &filter.actor_id,
            &filter.resource.as_ref().map(ResourceKey::as_str),
            &filter.action.map(AuditAction::as_str),
            &tx,
            &seq,
            &(i64::from(page.limit) + 1),
        ],
    )
    .await?
    .iter()
    .map(|row| {
        Ok((
            Position {
                tx: get(row, 0)?,
                seq: get(row, 1)?,
            },
            AuditItem {
                id: get(row, 2)?,
                at: ts(row, 3)?,
                actor: AuditActor {
                    kind: get(row, 4)?,
                    id: get(row, 5)?,
                    name: get(row, 6)?,
                },
                action: get(row, 7)?,
                resource: get(row, 8)?,
                detail: get(row, 9)?,
            },
        ))
    })
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(paginate(items, page, now))
}

/// Usage, read in one repeatable-read transaction by the caller so every
/// number describes the same moment.
pub(super) async fn usage<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &UsageQuery,
) -> StoreResult<UsageResponse> {
    let UsageQuery {
        workspace_id,
        since,
        until,
    } = query;
    let (workspace_id, since, until) = (workspace_id.as_str(), *since, *until);
    let now = now(client, clock).await?;
    let plan = plan_of(client, workspace_id, false).await?;
    let count = async |sql: &str, params: super::sql::Params<'_>| -> StoreResult<u64> {
        let n: i64 = get(&row_one(client, sql, params).await?, 0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let usage = Usage {
        agents: count(
            "SELECT COUNT(*) FROM agents WHERE workspace_id = $1 AND deleted_at IS NULL",
            &[&workspace_id],
        )
        .await?,
        active_claims: count(
            concat!(
                "SELECT COUNT(*) FROM claims WHERE workspace_id = $1 AND ",
                live_claim!(postgres, "", "$2")
            ),
            &[&workspace_id, &now.unix_millis()],
        )
        .await?,
        protected_resources: count(
            "SELECT COUNT(*) FROM resources WHERE workspace_id = $1",
            &[&workspace_id],
        )
        .await?,
        rules: count(
            "SELECT COUNT(*) FROM rules WHERE workspace_id = $1",
            &[&workspace_id],
        )
        .await?,
    };
    let until = until.unwrap_or(now);
    let from = since.map_or(i64::MIN, Timestamp::unix_millis);
    let row = row_one(
        client,
        "SELECT
            COUNT(*) FILTER (WHERE decision <> 'skip_run' AND mode = 'enforce'),
            COUNT(*) FILTER (WHERE mode = 'observe'),
            COUNT(*) FILTER (WHERE decision = 'skip_run'),
            COUNT(*) FILTER (WHERE mode = 'observe' AND would_block)
         FROM runs WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3",
        &[&workspace_id, &from, &until.unix_millis()],
    )
    .await?;
    let non_negative = |index: usize| -> StoreResult<u64> {
        Ok(u64::try_from(get::<i64>(&row, index)?).unwrap_or(0))
    };
    let holds_created = count(
        "SELECT COUNT(*) FROM holds WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3",
        &[&workspace_id, &from, &until.unix_millis()],
    )
    .await?;
    Ok(UsageResponse {
        plan,
        limits: plan.limits(),
        usage,
        counts: UsageCounts {
            runs_started: non_negative(0)?,
            runs_observed: non_negative(1)?,
            runs_skipped: non_negative(2)?,
            would_have_blocked: non_negative(3)?,
            holds_created,
        },
        since,
        until,
        server_time: now,
    })
}
