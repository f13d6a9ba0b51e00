//! The waiters' queue (SPEC §13; the rules are in
//! [`crate::domain::queue`]).

use availsync_types::Timestamp;
use rusqlite::{Connection, params, params_from_iter};

use super::rules;
use super::work::start_one;
use crate::domain::ids::{AgentId, WorkspaceId};
use crate::domain::queue::{
    QueuedStart, Queueing, Replica, SERVE_BATCH, Served, StartOutcome, alive_until,
};
use crate::store::{AgentContext, StartRun, StoreResult};

/// Queues a start that waits until `deadline` on `keys`; answers its place.
pub(super) fn join(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    start: &StartRun,
    keys: &[String],
    deadline: Timestamp,
    replica: Replica,
) -> StoreResult<i64> {
    let request = QueuedStart::from(start).to_json()?;
    conn.prepare_cached(
        "INSERT INTO waiters (workspace_id, agent_id, agent_name, run_id, request, deadline_at,
                              alive_until, replica, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        agent.workspace_id,
        agent.agent_id,
        agent.agent_name,
        start.run_id,
        request,
        deadline.unix_millis(),
        alive_until(now).unix_millis(),
        replica.as_i64(),
        now.unix_millis(),
    ])?;
    let seq = conn.last_insert_rowid();
    let mut key = conn.prepare_cached(
        "INSERT OR IGNORE INTO waiter_keys (workspace_id, resource, waiter_seq) VALUES (?1, ?2, ?3)",
    )?;
    for resource in keys {
        key.execute(params![agent.workspace_id, resource, seq])?;
    }
    Ok(seq)
}

/// Takes a waiter out of the queue (granted, answered or gone).
pub(super) fn leave(conn: &Connection, seq: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM waiter_keys WHERE waiter_seq = ?1")?
        .execute([seq])?;
    conn.prepare_cached("DELETE FROM waiters WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

/// Keeps a replica's waiters in the queue until `until`; drops the rows of
/// waiters whose replica stopped renewing them or whose wait is over.
pub(super) fn renew(conn: &Connection, now: Timestamp, replica: Replica) -> StoreResult<()> {
    conn.prepare_cached("UPDATE waiters SET alive_until = ?2 WHERE replica = ?1")?
        .execute(params![replica.as_i64(), alive_until(now).unix_millis()])?;
    conn.prepare_cached(
        "DELETE FROM waiter_keys WHERE waiter_seq IN
             (SELECT seq FROM waiters WHERE alive_until <= ?1 OR deadline_at <= ?1)",
    )?
    .execute([now.unix_millis()])?;
    conn.prepare_cached("DELETE FROM waiters WHERE alive_until <= ?1 OR deadline_at <= ?1")?
        .execute([now.unix_millis()])?;
    Ok(())
}

/// A live waiter, as the queue keeps it.
struct Waiter {
    seq: i64,
    agent: AgentContext,
    start: Option<StartRun>,
}

/// Grants, in arrival order, the live waiters on `keys` (those before
/// `before`, if given) that can be served now.
pub(super) fn serve(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    keys: &[availsync_types::ResourceKey],
    before: Option<i64>,
) -> StoreResult<Served> {
    let keys: Vec<String> = crate::domain::queue::serve_keys(keys);
    serve_keys(conn, now, workspace_id, Some(&keys), before)
}

/// [`serve`] by queue keys (resources and the plan key), or the whole
/// workspace's queue.
pub(super) fn serve_keys(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    keys: Option<&[String]>,
    before: Option<i64>,
) -> StoreResult<Served> {
    let mut served = Served::default();
    // Rows of waiters whose replica stopped renewing them, or whose wait
    // is over, go first.
    conn.prepare_cached(
        "DELETE FROM waiter_keys WHERE waiter_seq IN
             (SELECT seq FROM waiters
              WHERE workspace_id = ?1 AND (alive_until <= ?2 OR deadline_at <= ?2))",
    )?
    .execute(params![workspace_id, now.unix_millis()])?;
    conn.prepare_cached(
        "DELETE FROM waiters WHERE workspace_id = ?1 AND (alive_until <= ?2 OR deadline_at <= ?2)",
    )?
    .execute(params![workspace_id, now.unix_millis()])?;
    for waiter in waiting(conn, now, workspace_id, keys, before)? {
        let Some(start) = waiter.start else {
            // A row this server cannot read again: it gives up its place.
            leave(conn, waiter.seq)?;
            continue;
        };
        let reached = rules::closure(conn, workspace_id, &start.requested())?;
        let retry = Queueing::Retry { seq: waiter.seq };
        match start_one(conn, now, &waiter.agent, start, retry, reached) {
            Ok(StartOutcome::Answered(_)) => served.granted.push(waiter.seq),
            Ok(StartOutcome::Queued(_)) => {}
            // A waiter refused now (its agent deleted, say) leaves, and is
            // woken to learn why.
            Err(crate::store::StoreError::Refused(_)) => {
                leave(conn, waiter.seq)?;
                served.granted.push(waiter.seq);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(served)
}

/// The live waiters on any of `keys`, first come first.
fn waiting(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    keys: Option<&[String]>,
    before: Option<i64>,
) -> StoreResult<Vec<Waiter>> {
    // `?1` the workspace, `?2` the place before which to look, `?3` the
    // clock, then the keys.
    let keys = keys.unwrap_or_default();
    let on_keys = if keys.is_empty() {
        String::new()
    } else {
        let marks: Vec<String> = (4..4 + keys.len()).map(|i| format!("?{i}")).collect();
        format!(
            "AND w.seq IN (SELECT waiter_seq FROM waiter_keys
                           WHERE workspace_id = ?1 AND resource IN ({}))",
            marks.join(", ")
        )
    };
    let sql = format!(
        "SELECT w.seq, w.agent_id, w.agent_name, w.request FROM waiters w
         WHERE w.workspace_id = ?1 {on_keys}
           AND w.seq < ?2 AND w.alive_until > ?3 AND w.deadline_at > ?3
         ORDER BY w.seq LIMIT {SERVE_BATCH}"
    );
    let values = [
        rusqlite::types::Value::from(workspace_id.to_owned()),
        before.unwrap_or(i64::MAX).into(),
        now.unix_millis().into(),
    ]
    .into_iter()
    .chain(keys.iter().map(|k| k.clone().into()));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), |row| {
        let request: String = row.get(3)?;
        Ok(Waiter {
            seq: row.get(0)?,
            agent: AgentContext {
                agent_id: AgentId::new(row.get::<_, String>(1)?),
                agent_name: row.get(2)?,
                workspace_id: WorkspaceId::new(workspace_id),
                last_used_at: None,
            },
            start: QueuedStart::from_json(&request),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
