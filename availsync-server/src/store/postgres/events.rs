//! Writing activity and audit events, in the caller's transaction.

use availsync_types::Timestamp;
use deadpool_postgres::GenericClient;

use super::sql::execute;
use crate::domain::ids::{IdKind, new_id};
use crate::store::StoreError;
use crate::store::event::{ActivityEvent, AuditEvent};

pub(super) async fn record_activity<C: GenericClient>(
    client: &C,
    at: Timestamp,
    event: ActivityEvent<'_>,
) -> Result<(), StoreError> {
    execute(
        client,
        "INSERT INTO activity (id, workspace_id, at, agent_id, agent_name, kind, resource, decision, run_id, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &new_id(IdKind::Event),
            &event.workspace_id,
            &at.unix_millis(),
            &event.agent_id,
            &event.agent_name,
            &event.kind,
            &event.resource,
            &event.decision,
            &event.run_id,
            &event.detail,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn record_audit<C: GenericClient>(
    client: &C,
    at: Timestamp,
    event: AuditEvent<'_>,
) -> Result<(), StoreError> {
    let (actor_type, actor_id, actor_name) = event.actor.columns();
    execute(
        client,
        "INSERT INTO audit (id, workspace_id, at, actor_type, actor_id, actor_name, action, resource, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &new_id(IdKind::Event),
            &event.workspace_id,
            &at.unix_millis(),
            &actor_type,
            &actor_id,
            &actor_name,
            &event.action,
            &event.resource,
            &event.detail,
        ],
    )
    .await?;
    Ok(())
}
