//! Work tools: claim a repository or project before editing it
//! (`start_run`), keep or give back the lease (`extend_run`,
//! `finish_run`), and see who is working on what (`list_runs`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use availsync_sdk::types::{
    BlockedPath, Holder, MAX_TTL_SECONDS, MIN_TTL_SECONDS, is_valid_run_id,
};
use availsync_sdk::{
    LeaseState, LossReason, Outcome, ResourceKey, RunGuard, RunStart, RunsQuery, StartRun,
    WorkingSetMode,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::shapes::{
    Action, ExtendRunOutput, FinishRunOutput, HeldPathInfo, HolderInfo, LeaseInfo, ListRunsOutput,
    ReasonInfo, ResourceToken, RunInfo, StartRunOutput, blockers,
};
use super::{
    AvailsyncMcp, LeaseKeeping, failure, invalid_argument, output_schema, resource_argument,
    sdk_failure, success,
};
use crate::leases::{HeldLease, LostCause, LostLease, ShuttingDown};
use crate::text;

/// Arguments of `start_run`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunArgs {
    /// The resource you are about to work on: 'repo:owner/name' for a
    /// repository (e.g. 'repo:acme/web'), 'project:key' for a project that
    /// can be worked on independently of the rest of its repository, or
    /// any 'type:key' the team uses (e.g. 'service:billing', 'pool:gpu').
    /// Claim the repository unless the user says otherwise.
    pub resource: String,
    /// For a repository: claim only these paths instead of all of it, so
    /// that other agents can work on the rest. Files ('src/main.rs'),
    /// directories ('src/api/'), '*' within one path segment
    /// ('docs/*.md'), '**' as a whole segment. List every path you will
    /// edit; claim_paths adds more later.
    #[serde(default)]
    pub paths: Vec<String>,
    /// With paths: 'edit' (default) when you will change them, 'read' when
    /// you only read them (reads never block other reads).
    #[serde(default)]
    pub mode: PathsModeArg,
    /// With paths: true to take the free ones when some are held (the
    /// answer is PARTIAL and names the others' holders) instead of SKIP.
    #[serde(default)]
    pub partial: bool,
    /// Other resources to claim in the same grant as resource, all of them
    /// or none (e.g. resource 'service:billing' with ['db:billing']); at
    /// most 15.
    #[serde(default)]
    pub with_resources: Vec<String>,
    /// What you are about to do, in a few words, shown to other agents and
    /// to humans (e.g. 'fix the login redirect').
    #[serde(default)]
    pub purpose: Option<String>,
    /// Lease length in seconds (10-3600; default 120). This server extends
    /// the lease in the background while it runs, so you rarely need this.
    #[serde(default)]
    #[schemars(range(min = 10, max = 3600))]
    pub ttl_seconds: Option<u32>,
    /// Leave out. Only to repeat a start_run whose answer you never got:
    /// the same run_id returns that run's answer instead of a second claim.
    #[serde(default)]
    pub run_id: Option<String>,
    /// True for a dry run: nothing is locked, and the answer says whether
    /// you would have been told to skip.
    #[serde(default)]
    pub observe: bool,
    /// Seconds to wait for the resource when someone else holds it (0-60;
    /// default 0: answer SKIP at once). The answer comes as soon as it is
    /// yours (PROCEED), or SKIP when the wait runs out. Only for short
    /// waits, when the holder is about to finish and the user wants the
    /// work now; leave it out otherwise. This server cuts the wait to fit
    /// its own answer deadline (a few seconds), and says so.
    #[serde(default)]
    #[schemars(range(min = 0, max = 60))]
    pub wait_seconds: Option<u32>,
}

/// The longest wait a `start_run` may ask for (SPEC §13).
pub const MAX_WAIT_SECONDS: u32 = 60;

/// Time a waited `start_run` keeps for everything but the wait: the
/// answer's way back, and naming the holder of a skip.
pub const WAIT_MARGIN: Duration = Duration::from_secs(2);

/// The wait to send for `asked` seconds when `left` remains before the
/// call's deadline: what the deadline allows less [`WAIT_MARGIN`], to the
/// nearest whole second (the milliseconds a call spends before its start
/// must not cost a second of the wait), and never more than asked.
pub fn wait_to_send(asked: u32, left: Duration) -> u32 {
    let allowed = (left.saturating_sub(WAIT_MARGIN) + Duration::from_millis(500)).as_secs();
    u32::try_from(allowed).unwrap_or(u32::MAX).min(asked)
}

/// Whether a working set changes its paths or only reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathsModeArg {
    /// You will change the paths.
    #[default]
    Edit,
    /// You will only read them.
    Read,
}

impl From<PathsModeArg> for WorkingSetMode {
    fn from(mode: PathsModeArg) -> Self {
        match mode {
            PathsModeArg::Edit => Self::Edit,
            PathsModeArg::Read => Self::Read,
        }
    }
}

/// Arguments of `extend_run`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRunArgs {
    /// The run_id that start_run returned.
    pub run_id: String,
    /// New lease length from now, in seconds (10-3600); default the run's.
    #[serde(default)]
    #[schemars(range(min = 10, max = 3600))]
    pub ttl_seconds: Option<u32>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeArg {
    /// The work was done.
    Succeeded,
    /// The work was attempted and failed.
    Failed,
    /// The work was abandoned (or was skipped).
    Cancelled,
}

impl From<OutcomeArg> for Outcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Succeeded => Outcome::Succeeded,
            OutcomeArg::Failed => Outcome::Failed,
            OutcomeArg::Cancelled => Outcome::Cancelled,
        }
    }
}

/// Arguments of `finish_run`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRunArgs {
    /// The run_id that start_run returned.
    pub run_id: String,
    /// succeeded (the work is done), failed (attempted, did not work) or
    /// cancelled (abandoned).
    pub outcome: OutcomeArg,
    /// A short account of what was done, for the humans reading the log.
    #[serde(default)]
    pub summary: Option<String>,
}

/// Which runs `list_runs` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunsFilter {
    /// Runs holding a live lease: who is working on what right now.
    #[default]
    Active,
    /// Every run, newest first, including skipped and finished ones.
    All,
}

/// Arguments of `list_runs`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRunsArgs {
    /// 'active' (default): runs holding a live lease. 'all': every run.
    #[serde(default)]
    pub status: RunsFilter,
    /// Only runs on this resource, e.g. 'repo:acme/web'.
    #[serde(default)]
    pub resource: Option<String>,
    /// How many runs (1-200; default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// The next_cursor of a previous answer, for the next page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `purpose`/`summary` as given, or nothing when blank.
fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn check_ttl(ttl: Option<u32>) -> Result<(), CallToolResult> {
    match ttl {
        Some(ttl) if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) => {
            Err(invalid_argument(&format!(
                "ttl_seconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}, not {ttl}"
            )))
        }
        _ => Ok(()),
    }
}

/// The answer for a run this process already keeps alive.
fn held_answer(held: &HeldLease) -> StartRunOutput {
    let lease = LeaseInfo {
        claim_id: held.claim_id.clone(),
        expires_at: held.expires_at.to_string(),
        ttl_seconds: held.ttl_seconds,
        fencing_token: held.fencing_token,
        kept_alive: true,
        kept_alive_until: Some(held.kept_until.to_string()),
        paths: held.working_set.as_ref().map(|set| set.paths.clone()),
        paths_mode: held
            .working_set
            .as_ref()
            .map(|set| set.mode.as_str().to_owned()),
        resources: held.resources.iter().map(ResourceToken::from).collect(),
    };
    let action = if held.is_held() {
        Action::Proceed
    } else {
        Action::Stop
    };
    StartRunOutput {
        replayed: true,
        lease: held.is_held().then_some(lease),
        ..StartRunOutput::new(
            action,
            held.run_id.clone(),
            held.resource.clone(),
            "enforce",
        )
    }
}

/// The start `args` ask for (without its run id), or why they are wrong.
fn start_of(
    args: &StartRunArgs,
    resource: &ResourceKey,
    ttl: u32,
) -> Result<StartRun, CallToolResult> {
    let mut start = if args.with_resources.is_empty() {
        StartRun::for_key(resource.clone())
    } else {
        let all =
            std::iter::once(resource.as_str()).chain(args.with_resources.iter().map(|r| r.trim()));
        StartRun::resources(all).map_err(|e| {
            invalid_argument(&format!(
                "resource and with_resources: {}",
                e.to_string().trim_start_matches("invalid resources: ")
            ))
        })?
    };
    start = start.ttl(Duration::from_secs(ttl.into()));
    if !args.paths.is_empty() {
        if !args.with_resources.is_empty() {
            return Err(invalid_argument(
                "paths claims part of one repository; leave with_resources out when you give paths",
            ));
        }
        start = start
            .working_set(&args.paths, WorkingSetMode::from(args.mode))
            .map_err(|e| invalid_argument(&e.to_string()))?;
        if args.partial {
            start = start.partial();
        }
    }
    if let Some(purpose) = non_blank(args.purpose.clone()) {
        start = start.purpose(purpose);
    }
    if args.observe {
        start = start.observe();
    }
    Ok(start)
}

/// What this session already holds of what `start` asks for: the answer
/// to give again (`Ok`), or why a new start cannot be made (`Err`). `None`:
/// it holds none of it.
fn already_held(
    leases: &[HeldLease],
    start: &StartRun,
) -> Option<Result<StartRunOutput, CallToolResult>> {
    let wanted = start.resource_keys();
    let held = leases
        .iter()
        .find(|held| held.is_held() && wanted.iter().all(|r| held.holds(r.as_str())))?;
    let asked = start.working_set_paths();
    match &held.working_set {
        None => Some(Ok(held_answer(held))),
        Some(set) if !asked.is_empty() && asked.iter().all(|p| set.paths.contains(p)) => {
            Some(Ok(held_answer(held)))
        }
        Some(set) => Some(Err(invalid_argument(&format!(
            "you already hold {} of {} (run {}); call claim_paths to add paths to it, or finish_run it before claiming the whole repository",
            set.paths.join(", "),
            held.resource,
            held.run_id
        )))),
    }
}

#[tool_router(router = work_router, vis = "pub(crate)")]
impl AvailsyncMcp {
    /// Claim a repository or project BEFORE you edit it, run commands that
    /// change it, or open a pull request for it. Call it once per task, at the
    /// start. To share a repository with other agents, claim only the paths
    /// you will edit (paths); to claim several resources at once, all or
    /// none, add with_resources.
    ///
    /// The first word of the answer says what to do:
    /// - PROCEED: you hold the lease. Do the work. This server keeps the lease
    ///   alive while it runs (no need for extend_run). Call finish_run with the
    ///   run_id when done, also if you give up.
    /// - PARTIAL (only with paths and partial: true): you hold some of the
    ///   paths; the others are held by others (named). Edit only yours.
    /// - SKIP: another agent or person is working on it (named in the answer).
    ///   Do not edit it now and do not retry in a loop; tell the user who holds
    ///   it and until when.
    /// - STOP: do not do the work; tell the user (e.g. the server is
    ///   unreachable, so nothing is protected).
    /// An observe-mode agent always gets PROCEED; nothing is locked for it.
    ///
    /// Skipping at once is the default and usually right. Pass wait_seconds
    /// (a few seconds) only when the holder is about to finish and the user
    /// wants the work now: the answer then comes as soon as the resource is
    /// yours, or SKIP when the wait runs out ("waited 5 s; still held by
    /// …"). Never wait again and again for the same resource.
    #[tool(
        annotations(
            title = "Claim before editing",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = output_schema::<StartRunOutput>()
    )]
    async fn start_run(&self, Parameters(args): Parameters<StartRunArgs>) -> CallToolResult {
        let resource = match resource_argument(&args.resource) {
            Ok(resource) => resource,
            Err(invalid) => return invalid,
        };
        let called_at = Instant::now();
        if let Err(invalid) = check_ttl(args.ttl_seconds) {
            return invalid;
        }
        if let Some(wait) = args.wait_seconds.filter(|w| *w > MAX_WAIT_SECONDS) {
            return invalid_argument(&format!(
                "wait_seconds must be between 0 and {MAX_WAIT_SECONDS}, not {wait}"
            ));
        }
        let ttl = args.ttl_seconds.unwrap_or(match self.keeping {
            LeaseKeeping::InProcess { .. } => self.options.default_ttl_seconds,
            LeaseKeeping::ByServer { ttl_seconds } => ttl_seconds,
        });
        let mut start = match start_of(&args, &resource, ttl) {
            Ok(start) => start,
            Err(invalid) => return invalid,
        };
        // The session link: runs named after the agent session, so that
        // its edit hook counts them as the session's own.
        if let Some(run_id) = self.next_run_id() {
            start = start.run_id(run_id);
        }
        if !args.observe && args.run_id.is_none() {
            // Asked again for what this session already holds: the same run.
            match already_held(&self.leases.all(), &start) {
                Some(Ok(out)) => {
                    let line = text::start_run(&out);
                    return success(&out, line);
                }
                Some(Err(invalid)) => return invalid,
                None => {}
            }
        }
        let _one_at_a_time = match args.run_id.as_deref().map(str::trim) {
            Some(run_id) => {
                if !is_valid_run_id(run_id) {
                    return invalid_argument(&format!(
                        "run_id '{run_id}' must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'; or leave it out"
                    ));
                }
                let serial = self.named_starts.clone().lock_owned().await;
                if let Some(held) = self.leases.get(run_id) {
                    if held.resource != resource.as_str() {
                        return invalid_argument(&format!(
                            "run {run_id} is on {}, not {resource}; leave run_id out to start a new run",
                            held.resource
                        ));
                    }
                    let out = held_answer(&held);
                    let line = text::start_run(&out);
                    return success(&out, line);
                }
                start = start.run_id(run_id);
                Some(serial)
            }
            None => None,
        };
        // A claim of this session's whose start answer never arrived may
        // still hold the resource until it is settled: wait for that first.
        self.settler
            .wait_for(resource.as_str(), self.options.call_timeout / 2)
            .await;
        // The wait fits in what is left of this call's deadline, so that
        // its answer (a grant to keep alive, or a skip to explain) is not
        // cut off.
        let asked_wait = args.wait_seconds.filter(|w| *w > 0);
        let sent_wait = asked_wait.map(|asked| {
            let left = self
                .options
                .call_timeout
                .saturating_sub(called_at.elapsed());
            wait_to_send(asked, left)
        });
        if let Some(wait) = sent_wait {
            start = start.wait(Duration::from_secs(wait.into()));
        }
        tracing::info!(%resource, run_id = start.run_id_value(), ttl, observe = args.observe, wait = ?sent_wait, "start_run");

        let asked_at = Instant::now();
        let answer = match self.bounded(self.client.claim(start.clone())).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(%resource, error = %e, "start_run failed");
                let run_id = start.run_id_value().to_owned();
                let subject = if may_have_reached_the_server(&e) {
                    self.settler.unanswered_start(start);
                    format!(
                        "it is unknown whether {resource} is free (should the server grant run {run_id} late, it is finished as cancelled as soon as the server answers)"
                    )
                } else {
                    format!("it is unknown whether {resource} is free")
                };
                return sdk_failure(&self.client, &e, &subject);
            }
        };
        let waited = answer.waited();
        let out = match answer {
            RunStart::Claimed(guard) => self.granted(guard, Vec::new(), &resource).await,
            RunStart::Partial(guard, blocked) => self.granted(guard, blocked, &resource).await,
            RunStart::Skipped(skip) => Ok({
                let holder = match skip.holder() {
                    Some(holder) => {
                        let left = self.options.call_timeout.saturating_sub(asked_at.elapsed());
                        Some(
                            self.describe_holder(holder, &resource, Some(&skip.run_id), left)
                                .await,
                        )
                    }
                    None => None,
                };
                let (blocked_paths, blocked_resources) = blockers(Some(&skip.reason));
                StartRunOutput {
                    replayed: skip.replayed,
                    holder,
                    reason: Some(ReasonInfo::from(&skip.reason)),
                    retry_after_seconds: skip.retry_after.map(|d| d.as_secs()),
                    blocked_paths,
                    blocked_resources,
                    holders: skip
                        .reason
                        .holders
                        .iter()
                        .flatten()
                        .map(HolderInfo::from)
                        .collect(),
                    ..StartRunOutput::new(
                        Action::Skip,
                        skip.run_id.clone(),
                        resource.to_string(),
                        "enforce",
                    )
                }
            }),
            RunStart::Observed(observed) => Ok({
                let (blocked_paths, blocked_resources) = blockers(observed.reason.as_ref());
                StartRunOutput {
                    holder: observed
                        .reason
                        .as_ref()
                        .and_then(|r| r.holder.as_ref())
                        .map(HolderInfo::from),
                    reason: observed.reason.as_ref().map(ReasonInfo::from),
                    would_block: observed.would_block,
                    blocked_paths,
                    blocked_resources,
                    ..StartRunOutput::new(
                        Action::Proceed,
                        observed.run_id.clone(),
                        resource.to_string(),
                        "observe",
                    )
                }
            }),
        };
        let mut out = match out {
            Ok(out) => out,
            Err(ShuttingDown) => {
                return failure(
                    "shutting_down",
                    "availsync-mcp is shutting down",
                    false,
                    text::shutting_down(resource.as_str()),
                );
            }
        };
        out.wait_seconds = sent_wait;
        out.wait_shortened_from = asked_wait.filter(|asked| Some(*asked) != sent_wait);
        out.waited_ms = waited.map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX));
        tracing::info!(%resource, run_id = %out.run_id, action = ?out.action, waited_ms = ?out.waited_ms, "start_run answered");
        let line = text::start_run(&out);
        success(&out, line)
    }

    /// Extend a run's lease now. Rarely needed: this server already keeps the
    /// leases it granted alive while it runs. Use it when the answer of
    /// start_run says the lease is not kept alive, or to ask for a longer
    /// ttl_seconds.
    ///
    /// EXTENDED: you still hold it. LEASE LOST (an error): the lease lapsed or
    /// was released; stop editing and tell the user.
    #[tool(
        annotations(
            title = "Extend a lease",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<ExtendRunOutput>()
    )]
    async fn extend_run(&self, Parameters(args): Parameters<ExtendRunArgs>) -> CallToolResult {
        if let Err(invalid) = check_ttl(args.ttl_seconds) {
            return invalid;
        }
        let run_id = args.run_id.trim().to_owned();
        let held = self.leases.get(&run_id);
        let ttl = args.ttl_seconds.map(|s| Duration::from_secs(s.into()));
        match self.bounded(self.client.extend_run(&run_id, ttl)).await {
            Ok(answer) => {
                let kept_until = held.as_ref().map(|h| h.kept_until.to_string());
                let out = ExtendRunOutput {
                    resource: answer
                        .claim
                        .as_ref()
                        .map(|c| c.resource.clone())
                        .or_else(|| held.map(|h| h.resource)),
                    lease: answer.claim.as_ref().map(|c| LeaseInfo::new(c, kept_until)),
                    run_id: answer.run_id,
                };
                let line = text::extend_run(&out);
                success(&out, line)
            }
            Err(e) if e.is_lease_lost() => {
                tracing::warn!(%run_id, "extend_run: lease lost");
                failure(
                    "lease_lost",
                    &e.to_string(),
                    false,
                    text::lease_lost(&run_id, held.as_ref().map(|h| h.resource.as_str())),
                )
            }
            Err(e) if e.is_not_found() => failure(
                "not_found",
                &e.to_string(),
                false,
                text::not_found(
                    &format!("this agent has no run {run_id}"),
                    "Use the run_id that start_run returned.",
                ),
            ),
            Err(e) => sdk_failure(
                &self.client,
                &e,
                &format!("the lease of run {run_id} was not extended"),
            ),
        }
    }

    /// Finish a run when the work is done (or abandoned): records the outcome
    /// and releases the lease at once, so others can work on the resource.
    /// Always call it after a PROCEED, with the outcome. Finishing twice is
    /// harmless.
    #[tool(
        annotations(
            title = "Finish and release",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<FinishRunOutput>()
    )]
    async fn finish_run(&self, Parameters(args): Parameters<FinishRunArgs>) -> CallToolResult {
        let run_id = args.run_id.trim().to_owned();
        let outcome = Outcome::from(args.outcome);
        let summary = non_blank(args.summary);
        let guard = self.leases.take(&run_id);
        let resource = guard.as_ref().map(|g| g.resource().to_string());
        let ttl = guard.as_ref().map(|g| g.claim().ttl_seconds);
        // Lost before now: the watcher recorded it, or the guard knows.
        let lost = self.leases.forget_loss(&run_id).or_else(|| {
            guard.as_ref().filter(|g| !g.is_held()).map(|g| LostLease {
                run_id: run_id.clone(),
                resource: g.resource().to_string(),
                cause: match g.state() {
                    LeaseState::Lost(LossReason::Revoked) => LostCause::Revoked,
                    _ => LostCause::Lapsed,
                },
            })
        });
        // The guard stops extending; the finish is sent here, so that one
        // cut off by the deadline can be sent again with its outcome.
        if let Some(guard) = guard {
            guard.detach();
        }
        let result = self
            .bounded(self.client.finish_run(&run_id, outcome, summary.as_deref()))
            .await;
        match result {
            Ok(answer) => {
                tracing::info!(%run_id, outcome = %answer.outcome, released = answer.released, "finish_run");
                if let Some(lost) = lost {
                    let line = text::finished_after_loss(&lost, answer.outcome.as_str());
                    return failure(
                        "lease_lost",
                        &format!(
                            "run {run_id} lost its lease on {} before finish_run",
                            lost.resource
                        ),
                        false,
                        line,
                    );
                }
                let out = FinishRunOutput {
                    run_id: answer.run_id,
                    resource,
                    outcome: answer.outcome.as_str().to_owned(),
                    released: answer.released,
                };
                let line = text::finish_run(&out);
                success(&out, line)
            }
            Err(e) if e.is_not_found() => failure(
                "not_found",
                &e.to_string(),
                false,
                text::not_found(
                    &format!("this agent has no run {run_id}"),
                    "Use the run_id that start_run returned.",
                ),
            ),
            Err(e) => {
                if may_have_reached_the_server(&e) || e.is_retryable() {
                    self.settler.unanswered_finish(
                        &run_id,
                        resource.as_deref().unwrap_or_default(),
                        outcome,
                        summary,
                    );
                }
                let subject = match ttl {
                    Some(ttl) => format!(
                        "run {run_id} is not yet recorded as finished (it is sent again as soon as the server answers, and its lease lapses by itself within {ttl} s)"
                    ),
                    None => format!(
                        "run {run_id} is not yet recorded as finished (it is sent again as soon as the server answers)"
                    ),
                };
                sdk_failure(&self.client, &e, &subject)
            }
        }
    }

    /// See who is working on what: runs holding a live lease (status
    /// 'active', the default) or every run, newest first, optionally on one
    /// resource. Each run names its agent, resource and lease expiry;
    /// kept_alive_by_this_session marks the ones this session holds.
    #[tool(
        annotations(
            title = "Who is working on what",
            read_only_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<ListRunsOutput>()
    )]
    async fn list_runs(&self, Parameters(args): Parameters<ListRunsArgs>) -> CallToolResult {
        let resource = match non_blank(args.resource).map(|r| r.parse::<ResourceKey>()) {
            None => None,
            Some(Ok(resource)) => Some(resource),
            Some(Err(e)) => return invalid_argument(&format!("invalid resource: {e}")),
        };
        let limit = args.limit.unwrap_or(20);
        if !(1..=200).contains(&limit) {
            return invalid_argument(&format!("limit must be between 1 and 200, not {limit}"));
        }
        let active_only = args.status == RunsFilter::Active;
        let query = RunsQuery {
            active_only,
            resource,
            limit: Some(limit),
        };
        match self
            .bounded(self.client.runs_page(&query, args.cursor.as_deref()))
            .await
        {
            Ok(page) => {
                let mine: HashSet<String> = self
                    .leases
                    .all()
                    .into_iter()
                    .map(|held| held.run_id)
                    .collect();
                let out = ListRunsOutput {
                    active_only,
                    runs: page
                        .items
                        .iter()
                        .map(|run| RunInfo::new(run, mine.contains(&run.run_id)))
                        .collect(),
                    next_cursor: page.next_cursor,
                };
                let line = text::list_runs(&out);
                success(&out, line)
            }
            Err(e) => sdk_failure(&self.client, &e, "who is working on what is unknown"),
        }
    }
}

/// True when a failed call may still have been carried out by the server:
/// it timed out, the connection broke after it was made, or the server
/// failed. A call that could not connect surely never arrived.
fn may_have_reached_the_server(error: &availsync_sdk::Error) -> bool {
    use availsync_sdk::Error;
    match error {
        Error::Timeout { .. } => true,
        Error::Transport { error, .. } => !error.is_connect() && !error.is_tls_failure(),
        Error::Api(api) => api.status >= 500,
        _ => false,
    }
}

/// Slack in telling a renewed lease from a first one: the server's clock
/// stamps the run and its claim within a few milliseconds of each other.
const RENEWAL_SLACK_MS: i64 = 1_000;

impl AvailsyncMcp {
    /// The answer to a granted start (`blocked`: the paths a partial grant
    /// left out), its lease now kept alive by this process.
    async fn granted(
        &self,
        guard: RunGuard,
        blocked: Vec<BlockedPath>,
        resource: &ResourceKey,
    ) -> Result<StartRunOutput, ShuttingDown> {
        let claim = guard.claim().clone();
        let run_id = guard.run_id().to_owned();
        // A replay of a run whose lease is gone.
        let lost = !guard.is_held();
        let lease = match self.keeping {
            _ if lost => None,
            LeaseKeeping::InProcess { .. } => {
                let held = self.leases.keep(guard).await?;
                Some(LeaseInfo::new(&claim, Some(held.kept_until.to_string())))
            }
            // The server extends it on the agent's next calls.
            LeaseKeeping::ByServer { .. } => {
                guard.detach();
                Some(LeaseInfo {
                    kept_alive: true,
                    ..LeaseInfo::new(&claim, None)
                })
            }
        };
        let action = match (lost, blocked.is_empty()) {
            (true, _) => Action::Stop,
            (false, true) => Action::Proceed,
            (false, false) => Action::Partial,
        };
        Ok(StartRunOutput {
            // The SDK's guard does not say whether the start was a replay;
            // only a run_id the model chose can be one.
            replayed: lost,
            lease,
            blocked_paths: blocked.iter().map(HeldPathInfo::from).collect(),
            ..StartRunOutput::new(action, run_id, resource.to_string(), "enforce")
        })
    }

    /// The holder of a resource, with whether it is this agent in another
    /// session and whether it has renewed its lease (two short lookups,
    /// within `within`; when they fail or run out of time, both are
    /// reported as not known to be so). `my_run` is a run of this agent on
    /// `resource`, from which the agent's id is learned once.
    pub(crate) async fn describe_holder(
        &self,
        holder: &Holder,
        resource: &ResourceKey,
        my_run: Option<&str>,
        within: Duration,
    ) -> HolderInfo {
        let mut info = HolderInfo::from(holder);
        let lookup = async {
            let active = RunsQuery {
                active_only: true,
                resource: Some(resource.clone()),
                limit: Some(200),
            };
            let page = self.client.runs_page(&active, None).await?;
            let renewed = page
                .items
                .iter()
                .find(|run| run.run_id == holder.run_id && run.agent_id == holder.agent_id)
                .and_then(|run| {
                    let claim = run.claim.as_ref()?;
                    let first_expiry = run
                        .created_at
                        .add_millis(i64::from(claim.ttl_seconds) * 1000 + RENEWAL_SLACK_MS);
                    Some(claim.expires_at > first_expiry)
                })
                .unwrap_or(false);
            if self.me.get().is_none()
                && let Some(my_run) = my_run
            {
                let recent = RunsQuery {
                    active_only: false,
                    resource: Some(resource.clone()),
                    limit: Some(20),
                };
                let page = self.client.runs_page(&recent, None).await?;
                if let Some(mine) = page.items.iter().find(|run| run.run_id == my_run) {
                    let _ = self.me.set(mine.agent_id.clone());
                }
            }
            Ok::<bool, availsync_sdk::Error>(renewed)
        };
        match tokio::time::timeout(within, lookup).await {
            Ok(Ok(renewed)) => info.renewed = renewed,
            Ok(Err(e)) => tracing::debug!(error = %e, "could not look up the holder's run"),
            Err(_) => tracing::debug!("looking up the holder's run took too long"),
        }
        info.same_agent = self.me.get().is_some_and(|me| *me == holder.agent_id);
        info
    }
}
