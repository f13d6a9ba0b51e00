//! How a `run/start` is decided: what blocks a claim, and how that is told.

use availsync_types::{
    BlockedPath, CheckResponse, Claim, Decision, Mode, Plan, Reason, ReasonCode, ResourceKey,
    RunStatus, StartRunResponse, Timestamp, WorkingSet,
};

use super::ids::{IdKind, new_id};
use super::ttl::Ttl;
use super::working_sets::{self, Block, Held, Meeting, Want};

/// What the store knows about a resource and a workspace at decision time,
/// read in the same transaction that grants.
#[derive(Debug, Clone)]
pub struct ClaimState {
    /// The live claims on the resource that may stand in the way (see
    /// [`working_sets::meet`]).
    pub held: Vec<Held>,
    /// Live claims in the workspace.
    pub live_claims: u32,
    /// When the first of those lapses.
    pub earliest_expiry: Option<Timestamp>,
    /// The workspace's plan.
    pub plan: Plan,
}

/// Why a claim cannot be granted now (in full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// Other live claims hold the resource or the requested paths.
    Claimed(Block),
    /// The workspace is at its plan's limit of live claims.
    PlanLimit {
        /// The limit.
        limit: u32,
        /// When the first live claim lapses.
        earliest_expiry: Timestamp,
    },
}

impl ClaimState {
    /// How `want` meets the live claims, and what (if anything) blocks a
    /// new claim. A held resource or path is reported before the plan
    /// limit: it is the more specific reason. A partial grant still counts
    /// against the plan.
    pub fn meet(&self, want: &Want, now: Timestamp) -> (Meeting, Option<Blocker>) {
        let meeting = working_sets::meet(want, &self.held);
        let blocker = match &meeting {
            Meeting::Blocked(block) => Some(Blocker::Claimed(block.clone())),
            Meeting::Free | Meeting::Partial { .. } => self.plan_blocker(now),
        };
        (meeting, blocker)
    }

    fn plan_blocker(&self, now: Timestamp) -> Option<Blocker> {
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
            Self::Claimed(block) => (
                explain_block(block, resource),
                now.seconds_until(block.holder.expires_at),
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
                    conflicts: None,
                },
                now.seconds_until(*earliest_expiry),
            ),
        }
    }
}

/// The reason of a block by other live claims.
pub fn explain_block(block: &Block, resource: &ResourceKey) -> Reason {
    let holder = &block.holder;
    let by = format!(
        "agent '{}' (run {}) until {}",
        holder.agent_name, holder.run_id, holder.expires_at
    );
    let first_path = block
        .conflicts
        .as_ref()
        .and_then(|c| c.first())
        .and_then(|c| c.path.clone());
    let message = match (block.code, first_path) {
        (ReasonCode::PathsClaimed, Some(path)) => {
            let more = block
                .conflicts
                .as_ref()
                .map_or(0, |c| c.len().saturating_sub(1));
            let others = if more > 0 {
                format!(" (and {more} more overlaps)")
            } else {
                String::new()
            };
            format!("{path} in {resource} is claimed by {by}{others}")
        }
        _ => format!("{resource} is claimed by {by}"),
    };
    Reason {
        code: block.code,
        message,
        holder: Some(holder.clone()),
        conflicts: block.conflicts.clone(),
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
    /// The paths a grant holds, for a working set (all requested ones, or
    /// the free ones of a partial grant).
    pub working_set: Option<WorkingSet>,
    /// For `partial_proceed`: the requested paths left out.
    pub blocked: Option<Vec<BlockedPath>>,
}

impl StartDecision {
    /// Whether the run is granted a claim: it enforces and may proceed.
    pub fn grants(&self) -> bool {
        self.mode == Mode::Enforce && self.decision.proceeds()
    }

    /// The answer to the start that created run `run_id` (with `claim` when
    /// one was granted): the same answer a later replay gives.
    pub fn answer(self, run_id: String, claim: Option<Claim>, now: Timestamp) -> StartRunResponse {
        StartRunResponse {
            run_id,
            decision: self.decision,
            mode: self.mode,
            replayed: false,
            status: if self.decision.proceeds() {
                RunStatus::Active
            } else {
                RunStatus::Skipped
            },
            claim,
            would_block: self.would_block,
            reason: self.reason,
            retry_after: self.retry_after,
            blocked: self.blocked,
            server_time: now,
        }
    }
}

impl ClaimState {
    /// Decides a start in `mode` asking `want` of `resource` at `now`.
    pub fn decide(
        &self,
        mode: Mode,
        resource: &ResourceKey,
        want: &Want,
        ttl_seconds: u32,
        now: Timestamp,
    ) -> StartDecision {
        let (meeting, blocker) = self.meet(want, now);
        let explained = blocker.as_ref().map(|b| b.explain(resource, now));
        let partial = matches!(meeting, Meeting::Partial { .. }) && blocker.is_none();
        let (decision, would_block, run_expires_at) = match (mode, &blocker) {
            (Mode::Enforce, Some(_)) => (Decision::SkipRun, false, None),
            (Mode::Enforce, None) if partial => (Decision::PartialProceed, false, None),
            (Mode::Enforce, None) => (Decision::Proceed, false, None),
            (Mode::Observe, b) => (
                Decision::Proceed,
                b.is_some() || partial,
                Some(Ttl::from_seconds(ttl_seconds).expiry_from(now)),
            ),
        };
        let (mut reason, retry_after) = match (explained, decision) {
            (Some((reason, retry)), Decision::SkipRun) => (Some(reason), Some(retry)),
            (Some((reason, _)), _) => (Some(reason), None),
            (None, _) => (None, None),
        };
        let (working_set, blocked) = match (&meeting, decision) {
            (Meeting::Partial { blocked, block, .. }, Decision::PartialProceed) => {
                reason = Some(explain_block(block, resource));
                (want.granted_set(&meeting), Some(blocked.clone()))
            }
            (Meeting::Partial { block, .. }, _) if mode == Mode::Observe => {
                reason = Some(explain_block(block, resource));
                (None, None)
            }
            (_, Decision::Proceed) if mode == Mode::Enforce => (want.granted_set(&meeting), None),
            _ => (None, None),
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
            working_set,
            blocked,
        }
    }
}

/// The claim a granted start on `resource` holds from `now`, with the
/// fencing token the store took for it.
pub fn new_claim(
    resource: &ResourceKey,
    ttl_seconds: u32,
    fencing_token: u64,
    working_set: Option<WorkingSet>,
    now: Timestamp,
) -> Claim {
    Claim {
        claim_id: new_id(IdKind::Claim),
        resource: resource.to_string(),
        expires_at: Ttl::from_seconds(ttl_seconds).expiry_from(now),
        ttl_seconds,
        fencing_token,
        working_set,
    }
}

/// The `/v1/work/check` answer for `want` of `resource`, given the live
/// claims that may stand in the way.
pub fn check_answer(
    resource: &ResourceKey,
    want: &Want,
    held: &[Held],
    now: Timestamp,
) -> CheckResponse {
    let (holder, conflicts) = match working_sets::meet(want, held) {
        Meeting::Free => (None, None),
        Meeting::Blocked(block) | Meeting::Partial { block, .. } => {
            (Some(block.holder), block.conflicts)
        }
    };
    CheckResponse {
        resource: resource.to_string(),
        available: holder.is_none(),
        retry_after: holder.as_ref().map(|h| now.seconds_until(h.expires_at)),
        holder,
        conflicts,
        server_time: now,
    }
}

#[cfg(test)]
mod tests {
    use availsync_types::{Holder, WorkingSetMode};

    use super::*;
    use crate::domain::working_sets::{HeldSet, RequestedSet};

    fn holder(expires_ms: i64) -> Holder {
        Holder {
            agent_id: "agt_1".into(),
            agent_name: "ci-bot".into(),
            run_id: "run_1".into(),
            expires_at: Timestamp::from_unix_millis(expires_ms),
        }
    }

    fn whole(expires_ms: i64) -> Held {
        Held {
            holder: holder(expires_ms),
            set: None,
        }
    }

    fn state(held: Vec<Held>, live: u32, plan: Plan) -> ClaimState {
        ClaimState {
            held,
            live_claims: live,
            earliest_expiry: Some(Timestamp::from_unix_millis(40_500)),
            plan,
        }
    }

    fn paths(list: &[&str], partial: bool) -> Want {
        Want::Paths(RequestedSet {
            paths: list.iter().map(|p| p.parse().unwrap()).collect(),
            mode: WorkingSetMode::Edit,
            partial,
        })
    }

    #[test]
    fn a_held_resource_blocks_with_its_holder_and_rounded_up_retry() {
        let now = Timestamp::from_unix_millis(10_000);
        let (_, blocker) = state(vec![whole(20_001)], 1, Plan::Free).meet(&Want::Whole, now);
        let (reason, retry) = blocker.unwrap().explain(&"repo:a/b".parse().unwrap(), now);
        assert_eq!(reason.code, ReasonCode::ResourceClaimed);
        assert!(reason.message.contains("ci-bot"));
        assert_eq!(reason.conflicts, None);
        assert_eq!(retry, 11);
    }

    #[test]
    fn plan_limit_blocks_only_at_the_limit() {
        let now = Timestamp::from_unix_millis(10_000);
        let blocker = |live, plan| state(vec![], live, plan).meet(&Want::Whole, now).1;
        assert_eq!(blocker(2, Plan::Free), None);
        let (reason, retry) = blocker(3, Plan::Free)
            .unwrap()
            .explain(&"repo:a/b".parse().unwrap(), now);
        assert_eq!(reason.code, ReasonCode::PlanLimitActiveClaims);
        assert_eq!(retry, 31);
        assert_eq!(blocker(10_000, Plan::Business), None);
    }

    #[test]
    fn enforce_skips_and_observe_proceeds_with_would_block() {
        let now = Timestamp::from_unix_millis(10_000);
        let key = "repo:a/b".parse().unwrap();
        let held = state(vec![whole(20_001)], 1, Plan::Free);
        let skip = held.decide(Mode::Enforce, &key, &Want::Whole, 60, now);
        assert_eq!(skip.decision, Decision::SkipRun);
        assert_eq!(skip.retry_after, Some(11));
        let observed = held.decide(Mode::Observe, &key, &Want::Whole, 60, now);
        assert_eq!(observed.decision, Decision::Proceed);
        assert!(observed.would_block && observed.retry_after.is_none());
        assert_eq!(observed.run_expires_at, Some(now.add_millis(60_000)));
        let free = state(vec![], 0, Plan::Free).decide(Mode::Enforce, &key, &Want::Whole, 60, now);
        assert!(free.grants() && !observed.grants() && !skip.grants());
        assert_eq!((free.decision, free.reason), (Decision::Proceed, None));
        assert_eq!(effective_mode(Mode::Observe, false), Mode::Observe);
        assert_eq!(effective_mode(Mode::Enforce, true), Mode::Observe);
        assert_eq!(effective_mode(Mode::Enforce, false), Mode::Enforce);
    }

    #[test]
    fn a_partial_start_proceeds_on_the_free_paths_and_lists_the_rest() {
        let now = Timestamp::from_unix_millis(10_000);
        let key = "repo:a/b".parse().unwrap();
        let api = Held {
            holder: holder(20_001),
            set: Some(HeldSet {
                mode: WorkingSetMode::Edit,
                paths: vec!["src/api/**".parse().unwrap()],
            }),
        };
        let held = state(vec![api], 1, Plan::Free);
        let asked = paths(&["src/api/x.rs", "src/db/"], true);
        let partial = held.decide(Mode::Enforce, &key, &asked, 60, now);
        assert_eq!(partial.decision, Decision::PartialProceed);
        assert!(partial.grants());
        assert_eq!(
            partial.working_set.unwrap().paths,
            vec!["src/db/**".to_owned()]
        );
        assert_eq!(partial.blocked.unwrap()[0].path, "src/api/x.rs");
        assert_eq!(partial.reason.unwrap().code, ReasonCode::PathsClaimed);
        let whole_request = paths(&["src/api/x.rs", "src/db/"], false);
        let skipped = held.decide(Mode::Enforce, &key, &whole_request, 60, now);
        assert_eq!(skipped.decision, Decision::SkipRun);
        let reason = skipped.reason.unwrap();
        assert!(
            reason.message.contains("src/api/x.rs"),
            "{}",
            reason.message
        );
        assert_eq!(
            reason.conflicts.unwrap()[0].held_paths,
            Some(vec!["src/api/**".to_owned()])
        );
        // A partial grant still counts against the plan.
        let full = state(held.held.clone(), 3, Plan::Free);
        let at_limit = full.decide(Mode::Enforce, &key, &asked, 60, now);
        assert_eq!(at_limit.decision, Decision::SkipRun);
    }

    #[test]
    fn a_check_answers_the_holder_and_when_it_lapses() {
        let now = Timestamp::from_unix_millis(10_000);
        let key = "repo:a/b".parse().unwrap();
        let held = check_answer(&key, &Want::Whole, &[whole(20_001)], now);
        assert!(!held.available);
        assert_eq!(held.retry_after, Some(11));
        let free = check_answer(&key, &Want::Whole, &[], now);
        assert!(free.available && free.retry_after.is_none() && free.holder.is_none());
        let claim = new_claim(&key, 30, 7, None, now);
        assert!(claim.claim_id.starts_with("clm_"));
        assert_eq!(
            (claim.expires_at.unix_millis(), claim.fencing_token),
            (40_000, 7)
        );
    }
}
