//! Activity and audit events, written in the same transaction as the change
//! they describe.

use availsync_types::Timestamp;
use rusqlite::{Connection, params};

use crate::domain::ids::{IdKind, new_id};
use crate::store::StoreError;
pub(super) use crate::store::event::{ActivityEvent, AuditEvent};

pub(super) fn record_activity(
    conn: &Connection,
    at: Timestamp,
    event: ActivityEvent<'_>,
) -> Result<(), StoreError> {
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

pub(super) fn record_audit(
    conn: &Connection,
    at: Timestamp,
    event: AuditEvent<'_>,
) -> Result<(), StoreError> {
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
