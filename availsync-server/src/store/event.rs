//! Activity and audit events as rows: borrowed views of the domain's
//! [`Activity`] and [`Audit`] that every backend writes, in the same
//! transaction as the change they describe.

use serde_json::Value;

pub use crate::domain::events::{Activity, Audit, Events};
use crate::store::Actor;

/// An activity event's columns.
#[derive(Debug)]
pub struct ActivityEvent<'a> {
    /// The workspace.
    pub workspace_id: &'a str,
    /// The agent that called, if an agent did.
    pub agent_id: Option<&'a str>,
    /// Its name.
    pub agent_name: Option<&'a str>,
    /// The kind, as stored.
    pub kind: &'static str,
    /// The resource.
    pub resource: Option<&'a str>,
    /// `proceed` or `skip_run`, for starts.
    pub decision: Option<&'static str>,
    /// The run.
    pub run_id: Option<&'a str>,
    /// Kind-specific detail.
    pub detail: &'a Value,
}

/// An audit event's columns.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    /// The workspace (none for failed logins of unknown emails).
    pub workspace_id: Option<&'a str>,
    /// Who did it.
    pub actor: &'a Actor,
    /// The action, as stored.
    pub action: &'static str,
    /// The resource.
    pub resource: Option<&'a str>,
    /// Action-specific detail.
    pub detail: &'a Value,
}

impl<'a> From<&'a Activity> for ActivityEvent<'a> {
    fn from(event: &'a Activity) -> Self {
        Self {
            workspace_id: &event.workspace_id,
            agent_id: event.agent_id.as_deref(),
            agent_name: event.agent_name.as_deref(),
            kind: event.kind.as_str(),
            resource: event.resource.as_deref(),
            decision: event.decision.map(|d| d.as_str()),
            run_id: event.run_id.as_deref(),
            detail: &event.detail,
        }
    }
}

impl<'a> From<&'a Audit> for AuditEvent<'a> {
    fn from(event: &'a Audit) -> Self {
        Self {
            workspace_id: event.workspace_id.as_deref(),
            actor: &event.actor,
            action: event.action.as_str(),
            resource: event.resource.as_deref(),
            detail: &event.detail,
        }
    }
}
