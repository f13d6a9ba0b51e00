//! Creating, changing and re-keying agents. A new key is answered once and
//! kept nowhere but as its hash.

use availsync_types::{Agent, CreateAgentRequest, Mode, UpdateAgentRequest};

use super::{AppError, Services};
use crate::domain::secrets::{Secret, key_prefix, new_api_key};
use crate::domain::validate;
use crate::store::{AgentId, AgentUpdate, KeyRotation, NewAgent, NewKey, SessionContext};

/// A new key, and what the store keeps of it.
fn new_key() -> (Secret, NewKey) {
    let key = new_api_key();
    let stored = NewKey {
        key_hash: key.hash(),
        key_prefix: key_prefix(&key),
    };
    (key, stored)
}

/// Validates and creates an agent with a new key: the rules behind
/// `POST /v1/agents` and the dashboard's form.
pub async fn create_agent(
    services: &Services,
    session: &SessionContext,
    request: CreateAgentRequest,
) -> Result<(Agent, Secret), AppError> {
    let name = validate::name("name", &request.name)?;
    let (key, stored) = new_key();
    let agent = services
        .store
        .create_agent(
            session,
            NewAgent {
                name,
                mode: request.mode.unwrap_or(Mode::Enforce),
                key: stored,
            },
        )
        .await?;
    Ok((agent, key))
}

/// Validates and applies a rename or mode change: the rules behind
/// `PATCH /v1/agents/{id}` and the dashboard's mode switch.
pub async fn update_agent(
    services: &Services,
    session: &SessionContext,
    id: AgentId,
    request: UpdateAgentRequest,
) -> Result<Agent, AppError> {
    let name = request
        .name
        .as_deref()
        .map(|n| validate::name("name", n))
        .transpose()?;
    Ok(services
        .store
        .update_agent(
            session,
            AgentUpdate {
                agent_id: id,
                name,
                mode: request.mode,
            },
        )
        .await?)
}

/// Gives an agent a new key, answered once: the rules behind
/// `POST /v1/agents/{id}/rotate-key` and the dashboard's button.
pub async fn rotate_agent_key(
    services: &Services,
    session: &SessionContext,
    id: AgentId,
) -> Result<(Agent, Secret), AppError> {
    let (key, stored) = new_key();
    let rotation = KeyRotation {
        agent_id: id,
        key: stored,
    };
    let agent = services.store.rotate_agent_key(session, rotation).await?;
    Ok((agent, key))
}
