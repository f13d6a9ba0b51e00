//! The structured content of every tool result, with its JSON schema (the
//! tools' `outputSchema`). Times are RFC 3339 UTC strings.

use availsync_sdk::types::{
    BlockedPath, BusyWindow, Claim, ClaimedResource, Conflict, FreeWindow, Hold, HoldHolder,
    Holder, PathConflict, Reason, ResourceConflict, Rule, Run, UsageResponse,
};
use schemars::JsonSchema;
use serde::Serialize;

/// What `start_run` tells the model to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Do the work; call `finish_run` when done.
    Proceed,
    /// Some of the paths asked for are yours (`lease.paths`), the others
    /// are held by others (`blocked_paths`): work only on yours.
    Partial,
    /// Do not do the work now; tell the user why.
    Skip,
    /// The run's lease is already gone: do not work under it.
    Stop,
}

/// The agent and run holding a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HolderInfo {
    /// The holding agent's id.
    pub agent_id: String,
    /// The holding agent's name.
    pub agent_name: String,
    /// The holding run.
    pub run_id: String,
    /// When the holder's lease lapses unless it is extended.
    pub expires_at: String,
    /// True when the holder is this same agent in another session (another
    /// editor window or terminal with the same key); false when not, or
    /// not known.
    pub same_agent: bool,
    /// True when the holder has renewed its lease since it was granted: it
    /// is held while they work, and `expires_at` says little of when it
    /// frees; false when not, or not known.
    pub renewed: bool,
}

impl From<&Holder> for HolderInfo {
    fn from(h: &Holder) -> Self {
        Self {
            agent_id: h.agent_id.clone(),
            agent_name: h.agent_name.clone(),
            run_id: h.run_id.clone(),
            expires_at: h.expires_at.to_string(),
            same_agent: false,
            renewed: false,
        }
    }
}

/// Why a run was (or would have been) told to skip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReasonInfo {
    /// `resource_claimed` or `plan_limit_active_claims`.
    pub code: String,
    /// One human sentence.
    pub message: String,
}

impl From<&Reason> for ReasonInfo {
    fn from(r: &Reason) -> Self {
        Self {
            code: r.code.as_str().to_owned(),
            message: r.message.clone(),
        }
    }
}

/// A lease held by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LeaseInfo {
    /// The claim's id.
    pub claim_id: String,
    /// When the lease lapses unless extended (this server extends it while
    /// `kept_alive` is true).
    pub expires_at: String,
    /// The lease length in seconds.
    pub ttl_seconds: u32,
    /// Strictly increasing per resource: pass it to systems that should
    /// refuse writers holding an older lease.
    pub fencing_token: u64,
    /// True while this MCP server keeps the lease alive in the background.
    pub kept_alive: bool,
    /// When this server stops keeping it alive (its maximum run time).
    pub kept_alive_until: Option<String>,
    /// For a claim on some paths of a repository: the paths you hold (edit
    /// only these; claim_paths adds more). Null: the whole resource.
    pub paths: Option<Vec<String>>,
    /// `edit` or `read`, for a claim on paths.
    pub paths_mode: Option<String>,
    /// Every resource the lease holds, each with its fencing token: more
    /// than one when several were asked for or a rule adds dependencies.
    pub resources: Vec<ResourceToken>,
}

impl LeaseInfo {
    /// From a claim, with whether and until when this process keeps it.
    pub fn new(claim: &Claim, kept_alive_until: Option<String>) -> Self {
        Self {
            claim_id: claim.claim_id.clone(),
            expires_at: claim.expires_at.to_string(),
            ttl_seconds: claim.ttl_seconds,
            fencing_token: claim.fencing_token,
            kept_alive: kept_alive_until.is_some(),
            kept_alive_until,
            paths: claim.working_set.as_ref().map(|set| set.paths.clone()),
            paths_mode: claim
                .working_set
                .as_ref()
                .map(|set| set.mode.as_str().to_owned()),
            resources: ResourceToken::of(claim),
        }
    }
}

/// One resource of a lease and its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ResourceToken {
    /// The resource.
    pub resource: String,
    /// Its fencing token, strictly increasing per resource.
    pub fencing_token: u64,
}

impl ResourceToken {
    /// Every resource `claim` holds, the first requested one first.
    pub fn of(claim: &Claim) -> Vec<Self> {
        match &claim.resources {
            Some(all) => all.iter().map(Self::from).collect(),
            None => vec![Self {
                resource: claim.resource.clone(),
                fencing_token: claim.fencing_token,
            }],
        }
    }
}

impl From<&ClaimedResource> for ResourceToken {
    fn from(c: &ClaimedResource) -> Self {
        Self {
            resource: c.resource.clone(),
            fencing_token: c.fencing_token,
        }
    }
}

/// A path you asked for that someone else holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HeldPathInfo {
    /// The path you asked for; null when you asked for the whole
    /// repository.
    pub path: Option<String>,
    /// Who holds it.
    pub holder: HolderInfo,
    /// The holder's paths that overlap it; null when the holder claims the
    /// whole repository (or it is not known).
    pub held_paths: Option<Vec<String>>,
}

impl From<&PathConflict> for HeldPathInfo {
    fn from(c: &PathConflict) -> Self {
        Self {
            path: c.path.clone(),
            holder: HolderInfo::from(&c.holder),
            held_paths: c.held_paths.clone(),
        }
    }
}

impl From<&BlockedPath> for HeldPathInfo {
    fn from(b: &BlockedPath) -> Self {
        Self {
            path: Some(b.path.clone()),
            holder: HolderInfo::from(&b.holder),
            held_paths: None,
        }
    }
}

/// A resource that kept a start on several resources from being granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BlockedResourceInfo {
    /// The resource.
    pub resource: String,
    /// `resource_claimed`, or `capacity_full` (it admits several runs and
    /// all places are taken).
    pub code: String,
    /// Who holds it (the holder whose lease lapses first).
    pub holder: HolderInfo,
}

impl From<&ResourceConflict> for BlockedResourceInfo {
    fn from(c: &ResourceConflict) -> Self {
        Self {
            resource: c.resource.clone(),
            code: c.code.as_str().to_owned(),
            holder: HolderInfo::from(&c.holder),
        }
    }
}

/// What blocked a start, split by kind: held paths and blocked resources.
pub fn blockers(reason: Option<&Reason>) -> (Vec<HeldPathInfo>, Vec<BlockedResourceInfo>) {
    let mut paths = Vec::new();
    let mut resources = Vec::new();
    for conflict in reason
        .and_then(|r| r.conflicts.as_deref())
        .unwrap_or_default()
    {
        match conflict {
            Conflict::Path(c) => paths.push(HeldPathInfo::from(c)),
            Conflict::Resource(c) => resources.push(BlockedResourceInfo::from(c)),
        }
    }
    (paths, resources)
}

/// The answer of `start_run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct StartRunOutput {
    /// `proceed`: do the work, then call `finish_run`. `skip`: do not do the
    /// work now; tell the user. `stop`: the run's lease is already gone.
    pub action: Action,
    /// The run; pass it to `finish_run`.
    pub run_id: String,
    /// The resource, normalised (e.g. `repo:acme/web`).
    pub resource: String,
    /// `enforce`, or `observe` (a dry run: nothing is locked).
    pub mode: String,
    /// True when this answer repeats an earlier start with the same run_id.
    pub replayed: bool,
    /// The lease, when one was granted.
    pub lease: Option<LeaseInfo>,
    /// Who holds the resource, when the answer is skip (or, in observe mode,
    /// who would have blocked the run).
    pub holder: Option<HolderInfo>,
    /// Why the run was (or would have been) told to skip.
    pub reason: Option<ReasonInfo>,
    /// Seconds until the blocking lease lapses unless its holder extends it.
    pub retry_after_seconds: Option<u64>,
    /// Observe mode: whether an enforcing run would have been told to skip.
    pub would_block: bool,
    /// Paths you asked for that others hold: why a start on paths was
    /// skipped, or what a partial grant left out.
    pub blocked_paths: Vec<HeldPathInfo>,
    /// Resources that kept a start on several resources from being granted
    /// (nothing was claimed), each with its holder.
    pub blocked_resources: Vec<BlockedResourceInfo>,
    /// `capacity_full`: every run holding the resource's places.
    pub holders: Vec<HolderInfo>,
    /// The wait sent to the server, in seconds, when wait_seconds was
    /// given (shortened to fit this server's call deadline); null otherwise.
    pub wait_seconds: Option<u32>,
    /// The wait_seconds asked for, when it was shortened to fit this
    /// server's call deadline; null otherwise.
    pub wait_shortened_from: Option<u32>,
    /// How long the server waited for the resource before it answered, in
    /// milliseconds; null when no wait was sent.
    pub waited_ms: Option<u64>,
}

impl StartRunOutput {
    /// An answer with only its action, run, resource and mode set.
    pub fn new(action: Action, run_id: String, resource: String, mode: &str) -> Self {
        Self {
            action,
            run_id,
            resource,
            mode: mode.to_owned(),
            replayed: false,
            lease: None,
            holder: None,
            reason: None,
            retry_after_seconds: None,
            would_block: false,
            blocked_paths: Vec::new(),
            blocked_resources: Vec::new(),
            holders: Vec::new(),
            wait_seconds: None,
            wait_shortened_from: None,
            waited_ms: None,
        }
    }
}

/// The answer of `extend_run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ExtendRunOutput {
    /// The run.
    pub run_id: String,
    /// The resource, when known.
    pub resource: Option<String>,
    /// The extended lease; null for an observe run (which holds none).
    pub lease: Option<LeaseInfo>,
}

/// The answer of `finish_run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FinishRunOutput {
    /// The run.
    pub run_id: String,
    /// The resource, when known.
    pub resource: Option<String>,
    /// The outcome recorded (the first one, when finished twice).
    pub outcome: String,
    /// True when finishing released a live lease.
    pub released: bool,
}

/// A run as `list_runs` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RunInfo {
    /// The run.
    pub run_id: String,
    /// The agent that started it.
    pub agent_id: String,
    /// That agent's name.
    pub agent_name: String,
    /// The resource.
    pub resource: String,
    /// `enforce` or `observe`.
    pub mode: String,
    /// `proceed` or `skip_run`.
    pub decision: String,
    /// `active`, `expired`, `released`, `skipped` or `finished`.
    pub status: String,
    /// What it is for.
    pub purpose: Option<String>,
    /// When the lease lapses unless extended (runs that were granted one).
    pub expires_at: Option<String>,
    /// The lease's fencing token (runs that were granted one).
    pub fencing_token: Option<u64>,
    /// How it ended, once finished.
    pub outcome: Option<String>,
    /// When it started.
    pub created_at: String,
    /// True when this MCP server keeps the run's lease alive.
    pub kept_alive_by_this_session: bool,
    /// The paths of the repository the run holds; null: the whole
    /// resource (or no lease).
    pub paths: Option<Vec<String>>,
    /// Every resource the run's lease holds, when it holds several.
    pub resources: Option<Vec<String>>,
}

impl RunInfo {
    /// From a listed run.
    pub fn new(run: &Run, kept_alive_by_this_session: bool) -> Self {
        Self {
            run_id: run.run_id.clone(),
            agent_id: run.agent_id.clone(),
            agent_name: run.agent_name.clone(),
            resource: run.resource.clone(),
            mode: run.mode.as_str().to_owned(),
            decision: run.decision.as_str().to_owned(),
            status: run.status.as_str().to_owned(),
            purpose: run.purpose.clone(),
            expires_at: run.claim.as_ref().map(|c| c.expires_at.to_string()),
            fencing_token: run.claim.as_ref().map(|c| c.fencing_token),
            outcome: run.outcome.map(|o| o.as_str().to_owned()),
            created_at: run.created_at.to_string(),
            kept_alive_by_this_session,
            paths: run
                .claim
                .as_ref()
                .and_then(|c| c.working_set.as_ref())
                .map(|set| set.paths.clone()),
            resources: run
                .claim
                .as_ref()
                .and_then(|c| c.resources.as_ref())
                .map(|all| all.iter().map(|r| r.resource.clone()).collect()),
        }
    }
}

/// The answer of `list_runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ListRunsOutput {
    /// True when only active runs (live leases) were asked for.
    pub active_only: bool,
    /// The runs, newest first.
    pub runs: Vec<RunInfo>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Who made a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HoldHolderInfo {
    /// `agent` or `user`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The agent's or user's id.
    pub id: String,
    /// The agent's name or the user's email.
    pub name: String,
}

impl From<&HoldHolder> for HoldHolderInfo {
    fn from(h: &HoldHolder) -> Self {
        Self {
            kind: h.kind.clone(),
            id: h.id.clone(),
            name: h.name.clone(),
        }
    }
}

/// A live hold inside a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BusyInfo {
    /// The hold.
    pub hold_id: String,
    /// Its start (inclusive).
    pub start: String,
    /// Its end (exclusive).
    pub end: String,
    /// Who holds it.
    pub holder: HoldHolderInfo,
}

impl From<&BusyWindow> for BusyInfo {
    fn from(b: &BusyWindow) -> Self {
        Self {
            hold_id: b.hold_id.clone(),
            start: b.start.to_string(),
            end: b.end.to_string(),
            holder: (&b.holder).into(),
        }
    }
}

/// A free stretch of time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FreeInfo {
    /// Start (inclusive).
    pub start: String,
    /// End (exclusive).
    pub end: String,
}

impl From<&FreeWindow> for FreeInfo {
    fn from(f: &FreeWindow) -> Self {
        Self {
            start: f.start.to_string(),
            end: f.end.to_string(),
        }
    }
}

/// What `check_availability` looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AvailabilityKind {
    /// Whether a repo or project is free to claim right now.
    Work,
    /// Which parts of a time window are free of holds.
    Schedule,
}

/// The answer of `check_availability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AvailabilityOutput {
    /// `work` (is the resource free to claim now?) or `schedule` (which
    /// parts of the window are free of holds?).
    pub kind: AvailabilityKind,
    /// The resource, normalised.
    pub resource: String,
    /// Work: no live lease holds it. Schedule: no hold overlaps the window.
    pub available: bool,
    /// Work: who holds it.
    pub holder: Option<HolderInfo>,
    /// Work: seconds until the holder's lease lapses unless extended.
    pub retry_after_seconds: Option<u64>,
    /// Schedule: start of the window looked at.
    pub from: Option<String>,
    /// Schedule: end of the window looked at.
    pub to: Option<String>,
    /// Schedule: live holds overlapping the window, by start.
    pub busy: Vec<BusyInfo>,
    /// Schedule: the free parts of the window, by start.
    pub free: Vec<FreeInfo>,
}

/// The answer of `check_conflicts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConflictsOutput {
    /// The resource, normalised.
    pub resource: String,
    /// Start of the window checked.
    pub start: String,
    /// End of the window checked.
    pub end: String,
    /// True when live holds overlap the window.
    pub conflict: bool,
    /// The overlapping holds.
    pub conflicts: Vec<BusyInfo>,
}

/// A hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HoldInfo {
    /// The hold; pass it to `release_hold`.
    pub hold_id: String,
    /// The resource.
    pub resource: String,
    /// Start (inclusive).
    pub start: String,
    /// End (exclusive).
    pub end: String,
    /// What it is for.
    pub purpose: Option<String>,
    /// `active`, `released` or `expired`.
    pub status: String,
    /// Who made it.
    pub holder: HoldHolderInfo,
    /// A tentative hold lapses at this time unless released earlier.
    pub expires_at: Option<String>,
}

impl From<&Hold> for HoldInfo {
    fn from(h: &Hold) -> Self {
        Self {
            hold_id: h.hold_id.clone(),
            resource: h.resource.clone(),
            start: h.start.to_string(),
            end: h.end.to_string(),
            purpose: h.purpose.clone(),
            status: h.status.as_str().to_owned(),
            holder: (&h.holder).into(),
            expires_at: h.expires_at.map(|t| t.to_string()),
        }
    }
}

/// The answer of `create_hold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CreateHoldOutput {
    /// True when the window is now held for you.
    pub created: bool,
    /// True when this answer repeats an earlier create with the same
    /// idempotency key.
    pub replayed: bool,
    /// The hold, when created.
    pub hold: Option<HoldInfo>,
    /// When not created: the holds in the way.
    pub conflicts: Vec<BusyInfo>,
    /// The resource, normalised.
    pub resource: String,
    /// Start of the window asked for.
    pub start: String,
    /// End of the window asked for.
    pub end: String,
}

/// The answer of `release_hold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReleaseHoldOutput {
    /// The hold.
    pub hold_id: String,
    /// Always true: the hold is released (releasing again is harmless).
    pub released: bool,
}

/// Plan limits; null means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LimitsInfo {
    /// Most agents.
    pub agents: Option<u32>,
    /// Most live leases at once.
    pub active_claims: Option<u32>,
}

/// Current usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UsageInfo {
    /// Agents that exist.
    pub agents: u64,
    /// Live leases.
    pub active_claims: u64,
    /// Resources ever claimed.
    pub protected_resources: u64,
}

/// Counts within the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CountsInfo {
    /// Runs granted a lease.
    pub runs_started: u64,
    /// Observe runs.
    pub runs_observed: u64,
    /// Runs told to skip.
    pub runs_skipped: u64,
    /// Observe runs that would have been blocked.
    pub would_have_blocked: u64,
    /// Holds created.
    pub holds_created: u64,
}

/// The answer of `usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UsageOutput {
    /// `free`, `team` or `business`.
    pub plan: String,
    /// The plan's limits.
    pub limits: LimitsInfo,
    /// Current usage.
    pub usage: UsageInfo,
    /// Counts within the period.
    pub counts: CountsInfo,
    /// Start of the period counted; null for all time.
    pub since: Option<String>,
    /// End of the period counted.
    pub until: String,
}

impl From<&UsageResponse> for UsageOutput {
    fn from(u: &UsageResponse) -> Self {
        Self {
            plan: u.plan.as_str().to_owned(),
            limits: LimitsInfo {
                agents: u.limits.agents,
                active_claims: u.limits.active_claims,
            },
            usage: UsageInfo {
                agents: u.usage.agents,
                active_claims: u.usage.active_claims,
                protected_resources: u.usage.protected_resources,
            },
            counts: CountsInfo {
                runs_started: u.counts.runs_started,
                runs_observed: u.counts.runs_observed,
                runs_skipped: u.counts.runs_skipped,
                would_have_blocked: u.counts.would_have_blocked,
                holds_created: u.counts.holds_created,
            },
            since: u.since.map(|t| t.to_string()),
            until: u.until.to_string(),
        }
    }
}

/// A tool error, as `_meta["availsync/error"]` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ErrorInfo {
    /// A snake_case code: the server's (`lease_lost`, `not_found`,
    /// `invalid_resource`, …) or this server's (`unreachable`,
    /// `invalid_argument`, `shutting_down`).
    pub code: String,
    /// One human sentence.
    pub message: String,
    /// True when the same call may succeed later.
    pub retryable: bool,
}

/// The answer of `claim_paths`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ClaimPathsOutput {
    /// `proceed`: the change is made; edit only `paths`. `partial`: the
    /// free paths were added, the others (`blocked_paths`) are held by
    /// others. `skip`: nothing changed; `blocked_paths` are held by others.
    pub action: Action,
    /// The run holding the paths.
    pub run_id: String,
    /// The repository.
    pub resource: String,
    /// The paths you hold now (edit only these).
    pub paths: Vec<String>,
    /// `edit` or `read`.
    pub paths_mode: String,
    /// Paths you asked to add that others hold, with their holders.
    pub blocked_paths: Vec<HeldPathInfo>,
}

/// One rule of the workspace, as `list_rules` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RuleInfo {
    /// The resource it is about.
    pub resource: String,
    /// Resources a claim on it also claims, in the same grant.
    pub depends_on: Vec<String>,
    /// How many runs may hold it at once.
    pub capacity: u32,
    /// `observe`: every run on it is a dry run that locks nothing; null:
    /// the agent's mode decides.
    pub mode: Option<String>,
    /// Longest lease on it, in seconds; longer requests are cut to this.
    pub max_ttl_seconds: Option<u32>,
    /// Why the rule exists.
    pub note: Option<String>,
}

impl From<&Rule> for RuleInfo {
    fn from(r: &Rule) -> Self {
        Self {
            resource: r.resource.clone(),
            depends_on: r.depends_on.clone(),
            capacity: r.capacity,
            mode: r.mode.map(|m| m.as_str().to_owned()),
            max_ttl_seconds: r.max_ttl_seconds,
            note: r.note.clone(),
        }
    }
}

/// The answer of `list_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ListRulesOutput {
    /// Every rule of the workspace, by resource. A resource without one
    /// admits one run at a time and a claim on it holds only itself.
    pub rules: Vec<RuleInfo>,
}
