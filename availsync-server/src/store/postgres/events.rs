//! Writing activity and audit events, in the caller's transaction: alone,
//! or in one statement with the write they record.

use crate::store::StoreResult;
use std::sync::LazyLock;

use availsync_types::Timestamp;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::sql::{Params, execute, pipelined};
use crate::domain::ids::{IdKind, new_id};
use crate::store::StoreError;
use crate::store::event::{Activity, ActivityEvent, Audit, AuditEvent, Events as EventSet};

/// The activity table and its columns, in the order
/// [`ActivityValues::params`] gives them.
const ACTIVITY_COLUMNS: &str = "activity (id, workspace_id, at, agent_id, agent_name, kind, resource, decision, run_id, detail)";

/// The audit table and its columns, in the order [`AuditValues::params`]
/// gives them.
const AUDIT_COLUMNS: &str =
    "audit (id, workspace_id, at, actor_type, actor_id, actor_name, action, resource, detail)";

/// Columns of an activity event.
const ACTIVITY_PARAMS: usize = 10;
/// Columns of an audit event.
const AUDIT_PARAMS: usize = 9;

/// An activity event's column values.
struct ActivityValues<'a> {
    id: String,
    at: i64,
    event: ActivityEvent<'a>,
}

impl<'a> ActivityValues<'a> {
    fn new(at: Timestamp, event: ActivityEvent<'a>) -> Self {
        Self {
            id: new_id(IdKind::Event),
            at: at.unix_millis(),
            event,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); ACTIVITY_PARAMS] {
        let event = &self.event;
        [
            &self.id,
            &event.workspace_id,
            &self.at,
            &event.agent_id,
            &event.agent_name,
            &event.kind,
            &event.resource,
            &event.decision,
            &event.run_id,
            &event.detail,
        ]
    }
}

/// An audit event's column values.
struct AuditValues<'a> {
    id: String,
    at: i64,
    actor: (&'static str, Option<&'a str>, Option<&'a str>),
    event: AuditEvent<'a>,
}

impl<'a> AuditValues<'a> {
    fn new(at: Timestamp, event: AuditEvent<'a>) -> Self {
        Self {
            id: new_id(IdKind::Event),
            at: at.unix_millis(),
            actor: event.actor.columns(),
            event,
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); AUDIT_PARAMS] {
        let event = &self.event;
        [
            &self.id,
            &event.workspace_id,
            &self.at,
            &self.actor.0,
            &self.actor.1,
            &self.actor.2,
            &event.action,
            &event.resource,
            &event.detail,
        ]
    }
}

/// `$first, …, $(first + count - 1)`.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a use case's events, in one round trip.
pub(super) async fn record<C: GenericClient>(
    client: &C,
    at: Timestamp,
    events: &EventSet,
) -> StoreResult<()> {
    let activity = async {
        match &events.activity {
            Some(activity) => record_activity(client, at, activity).await,
            None => Ok(()),
        }
    };
    let audit = |n: usize| async move {
        match events.audits.get(n) {
            Some(audit) => record_audit(client, at, audit).await,
            None => Ok(()),
        }
    };
    pipelined!(
        activity = activity,
        first = audit(0),
        second = audit(1),
        third = audit(2),
    )?;
    for audit in events.audits.iter().skip(3) {
        record_audit(client, at, audit).await?;
    }
    Ok(())
}

async fn record_activity<C: GenericClient>(
    client: &C,
    at: Timestamp,
    event: &Activity,
) -> StoreResult<()> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO {ACTIVITY_COLUMNS} VALUES ({})",
            placeholders(1, ACTIVITY_PARAMS)
        )
    });
    let values = ActivityValues::new(at, event.into());
    execute(client, &SQL, &values.params()).await?;
    Ok(())
}

async fn record_audit<C: GenericClient>(
    client: &C,
    at: Timestamp,
    event: &Audit,
) -> StoreResult<()> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO {AUDIT_COLUMNS} VALUES ({})",
            placeholders(1, AUDIT_PARAMS)
        )
    });
    let values = AuditValues::new(at, event.into());
    execute(client, &SQL, &values.params()).await?;
    Ok(())
}

/// The events a write records with it, in [`WriteWithEvents`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Events {
    /// An activity event.
    Activity,
    /// An audit event.
    Audit,
    /// An activity event and an audit event.
    Both,
}

/// One statement that makes a write of at most one row (an `INSERT` or an
/// `UPDATE`) and records its events only if the write took place: one
/// round trip's work where the write and each event would be a statement
/// of their own, and never an event without its change. Keep it in a
/// static, so it is built once and prepared once per connection.
pub(super) struct WriteWithEvents {
    sql: String,
    write_params: usize,
    events: Events,
}

impl WriteWithEvents {
    /// `write`, without a `RETURNING` clause, has `write_params`
    /// parameters, `$1` to `$write_params`; the events' values follow.
    pub(super) fn new(write: &str, write_params: usize, events: Events) -> Self {
        let activity_first = write_params + 1;
        let audit_first = match events {
            Events::Both => activity_first + ACTIVITY_PARAMS,
            Events::Activity | Events::Audit => write_params + 1,
        };
        let written = format!("WITH written AS ({write} RETURNING 1)");
        let activity = format!(
            "INSERT INTO {ACTIVITY_COLUMNS} SELECT {} FROM written",
            placeholders(activity_first, ACTIVITY_PARAMS)
        );
        let audit = format!(
            "INSERT INTO {AUDIT_COLUMNS} SELECT {} FROM written",
            placeholders(audit_first, AUDIT_PARAMS)
        );
        let sql = match events {
            Events::Activity => format!("{written}\n{activity}"),
            Events::Audit => format!("{written}\n{audit}"),
            // A data-modifying CTE runs whether or not the statement reads
            // it.
            Events::Both => format!("{written}, activity_row AS ({activity})\n{audit}"),
        };
        Self {
            sql,
            write_params,
            events,
        }
    }

    /// Makes the write with `params` and records `activity` and `audit`
    /// (those its [`Events`] name) if it took place. Answers the rows
    /// written: 0 or 1.
    pub(super) async fn run<C: GenericClient>(
        &self,
        client: &C,
        params: Params<'_>,
        at: Timestamp,
        activity: Option<&Activity>,
        audit: Option<&Audit>,
    ) -> StoreResult<u64> {
        let wants_activity = matches!(self.events, Events::Activity | Events::Both);
        let wants_audit = matches!(self.events, Events::Audit | Events::Both);
        if params.len() != self.write_params
            || activity.is_some() != wants_activity
            || audit.is_some() != wants_audit
        {
            return Err(StoreError::Backend(format!(
                "a write with events got {} parameters and {}/{} events for {:?}",
                params.len(),
                u8::from(activity.is_some()),
                u8::from(audit.is_some()),
                self.events
            )));
        }
        let activity = activity.map(|event| ActivityValues::new(at, event.into()));
        let audit = audit.map(|event| AuditValues::new(at, event.into()));
        let mut all: Vec<&(dyn ToSql + Sync)> = params.to_vec();
        if let Some(values) = &activity {
            all.extend(values.params());
        }
        if let Some(values) = &audit {
            all.extend(values.params());
        }
        execute(client, &self.sql, &all).await
    }
}
