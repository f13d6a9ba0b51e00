//! Runs and work claims: decisions, leases, fencing tokens.

use crate::store::Refusal;
use crate::store::StoreResult;
use crate::store::live_claim;
use availsync_types::{
    CheckResponse, Claim, ClaimedResource, Decision, ExtendRunResponse, FinishRunResponse, Mode,
    Outcome, Page, ReleaseClaimResponse, ResourceKey, Run, Timestamp, UpdateWorkingSetResponse,
    WorkingSet, WorkingSetMode,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::accounts::{Refusable, plan_of};
use super::events::record;
use super::queue;
use super::rows::{self, Sql, paginate};
use super::rules;
use super::working_sets::{self, HELD_LIMIT};
use super::writer_cache;
use crate::domain::events::{self, RunSubject};
use crate::domain::lease::{
    ClaimState, ResourceState, StartDecision, check_answer, effective_mode, new_claim,
};
use crate::domain::queue::{
    Queued, Queueing, Served, StartOutcome, keeps_waiting, queue_keys, retry_at,
};
use crate::domain::rules::Governs;
use crate::domain::run_changes::{ExtendOutcome, ExtendTarget, FinishOutcome, PathsOutcome};
use crate::domain::runs::with_parts;
use crate::domain::working_sets::{Want, granted_patterns};
use crate::store::records::{StoredClaim, StoredRun};
use crate::store::{
    AgentContext, AgentId, Check, ClaimId, ExtendRun, FinishRun, Listing, PathsChange, RunFilter,
    RunId, SessionContext, StartRun,
};

/// The columns [`stored_run`] reads, with the agent's name taken from
/// `$agent_name` over the tables of `$from`.
macro_rules! run_select {
    ($agent_name:literal, $from:literal) => {
        concat!(
            "SELECT r.seq, r.run_id, r.agent_id, ",
            $agent_name,
            ", r.resource, r.mode, r.decision,
                r.ttl_seconds, r.expires_at, r.would_block, r.reason, r.retry_after, r.purpose,
                r.metadata, r.created_at, r.finished_at, r.outcome, r.summary, r.released,
                c.id, c.expires_at, c.ttl_seconds, c.fencing_token, c.released_at,
                c.expiry_recorded, c.ws_mode, c.ws_paths, r.blocked,
                (SELECT json_group_array(json_object('resource', p.resource,
                                                     'fencing_token', p.fencing_token))
                 FROM claim_parts p WHERE p.run_seq = r.seq)
            FROM ",
            $from
        )
    };
}

/// Runs with their agent's current name.
const RUN_SELECT: &str = run_select!(
    "a.name",
    "runs r JOIN agents a ON a.id = r.agent_id LEFT JOIN claims c ON c.run_seq = r.seq"
);

/// One of the calling agent's runs by its id (`?1` the agent, `?2` the run
/// id, `?3` the agent's name as the caller knows it, so the agent's row is
/// not read again on every extend and finish).
const OWN_RUN_SELECT: &str = concat!(
    run_select!("?3", "runs r LEFT JOIN claims c ON c.run_seq = r.seq"),
    " WHERE r.agent_id = ?1 AND r.run_id = ?2"
);

fn stored_run(row: &Row<'_>) -> rusqlite::Result<StoredRun> {
    let resource: String = row.get(4)?;
    let claim = match row.get::<_, Option<String>>(19)? {
        Some(claim_id) => Some(StoredClaim {
            claim: Claim {
                claim_id,
                resource: resource.clone(),
                expires_at: rows::ts(row.get(20)?),
                ttl_seconds: row.get(21)?,
                fencing_token: row.get::<_, i64>(22)? as u64,
                working_set: match row.get::<_, Option<Sql<WorkingSetMode>>>(25)? {
                    Some(mode) => Some(WorkingSet {
                        paths: json_column(row, 26)?.unwrap_or_default(),
                        mode: mode.0,
                    }),
                    None => None,
                },
                resources: None,
            },
            released_at: row.get::<_, Option<i64>>(23)?.map(rows::ts),
            lapse_recorded: row.get(24)?,
        }),
        None => None,
    };
    let mut claim = claim;
    if let Some(stored) = &mut claim {
        let parts: Vec<ClaimedResource> = json_column(row, 28)?.unwrap_or_default();
        stored.claim.resources = with_parts(&stored.claim, parts);
    }
    Ok(StoredRun {
        seq: row.get(0)?,
        run_id: row.get(1)?,
        agent_id: row.get(2)?,
        agent_name: row.get(3)?,
        resource,
        mode: row.get::<_, Sql<Mode>>(5)?.0,
        decision: row.get::<_, Sql<Decision>>(6)?.0,
        ttl_seconds: row.get(7)?,
        expires_at: row.get::<_, Option<i64>>(8)?.map(rows::ts),
        would_block: row.get(9)?,
        reason: json_column(row, 10)?,
        retry_after: row.get::<_, Option<i64>>(11)?.map(|s| s.max(0) as u64),
        blocked: json_column(row, 27)?,
        purpose: row.get(12)?,
        metadata: json_column(row, 13)?,
        created_at: rows::ts(row.get(14)?),
        finished_at: row.get::<_, Option<i64>>(15)?.map(rows::ts),
        outcome: row.get::<_, Option<Sql<Outcome>>>(16)?.map(|o| o.0),
        summary: row.get(17)?,
        released: row.get(18)?,
        claim,
    })
}

/// A nullable column holding JSON.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    row.get::<_, Option<String>>(index)?
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into())
        })
}

/// One of `agent`'s runs by its id.
fn find_run(
    conn: &Connection,
    agent: &AgentContext,
    run_id: &RunId,
) -> StoreResult<Option<StoredRun>> {
    Ok(conn
        .prepare_cached(OWN_RUN_SELECT)?
        .query_row(
            [agent.agent_id.as_str(), run_id, agent.agent_name.as_str()],
            stored_run,
        )
        .optional()?)
}

fn claim_state(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    requested: &[ResourceKey],
    want: &Want,
) -> StoreResult<ClaimState> {
    let reached = rules::closure(conn, workspace_id, requested)?;
    claim_state_of(conn, now, workspace_id, reached, want)
}

/// [`claim_state`] of resources whose closure is already known.
fn claim_state_of(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    reached: Vec<Governs>,
    want: &Want,
) -> StoreResult<ClaimState> {
    let plan = writer_cache::plan(workspace_id, || plan_of(conn, workspace_id))?;
    // Live claims are counted only when the plan limits them.
    let (live_claims, earliest) = if plan.limits().active_claims.is_some() {
        conn.prepare_cached(concat!(
            "SELECT COUNT(*), MIN(expires_at) FROM claims WHERE workspace_id = ?1 AND ",
            live_claim!(sqlite, "", "?2")
        ))?
        .query_row(params![workspace_id, now.unix_millis()], |row| {
            Ok((row.get::<_, u32>(0)?, row.get::<_, Option<i64>>(1)?))
        })?
    } else {
        (0, None)
    };
    let mut resources = Vec::new();
    for (index, governs) in reached.into_iter().enumerate() {
        let (want, limit) = match (index, governs.capacity) {
            (_, capacity) if capacity > 1 => (&Want::Whole, (capacity as usize).max(HELD_LIMIT)),
            (0, _) => (want, HELD_LIMIT),
            _ => (&Want::Whole, HELD_LIMIT),
        };
        let resource = governs.resource.as_str();
        let held = working_sets::held(conn, now, workspace_id, resource, want, None, limit)?;
        resources.push(ResourceState { governs, held });
    }
    Ok(ClaimState {
        resources,
        live_claims,
        earliest_expiry: earliest.map(rows::ts),
        plan,
    })
}

/// The agent as it is now (mode changes apply at once); `None` once deleted.
fn live_agent(conn: &Connection, agent_id: &str) -> StoreResult<Option<(String, Mode)>> {
    Ok(conn
        .prepare_cached("SELECT name, mode FROM agents WHERE id = ?1 AND deleted_at IS NULL")?
        .query_row([agent_id], |row| {
            Ok((row.get(0)?, row.get::<_, Sql<Mode>>(1)?.0))
        })
        .optional()?)
}

/// Decides a `run/start` taking part in the queue as `queueing` says: the
/// earlier waiters on its keys that can be served now are granted first,
/// then this start is decided (and, when it waits, queued). Answers what
/// serving granted too, for the wake-ups sent once committed.
pub(super) fn start_run(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    start: StartRun,
    queueing: Queueing,
    anyone_waiting: bool,
) -> StoreResult<(StartOutcome, Served)> {
    let workspace_id = agent.workspace_id.as_str();
    let reached = rules::closure(conn, workspace_id, &start.requested())?;
    // Only a start the state would grant can overtake anyone: a blocked
    // one joins (or keeps) its place without looking at the others.
    let served = if anyone_waiting && would_grant(conn, now, agent, &start, &reached)? {
        let keys: Vec<ResourceKey> = reached.iter().map(|g| g.resource.clone()).collect();
        queue::serve(conn, now, workspace_id, &keys, queueing.waiter())?
    } else {
        Served::default()
    };
    let outcome = start_one(conn, now, agent, start, queueing, reached)?;
    Ok((outcome, served))
}

/// Whether the state alone (not the queue) would grant `start` now.
fn would_grant(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    start: &StartRun,
    reached: &[Governs],
) -> StoreResult<bool> {
    let Some((_, agent_mode)) =
        writer_cache::live_agent(&agent.agent_id, || live_agent(conn, &agent.agent_id))?
    else {
        return Ok(false);
    };
    let mode = effective_mode(agent_mode, start.observe_requested);
    let workspace_id = agent.workspace_id.as_str();
    let state = claim_state_of(conn, now, workspace_id, reached.to_vec(), &start.want)?;
    Ok(state
        .decide(mode, &start.want, start.ttl_seconds, now)
        .is_ok_and(|decided| decided.grants()))
}

/// Decides one start whose closure is `reached`, serving no one else.
pub(super) fn start_one(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    start: StartRun,
    queueing: Queueing,
    reached: Vec<Governs>,
) -> StoreResult<StartOutcome> {
    let (agent_name, agent_mode) =
        writer_cache::live_agent(&agent.agent_id, || live_agent(conn, &agent.agent_id))?
            .ok_or(Refusal::NotFound("agent"))?;
    let mode = effective_mode(agent_mode, start.observe_requested);
    let workspace_id = agent.workspace_id.as_str();
    let resource = start.resource.as_str();
    if queueing != Queueing::Immediate {
        // A waiter already granted (by another start serving the queue)
        // finds its run; so does the replay of a finished one.
        if let Some(existing) = find_run(conn, agent, &start.run_id)? {
            if let Some(seq) = queueing.waiter() {
                queue::leave(conn, seq)?;
            }
            return Ok(StartOutcome::answered(
                existing.replay(&start.resource, now)?,
            ));
        }
    }
    let state = claim_state_of(conn, now, workspace_id, reached, &start.want)?;
    let decided = state.decide(mode, &start.want, start.ttl_seconds, now)?;
    if queueing.queues_skips() && keeps_waiting(&decided) {
        let seq = match queueing {
            Queueing::Join { deadline, replica } => {
                let keys = queue_keys(&decided.claims, decided.blocker.as_ref());
                queue::join(conn, now, agent, &start, &keys, deadline, replica)?
            }
            _ => queueing.waiter().unwrap_or_default(),
        };
        let retry_at = retry_at(&decided);
        return Ok(StartOutcome::Queued(Queued { seq, retry_at }));
    }
    if let Some(seq) = queueing.waiter() {
        queue::leave(conn, seq)?;
    }
    // A run id already used by this agent is a replay (or a mistake): the
    // unique (run_id, agent_id) index turns the insert into nothing, and
    // only then is the earlier run read, instead of looking for it first
    // on every start. Nothing before this changed anything, and the
    // ignored insert changes no row; it only uses up a sequence number
    // (`AUTOINCREMENT` takes one before the conflict is found), which
    // leaves a gap in the fencing tokens: they still only grow.
    let Some(run_seq) = insert_run(conn, now, agent, &decided, &start)? else {
        let existing = find_run(conn, agent, &start.run_id)?.ok_or(Refusal::NotFound("run"))?;
        return Ok(StartOutcome::answered(
            existing.replay(&start.resource, now)?,
        ));
    };
    let granted = if decided.grants() {
        Some(grant(conn, now, agent, run_seq, &start, &decided)?)
    } else {
        None
    };
    let subject = RunSubject {
        agent_name: &agent_name,
        ..RunSubject::of(agent, resource, &start.run_id)
    };
    let purpose = start.purpose.as_deref();
    let events = events::run_start(&subject, &decided, granted.as_ref(), purpose);
    record(conn, now, &events)?;
    // The same answer a replay gives (StoredRun::start_response), without
    // reading the new run back.
    Ok(StartOutcome::answered(decided.answer(
        start.run_id.into_string(),
        granted,
        now,
    )))
}

/// Inserts a new run; `None` when the agent already has a run with this
/// id (a replay).
fn insert_run(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    decided: &StartDecision,
    start: &StartRun,
) -> StoreResult<Option<i64>> {
    let reason_json = decided
        .reason
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let metadata_json = start
        .metadata
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let blocked_json = decided
        .blocked
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO runs (workspace_id, agent_id, run_id, resource, mode, decision, ttl_seconds,
                               expires_at, would_block, reason, retry_after, purpose, metadata, created_at,
                               blocked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (run_id, agent_id) DO NOTHING",
        )?
        .execute(params![
            agent.workspace_id,
            agent.agent_id,
            start.run_id,
            start.resource.as_str(),
            Sql(decided.mode),
            Sql(decided.decision),
            decided.ttl_seconds,
            decided.run_expires_at.map(Timestamp::unix_millis),
            decided.would_block,
            reason_json,
            decided.retry_after.map(|s| s as i64),
            start.purpose,
            metadata_json,
            now.unix_millis(),
            blocked_json,
        ])?;
    Ok((inserted > 0).then(|| conn.last_insert_rowid()))
}

/// Inserts the claim of a granted run, whose fencing token is the run's
/// sequence number: run sequence numbers only grow, so tokens strictly
/// increase per resource without a per-resource counter to rewrite (see
/// migration 005). The resource's row is written only the first time it is
/// claimed; after that the insert only reads it.
fn grant(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    run_seq: i64,
    start: &StartRun,
    decided: &StartDecision,
) -> StoreResult<Claim> {
    let workspace_id = agent.workspace_id.as_str();
    let token = run_seq as u64;
    let mut new_resource = conn.prepare_cached(
        "INSERT INTO resources (workspace_id, resource, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (workspace_id, resource) DO NOTHING",
    )?;
    for (resource, _) in &decided.claims {
        new_resource.execute(params![workspace_id, resource.as_str(), now.unix_millis()])?;
    }
    let tokens: Vec<(ResourceKey, u64)> = decided
        .claims
        .iter()
        .map(|(r, _)| (r.clone(), token))
        .collect();
    let set = decided.working_set.clone();
    let claim = new_claim(&tokens, decided.ttl_seconds, set, now);
    let set = claim.working_set.as_ref();
    conn.prepare_cached(
        "INSERT INTO claims (id, workspace_id, resource, run_seq, agent_id, fencing_token,
                             ttl_seconds, created_at, expires_at, ws_mode, ws_paths)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        claim.claim_id,
        workspace_id,
        claim.resource,
        run_seq,
        agent.agent_id,
        run_seq, // the fencing token
        claim.ttl_seconds,
        now.unix_millis(),
        claim.expires_at.unix_millis(),
        set.map(|s| Sql(s.mode)),
        set.map(|s| serde_json::to_string(&s.paths)).transpose()?,
    ])?;
    let mut part = conn.prepare_cached(
        "INSERT INTO claim_parts (run_seq, part, workspace_id, resource, fencing_token)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (index, (resource, _)) in decided.claims.iter().enumerate().skip(1) {
        part.execute(params![
            run_seq,
            index as i64,
            workspace_id,
            resource.as_str(),
            run_seq
        ])?;
    }
    if let Some(set) = set {
        let (id, resource) = (claim.claim_id.as_str(), start.resource.as_str());
        let granted = granted_patterns(&start.want, &claim);
        working_sets::remember(conn, workspace_id, resource, id, set.mode, &granted)?;
    }
    Ok(claim)
}

pub(super) fn check(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    check: &Check,
) -> StoreResult<CheckResponse> {
    let state = claim_state(conn, now, workspace_id, &check.requested(), &check.want)?;
    Ok(check_answer(&state, &check.want, now))
}

/// Changes the paths of a run's live working-set claim (see
/// [`crate::store::Store::change_paths`]).
pub(super) fn change_paths(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    change: PathsChange,
) -> Refusable<UpdateWorkingSetResponse> {
    let run = find_run(conn, agent, &change.run_id)?.ok_or(Refusal::NotFound("run"))?;
    let (want, own) = run.paths_lookup(&change);
    let others = match want {
        Some(want) => {
            let workspace_id = agent.workspace_id.as_str();
            working_sets::held(
                conn,
                now,
                workspace_id,
                &run.resource,
                &want,
                own,
                HELD_LIMIT,
            )?
        }
        None => Vec::new(),
    };
    let update = match run.change_paths(agent, &change, &others, now) {
        PathsOutcome::Update(update) => update,
        PathsOutcome::Lost { events, refusal } => {
            record(conn, now, &events)?;
            return Ok(Err(refusal.into()));
        }
        PathsOutcome::Refused(refusal) => return Err(refusal.into()),
    };
    let claim_id = update.claim_id.as_str();
    let paths = update.answer.claim.working_set.as_ref().map(|s| &s.paths);
    conn.prepare_cached("UPDATE claims SET ws_paths = ?1 WHERE id = ?2")?
        .execute(params![
            paths.map(serde_json::to_string).transpose()?,
            claim_id
        ])?;
    working_sets::forget(conn, claim_id, Some(&update.removed))?;
    let workspace_id = agent.workspace_id.as_str();
    working_sets::remember(
        conn,
        workspace_id,
        &run.resource,
        claim_id,
        update.mode,
        &update.added,
    )?;
    record(conn, now, &update.events)?;
    Ok(Ok(update.answer))
}

pub(super) fn extend(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    extend: ExtendRun,
) -> Refusable<ExtendRunResponse> {
    let run = find_run(conn, agent, &extend.run_id)?.ok_or(Refusal::NotFound("run"))?;
    let rules = rules::governing(conn, agent.workspace_id.as_str(), &run.resources())?;
    let extension = match run.extend(agent, extend.ttl_seconds, &rules, now) {
        ExtendOutcome::Extend(extension) => extension,
        ExtendOutcome::Lost { events, refusal } => {
            record(conn, now, &events)?;
            return Ok(Err(refusal.into()));
        }
    };
    let sql = match extension.target {
        ExtendTarget::ObserveRun => {
            "UPDATE runs SET expires_at = ?1, ttl_seconds = ?2 WHERE seq = ?3"
        }
        ExtendTarget::Claim(_) => {
            "UPDATE claims SET expires_at = ?1, ttl_seconds = ?2 WHERE run_seq = ?3"
        }
    };
    conn.prepare_cached(sql)?.execute(params![
        extension.expires_at.unix_millis(),
        extension.ttl_seconds,
        run.seq
    ])?;
    record(conn, now, &extension.events)?;
    Ok(Ok(extension.answer))
}

pub(super) fn finish(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    finish: FinishRun,
) -> StoreResult<FinishRunResponse> {
    let run = find_run(conn, agent, &finish.run_id)?.ok_or(Refusal::NotFound("run"))?;
    let finishing = match run.finish(agent, finish.outcome, finish.summary.as_deref(), now) {
        FinishOutcome::AlreadyFinished(answer) => return Ok(answer),
        FinishOutcome::Finish(finishing) => finishing,
    };
    if let Some(claim_id) = &finishing.releases {
        conn.prepare_cached(
            "UPDATE claims SET released_at = ?1, release_reason = 'finished' WHERE run_seq = ?2",
        )?
        .execute(params![now.unix_millis(), run.seq])?;
        working_sets::forget(conn, claim_id, None)?;
    }
    conn.prepare_cached(
        "UPDATE runs SET finished_at = ?1, outcome = ?2, summary = ?3, released = ?4 WHERE seq = ?5",
    )?
    .execute(params![
        now.unix_millis(),
        Sql(finish.outcome),
        finish.summary,
        finishing.releases.is_some(),
        run.seq
    ])?;
    record(conn, now, &finishing.events)?;
    Ok(finishing.answer)
}

/// Releases a claim on a human's order (see [`crate::store::Store::release_claim`]).
pub(super) fn release_claim(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    claim_id: &ClaimId,
) -> StoreResult<ReleaseClaimResponse> {
    let workspace_id = actor.workspace.id.as_str();
    let sql = format!("{RUN_SELECT} WHERE c.id = ?1 AND r.workspace_id = ?2");
    let run = conn
        .prepare_cached(&sql)?
        .query_row([claim_id.as_str(), workspace_id], stored_run)
        .optional()?
        .ok_or(Refusal::NotFound("claim"))?;
    let release = run.release_by_user(claim_id, actor, now);
    if release.releases {
        conn.execute(
            "UPDATE claims SET released_at = ?1, release_reason = 'released_by_user' WHERE id = ?2",
            params![now.unix_millis(), claim_id],
        )?;
        working_sets::forget(conn, claim_id, None)?;
        record(conn, now, &release.events)?;
    }
    Ok(release.answer)
}

/// Releases every live claim of an agent that is being deleted; answers how
/// many were released.
pub(super) fn release_agent_claims(
    conn: &Connection,
    now: Timestamp,
    by: &SessionContext,
    agent_id: &AgentId,
) -> StoreResult<usize> {
    let workspace_id = by.workspace_id();
    let live: Vec<(ClaimId, String)> = conn
        .prepare_cached(concat!(
            "SELECT id, resource FROM claims WHERE workspace_id = ?1 AND agent_id = ?2 AND ",
            live_claim!(sqlite, "", "?3")
        ))?
        .query_map(params![workspace_id, agent_id, now.unix_millis()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    let actor = by.actor();
    for (claim_id, resource) in &live {
        conn.execute(
            "UPDATE claims SET released_at = ?1, release_reason = 'agent_deleted' WHERE id = ?2",
            params![now.unix_millis(), claim_id],
        )?;
        working_sets::forget(conn, claim_id, None)?;
        let events = events::claim_released_agent_deleted(
            &workspace_id,
            resource,
            claim_id,
            agent_id,
            &actor,
        );
        record(conn, now, &events)?;
    }
    Ok(live.len())
}

pub(super) fn list_runs(
    conn: &Connection,
    now: Timestamp,
    query: &Listing<RunFilter>,
) -> StoreResult<Page<Run>> {
    let (filter, page) = (&query.filter, &query.page);
    let sql = format!(
        concat!(
            "{run_select}
             WHERE r.workspace_id = ?1
               AND (?2 IS NULL OR r.resource = ?2)
               AND (?3 IS NULL OR r.seq < ?3)
               AND (?4 = 0 OR (r.finished_at IS NULL AND r.decision <> 'skip_run' AND (
                    (c.id IS NOT NULL AND ",
            live_claim!(sqlite, "c.", "?5"),
            ") OR (c.id IS NULL AND r.expires_at > ?5))))
             ORDER BY r.seq DESC LIMIT ?6"
        ),
        run_select = RUN_SELECT
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let runs: Vec<(i64, Run)> = stmt
        .query_map(
            params![
                query.workspace_id,
                filter.resource.as_ref().map(ResourceKey::as_str),
                page.after_seq(),
                filter.active_only,
                now.unix_millis(),
                i64::from(page.limit) + 1,
            ],
            stored_run,
        )?
        .map(|run| run.map(|r| (r.seq, r.into_run(now))))
        .collect::<Result<_, _>>()?;
    Ok(paginate(runs, page, now))
}
