//! Workspaces, users, sessions, login throttling and agents.

use crate::store::Refusal;
use crate::store::StoreResult;
use availsync_types::{Agent, Page, Plan, Timestamp, User, Workspace};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::events::record;
use super::sql::{execute, get, row_one, row_opt, rows, text_enum, ts, ts_opt};
use crate::domain::agents::Creation;
use crate::domain::login_throttle;
use crate::domain::{accounts, agents, events};
use crate::store::cursor::paginate;
use crate::store::text_enum::TextEnum;
use crate::store::{
    AgentContext, AgentId, AgentUpdate, Credentials, FailedLogin, KeyRotation, Listing,
    LoginAttempt, LoginFailures, NewAgent, NewLogin, NewSession, NewSignup, SessionContext,
    StoreError, TOUCH_INTERVAL_MS, Tally,
};

/// A refusal that is committed together with the events that record it.
pub(super) type Refusable<T> = StoreResult<Result<T, StoreError>>;

const AGENT_COLUMNS: &str = "a.id, a.name, a.mode, a.key_prefix, a.created_at, a.last_used_at";
const WORKSPACE_COLUMNS: &str = "w.id, w.name, w.plan, w.created_at";
const USER_COLUMNS: &str = "u.id, u.email, u.workspace_id, u.created_at";

fn agent(row: &Row, at: usize) -> StoreResult<Agent> {
    Ok(Agent {
        id: get(row, at)?,
        name: get(row, at + 1)?,
        mode: text_enum(row, at + 2)?,
        key_prefix: get(row, at + 3)?,
        created_at: ts(row, at + 4)?,
        last_used_at: ts_opt(row, at + 5)?,
    })
}

fn workspace(row: &Row, at: usize) -> StoreResult<Workspace> {
    Ok(Workspace {
        id: get(row, at)?,
        name: get(row, at + 1)?,
        plan: text_enum(row, at + 2)?,
        created_at: ts(row, at + 3)?,
    })
}

fn user(row: &Row, at: usize) -> StoreResult<User> {
    Ok(User {
        id: get(row, at)?,
        email: get(row, at + 1)?,
        workspace_id: get(row, at + 2)?,
        created_at: ts(row, at + 3)?,
    })
}

pub(super) async fn signup<C: GenericClient>(
    client: &C,
    now: Timestamp,
    signup: NewSignup,
) -> StoreResult<SessionContext> {
    let taken = row_opt(
        client,
        "SELECT 1 FROM users WHERE email_norm = $1",
        &[&signup.email_norm],
    )
    .await?;
    if taken.is_some() {
        return Err(StoreError::Refused(Refusal::EmailTaken));
    }
    let (session, events) = accounts::sign_up(&signup, now);
    let (user, workspace) = (&session.user, &session.workspace);
    execute(
        client,
        "INSERT INTO workspaces (id, name, plan, created_at) VALUES ($1, $2, $3, $4)",
        &[
            &workspace.id,
            &workspace.name,
            &workspace.plan.to_text(),
            &now.unix_millis(),
        ],
    )
    .await?;
    // A concurrent signup with the same email loses on the unique index and
    // is retried, and then finds the email taken.
    execute(
        client,
        "INSERT INTO users (id, workspace_id, email, email_norm, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &user.id,
            &workspace.id,
            &user.email,
            &signup.email_norm,
            &signup.password_hash,
            &now.unix_millis(),
        ],
    )
    .await?;
    insert_session(client, now, &user.id, &signup.session).await?;
    record(client, now, &events).await?;
    Ok(session)
}

async fn insert_session<C: GenericClient>(
    client: &C,
    now: Timestamp,
    user_id: &str,
    session: &NewSession,
) -> StoreResult<()> {
    execute(
        client,
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        &[
            &session.token_hash,
            &user_id,
            &now.unix_millis(),
            &now.add_millis(session.ttl_ms).unix_millis(),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn credentials<C: GenericClient>(
    client: &C,
    email_norm: &str,
) -> StoreResult<Option<Credentials>> {
    let row = row_opt(
        client,
        "SELECT id, email, workspace_id, password_hash FROM users WHERE email_norm = $1",
        &[&email_norm],
    )
    .await?;
    row.map(|row| {
        Ok(Credentials {
            user_id: get(&row, 0)?,
            email: get(&row, 1)?,
            workspace_id: get(&row, 2)?,
            password_hash: get(&row, 3)?,
        })
    })
    .transpose()
}

pub(super) async fn login_failures<C: GenericClient>(
    db: &C,
    now: Timestamp,
    attempt: &LoginAttempt,
) -> StoreResult<LoginFailures> {
    let row = row_one(
        db,
        "SELECT COUNT(*) FILTER (WHERE email_norm = $1),
                MIN(at) FILTER (WHERE email_norm = $1),
                COUNT(*) FILTER (WHERE email_norm = $1 AND client = $2),
                MIN(at) FILTER (WHERE email_norm = $1 AND client = $2),
                COUNT(*) FILTER (WHERE client = $2),
                MIN(at) FILTER (WHERE client = $2)
         FROM login_failures
         WHERE (email_norm = $1 OR client = $2) AND at > $3",
        &[
            &attempt.email_norm,
            &attempt.client,
            &(now.unix_millis() - login_throttle::WINDOW_MS),
        ],
    )
    .await?;
    let tally = |at: usize| -> StoreResult<Tally> {
        let count: i64 = get(&row, at)?;
        Ok(Tally {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: ts_opt(&row, at + 1)?,
        })
    };
    Ok(LoginFailures {
        email: tally(0)?,
        email_and_client: tally(2)?,
        client: tally(4)?,
        now,
    })
}

pub(super) async fn record_login_failure<C: GenericClient>(
    db: &C,
    now: Timestamp,
    failure: &FailedLogin,
) -> StoreResult<()> {
    let LoginAttempt { email_norm, client } = &failure.attempt;
    let window_start = now.unix_millis() - login_throttle::WINDOW_MS;
    execute(
        db,
        "DELETE FROM login_failures WHERE email_norm = $1 AND at <= $2",
        &[email_norm, &window_start],
    )
    .await?;
    execute(
        db,
        "INSERT INTO login_failures (email_norm, client, at) VALUES ($1, $2, $3)",
        &[email_norm, client, &now.unix_millis()],
    )
    .await?;
    // Only failures against a real account land in a workspace's audit log;
    // unknown emails are recorded without a workspace.
    let events = events::login_failed(email_norm, failure.account.as_ref());
    record(db, now, &events).await
}

pub(super) async fn login<C: GenericClient>(
    db: &C,
    now: Timestamp,
    login: &NewLogin,
) -> StoreResult<SessionContext> {
    insert_session(db, now, &login.user_id, &login.session).await?;
    let ctx = session(db, now, &login.session.token_hash)
        .await?
        .ok_or_else(|| StoreError::Backend("new session not readable".into()))?;
    execute(
        db,
        "DELETE FROM login_failures WHERE email_norm = $1 AND client = $2",
        &[&ctx.user.email.to_lowercase(), &login.client],
    )
    .await?;
    record(db, now, &events::login(&ctx)).await?;
    Ok(ctx)
}

pub(super) async fn session<C: GenericClient>(
    client: &C,
    now: Timestamp,
    token_hash: &[u8],
) -> StoreResult<Option<SessionContext>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, {WORKSPACE_COLUMNS}, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN workspaces w ON w.id = u.workspace_id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
    );
    let row = row_opt(client, &sql, &[&token_hash, &now.unix_millis()]).await?;
    row.map(|row| {
        Ok(SessionContext {
            user: user(&row, 0)?,
            workspace: workspace(&row, 4)?,
            token_hash: token_hash.to_vec(),
        })
    })
    .transpose()
}

pub(super) async fn logout<C: GenericClient>(
    client: &C,
    now: Timestamp,
    ctx: &SessionContext,
) -> StoreResult<()> {
    let revoked = execute(
        client,
        "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
        &[&now.unix_millis(), &ctx.token_hash],
    )
    .await?;
    if revoked > 0 {
        record(client, now, &events::logout(ctx)).await?;
    }
    Ok(())
}

/// The workspace's plan. With `lock`, the workspace row is locked until the
/// transaction ends, so counts checked against the plan cannot race.
pub(super) async fn plan_of<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    lock: bool,
) -> StoreResult<Plan> {
    let sql = if lock {
        "SELECT plan FROM workspaces WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT plan FROM workspaces WHERE id = $1"
    };
    let row = row_opt(client, sql, &[&workspace_id])
        .await?
        .ok_or(Refusal::NotFound("workspace"))?;
    text_enum(&row, 0)
}

pub(super) async fn create_agent<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    agent: NewAgent,
) -> Refusable<Agent> {
    let workspace_id = &actor.workspace.id;
    let plan = plan_of(client, workspace_id, true).await?;
    // Agents are counted only when the plan limits them.
    let live_agents = match plan.limits().agents {
        Some(_) => {
            let sql = "SELECT COUNT(*) FROM agents WHERE workspace_id = $1 AND deleted_at IS NULL";
            let count: i64 = get(&row_one(client, sql, &[workspace_id]).await?, 0)?;
            Some(u64::try_from(count).unwrap_or_default())
        }
        None => None,
    };
    let made = match agents::create(actor, &agent, plan, live_agents, now) {
        Creation::Created(made) => made,
        Creation::Refused { events, refusal } => {
            record(client, now, &events).await?;
            return Ok(Err(refusal.into()));
        }
    };
    execute(
        client,
        "INSERT INTO agents (id, workspace_id, name, mode, key_hash, key_prefix, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &made.agent.id,
            workspace_id,
            &made.agent.name,
            &made.agent.mode.to_text(),
            &agent.key.key_hash,
            &made.agent.key_prefix,
            &now.unix_millis(),
        ],
    )
    .await?;
    record(client, now, &made.events).await?;
    Ok(Ok(made.agent))
}

pub(super) async fn list_agents<C: GenericClient>(
    client: &C,
    now: Timestamp,
    query: &Listing<()>,
) -> StoreResult<Page<Agent>> {
    let sql = format!(
        "SELECT a.seq, {AGENT_COLUMNS} FROM agents a
         WHERE a.workspace_id = $1 AND a.deleted_at IS NULL AND ($2::bigint IS NULL OR a.seq < $2)
         ORDER BY a.seq DESC LIMIT $3"
    );
    let page = &query.page;
    let limit = i64::from(page.limit) + 1;
    let found = rows(
        client,
        &sql,
        &[&query.workspace_id.as_str(), &page.after_seq(), &limit],
    )
    .await?
    .iter()
    .map(|row| Ok((get::<i64>(row, 0)?, agent(row, 1)?)))
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(paginate(found, page, now))
}

/// The live agent `agent_id` of `actor`'s workspace.
pub(super) async fn find_agent<C: GenericClient>(
    client: &C,
    actor: &SessionContext,
    agent_id: &AgentId,
) -> StoreResult<Agent> {
    let sql = format!(
        "SELECT {AGENT_COLUMNS} FROM agents a
         WHERE a.id = $1 AND a.workspace_id = $2 AND a.deleted_at IS NULL"
    );
    let row = row_opt(client, &sql, &[&agent_id.as_str(), &actor.workspace.id])
        .await?
        .ok_or(Refusal::NotFound("agent"))?;
    agent(&row, 0)
}

pub(super) async fn update_agent<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    update: &AgentUpdate,
) -> StoreResult<Agent> {
    let before = find_agent(client, actor, &update.agent_id).await?;
    let change = agents::update(actor, &before, update.name.as_deref(), update.mode);
    execute(
        client,
        "UPDATE agents SET name = $1, mode = $2 WHERE id = $3",
        &[
            &change.agent.name,
            &change.agent.mode.to_text(),
            &update.agent_id.as_str(),
        ],
    )
    .await?;
    record(client, now, &change.events).await?;
    Ok(change.agent)
}

pub(super) async fn rotate_key<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    rotation: &KeyRotation,
) -> StoreResult<Agent> {
    let before = find_agent(client, actor, &rotation.agent_id).await?;
    let change = agents::rotate_key(actor, &before, &rotation.key.key_prefix);
    execute(
        client,
        "UPDATE agents SET key_hash = $1, key_prefix = $2 WHERE id = $3",
        &[
            &rotation.key.key_hash,
            &change.agent.key_prefix,
            &rotation.agent_id.as_str(),
        ],
    )
    .await?;
    record(client, now, &change.events).await?;
    Ok(change.agent)
}

/// Deletes an agent. `released` is how many live claims the caller already
/// released under their resources' locks.
pub(super) async fn delete_agent<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    agent: &Agent,
    released: usize,
) -> StoreResult<()> {
    execute(
        client,
        "UPDATE agents SET deleted_at = $1 WHERE id = $2",
        &[&now.unix_millis(), &agent.id],
    )
    .await?;
    let events = events::agent_deleted(actor, agent, released);
    record(client, now, &events).await?;
    Ok(())
}

pub(super) async fn agent_by_key<C: GenericClient>(
    client: &C,
    key_hash: &[u8],
) -> StoreResult<Option<AgentContext>> {
    row_opt(
        client,
        "SELECT id, name, mode, workspace_id, last_used_at FROM agents
         WHERE key_hash = $1 AND deleted_at IS NULL",
        &[&key_hash],
    )
    .await?
    .map(|row| {
        Ok(AgentContext {
            agent_id: get(&row, 0)?,
            agent_name: get(&row, 1)?,
            workspace_id: get(&row, 3)?,
            last_used_at: ts_opt(&row, 4)?,
        })
    })
    .transpose()
}

pub(super) async fn touch_agent<C: GenericClient>(
    client: &C,
    now: Timestamp,
    agent_id: &AgentId,
) -> StoreResult<()> {
    execute(
        client,
        "UPDATE agents SET last_used_at = $1
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
        &[
            &now.unix_millis(),
            &agent_id.as_str(),
            &(now.unix_millis() - TOUCH_INTERVAL_MS),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn set_plan<C: GenericClient>(
    client: &C,
    name_or_id: &str,
    plan: Plan,
) -> StoreResult<Workspace> {
    let ids: Vec<String> = rows(
        client,
        "SELECT id FROM workspaces WHERE id = $1 OR name = $1",
        &[&name_or_id],
    )
    .await?
    .iter()
    .map(|row| get(row, 0))
    .collect::<Result<_, _>>()?;
    let id = match ids.as_slice() {
        [] => return Err(StoreError::Refused(Refusal::NotFound("workspace"))),
        [one] => one.clone(),
        many => match many.iter().find(|id| id.as_str() == name_or_id) {
            Some(id) => id.clone(),
            None => return Err(StoreError::Refused(Refusal::Ambiguous(many.len()))),
        },
    };
    execute(
        client,
        "UPDATE workspaces SET plan = $1 WHERE id = $2",
        &[&plan.to_text(), &id],
    )
    .await?;
    let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = $1");
    workspace(&row_one(client, &sql, &[&id]).await?, 0)
}
