//! What a store operation can fail with.

pub use crate::domain::refusal::Refusal;

/// A store operation's failure: a rule that refused it ([`Refusal`], from
/// the domain), or a storage fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A rule refused the operation; the caller is told why.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A concurrent transaction (another replica's, say) won a race the
    /// store could not retry its way past; the caller may try again.
    #[error("the store is busy with concurrent changes: {0}")]
    Contention(String),
    /// The storage is full: the write was not made. Writes go on failing
    /// until space is freed, so the store reports itself unhealthy.
    #[error("the storage is full: {0}")]
    StorageFull(String),
    /// A statement was not run because an earlier one of its transaction
    /// failed (PostgreSQL answers "current transaction is aborted"): the
    /// earlier failure is the one to report.
    #[error("skipped after an earlier failure in its transaction: {0}")]
    SkippedAfterFailure(String),
    /// The backend failed (I/O, corruption, a bug). Never shown to users.
    #[error("storage failure: {0}")]
    Backend(String),
}

impl StoreError {
    /// The refusal, when a rule refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Refused(refusal) => Some(refusal),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Self::StorageFull(e.to_string()),
            _ => Self::Backend(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Backend(format!("stored JSON: {e}"))
    }
}
