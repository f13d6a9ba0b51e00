//! Health for monitors and orchestrators: `GET /health` (SPEC §6: no auth,
//! no secrets, no counts), `GET /livez` (the process answers) and
//! `GET /readyz` (the storage is reachable and its writes are not failing).

use availsync_types::{Health, Probe};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use crate::store::StoreError;

/// Why the storage is not ready, in words safe to show anyone.
async fn storage_trouble(state: &AppState) -> Option<&'static str> {
    match state.store().health().await {
        Ok(()) => None,
        Err(StoreError::StorageFull(why)) => {
            tracing::error!(%why, "health check: writes are failing, the storage is full");
            Some("writes are failing: the storage is full")
        }
        Err(e) => {
            tracing::error!(error = %e, "health check: storage failed");
            Some("the storage does not answer")
        }
    }
}

/// Whether the server and its store answer, and the store takes writes.
#[utoipa::path(get, path = "/health", tag = "diagnostics",
    responses((status = 200, body = Health), (status = 503, body = Health, description = "storage: error — unreachable, or writes failing (e.g. a full disk)")))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let storage_ok = storage_trouble(&state).await.is_none();
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

/// The process is up and answering.
#[utoipa::path(get, path = "/livez", tag = "diagnostics",
    responses((status = 200, body = Probe)))]
pub async fn livez() -> Json<Probe> {
    Json(Probe {
        status: "ok".to_owned(),
        reason: None,
    })
}

/// The server can serve: its storage is reachable, migrated (it is, once
/// the server listens) and takes writes.
#[utoipa::path(get, path = "/readyz", tag = "diagnostics",
    responses((status = 200, body = Probe), (status = 503, body = Probe, description = "not ready; reason says why")))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Probe>) {
    match storage_trouble(&state).await {
        None => (
            StatusCode::OK,
            Json(Probe {
                status: "ok".to_owned(),
                reason: None,
            }),
        ),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Probe {
                status: "unavailable".to_owned(),
                reason: Some(reason.to_owned()),
            }),
        ),
    }
}
