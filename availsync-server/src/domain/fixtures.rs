//! Callers and instants the domain's unit tests share.

use availsync_types::{Plan, Timestamp, User, Workspace};

use super::callers::{AgentContext, SessionContext};
use super::ids::{AgentId, WorkspaceId};

/// The instant `ms` milliseconds after the epoch.
pub fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

/// Agent `agt_1`, named `ci-bot`, of workspace `ws_1`.
pub fn agent() -> AgentContext {
    AgentContext {
        agent_id: AgentId::new("agt_1"),
        agent_name: "ci-bot".into(),
        workspace_id: WorkspaceId::new("ws_1"),
        last_used_at: None,
    }
}

/// User `usr_1` (`ana@example.com`), signed in to workspace `ws_1`
/// ("Acme") on `plan`.
pub fn human_on(plan: Plan) -> SessionContext {
    SessionContext {
        user: User {
            id: "usr_1".into(),
            email: "ana@example.com".into(),
            workspace_id: "ws_1".into(),
            created_at: at(0),
        },
        workspace: Workspace {
            id: "ws_1".into(),
            name: "Acme".into(),
            plan,
            created_at: at(0),
        },
        token_hash: vec![],
    }
}

/// [`human_on`] the free plan.
pub fn human() -> SessionContext {
    human_on(Plan::Free)
}
