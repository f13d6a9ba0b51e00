//! Work coordination: start, check, extend, finish, list.

use availsync_types::{
    CheckRequest, CheckResponse, ErrorBody, ExtendRunRequest, ExtendRunResponse, FinishRunRequest,
    FinishRunResponse, Mode, Page, ReleaseClaimResponse, Run, StartRunRequest, StartRunResponse,
    UpdateWorkingSetRequest, UpdateWorkingSetResponse,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;

use super::AppState;
use super::caller::{AgentKey, Caller, Human};
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery};
use super::paging::page_request;
use crate::domain::validate::{self, MAX_PURPOSE_CHARS, MAX_SUMMARY_CHARS};
use crate::store::{
    Check, ClaimId, ExtendRun, FinishRun, Listing, PathsChange, RunFilter, RunId, StartRun,
};

/// Header that stands in for `run_id` when the body has none.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Starts a run: claims the resource (`proceed`) or says why not (`skip_run`).
#[utoipa::path(post, path = "/v1/work/run/start", tag = "work", request_body = StartRunRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Acts as run_id when the body has none")),
    responses((status = 200, body = StartRunResponse, description = "A decision: proceed or skip_run"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "agent_key_required"),
              (status = 409, body = ErrorBody, description = "run_id_reused")),
    security(("agent_key" = [])))]
pub async fn start(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    headers: HeaderMap,
    ApiJson(request): ApiJson<StartRunRequest>,
) -> Result<Json<StartRunResponse>, ApiError> {
    let (resource, also) =
        validate::requested(request.resource.as_deref(), request.resources.as_deref())?;
    let ttl_seconds = validate::ttl_seconds(request.ttl_seconds)?;
    let run_id = match (request.run_id, headers.get(IDEMPOTENCY_KEY)) {
        (Some(run_id), _) => {
            validate::run_id("run_id", &run_id)?;
            RunId::new(run_id)
        }
        (None, Some(header)) => {
            let key = header.to_str().unwrap_or_default().to_owned();
            validate::run_id("Idempotency-Key", &key)?;
            RunId::new(key)
        }
        (None, None) => RunId::generate(),
    };
    let want = validate::want(&resource, &also, request.working_set, request.partial)?;
    let purpose = validate::optional_text("purpose", request.purpose, MAX_PURPOSE_CHARS)?;
    let wait = validate::wait_seconds(request.wait_seconds)?;
    let observe_requested = request.mode == Some(Mode::Observe);
    let start = StartRun {
        resource,
        ttl_seconds,
        run_id,
        purpose,
        observe_requested,
        metadata: request.metadata,
        want,
        also,
    };
    let answer = match wait {
        // Observe runs are never told to skip, so they never wait.
        Some(wait) => state.services.waits.start_run(&agent, start, wait).await?,
        None => state.store().start_run(&agent, start).await?,
    };
    if !answer.replayed {
        crate::metrics::global().decision(answer.decision.as_str(), answer.mode.as_str());
    }
    Ok(Json(answer))
}

/// Whether a resource is free now; changes nothing.
#[utoipa::path(post, path = "/v1/work/check", tag = "work", request_body = CheckRequest,
    responses((status = 200, body = CheckResponse), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    let (resource, also) =
        validate::requested(request.resource.as_deref(), request.resources.as_deref())?;
    let want = validate::want(&resource, &also, request.working_set, None)?;
    let check = Check {
        resource,
        also,
        want,
    };
    let answer = state.store().check_resource(&caller, check).await?;
    Ok(Json(answer))
}

/// Adds paths to, or removes paths from, a run's live working-set claim
/// (SPEC §10), atomically; the fencing token stays.
#[utoipa::path(post, path = "/v1/work/run/working-set", tag = "work",
    request_body = UpdateWorkingSetRequest,
    responses((status = 200, body = UpdateWorkingSetResponse),
              (status = 400, body = ErrorBody, description = "invalid_working_set"),
              (status = 404, body = ErrorBody, description = "No such run of this agent"),
              (status = 409, body = ErrorBody, description = "paths_claimed (nothing changed) or lease_lost")),
    security(("agent_key" = [])))]
pub async fn change_paths(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    ApiJson(request): ApiJson<UpdateWorkingSetRequest>,
) -> Result<Json<UpdateWorkingSetResponse>, ApiError> {
    validate::run_id("run_id", &request.run_id)?;
    let list = |field: &'static str, raw: Option<Vec<String>>| match raw {
        Some(raw) if !raw.is_empty() => validate::paths(field, &raw),
        _ => Ok(Vec::new()),
    };
    let change = PathsChange {
        run_id: RunId::new(request.run_id),
        add: list("add", request.add)?,
        remove: list("remove", request.remove)?,
        partial: request.partial.unwrap_or(false),
    };
    Ok(Json(state.store().change_paths(&agent, change).await?))
}

/// Extends a run's lease to now + ttl.
#[utoipa::path(post, path = "/v1/work/run/extend", tag = "work", request_body = ExtendRunRequest,
    responses((status = 200, body = ExtendRunResponse),
              (status = 404, body = ErrorBody, description = "No such run of this agent"),
              (status = 409, body = ErrorBody, description = "lease_lost: expired, finished or released")),
    security(("agent_key" = [])))]
pub async fn extend(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    ApiJson(request): ApiJson<ExtendRunRequest>,
) -> Result<Json<ExtendRunResponse>, ApiError> {
    validate::run_id("run_id", &request.run_id)?;
    let ttl = request
        .ttl_seconds
        .map(|ttl| validate::ttl_seconds(Some(ttl)))
        .transpose()?;
    let extend = ExtendRun {
        run_id: RunId::new(request.run_id),
        ttl_seconds: ttl,
    };
    let answer = state.store().extend_run(&agent, extend).await;
    match &answer {
        Ok(_) => crate::metrics::global().extend(false),
        Err(crate::store::StoreError::Refused(crate::store::Refusal::LeaseLost { .. })) => {
            crate::metrics::global().extend(true);
        }
        Err(_) => {}
    }
    Ok(Json(answer?))
}

/// Finishes a run and releases its lease. Idempotent.
#[utoipa::path(post, path = "/v1/work/run/finish", tag = "work", request_body = FinishRunRequest,
    responses((status = 200, body = FinishRunResponse), (status = 404, body = ErrorBody)),
    security(("agent_key" = [])))]
pub async fn finish(
    State(state): State<AppState>,
    AgentKey(agent): AgentKey,
    ApiJson(request): ApiJson<FinishRunRequest>,
) -> Result<Json<FinishRunResponse>, ApiError> {
    validate::run_id("run_id", &request.run_id)?;
    let summary = validate::optional_text("summary", request.summary, MAX_SUMMARY_CHARS)?;
    let answer = state
        .store()
        .finish_run(
            &agent,
            FinishRun {
                run_id: RunId::new(request.run_id),
                outcome: request.outcome,
                summary,
            },
        )
        .await?;
    Ok(Json(answer))
}

/// Ends a run's lease on a human's order (the dashboard's "release").
/// Idempotent: a claim that has already ended answers `released: false`.
#[utoipa::path(post, path = "/v1/work/claims/{claim_id}/release", tag = "work",
    params(("claim_id" = String, Path, description = "clm_…")),
    responses((status = 200, body = ReleaseClaimResponse,
               description = "The claim has ended; `released` says whether this call ended it"),
              (status = 403, body = ErrorBody, description = "agent_key_not_allowed"),
              (status = 404, body = ErrorBody, description = "No such claim in this workspace")),
    security(("session_cookie" = [])))]
pub async fn release_claim(
    State(state): State<AppState>,
    Human(session): Human,
    Path(claim_id): Path<String>,
) -> Result<Json<ReleaseClaimResponse>, ApiError> {
    let claim_id = ClaimId::new(claim_id);
    let answer = state.store().release_claim(&session, &claim_id).await?;
    Ok(Json(answer))
}

/// Query of `GET /v1/work/runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// `active` (holding a live lease) or `all` (default).
    status: Option<String>,
    /// Only runs on this resource.
    resource: Option<String>,
    /// 1-200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The workspace's runs, newest first.
#[utoipa::path(get, path = "/v1/work/runs", tag = "work", params(RunsQuery),
    responses((status = 200, body = Page<Run>), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Json<Page<Run>>, ApiError> {
    let active_only = super::paging::status_filter(query.status.as_deref())?;
    let resource = validate::optional_resource("resource", query.resource.as_deref())?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let runs = state
        .store()
        .list_runs(Listing {
            workspace_id: caller.workspace(),
            filter: RunFilter {
                active_only,
                resource,
            },
            page,
        })
        .await?;
    Ok(Json(runs))
}
