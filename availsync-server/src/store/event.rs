//! Activity and audit events as every backend writes them: in the same
//! transaction as the change they describe.

use serde_json::{Value, json};

use crate::store::{Actor, Principal};

/// One runtime-traffic event.
#[derive(Debug)]
pub struct ActivityEvent<'a> {
    /// The workspace.
    pub workspace_id: &'a str,
    /// The agent that called, if an agent did.
    pub agent_id: Option<&'a str>,
    /// Its name.
    pub agent_name: Option<&'a str>,
    /// One of the SPEC's activity kinds.
    pub kind: &'static str,
    /// The resource.
    pub resource: Option<&'a str>,
    /// `proceed` or `skip_run`, for starts.
    pub decision: Option<&'a str>,
    /// The run.
    pub run_id: Option<&'a str>,
    /// Kind-specific detail.
    pub detail: Value,
}

/// One governance event.
#[derive(Debug)]
pub struct AuditEvent<'a> {
    /// The workspace (none for failed logins of unknown emails).
    pub workspace_id: Option<&'a str>,
    /// Who did it.
    pub actor: &'a Actor,
    /// One of the SPEC's audit actions.
    pub action: &'static str,
    /// The resource.
    pub resource: Option<&'a str>,
    /// Action-specific detail.
    pub detail: Value,
}

impl Actor {
    /// `(type, id, name)` as stored.
    pub fn columns(&self) -> (&'static str, Option<&str>, Option<&str>) {
        match self {
            Actor::User { id, name } => ("user", Some(id.as_str()), Some(name.as_str())),
            Actor::Agent { id, name } => ("agent", Some(id.as_str()), Some(name.as_str())),
            Actor::System => ("system", None, None),
        }
    }
}

/// An activity event caused by `principal` on a schedulable resource: an
/// agent is named as such, a human by `user_id` in the detail.
pub fn schedule_activity<'a>(
    principal: &'a Principal,
    kind: &'static str,
    resource: &'a str,
    detail: Value,
) -> ActivityEvent<'a> {
    let (agent_id, agent_name) = match principal {
        Principal::Agent(a) => (Some(a.agent_id.as_str()), Some(a.agent_name.as_str())),
        Principal::Human(_) => (None, None),
    };
    let detail = match principal {
        Principal::Human(s) => {
            let mut detail = detail;
            if let Some(map) = detail.as_object_mut() {
                map.insert("user_id".into(), json!(s.user.id));
            }
            detail
        }
        Principal::Agent(_) => detail,
    };
    ActivityEvent {
        workspace_id: principal.workspace_id(),
        agent_id,
        agent_name,
        kind,
        resource: Some(resource),
        decision: None,
        run_id: None,
        detail,
    }
}
