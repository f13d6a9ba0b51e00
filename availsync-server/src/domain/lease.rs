//! How a `run/start` is decided: what blocks a claim, and how that is told.

use availsync_types::{
    CheckResponse, Claim, Decision, Holder, Mode, Plan, Reason, ReasonCode, ResourceKey, RunStatus,
    StartRunResponse, Timestamp,
};

use super::ids::{IdKind, new_id};
use super::ttl::Ttl;

/// What the store knows about a resource and a workspace at decision time,
/// read in the same transaction that grants.
#[derive(Debug, Clone)]
pub struct ClaimState {
    /// The live claim on the resource, if any.
    pub holder: Option<Holder>,
    /// Live claims in the workspace.
    pub live_claims: u32,
    /// When the first of those lapses.
    pub earliest_expiry: Option<Timestamp>,
    /// The workspace's plan.
    pub plan: Plan,
}

/// Why a claim cannot be granted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// Another live claim holds the resource.
    Claimed(Holder),
    /// The workspace is at its plan's limit of live claims.
    PlanLimit {
        /// The limit.
        limit: u32,
        /// When the first live claim lapses.
        earliest_expiry: Timestamp,
    },
}

impl ClaimState {
    /// What, if anything, blocks a new claim. A held resource is reported
    /// before the plan limit: it is the more specific reason.
    pub fn blocker(&self, now: Timestamp) -> Option<Blocker> {
        if let Some(holder) = &self.holder {
            return Some(Blocker::Claimed(holder.clone()));
        }
        let limit = self.plan.limits().active_claims?;
        (self.live_claims >= limit).then(|| Blocker::PlanLimit {
            limit,
            earliest_expiry: self.earliest_expiry.unwrap_or(now),
        })
    }
}

impl Blocker {
    /// The reason told to the caller, and the seconds until the block lapses
    /// unless extended.
    pub fn explain(&self, resource: &ResourceKey, now: Timestamp) -> (Reason, u64) {
        match self {
            Self::Claimed(holder) => (
                Reason {
                    code: ReasonCode::ResourceClaimed,
                    message: format!(
                        "{resource} is claimed by agent '{}' (run {}) until {}",
                        holder.agent_name, holder.run_id, holder.expires_at
                    ),
                    holder: Some(holder.clone()),
                },
                now.seconds_until(holder.expires_at),
            ),
            Self::PlanLimit {
                limit,
                earliest_expiry,
            } => (
                Reason {
                    code: ReasonCode::PlanLimitActiveClaims,
                    message: format!(
                        "the workspace already holds {limit} active work claims, the most its plan allows; the first lapses at {earliest_expiry}"
                    ),
                    holder: None,
                },
                now.seconds_until(*earliest_expiry),
            ),
        }
    }
}

/// The mode a run starts in: observe if the agent observes or the request
/// asks for a dry run; a request can never make an observe agent enforce.
pub fn effective_mode(agent_mode: Mode, observe_requested: bool) -> Mode {
    if agent_mode == Mode::Observe || observe_requested {
        Mode::Observe
    } else {
        Mode::Enforce
    }
}

/// How a `run/start` is answered, whatever the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDecision {
    /// The mode the run starts in.
    pub mode: Mode,
    /// The workspace's plan when it was decided.
    pub plan: Plan,
    /// Proceed or skip.
    pub decision: Decision,
    /// For observe runs: whether an enforcing run would have been blocked.
    pub would_block: bool,
    /// Observe runs' nominal deadline (they hold no claim).
    pub run_expires_at: Option<Timestamp>,
    /// Why it was (or would have been) blocked.
    pub reason: Option<Reason>,
    /// For skips: seconds until the blocker lapses unless extended.
    pub retry_after: Option<u64>,
    /// What blocks a claim, if anything.
    pub blocker: Option<Blocker>,
}

impl StartDecision {
    /// Whether the run is granted a claim: it enforces and may proceed.
    pub fn grants(&self) -> bool {
        (self.mode, self.decision) == (Mode::Enforce, Decision::Proceed)
    }

    /// The answer to the start that created run `run_id` (with `claim` when
    /// one was granted): the same answer a later replay gives.
    pub fn answer(self, run_id: String, claim: Option<Claim>, now: Timestamp) -> StartRunResponse {
        StartRunResponse {
            run_id,
            decision: self.decision,
            mode: self.mode,
            replayed: false,
            status: match self.decision {
                Decision::SkipRun => RunStatus::Skipped,
                Decision::Proceed => RunStatus::Active,
            },
            claim,
            would_block: self.would_block,
            reason: self.reason,
            retry_after: self.retry_after,
            server_time: now,
        }
    }
}

impl ClaimState {
    /// Decides a start in `mode` on `resource` at `now`.
    pub fn decide(
        &self,
        mode: Mode,
        resource: &ResourceKey,
        ttl_seconds: u32,
        now: Timestamp,
    ) -> StartDecision {
        let blocker = self.blocker(now);
        let explained = blocker.as_ref().map(|b| b.explain(resource, now));
        let (decision, would_block, run_expires_at) = match (mode, &blocker) {
            (Mode::Enforce, Some(_)) => (Decision::SkipRun, false, None),
            (Mode::Enforce, None) => (Decision::Proceed, false, None),
            (Mode::Observe, b) => (
                Decision::Proceed,
                b.is_some(),
                Some(Ttl::from_seconds(ttl_seconds).expiry_from(now)),
            ),
        };
        let (reason, retry_after) = match (explained, decision) {
            (Some((reason, retry)), Decision::SkipRun) => (Some(reason), Some(retry)),
            (Some((reason, _)), Decision::Proceed) => (Some(reason), None),
            (None, _) => (None, None),
        };
        StartDecision {
            mode,
            plan: self.plan,
            decision,
            would_block,
            run_expires_at,
            reason,
            retry_after,
            blocker,
        }
    }
}

/// The claim a granted start on `resource` holds from `now`, with the
/// fencing token the store took for it.
pub fn new_claim(
    resource: &ResourceKey,
    ttl_seconds: u32,
    fencing_token: u64,
    now: Timestamp,
) -> Claim {
    Claim {
        claim_id: new_id(IdKind::Claim),
        resource: resource.to_string(),
        expires_at: Ttl::from_seconds(ttl_seconds).expiry_from(now),
        ttl_seconds,
        fencing_token,
    }
}

/// The `/v1/work/check` answer for `resource`, whose live claim (if any)
/// is `holder`.
pub fn check_answer(
    resource: &ResourceKey,
    holder: Option<Holder>,
    now: Timestamp,
) -> CheckResponse {
    CheckResponse {
        resource: resource.to_string(),
        available: holder.is_none(),
        retry_after: holder.as_ref().map(|h| now.seconds_until(h.expires_at)),
        holder,
        server_time: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(expires_ms: i64) -> Holder {
        Holder {
            agent_id: "agt_1".into(),
            agent_name: "ci-bot".into(),
            run_id: "run_1".into(),
            expires_at: Timestamp::from_unix_millis(expires_ms),
        }
    }

    fn state(holder: Option<Holder>, live: u32, plan: Plan) -> ClaimState {
        ClaimState {
            holder,
            live_claims: live,
            earliest_expiry: Some(Timestamp::from_unix_millis(40_500)),
            plan,
        }
    }

    #[test]
    fn a_held_resource_blocks_with_its_holder_and_rounded_up_retry() {
        let now = Timestamp::from_unix_millis(10_000);
        let blocker = state(Some(holder(20_001)), 1, Plan::Free)
            .blocker(now)
            .unwrap();
        let (reason, retry) = blocker.explain(&"repo:a/b".parse().unwrap(), now);
        assert_eq!(reason.code, ReasonCode::ResourceClaimed);
        assert!(reason.message.contains("ci-bot"));
        assert_eq!(retry, 11);
    }

    #[test]
    fn plan_limit_blocks_only_at_the_limit() {
        let now = Timestamp::from_unix_millis(10_000);
        assert_eq!(state(None, 2, Plan::Free).blocker(now), None);
        let blocker = state(None, 3, Plan::Free).blocker(now).unwrap();
        let (reason, retry) = blocker.explain(&"repo:a/b".parse().unwrap(), now);
        assert_eq!(reason.code, ReasonCode::PlanLimitActiveClaims);
        assert_eq!(retry, 31);
        assert_eq!(state(None, 10_000, Plan::Business).blocker(now), None);
    }

    #[test]
    fn enforce_skips_and_observe_proceeds_with_would_block() {
        let now = Timestamp::from_unix_millis(10_000);
        let key = "repo:a/b".parse().unwrap();
        let held = state(Some(holder(20_001)), 1, Plan::Free);
        let skip = held.decide(Mode::Enforce, &key, 60, now);
        assert_eq!(skip.decision, Decision::SkipRun);
        assert_eq!(skip.retry_after, Some(11));
        let observed = held.decide(Mode::Observe, &key, 60, now);
        assert_eq!(observed.decision, Decision::Proceed);
        assert!(observed.would_block && observed.retry_after.is_none());
        assert_eq!(observed.run_expires_at, Some(now.add_millis(60_000)));
        let free = state(None, 0, Plan::Free).decide(Mode::Enforce, &key, 60, now);
        assert!(free.grants() && !observed.grants() && !skip.grants());
        assert_eq!((free.decision, free.reason), (Decision::Proceed, None));
        assert_eq!(effective_mode(Mode::Observe, false), Mode::Observe);
        assert_eq!(effective_mode(Mode::Enforce, true), Mode::Observe);
        assert_eq!(effective_mode(Mode::Enforce, false), Mode::Enforce);
    }

    #[test]
    fn a_check_answers_the_holder_and_when_it_lapses() {
        let now = Timestamp::from_unix_millis(10_000);
        let key = "repo:a/b".parse().unwrap();
        let held = check_answer(&key, Some(holder(20_001)), now);
        assert!(!held.available);
        assert_eq!(held.retry_after, Some(11));
        let free = check_answer(&key, None, now);
        assert!(free.available && free.retry_after.is_none() && free.holder.is_none());
        let claim = new_claim(&key, 30, 7, now);
        assert!(claim.claim_id.starts_with("clm_"));
        assert_eq!(
            (claim.expires_at.unix_millis(), claim.fencing_token),
            (40_000, 7)
        );
    }
}
