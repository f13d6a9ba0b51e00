//! Human sign-up, log-in, log-out and session.

use availsync_types::{
    AuthResponse, ErrorBody, ErrorCode, LoginRequest, PlanInfo, SESSION_COOKIE, SessionResponse,
    SignupRequest,
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
use crate::domain::login_throttle::Verdict;
use crate::domain::password::{hash_password, verify_password};
use crate::domain::secrets::{Secret, new_session_token};
use crate::domain::validate;
use crate::store::{NewSession, NewSignup, SessionContext};

impl AppState {
    fn new_session(&self) -> (Secret, NewSession) {
        let token = new_session_token();
        let session = NewSession {
            token_hash: token.hash(),
            ttl_ms: i64::try_from(self.config.session_ttl.as_millis()).unwrap_or(i64::MAX),
        };
        (token, session)
    }

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
    let (token, ctx) = sign_up(&state, client, request).await?;
    Ok(state.signed_in(StatusCode::CREATED, &token, ctx))
}

/// Validates a sign-up, hashes the password and creates the workspace, its
/// user and a session: the rules behind `POST /v1/auth/signup`, shared with
/// the dashboard's sign-up form.
pub(crate) async fn sign_up(
    state: &AppState,
    client: ClientAddr,
    request: SignupRequest,
) -> Result<(Secret, SessionContext), ApiError> {
    let email_norm = validate::email(&request.email)?;
    validate::new_password(&request.password)?;
    let workspace_name = validate::name("workspace_name", &request.workspace_name)?;
    state
        .signups
        .admit(&client.key(), std::time::Instant::now())
        .map_err(|retry_after| {
            ApiError::new(
                ErrorCode::RateLimited,
                "too many sign-ups from this address; wait before trying again",
            )
            .with_retry_after(retry_after)
        })?;
    let password = request.password;
    let password_hash = state
        .hashing
        .run(move || hash_password(&password))
        .await?
        .map_err(ApiError::internal)?;
    let (token, session) = state.new_session();
    let ctx = state
        .store
        .signup(NewSignup {
            email: request.email,
            email_norm,
            password_hash,
            workspace_name,
            session,
        })
        .await?;
    Ok((token, ctx))
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
    let (token, ctx) = log_in(&state, client, request).await?;
    Ok(state.signed_in(StatusCode::OK, &token, ctx))
}

/// Checks the throttle and the password and opens a session: the rules
/// behind `POST /v1/auth/login`, shared with the dashboard's log-in form.
pub(crate) async fn log_in(
    state: &AppState,
    client: ClientAddr,
    request: LoginRequest,
) -> Result<(Secret, SessionContext), ApiError> {
    let email_norm = validate::normalise_email(&request.email);
    let client = client.key();
    let failures = state
        .store
        .recent_login_failures(&email_norm, &client)
        .await?;
    match failures.verdict() {
        Verdict::Refuse { retry_after } => {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                "too many failed logins from this address; wait before trying again",
            )
            .with_retry_after(retry_after));
        }
        Verdict::Check { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        Verdict::Check { .. } => {}
    }
    let credentials = state.store.login_credentials(&email_norm).await?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let password = request.password;
    let verified = state
        .hashing
        .run(move || verify_password(&password, stored_hash.as_deref()))
        .await?;
    let user = match (verified, credentials) {
        (true, Some(user)) => user,
        (_, credentials) => {
            state
                .store
                .record_login_failure(&email_norm, &client, credentials)
                .await?;
            return Err(ApiError::unauthenticated("the email or password is wrong"));
        }
    };
    let (token, session) = state.new_session();
    let ctx = state.store.login(&user.user_id, &client, session).await?;
    Ok((token, ctx))
}

/// Ends the session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the cookie is cleared"), (status = 401, body = ErrorBody)),
    security(("session_cookie" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    Human(session): Human,
) -> Result<Response, ApiError> {
    state.store.logout(&session).await?;
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
