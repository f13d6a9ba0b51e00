//! Agents and their keys (humans only).

use availsync_types::{
    Agent, AgentResponse, AgentWithKey, CreateAgentRequest, ErrorBody, Page, UpdateAgentRequest,
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
use crate::app;
use crate::domain::secrets::Secret;
use crate::store::{AgentId, Listing};

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
    let (agent, key) = app::agents::create_agent(&state.services, &session, request).await?;
    Ok(with_key(StatusCode::CREATED, agent, &key))
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
    let agents = state
        .store()
        .list_agents(Listing {
            workspace_id: session.workspace_id(),
            filter: (),
            page,
        })
        .await?;
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
    Path(id): Path<AgentId>,
    ApiJson(request): ApiJson<UpdateAgentRequest>,
) -> Result<Json<AgentResponse>, ApiError> {
    let agent = app::agents::update_agent(&state.services, &session, id, request).await?;
    Ok(Json(AgentResponse { agent }))
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
    Path(id): Path<AgentId>,
) -> Result<Response, ApiError> {
    let (agent, key) = app::agents::rotate_agent_key(&state.services, &session, id).await?;
    Ok(with_key(StatusCode::OK, agent, &key))
}

/// Deletes an agent: its key stops working, its live claims are released.
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "agt_…")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Human(session): Human,
    Path(id): Path<AgentId>,
) -> Result<StatusCode, ApiError> {
    state.store().delete_agent(&session, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
