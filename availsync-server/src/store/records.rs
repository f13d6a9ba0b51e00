//! Rows as every backend reads them, and the rules that turn them into
//! answers: a run's status, a hold's status, who holds a hold. Backends
//! differ in SQL, never in these.

pub use crate::domain::holds::{hold_status, holder_of};
pub use crate::domain::runs::{StoredClaim, StoredRun};
