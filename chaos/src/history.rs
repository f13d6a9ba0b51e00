//! What every simulated client was told, as it was told it: the raw
//! material the checker judges.
//!
//! Times come in two clocks. Server times (`*_ms`, Unix milliseconds) are
//! what the server put in its answers. Local times ([`Instant`]) are when
//! this process saw something happen; all clients share this process's
//! monotonic clock, so local times of different clients compare.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// One claim a client was granted.
#[derive(Debug, Clone)]
pub struct GrantRecord {
    /// The agent's id on the server.
    pub agent_id: String,
    /// The run.
    pub run_id: String,
    /// What the start asked for, normalised: one resource, or the 2–3 of
    /// a several-resource start (SPEC §12).
    pub requested: Vec<String>,
    /// Every resource the claim holds and its fencing token, as the start
    /// answer listed them (`RunGuard::fencing_tokens`): the requested ones
    /// and their `depends_on` closure, the first requested one first.
    pub held: Vec<(String, u64)>,
    /// Server time of the grant (`expires_at - ttl` of the start answer).
    pub granted_ms: i64,
    /// When the client received the grant.
    pub received: Instant,
    /// The latest local time at which the client asked its guard and was
    /// told the lease was still held (taken before asking).
    pub last_belief: Option<Instant>,
    /// The latest `expires_at` the server acknowledged for the lease.
    pub last_expires_ms: i64,
    /// When the client sent its finish, if it did.
    pub finish_sent: Option<Instant>,
    /// Whether the server acknowledged the finish.
    pub finish_acked: bool,
    /// How the client ended the run.
    pub end: RunEnd,
}

impl GrantRecord {
    /// The fencing token the grant holds on `resource`, if it holds it.
    pub fn token_on(&self, resource: &str) -> Option<u64> {
        self.held
            .iter()
            .find(|(r, _)| r == resource)
            .map(|&(_, token)| token)
    }
}

/// One start a client sent, whatever became of it: the run id (chosen by
/// the client) and the resources it asked for. The checker matches the
/// server's record of the run against it.
#[derive(Debug, Clone)]
pub struct StartRecord {
    /// The agent's id on the server.
    pub agent_id: String,
    /// The run.
    pub run_id: String,
    /// The resources asked for, normalised.
    pub requested: Vec<String>,
}

/// How a client ended a granted run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// It finished the run.
    Finished,
    /// It walked away without finishing, as a crashed worker would: the
    /// lease lapses at its TTL.
    Abandoned,
    /// Its guard reported the lease lost, then it finished the run.
    Lost,
}

/// One hold the server acknowledged creating.
#[derive(Debug, Clone)]
pub struct HoldRecord {
    /// The hold.
    pub hold_id: String,
    /// The resource.
    pub resource: String,
    /// Window start, Unix milliseconds.
    pub start_ms: i64,
    /// Window end, Unix milliseconds.
    pub end_ms: i64,
    /// When the client received the acknowledgement.
    pub acked: Instant,
    /// When the client sent a release, if it did.
    pub release_sent: Option<Instant>,
    /// Whether the server acknowledged the release.
    pub release_acked: bool,
}

/// Counts of what clients did and were told.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Starts attempted.
    pub starts: u64,
    /// Starts answered with a claim.
    pub grants: u64,
    /// Starts answered `skip_run`.
    pub skips: u64,
    /// Starts that failed (after the SDK's retries).
    pub start_errors: u64,
    /// Of those, the ones whose last attempt got no answer at all (the
    /// connection failed or the client timed out): the proxy's faults and
    /// the server kills cause these; they are not told apart.
    pub start_no_answer: u64,
    /// Starts on several resources at once.
    pub multi_starts: u64,
    /// Of those, granted.
    pub multi_grants: u64,
    /// Starts that asked for the capacity pool (alone or with others).
    pub pool_starts: u64,
    /// Of those, granted.
    pub pool_grants: u64,
    /// Starts that asked to wait (SPEC §13).
    pub waiting_starts: u64,
    /// Grants that came after waiting in the queue.
    pub grants_after_waiting: u64,
    /// Skips answered `capacity_full`.
    pub capacity_full: u64,
    /// Guard checks made while working.
    pub guard_checks: u64,
    /// Runs finished with an acknowledgement.
    pub finishes: u64,
    /// Finishes that failed.
    pub finish_errors: u64,
    /// Runs walked away from.
    pub abandoned: u64,
    /// Leases the guard reported lost.
    pub lost: u64,
    /// Hold creations attempted.
    pub hold_attempts: u64,
    /// Holds created.
    pub holds_created: u64,
    /// Creations refused with `hold_conflict`.
    pub hold_conflicts: u64,
    /// Creations that failed otherwise.
    pub hold_errors: u64,
    /// Releases acknowledged.
    pub releases: u64,
    /// Releases that failed.
    pub release_errors: u64,
}

impl Counters {
    /// Every request-level operation counted.
    pub fn operations(&self) -> u64 {
        self.starts
            + self.finishes
            + self.finish_errors
            + self.hold_attempts
            + self.releases
            + self.release_errors
    }
}

/// Everything recorded, shared by all clients.
#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Recorded>,
}

/// The records themselves.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    /// Granted runs, once ended.
    pub grants: Vec<GrantRecord>,
    /// Every start sent, granted or not.
    pub starts: Vec<StartRecord>,
    /// Acknowledged holds.
    pub holds: Vec<HoldRecord>,
    /// Counts.
    pub counters: Counters,
}

impl History {
    /// Runs `f` on the records.
    pub fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.lock())
    }

    /// A copy of everything recorded.
    pub fn snapshot(&self) -> Recorded {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
