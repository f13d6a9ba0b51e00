//! The SDK's error type.

use std::time::Duration;

use availsync_types::{ErrorBody, ErrorCode, ResourceKeyError};

use crate::http::HttpError;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server could not be reached (connection refused, reset, DNS…).
    #[error("cannot reach the Availsync server at {url}: {error}")]
    Transport {
        /// The URL called.
        url: String,
        /// The underlying error (in the message, so not repeated as a source).
        error: HttpError,
    },
    /// No answer within the client's timeout.
    #[error("the Availsync server did not answer {url} within {timeout:?}")]
    Timeout {
        /// The URL called.
        url: String,
        /// The timeout in force.
        timeout: Duration,
    },
    /// The server answered with an error (boxed: it is large and rare).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The answer could not be decoded; the raw body is kept for bug reports.
    #[error("could not decode the server's answer ({status}): {error}; body: {body}")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// The decoding error (in the message, so not repeated as a source).
        error: serde_json::Error,
        /// The raw body (truncated to 2 KiB).
        body: String,
    },
    /// A resource key the SDK refused before sending.
    #[error("invalid resource: {0}")]
    InvalidResource(#[from] ResourceKeyError),
    /// The client is misconfigured (bad URL, missing key…).
    #[error("invalid client configuration: {0}")]
    Config(String),
}

/// An error answered by the server: `{"error": {code, message, request_id, …}}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} ({status} {code}, request {request_id})")]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The snake_case code, e.g. `lease_lost`.
    pub code: String,
    /// One human sentence.
    pub message: String,
    /// The request id, for support.
    pub request_id: String,
    /// The request field at fault, for 400s.
    pub field: Option<String>,
    /// Seconds to wait, from `Retry-After` or the body.
    pub retry_after: Option<u64>,
    /// Conflicting holds, for `hold_conflict`.
    pub conflicts: Vec<availsync_types::BusyWindow>,
}

impl ApiError {
    /// Builds an API error from a status and the error body (or its absence).
    pub(crate) fn from_body(
        status: u16,
        body: Option<ErrorBody>,
        retry_after: Option<u64>,
    ) -> Self {
        match body {
            Some(body) => {
                let detail = body.error;
                Self {
                    status,
                    code: detail.code,
                    message: detail.message,
                    request_id: detail.request_id,
                    field: detail.field,
                    retry_after: retry_after.or(detail.retry_after),
                    conflicts: detail
                        .conflicts
                        .and_then(|c| serde_json::from_value(c).ok())
                        .unwrap_or_default(),
                }
            }
            None => Self {
                status,
                code: if status >= 500 { "internal" } else { "unknown" }.to_owned(),
                message: format!("the server answered HTTP {status} without an error body"),
                request_id: String::new(),
                field: None,
                retry_after,
                conflicts: Vec::new(),
            },
        }
    }

    /// The code as a known [`ErrorCode`], when it is one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

impl Error {
    /// The API error, if the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The server's error code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// True when a run's lease is gone (`409 lease_lost`): stop the work.
    pub fn is_lease_lost(&self) -> bool {
        self.code() == Some(ErrorCode::LeaseLost.as_str())
    }

    /// The conflicting holds of a `hold_conflict` answer (empty otherwise).
    pub fn conflicts(&self) -> &[availsync_types::BusyWindow] {
        self.api()
            .map(|e| e.conflicts.as_slice())
            .unwrap_or_default()
    }

    /// True for `404 not_found`.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(ErrorCode::NotFound.as_str())
    }

    /// True when the key was refused (`401`).
    pub fn is_unauthenticated(&self) -> bool {
        self.api().is_some_and(|e| e.status == 401)
    }

    /// True when the server's TLS certificate was refused, or the TLS
    /// handshake failed for good (see [`HttpError::is_tls_failure`]): a
    /// set-up problem (a private CA not trusted here, the wrong host name)
    /// that no retry fixes.
    pub fn is_tls_failure(&self) -> bool {
        matches!(self, Self::Transport { error, .. } if error.is_tls_failure())
    }

    /// True for failures that may succeed if the same call is made again:
    /// connection failures (but not a TLS handshake that failed for good,
    /// see [`HttpError::is_tls_failure`]), timeouts, `429`, `502`, `503`
    /// and `504`.
    ///
    /// ```
    /// # use availsync_sdk::Error;
    /// let e = Error::Config("no key".into());
    /// assert!(!e.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { error, .. } => !error.is_tls_failure(),
            Self::Timeout { .. } => true,
            Self::Api(e) => matches!(e.status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
