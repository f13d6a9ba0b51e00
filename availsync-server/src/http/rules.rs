//! Rules (SPEC §11): humans write them, agents and humans read them.

use availsync_types::{CreateRuleRequest, ErrorBody, RuleList, RuleResponse, UpdateRuleRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::AppState;
use super::caller::{Caller, Human};
use super::error::ApiError;
use super::json::ApiJson;
use crate::domain::validate;
use crate::store::RuleId;

/// Declares a rule about a resource: what it depends on, its capacity, its
/// mode, its longest lease.
#[utoipa::path(post, path = "/v1/rules", tag = "rules", request_body = CreateRuleRequest,
    responses((status = 201, body = RuleResponse),
              (status = 400, body = ErrorBody, description = "invalid_request, rule_cycle or invalid_rule"),
              (status = 409, body = ErrorBody, description = "rule_exists")),
    security(("session_cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Human(session): Human,
    ApiJson(request): ApiJson<CreateRuleRequest>,
) -> Result<(StatusCode, Json<RuleResponse>), ApiError> {
    let resource = validate::any_resource("resource", &request.resource)?;
    let settings = validate::rule_settings(&request)?;
    let rule = state
        .store()
        .create_rule(&session, resource, settings)
        .await?;
    Ok((StatusCode::CREATED, Json(RuleResponse { rule })))
}

/// The workspace's rules, by resource.
#[utoipa::path(get, path = "/v1/rules", tag = "rules",
    responses((status = 200, body = RuleList)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RuleList>, ApiError> {
    let items = state.store().list_rules(&caller.workspace()).await?;
    Ok(Json(RuleList { items }))
}

/// Changes a rule; its resource never changes.
#[utoipa::path(patch, path = "/v1/rules/{rule_id}", tag = "rules", request_body = UpdateRuleRequest,
    params(("rule_id" = String, Path, description = "rul_…")),
    responses((status = 200, body = RuleResponse),
              (status = 400, body = ErrorBody, description = "invalid_request, rule_cycle or invalid_rule"),
              (status = 404, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Human(session): Human,
    Path(rule_id): Path<RuleId>,
    ApiJson(request): ApiJson<UpdateRuleRequest>,
) -> Result<Json<RuleResponse>, ApiError> {
    let change = validate::rule_change(&request)?;
    let rule = state
        .store()
        .update_rule(&session, &rule_id, change)
        .await?;
    Ok(Json(RuleResponse { rule }))
}

/// Deletes a rule: the next start on its resource goes by the defaults.
#[utoipa::path(delete, path = "/v1/rules/{rule_id}", tag = "rules",
    params(("rule_id" = String, Path, description = "rul_…")),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Human(session): Human,
    Path(rule_id): Path<RuleId>,
) -> Result<StatusCode, ApiError> {
    state.store().delete_rule(&session, &rule_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
