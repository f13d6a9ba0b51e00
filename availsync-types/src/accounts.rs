//! Workspaces, users, sessions, plans and agents.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Mode, Timestamp};

/// A workspace's plan, which sets its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Plan {
    /// 3 agents, 3 active work claims.
    Free,
    /// 25 agents, 100 active work claims.
    Team,
    /// No limits.
    Business,
}

impl Plan {
    /// The plan's name as written on the wire and in the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Team => "team",
            Self::Business => "business",
        }
    }

    /// The plan's limits.
    ///
    /// ```
    /// use availsync_types::Plan;
    /// assert_eq!(Plan::Free.limits().agents, Some(3));
    /// assert_eq!(Plan::Business.limits().active_claims, None);
    /// ```
    pub const fn limits(self) -> PlanLimits {
        match self {
            Self::Free => PlanLimits {
                agents: Some(3),
                active_claims: Some(3),
            },
            Self::Team => PlanLimits {
                agents: Some(25),
                active_claims: Some(100),
            },
            Self::Business => PlanLimits {
                agents: None,
                active_claims: None,
            },
        }
    }
}

/// A string that is not a plan name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan '{0}': expected free, team or business")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Self::Free),
            "team" => Ok(Self::Team),
            "business" => Ok(Self::Business),
            other => Err(UnknownPlan(other.to_owned())),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A plan's limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanLimits {
    /// Most agents the workspace may have.
    pub agents: Option<u32>,
    /// Most live work claims the workspace may hold at once.
    pub active_claims: Option<u32>,
}

/// A workspace: the admin account of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Workspace {
    /// `ws_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Current plan.
    pub plan: Plan,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A human user of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// `usr_…`
    pub id: String,
    /// The email as given at signup.
    pub email: String,
    /// The user's workspace.
    pub workspace_id: String,
    /// When the user signed up.
    pub created_at: Timestamp,
}

/// `POST /v1/auth/signup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Login email; compared case-insensitively.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 254,
            pattern = r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f]([^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub email: String,
    /// 10-1024 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 10, max_length = 1024))]
    pub password: String,
    /// Name of the new workspace, 1-100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub workspace_name: String,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login email; compared case-insensitively.
    pub email: String,
    /// The password.
    pub password: String,
}

/// Answer to signup and login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    /// The signed-in user.
    pub user: User,
    /// The user's workspace.
    pub workspace: Workspace,
}

/// `GET /v1/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    /// The signed-in user.
    pub user: User,
    /// The user's workspace.
    pub workspace: Workspace,
    /// The workspace's plan and its limits.
    pub plan: PlanInfo,
}

/// A plan with its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanInfo {
    /// The plan.
    pub name: Plan,
    /// Its limits.
    pub limits: PlanLimits,
}

/// An agent: a runtime identity with one API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agent {
    /// `agt_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// `enforce` or `observe`.
    pub mode: Mode,
    /// The first characters of the current key, to recognise it; never the key.
    pub key_prefix: String,
    /// When the agent was created.
    pub created_at: Timestamp,
    /// When its key was last used, if ever (refreshed at most once a minute).
    pub last_used_at: Option<Timestamp>,
}

/// `POST /v1/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAgentRequest {
    /// Display name, 1-100 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: String,
    /// Default `enforce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// `PATCH /v1/agents/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentRequest {
    /// New display name, 1-100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
        )
    )]
    pub name: Option<String>,
    /// New mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// An agent with its API key: the answer to create and rotate-key, the only
/// times the key is shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentWithKey {
    /// The agent.
    pub agent: Agent,
    /// The secret key (`avs_live_…`). Store it now: it is never shown again.
    pub api_key: String,
}

impl fmt::Debug for AgentWithKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentWithKey")
            .field("agent", &self.agent)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// `{agent}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentResponse {
    /// The agent.
    pub agent: Agent,
}
