//! `GET /health`.

use serde::{Deserialize, Serialize};

/// The health answer: exactly `{status, version, storage}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// `ok` when the store answers.
    pub storage: String,
}

/// The answer of `GET /livez` and `GET /readyz`: `{"status": "ok"}`, or
/// `{"status": "unavailable", "reason": "…"}` (SPEC §16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Probe {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why not ready, in words; absent when ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
