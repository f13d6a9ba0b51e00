//! Activity (agents and humans), audit (humans) and usage.

use availsync_types::{
    ActivityItem, ActivityKind, AuditAction, AuditItem, ErrorBody, Page, UsageRequest,
    UsageResponse,
};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use super::AppState;
use super::caller::{Caller, Human};
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery};
use super::paging::page_request;
use crate::domain::validate;
use crate::store::{ActivityFilter, AuditFilter, Listing, UsageQuery};

/// `value` as one of `known` (by its spelling), or an error naming them.
fn one_of<T: Copy + std::fmt::Display>(
    field: &str,
    value: Option<String>,
    known: &[T],
) -> Result<Option<T>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    known
        .iter()
        .copied()
        .find(|k| k.to_string() == value)
        .map(Some)
        .ok_or_else(|| {
            let names: Vec<String> = known.iter().map(ToString::to_string).collect();
            ApiError::invalid(
                field,
                format!(
                    "unknown {field} '{value}'; expected one of {}",
                    names.join(", ")
                ),
            )
        })
}

/// Validates the filters of an activity list (shared with the dashboard).
pub(crate) fn activity_filter(
    agent_id: Option<String>,
    resource: Option<&str>,
    kind: Option<String>,
) -> Result<ActivityFilter, ApiError> {
    Ok(ActivityFilter {
        agent_id,
        resource: validate::optional_resource("resource", resource)?,
        kind: one_of("kind", kind, &ActivityKind::ALL)?,
    })
}

/// Validates the filters of an audit list (shared with the dashboard).
pub(crate) fn audit_filter(
    actor_id: Option<String>,
    resource: Option<&str>,
    action: Option<String>,
) -> Result<AuditFilter, ApiError> {
    Ok(AuditFilter {
        actor_id,
        resource: validate::optional_resource("resource", resource)?,
        action: one_of("action", action, &AuditAction::ALL)?,
    })
}

/// Query of `GET /v1/activity`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only this agent's events.
    agent_id: Option<String>,
    /// Only events on this resource.
    resource: Option<String>,
    /// Only events of this kind.
    kind: Option<String>,
    /// 1-200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Runtime traffic: what agents called and what they were told, newest first.
#[utoipa::path(get, path = "/v1/activity", tag = "activity", params(ActivityQuery),
    responses((status = 200, body = Page<ActivityItem>), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn activity(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> Result<Json<Page<ActivityItem>>, ApiError> {
    let filter = activity_filter(query.agent_id, query.resource.as_deref(), query.kind)?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(
        state
            .store()
            .list_activity(Listing {
                workspace_id: caller.workspace(),
                filter,
                page,
            })
            .await?,
    ))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events by this actor (user or agent id).
    actor_id: Option<String>,
    /// Only events on this resource.
    resource: Option<String>,
    /// Only this action.
    action: Option<String>,
    /// 1-200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Governance events with their actor, newest first (humans only).
#[utoipa::path(get, path = "/v1/audit", tag = "activity", params(AuditQuery),
    responses((status = 200, body = Page<AuditItem>), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "agent_key_not_allowed")),
    security(("session_cookie" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    Human(session): Human,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditItem>>, ApiError> {
    let filter = audit_filter(query.actor_id, query.resource.as_deref(), query.action)?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(
        state
            .store()
            .list_audit(Listing {
                workspace_id: session.workspace_id(),
                filter,
                page,
            })
            .await?,
    ))
}

/// Usage against the plan's limits, and counts within `[since, until)`.
#[utoipa::path(post, path = "/v1/activity/usage", tag = "activity", request_body = UsageRequest,
    responses((status = 200, body = UsageResponse), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<UsageRequest>,
) -> Result<Json<UsageResponse>, ApiError> {
    let since = request
        .since
        .as_deref()
        .map(|s| validate::instant("since", s))
        .transpose()?;
    let until = request
        .until
        .as_deref()
        .map(|u| validate::instant("until", u))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        return Err(ApiError::from(validate::Invalid {
            kind: validate::InvalidKind::Window,
            field: "until".into(),
            message: "until must be after since".into(),
        }));
    }
    Ok(Json(
        state
            .store()
            .usage(UsageQuery {
                workspace_id: caller.workspace(),
                since,
                until,
            })
            .await?,
    ))
}
