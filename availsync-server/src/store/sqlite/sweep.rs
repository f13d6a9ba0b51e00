//! The background sweep: records each lapsed claim and hold exactly once,
//! and prunes old activity. Correctness never depends on it: a lapsed lease
//! is dead the moment its `expires_at` passes.

use crate::store::StoreResult;
use availsync_types::Timestamp;
use rusqlite::{Connection, params};

use super::events::record;
use super::rows;
use crate::domain::events::LapsedClaim;
use crate::domain::ids::{HoldId, WorkspaceId};
use crate::domain::{events, login_throttle};
use crate::store::SweepReport;

/// Most lapses recorded per sweep, so one sweep never holds the writer long.
const BATCH: i64 = 500;

pub(super) fn sweep(
    conn: &Connection,
    now: Timestamp,
    activity_retention_ms: i64,
) -> StoreResult<SweepReport> {
    let claims: Vec<LapsedClaim> = conn
        .prepare_cached(
            "SELECT c.id, c.workspace_id, c.resource, c.agent_id, r.run_id, c.expires_at
             FROM claims c JOIN runs r ON r.seq = c.run_seq
             WHERE c.released_at IS NULL AND c.expiry_recorded = 0 AND c.expires_at <= ?1
             ORDER BY c.expires_at LIMIT ?2",
        )?
        .query_map(params![now.unix_millis(), BATCH], |row| {
            Ok(LapsedClaim {
                claim_id: row.get(0)?,
                workspace_id: row.get(1)?,
                resource: row.get(2)?,
                agent_id: row.get(3)?,
                run_id: row.get(4)?,
                expired_at: rows::ts(row.get(5)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    for claim in &claims {
        conn.prepare_cached("UPDATE claims SET expiry_recorded = 1 WHERE id = ?1")?
            .execute([&claim.claim_id])?;
        conn.prepare_cached("DELETE FROM claim_paths WHERE claim_id = ?1")?
            .execute([&claim.claim_id])?;
        record(conn, now, &events::claim_expired(claim))?;
    }
    let holds: Vec<(i64, HoldId, WorkspaceId, String, i64)> = conn
        .prepare_cached(
            "SELECT seq, id, workspace_id, resource, expires_at FROM holds
             WHERE released_at IS NULL AND expires_at IS NOT NULL AND expiry_recorded = 0
               AND expires_at <= ?1
             ORDER BY expires_at LIMIT ?2",
        )?
        .query_map(params![now.unix_millis(), BATCH], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    for (seq, hold_id, workspace_id, resource, expires_at) in &holds {
        conn.execute("UPDATE holds SET expiry_recorded = 1 WHERE seq = ?1", [seq])?;
        record(
            conn,
            now,
            &events::hold_expired(workspace_id, resource, hold_id, rows::ts(*expires_at)),
        )?;
    }
    // Events are written in time order, so the old ones are a prefix of the
    // sequence: the scan stops at the first event young enough to keep.
    let activity_pruned = conn
        .prepare_cached(
            "DELETE FROM activity WHERE seq < COALESCE(
                 (SELECT seq FROM activity WHERE at >= ?1 ORDER BY seq LIMIT 1),
                 (SELECT MAX(seq) + 1 FROM activity))",
        )?
        .execute([now.unix_millis().saturating_sub(activity_retention_ms)])?;
    conn.execute(
        "DELETE FROM login_failures WHERE at <= ?1",
        [now.unix_millis() - login_throttle::WINDOW_MS],
    )?;
    Ok(SweepReport {
        claims_expired: claims.len(),
        holds_expired: holds.len(),
        activity_pruned,
    })
}
