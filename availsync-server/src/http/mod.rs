//! The HTTP API: routes, extractors, and the one place errors become
//! responses.

mod access_log;
pub(crate) mod accounts;
pub(crate) mod agents;
pub(crate) mod caller;
pub(crate) mod client_addr;
mod duplicate_keys;
mod error;
pub(crate) mod events;
pub(crate) mod feeds;
mod health;
mod json;
pub(crate) mod openapi;
pub(crate) mod paging;
mod request_id;
mod rules;
mod schedule;
mod work;

use std::sync::Arc;
use std::time::Duration;

use availsync_types::MAX_BODY_BYTES;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::app::Services;
use crate::store::{AgentContext, Store};

pub use error::ApiError;
pub(crate) use request_id::current as current_request_id;
// The parsers of untrusted input, exactly as the handlers run them, for the
// fuzz targets in `fuzz/` and the property tests.
pub use json::decode as decode_json_body;
pub use schedule::availability_params;

/// Settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The server's public origin (`scheme://host:port`), for the Origin check.
    pub public_origin: String,
    /// Whether session cookies carry `Secure`.
    pub secure_cookies: bool,
    /// How long a session lasts (the cookie's Max-Age).
    pub session_ttl: Duration,
    /// Whether the first `X-Forwarded-For` hop names the client (behind a
    /// proxy that sets it), instead of the TCP peer.
    pub trust_forwarded_for: bool,
    /// Longest silence on an event stream before a keep-alive comment.
    pub events_keep_alive: Duration,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The use cases' services: the store, password hashing, throttles.
    pub services: Services,
    /// HTTP settings.
    pub config: Arc<HttpConfig>,
}

impl AppState {
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.services.store
    }
}

impl AppState {
    /// Refreshes an agent's `last_used_at` in the background when it is
    /// stale; a failure there must not fail the request.
    fn note_key_use(&self, agent: &AgentContext) {
        let stale = agent.last_used_at.is_none_or(|at| {
            at.add_millis(crate::store::TOUCH_INTERVAL_MS) < availsync_types::Timestamp::now()
        });
        if stale {
            let store = Arc::clone(self.store());
            let agent_id = agent.agent_id.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_agent(&agent_id).await {
                    tracing::warn!(error = %e, "could not record key use");
                }
            });
        }
    }
}

/// The API's routes: health and probes, the OpenAPI document and `/v1`.
/// `server.rs` adds the dashboard's and serves them in [`layered`].
pub fn router() -> Router<AppState> {
    let v1 = Router::new()
        .route("/auth/signup", post(accounts::signup))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/session", get(accounts::session))
        .route("/agents", post(agents::create).get(agents::list))
        .route("/agents/{id}", patch(agents::update).delete(agents::delete))
        .route("/agents/{id}/rotate-key", post(agents::rotate_key))
        .route("/rules", post(rules::create).get(rules::list))
        .route(
            "/rules/{rule_id}",
            patch(rules::update).delete(rules::delete),
        )
        .route("/work/run/start", post(work::start))
        .route("/work/run/extend", post(work::extend))
        .route("/work/run/finish", post(work::finish))
        .route("/work/run/working-set", post(work::change_paths))
        .route("/work/check", post(work::check))
        .route("/work/runs", get(work::list_runs))
        .route("/work/claims/{claim_id}/release", post(work::release_claim))
        .route("/availability", get(schedule::availability))
        .route("/conflicts/check", post(schedule::check_conflicts))
        .route(
            "/holds",
            post(schedule::create_hold).get(schedule::list_holds),
        )
        .route("/holds/{hold_id}", delete(schedule::release_hold))
        .route("/activity", get(feeds::activity))
        .route("/events", get(events::stream))
        .route("/audit", get(feeds::audit))
        .route("/activity/usage", post(feeds::usage));
    Router::new()
        .route("/health", get(health::health))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .nest("/v1", v1)
}

/// `routes` in the layers every answer passes through: the request id and
/// deadline, the access log, a panic answered in the error envelope, the
/// body limit; and unknown paths and methods answered in the envelope too.
pub fn layered(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(request_id::not_found)
        .method_not_allowed_fallback(request_id::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(request_id::panic_response))
        .layer(axum::middleware::from_fn(access_log::middleware))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(state)
}
