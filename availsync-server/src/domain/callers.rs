//! Who calls: a signed-in human or an agent with its key, and how each is
//! named in the audit log.

use availsync_types::{Timestamp, User, Workspace};

use super::ids::{AgentId, UserId, WorkspaceId};

/// Who changed something, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A human user.
    User {
        /// `usr_…`
        id: String,
        /// The user's email.
        name: String,
    },
    /// An agent.
    Agent {
        /// `agt_…`
        id: String,
        /// The agent's name.
        name: String,
    },
    /// The server itself (expiry, sweeps).
    System,
}

/// A signed-in human.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The user.
    pub user: User,
    /// The user's workspace.
    pub workspace: Workspace,
    /// The session's token hash.
    pub token_hash: Vec<u8>,
}

impl SessionContext {
    /// The user's workspace's id.
    pub fn workspace_id(&self) -> WorkspaceId {
        WorkspaceId::new(self.workspace.id.as_str())
    }

    /// The user as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.user.id.clone(),
            name: self.user.email.clone(),
        }
    }
}

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct AgentContext {
    /// `agt_…`
    pub agent_id: AgentId,
    /// Its name.
    pub agent_name: String,
    /// Its workspace.
    pub workspace_id: WorkspaceId,
    /// When its key was last used.
    pub last_used_at: Option<Timestamp>,
}

impl AgentContext {
    /// The agent as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor::Agent {
            id: self.agent_id.to_string(),
            name: self.agent_name.clone(),
        }
    }
}

/// An authenticated caller: a human with a session, or an agent with its key.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A human with a live session.
    Human(SessionContext),
    /// An agent with a live key.
    Agent(AgentContext),
}

impl Principal {
    /// The caller's workspace.
    pub fn workspace_id(&self) -> &str {
        match self {
            Self::Human(s) => &s.workspace.id,
            Self::Agent(a) => &a.workspace_id,
        }
    }

    /// The caller's workspace, as a typed id.
    pub fn workspace(&self) -> WorkspaceId {
        match self {
            Self::Human(s) => s.workspace_id(),
            Self::Agent(a) => a.workspace_id.clone(),
        }
    }

    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor {
        match self {
            Self::Human(s) => s.actor(),
            Self::Agent(a) => a.actor(),
        }
    }
}

/// A user's stored password hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `usr_…`
    pub user_id: UserId,
    /// The user's email.
    pub email: String,
    /// The user's workspace.
    pub workspace_id: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl Credentials {
    /// The user as an audit actor.
    pub fn actor(&self) -> Actor {
        Actor::User {
            id: self.user_id.to_string(),
            name: self.email.clone(),
        }
    }
}
