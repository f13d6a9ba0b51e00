//! Scheduling coordination: availability, conflict previews and holds
//! (agents and humans; the holder is whoever created the hold).

use availsync_types::{
    AvailabilityResponse, ConflictsCheckRequest, ConflictsCheckResponse, CreateHoldRequest,
    ErrorBody, Hold, HoldResponse, Page, ResourceKey,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use super::json::{ApiJson, ApiQuery, decode_query};
use super::paging::page_request;
use crate::domain::schedule::{Slot, Window};
use crate::domain::validate::{self, MAX_PURPOSE_CHARS};
use crate::store::{HoldFilter, HoldId, Listing, NewHold};

/// Query of `GET /v1/availability`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Any resource key, e.g. `calendar:team-eng`.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f-\x9f]{1,200}$")]
    resource: String,
    /// Window start (RFC 3339).
    #[param(format = DateTime)]
    from: String,
    /// Window end (RFC 3339), after `from`, at most 31 days later.
    #[param(format = DateTime)]
    to: String,
}

/// Busy and free time of a resource within `[from, to)`.
#[utoipa::path(get, path = "/v1/availability", tag = "scheduling", params(AvailabilityQuery),
    responses((status = 200, body = AvailabilityResponse), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn availability(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AvailabilityQuery>,
) -> Result<Json<AvailabilityResponse>, ApiError> {
    let (resource, window) = query.validate()?;
    Ok(Json(
        state
            .store()
            .availability(&caller, Slot { resource, window })
            .await?,
    ))
}

impl AvailabilityQuery {
    fn validate(&self) -> Result<(ResourceKey, Window), ApiError> {
        let resource = validate::any_resource("resource", &self.resource)?;
        let window = validate::window("from", &self.from, "to", &self.to)?;
        Ok((resource, window))
    }
}

/// The resource and window of a `GET /v1/availability` query string
/// (without the `?`), or the error the endpoint answers for it.
///
/// ```
/// use availsync_server::parsers::availability_params;
///
/// let (resource, window) = availability_params(
///     "resource=calendar:eng&from=2026-12-01T09:00:00Z&to=2026-12-01T10:00:00Z",
/// )?;
/// assert_eq!(resource.as_str(), "calendar:eng");
/// assert!(window.start < window.end);
/// # Ok::<(), availsync_server::parsers::ApiError>(())
/// ```
pub fn availability_params(query: &str) -> Result<(ResourceKey, Window), ApiError> {
    decode_query::<AvailabilityQuery>(query)?.validate()
}

/// Whether a window overlaps live holds; changes nothing.
#[utoipa::path(post, path = "/v1/conflicts/check", tag = "scheduling", request_body = ConflictsCheckRequest,
    responses((status = 200, body = ConflictsCheckResponse), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn check_conflicts(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ConflictsCheckRequest>,
) -> Result<Json<ConflictsCheckResponse>, ApiError> {
    let resource = validate::any_resource("resource", &request.resource)?;
    let window = validate::window("start", &request.start, "end", &request.end)?;
    Ok(Json(
        state
            .store()
            .check_conflicts(&caller, Slot { resource, window })
            .await?,
    ))
}

/// Holds a window, atomically refusing any overlap with live holds.
#[utoipa::path(post, path = "/v1/holds", tag = "scheduling", request_body = CreateHoldRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Acts as idempotency_key when the body has none")),
    responses((status = 201, body = HoldResponse),
              (status = 409, body = ErrorBody, description = "hold_conflict, with error.conflicts"),
              (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn create_hold(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    ApiJson(request): ApiJson<CreateHoldRequest>,
) -> Result<(StatusCode, Json<HoldResponse>), ApiError> {
    let resource = validate::any_resource("resource", &request.resource)?;
    let window = validate::window("start", &request.start, "end", &request.end)?;
    let ttl_seconds = validate::hold_ttl(request.ttl_seconds)?;
    let purpose = validate::optional_text("purpose", request.purpose, MAX_PURPOSE_CHARS)?;
    let idempotency_key = match (request.idempotency_key, headers.get("idempotency-key")) {
        (Some(key), _) => {
            validate::run_id("idempotency_key", &key)?;
            Some(key)
        }
        (None, Some(header)) => {
            let key = header.to_str().unwrap_or_default().to_owned();
            validate::run_id("Idempotency-Key", &key)?;
            Some(key)
        }
        (None, None) => None,
    };
    let answer = state
        .store()
        .create_hold(
            &caller,
            NewHold {
                resource,
                window,
                purpose,
                ttl_seconds,
                idempotency_key,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Query of `GET /v1/holds`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoldsQuery {
    /// Only holds on this resource.
    resource: Option<String>,
    /// `active` (live holds only) or `all` (default).
    status: Option<String>,
    /// 1-200, default 50.
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The workspace's holds, newest first.
#[utoipa::path(get, path = "/v1/holds", tag = "scheduling", params(HoldsQuery),
    responses((status = 200, body = Page<Hold>), (status = 400, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn list_holds(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<HoldsQuery>,
) -> Result<Json<Page<Hold>>, ApiError> {
    let active_only = super::paging::status_filter(query.status.as_deref())?;
    let resource = validate::optional_resource("resource", query.resource.as_deref())?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    Ok(Json(
        state
            .store()
            .list_holds(Listing {
                workspace_id: caller.workspace(),
                filter: HoldFilter {
                    resource,
                    active_only,
                },
                page,
            })
            .await?,
    ))
}

/// Releases a hold. Releasing again answers 204 too.
#[utoipa::path(delete, path = "/v1/holds/{hold_id}", tag = "scheduling",
    params(("hold_id" = String, Path, description = "hold_…")),
    responses((status = 204, description = "Released (or already released)"),
              (status = 403, body = ErrorBody, description = "Another agent's hold"),
              (status = 404, body = ErrorBody)),
    security(("agent_key" = []), ("session_cookie" = [])))]
pub async fn release_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(hold_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hold_id = HoldId::new(hold_id);
    state.store().release_hold(&caller, &hold_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use availsync_types::{ErrorCode, MAX_WINDOW_MILLIS, Timestamp};
    use proptest::prelude::*;

    fn param() -> impl Strategy<Value = Option<(&'static str, String)>> {
        let time = prop_oneof![
            (1_700_000_000_000i64..1_700_000_000_000 + 2 * MAX_WINDOW_MILLIS)
                .prop_map(|m| Timestamp::from_unix_millis(m).to_string()),
            Just("2023-11-14T22:13:20Z".to_owned()),
            Just("2023-11-14T23:13:20%2B01:00".to_owned()),
            ".{0,8}",
        ];
        let resource = prop_oneof![
            Just("calendar:eng".to_owned()),
            Just("repo:a".to_owned()),
            ".{0,8}"
        ];
        prop_oneof![
            resource.prop_map(|r| Some(("resource", r))),
            time.clone().prop_map(|t| Some(("from", t))),
            time.prop_map(|t| Some(("to", t))),
            Just(Some(("limit", "5".to_owned()))),
            Just(None),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// `GET /v1/availability`'s query, as the endpoint parses it: an
        /// accepted window is ordered and at most 31 days long; a refusal is a
        /// 400 naming the parameter at fault.
        #[test]
        fn availability_queries_give_good_windows_or_name_the_fault(
            params in proptest::collection::vec(param(), 0..5),
        ) {
            let query = params
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            match availability_params(&query) {
                Ok((resource, window)) => {
                    prop_assert_eq!(resource.to_string().parse::<ResourceKey>().ok(), Some(resource));
                    prop_assert!(window.start < window.end, "{}", query);
                    prop_assert!(window.end.unix_millis() - window.start.unix_millis() <= MAX_WINDOW_MILLIS);
                }
                Err(e) => {
                    prop_assert_eq!(e.code().status(), 400);
                    let field = e.field().map(str::to_owned);
                    prop_assert!(field.is_some(), "{}: {}", query, e.message());
                    let field = field.unwrap_or_default();
                    let known = ["resource", "from", "to"];
                    match e.code() {
                        ErrorCode::InvalidWindow => prop_assert!(field == "from" || field == "to"),
                        ErrorCode::InvalidResource => prop_assert_eq!(field, "resource"),
                        // Any other parameter, whatever its name.
                        ErrorCode::UnknownField => prop_assert!(!known.contains(&field.as_str())),
                        ErrorCode::InvalidRequest => prop_assert!(known.contains(&field.as_str()), "{}", field),
                        other => prop_assert!(false, "{:?}", other),
                    }
                }
            }
        }
    }
}
