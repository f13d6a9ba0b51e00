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
