//! What a rule refuses, apart from any storage fault: the answers a caller
//! gets as a `4xx` (see `http/error.rs`), whichever store decided them.

use availsync_types::{BusyWindow, PathConflict, Timestamp};

use super::runs::LostBecause;

/// An operation a rule refused; nothing was changed by it (events that
/// record the refusal excepted).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
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
    #[error("the lease of run {run_id} is no longer held: {}", why.as_str())]
    LeaseLost {
        /// The run.
        run_id: String,
        /// Why it is gone.
        why: LostBecause,
        /// When it lapsed, was released, or the run finished (when it
        /// started, for a run never granted one).
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
    /// Paths a working set asked to add are held by other live claims.
    #[error("{} overlaps with other live claims", conflicts.len())]
    PathsClaimed {
        /// The overlaps.
        conflicts: Vec<PathConflict>,
    },
    /// A working-set change the claim cannot take.
    #[error("{message}")]
    InvalidWorkingSet {
        /// The request field at fault.
        field: &'static str,
        /// Why.
        message: &'static str,
    },
    /// The resource already has a rule.
    #[error("{resource} already has a rule; change it instead")]
    RuleExists {
        /// The resource.
        resource: String,
    },
    /// Rules' `depends_on` would go round.
    #[error("depends_on would form a cycle: {}", cycle.join(" -> "))]
    RuleCycle {
        /// The resources of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A rule the graph cannot take (a closure past its limit).
    #[error("{0}")]
    InvalidRule(String),
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
}
