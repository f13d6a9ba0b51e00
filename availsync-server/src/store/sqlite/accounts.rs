//! Workspaces, users, sessions, login throttling and agents.

use crate::store::Refusal;
use crate::store::StoreResult;
use availsync_types::{Agent, Page, Plan, Timestamp, Workspace};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::events::record;
use super::rows::{self, AGENT_COLUMNS, Sql, USER_COLUMNS, WORKSPACE_COLUMNS, paginate};
use super::writer_cache;
use crate::domain::agents::Creation;
use crate::domain::login_throttle;
use crate::domain::{accounts, agents, events};
use crate::store::{
    AgentContext, AgentId, AgentUpdate, Credentials, FailedLogin, KeyRotation, Listing,
    LoginAttempt, LoginFailures, NewAgent, NewLogin, NewSession, NewSignup, SessionContext,
    StoreError, TOUCH_INTERVAL_MS, Tally,
};

/// A refusal that is committed together with the events that record it.
pub(super) type Refusable<T> = StoreResult<Result<T, StoreError>>;

pub(super) fn signup(
    conn: &Connection,
    now: Timestamp,
    signup: NewSignup,
) -> StoreResult<SessionContext> {
    let (session, events) = accounts::sign_up(&signup, now);
    let (user, workspace) = (&session.user, &session.workspace);
    conn.execute(
        "INSERT INTO workspaces (id, name, plan, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            workspace.id,
            workspace.name,
            Sql(workspace.plan),
            now.unix_millis()
        ],
    )?;
    let inserted = conn.execute(
        "INSERT INTO users (id, workspace_id, email, email_norm, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            user.id,
            workspace.id,
            user.email,
            signup.email_norm,
            signup.password_hash,
            now.unix_millis()
        ],
    );
    match inserted {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            return Err(StoreError::Refused(Refusal::EmailTaken));
        }
        other => other?,
    };
    insert_session(conn, now, &user.id, &signup.session)?;
    record(conn, now, &events)?;
    Ok(session)
}

fn insert_session(
    conn: &Connection,
    now: Timestamp,
    user_id: &str,
    session: &NewSession,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            session.token_hash,
            user_id,
            now.unix_millis(),
            now.add_millis(session.ttl_ms).unix_millis()
        ],
    )?;
    Ok(())
}

pub(super) fn credentials(conn: &Connection, email_norm: &str) -> StoreResult<Option<Credentials>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, email, workspace_id, password_hash FROM users WHERE email_norm = ?1",
        )?
        .query_row([email_norm], |row| {
            Ok(Credentials {
                user_id: row.get(0)?,
                email: row.get(1)?,
                workspace_id: row.get(2)?,
                password_hash: row.get(3)?,
            })
        })
        .optional()?)
}

pub(super) fn login_failures(
    conn: &Connection,
    now: Timestamp,
    attempt: &LoginAttempt,
) -> StoreResult<LoginFailures> {
    conn.prepare_cached(
        "SELECT COUNT(*) FILTER (WHERE email_norm = ?1),
                MIN(at) FILTER (WHERE email_norm = ?1),
                COUNT(*) FILTER (WHERE email_norm = ?1 AND client = ?2),
                MIN(at) FILTER (WHERE email_norm = ?1 AND client = ?2),
                COUNT(*) FILTER (WHERE client = ?2),
                MIN(at) FILTER (WHERE client = ?2)
         FROM login_failures
         WHERE (email_norm = ?1 OR client = ?2) AND at > ?3",
    )?
    .query_row(
        params![
            attempt.email_norm,
            attempt.client,
            now.unix_millis() - login_throttle::WINDOW_MS
        ],
        |row| {
            let tally = |at: usize| -> rusqlite::Result<Tally> {
                Ok(Tally {
                    count: row.get(at)?,
                    oldest: row.get::<_, Option<i64>>(at + 1)?.map(rows::ts),
                })
            };
            Ok(LoginFailures {
                email: tally(0)?,
                email_and_client: tally(2)?,
                client: tally(4)?,
                now,
            })
        },
    )
    .map_err(Into::into)
}

pub(super) fn record_login_failure(
    conn: &Connection,
    now: Timestamp,
    failure: FailedLogin,
) -> StoreResult<()> {
    let LoginAttempt { email_norm, client } = &failure.attempt;
    conn.execute(
        "DELETE FROM login_failures WHERE email_norm = ?1 AND at <= ?2",
        params![email_norm, now.unix_millis() - login_throttle::WINDOW_MS],
    )?;
    conn.execute(
        "INSERT INTO login_failures (email_norm, client, at) VALUES (?1, ?2, ?3)",
        params![email_norm, client, now.unix_millis()],
    )?;
    // Only failures against a real account land in a workspace's audit log;
    // unknown emails are recorded without a workspace.
    let account = failure.account.as_ref();
    record(conn, now, &events::login_failed(email_norm, account))
}

pub(super) fn login(
    conn: &Connection,
    now: Timestamp,
    login: NewLogin,
) -> StoreResult<SessionContext> {
    insert_session(conn, now, &login.user_id, &login.session)?;
    let ctx = session(conn, now, &login.session.token_hash)?
        .ok_or_else(|| StoreError::Backend("new session not readable".into()))?;
    conn.execute(
        "DELETE FROM login_failures WHERE email_norm = ?1 AND client = ?2",
        params![ctx.user.email.to_lowercase(), login.client],
    )?;
    record(conn, now, &events::login(&ctx))?;
    Ok(ctx)
}

pub(super) fn session(
    conn: &Connection,
    now: Timestamp,
    token_hash: &[u8],
) -> StoreResult<Option<SessionContext>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, {WORKSPACE_COLUMNS}, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN workspaces w ON w.id = u.workspace_id
         WHERE s.token_hash = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![token_hash, now.unix_millis()], |row| {
            Ok(SessionContext {
                user: rows::user(row, 0)?,
                workspace: rows::workspace(row, 4)?,
                token_hash: token_hash.to_vec(),
            })
        })
        .optional()?)
}

pub(super) fn logout(conn: &Connection, now: Timestamp, ctx: &SessionContext) -> StoreResult<()> {
    let revoked = conn.execute(
        "UPDATE sessions SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
        params![now.unix_millis(), ctx.token_hash],
    )?;
    if revoked > 0 {
        record(conn, now, &events::logout(ctx))?;
    }
    Ok(())
}

pub(super) fn plan_of(conn: &Connection, workspace_id: &str) -> StoreResult<Plan> {
    Ok(conn
        .prepare_cached("SELECT plan FROM workspaces WHERE id = ?1")?
        .query_row([workspace_id], |row| row.get::<_, Sql<Plan>>(0))?
        .0)
}

pub(super) fn create_agent(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    agent: NewAgent,
) -> Refusable<Agent> {
    let workspace_id = &actor.workspace.id;
    let plan = plan_of(conn, workspace_id)?;
    // Agents are counted only when the plan limits them.
    let live_agents = match plan.limits().agents {
        Some(_) => Some(conn.query_row(
            "SELECT COUNT(*) FROM agents WHERE workspace_id = ?1 AND deleted_at IS NULL",
            [workspace_id],
            |row| row.get::<_, u32>(0).map(u64::from),
        )?),
        None => None,
    };
    let made = match agents::create(actor, &agent, plan, live_agents, now) {
        Creation::Created(made) => made,
        Creation::Refused { events, refusal } => {
            record(conn, now, &events)?;
            return Ok(Err(refusal.into()));
        }
    };
    conn.execute(
        "INSERT INTO agents (id, workspace_id, name, mode, key_hash, key_prefix, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            made.agent.id,
            workspace_id,
            made.agent.name,
            Sql(made.agent.mode),
            agent.key.key_hash,
            made.agent.key_prefix,
            now.unix_millis()
        ],
    )?;
    record(conn, now, &made.events)?;
    Ok(Ok(made.agent))
}

pub(super) fn list_agents(
    conn: &Connection,
    now: Timestamp,
    query: &Listing<()>,
) -> StoreResult<Page<Agent>> {
    let sql = format!(
        "SELECT a.rowid, {AGENT_COLUMNS} FROM agents a
         WHERE a.workspace_id = ?1 AND a.deleted_at IS NULL AND (?2 IS NULL OR a.rowid < ?2)
         ORDER BY a.rowid DESC LIMIT ?3"
    );
    let page = &query.page;
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<(i64, Agent)> = stmt
        .query_map(
            params![
                query.workspace_id,
                page.after_seq(),
                i64::from(page.limit) + 1
            ],
            |row| Ok((row.get(0)?, rows::agent(row, 1)?)),
        )?
        .collect::<Result<_, _>>()?;
    Ok(paginate(rows, page, now))
}

/// A live agent of `actor`'s workspace.
fn find_agent(conn: &Connection, actor: &SessionContext, agent_id: &str) -> StoreResult<Agent> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents a
         WHERE a.id = ?1 AND a.workspace_id = ?2 AND a.deleted_at IS NULL"
    );
    let found = conn
        .prepare_cached(&sql)?
        .query_row([agent_id, &actor.workspace.id], |row| rows::agent(row, 0))
        .optional()?;
    Ok(found.ok_or(Refusal::NotFound("agent"))?)
}

pub(super) fn update_agent(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    update: AgentUpdate,
) -> StoreResult<Agent> {
    let before = find_agent(conn, actor, &update.agent_id)?;
    let change = agents::update(actor, &before, update.name.as_deref(), update.mode);
    writer_cache::forget();
    conn.execute(
        "UPDATE agents SET name = ?1, mode = ?2 WHERE id = ?3",
        params![change.agent.name, Sql(change.agent.mode), update.agent_id],
    )?;
    record(conn, now, &change.events)?;
    Ok(change.agent)
}

pub(super) fn rotate_key(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    rotation: KeyRotation,
) -> StoreResult<Agent> {
    let before = find_agent(conn, actor, &rotation.agent_id)?;
    let change = agents::rotate_key(actor, &before, &rotation.key.key_prefix);
    conn.execute(
        "UPDATE agents SET key_hash = ?1, key_prefix = ?2 WHERE id = ?3",
        params![
            rotation.key.key_hash,
            change.agent.key_prefix,
            rotation.agent_id
        ],
    )?;
    record(conn, now, &change.events)?;
    Ok(change.agent)
}

pub(super) fn delete_agent(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    agent_id: &AgentId,
) -> StoreResult<()> {
    let agent = find_agent(conn, actor, agent_id)?;
    let released = super::work::release_agent_claims(conn, now, actor, agent_id)?;
    writer_cache::forget();
    conn.execute(
        "UPDATE agents SET deleted_at = ?1 WHERE id = ?2",
        params![now.unix_millis(), agent_id],
    )?;
    record(conn, now, &events::agent_deleted(actor, &agent, released))
}

pub(super) fn agent_by_key(
    conn: &Connection,
    key_hash: &[u8],
) -> StoreResult<Option<AgentContext>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, mode, workspace_id, last_used_at FROM agents
             WHERE key_hash = ?1 AND deleted_at IS NULL",
        )?
        .query_row([key_hash], |row| {
            Ok(AgentContext {
                agent_id: row.get(0)?,
                agent_name: row.get(1)?,
                workspace_id: row.get(3)?,
                last_used_at: row.get::<_, Option<i64>>(4)?.map(rows::ts),
            })
        })
        .optional()?)
}

pub(super) fn touch_agent(conn: &Connection, now: Timestamp, agent_id: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE agents SET last_used_at = ?1
         WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)",
    )?
    .execute(params![
        now.unix_millis(),
        agent_id,
        now.unix_millis() - TOUCH_INTERVAL_MS
    ])?;
    Ok(())
}

pub(super) fn set_plan(conn: &Connection, workspace: &str, plan: Plan) -> StoreResult<Workspace> {
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM workspaces WHERE id = ?1 OR name = ?1")?
        .query_map([workspace], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let id = match ids.as_slice() {
        [] => return Err(StoreError::Refused(Refusal::NotFound("workspace"))),
        [one] => one.clone(),
        many => {
            // An exact id match wins over names.
            match many.iter().find(|id| id.as_str() == workspace) {
                Some(id) => id.clone(),
                None => return Err(StoreError::Refused(Refusal::Ambiguous(many.len()))),
            }
        }
    };
    writer_cache::forget();
    conn.execute(
        "UPDATE workspaces SET plan = ?1 WHERE id = ?2",
        params![Sql(plan), id],
    )?;
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = ?1");
    Ok(conn.query_row(&sql, [&id], |row| rows::workspace(row, 0))?)
}
