//! `GET /health`: no auth, no secrets, no counts.

use availsync_types::Health;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;

/// Whether the server and its store answer.
#[utoipa::path(get, path = "/health", tag = "diagnostics",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let storage_ok = match state.store.health().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "health check: storage failed");
            false
        }
    };
    let status = if storage_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "error" }.to_owned();
    (
        status,
        Json(Health {
            status: word(storage_ok),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            storage: word(storage_ok),
        }),
    )
}
