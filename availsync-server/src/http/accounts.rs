//! Human sign-up, log-in, log-out and session.

use availsync_types::{
    AuthResponse, ErrorBody, LoginRequest, PlanInfo, SESSION_COOKIE, SessionResponse, SignupRequest,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::caller::{Human, NoAgentKey};
use super::client_addr::ClientAddr;
use super::error::ApiError;
use super::json::ApiJson;
use crate::app;
use crate::domain::secrets::Secret;
use crate::store::SessionContext;

impl AppState {
    /// The `Set-Cookie` value that signs a browser in with `token`.
    pub(crate) fn new_session_cookie(&self, token: &Secret) -> Option<HeaderValue> {
        self.session_cookie(token.expose(), self.config.session_ttl.as_secs())
    }

    /// The `Set-Cookie` value that clears the session cookie.
    pub(crate) fn cleared_session_cookie(&self) -> Option<HeaderValue> {
        self.session_cookie("", 0)
    }

    fn session_cookie(&self, value: &str, max_age_secs: u64) -> Option<HeaderValue> {
        let secure = if self.config.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
        ))
        .ok()
    }

    fn signed_in(&self, status: StatusCode, token: &Secret, ctx: SessionContext) -> Response {
        let mut response = (
            status,
            Json(AuthResponse {
                user: ctx.user,
                workspace: ctx.workspace,
            }),
        )
            .into_response();
        if let Some(cookie) = self.new_session_cookie(token) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// Creates a workspace and its first user, and signs in.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, body = AuthResponse, description = "Signed up; sets the session cookie"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "agent_key_not_allowed: an agent API key was sent"),
              (status = 409, body = ErrorBody, description = "email_taken"),
              (status = 429, body = ErrorBody, description = "Too many sign-ups from this client; see Retry-After"),
              (status = 503, body = ErrorBody, description = "Too many passwords being checked at once; see Retry-After")))]
pub async fn signup(
    State(state): State<AppState>,
    _: NoAgentKey,
    client: ClientAddr,
    ApiJson(request): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    let (token, ctx) = app::accounts::sign_up(&state.services, &client.key(), request).await?;
    Ok(state.signed_in(StatusCode::CREATED, &token, ctx))
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse, description = "Signed in; sets the session cookie"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "agent_key_not_allowed: an agent API key was sent"),
              (status = 429, body = ErrorBody, description = "Too many failures from this client; see Retry-After"),
              (status = 503, body = ErrorBody, description = "Too many passwords being checked at once; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    _: NoAgentKey,
    client: ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let (token, ctx) = app::accounts::log_in(&state.services, &client.key(), request).await?;
    Ok(state.signed_in(StatusCode::OK, &token, ctx))
}

/// Ends the session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the cookie is cleared"), (status = 401, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    Human(session): Human,
) -> Result<Response, ApiError> {
    state.store().logout(&session).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = state.cleared_session_cookie() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The signed-in user, workspace and plan.
#[utoipa::path(get, path = "/v1/session", tag = "auth",
    responses((status = 200, body = SessionResponse), (status = 401, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn session(Human(session): Human) -> Json<SessionResponse> {
    let plan = session.workspace.plan;
    Json(SessionResponse {
        user: session.user,
        workspace: session.workspace,
        plan: PlanInfo {
            name: plan,
            limits: plan.limits(),
        },
    })
}
