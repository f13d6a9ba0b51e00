//! Reading the activity and audit feeds, and usage counts.

use crate::store::StoreResult;
use crate::store::live_claim;
use availsync_types::{
    ActivityItem, ActivityKind, AuditAction, AuditActor, AuditItem, Page, ResourceKey, Timestamp,
    Usage, UsageCounts, UsageResponse,
};
use deadpool_postgres::GenericClient;

use super::accounts::plan_of;
use super::sql::{get, now, row_one, rows, ts};
use crate::domain::clock::Clock;
use crate::store::cursor::paginate;
use crate::store::{ActivityFilter, AuditFilter, Listing, UsageQuery};

pub(super) async fn activity<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &Listing<ActivityFilter>,
) -> StoreResult<Page<ActivityItem>> {
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    let now = now(client, clock).await?;
    let items = rows(
        client,
        "SELECT seq, id, at, agent_id, agent_name, kind, resource, decision, run_id, detail
         FROM activity
         WHERE workspace_id = $1
           AND ($2::text IS NULL OR agent_id = $2)
           AND ($3::text IS NULL OR resource = $3)
           AND ($4::text IS NULL OR kind = $4)
           AND ($5::bigint IS NULL OR seq < $5)
         ORDER BY seq DESC LIMIT $6",
        &[
            &workspace_id,
            &filter.agent_id,
            &filter.resource.as_ref().map(ResourceKey::as_str),
            &filter.kind.map(ActivityKind::as_str),
            &page.after,
            &(i64::from(page.limit) + 1),
        ],
    )
    .await?
    .iter()
    .map(|row| {
        Ok((
            get::<i64>(row, 0)?,
            ActivityItem {
                id: get(row, 1)?,
                at: ts(row, 2)?,
                agent_id: get(row, 3)?,
                agent_name: get(row, 4)?,
                kind: get(row, 5)?,
                resource: get(row, 6)?,
                decision: get(row, 7)?,
                run_id: get(row, 8)?,
                detail: get(row, 9)?,
            },
        ))
    })
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(paginate(items, page, now))
}

pub(super) async fn audit<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &Listing<AuditFilter>,
) -> StoreResult<Page<AuditItem>> {
    let (workspace_id, filter, page) = (query.workspace_id.as_str(), &query.filter, &query.page);
    let now = now(client, clock).await?;
    let items = rows(
        client,
        "SELECT seq, id, at, actor_type, actor_id, actor_name, action, resource, detail
         FROM audit
         WHERE workspace_id = $1
           AND ($2::text IS NULL OR actor_id = $2)
           AND ($3::text IS NULL OR resource = $3)
           AND ($4::text IS NULL OR action = $4)
           AND ($5::bigint IS NULL OR seq < $5)
         ORDER BY seq DESC LIMIT $6",
        &[
            &workspace_id,
            &filter.actor_id,
            &filter.resource.as_ref().map(ResourceKey::as_str),
            &filter.action.map(AuditAction::as_str),
            &page.after,
            &(i64::from(page.limit) + 1),
        ],
    )
    .await?
    .iter()
    .map(|row| {
        Ok((
            get::<i64>(row, 0)?,
            AuditItem {
                id: get(row, 1)?,
                at: ts(row, 2)?,
                actor: AuditActor {
                    kind: get(row, 3)?,
                    id: get(row, 4)?,
                    name: get(row, 5)?,
                },
                action: get(row, 6)?,
                resource: get(row, 7)?,
                detail: get(row, 8)?,
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
