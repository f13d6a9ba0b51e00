//! Rules on SQLite: the workspace's declarations (SPEC §11), written by
//! humans and read, a resource at a time, by every start.

use availsync_types::{Mode, ResourceKey, Rule, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::events::record;
use super::rows::{self, Sql};
use crate::domain::rules::{self, Closure, Governs, RuleChange, RuleSettings};
use crate::store::{Refusal, RuleId, SessionContext, StoreResult};

const RULE_COLUMNS: &str = "id, resource, depends_on, capacity, mode, max_ttl_seconds, note, \
     created_at, updated_at";

fn rule(row: &Row<'_>) -> rusqlite::Result<Rule> {
    let depends_on: String = row.get(2)?;
    Ok(Rule {
        rule_id: row.get(0)?,
        resource: row.get(1)?,
        depends_on: serde_json::from_str(&depends_on).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
        })?,
        capacity: row.get(3)?,
        mode: row.get::<_, Option<Sql<Mode>>>(4)?.map(|m| m.0),
        max_ttl_seconds: row.get(5)?,
        note: row.get(6)?,
        created_at: rows::ts(row.get(7)?),
        updated_at: rows::ts(row.get(8)?),
    })
}

/// Every rule of the workspace, by resource.
pub(super) fn list(conn: &Connection, workspace_id: &str) -> StoreResult<Vec<Rule>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE workspace_id = ?1 ORDER BY resource");
    Ok(conn
        .prepare_cached(&sql)?
        .query_map([workspace_id], rule)?
        .collect::<Result<_, _>>()?)
}

/// The rules of `resources` (those that have one).
fn of(conn: &Connection, workspace_id: &str, resources: &[ResourceKey]) -> StoreResult<Vec<Rule>> {
    let names: Vec<&str> = resources.iter().map(ResourceKey::as_str).collect();
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM rules
         WHERE workspace_id = ?1 AND resource IN (SELECT value FROM json_each(?2))"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params![workspace_id, serde_json::to_string(&names)?], rule)?
        .collect::<Result<_, _>>()?)
}

/// The resources a start on `requested` claims, with their rules: the
/// `depends_on` closure, one lookup per level.
pub(super) fn closure(
    conn: &Connection,
    workspace_id: &str,
    requested: &[ResourceKey],
) -> StoreResult<Vec<Governs>> {
    let mut walk = Closure::new(requested);
    while !walk.is_done() {
        let found = of(conn, workspace_id, walk.frontier())?;
        walk.learn(found.iter().map(Governs::of).collect());
    }
    Ok(walk.into_reached())
}

/// The rules of `resources`, as a decision reads them.
pub(super) fn governing(
    conn: &Connection,
    workspace_id: &str,
    resources: &[ResourceKey],
) -> StoreResult<Vec<Governs>> {
    Ok(of(conn, workspace_id, resources)?
        .iter()
        .map(Governs::of)
        .collect())
}

fn insert(conn: &Connection, workspace_id: &str, rule: &Rule) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO rules (id, workspace_id, resource, depends_on, capacity, mode,
                            max_ttl_seconds, note, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            rule.rule_id,
            workspace_id,
            rule.resource,
            serde_json::to_string(&rule.depends_on)?,
            rule.capacity,
            rule.mode.map(Sql),
            rule.max_ttl_seconds,
            rule.note,
            rule.created_at.unix_millis(),
            rule.updated_at.unix_millis(),
        ],
    )?;
    Ok(())
}

pub(super) fn create(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    resource: &ResourceKey,
    settings: RuleSettings,
) -> StoreResult<Rule> {
    let existing = list(conn, &actor.workspace.id)?;
    let (rule, events) = rules::create(actor, resource, settings, &existing, now)?;
    insert(conn, &actor.workspace.id, &rule)?;
    record(conn, now, &events)?;
    Ok(rule)
}

fn find(conn: &Connection, workspace_id: &str, rule_id: &RuleId) -> StoreResult<Rule> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM rules WHERE workspace_id = ?1 AND id = ?2");
    let found = conn
        .prepare_cached(&sql)?
        .query_row(params![workspace_id, rule_id], rule)
        .optional()?;
    Ok(found.ok_or(Refusal::NotFound("rule"))?)
}

pub(super) fn update(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    rule_id: &RuleId,
    change: RuleChange,
) -> StoreResult<Rule> {
    let workspace_id = actor.workspace.id.as_str();
    let before = find(conn, workspace_id, rule_id)?;
    let existing = list(conn, workspace_id)?;
    let (rule, events) = rules::update(actor, &before, change, &existing, now)?;
    conn.execute("DELETE FROM rules WHERE id = ?1", [&rule.rule_id])?;
    insert(conn, workspace_id, &rule)?;
    record(conn, now, &events)?;
    Ok(rule)
}

pub(super) fn delete(
    conn: &Connection,
    now: Timestamp,
    actor: &SessionContext,
    rule_id: &RuleId,
) -> StoreResult<()> {
    let rule = find(conn, &actor.workspace.id, rule_id)?;
    conn.execute("DELETE FROM rules WHERE id = ?1", [&rule.rule_id])?;
    record(
        conn,
        now,
        &crate::domain::events::rule_deleted(actor, &rule),
    )
}
