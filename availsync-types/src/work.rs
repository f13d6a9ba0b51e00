//! Work coordination: runs, work claims (leases), decisions.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Shortest lease a run may ask for, in seconds.
pub const MIN_TTL_SECONDS: u32 = 10;
/// Longest lease a run may ask for, in seconds.
pub const MAX_TTL_SECONDS: u32 = 3600;
/// Lease length when a run asks for none, in seconds.
pub const DEFAULT_TTL_SECONDS: u32 = 300;
/// Longest client-chosen `run_id`.
pub const MAX_RUN_ID_LEN: usize = 128;

/// Whether a run's `run_id` is acceptable: `[A-Za-z0-9._:-]{1,128}`.
///
/// ```
/// use availsync_types::is_valid_run_id;
/// assert!(is_valid_run_id("gha:12345.2:deploy"));
/// assert!(!is_valid_run_id("has space"));
/// ```
pub fn is_valid_run_id(run_id: &str) -> bool {
    (1..=MAX_RUN_ID_LEN).contains(&run_id.len())
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// How an agent's runs are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Conflicting runs are told `skip_run`; granted runs hold a lease.
    Enforce,
    /// Runs always proceed, take no lease, and record whether they would
    /// have been blocked.
    Observe,
}

impl Mode {
    /// `enforce` or `observe`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Observe => "observe",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a run was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Go ahead.
    Proceed,
    /// Go ahead on the paths the claim holds (`claim.working_set`); the
    /// rest are listed in `blocked` (a `partial: true` working-set start).
    PartialProceed,
    /// Do not do the work now; `reason` says why.
    SkipRun,
}

impl Decision {
    /// Whether the run may go ahead (on all or part of what it asked for).
    pub const fn proceeds(self) -> bool {
        matches!(self, Self::Proceed | Self::PartialProceed)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The work was done.
    Succeeded,
    /// The work was attempted and failed.
    Failed,
    /// The work was abandoned.
    Cancelled,
}

/// Why a run was (or, in observe mode, would have been) told to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReasonCode {
    /// Another live claim holds the resource; `holder` says whose.
    ResourceClaimed,
    /// The workspace holds as many live claims as its plan allows.
    PlanLimitActiveClaims,
    /// Paths of the requested working set are held by other live claims;
    /// `conflicts` lists them.
    PathsClaimed,
    /// The resource's rule admits no more live claims; `holders` lists
    /// them all.
    CapacityFull,
}

/// Whether a working set will change the paths it holds or only read them.
/// Two `read` working sets never conflict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkingSetMode {
    /// The run changes these paths.
    #[default]
    Edit,
    /// The run only reads them.
    Read,
}

/// The paths a claim on a repository holds (SPEC §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkingSet {
    /// Normalised patterns (a directory as `dir/**`).
    pub paths: Vec<String>,
    /// `edit` or `read`.
    pub mode: WorkingSetMode,
}

/// The working set a `run/start` or `/v1/work/check` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WorkingSetRequest {
    /// 1-200 repo-relative patterns: a file, `dir/` or `dir/**`, `*` within
    /// a segment, `**` as a whole segment; at most 512 bytes each.
    pub paths: Vec<String>,
    /// `edit` (default) or `read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<WorkingSetMode>,
}

/// One held path that blocks a requested one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathConflict {
    /// The requester's pattern (`null` for a whole-repo request).
    pub path: Option<String>,
    /// Who holds it.
    pub holder: Holder,
    /// The holder's overlapping patterns (`null` when the holder claims the
    /// whole repository).
    pub held_paths: Option<Vec<String>>,
}

/// A resource of a multi-resource claim (or of a `depends_on` closure)
/// that blocks the start, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceConflict {
    /// The blocked resource.
    pub resource: String,
    /// Why it is blocked.
    pub code: ReasonCode,
    /// Who holds it (the holder that lapses first).
    pub holder: Holder,
}

/// One entry of `reason.conflicts`: a blocked resource (several resources,
/// or a `depends_on` closure) or a blocked path (a working set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Conflict {
    /// A resource and why it is blocked.
    Resource(ResourceConflict),
    /// A path and the overlapping patterns that hold it.
    Path(PathConflict),
}

impl Conflict {
    /// Who holds what blocks.
    pub fn holder(&self) -> &Holder {
        match self {
            Self::Resource(c) => &c.holder,
            Self::Path(c) => &c.holder,
        }
    }

    /// The path conflict, for a working set.
    pub fn as_path(&self) -> Option<&PathConflict> {
        match self {
            Self::Path(c) => Some(c),
            Self::Resource(_) => None,
        }
    }

    /// The resource conflict, for several resources.
    pub fn as_resource(&self) -> Option<&ResourceConflict> {
        match self {
            Self::Resource(c) => Some(c),
            Self::Path(_) => None,
        }
    }
}

/// One resource of a claim and its own fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClaimedResource {
    /// The resource.
    pub resource: String,
    /// Its fencing token, strictly increasing per resource.
    pub fencing_token: u64,
}

/// A requested path a partial grant left out, and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedPath {
    /// The requested pattern.
    pub path: String,
    /// Who holds it (the blocker that lapses first).
    pub holder: Holder,
}

/// A live work claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Claim {
    /// `clm_…`
    pub claim_id: String,
    /// The claimed resource (normalised).
    pub resource: String,
    /// The lease lapses at this instant unless extended.
    pub expires_at: Timestamp,
    /// The lease length last asked for.
    pub ttl_seconds: u32,
    /// Strictly increasing per resource with every grant: downstream systems
    /// refuse writes carrying a smaller token than one they have seen.
    pub fencing_token: u64,
    /// The paths held, when the claim is a working set inside a repository
    /// (absent: the whole resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_set: Option<WorkingSet>,
    /// When the claim holds several resources (asked for, or reached by
    /// `depends_on`): each with its fencing token, the first requested one
    /// first. `resource` and `fencing_token` above are that one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ClaimedResource>>,
}

/// Who holds a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Holder {
    /// The holding agent.
    pub agent_id: String,
    /// Its display name.
    pub agent_name: String,
    /// The holding run.
    pub run_id: String,
    /// When the holder's lease lapses unless extended.
    pub expires_at: Timestamp,
}

/// Why a run was told to skip (or would have been).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    /// Machine-readable reason.
    pub code: ReasonCode,
    /// One human sentence.
    pub message: String,
    /// The current holder, for `resource_claimed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// For working sets (`paths_claimed`, and `resource_claimed` between a
    /// working set and a whole-repo claim): each blocking overlap, at most
    /// 50; for several resources or a `depends_on` closure: each blocked
    /// resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<Conflict>>,
    /// For `capacity_full`: every live holder of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holders: Option<Vec<Holder>>,
}

/// `POST /v1/work/run/start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartRunRequest {
    /// The resource to claim (`repo:owner/name`, `project:key`,
    /// `pool:gpu`, …). Give this or `resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f-\x9f]{1,200}$")
    )]
    pub resource: Option<String>,
    /// 2-16 distinct resources to claim all at once, or none of them.
    /// Give this or `resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Lease length, 10-3600 seconds; default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 3600))]
    pub ttl_seconds: Option<u32>,
    /// Client-chosen id (`[A-Za-z0-9._:-]{1,128}`) making the call idempotent
    /// per agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub run_id: Option<String>,
    /// What the run is for, shown to other agents and humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub purpose: Option<String>,
    /// `observe` asks for a dry run; `enforce` cannot override an observe agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Free-form JSON object kept with the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// For a `repo:` resource: claim only these paths instead of the whole
    /// repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_set: Option<WorkingSetRequest>,
    /// With a working set: grant the free paths when some are held
    /// (`partial_proceed`) instead of skipping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<bool>,
    /// Up to 60 seconds to wait for the resource when others hold it,
    /// granted in arrival order as soon as it can be (SPEC §13); 0 (the
    /// default) answers at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 60))]
    pub wait_seconds: Option<u32>,
}

/// The decision on a `run/start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartRunResponse {
    /// The client's `run_id`, or a new `run_…`.
    pub run_id: String,
    /// `proceed` or `skip_run`.
    pub decision: Decision,
    /// The mode the run was decided in.
    pub mode: Mode,
    /// True when this answer replays an earlier call with the same `run_id`.
    pub replayed: bool,
    /// Where the run stands now: `active` for a new grant; a replay of a run
    /// whose lease has since lapsed, been released or been finished says so
    /// here (its `claim` is then no longer live).
    pub status: RunStatus,
    /// The lease, when one was granted.
    pub claim: Option<Claim>,
    /// Observe runs: whether an enforcing run would have been told to skip.
    pub would_block: bool,
    /// Why the run was (or would have been) told to skip.
    pub reason: Option<Reason>,
    /// For `skip_run`: whole seconds until the blocking claim lapses unless
    /// extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// For `partial_proceed`: the requested paths left out, and who holds
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Vec<BlockedPath>>,
    /// For a request with `wait_seconds` above 0: how long it waited, in
    /// milliseconds (0 when it did not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// `POST /v1/work/run/working-set`: changes a live claim's paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkingSetRequest {
    /// The run whose claim changes.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub run_id: String,
    /// Patterns to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
    /// Patterns to remove (as given or as echoed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove: Option<Vec<String>>,
    /// Add the free paths when some are held, instead of refusing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<bool>,
}

/// The claim with its new paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateWorkingSetResponse {
    /// The run.
    pub run_id: String,
    /// Its claim, same fencing token, with the paths it now holds.
    pub claim: Claim,
    /// With `partial: true`: added paths left out, and who holds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Vec<BlockedPath>>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// `POST /v1/work/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The resource to look at. Give this or `resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[a-z][a-z0-9_-]{0,31}:[^\s\x00-\x1f\x7f-\x9f]{1,200}$")
    )]
    pub resource: Option<String>,
    /// 2-16 resources, available only when all are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Ask about these paths of a `repo:` resource instead of the whole
    /// repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_set: Option<WorkingSetRequest>,
}

/// A preview of whether a resource is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckResponse {
    /// The normalised resource.
    pub resource: String,
    /// True when no live claim holds it.
    pub available: bool,
    /// The current holder, when held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// Whole seconds until the holder's lease lapses unless extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With a working set: each blocking overlap (at most 50); with several
    /// resources: each blocked resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<Conflict>>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// `POST /v1/work/run/extend`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtendRunRequest {
    /// The run to extend.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub run_id: String,
    /// New lease length from now, 10-3600 seconds; default the run's ttl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 3600))]
    pub ttl_seconds: Option<u32>,
}

/// The extended lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExtendRunResponse {
    /// The run.
    pub run_id: String,
    /// The lease with its new `expires_at`; `null` for observe runs.
    pub claim: Option<Claim>,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// `POST /v1/work/run/finish`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FinishRunRequest {
    /// The run to finish.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._:-]{1,128}$"))]
    pub run_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// A short account of what was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub summary: Option<String>,
}

/// The run's final state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FinishRunResponse {
    /// The run.
    pub run_id: String,
    /// Always `finished`.
    pub status: RunStatus,
    /// True when finishing released a live claim.
    pub released: bool,
    /// The outcome recorded (the first one, when finished twice).
    pub outcome: Outcome,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// The answer of `POST /v1/work/claims/{claim_id}/release`: a human ended a
/// run's lease. Releasing again answers the same claim with `released: false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseClaimResponse {
    /// The claim (`clm_…`).
    pub claim_id: String,
    /// The resource it was on.
    pub resource: String,
    /// The run that held it.
    pub run_id: String,
    /// The agent that started that run.
    pub agent_id: String,
    /// That agent's display name.
    pub agent_name: String,
    /// True when this call ended a live claim; false when the claim had
    /// already ended (released, finished or expired).
    pub released: bool,
    /// Where the run stands now: `released` after a release, else how it
    /// had already ended.
    pub status: RunStatus,
    /// The server's clock when it answered.
    pub server_time: Timestamp,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// Proceeding and within its lease (observe runs: within their ttl).
    Active,
    /// Its lease lapsed without a finish.
    Expired,
    /// Its claim was released by someone else (a human in the dashboard, or
    /// its agent was deleted).
    Released,
    /// Told `skip_run` and not finished.
    Skipped,
    /// Finished by its agent.
    Finished,
}

/// A run as listed by `GET /v1/work/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    /// The run's id (unique per agent).
    pub run_id: String,
    /// The agent that started it.
    pub agent_id: String,
    /// That agent's display name.
    pub agent_name: String,
    /// The resource.
    pub resource: String,
    /// The mode it was decided in.
    pub mode: Mode,
    /// The decision it got.
    pub decision: Decision,
    /// Where it stands now.
    pub status: RunStatus,
    /// Its lease, if it was granted one (possibly lapsed or released).
    pub claim: Option<Claim>,
    /// Observe runs: whether it would have been blocked.
    pub would_block: bool,
    /// Why it was (or would have been) told to skip.
    pub reason: Option<Reason>,
    /// What it was for.
    pub purpose: Option<String>,
    /// The metadata it was started with.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Its outcome, once finished.
    pub outcome: Option<Outcome>,
    /// Its summary, once finished.
    pub summary: Option<String>,
    /// When it started.
    pub created_at: Timestamp,
    /// When it was finished.
    pub finished_at: Option<Timestamp>,
}

wire_names!(Decision { Proceed => "proceed", PartialProceed => "partial_proceed", SkipRun => "skip_run" });
wire_names!(WorkingSetMode { Edit => "edit", Read => "read" });
wire_names!(Outcome { Succeeded => "succeeded", Failed => "failed", Cancelled => "cancelled" });
wire_names!(ReasonCode {
    ResourceClaimed => "resource_claimed",
    PlanLimitActiveClaims => "plan_limit_active_claims",
    PathsClaimed => "paths_claimed",
    CapacityFull => "capacity_full",
});
wire_names!(RunStatus {
    Active => "active",
    Expired => "expired",
    Released => "released",
    Skipped => "skipped",
    Finished => "finished",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for (value, name) in [
            (
                serde_json::to_value(Decision::SkipRun).unwrap(),
                Decision::SkipRun.as_str(),
            ),
            (
                serde_json::to_value(Outcome::Cancelled).unwrap(),
                Outcome::Cancelled.as_str(),
            ),
            (
                serde_json::to_value(ReasonCode::PlanLimitActiveClaims).unwrap(),
                ReasonCode::PlanLimitActiveClaims.as_str(),
            ),
            (
                serde_json::to_value(RunStatus::Released).unwrap(),
                RunStatus::Released.as_str(),
            ),
            (
                serde_json::to_value(Mode::Observe).unwrap(),
                Mode::Observe.as_str(),
            ),
            (
                serde_json::to_value(Decision::PartialProceed).unwrap(),
                Decision::PartialProceed.as_str(),
            ),
            (
                serde_json::to_value(ReasonCode::PathsClaimed).unwrap(),
                ReasonCode::PathsClaimed.as_str(),
            ),
            (
                serde_json::to_value(WorkingSetMode::Read).unwrap(),
                WorkingSetMode::Read.as_str(),
            ),
        ] {
            assert_eq!(value, name);
        }
        assert_eq!(format!("{:<9}|", Mode::Enforce), "enforce  |");
    }
}
