//! Runs and work claims: decisions, leases, fencing tokens.
//!
//! Every decision about a resource's claims takes the resource's lock
//! ([`lock_resource`]) and only then reads the database clock, so decisions
//! on one resource are ordered the same way on every replica as their
//! timestamps; the `one_live_claim_per_resource` exclusion constraint holds
//! the result to it.

use crate::store::StoreResult;
use crate::store::live_claim;
use std::sync::LazyLock;

use availsync_types::{
    CheckResponse, Claim, ClaimedResource, ExtendRunResponse, FinishRunResponse, Mode, Page,
    ReleaseClaimResponse, ResourceKey, Run, Timestamp, UpdateWorkingSetResponse, WorkingSet,
    WorkingSetMode,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::accounts::{Refusable, plan_of};
use super::events::{Events, WriteWithEvents, record};
use super::queue;
use super::rules;
use super::sql::{
    Lock, LockScope, ReadOrder, execute, get, int, json_opt, lock_agent_claim_resources,
    lock_read_now, lock_resource, lock_run_resources, now, pipelined, row_one, row_opt, rows,
    text_enum, ts, ts_opt, u32_col,
};
use super::working_sets::{self, HELD_LIMIT};
use crate::domain::clock::Clock;
use crate::domain::events::{self, RunSubject};
use crate::domain::lease::{
    ClaimState, ResourceState, StartDecision, check_answer, effective_mode, new_claim,
};
use crate::domain::queue::{
    Queued, Queueing, Served, StartOutcome, keeps_waiting, queue_keys, retry_at, serve_keys,
};
use crate::domain::rules::Governs;
use crate::domain::run_changes::{ExtendOutcome, ExtendTarget, FinishOutcome, PathsOutcome};
use crate::domain::runs::with_parts;
use crate::domain::working_sets::{Want, granted_patterns};
use crate::store::cursor::paginate;
use crate::store::event::Events as EventSet;
use crate::store::records::{StoredClaim, StoredRun};
use crate::store::text_enum::TextEnum;
use crate::store::{
    AgentContext, AgentId, Check, ClaimId, ExtendRun, FinishRun, Listing, PathsChange, Refusal,
    RunFilter, RunId, SessionContext, StartRun, StoreError,
};

const RUN_SELECT: &str =
    "SELECT r.seq, r.run_id, r.agent_id, a.name, r.resource, r.mode, r.decision,
        r.ttl_seconds, r.expires_at, r.would_block, r.reason, r.retry_after, r.purpose, r.metadata,
        r.created_at, r.finished_at, r.outcome, r.summary, r.released,
        c.id, c.expires_at, c.ttl_seconds, c.fencing_token, c.released_at, c.expiry_recorded,
        c.ws_mode, c.ws_paths, r.blocked,
        (SELECT jsonb_agg(jsonb_build_object('resource', p.resource,
                                             'fencing_token', p.fencing_token) ORDER BY p.part)
         FROM claim_parts p WHERE p.run_seq = r.seq)
    FROM runs r
    JOIN agents a ON a.id = r.agent_id
    LEFT JOIN claims c ON c.run_seq = r.seq";

fn stored_run(row: &Row) -> StoreResult<StoredRun> {
    let resource: String = get(row, 4)?;
    let claim = match get::<Option<String>>(row, 19)? {
        Some(claim_id) => Some(StoredClaim {
            claim: Claim {
                claim_id,
                resource: resource.clone(),
                expires_at: ts(row, 20)?,
                ttl_seconds: u32_col(row, 21)?,
                fencing_token: u64::try_from(get::<i64>(row, 22)?).unwrap_or(0),
                working_set: match get::<Option<String>>(row, 25)? {
                    Some(mode) => Some(WorkingSet {
                        paths: json_opt(row, 26)?.unwrap_or_default(),
                        mode: WorkingSetMode::from_text(&mode).ok_or_else(|| {
                            StoreError::Backend(format!("unexpected working-set mode '{mode}'"))
                        })?,
                    }),
                    None => None,
                },
                resources: None,
            },
            released_at: ts_opt(row, 23)?,
            lapse_recorded: get(row, 24)?,
        }),
        None => None,
    };
    let mut claim = claim;
    if let Some(stored) = &mut claim {
        let parts: Vec<ClaimedResource> = json_opt(row, 28)?.unwrap_or_default();
        stored.claim.resources = with_parts(&stored.claim, parts);
    }
    Ok(StoredRun {
        seq: get(row, 0)?,
        run_id: get(row, 1)?,
        agent_id: get(row, 2)?,
        agent_name: get(row, 3)?,
        resource,
        mode: text_enum(row, 5)?,
        decision: text_enum(row, 6)?,
        ttl_seconds: u32_col(row, 7)?,
        expires_at: ts_opt(row, 8)?,
        would_block: get(row, 9)?,
        reason: json_opt(row, 10)?,
        retry_after: get::<Option<i64>>(row, 11)?.map(|s| u64::try_from(s).unwrap_or(0)),
        blocked: json_opt(row, 27)?,
        purpose: get(row, 12)?,
        metadata: json_opt(row, 13)?,
        created_at: ts(row, 14)?,
        finished_at: ts_opt(row, 15)?,
        outcome: get::<Option<String>>(row, 16)?
            .map(|text| {
                TextEnum::from_text(&text)
                    .ok_or_else(|| StoreError::Backend(format!("unexpected outcome '{text}'")))
            })
            .transpose()?,
        summary: get(row, 17)?,
        released: get(row, 18)?,
        claim,
    })
}

/// An agent's run by its id: [`RUN_SELECT`] with `$1` the agent and `$2`
/// the run id.
static FIND_RUN: LazyLock<String> =
    LazyLock::new(|| format!("{RUN_SELECT} WHERE r.agent_id = $1 AND r.run_id = $2"));

async fn find_run<C: GenericClient>(
    client: &C,
    agent_id: &str,
    run_id: &str,
) -> StoreResult<Option<StoredRun>> {
    row_opt(client, &FIND_RUN, &[&agent_id, &run_id])
        .await?
        .map(|row| stored_run(&row))
        .transpose()
}

/// The agent as it is now, its row share-locked so a concurrent delete
/// waits; `None` once deleted.
async fn live_agent<C: GenericClient>(
    client: &C,
    agent_id: &str,
) -> StoreResult<Option<(String, Mode)>> {
    row_opt(
        client,
        "SELECT name, mode FROM agents WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
        &[&agent_id],
    )
    .await?
    .map(|row| Ok((get(&row, 0)?, text_enum(&row, 1)?)))
    .transpose()
}

/// The read that locks what a grant's plan check needs, given the plan
/// `seen` before: the whole workspace when the plan limits live claims (the
/// count must not race), else only against a plan change.
fn plan_lock_sql(seen: availsync_types::Plan) -> &'static str {
    if seen.limits().active_claims.is_some() {
        "SELECT plan FROM workspaces WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT plan FROM workspaces WHERE id = $1 FOR SHARE"
    }
}

/// The plan as read under [`plan_lock_sql`]'s lock. A plan that gained a
/// limit since it was `seen` was locked too weakly: start over.
fn locked_plan(
    seen: availsync_types::Plan,
    row: Option<Row>,
) -> StoreResult<availsync_types::Plan> {
    let plan: availsync_types::Plan = text_enum(&row.ok_or(Refusal::NotFound("workspace"))?, 0)?;
    if plan.limits().active_claims.is_some() && seen.limits().active_claims.is_none() {
        return Err(StoreError::Contention(
            "the workspace's plan changed".into(),
        ));
    }
    Ok(plan)
}

async fn claim_state<C: GenericClient>(
    client: &C,
    now: Timestamp,
    workspace_id: &str,
    reached: Vec<Governs>,
    want: &Want,
    plan: availsync_types::Plan,
) -> StoreResult<ClaimState> {
    // Live claims are counted only when the plan limits them; the count and
    // every resource's live claims go in one round trip.
    let count = async {
        if plan.limits().active_claims.is_none() {
            return Ok((0, None));
        }
        let row = row_one(
            client,
            concat!(
                "SELECT COUNT(*), MIN(expires_at) FROM claims WHERE workspace_id = $1 AND ",
                live_claim!(postgres, "", "$2")
            ),
            &[&workspace_id, &now.unix_millis()],
        )
        .await?;
        Ok::<_, StoreError>((
            u32::try_from(get::<i64>(&row, 0)?).unwrap_or(u32::MAX),
            ts_opt(&row, 1)?,
        ))
    };
    let held = futures::future::try_join_all(reached.iter().enumerate().map(|(index, governs)| {
        let (want, limit) = match (index, governs.capacity) {
            (_, capacity) if capacity > 1 => (&Want::Whole, (capacity as usize).max(HELD_LIMIT)),
            (0, _) => (want, HELD_LIMIT),
            _ => (&Want::Whole, HELD_LIMIT),
        };
        let resource = governs.resource.as_str();
        working_sets::held(client, now, workspace_id, resource, want, None, limit)
    }));
    let ((live_claims, earliest_expiry), held) = pipelined!(live_claims = count, held = held)?;
    let resources = reached
        .into_iter()
        .zip(held)
        .map(|(governs, held)| ResourceState { governs, held })
        .collect();
    Ok(ClaimState {
        resources,
        live_claims,
        earliest_expiry,
        plan,
    })
}

/// Takes the locks of every resource but the last of `sorted` (their
/// canonical order, the same for every start, so no two starts wait for
/// each other in a circle); the last one goes with the plan and the clock.
async fn lock_all_but_last<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    sorted: &[&str],
) -> StoreResult<()> {
    for resource in sorted.iter().take(sorted.len().saturating_sub(1)) {
        lock_resource(client, LockScope::Claims, workspace_id, resource).await?;
    }
    Ok(())
}

/// Decides a `run/start` taking part in the queue as `queueing` says: the
/// earlier waiters on its keys that can be served now are granted first
/// (the queue's notifications go on `channel`), then this start is decided
/// (and, when it waits, queued). Answers what serving granted too.
pub(super) async fn start_run<C: GenericClient>(
    client: &C,
    clock: &Clock,
    agent: &AgentContext,
    start: StartRun,
    queueing: Queueing,
    channel: &str,
) -> StoreResult<(StartOutcome, Served)> {
    let checked = start_one(
        client,
        clock,
        agent,
        start.clone(),
        queueing,
        Serving::Check,
    )
    .await?;
    match checked {
        Step::Done(outcome) => Ok((outcome, Served::default())),
        Step::Serve(keys) => {
            let workspace_id = agent.workspace_id.as_str();
            let before = queueing.waiter();
            let served =
                queue::serve(client, clock, workspace_id, Some(&keys), before, channel).await?;
            match start_one(client, clock, agent, start, queueing, Serving::Done).await? {
                Step::Done(outcome) => Ok((outcome, served)),
                Step::Serve(_) => Err(StoreError::Backend("the queue was served twice".into())),
            }
        }
    }
}

/// Whether a start still looks for earlier waiters to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Serving {
    /// Look, and stop to serve them when there are any.
    Check,
    /// They were served (or this start is one being served).
    Done,
}

/// How far [`start_one`] got.
pub(super) enum Step {
    /// Decided.
    Done(StartOutcome),
    /// Earlier waiters on these keys are to be served first.
    Serve(Vec<String>),
}

/// Decides one start.
pub(super) async fn start_one<C: GenericClient>(
    client: &C,
    clock: &Clock,
    agent: &AgentContext,
    start: StartRun,
    queueing: Queueing,
    serving: Serving,
) -> StoreResult<Step> {
    let workspace_id = agent.workspace_id.as_str();
    // One round trip: the agent (share-locked), an earlier run with this id,
    // the plan as it is before any lock, the requested resources' rules,
    // and whether anyone waits in the workspace.
    let requested = start.requested();
    let waiting = async {
        match serving {
            Serving::Check => queue::anyone_waiting(client, workspace_id, queueing.waiter()).await,
            Serving::Done => Ok(false),
        }
    };
    let (live, existing, seen_plan, first_rules, waiting) = pipelined!(
        agent_row = live_agent(client, &agent.agent_id),
        existing = find_run(client, &agent.agent_id, &start.run_id),
        plan = plan_of(client, workspace_id, false),
        rules = rules::governing(client, workspace_id, &requested),
        waiting = waiting,
    )?;
    let (agent_name, agent_mode) = live.ok_or(Refusal::NotFound("agent"))?;
    if let Some(existing) = existing {
        // A replay, or a waiter granted while it waited.
        if let Some(seq) = queueing.waiter() {
            queue::leave(client, seq).await?;
        }
        let now = now(client, clock).await?;
        return Ok(Step::Done(StartOutcome::answered(
            existing.replay(&start.resource, now)?,
        )));
    }
    let mode = effective_mode(agent_mode, start.observe_requested);
    let resource = start.resource.as_str();
    let reached = rules::closure(client, workspace_id, &requested, first_rules).await?;
    let mut sorted: Vec<&str> = reached.iter().map(|g| g.resource.as_str()).collect();
    sorted.sort_unstable();
    if sorted.len() > 1 {
        // The workspace's row before any resource, as every path takes
        // them (see `ReadOrder::BeforeLock`); read again below, already
        // locked.
        row_opt(client, plan_lock_sql(seen_plan), &[&workspace_id]).await?;
        lock_all_but_last(client, workspace_id, &sorted).await?;
    }
    // One round trip: the workspace's row, then the (last) resource's lock,
    // then the clock.
    let last = sorted.last().copied().unwrap_or(resource);
    let (plan_row, now) = lock_read_now(
        client,
        clock,
        Lock::Resource(LockScope::Claims, workspace_id, last),
        ReadOrder::BeforeLock,
        plan_lock_sql(seen_plan),
        &[&workspace_id],
    )
    .await?;
    let plan = locked_plan(seen_plan, plan_row)?;
    let state = claim_state(client, now, workspace_id, reached, &start.want, plan).await?;
    let decided = state.decide(mode, &start.want, start.ttl_seconds, now)?;
    // Only a start the state would grant can overtake an earlier waiter:
    // those that can be served go first (under the locks taken so far),
    // and this start is decided again after them.
    if waiting && decided.grants() {
        let keys: Vec<ResourceKey> = decided.claims.iter().map(|(r, _)| r.clone()).collect();
        return Ok(Step::Serve(serve_keys(&keys)));
    }
    if queueing.queues_skips() && keeps_waiting(&decided) {
        let seq = match queueing {
            Queueing::Join { deadline, replica } => {
                let keys = queue_keys(&decided.claims, decided.blocker.as_ref());
                queue::join(client, now, agent, &start, &keys, deadline, replica).await?
            }
            _ => queueing.waiter().unwrap_or_default(),
        };
        let retry_at = retry_at(&decided);
        return Ok(Step::Done(StartOutcome::Queued(Queued { seq, retry_at })));
    }
    if let Some(seq) = queueing.waiter() {
        queue::leave(client, seq).await?;
    }
    // One round trip: the run, and for a grant each resource's next token.
    let tokens = async {
        if !decided.grants() {
            return Ok(None);
        }
        let tokens = futures::future::try_join_all(
            decided
                .claims
                .iter()
                .map(|(r, _)| next_token(client, now, workspace_id, r.as_str())),
        )
        .await?;
        Ok(Some(tokens))
    };
    let (run_seq, tokens) = pipelined!(
        run_seq = insert_run(client, now, agent, &decided, &start),
        tokens = tokens
    )?;

    // One round trip: the claim, if granted, with its two events (and its
    // other resources and paths), or the events alone.
    let granted = tokens.map(|tokens| {
        let tokens: Vec<(ResourceKey, u64)> = decided
            .claims
            .iter()
            .zip(tokens)
            .map(|((r, _), token)| (r.clone(), u64::try_from(token).unwrap_or(0)))
            .collect();
        let set = decided.working_set.clone();
        new_claim(&tokens, decided.ttl_seconds, set, now)
    });
    let subject = RunSubject {
        agent_name: &agent_name,
        ..RunSubject::of(agent, resource, &start.run_id)
    };
    let purpose = start.purpose.as_deref();
    let events = events::run_start(&subject, &decided, granted.as_ref(), purpose);
    match &granted {
        Some(claim) => {
            let paths = granted_patterns(&start.want, claim);
            let remember = async {
                match &claim.working_set {
                    Some(set) => {
                        let id = claim.claim_id.as_str();
                        working_sets::remember(client, workspace_id, resource, id, set.mode, &paths)
                            .await
                    }
                    None => Ok(()),
                }
            };
            let shared = decided.claims.first().is_some_and(|(_, shared)| *shared);
            let parts = insert_parts(client, run_seq, workspace_id, claim);
            pipelined!(
                claim_row = insert_claim(
                    client,
                    now,
                    &agent.agent_id,
                    run_seq,
                    claim,
                    shared,
                    &events
                ),
                parts = parts,
                paths = remember,
            )?;
        }
        None => record(client, now, &events).await?,
    }
    // The same answer a replay gives (StoredRun::start_response), without
    // reading the new run back.
    Ok(Step::Done(StartOutcome::answered(decided.answer(
        start.run_id.into_string(),
        granted,
        now,
    ))))
}

/// Inserts a new run (a replay was found before, under the agent's row
/// lock); answers its sequence number.
async fn insert_run<C: GenericClient>(
    client: &C,
    now: Timestamp,
    agent: &AgentContext,
    decided: &StartDecision,
    start: &StartRun,
) -> StoreResult<i64> {
    let reason_json = decided
        .reason
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?;
    let metadata_json = start.metadata.clone().map(serde_json::Value::Object);
    let blocked_json = decided
        .blocked
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?;
    let row = row_one(
        client,
        "INSERT INTO runs (workspace_id, agent_id, run_id, resource, mode, decision, ttl_seconds,
                           expires_at, would_block, reason, retry_after, purpose, metadata, created_at,
                           blocked)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING seq",
        &[
            &agent.workspace_id.as_str(),
            &agent.agent_id.as_str(),
            &start.run_id.as_str(),
            &start.resource.as_str(),
            &decided.mode.to_text(),
            &decided.decision.to_text(),
            &int(decided.ttl_seconds),
            &decided.run_expires_at.map(Timestamp::unix_millis),
            &decided.would_block,
            &reason_json,
            &decided
                .retry_after
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            &start.purpose,
            &metadata_json,
            &now.unix_millis(),
            &blocked_json,
        ],
    )
    .await?;
    get::<i64>(&row, 0)
}

/// Takes the next fencing token of a resource from its counter row (made on
/// its first claim), under the resource's lock.
async fn next_token<C: GenericClient>(
    client: &C,
    now: Timestamp,
    workspace_id: &str,
    resource: &str,
) -> StoreResult<i64> {
    get(
        &row_one(
            client,
            "INSERT INTO resources (workspace_id, resource, last_fencing_token, created_at)
             VALUES ($1, $2, 1, $3)
             ON CONFLICT (workspace_id, resource)
             DO UPDATE SET last_fencing_token = resources.last_fencing_token + 1
             RETURNING last_fencing_token",
            &[&workspace_id, &resource, &now.unix_millis()],
        )
        .await?,
        0,
    )
}

/// Inserts a granted run's claim with its two events (`run_started` and
/// `claim_created`), in one statement.
async fn insert_claim<C: GenericClient>(
    client: &C,
    now: Timestamp,
    agent_id: &str,
    run_seq: i64,
    claim: &Claim,
    shared: bool,
    events: &EventSet,
) -> StoreResult<()> {
    static INSERT: LazyLock<WriteWithEvents> = LazyLock::new(|| {
        WriteWithEvents::new(
            "INSERT INTO claims (id, workspace_id, resource, run_seq, agent_id, fencing_token,
                                 ttl_seconds, created_at, expires_at, ws_mode, ws_paths, shared)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            12,
            Events::Both,
        )
    });
    let set = claim.working_set.as_ref();
    let ws_paths = set.map(|s| serde_json::to_value(&s.paths)).transpose()?;
    INSERT
        .run(
            client,
            &[
                &claim.claim_id,
                &events.activity.as_ref().map(|a| a.workspace_id.as_str()),
                &claim.resource,
                &run_seq,
                &agent_id,
                &i64::try_from(claim.fencing_token).unwrap_or(i64::MAX),
                &int(claim.ttl_seconds),
                &now.unix_millis(),
                &claim.expires_at.unix_millis(),
                &set.map(|s| s.mode.to_text()),
                &ws_paths,
                &shared,
            ],
            now,
            events.activity.as_ref(),
            events.audits.first(),
        )
        .await?;
    Ok(())
}

/// Inserts a claim's other resources (SPEC §12), each with its own token,
/// in one statement.
async fn insert_parts<C: GenericClient>(
    client: &C,
    run_seq: i64,
    workspace_id: &str,
    claim: &Claim,
) -> StoreResult<()> {
    let Some(resources) = &claim.resources else {
        return Ok(());
    };
    let others = &resources[1.min(resources.len())..];
    let names: Vec<&str> = others.iter().map(|r| r.resource.as_str()).collect();
    let tokens: Vec<i64> = others
        .iter()
        .map(|r| i64::try_from(r.fencing_token).unwrap_or(i64::MAX))
        .collect();
    execute(
        client,
        "INSERT INTO claim_parts (run_seq, part, workspace_id, resource, fencing_token)
         SELECT $1, p.n::smallint, $2, p.resource, p.token
         FROM unnest($3::text[], $4::bigint[]) WITH ORDINALITY AS p (resource, token, n)",
        &[&run_seq, &workspace_id, &names, &tokens],
    )
    .await?;
    Ok(())
}

pub(super) async fn check<C: GenericClient>(
    client: &C,
    clock: &Clock,
    workspace_id: &str,
    check: &Check,
) -> StoreResult<CheckResponse> {
    let requested = check.requested();
    let (now, plan, first_rules) = pipelined!(
        now = now(client, clock),
        plan = plan_of(client, workspace_id, false),
        rules = rules::governing(client, workspace_id, &requested),
    )?;
    let reached = rules::closure(client, workspace_id, &requested, first_rules).await?;
    let state = claim_state(client, now, workspace_id, reached, &check.want, plan).await?;
    Ok(check_answer(&state, &check.want, now))
}

/// Takes the lock of an agent's run's resource and reads the clock, then
/// reads the run: one round trip (see [`Lock::RunResource`]).
async fn locked_run<C: GenericClient>(
    client: &C,
    clock: &Clock,
    agent: &AgentContext,
    run_id: &RunId,
) -> StoreResult<(StoredRun, Timestamp)> {
    let (row, now) = lock_read_now(
        client,
        clock,
        Lock::RunResource {
            agent_id: &agent.agent_id,
            run_id,
        },
        ReadOrder::AfterLock,
        &FIND_RUN,
        &[&agent.agent_id.as_str(), &run_id.as_str()],
    )
    .await?;
    let run = row
        .map(|row| stored_run(&row))
        .transpose()?
        .ok_or(Refusal::NotFound("run"))?;
    Ok((run, now))
}

pub(super) async fn extend<C: GenericClient>(
    client: &C,
    clock: &Clock,
    agent: &AgentContext,
    extend: &ExtendRun,
) -> Refusable<ExtendRunResponse> {
    let (workspace_id, agent_id) = (agent.workspace_id.as_str(), agent.agent_id.as_str());
    let ((run, now), rules) = pipelined!(
        run = locked_run(client, clock, agent, &extend.run_id),
        rules = rules::of_run(client, workspace_id, agent_id, &extend.run_id),
    )?;
    let extension = match run.extend(agent, extend.ttl_seconds, &rules, now) {
        ExtendOutcome::Extend(extension) => extension,
        ExtendOutcome::Lost { events, refusal } => {
            record(client, now, &events).await?;
            return Ok(Err(refusal.into()));
        }
    };
    let (expires_at, ttl) = (
        extension.expires_at.unix_millis(),
        int(extension.ttl_seconds),
    );
    match &extension.target {
        ExtendTarget::ObserveRun => {
            pipelined!(
                run_row = async {
                    execute(
                        client,
                        "UPDATE runs SET expires_at = $1, ttl_seconds = $2 WHERE seq = $3",
                        &[&expires_at, &ttl, &run.seq],
                    )
                    .await
                },
                events = record(client, now, &extension.events),
            )?;
        }
        ExtendTarget::Claim(claim_id) => {
            // The sweeper takes no resource lock: between this run's read and
            // the update, another replica's sweeper may have recorded the
            // claim's expiry. The update then moves nothing (nor records the
            // event), and the transaction starts over, to find the lease
            // lapsed; extending it would leave a live claim outside the
            // exclusion constraint (migration 002) with its `claim_expired`
            // already audited.
            static EXTEND: LazyLock<WriteWithEvents> = LazyLock::new(|| {
                WriteWithEvents::new(
                    "UPDATE claims SET expires_at = $1, ttl_seconds = $2
                     WHERE id = $3 AND released_at IS NULL AND NOT expiry_recorded",
                    3,
                    Events::Activity,
                )
            });
            let activity = extension.events.activity.as_ref();
            let params: [&(dyn ToSql + Sync); 3] = [&expires_at, &ttl, &claim_id.as_str()];
            if EXTEND.run(client, &params, now, activity, None).await? == 0 {
                return Err(swept_meanwhile());
            }
        }
    }
    Ok(Ok(extension.answer))
}

/// The contention of a write that found a claim's lapse recorded by another
/// replica's sweeper since the claim was read: the transaction starts over.
fn swept_meanwhile() -> StoreError {
    StoreError::Contention("the sweeper recorded the claim's expiry meanwhile".into())
}

pub(super) async fn finish<C: GenericClient>(
    client: &C,
    clock: &Clock,
    agent: &AgentContext,
    finish: FinishRun,
) -> StoreResult<FinishRunResponse> {
    let (run, now) = locked_run(client, clock, agent, &finish.run_id).await?;
    let finishing = match run.finish(agent, finish.outcome, finish.summary.as_deref(), now) {
        FinishOutcome::AlreadyFinished(answer) => return Ok(answer),
        FinishOutcome::Finish(finishing) => finishing,
    };
    // One round trip, two statements: the claim's release with its audit
    // event (when it was live), and the run with its activity event. As in
    // `extend`, another replica's sweeper may have recorded the claim's
    // expiry since it was read (it takes no resource lock): the release
    // then changes nothing, and the transaction starts over, to find the
    // claim lapsed, instead of auditing both its expiry and its release.
    static RELEASE: LazyLock<WriteWithEvents> = LazyLock::new(|| {
        WriteWithEvents::new(
            "UPDATE claims SET released_at = $1, release_reason = 'finished'
             WHERE id = $2 AND released_at IS NULL AND NOT expiry_recorded",
            2,
            Events::Audit,
        )
    });
    static FINISH_RUN: LazyLock<WriteWithEvents> = LazyLock::new(|| {
        WriteWithEvents::new(
            "UPDATE runs SET finished_at = $1, outcome = $2, summary = $3, released = $4
             WHERE seq = $5",
            5,
            Events::Activity,
        )
    });
    let release = async {
        let Some(claim_id) = &finishing.releases else {
            return Ok(0);
        };
        let params: [&(dyn ToSql + Sync); 2] = [&now.unix_millis(), &claim_id.as_str()];
        RELEASE
            .run(client, &params, now, None, finishing.events.audits.first())
            .await
    };
    let finish_run = async {
        let params: [&(dyn ToSql + Sync); 5] = [
            &now.unix_millis(),
            &finish.outcome.to_text(),
            &finish.summary,
            &finishing.releases.is_some(),
            &run.seq,
        ];
        FINISH_RUN
            .run(
                client,
                &params,
                now,
                finishing.events.activity.as_ref(),
                None,
            )
            .await
    };
    let has_set = run
        .claim
        .as_ref()
        .is_some_and(|c| c.claim.working_set.is_some());
    let forget = async {
        match &finishing.releases {
            Some(claim_id) if has_set => working_sets::forget(client, claim_id, None).await,
            _ => Ok(()),
        }
    };
    let (released_rows, _, ()) =
        pipelined!(release = release, run_row = finish_run, paths = forget)?;
    if finishing.releases.is_some() && released_rows == 0 {
        return Err(swept_meanwhile());
    }
    Ok(finishing.answer)
}

/// Changes the paths of a run's live working-set claim, under the run's
/// resource lock (see [`crate::store::Store::change_paths`]).
pub(super) async fn change_paths<C: GenericClient>(
    client: &C,
    clock: &Clock,
    agent: &AgentContext,
    change: &PathsChange,
) -> Refusable<UpdateWorkingSetResponse> {
    let (run, now) = locked_run(client, clock, agent, &change.run_id).await?;
    let (want, own) = run.paths_lookup(change);
    let others = match want {
        Some(want) => {
            let workspace_id = agent.workspace_id.as_str();
            let resource = run.resource.as_str();
            working_sets::held(client, now, workspace_id, resource, &want, own, HELD_LIMIT).await?
        }
        None => Vec::new(),
    };
    let update = match run.change_paths(agent, change, &others, now) {
        PathsOutcome::Update(update) => update,
        PathsOutcome::Lost { events, refusal } => {
            record(client, now, &events).await?;
            return Ok(Err(refusal.into()));
        }
        PathsOutcome::Refused(refusal) => return Err(refusal.into()),
    };
    let claim_id = update.claim_id.as_str();
    let paths = update.answer.claim.working_set.as_ref().map(|s| &s.paths);
    let paths = paths.map(serde_json::to_value).transpose()?;
    // The sweeper takes no resource lock (see `finish`).
    let changed = execute(
        client,
        "UPDATE claims SET ws_paths = $1
         WHERE id = $2 AND released_at IS NULL AND NOT expiry_recorded",
        &[&paths, &claim_id],
    )
    .await?;
    if changed == 0 {
        return Err(swept_meanwhile());
    }
    let workspace_id = agent.workspace_id.as_str();
    let (mode, added) = (update.mode, &update.added);
    pipelined!(
        forgotten = working_sets::forget(client, claim_id, Some(&update.removed)),
        remembered =
            working_sets::remember(client, workspace_id, &run.resource, claim_id, mode, added),
        events = record(client, now, &update.events),
    )?;
    Ok(Ok(update.answer))
}

/// Releases a claim on a human's order (see
/// [`crate::store::Store::release_claim`]).
pub(super) async fn release_claim<C: GenericClient>(
    client: &C,
    clock: &Clock,
    actor: &SessionContext,
    claim_id: &ClaimId,
) -> StoreResult<ReleaseClaimResponse> {
    let workspace_id = actor.workspace.id.as_str();
    let sql = format!("{RUN_SELECT} WHERE c.id = $1 AND r.workspace_id = $2");
    let find = async || -> StoreResult<StoredRun> {
        row_opt(client, &sql, &[&claim_id.as_str(), &workspace_id])
            .await?
            .map(|row| stored_run(&row))
            .transpose()?
            .ok_or(StoreError::Refused(Refusal::NotFound("claim")))
    };
    let run = find().await?;
    lock_run_resources(client, run.seq).await?;
    let now = now(client, clock).await?;
    let run = find().await?;
    let release = run.release_by_user(claim_id, actor, now);
    if release.releases {
        // The sweeper takes no resource lock (see `finish`).
        let changed = execute(
            client,
            "UPDATE claims SET released_at = $1, release_reason = 'released_by_user'
             WHERE id = $2 AND released_at IS NULL AND NOT expiry_recorded",
            &[&now.unix_millis(), &claim_id.as_str()],
        )
        .await?;
        if changed == 0 {
            return Err(swept_meanwhile());
        }
        working_sets::forget(client, claim_id, None).await?;
        record(client, now, &release.events).await?;
    }
    Ok(release.answer)
}

/// Releases every live claim of an agent that is being deleted (its row
/// already locked by the caller), each under its resource's lock; answers
/// how many were released and the time of the last decision.
pub(super) async fn release_agent_claims<C: GenericClient>(
    client: &C,
    clock: &Clock,
    by: &SessionContext,
    agent_id: &AgentId,
) -> StoreResult<(usize, Timestamp)> {
    let workspace_id = by.workspace_id();
    let mut now = now(client, clock).await?;
    let candidates: Vec<String> = rows(
        client,
        concat!(
            "SELECT DISTINCT resource FROM claims WHERE agent_id = $1 AND ",
            live_claim!(postgres, "", "$2"),
            " ORDER BY resource"
        ),
        &[&agent_id.as_str(), &now.unix_millis()],
    )
    .await?
    .iter()
    .map(|row| get(row, 0))
    .collect::<Result<_, _>>()?;
    let (actor, mut released) = (by.actor(), 0);
    // Every resource of every live claim (several for a claim on several
    // resources), locked at once in the order starts take them.
    lock_agent_claim_resources(client, agent_id.as_str(), now).await?;
    for resource in candidates {
        now = super::sql::now(client, clock).await?;
        let live: Vec<ClaimId> = rows(
            client,
            concat!(
                "UPDATE claims SET released_at = $1, release_reason = 'agent_deleted'
                 WHERE agent_id = $2 AND resource = $3 AND ",
                live_claim!(postgres, "", "$1"),
                " RETURNING id"
            ),
            &[&now.unix_millis(), &agent_id.as_str(), &resource],
        )
        .await?
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<_, _>>()?;
        for claim_id in &live {
            working_sets::forget(client, claim_id, None).await?;
            let events = events::claim_released_agent_deleted(
                &workspace_id,
                &resource,
                claim_id,
                agent_id,
                &actor,
            );
            record(client, now, &events).await?;
        }
        released += live.len();
    }
    Ok((released, now))
}

pub(super) async fn list_runs<C: GenericClient>(
    client: &C,
    clock: &Clock,
    query: &Listing<RunFilter>,
) -> StoreResult<Page<Run>> {
    let (filter, page) = (&query.filter, &query.page);
    let now = now(client, clock).await?;
    let sql = format!(
        concat!(
            "{run_select}
             WHERE r.workspace_id = $1
               AND ($2::text IS NULL OR r.resource = $2)
               AND ($3::bigint IS NULL OR r.seq < $3)
               AND (NOT $4 OR (r.finished_at IS NULL AND r.decision <> 'skip_run' AND (
                    (c.id IS NOT NULL AND ",
            live_claim!(postgres, "c.", "$5"),
            ") OR (c.id IS NULL AND r.expires_at > $5))))
             ORDER BY r.seq DESC LIMIT $6"
        ),
        run_select = RUN_SELECT
    );
    let found = rows(
        client,
        &sql,
        &[
            &query.workspace_id.as_str(),
            &filter.resource.as_ref().map(ResourceKey::as_str),
            &page.after_seq(),
            &filter.active_only,
            &now.unix_millis(),
            &(i64::from(page.limit) + 1),
        ],
    )
    .await?
    .iter()
    .map(|row| stored_run(row).map(|r| (r.seq, r.into_run(now))))
    .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(found, page, now))
}
