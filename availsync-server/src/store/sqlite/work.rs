//! Runs and work claims: decisions, leases, fencing tokens.

use crate::store::Refusal;
use crate::store::StoreResult;
use crate::store::live_claim;
use availsync_types::{
    Agent, CheckResponse, Claim, Decision, ExtendRunResponse, FinishRunResponse, Holder, Mode,
    Outcome, Page, ReleaseClaimResponse, ResourceKey, Run, RunStatus, StartRunResponse, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::accounts::{Refusable, plan_of};
use super::events::record;
use super::rows::{self, Sql, paginate};
use super::writer_cache;
use crate::domain::events::{self, RunSubject};
use crate::domain::ids::{IdKind, new_id};
use crate::domain::lease::{ClaimState, StartDecision, effective_mode};
use crate::domain::runs::Extendable;
use crate::domain::ttl::Ttl;
use crate::store::records::{StoredClaim, StoredRun};
use crate::store::{
    Actor, AgentContext, FinishRun, PageRequest, RunFilter, SessionContext, StartRun, StoreError,
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
                c.expiry_recorded
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
            },
            released_at: row.get::<_, Option<i64>>(23)?.map(rows::ts),
            lapse_recorded: row.get(24)?,
        }),
        None => None,
    };
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
    run_id: &str,
) -> StoreResult<Option<StoredRun>> {
    Ok(conn
        .prepare_cached(OWN_RUN_SELECT)?
        .query_row(
            [agent.agent_id.as_str(), run_id, agent.agent_name.as_str()],
            stored_run,
        )
        .optional()?)
}

/// The live claim on a resource, as a holder.
fn holder(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    resource: &str,
) -> StoreResult<Option<Holder>> {
    Ok(conn
        .prepare_cached(concat!(
            "SELECT c.agent_id, a.name, r.run_id, c.expires_at
             FROM claims c JOIN agents a ON a.id = c.agent_id JOIN runs r ON r.seq = c.run_seq
             WHERE c.workspace_id = ?1 AND c.resource = ?2 AND ",
            live_claim!(sqlite, "c.", "?3"),
            " ORDER BY c.expires_at DESC LIMIT 1"
        ))?
        .query_row(params![workspace_id, resource, now.unix_millis()], |row| {
            Ok(Holder {
                agent_id: row.get(0)?,
                agent_name: row.get(1)?,
                run_id: row.get(2)?,
                expires_at: rows::ts(row.get(3)?),
            })
        })
        .optional()?)
}

fn claim_state(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    resource: &str,
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
    Ok(ClaimState {
        holder: holder(conn, now, workspace_id, resource)?,
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

pub(super) fn start_run(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    start: StartRun,
) -> StoreResult<StartRunResponse> {
    let (agent_name, agent_mode) =
        writer_cache::live_agent(&agent.agent_id, || live_agent(conn, &agent.agent_id))?
            .ok_or(Refusal::NotFound("agent"))?;
    let mode = effective_mode(agent_mode, start.observe_requested);
    let workspace_id = agent.workspace_id.as_str();
    let resource = start.resource.as_str();
    let state = claim_state(conn, now, workspace_id, resource)?;
    let decided = state.decide(mode, &start.resource, start.ttl_seconds, now);
    // A run id already used by this agent is a replay (or a mistake): the
    // unique (run_id, agent_id) index turns the insert into nothing, and
    // only then is the earlier run read, instead of looking for it first
    // on every start. Nothing before this changed anything, and the
    // ignored insert changes no row; it only uses up a sequence number
    // (`AUTOINCREMENT` takes one before the conflict is found), which
    // leaves a gap in the fencing tokens: they still only grow.
    let Some(run_seq) = insert_run(conn, now, agent, mode, &decided, &start)? else {
        let existing = find_run(conn, agent, &start.run_id)?.ok_or(Refusal::NotFound("run"))?;
        if existing.resource != start.resource.as_str() {
            return Err(StoreError::Refused(Refusal::RunIdReused {
                run_id: start.run_id,
                resource: existing.resource,
            }));
        }
        return Ok(existing.start_response(now, true));
    };
    let granted = match (mode, decided.decision) {
        (Mode::Enforce, Decision::Proceed) => Some(grant(
            conn,
            now,
            workspace_id,
            &agent.agent_id,
            run_seq,
            &start,
        )?),
        _ => None,
    };
    let subject = RunSubject {
        agent_name: &agent_name,
        ..RunSubject::of(agent, resource, &start.run_id)
    };
    record(
        conn,
        now,
        &events::run_start(
            &subject,
            mode,
            &decided,
            granted.as_ref(),
            start.purpose.as_deref(),
            state.plan,
        ),
    )?;
    // The same answer a replay gives (StoredRun::start_response), without
    // reading the new run back.
    Ok(decided.answer(start.run_id, mode, granted, now))
}

/// Inserts a new run; `None` when the agent already has a run with this
/// id (a replay).
fn insert_run(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    mode: Mode,
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
    let inserted = conn
        .prepare_cached(
            "INSERT INTO runs (workspace_id, agent_id, run_id, resource, mode, decision, ttl_seconds,
                               expires_at, would_block, reason, retry_after, purpose, metadata, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (run_id, agent_id) DO NOTHING",
        )?
        .execute(params![
            agent.workspace_id,
            agent.agent_id,
            start.run_id,
            start.resource.as_str(),
            Sql(mode),
            Sql(decided.decision),
            start.ttl_seconds,
            decided.run_expires_at.map(Timestamp::unix_millis),
            decided.would_block,
            reason_json,
            decided.retry_after.map(|s| s as i64),
            start.purpose,
            metadata_json,
            now.unix_millis(),
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
    workspace_id: &str,
    agent_id: &str,
    run_seq: i64,
    start: &StartRun,
) -> StoreResult<Claim> {
    conn.prepare_cached(
        "INSERT INTO resources (workspace_id, resource, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (workspace_id, resource) DO NOTHING",
    )?
    .execute(params![
        workspace_id,
        start.resource.as_str(),
        now.unix_millis()
    ])?;
    let claim = Claim {
        claim_id: new_id(IdKind::Claim),
        resource: start.resource.to_string(),
        expires_at: Ttl::from_seconds(start.ttl_seconds).expiry_from(now),
        ttl_seconds: start.ttl_seconds,
        fencing_token: run_seq as u64,
    };
    conn.prepare_cached(
        "INSERT INTO claims (id, workspace_id, resource, run_seq, agent_id, fencing_token,
                             ttl_seconds, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        claim.claim_id,
        workspace_id,
        claim.resource,
        run_seq,
        agent_id,
        run_seq, // the fencing token
        claim.ttl_seconds,
        now.unix_millis(),
        claim.expires_at.unix_millis(),
    ])?;
    Ok(claim)
}

pub(super) fn check(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    resource: &ResourceKey,
) -> StoreResult<CheckResponse> {
    let holder = holder(conn, now, workspace_id, resource.as_str())?;
    Ok(CheckResponse {
        resource: resource.to_string(),
        available: holder.is_none(),
        retry_after: holder.as_ref().map(|h| now.seconds_until(h.expires_at)),
        holder,
        server_time: now,
    })
}

pub(super) fn extend(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    run_id: &str,
    ttl_seconds: Option<u32>,
) -> Refusable<ExtendRunResponse> {
    let run = find_run(conn, agent, run_id)?.ok_or(Refusal::NotFound("run"))?;
    let ttl = ttl_seconds.unwrap_or(run.ttl_seconds);
    let new_expiry = Ttl::from_seconds(ttl).expiry_from(now);
    let subject = RunSubject::of(agent, &run.resource, run_id);
    let claim = match run.extendable(now) {
        Err(Refusal::LeaseLost { why, at, run_id }) => {
            record(conn, now, &events::lease_lost(&subject, why, at))?;
            return Ok(Err(Refusal::LeaseLost { run_id, why, at }.into()));
        }
        Err(other) => return Err(other.into()),
        Ok(Extendable::Observe) => {
            conn.prepare_cached(
                "UPDATE runs SET expires_at = ?1, ttl_seconds = ?2 WHERE seq = ?3",
            )?
            .execute(params![new_expiry.unix_millis(), ttl, run.seq])?;
            record(conn, now, &events::run_extended(&subject, ttl, None))?;
            None
        }
        Ok(Extendable::Claim(stored)) => {
            conn.prepare_cached(
                "UPDATE claims SET expires_at = ?1, ttl_seconds = ?2 WHERE run_seq = ?3",
            )?
            .execute(params![new_expiry.unix_millis(), ttl, run.seq])?;
            let claim_id = stored.claim.claim_id.as_str();
            record(
                conn,
                now,
                &events::run_extended(&subject, ttl, Some((claim_id, new_expiry))),
            )?;
            Some(Claim {
                expires_at: new_expiry,
                ttl_seconds: ttl,
                ..stored.claim.clone()
            })
        }
    };
    Ok(Ok(ExtendRunResponse {
        run_id: run_id.to_owned(),
        claim,
        server_time: now,
    }))
}

pub(super) fn finish(
    conn: &Connection,
    now: Timestamp,
    agent: &AgentContext,
    finish: FinishRun,
) -> StoreResult<FinishRunResponse> {
    let run = find_run(conn, agent, &finish.run_id)?.ok_or(Refusal::NotFound("run"))?;
    if let (Some(_), Some(outcome)) = (run.finished_at, run.outcome) {
        return Ok(FinishRunResponse {
            run_id: finish.run_id,
            status: RunStatus::Finished,
            released: run.released.unwrap_or(false),
            outcome,
            server_time: now,
        });
    }
    let released = run.live_claim(now).map(|c| c.claim.claim_id.as_str());
    if released.is_some() {
        conn.prepare_cached(
            "UPDATE claims SET released_at = ?1, release_reason = 'finished' WHERE run_seq = ?2",
        )?
        .execute(params![now.unix_millis(), run.seq])?;
    }
    conn.prepare_cached(
        "UPDATE runs SET finished_at = ?1, outcome = ?2, summary = ?3, released = ?4 WHERE seq = ?5",
    )?
    .execute(params![
        now.unix_millis(),
        Sql(finish.outcome),
        finish.summary,
        released.is_some(),
        run.seq
    ])?;
    let subject = RunSubject::of(agent, &run.resource, &finish.run_id);
    record(
        conn,
        now,
        &events::run_finished(
            &subject,
            finish.outcome,
            finish.summary.as_deref(),
            released,
        ),
    )?;
    Ok(FinishRunResponse {
        released: released.is_some(),
        run_id: finish.run_id,
        status: RunStatus::Finished,
        outcome: finish.outcome,
        server_time: now,
    })
}

/// Releases a claim on a human's order (see [`crate::store::Store::release_claim`]).
pub(super) fn release_claim(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    claim_id: &str,
) -> StoreResult<ReleaseClaimResponse> {
    let workspace_id = actor.workspace.id.as_str();
    let sql = format!("{RUN_SELECT} WHERE c.id = ?1 AND r.workspace_id = ?2");
    let run = conn
        .prepare_cached(&sql)?
        .query_row([claim_id, workspace_id], stored_run)
        .optional()?
        .ok_or(Refusal::NotFound("claim"))?;
    let live = run.live_claim(now).is_some();
    if live {
        conn.execute(
            "UPDATE claims SET released_at = ?1, release_reason = 'released_by_user' WHERE id = ?2",
            params![now.unix_millis(), claim_id],
        )?;
        let subject = RunSubject {
            workspace_id,
            agent_id: &run.agent_id,
            agent_name: &run.agent_name,
            resource: &run.resource,
            run_id: &run.run_id,
        };
        record(
            conn,
            now,
            &events::claim_released_by_user(&subject, claim_id, actor),
        )?;
    }
    let run = if live {
        let sql = format!("{RUN_SELECT} WHERE c.id = ?1");
        conn.prepare_cached(&sql)?
            .query_row([claim_id], stored_run)?
    } else {
        run
    };
    Ok(ReleaseClaimResponse {
        claim_id: claim_id.to_owned(),
        status: run.status(now),
        resource: run.resource,
        run_id: run.run_id,
        agent_id: run.agent_id,
        agent_name: run.agent_name,
        released: live,
        server_time: now,
    })
}

/// Releases every live claim of an agent that is being deleted; answers how
/// many were released.
pub(super) fn release_agent_claims(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    agent: &Agent,
    actor: &Actor,
) -> StoreResult<usize> {
    let live: Vec<(String, String)> = conn
        .prepare_cached(concat!(
            "SELECT id, resource FROM claims WHERE workspace_id = ?1 AND agent_id = ?2 AND ",
            live_claim!(sqlite, "", "?3")
        ))?
        .query_map(params![workspace_id, agent.id, now.unix_millis()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (claim_id, resource) in &live {
        conn.execute(
            "UPDATE claims SET released_at = ?1, release_reason = 'agent_deleted' WHERE id = ?2",
            params![now.unix_millis(), claim_id],
        )?;
        record(
            conn,
            now,
            &events::claim_released_agent_deleted(
                workspace_id,
                resource,
                claim_id,
                &agent.id,
                actor,
            ),
        )?;
    }
    Ok(live.len())
}

pub(super) fn list_runs(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    filter: &RunFilter,
    page: &PageRequest,
) -> StoreResult<Page<Run>> {
    let sql = format!(
        concat!(
            "{run_select}
             WHERE r.workspace_id = ?1
               AND (?2 IS NULL OR r.resource = ?2)
               AND (?3 IS NULL OR r.seq < ?3)
               AND (?4 = 0 OR (r.finished_at IS NULL AND r.decision = 'proceed' AND (
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
                workspace_id,
                filter.resource.as_ref().map(ResourceKey::as_str),
                page.after,
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
