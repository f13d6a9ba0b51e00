//! The one error type of the HTTP layer, turned into the SPEC's error
//! envelope in one place.

use availsync_types::{ErrorBody, ErrorCode, ErrorDetail};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request_id;
use crate::app::AppError;
use crate::domain::validate::{Invalid, InvalidKind};
use crate::store::{Refusal, StoreError};

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    field: Option<String>,
    retry_after: Option<u64>,
    conflicts: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with a code and one human sentence.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            conflicts: None,
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets `Retry-After` (seconds).
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// `invalid_request` naming a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message).with_field(field)
    }

    /// `401 unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// `500 internal`; the cause is logged, never answered.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            "the server failed to handle this request; it has been logged",
        )
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The request field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Seconds the caller should wait (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The human sentence answered.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        let code = match invalid.kind {
            InvalidKind::Request => ErrorCode::InvalidRequest,
            InvalidKind::Resource => ErrorCode::InvalidResource,
            InvalidKind::Window => ErrorCode::InvalidWindow,
            InvalidKind::WorkingSet => ErrorCode::InvalidWorkingSet,
        };
        Self::new(code, invalid.message).with_field(invalid.field)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(invalid) => invalid.into(),
            AppError::Store(e) => e.into(),
            AppError::WrongCredentials => Self::unauthenticated("the email or password is wrong"),
            AppError::RateLimited {
                message,
                retry_after,
            } => Self::new(ErrorCode::RateLimited, message).with_retry_after(retry_after),
            AppError::Busy => Self::new(
                ErrorCode::Unavailable,
                "too many sign-ins are being checked at once; try again in a moment",
            )
            .with_retry_after(1),
            other @ AppError::Hashing(_) => Self::internal(other),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound(what) => Self::new(ErrorCode::NotFound, format!("no such {what}")),
            Refusal::EmailTaken => Self::new(
                ErrorCode::EmailTaken,
                "an account with this email already exists; log in instead",
            )
            .with_field("email"),
            Refusal::PlanLimitAgents { limit } => Self::new(
                ErrorCode::PlanLimitAgents,
                format!("the workspace's plan allows {limit} agents; delete one or change plan"),
            ),
            Refusal::LeaseLost { run_id, why, at } => Self::new(
                ErrorCode::LeaseLost,
                format!(
                    "run {run_id} no longer holds its lease ({} at {at}); stop the work and start a new run",
                    why.as_str()
                ),
            ),
            Refusal::HoldConflict { conflicts } => {
                let mut error = Self::new(
                    ErrorCode::HoldConflict,
                    format!(
                        "the window overlaps {} live hold(s); see error.conflicts",
                        conflicts.len()
                    ),
                );
                error.conflicts = serde_json::to_value(conflicts).ok();
                error
            }
            Refusal::PathsClaimed { conflicts } => {
                let mut error = Self::new(
                    ErrorCode::PathsClaimed,
                    format!(
                        "{} overlap(s) with paths other live claims hold; nothing was changed (see error.conflicts)",
                        conflicts.len()
                    ),
                );
                error.conflicts = serde_json::to_value(conflicts).ok();
                error
            }
            Refusal::InvalidWorkingSet { field, message } => {
                Self::new(ErrorCode::InvalidWorkingSet, message).with_field(field)
            }
            Refusal::RuleExists { resource } => Self::new(
                ErrorCode::RuleExists,
                format!("{resource} already has a rule; change it (PATCH) instead"),
            )
            .with_field("resource"),
            Refusal::RuleCycle { cycle } => Self::new(
                ErrorCode::RuleCycle,
                format!("depends_on would form a cycle: {}", cycle.join(" -> ")),
            )
            .with_field("depends_on"),
            Refusal::InvalidRule(message) => {
                Self::new(ErrorCode::InvalidRule, message).with_field("depends_on")
            }
            Refusal::IdempotencyKeyReused => Self::new(
                ErrorCode::IdempotencyKeyReused,
                "this idempotency_key was already used for a different hold; choose a new key",
            )
            .with_field("idempotency_key"),
            Refusal::Forbidden(message) => Self::new(ErrorCode::Forbidden, message),
            Refusal::RunIdReused { run_id, resource } => Self::new(
                ErrorCode::RunIdReused,
                format!("run_id {run_id} was already used for {resource}; choose a new run_id"),
            )
            .with_field("run_id"),
            // Only operator commands name workspaces.
            other @ Refusal::Ambiguous(_) => Self::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(refusal) => refusal.into(),
            StoreError::Contention(why) => {
                tracing::warn!(%why, "gave up on a transaction that kept losing races");
                Self::new(
                    ErrorCode::Unavailable,
                    "the server is busy with concurrent changes to this resource; retry shortly",
                )
                .with_retry_after(1)
            }
            StoreError::StorageFull(why) => {
                tracing::error!(%why, "a write failed: the storage is full");
                Self::new(
                    ErrorCode::InsufficientStorage,
                    "the server's storage is full, so nothing was changed; try again later",
                )
                .with_retry_after(30)
            }
            other @ (StoreError::SkippedAfterFailure(_) | StoreError::Backend(_)) => {
                Self::internal(other)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
                request_id: request_id::current(),
                field: self.field,
                retry_after: self.retry_after,
                conflicts: self.conflicts,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(value) = self
            .retry_after
            .and_then(|seconds| HeaderValue::from_str(&seconds.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
