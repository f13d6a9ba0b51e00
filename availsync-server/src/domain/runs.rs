//! A run and its claim as the stores load them, and the rules read off
//! them: a run's status, whether a claim is live, and the lease-lost ladder
//! an extend climbs (finished → never granted → released → expired).

use availsync_types::{
    BlockedPath, Claim, ClaimedResource, Decision, Mode, Outcome, Reason, ResourceKey, Run,
    RunStatus, StartRunResponse, Timestamp,
};

use super::events::RunSubject;
use super::ids::{AgentId, RunId, WorkspaceId};
use super::refusal::Refusal;

/// A run as stored, with its claim if it had one.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// Position in the workspace's run list.
    pub seq: i64,
    /// The client's run id.
    pub run_id: RunId,
    /// The agent.
    pub agent_id: AgentId,
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
    /// A partial grant's left-out paths.
    pub blocked: Option<Vec<BlockedPath>>,
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
#[derive(Debug, Clone, PartialEq)]
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
        if !self.decision.proceeds() {
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
            run_id: self.run_id.into_string(),
            decision: self.decision,
            mode: self.mode,
            replayed,
            status,
            claim: self.claim.map(|c| c.claim),
            would_block: self.would_block,
            reason: self.reason,
            retry_after: self.retry_after,
            blocked: self.blocked,
            waited_ms: None,
            server_time: now,
        }
    }

    /// The answer to a `run/start` that reused this run's id: the run's own
    /// answer, replayed, when it asks for the same resource; refused when
    /// it asks for another.
    pub fn replay(
        self,
        resource: &ResourceKey,
        now: Timestamp,
    ) -> Result<StartRunResponse, Refusal> {
        if self.resource != resource.as_str() {
            return Err(Refusal::RunIdReused {
                run_id: self.run_id.into_string(),
                resource: self.resource,
            });
        }
        Ok(self.start_response(now, true))
    }

    /// The resources its claim holds (the first requested one first), or the
    /// run's resource.
    pub fn resources(&self) -> Vec<ResourceKey> {
        let listed = self.claim.as_ref().and_then(|c| c.claim.resources.as_ref());
        match listed {
            Some(parts) => parts
                .iter()
                .filter_map(|p| p.resource.parse().ok())
                .collect(),
            None => self.resource.parse().into_iter().collect(),
        }
    }

    /// The run as the subject of events in `workspace_id`.
    pub fn subject<'a>(&'a self, workspace_id: &'a WorkspaceId) -> RunSubject<'a> {
        RunSubject {
            workspace_id,
            agent_id: &self.agent_id,
            agent_name: &self.agent_name,
            resource: &self.resource,
            run_id: &self.run_id,
        }
    }

    /// The run as listed.
    pub fn into_run(self, now: Timestamp) -> Run {
        let status = self.status(now);
        Run {
            run_id: self.run_id.into_string(),
            agent_id: self.agent_id.into_string(),
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

/// A claim's `resources` as answered, from its other resources (`parts`, as
/// stored beside it): none for a claim on one resource, else the claim's
/// own resource first.
pub fn with_parts(claim: &Claim, parts: Vec<ClaimedResource>) -> Option<Vec<ClaimedResource>> {
    if parts.is_empty() {
        return None;
    }
    let first = ClaimedResource {
        resource: claim.resource.clone(),
        fencing_token: claim.fencing_token,
    };
    Some(std::iter::once(first).chain(parts).collect())
}

/// Why a run no longer holds a lease, in the order an extend checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostBecause {
    /// Its agent finished the run.
    Finished,
    /// The run was told to skip, so it never held one.
    NeverGranted,
    /// A person released the claim, or its agent was deleted.
    Released,
    /// The claim lapsed.
    Expired,
}

impl LostBecause {
    /// The word the API and the activity feed use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::NeverGranted => "never_granted",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

/// What an extend of a run may extend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extendable<'a> {
    /// An observe run: only its nominal deadline moves.
    Observe,
    /// An enforcing run's live claim.
    Claim(&'a StoredClaim),
}

impl StoredRun {
    /// The lease-lost ladder: what `run/extend` may extend at `now`, or why
    /// the lease is gone (finished, never granted, released, expired — the
    /// first that applies).
    pub fn extendable(&self, now: Timestamp) -> Result<Extendable<'_>, Refusal> {
        let lost = |why: LostBecause, at: Timestamp| Refusal::LeaseLost {
            run_id: self.run_id.to_string(),
            why,
            at,
        };
        if let Some(finished_at) = self.finished_at {
            return Err(lost(LostBecause::Finished, finished_at));
        }
        match (self.mode, &self.claim) {
            (Mode::Observe, _) => Ok(Extendable::Observe),
            (Mode::Enforce, None) => Err(lost(LostBecause::NeverGranted, self.created_at)),
            (Mode::Enforce, Some(stored)) => match stored.released_at {
                Some(released_at) => Err(lost(LostBecause::Released, released_at)),
                None if !stored.is_live(now) => {
                    Err(lost(LostBecause::Expired, stored.claim.expires_at))
                }
                None => Ok(Extendable::Claim(stored)),
            },
        }
    }

    /// The claim a finish releases: the run's, when it is live at `now`.
    pub fn live_claim(&self, now: Timestamp) -> Option<&StoredClaim> {
        self.claim.as_ref().filter(|c| c.is_live(now))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    pub(crate) fn run(mode: Mode, claim: Option<StoredClaim>) -> StoredRun {
        StoredRun {
            seq: 1,
            run_id: RunId::new("r1"),
            agent_id: AgentId::new("agt_1"),
            agent_name: "a".into(),
            resource: "repo:a/b".into(),
            mode,
            decision: if claim.is_some() || mode == Mode::Observe {
                Decision::Proceed
            } else {
                Decision::SkipRun
            },
            ttl_seconds: 60,
            expires_at: None,
            would_block: false,
            reason: None,
            retry_after: None,
            blocked: None,
            purpose: None,
            metadata: None,
            created_at: at(1_000),
            finished_at: None,
            outcome: None,
            summary: None,
            released: None,
            claim,
        }
    }

    pub(crate) fn claim(expires: i64, released: Option<i64>, lapse_recorded: bool) -> StoredClaim {
        StoredClaim {
            claim: Claim {
                claim_id: "clm_1".into(),
                resource: "repo:a/b".into(),
                expires_at: at(expires),
                ttl_seconds: 60,
                fencing_token: 7,
                working_set: None,
                resources: None,
            },
            released_at: released.map(at),
            lapse_recorded,
        }
    }

    fn why(result: Result<Extendable<'_>, Refusal>) -> (LostBecause, Timestamp) {
        match result {
            Err(Refusal::LeaseLost { why, at, .. }) => (why, at),
            other => panic!("not lease_lost: {other:?}"),
        }
    }

    #[test]
    fn the_ladder_names_the_first_reason_that_applies() {
        let now = at(50_000);
        let mut finished = run(Mode::Enforce, Some(claim(90_000, Some(40_000), false)));
        finished.finished_at = Some(at(40_000));
        assert_eq!(
            why(finished.extendable(now)),
            (LostBecause::Finished, at(40_000))
        );
        let skipped = run(Mode::Enforce, None);
        assert_eq!(
            why(skipped.extendable(now)),
            (LostBecause::NeverGranted, at(1_000))
        );
        let released = run(Mode::Enforce, Some(claim(90_000, Some(30_000), false)));
        assert_eq!(
            why(released.extendable(now)),
            (LostBecause::Released, at(30_000))
        );
        let lapsed = run(Mode::Enforce, Some(claim(50_000, None, false)));
        assert_eq!(
            why(lapsed.extendable(now)),
            (LostBecause::Expired, at(50_000))
        );
        // A lapse another replica's sweep recorded counts, whatever the clock.
        let recorded = run(Mode::Enforce, Some(claim(60_000, None, true)));
        assert_eq!(why(recorded.extendable(now)).0, LostBecause::Expired);
    }

    #[test]
    fn a_live_claim_and_an_observe_run_may_be_extended() {
        let now = at(50_000);
        let live = run(Mode::Enforce, Some(claim(60_000, None, false)));
        assert!(matches!(live.extendable(now), Ok(Extendable::Claim(_))));
        assert!(live.live_claim(now).is_some());
        let observe = run(Mode::Observe, None);
        assert_eq!(observe.extendable(now), Ok(Extendable::Observe));
        assert!(observe.live_claim(now).is_none());
    }

    #[test]
    fn a_reused_run_id_replays_only_for_its_own_resource() {
        let now = at(50_000);
        let live = run(Mode::Enforce, Some(claim(60_000, None, false)));
        let replayed = live
            .clone()
            .replay(&"repo:a/b".parse().unwrap(), now)
            .unwrap();
        assert!(replayed.replayed);
        assert_eq!(replayed.status, RunStatus::Active);
        assert_eq!(replayed.claim.unwrap().fencing_token, 7);
        assert_eq!(
            live.replay(&"repo:a/c".parse().unwrap(), now),
            Err(Refusal::RunIdReused {
                run_id: "r1".into(),
                resource: "repo:a/b".into()
            })
        );
    }
}
