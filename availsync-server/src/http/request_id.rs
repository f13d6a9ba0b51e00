//! `X-Request-Id` on every response, a per-request deadline, and the answers
//! for unknown routes, wrong methods and panics — all in the error envelope.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use availsync_types::{ErrorCode, REQUEST_ID_HEADER};
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::domain::ids::{IdKind, new_id};

tokio::task_local! {
    static REQUEST_ID: String;
    static DEADLINE: Arc<Mutex<Instant>>;
}

/// Longest a request may take before it is answered `503 unavailable`,
/// beyond any time it asked to wait ([`allow_waiting`]).
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Gives the request being handled `wait` more time before its deadline:
/// a start that waits on purpose (SPEC §13) is not cut off by it.
pub fn allow_waiting(wait: Duration) {
    let _ = DEADLINE.try_with(|deadline| {
        let mut deadline = deadline.lock().unwrap_or_else(PoisonError::into_inner);
        *deadline = (Instant::now() + wait + REQUEST_DEADLINE).max(*deadline);
    });
}

/// Runs `handling` until it answers or its deadline (which
/// [`allow_waiting`] may push back) passes.
async fn within_deadline<F: std::future::Future<Output = Response>>(
    deadline: Arc<Mutex<Instant>>,
    handling: F,
) -> Option<Response> {
    let read = |d: &Mutex<Instant>| *d.lock().unwrap_or_else(PoisonError::into_inner);
    let mut handling = std::pin::pin!(handling);
    loop {
        let at = read(&deadline);
        tokio::select! {
            response = &mut handling => return Some(response),
            () = tokio::time::sleep_until(at) => {
                if read(&deadline) <= at {
                    return None;
                }
            }
        }
    }
}

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
    let deadline = Arc::new(Mutex::new(Instant::now() + REQUEST_DEADLINE));
    let handling = DEADLINE.scope(Arc::clone(&deadline), next.run(request));
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            match within_deadline(deadline, handling).await {
                Some(response) => response,
                None => ApiError::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer_after(after: Duration, wait: Option<Duration>) -> Option<Response> {
        let deadline = Arc::new(Mutex::new(Instant::now() + REQUEST_DEADLINE));
        let handling = DEADLINE.scope(Arc::clone(&deadline), async move {
            if let Some(wait) = wait {
                allow_waiting(wait);
            }
            tokio::time::sleep(after).await;
            ().into_response()
        });
        within_deadline(deadline, handling).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_waits_on_purpose_gets_its_wait_on_top_of_the_deadline() {
        let long = Duration::from_secs(45);
        assert!(answer_after(long, None).await.is_none());
        assert!(
            answer_after(long, Some(Duration::from_secs(60)))
                .await
                .is_some()
        );
        let too_long = Duration::from_secs(60) + REQUEST_DEADLINE + Duration::from_secs(1);
        assert!(
            answer_after(too_long, Some(Duration::from_secs(60)))
                .await
                .is_none()
        );
        assert!(answer_after(Duration::from_secs(1), None).await.is_some());
    }
}
