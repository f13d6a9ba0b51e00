//! Rows as every backend reads them, and the rules that turn them into
//! answers: a run's status, a hold's status, who holds a hold. Backends
//! differ in SQL, never in these.

use availsync_types::{
    BusyWindow, Claim, Decision, Hold, HoldHolder, HoldStatus, Mode, Outcome, Reason, Run,
    RunStatus, StartRunResponse, Timestamp,
};

use crate::store::Principal;

/// A run as stored, with its claim if it had one.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// Position in the workspace's run list.
    pub seq: i64,
    /// The client's run id.
    pub run_id: String,
    /// The agent.
    pub agent_id: String,
    /// The agent's name: its current one where the agent's row was read
    /// (listings, releases); the caller's own where an agent looked up its
    /// own run (extend, finish, replay), which answer without it.
    pub agent_name: String,
    /// The resource.
    pub resource: String,
    /// Enforce or observe.
    pub mode: Mode,
    /// What it was told.
    pub decision: Decision,
    /// Its lease length.
    pub ttl_seconds: u32,
    /// Observe runs' nominal deadline.
    pub expires_at: Option<Timestamp>,
    /// Whether an observe run would have been blocked.
    pub would_block: bool,
    /// Why it was (or would have been) blocked.
    pub reason: Option<Reason>,
    /// Seconds until a skip's blocker lapses.
    pub retry_after: Option<u64>,
    /// Purpose.
    pub purpose: Option<String>,
    /// Metadata.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// When it started.
    pub created_at: Timestamp,
    /// When its agent finished it.
    pub finished_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// Its summary.
    pub summary: Option<String>,
    /// Whether finishing released a live claim.
    pub released: Option<bool>,
    /// Its claim.
    pub claim: Option<StoredClaim>,
}

/// A claim as stored.
#[derive(Debug, Clone)]
pub struct StoredClaim {
    /// The claim as answered.
    pub claim: Claim,
    /// When it was released, if it was.
    pub released_at: Option<Timestamp>,
    /// The sweep has recorded its lapse (`claim_expired`).
    pub lapse_recorded: bool,
}

impl StoredClaim {
    /// Live: not released and not lapsed. A lapse the sweep has recorded
    /// counts whatever `now` says: on PostgreSQL another replica's sweep
    /// may have read a clock a little ahead of this one.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.released_at.is_none() && !self.lapse_recorded && now < self.claim.expires_at
    }
}

impl StoredRun {
    /// The run's status at `now`.
    pub fn status(&self, now: Timestamp) -> RunStatus {
        if self.finished_at.is_some() {
            return RunStatus::Finished;
        }
        if self.decision == Decision::SkipRun {
            return RunStatus::Skipped;
        }
        match &self.claim {
            Some(c) if c.released_at.is_some() => RunStatus::Released,
            Some(c) if c.is_live(now) => RunStatus::Active,
            Some(_) => RunStatus::Expired,
            None if self.expires_at.is_some_and(|at| now < at) => RunStatus::Active,
            None => RunStatus::Expired,
        }
    }

    /// The `run/start` answer for this run.
    pub fn start_response(self, now: Timestamp, replayed: bool) -> StartRunResponse {
        let status = self.status(now);
        StartRunResponse {
            run_id: self.run_id,
            decision: self.decision,
            mode: self.mode,
            replayed,
            status,
            claim: self.claim.map(|c| c.claim),
            would_block: self.would_block,
            reason: self.reason,
            retry_after: self.retry_after,
            server_time: now,
        }
    }

    /// The run as listed.
    pub fn into_run(self, now: Timestamp) -> Run {
        let status = self.status(now);
        Run {
            run_id: self.run_id,
            agent_id: self.agent_id,
            agent_name: self.agent_name,
            resource: self.resource,
            mode: self.mode,
            decision: self.decision,
            status,
            claim: self.claim.map(|c| c.claim),
            would_block: self.would_block,
            reason: self.reason,
            purpose: self.purpose,
            metadata: self.metadata,
            outcome: self.outcome,
            summary: self.summary,
            created_at: self.created_at,
            finished_at: self.finished_at,
        }
    }
}

/// A hold's status: released, lapsed (tentative and past its expiry) or
/// active.
pub fn hold_status(
    released_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> HoldStatus {
    match (released_at, expires_at) {
        (Some(_), _) => HoldStatus::Released,
        (None, Some(at)) if at <= now => HoldStatus::Expired,
        _ => HoldStatus::Active,
    }
}

/// A hold as a busy window.
pub fn busy(hold: Hold) -> BusyWindow {
    BusyWindow {
        hold_id: hold.hold_id,
        start: hold.start,
        end: hold.end,
        holder: hold.holder,
    }
}

/// Who holds a hold created by `principal`.
pub fn holder_of(principal: &Principal) -> HoldHolder {
    match principal {
        Principal::Agent(a) => HoldHolder {
            kind: "agent".into(),
            id: a.agent_id.clone(),
            name: a.agent_name.clone(),
        },
        Principal::Human(s) => HoldHolder {
            kind: "user".into(),
            id: s.user.id.clone(),
            name: s.user.email.clone(),
        },
    }
}
