//! The background sweep: records each lapsed claim and hold exactly once —
//! even with every replica sweeping — and prunes old activity.

use crate::store::StoreResult;
use availsync_types::Timestamp;
use deadpool_postgres::GenericClient;

use super::events::record;
use super::sql::{execute, get, now, rows, ts};
use crate::domain::clock::Clock;
use crate::domain::events::LapsedClaim;
use crate::domain::ids::{HoldId, WorkspaceId};
use crate::domain::{events, login_throttle};
use crate::store::SweepReport;

/// Most lapses recorded per sweep.
const BATCH: i64 = 500;

pub(super) async fn sweep<C: GenericClient>(
    client: &C,
    clock: &Clock,
    activity_retention_ms: i64,
) -> StoreResult<SweepReport> {
    let now: Timestamp = now(client, clock).await?;
    // SKIP LOCKED: rows another replica's sweep is recording are left to it.
    let claims = rows(
        client,
        "UPDATE claims c SET expiry_recorded = true
         FROM runs r
         WHERE r.seq = c.run_seq AND c.id IN (
             SELECT id FROM claims
             WHERE released_at IS NULL AND NOT expiry_recorded AND expires_at <= $1
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING c.id, c.workspace_id, c.resource, c.agent_id, r.run_id, c.expires_at",
        &[&now.unix_millis(), &BATCH],
    )
    .await?;
    // A lapsed working set's patterns leave the candidate index with it.
    let lapsed: Vec<String> = claims
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<_, _>>()?;
    if !lapsed.is_empty() {
        execute(
            client,
            "DELETE FROM claim_paths WHERE claim_id = ANY($1::text[])",
            &[&lapsed],
        )
        .await?;
    }
    for row in &claims {
        let lapsed = LapsedClaim {
            claim_id: get(row, 0)?,
            workspace_id: get(row, 1)?,
            resource: get(row, 2)?,
            agent_id: get(row, 3)?,
            run_id: get(row, 4)?,
            expired_at: ts(row, 5)?,
        };
        record(client, now, &events::claim_expired(&lapsed)).await?;
    }
    let holds = rows(
        client,
        "UPDATE holds SET expiry_recorded = true, lapsed = true
         WHERE seq IN (
             SELECT seq FROM holds
             WHERE released_at IS NULL AND expires_at IS NOT NULL AND NOT expiry_recorded
               AND expires_at <= $1
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, workspace_id, resource, expires_at",
        &[&now.unix_millis(), &BATCH],
    )
    .await?;
    for row in &holds {
        let (hold_id, workspace_id, resource): (HoldId, WorkspaceId, String) =
            (get(row, 0)?, get(row, 1)?, get(row, 2)?);
        record(
            client,
            now,
            &events::hold_expired(&workspace_id, &resource, &hold_id, ts(row, 3)?),
        )
        .await?;
    }
    let activity_pruned = execute(
        client,
        "DELETE FROM activity WHERE at < $1",
        &[&now.unix_millis().saturating_sub(activity_retention_ms)],
    )
    .await?;
    execute(
        client,
        "DELETE FROM login_failures WHERE at <= $1",
        &[&(now.unix_millis() - login_throttle::WINDOW_MS)],
    )
    .await?;
    Ok(SweepReport {
        claims_expired: claims.len(),
        holds_expired: holds.len(),
        activity_pruned: usize::try_from(activity_pruned).unwrap_or(usize::MAX),
    })
}
