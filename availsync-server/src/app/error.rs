//! Why a shared use case failed, before any front end words it.

use crate::domain::validate::Invalid;
use crate::store::StoreError;

/// A use case's failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A field of the request is not valid.
    #[error("{}", .0.message)]
    Invalid(Invalid),
    /// The store refused (a rule) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The email or password is wrong (the same answer for both).
    #[error("the email or password is wrong")]
    WrongCredentials,
    /// Too many attempts from this client: try again after `retry_after`
    /// seconds.
    #[error("{message}")]
    RateLimited {
        /// One human sentence.
        message: &'static str,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Too many passwords are being hashed at once: try again shortly.
    #[error("too many sign-ins are being checked at once; try again in a moment")]
    Busy,
    /// Password hashing itself failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl From<Invalid> for AppError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid)
    }
}
