//! Who is calling: a human with a session cookie, or an agent with its API
//! key. Extractors refuse the wrong kind of caller with the SPEC's 403s.

use availsync_types::{API_KEY_PREFIX, ErrorCode, SESSION_COOKIE};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::AppState;
use super::access_log::CallerSlot;
use super::error::ApiError;
use crate::domain::secrets::hash_secret;
use crate::store::{AgentContext, SessionContext};

/// An authenticated caller.
pub use crate::store::Principal as Caller;

/// A human caller; an agent key gets `403 agent_key_not_allowed`.
#[derive(Debug, Clone)]
pub struct Human(pub SessionContext);

/// An agent caller; a human session gets `403 agent_key_required`.
#[derive(Debug, Clone)]
pub struct AgentKey(pub AgentContext);

/// A caller without an agent key, for the endpoints that open a human
/// session (sign-up, log-in): `Authorization: Bearer avs_live_…` gets `403
/// agent_key_not_allowed` and no cookie, whether or not the key is valid.
#[derive(Debug, Clone, Copy)]
pub struct NoAgentKey;

/// The answer to an agent key on a human endpoint.
fn agent_key_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::AgentKeyNotAllowed,
        "agent API keys cannot use this endpoint; a workspace member must log in",
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = identify(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.set(match &caller {
                Caller::Agent(agent) => format!("agent:{}", agent.agent_id),
                Caller::Human(session) => format!("user:{}", session.user.id),
            });
        }
        Ok(caller)
    }
}

/// The caller a request's credentials name.
async fn identify(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        let key = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be 'Bearer <api key>'")
            })?;
        return agent_for_key(state, key).await.map(Caller::Agent);
    }
    if let Some(token) = session_cookie(&parts.headers) {
        let session = state
            .store()
            .session(&hash_secret(&token))
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated("the session has expired or was logged out; log in again")
            })?;
        check_origin(&parts.method, &parts.headers, &state.config.public_origin)?;
        return Ok(Caller::Human(session));
    }
    Err(ApiError::unauthenticated(
        "send an agent API key as 'Authorization: Bearer <key>' or log in",
    ))
}

async fn agent_for_key(state: &AppState, key: &str) -> Result<AgentContext, ApiError> {
    let rejected = || {
        ApiError::unauthenticated(
            "the API key is not valid: it may have been rotated, or its agent deleted",
        )
    };
    if !key.starts_with(API_KEY_PREFIX) {
        return Err(rejected());
    }
    let agent = state
        .store()
        .agent_by_key(&hash_secret(key))
        .await?
        .ok_or_else(rejected)?;
    state.note_key_use(&agent);
    Ok(agent)
}

/// Refuses a cookie-authenticated state change from another origin.
fn check_origin(method: &Method, headers: &HeaderMap, public_origin: &str) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok(origin)) if origin.trim_end_matches('/') == public_origin => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "cross-origin request refused: the Origin header does not match the server's public URL",
        )),
    }
}

/// The session token from the `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for Human {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Human(session) => Ok(Human(session)),
            Caller::Agent(_) => Err(agent_key_not_allowed()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NoAgentKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match bearer {
            Some(key) if key.starts_with(API_KEY_PREFIX) => Err(agent_key_not_allowed()),
            _ => Ok(NoAgentKey),
        }
    }
}

impl FromRequestParts<AppState> for AgentKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Agent(agent) => Ok(AgentKey(agent)),
            Caller::Human(_) => Err(ApiError::new(
                ErrorCode::AgentKeyRequired,
                "runs are started by agents: send an agent API key as 'Authorization: Bearer <key>'",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_checked_only_on_state_changes_that_name_one() {
        let mut headers = HeaderMap::new();
        let origin = "http://127.0.0.1:8787";
        assert!(check_origin(&Method::POST, &headers, origin).is_ok());
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(check_origin(&Method::GET, &headers, origin).is_ok());
        assert!(check_origin(&Method::POST, &headers, origin).is_err());
        headers.insert(header::ORIGIN, origin.parse().unwrap());
        assert!(check_origin(&Method::DELETE, &headers, origin).is_ok());
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; availsync_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("tok"));
    }
}
