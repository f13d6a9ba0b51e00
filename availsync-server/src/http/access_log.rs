//! One access-log line per request at INFO, and the HTTP metrics: method,
//! route template, path, status, latency, request id and who called
//! (`agent:agt_…` or `user:usr_…`). The query string is never logged, and
//! anything shaped like an agent key (`avs_live_…`) in the path is
//! redacted, so a key pasted into a URL by mistake does not reach the logs.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::request_id;
use availsync_types::API_KEY_PREFIX;

/// Where the caller extractor notes who called, for the access line.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<String>>>);

impl CallerSlot {
    /// Notes the caller, as `agent:agt_…` or `user:usr_…`.
    pub fn set(&self, who: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(who);
    }

    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Middleware: logs the request once answered and counts it.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let path = redact_keys(request.uri().path());
    let caller = CallerSlot::default();
    request.extensions_mut().insert(caller.clone());
    let id = request_id::current();
    let span = tracing::info_span!("request", %method, %route, request_id = %id);
    let response = next.run(request).instrument(span).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    crate::metrics::global().http_request(method.as_str(), &route, status, elapsed);
    tracing::info!(
        target: "availsync_server::access",
        %method,
        %route,
        %path,
        status,
        latency_ms = (elapsed.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        request_id = %id,
        caller = caller.get().as_deref().unwrap_or("-"),
        "request"
    );
    response
}

/// `text` with every `avs_live_…` run replaced by `avs_live_[redacted]`.
pub fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(API_KEY_PREFIX) {
        out.push_str(&rest[..at]);
        out.push_str(API_KEY_PREFIX);
        out.push_str("[redacted]");
        let after = &rest[at + API_KEY_PREFIX.len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_keys;

    #[test]
    fn keys_anywhere_in_a_path_are_redacted() {
        assert_eq!(
            redact_keys("/v1/agents/avs_live_AbC-12_x/rotate-key"),
            "/v1/agents/avs_live_[redacted]/rotate-key"
        );
        assert_eq!(
            redact_keys("/x/avs_live_a%2Favs_live_b"),
            "/x/avs_live_[redacted]%2Favs_live_[redacted]"
        );
        assert_eq!(redact_keys("/v1/work/runs"), "/v1/work/runs");
    }
}
