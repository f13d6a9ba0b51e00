//! Rules on PostgreSQL: the workspace's declarations (SPEC §11), written by
//! humans under the workspace's row lock (so two writes cannot together
//! build a cycle) and read, a level at a time, by every start.

use availsync_types::{Mode, ResourceKey, Rule, Timestamp};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::events::record;
use super::sql::{execute, get, row_opt, rows, ts};
use crate::domain::rules::{self, Closure, Governs, RuleChange, RuleSettings};
use crate::store::text_enum::TextEnum;
use crate::store::{Refusal, RuleId, SessionContext, StoreError, StoreResult};

const RULE_COLUMNS: &str = "id, resource, depends_on, capacity, mode, max_ttl_seconds, note, \
     created_at, updated_at";

fn rule(row: &Row) -> StoreResult<Rule> {
    let mode = get::<Option<String>>(row, 4)?
        .map(|text| {
            Mode::from_text(&text)
                .ok_or_else(|| StoreError::Backend(format!("unexpected rule mode '{text}'")))
        })
        .transpose()?;
    Ok(Rule {
        rule_id: get(row, 0)?,
        resource: get(row, 1)?,
        depends_on: serde_json::from_value(get(row, 2)?)?,
        capacity: u32::try_from(get::<i32>(row, 3)?).unwrap_or(1),
        mode,
        max_ttl_seconds: get::<Option<i32>>(row, 5)?.and_then(|t| u32::try_from(t).ok()),
        note: get(row, 6)?,
        created_at: ts(row, 7)?,
        updated_at: ts(row, 8)?,
    })
}

/// Every rule of the workspace, by resource.
pub(super) async fn list<C: GenericClient>(
    client: &C,
    workspace_id: &str,
) -> StoreResult<Vec<Rule>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE workspace_id = $1 ORDER BY resource");
    rows(client, &sql, &[&workspace_id])
        .await?
        .iter()
        .map(rule)
        .collect()
}

/// The rules of `resources`, as a decision reads them (those that have one).
pub(super) async fn governing<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    resources: &[ResourceKey],
) -> StoreResult<Vec<Governs>> {
    let names: Vec<&str> = resources.iter().map(ResourceKey::as_str).collect();
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE workspace_id = $1 AND resource = ANY($2::text[])"
    );
    rows(client, &sql, &[&workspace_id, &names])
        .await?
        .iter()
        .map(|row| rule(row).map(|r| Governs::of(&r)))
        .collect()
}

/// The rules of the resources an agent's run claims (its own and its
/// claim's other ones), found from the run's id: an extend reads them in
/// the same round trip as the run.
pub(super) async fn of_run<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    agent_id: &str,
    run_id: &str,
) -> StoreResult<Vec<Governs>> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM rules WHERE workspace_id = $1 AND resource IN (
             SELECT r.resource FROM runs r WHERE r.agent_id = $2 AND r.run_id = $3
             UNION ALL
             SELECT p.resource FROM claim_parts p JOIN runs r ON r.seq = p.run_seq
             WHERE r.agent_id = $2 AND r.run_id = $3)"
    );
    rows(client, &sql, &[&workspace_id, &agent_id, &run_id])
        .await?
        .iter()
        .map(|row| rule(row).map(|r| Governs::of(&r)))
        .collect()
}

/// The rest of a start's `depends_on` walk, from the rules of the requested
/// resources (`first`, read with the start's first round trip): one lookup
/// per further level, none when no rule depends on anything.
pub(super) async fn closure<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    requested: &[ResourceKey],
    first: Vec<Governs>,
) -> StoreResult<Vec<Governs>> {
    let mut walk = Closure::new(requested);
    walk.learn(first);
    while !walk.is_done() {
        let found = governing(client, workspace_id, walk.frontier()).await?;
        walk.learn(found);
    }
    Ok(walk.into_reached())
}

async fn insert<C: GenericClient>(client: &C, workspace_id: &str, rule: &Rule) -> StoreResult<()> {
    execute(
        client,
        "INSERT INTO rules (id, workspace_id, resource, depends_on, capacity, mode,
                            max_ttl_seconds, note, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &rule.rule_id,
            &workspace_id,
            &rule.resource,
            &serde_json::to_value(&rule.depends_on)?,
            &i32::try_from(rule.capacity).unwrap_or(i32::MAX),
            &rule.mode.map(TextEnum::to_text),
            &rule
                .max_ttl_seconds
                .map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
            &rule.note,
            &rule.created_at.unix_millis(),
            &rule.updated_at.unix_millis(),
        ],
    )
    .await?;
    Ok(())
}

/// Locks the workspace's row, then reads its rules: rule writes take turns.
async fn locked_list<C: GenericClient>(client: &C, workspace_id: &str) -> StoreResult<Vec<Rule>> {
    execute(
        client,
        "SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE",
        &[&workspace_id],
    )
    .await?;
    list(client, workspace_id).await
}

pub(super) async fn create<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    resource: &ResourceKey,
    settings: RuleSettings,
) -> StoreResult<Rule> {
    let workspace_id = actor.workspace.id.as_str();
    let existing = locked_list(client, workspace_id).await?;
    let (rule, events) = rules::create(actor, resource, settings, &existing, now)?;
    insert(client, workspace_id, &rule).await?;
    record(client, now, &events).await?;
    Ok(rule)
}

async fn find<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    rule_id: &RuleId,
) -> StoreResult<Rule> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE workspace_id = $1 AND id = $2");
    let row = row_opt(client, &sql, &[&workspace_id, &rule_id.as_str()])
        .await?
        .ok_or(Refusal::NotFound("rule"))?;
    rule(&row)
}

pub(super) async fn update<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    rule_id: &RuleId,
    change: RuleChange,
) -> StoreResult<Rule> {
    let workspace_id = actor.workspace.id.as_str();
    let existing = locked_list(client, workspace_id).await?;
    let before = find(client, workspace_id, rule_id).await?;
    let (rule, events) = rules::update(actor, &before, change, &existing, now)?;
    execute(client, "DELETE FROM rules WHERE id = $1", &[&rule.rule_id]).await?;
    insert(client, workspace_id, &rule).await?;
    record(client, now, &events).await?;
    Ok(rule)
}

pub(super) async fn delete<C: GenericClient>(
    client: &C,
    now: Timestamp,
    actor: &SessionContext,
    rule_id: &RuleId,
) -> StoreResult<()> {
    let workspace_id = actor.workspace.id.as_str();
    let rule = find(client, workspace_id, rule_id).await?;
    execute(client, "DELETE FROM rules WHERE id = $1", &[&rule.rule_id]).await?;
    record(
        client,
        now,
        &crate::domain::events::rule_deleted(actor, &rule),
    )
    .await
}
