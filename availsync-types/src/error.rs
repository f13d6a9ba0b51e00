//! The error envelope every non-2xx answer carries, and its codes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every error code the API answers with.
///
/// ```
/// use availsync_types::ErrorCode;
/// assert_eq!(ErrorCode::LeaseLost.as_str(), "lease_lost");
/// assert_eq!("lease_lost".parse::<ErrorCode>(), Ok(ErrorCode::LeaseLost));
/// assert_eq!(ErrorCode::LeaseLost.status(), 409);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the body is not valid JSON.
    InvalidJson,
    /// 400: the body names a field the endpoint does not know.
    UnknownField,
    /// 400: a field is missing, ill-typed or out of range (named in `field`).
    InvalidRequest,
    /// 400: a resource string is not a valid resource key.
    InvalidResource,
    /// 400: a time window is unparseable, empty or too long.
    InvalidWindow,
    /// 400: a working set's paths or mode are invalid, or it was asked on a
    /// resource that cannot have one (named in `field`).
    InvalidWorkingSet,
    /// 400: rules' `depends_on` would form a cycle.
    RuleCycle,
    /// 400: a rule is invalid (a `depends_on` closure past 32 resources).
    InvalidRule,
    /// 401: no valid session or API key.
    Unauthenticated,
    /// 403: the caller may not do this.
    Forbidden,
    /// 403: an agent API key was used on a human-only endpoint.
    AgentKeyNotAllowed,
    /// 403: a human session was used on an agent-only endpoint.
    AgentKeyRequired,
    /// 404: no such object in the caller's workspace.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: the run's lease expired, was finished or was released.
    LeaseLost,
    /// 409: the hold overlaps live holds (listed in `conflicts`).
    HoldConflict,
    /// 409: paths added to a working set are held by other claims (listed in
    /// `conflicts`).
    PathsClaimed,
    /// 409: an account with this email exists.
    EmailTaken,
    /// 409: the resource already has a rule.
    RuleExists,
    /// 409: a `run_id` was reused for another resource.
    RunIdReused,
    /// 409: an `idempotency_key` was reused for a different hold.
    IdempotencyKeyReused,
    /// 402: the plan allows no more agents.
    PlanLimitAgents,
    /// 413: the body is larger than 64 KiB.
    PayloadTooLarge,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many attempts; see `Retry-After`.
    RateLimited,
    /// 500: something went wrong on the server.
    Internal,
    /// 503: the server could not answer within its request deadline.
    Unavailable,
    /// 507: the server's storage is full; nothing was changed.
    InsufficientStorage,
}

const ALL: [ErrorCode; 28] = [
    ErrorCode::InvalidJson,
    ErrorCode::UnknownField,
    ErrorCode::InvalidRequest,
    ErrorCode::InvalidResource,
    ErrorCode::InvalidWindow,
    ErrorCode::InvalidWorkingSet,
    ErrorCode::RuleCycle,
    ErrorCode::InvalidRule,
    ErrorCode::Unauthenticated,
    ErrorCode::Forbidden,
    ErrorCode::AgentKeyNotAllowed,
    ErrorCode::AgentKeyRequired,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::LeaseLost,
    ErrorCode::HoldConflict,
    ErrorCode::PathsClaimed,
    ErrorCode::EmailTaken,
    ErrorCode::RuleExists,
    ErrorCode::RunIdReused,
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::PlanLimitAgents,
    ErrorCode::PayloadTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
    ErrorCode::Unavailable,
    ErrorCode::InsufficientStorage,
];

impl ErrorCode {
    /// The snake_case code as it appears in `error.code`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownField => "unknown_field",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidResource => "invalid_resource",
            Self::InvalidWindow => "invalid_window",
            Self::InvalidWorkingSet => "invalid_working_set",
            Self::RuleCycle => "rule_cycle",
            Self::InvalidRule => "invalid_rule",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::AgentKeyNotAllowed => "agent_key_not_allowed",
            Self::AgentKeyRequired => "agent_key_required",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::LeaseLost => "lease_lost",
            Self::HoldConflict => "hold_conflict",
            Self::PathsClaimed => "paths_claimed",
            Self::EmailTaken => "email_taken",
            Self::RuleExists => "rule_exists",
            Self::RunIdReused => "run_id_reused",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::PlanLimitAgents => "plan_limit_agents",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::InsufficientStorage => "insufficient_storage",
        }
    }

    /// The HTTP status this code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Self::InvalidJson
            | Self::UnknownField
            | Self::InvalidRequest
            | Self::InvalidResource
            | Self::InvalidWindow
            | Self::InvalidWorkingSet
            | Self::RuleCycle
            | Self::InvalidRule => 400,
            Self::Unauthenticated => 401,
            Self::PlanLimitAgents => 402,
            Self::Forbidden | Self::AgentKeyNotAllowed | Self::AgentKeyRequired => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::LeaseLost
            | Self::HoldConflict
            | Self::PathsClaimed
            | Self::EmailTaken
            | Self::RuleExists
            | Self::RunIdReused
            | Self::IdempotencyKeyReused => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
            Self::InsufficientStorage => 507,
        }
    }
}

/// A string that is not a known error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code '{0}'")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The body of every non-2xx answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// A snake_case code such as `lease_lost`; see [`ErrorCode`]. Kept as a
    /// string so that clients keep working when new codes appear.
    pub code: String,
    /// One human sentence.
    pub message: String,
    /// The request id, also in the `X-Request-Id` header.
    pub request_id: String,
    /// The request field at fault, for `invalid_request`, `unknown_field`,
    /// `invalid_resource` and `invalid_window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before trying again, for `rate_limited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Conflicting objects, for `hold_conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<serde_json::Value>,
}
