//! Activity and audit events, written in the same transaction as the change
//! they describe.

use crate::store::StoreResult;
use availsync_types::Timestamp;
use rusqlite::{Connection, params};

use crate::domain::ids::{IdKind, new_id};
use crate::store::event::{ActivityEvent, AuditEvent, Events};

/// Writes a use case's events.
pub(super) fn record(conn: &Connection, at: Timestamp, events: &Events) -> StoreResult<()> {
    if let Some(activity) = &events.activity {
        record_activity(conn, at, activity.into())?;
    }
    for audit in &events.audits {
        record_audit(conn, at, audit.into())?;
    }
    Ok(())
}

fn record_activity(conn: &Connection, at: Timestamp, event: ActivityEvent<'_>) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO activity (id, workspace_id, at, agent_id, agent_name, kind, resource, decision, run_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        new_id(IdKind::Event),
        event.workspace_id,
        at.unix_millis(),
        event.agent_id,
        event.agent_name,
        event.kind,
        event.resource,
        event.decision,
        event.run_id,
        event.detail.to_string(),
    ])?;
    Ok(())
}

fn record_audit(conn: &Connection, at: Timestamp, event: AuditEvent<'_>) -> StoreResult<()> {
    let (actor_type, actor_id, actor_name) = event.actor.columns();
    conn.prepare_cached(
        "INSERT INTO audit (id, workspace_id, at, actor_type, actor_id, actor_name, action, resource, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        new_id(IdKind::Event),
        event.workspace_id,
        at.unix_millis(),
        actor_type,
        actor_id,
        actor_name,
        event.action,
        event.resource,
        event.detail.to_string(),
    ])?;
    Ok(())
}
