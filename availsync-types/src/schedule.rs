//! Scheduling coordination: availability, conflict previews and holds on
//! half-open time windows `[start, end)`.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Longest window a hold or an availability query may span: 31 days.
pub const MAX_WINDOW_MILLIS: i64 = 31 * 24 * 3600 * 1000;
/// Shortest `ttl_seconds` of a tentative hold.
pub const MIN_HOLD_TTL_SECONDS: u32 = 10;
/// Longest `ttl_seconds` of a tentative hold (one day).
pub const MAX_HOLD_TTL_SECONDS: u32 = 86_400;

/// Who holds a window: the agent or human that created the hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoldHolder {
    /// `agent` or `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `agt_…` or `usr_…`.
    pub id: String,
    /// The agent's name or the user's email.
    pub name: String,
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HoldStatus {
    /// Holding its window.
    Active,
    /// Released by its holder or a human.
    Released,
    /// A tentative hold whose ttl lapsed.
    Expired,
}

/// A reservation of `[start, end)` on a schedulable resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hold {
    /// `hold_…`
    pub hold_id: String,
    /// The resource (normalised).
    pub resource: String,
    /// Start of the window (inclusive).
    pub start: Timestamp,
    /// End of the window (exclusive).
    pub end: Timestamp,
    /// What it is for.
    pub purpose: Option<String>,
    /// Where it stands.
    pub status: HoldStatus,
    /// Who created it.
    pub holder: HoldHolder,
    /// Tentative holds lapse at this instant unless released earlier.
    pub expires_at: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// `POST /v1/holds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateHoldRequest {
    /// Any resource key, e.g. `calendar:team-eng`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f-\x9f]{1,200}$")
    )]
    pub resource: String,
    /// RFC 3339 start (any offset).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// RFC 3339 end (any offset), after `start`, at most 31 days later.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// What the hold is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub purpose: Option<String>,
    /// 10-86400: a tentative hold that lapses unless released earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 86400))]
    pub ttl_seconds: Option<u32>,
    /// Makes a retried create return the first hold instead of a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub idempotency_key: Option<String>,
}

/// `{hold}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoldResponse {
    /// The hold.
    pub hold: Hold,
    /// True when this answer replays an earlier create with the same
    /// idempotency key.
    #[serde(default)]
    pub replayed: bool,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// A live hold inside a window, as availability and conflict checks list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BusyWindow {
    /// The hold.
    pub hold_id: String,
    /// The hold's start.
    pub start: Timestamp,
    /// The hold's end.
    pub end: Timestamp,
    /// Who holds it.
    pub holder: HoldHolder,
}

/// A free stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FreeWindow {
    /// Start (inclusive).
    pub start: Timestamp,
    /// End (exclusive).
    pub end: Timestamp,
}

/// `GET /v1/availability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AvailabilityResponse {
    /// The resource (normalised).
    pub resource: String,
    /// Start of the asked window.
    pub from: Timestamp,
    /// End of the asked window.
    pub to: Timestamp,
    /// Live holds overlapping the window, by start.
    pub busy: Vec<BusyWindow>,
    /// The window minus the live holds, merged, by start.
    pub free: Vec<FreeWindow>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// `POST /v1/conflicts/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConflictsCheckRequest {
    /// The resource.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f-\x9f]{1,200}$")
    )]
    pub resource: String,
    /// RFC 3339 start.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// RFC 3339 end, after `start`, at most 31 days later.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
}

/// Whether a window overlaps live holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConflictsCheckResponse {
    /// True when any live hold overlaps the window.
    pub conflict: bool,
    /// The overlapping holds.
    pub conflicts: Vec<BusyWindow>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

wire_names!(HoldStatus { Active => "active", Released => "released", Expired => "expired" });
