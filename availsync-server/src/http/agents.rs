//! Agents and their keys (humans only).

use availsync_types::{
    Agent, AgentResponse, AgentWithKey, CreateAgentRequest, ErrorBody, Mode, Page,
    UpdateAgentRequest,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::caller::Human;
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery};
use super::paging::{PageQuery, page_request};
use crate::domain::secrets::{Secret, key_prefix, new_api_key};
use crate::domain::validate;
use crate::store::{AgentUpdate, NewAgent, NewKey, SessionContext};

fn new_key() -> (Secret, NewKey) {
    let key = new_api_key();
    let stored = NewKey {
        key_hash: key.hash(),
        key_prefix: key_prefix(&key),
    };
    (key, stored)
}

/// An answer carrying a key: shown once, never cached.
fn with_key(status: StatusCode, agent: Agent, key: &Secret) -> Response {
    let mut response = (
        status,
        Json(AgentWithKey {
            agent,
            api_key: key.expose().to_owned(),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Creates an agent and shows its API key, once.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = CreateAgentRequest,
    responses((status = 201, body = AgentWithKey, description = "The only time the key is shown"),
              (status = 402, body = ErrorBody, description = "plan_limit_agents"), (status = 400, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Human(session): Human,
    ApiJson(request): ApiJson<CreateAgentRequest>,
) -> Result<Response, ApiError> {
    let (agent, key) = create_agent(&state, &session, request).await?;
    Ok(with_key(StatusCode::CREATED, agent, &key))
}

/// Validates and creates an agent with a new key: the rules behind
/// `POST /v1/agents`, shared with the dashboard. The key is answered once
/// and kept nowhere.
pub(crate) async fn create_agent(
    state: &AppState,
    session: &SessionContext,
    request: CreateAgentRequest,
) -> Result<(Agent, Secret), ApiError> {
    let name = validate::name("name", &request.name)?;
    let (key, stored) = new_key();
    let agent = state
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

/// The workspace's agents, newest first; never their keys.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", params(PageQuery),
    responses((status = 200, body = Page<Agent>), (status = 400, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Human(session): Human,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<Agent>>, ApiError> {
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let agents = state.store.list_agents(&session.workspace.id, page).await?;
    Ok(Json(agents))
}

/// Renames an agent or changes its mode.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents", request_body = UpdateAgentRequest,
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 200, body = AgentResponse), (status = 404, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Human(session): Human,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateAgentRequest>,
) -> Result<Json<AgentResponse>, ApiError> {
    let agent = update_agent(&state, &session, &id, request).await?;
    Ok(Json(AgentResponse { agent }))
}

/// Validates and applies a rename or mode change: the rules behind
/// `PATCH /v1/agents/{id}`, shared with the dashboard.
pub(crate) async fn update_agent(
    state: &AppState,
    session: &SessionContext,
    id: &str,
    request: UpdateAgentRequest,
) -> Result<Agent, ApiError> {
    let name = request
        .name
        .as_deref()
        .map(|n| validate::name("name", n))
        .transpose()?;
    Ok(state
        .store
        .update_agent(
            session,
            id,
            AgentUpdate {
                name,
                mode: request.mode,
            },
        )
        .await?)
}

/// Replaces an agent's key; the old key stops working at once.
#[utoipa::path(post, path = "/v1/agents/{id}/rotate-key", tag = "agents",
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 200, body = AgentWithKey, description = "The only time the new key is shown"),
              (status = 404, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn rotate_key(
    State(state): State<AppState>,
    Human(session): Human,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (agent, key) = rotate_agent_key(&state, &session, &id).await?;
    Ok(with_key(StatusCode::OK, agent, &key))
}

/// Gives an agent a new key, answered once: the rules behind
/// `POST /v1/agents/{id}/rotate-key`, shared with the dashboard.
pub(crate) async fn rotate_agent_key(
    state: &AppState,
    session: &SessionContext,
    id: &str,
) -> Result<(Agent, Secret), ApiError> {
    let (key, stored) = new_key();
    let agent = state.store.rotate_agent_key(session, id, stored).await?;
    Ok((agent, key))
}

/// Deletes an agent: its key stops working, its live claims are released.
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Human(session): Human,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_agent(&session, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
