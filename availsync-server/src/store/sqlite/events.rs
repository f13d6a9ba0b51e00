//! Activity and audit events, written in the same transaction as the change
//! they describe.

use availsync_types::Timestamp;
use rusqlite::{Connection, params};
use serde_json::Value;

use crate::domain::ids::{IdKind, new_id};
use crate::store::{Actor, StoreError};

/// One runtime-traffic event.
pub(super) struct ActivityEvent<'a> {
    pub workspace_id: &'a str,
    pub agent_id: Option<&'a str>,
    pub agent_name: Option<&'a str>,
    pub kind: &'static str,
    pub resource: Option<&'a str>,
    pub decision: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub detail: Value,
}

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

/// One governance event.
pub(super) struct AuditEvent<'a> {
    pub workspace_id: Option<&'a str>,
    pub actor: &'a Actor,
    pub action: &'static str,
    pub resource: Option<&'a str>,
    pub detail: Value,
}

pub(super) fn record_audit(
    conn: &Connection,
    at: Timestamp,
    event: AuditEvent<'_>,
) -> Result<(), StoreError> {
    let (actor_type, actor_id, actor_name) = match event.actor {
        Actor::User { id, name } => ("user", Some(id.as_str()), Some(name.as_str())),
        Actor::Agent { id, name } => ("agent", Some(id.as_str()), Some(name.as_str())),
        Actor::System => ("system", None, None),
    };
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
