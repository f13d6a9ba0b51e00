//! What a store operation can fail with.

use availsync_types::{BusyWindow, Timestamp};

/// A store operation's failure: a rule that refused it, or a backend fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object in the caller's workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An account with this email exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The plan allows no more agents.
    #[error("the workspace's plan allows {limit} agents")]
    PlanLimitAgents {
        /// The plan's agent limit.
        limit: u32,
    },
    /// The run's lease is no longer live.
    #[error("the lease of run {run_id} is no longer held: {why}")]
    LeaseLost {
        /// The run.
        run_id: String,
        /// `expired`, `finished` or `released`.
        why: &'static str,
        /// When the claim lapsed or was released.
        at: Timestamp,
    },
    /// A `run_id` was reused for another resource.
    #[error("run_id {run_id} was already used for {resource}")]
    RunIdReused {
        /// The run.
        run_id: String,
        /// The resource it was first used for.
        resource: String,
    },
    /// The window overlaps live holds.
    #[error("the window overlaps {} live holds", conflicts.len())]
    HoldConflict {
        /// The overlapping holds.
        conflicts: Vec<BusyWindow>,
    },
    /// An idempotency key was reused for a different hold.
    #[error("idempotency key reused for a different hold")]
    IdempotencyKeyReused,
    /// The caller may not do this to this object.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The workspace name given to an operator command matches several
    /// workspaces.
    #[error("{0} workspaces have this name; use the workspace id")]
    Ambiguous(usize),
    /// A concurrent transaction (another replica's, say) won a race the
    /// store could not retry its way past; the caller may try again.
    #[error("the store is busy with concurrent changes: {0}")]
    Contention(String),
    /// The storage is full: the write was not made. Writes go on failing
    /// until space is freed, so the store reports itself unhealthy.
    #[error("the storage is full: {0}")]
    StorageFull(String),
    /// The backend failed (I/O, corruption, a bug). Never shown to users.
    #[error("storage failure: {0}")]
    Backend(String),
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
