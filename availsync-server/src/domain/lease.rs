//! How a `run/start` is decided: which resources it claims (the requested
//! ones and their `depends_on` closure), what blocks each of them (other
//! claims, a working set's overlaps, a rule's capacity), the plan's limit,
//! and how that is told.

use availsync_types::{
    BlockedPath, CheckResponse, Claim, ClaimedResource, Conflict, Decision, Holder, Mode, Plan,
    Reason, ReasonCode, ResourceConflict, ResourceKey, RunStatus, StartRunResponse, Timestamp,
    WorkingSet,
};

use super::ids::{IdKind, new_id};
use super::refusal::Refusal;
use super::rules::Governs;
use super::ttl::Ttl;
use super::working_sets::{self, Held, Meeting, Want};

/// One resource of a start as the store read it, under its lock: its rule
/// and the live claims on it that may stand in the way.
#[derive(Debug, Clone)]
pub struct ResourceState {
    /// The resource and its rule (the defaults when it has none).
    pub governs: Governs,
    /// Live claims on it: with capacity 1, those [`working_sets::meet`]
    /// needs; with a larger capacity, every one of them.
    pub held: Vec<Held>,
}

/// What the store knows at decision time, read in the same transaction
/// that grants.
#[derive(Debug, Clone)]
pub struct ClaimState {
    /// The resources the start claims: the requested ones first, in the
    /// order asked, then those their `depends_on` closure reaches.
    pub resources: Vec<ResourceState>,
    /// Live claims in the workspace (a claim on several resources counts
    /// once).
    pub live_claims: u32,
    /// When the first of those lapses.
    pub earliest_expiry: Option<Timestamp>,
    /// The workspace's plan.
    pub plan: Plan,
}

/// Why live claims stand in the way of a resource (or of several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `resource_claimed`, `paths_claimed` or `capacity_full` (of the first
    /// blocked resource).
    pub code: ReasonCode,
    /// The blocked resource (the first one).
    pub resource: String,
    /// Its blocker that lapses first.
    pub holder: Holder,
    /// Overlaps (a working set) or blocked resources (several).
    pub conflicts: Option<Vec<Conflict>>,
    /// For `capacity_full`: every live holder.
    pub holders: Option<Vec<Holder>>,
}

/// Why a claim cannot be granted now (in full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// Other live claims hold a resource, its paths or its capacity.
    Claimed(Block),
    /// The workspace is at its plan's limit of live claims.
    PlanLimit {
        /// The limit.
        limit: u32,
        /// When the first live claim lapses.
        earliest_expiry: Timestamp,
    },
}

impl Block {
    fn from_paths(resource: &ResourceKey, block: working_sets::Block) -> Self {
        Self {
            code: block.code,
            resource: resource.to_string(),
            holder: block.holder,
            conflicts: block
                .conflicts
                .map(|c| c.into_iter().map(Conflict::Path).collect()),
            holders: None,
        }
    }

    fn capacity_full(resource: &ResourceKey, held: &[Held]) -> Option<Self> {
        let mut holders: Vec<Holder> = held.iter().map(|h| h.holder.clone()).collect();
        holders.sort_by_key(|h| h.expires_at);
        Some(Self {
            code: ReasonCode::CapacityFull,
            resource: resource.to_string(),
            holder: holders.first()?.clone(),
            conflicts: None,
            holders: Some(holders),
        })
    }

    /// Several blocked resources: the first one's reason, and every one
    /// of them named.
    fn of_several(blocks: Vec<Block>) -> Option<Self> {
        let conflicts = blocks
            .iter()
            .map(|b| {
                Conflict::Resource(ResourceConflict {
                    resource: b.resource.clone(),
                    code: b.code,
                    holder: b.holder.clone(),
                })
            })
            .collect();
        let first = blocks.into_iter().next()?;
        Some(Self {
            conflicts: Some(conflicts),
            ..first
        })
    }
}

impl ClaimState {
    /// How `want` (of the first resource) meets the live claims, and what
    /// (if anything) blocks a new claim. A held resource or path is
    /// reported before the plan limit: it is the more specific reason. A
    /// partial grant still counts against the plan.
    pub fn meet(&self, want: &Want, now: Timestamp) -> (Meeting, Option<Blocker>) {
        let mut first = Meeting::Free;
        let mut blocks = Vec::new();
        for (index, state) in self.resources.iter().enumerate() {
            let resource = &state.governs.resource;
            if state.governs.capacity > 1 {
                if state.held.len() >= state.governs.capacity as usize {
                    blocks.extend(Block::capacity_full(resource, &state.held));
                }
                continue;
            }
            let meeting = if index == 0 {
                working_sets::meet(want, &state.held)
            } else {
                working_sets::meet(&Want::Whole, &state.held)
            };
            if let Meeting::Blocked(block) = &meeting {
                blocks.push(Block::from_paths(resource, block.clone()));
            }
            if index == 0 {
                first = meeting;
            }
        }
        let block = if self.resources.len() > 1 {
            Block::of_several(blocks)
        } else {
            blocks.into_iter().next()
        };
        let blocker = match block {
            Some(block) => Some(Blocker::Claimed(block)),
            None => self.plan_blocker(now),
        };
        (first, blocker)
    }

    fn plan_blocker(&self, now: Timestamp) -> Option<Blocker> {
        let limit = self.plan.limits().active_claims?;
        (self.live_claims >= limit).then(|| Blocker::PlanLimit {
            limit,
            earliest_expiry: self.earliest_expiry.unwrap_or(now),
        })
    }

    /// The mode a start runs in: observe when `mode` is, or when a rule of
    /// any resource it claims says observe.
    fn mode(&self, mode: Mode) -> Mode {
        let observed = self
            .resources
            .iter()
            .any(|r| r.governs.mode == Some(Mode::Observe));
        if observed { Mode::Observe } else { mode }
    }

    /// `ttl_seconds`, cut to the shortest `max_ttl_seconds` of the rules of
    /// the resources claimed.
    pub fn ttl(&self, ttl_seconds: u32) -> u32 {
        capped_ttl(ttl_seconds, self.resources.iter().map(|r| &r.governs))
    }
}

/// `ttl_seconds` cut to the shortest cap among `rules`.
pub fn capped_ttl<'a>(ttl_seconds: u32, rules: impl IntoIterator<Item = &'a Governs>) -> u32 {
    rules
        .into_iter()
        .filter_map(|g| g.max_ttl_seconds)
        .fold(ttl_seconds, u32::min)
}

impl Blocker {
    /// The reason told to the caller, and the seconds until the block lapses
    /// unless extended.
    pub fn explain(&self, now: Timestamp) -> (Reason, u64) {
        match self {
            Self::Claimed(block) => (
                explain_block(block),
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
                    holders: None,
                },
                now.seconds_until(*earliest_expiry),
            ),
        }
    }
}

/// The reason of a block by other live claims.
pub fn explain_block(block: &Block) -> Reason {
    let holder = &block.holder;
    let resource = &block.resource;
    let by = format!(
        "agent '{}' (run {}) until {}",
        holder.agent_name, holder.run_id, holder.expires_at
    );
    let conflicts = block.conflicts.as_deref().unwrap_or_default();
    let more = |what: &str| match conflicts.len().saturating_sub(1) {
        0 => String::new(),
        n => format!(" (and {n} more {what})"),
    };
    let first_path = conflicts.iter().find_map(|c| match c {
        Conflict::Path(p) => p.path.clone(),
        Conflict::Resource(_) => None,
    });
    let several = conflicts.iter().any(|c| matches!(c, Conflict::Resource(_)));
    let message = match (block.code, first_path) {
        (ReasonCode::PathsClaimed, Some(path)) => {
            format!(
                "{path} in {resource} is claimed by {by}{}",
                more("overlaps")
            )
        }
        (ReasonCode::CapacityFull, _) => {
            let count = block.holders.as_ref().map_or(0, Vec::len);
            format!(
                "{resource} is at its capacity of {count} live claims; the first lapses at {}{}",
                holder.expires_at,
                if several {
                    more("blocked resources")
                } else {
                    String::new()
                }
            )
        }
        _ if several => format!("{resource} is claimed by {by}{}", more("blocked resources")),
        _ => format!("{resource} is claimed by {by}"),
    };
    Reason {
        code: block.code,
        message,
        holder: Some(holder.clone()),
        conflicts: block.conflicts.clone(),
        holders: block.holders.clone(),
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
    /// The lease length granted (the request's, cut by the rules).
    pub ttl_seconds: u32,
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
    /// What a grant claims: each resource, and whether its rule shares it
    /// (a capacity above one), the first requested first.
    pub claims: Vec<(ResourceKey, bool)>,
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
            waited_ms: None,
            server_time: now,
        }
    }
}

impl ClaimState {
    /// Decides a start in `mode` asking `want` of the first resource, for
    /// `ttl_seconds`, at `now`. A working set on a resource whose rule
    /// shares it (capacity above one) is refused.
    pub fn decide(
        &self,
        mode: Mode,
        want: &Want,
        ttl_seconds: u32,
        now: Timestamp,
    ) -> Result<StartDecision, Refusal> {
        let primary = self
            .resources
            .first()
            .ok_or(Refusal::NotFound("resource"))?;
        if matches!(want, Want::Paths(_)) && primary.governs.capacity > 1 {
            return Err(Refusal::InvalidWorkingSet {
                field: "working_set",
                message: "the repository's rule gives it a capacity above one; a working set needs a repository one claim at a time may hold",
            });
        }
        let mode = self.mode(mode);
        let ttl_seconds = self.ttl(ttl_seconds);
        let (meeting, blocker) = self.meet(want, now);
        let explained = blocker.as_ref().map(|b| b.explain(now));
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
        let primary_key = &primary.governs.resource;
        let (working_set, blocked) = match (&meeting, decision) {
            (Meeting::Partial { blocked, block, .. }, Decision::PartialProceed) => {
                reason = Some(explain_block(&Block::from_paths(
                    primary_key,
                    block.clone(),
                )));
                (want.granted_set(&meeting), Some(blocked.clone()))
            }
            (Meeting::Partial { block, .. }, _) if mode == Mode::Observe => {
                reason = Some(explain_block(&Block::from_paths(
                    primary_key,
                    block.clone(),
                )));
                (None, None)
            }
            (_, Decision::Proceed) if mode == Mode::Enforce => (want.granted_set(&meeting), None),
            _ => (None, None),
        };
        let claims = self
            .resources
            .iter()
            .map(|r| (r.governs.resource.clone(), r.governs.capacity > 1))
            .collect();
        Ok(StartDecision {
            mode,
            plan: self.plan,
            decision,
            ttl_seconds,
            would_block,
            run_expires_at,
            reason,
            retry_after,
            blocker,
            working_set,
            blocked,
            claims,
        })
    }
}

/// The claim a granted start holds from `now`: on `resources` (the first
/// requested first), each with the fencing token the store took for it.
pub fn new_claim(
    resources: &[(ResourceKey, u64)],
    ttl_seconds: u32,
    working_set: Option<WorkingSet>,
    now: Timestamp,
) -> Claim {
    let (resource, fencing_token) = resources
        .first()
        .map_or((String::new(), 0), |(r, t)| (r.to_string(), *t));
    Claim {
        claim_id: new_id(IdKind::Claim),
        resource,
        expires_at: Ttl::from_seconds(ttl_seconds).expiry_from(now),
        ttl_seconds,
        fencing_token,
        working_set,
        resources: (resources.len() > 1).then(|| {
            resources
                .iter()
                .map(|(r, t)| ClaimedResource {
                    resource: r.to_string(),
                    fencing_token: *t,
                })
                .collect()
        }),
    }
}

/// The `/v1/work/check` answer for `want` of the state's resources.
pub fn check_answer(state: &ClaimState, want: &Want, now: Timestamp) -> CheckResponse {
    let (_, blocker) = state.meet(want, now);
    let (holder, conflicts) = match blocker {
        Some(Blocker::Claimed(block)) => (Some(block.holder), block.conflicts),
        _ => (None, None),
    };
    let resource = state
        .resources
        .first()
        .map(|r| r.governs.resource.to_string())
        .unwrap_or_default();
    CheckResponse {
        resource,
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

    fn key(text: &str) -> ResourceKey {
        text.parse().unwrap()
    }

    fn holder(run: &str, expires_ms: i64) -> Holder {
        Holder {
            agent_id: "agt_1".into(),
            agent_name: "ci-bot".into(),
            run_id: run.into(),
            expires_at: Timestamp::from_unix_millis(expires_ms),
        }
    }

    fn whole(expires_ms: i64) -> Held {
        Held {
            holder: holder("run_1", expires_ms),
            set: None,
        }
    }

    fn on(resource: &str, held: Vec<Held>) -> ResourceState {
        ResourceState {
            governs: Governs::default_for(key(resource)),
            held,
        }
    }

    fn state(held: Vec<Held>, live: u32, plan: Plan) -> ClaimState {
        ClaimState {
            resources: vec![on("repo:a/b", held)],
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

    const NOW: Timestamp = Timestamp::from_unix_millis(10_000);

    #[test]
    fn a_held_resource_blocks_with_its_holder_and_rounded_up_retry() {
        let (_, blocker) = state(vec![whole(20_001)], 1, Plan::Free).meet(&Want::Whole, NOW);
        let (reason, retry) = blocker.unwrap().explain(NOW);
        assert_eq!(reason.code, ReasonCode::ResourceClaimed);
        assert!(reason.message.contains("ci-bot"));
        assert_eq!((reason.conflicts, reason.holders), (None, None));
        assert_eq!(retry, 11);
    }

    #[test]
    fn plan_limit_blocks_only_at_the_limit() {
        let blocker = |live, plan| state(vec![], live, plan).meet(&Want::Whole, NOW).1;
        assert_eq!(blocker(2, Plan::Free), None);
        let (reason, retry) = blocker(3, Plan::Free).unwrap().explain(NOW);
        assert_eq!(reason.code, ReasonCode::PlanLimitActiveClaims);
        assert_eq!(retry, 31);
        assert_eq!(blocker(10_000, Plan::Business), None);
    }

    #[test]
    fn enforce_skips_and_observe_proceeds_with_would_block() {
        let held = state(vec![whole(20_001)], 1, Plan::Free);
        let skip = held.decide(Mode::Enforce, &Want::Whole, 60, NOW).unwrap();
        assert_eq!(skip.decision, Decision::SkipRun);
        assert_eq!(skip.retry_after, Some(11));
        let observed = held.decide(Mode::Observe, &Want::Whole, 60, NOW).unwrap();
        assert_eq!(observed.decision, Decision::Proceed);
        assert!(observed.would_block && observed.retry_after.is_none());
        assert_eq!(observed.run_expires_at, Some(NOW.add_millis(60_000)));
        let free = state(vec![], 0, Plan::Free)
            .decide(Mode::Enforce, &Want::Whole, 60, NOW)
            .unwrap();
        assert!(free.grants() && !observed.grants() && !skip.grants());
        assert_eq!((free.decision, free.reason), (Decision::Proceed, None));
        assert_eq!(free.claims, vec![(key("repo:a/b"), false)]);
        assert_eq!(effective_mode(Mode::Observe, false), Mode::Observe);
        assert_eq!(effective_mode(Mode::Enforce, true), Mode::Observe);
        assert_eq!(effective_mode(Mode::Enforce, false), Mode::Enforce);
    }

    #[test]
    fn a_partial_start_proceeds_on_the_free_paths_and_lists_the_rest() {
        let api = Held {
            holder: holder("run_1", 20_001),
            set: Some(HeldSet {
                mode: WorkingSetMode::Edit,
                paths: vec!["src/api/**".parse().unwrap()],
            }),
        };
        let held = state(vec![api], 1, Plan::Free);
        let asked = paths(&["src/api/x.rs", "src/db/"], true);
        let partial = held.decide(Mode::Enforce, &asked, 60, NOW).unwrap();
        assert_eq!(partial.decision, Decision::PartialProceed);
        assert!(partial.grants());
        assert_eq!(
            partial.working_set.unwrap().paths,
            vec!["src/db/**".to_owned()]
        );
        assert_eq!(partial.blocked.unwrap()[0].path, "src/api/x.rs");
        assert_eq!(partial.reason.unwrap().code, ReasonCode::PathsClaimed);
        let whole_request = paths(&["src/api/x.rs", "src/db/"], false);
        let skipped = held.decide(Mode::Enforce, &whole_request, 60, NOW).unwrap();
        assert_eq!(skipped.decision, Decision::SkipRun);
        let reason = skipped.reason.unwrap();
        assert!(
            reason.message.contains("src/api/x.rs"),
            "{}",
            reason.message
        );
        let Some(Conflict::Path(first)) = reason.conflicts.unwrap().into_iter().next() else {
            panic!("not a path conflict")
        };
        assert_eq!(first.held_paths, Some(vec!["src/api/**".to_owned()]));
        // A partial grant still counts against the plan.
        let full = ClaimState {
            live_claims: 3,
            ..held.clone()
        };
        let at_limit = full.decide(Mode::Enforce, &asked, 60, NOW).unwrap();
        assert_eq!(at_limit.decision, Decision::SkipRun);
    }

    #[test]
    fn several_resources_are_granted_together_or_skipped_naming_every_blocked_one() {
        let several = |held_b: Vec<Held>, held_c: Vec<Held>| ClaimState {
            resources: vec![
                on("project:a", vec![]),
                on("project:b", held_b),
                on("db:c", held_c),
            ],
            live_claims: 0,
            earliest_expiry: None,
            plan: Plan::Business,
        };
        let free = several(vec![], vec![])
            .decide(Mode::Enforce, &Want::Whole, 60, NOW)
            .unwrap();
        assert_eq!(free.decision, Decision::Proceed);
        assert_eq!(free.claims.len(), 3);
        let skipped = several(vec![whole(30_000)], vec![whole(20_000)])
            .decide(Mode::Enforce, &Want::Whole, 60, NOW)
            .unwrap();
        assert_eq!(skipped.decision, Decision::SkipRun);
        let reason = skipped.reason.unwrap();
        assert_eq!(reason.code, ReasonCode::ResourceClaimed);
        assert!(
            reason.message.starts_with("project:b is claimed"),
            "{}",
            reason.message
        );
        let conflicts = reason.conflicts.unwrap();
        let named: Vec<String> = conflicts
            .iter()
            .map(|c| match c {
                Conflict::Resource(r) => r.resource.clone(),
                Conflict::Path(_) => panic!("a path conflict"),
            })
            .collect();
        assert_eq!(named, ["project:b", "db:c"]);
    }

    #[test]
    fn rules_set_capacity_mode_and_the_longest_lease() {
        let pool = |held: usize, capacity: u32| ClaimState {
            resources: vec![ResourceState {
                governs: Governs {
                    capacity,
                    max_ttl_seconds: Some(30),
                    ..Governs::default_for(key("pool:gpu"))
                },
                held: (0..held)
                    .map(|i| Held {
                        holder: holder(&format!("r{i}"), 20_000 + i as i64),
                        set: None,
                    })
                    .collect(),
            }],
            live_claims: 0,
            earliest_expiry: None,
            plan: Plan::Business,
        };
        let granted = pool(2, 3)
            .decide(Mode::Enforce, &Want::Whole, 300, NOW)
            .unwrap();
        assert_eq!(
            (granted.decision, granted.ttl_seconds),
            (Decision::Proceed, 30)
        );
        assert_eq!(granted.claims, vec![(key("pool:gpu"), true)]);
        let full = pool(3, 3)
            .decide(Mode::Enforce, &Want::Whole, 300, NOW)
            .unwrap();
        let reason = full.reason.unwrap();
        assert_eq!(reason.code, ReasonCode::CapacityFull);
        assert_eq!(reason.holders.unwrap().len(), 3);
        assert_eq!(reason.holder.unwrap().run_id, "r0", "the first to lapse");
        let observed = ClaimState {
            resources: vec![ResourceState {
                governs: Governs {
                    mode: Some(Mode::Observe),
                    ..Governs::default_for(key("project:x"))
                },
                held: vec![whole(20_000)],
            }],
            live_claims: 0,
            earliest_expiry: None,
            plan: Plan::Business,
        };
        let run = observed
            .decide(Mode::Enforce, &Want::Whole, 60, NOW)
            .unwrap();
        assert_eq!(
            (run.mode, run.decision, run.would_block),
            (Mode::Observe, Decision::Proceed, true)
        );
        let refused = pool(0, 3).decide(Mode::Enforce, &paths(&["a"], false), 60, NOW);
        assert!(matches!(refused, Err(Refusal::InvalidWorkingSet { .. })));
    }

    #[test]
    fn a_check_answers_the_holder_and_when_it_lapses() {
        let held = check_answer(
            &state(vec![whole(20_001)], 0, Plan::Free),
            &Want::Whole,
            NOW,
        );
        assert!(!held.available);
        assert_eq!(held.retry_after, Some(11));
        let free = check_answer(&state(vec![], 0, Plan::Free), &Want::Whole, NOW);
        assert!(free.available && free.retry_after.is_none() && free.holder.is_none());
        let claim = new_claim(&[(key("repo:a/b"), 7)], 30, None, NOW);
        assert!(claim.claim_id.starts_with("clm_"));
        assert_eq!(
            (
                claim.expires_at.unix_millis(),
                claim.fencing_token,
                claim.resources
            ),
            (40_000, 7, None)
        );
        let two = new_claim(&[(key("project:a"), 7), (key("db:b"), 3)], 30, None, NOW);
        assert_eq!(two.resources.unwrap()[1].fencing_token, 3);
    }
}
