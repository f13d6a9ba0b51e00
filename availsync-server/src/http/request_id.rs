//! `X-Request-Id` on every response, a per-request deadline, and the answers
//! for unknown routes, wrong methods and panics — all in the error envelope.

use std::any::Any;
use std::time::Duration;

use availsync_types::{ErrorCode, REQUEST_ID_HEADER};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::domain::ids::{IdKind, new_id};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Longest a request may take before it is answered `503 unavailable`.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The id of the request being handled (a new one outside a request).
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| new_id(IdKind::Request))
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Middleware: echoes an acceptable incoming `X-Request-Id` or makes a new
/// one, makes it available to error answers, and bounds the request's time.
pub async fn middleware(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| new_id(IdKind::Request));
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            match tokio::time::timeout(REQUEST_DEADLINE, next.run(request)).await {
                Ok(response) => response,
                Err(_) => ApiError::new(
                    ErrorCode::Unavailable,
                    "the server could not answer in time; retry shortly",
                )
                .into_response(),
            }
        })
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Answer for paths that do not exist.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint; see /openapi.json")
}

/// Answer for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept this method; see /openapi.json",
    )
}

/// Answer when a handler panicked: a plain `500 internal`.
pub fn panic_response(cause: Box<dyn Any + Send + 'static>) -> Response {
    let detail = cause
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| cause.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}
