//! The SDK's error type.

use std::time::Duration;

use availsync_types::{
    ErrorBody, ErrorCode, PathConflict, ResourceKeyError, ResourceSetError, WorkingSetError,
};

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
    /// Paths asked for are held by other live claims (`409
    /// paths_claimed`, from a working-set change): nothing changed. Boxed
    /// like [`Error::Api`]; [`Error::api`] answers its [`ApiError`] too.
    #[error(transparent)]
    PathsClaimed(Box<PathsClaimed>),
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
    /// A several-resource start the SDK refused before sending: a bad key,
    /// one listed twice, or not 2 to 16 of them.
    #[error("invalid resources: {0}")]
    InvalidResources(#[from] ResourceSetError),
    /// Working-set paths the SDK refused before sending (the rules of
    /// SPEC §10, checked as the server checks them).
    #[error("invalid working set ({field}): {error}")]
    InvalidWorkingSet {
        /// The field at fault as the server would name it:
        /// `working_set.paths[1]`, `add[0]`, `remove[2]`, or the list
        /// itself (`working_set.paths`, `add`, `remove`) for its count.
        field: String,
        /// What is wrong (the index in [`WorkingSetError::Path`] is the
        /// path's position in the list given).
        error: WorkingSetError,
    },
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

/// A `409 paths_claimed` answer: the paths of a working-set change that
/// other live claims hold, and who holds them. Nothing was changed.
///
/// ```no_run
/// # async fn demo(guard: availsync_sdk::RunGuard) -> availsync_sdk::Result<()> {
/// use availsync_sdk::Error;
///
/// match guard.add_paths(["src/db/**"]).await {
///     Ok(update) => println!("now holding {:?}", update.claim.working_set),
///     Err(Error::PathsClaimed(claimed)) => {
///         for conflict in &claimed.conflicts {
///             println!(
///                 "{} is held by {} until {}",
///                 conflict.path.as_deref().unwrap_or("the repository"),
///                 conflict.holder.agent_name,
///                 conflict.holder.expires_at
///             );
///         }
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{api}; held: {}", held(conflicts))]
#[non_exhaustive]
pub struct PathsClaimed {
    /// Each requested path that is held: the path, who holds it, and the
    /// holder's overlapping patterns (at most 50).
    pub conflicts: Vec<PathConflict>,
    /// The answer itself: status 409, code `paths_claimed`, the request id.
    pub api: ApiError,
}

/// `src/db/** by 'ci-bot' (run r1)`, for the first few conflicts.
fn held(conflicts: &[PathConflict]) -> String {
    const LISTED: usize = 3;
    let mut parts: Vec<String> = conflicts
        .iter()
        .take(LISTED)
        .map(|c| {
            format!(
                "{} by '{}' (run {})",
                c.path.as_deref().unwrap_or("the repository"),
                c.holder.agent_name,
                c.holder.run_id
            )
        })
        .collect();
    if conflicts.len() > LISTED {
        parts.push(format!("and {} more", conflicts.len() - LISTED));
    }
    parts.join(", ")
}

impl Error {
    /// The error for a server's error answer: a typed one where the code
    /// has its own variant, else [`Error::Api`].
    pub(crate) fn from_answer(
        status: u16,
        body: Option<ErrorBody>,
        retry_after: Option<u64>,
    ) -> Self {
        let path_conflicts = body
            .as_ref()
            .filter(|b| b.error.code == ErrorCode::PathsClaimed.as_str())
            .and_then(|b| b.error.conflicts.clone())
            .and_then(|c| serde_json::from_value::<Vec<PathConflict>>(c).ok());
        let api = ApiError::from_body(status, body, retry_after);
        match path_conflicts {
            Some(conflicts) => Self::PathsClaimed(Box::new(PathsClaimed { conflicts, api })),
            None => Self::from(api),
        }
    }
}

impl Error {
    /// The API error, if the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            Self::PathsClaimed(e) => Some(&e.api),
            _ => None,
        }
    }

    /// The held paths of a `paths_claimed` answer (empty otherwise).
    pub fn path_conflicts(&self) -> &[PathConflict] {
        match self {
            Self::PathsClaimed(e) => &e.conflicts,
            _ => &[],
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
