//! Conversions between SQLite values and domain values.

use crate::domain::ids::{AgentId, ClaimId, HoldId, RuleId, RunId, UserId, WorkspaceId};
use crate::store::text_enum::TextEnum;
use availsync_types::{Agent, Mode, Plan, Timestamp, User, Workspace};
use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Columns read by [`agent`], prefixed by `a.`.
pub(super) const AGENT_COLUMNS: &str =
    "a.id, a.name, a.mode, a.key_prefix, a.created_at, a.last_used_at";

/// Columns read by [`workspace`], prefixed by `w.`.
pub(super) const WORKSPACE_COLUMNS: &str = "w.id, w.name, w.plan, w.created_at";

/// Columns read by [`user`], prefixed by `u.`.
pub(super) const USER_COLUMNS: &str = "u.id, u.email, u.workspace_id, u.created_at";

pub(super) use crate::store::cursor::paginate;

pub(super) fn ts(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

pub(super) fn agent(row: &Row<'_>, at: usize) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        mode: row.get::<_, Sql<Mode>>(at + 2)?.0,
        key_prefix: row.get(at + 3)?,
        created_at: ts(row.get(at + 4)?),
        last_used_at: row.get::<_, Option<i64>>(at + 5)?.map(ts),
    })
}

pub(super) fn workspace(row: &Row<'_>, at: usize) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        plan: row.get::<_, Sql<Plan>>(at + 2)?.0,
        created_at: ts(row.get(at + 3)?),
    })
}

pub(super) fn user(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(at)?,
        email: row.get(at + 1)?,
        workspace_id: row.get(at + 2)?,
        created_at: ts(row.get(at + 3)?),
    })
}

/// A domain enum stored as its snake_case name.
pub(super) struct Sql<T>(pub T);

impl<T: TextEnum> FromSql for Sql<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        T::from_text(text)
            .map(Sql)
            .ok_or_else(|| FromSqlError::Other(format!("unexpected stored value '{text}'").into()))
    }
}

impl<T: TextEnum> ToSql for Sql<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0.to_text()))
    }
}

/// Ids bind and read as the text they are.
macro_rules! id_columns {
    ($($id:ty),*) => {$(
        impl ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $id {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(value).map(<$id>::new)
            }
        }
    )*};
}

id_columns!(WorkspaceId, UserId, AgentId, RunId, ClaimId, HoldId, RuleId);
