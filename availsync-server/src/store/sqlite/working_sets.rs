//! Working sets on SQLite: the live claims a decision meets, the patterns a
//! grant writes and a claim's end forgets (migration 008).

use availsync_types::{Holder, PathPattern, Timestamp, WorkingSetMode};
use rusqlite::{Connection, Row, params};

use super::rows::{self, Sql};
use crate::domain::working_sets::{self, Held, HeldRow, Want, below_upper_bound};
use crate::store::{StoreResult, live_claim};

/// Live claims a decision reads per resource: the holder and the 50
/// overlaps an answer names.
pub(super) const HELD_LIMIT: usize = 51;

/// A live claim's holder, working-set mode and patterns (`?1` workspace,
/// `?2` resource, `?3` now); `$paths` is the column holding its patterns.
macro_rules! held_select {
    ($paths:literal, $from:literal) => {
        held_select!($paths, $from, "c.resource")
    };
    ($paths:literal, $from:literal, $resource:literal) => {
        concat!(
            "SELECT c.id, c.agent_id, a.name, r.run_id, c.expires_at, c.ws_mode, ",
            $paths,
            " FROM ",
            $from,
            " JOIN agents a ON a.id = c.agent_id JOIN runs r ON r.seq = c.run_seq
             WHERE c.workspace_id = ?1 AND ",
            $resource,
            " = ?2 AND ",
            live_claim!(sqlite, "c.", "?3")
        )
    };
}

/// The live claims on `resource` that `want` may meet: for the whole
/// resource, every live claim (the `limit` that lapse first: the holder
/// and 50 overlaps are all an answer names, or every holder of a shared
/// resource), a claim holding it as one of several resources included;
/// for paths, the whole claims and every live pattern that may overlap one
/// of them. `skip` leaves out a claim changing its own paths.
pub(super) fn held(
    conn: &Connection,
    now: Timestamp,
    workspace_id: &str,
    resource: &str,
    want: &Want,
    skip: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Held>> {
    let whole_only = matches!(want, Want::Paths(_));
    let mut found: Vec<HeldRow> = conn
        .prepare_cached(concat!(
            "SELECT * FROM (",
            held_select!("c.ws_paths", "claims c"),
            " AND (?4 = 0 OR c.ws_mode IS NULL) UNION ALL ",
            held_select!(
                "NULL",
                "claim_parts p JOIN claims c ON c.run_seq = p.run_seq",
                "p.resource"
            ),
            ") ORDER BY 5 LIMIT ?5"
        ))?
        .query_map(
            params![
                workspace_id,
                resource,
                now.unix_millis(),
                whole_only,
                limit as i64
            ],
            |row| held_row(row, true),
        )?
        .collect::<Result<_, _>>()?;
    if let Want::Paths(requested) = want {
        let candidates = working_sets::candidates(&requested.paths);
        let edit = requested.mode == WorkingSetMode::Edit;
        let at = now.unix_millis();
        let exact = serde_json::to_string(&candidates.exact)?;
        // Live patterns of the repository, `p.prefix` narrowed by `$range`.
        macro_rules! candidate_patterns {
            ($range:literal) => {
                concat!(
                    held_select!(
                        "p.pattern",
                        "claim_paths p CROSS JOIN claims c ON c.id = p.claim_id"
                    ),
                    " AND (?4 OR p.edit) AND p.workspace_id = ?1 AND p.resource = ?2",
                    $range
                )
            };
        }
        let mut read = |sql: &str, range: &[&dyn rusqlite::ToSql]| -> StoreResult<()> {
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&workspace_id, &resource, &at, &edit];
            values.extend_from_slice(range);
            let mut statement = conn.prepare_cached(sql)?;
            let rows = statement.query_map(values.as_slice(), |row| held_row(row, false))?;
            found.extend(rows.collect::<Result<Vec<_>, _>>()?);
            Ok(())
        };
        read(
            candidate_patterns!(" AND p.prefix IN (SELECT value FROM json_each(?5))"),
            &[&exact],
        )?;
        for root in &candidates.below {
            // Bounded on both ends, or not at all: SQLite bounds an index
            // range only by plain comparisons, and `(?6 IS NULL OR p.prefix
            // < ?6)` would read every prefix after the root.
            match below_upper_bound(root) {
                Some(upper) => read(
                    candidate_patterns!(" AND p.prefix >= ?5 AND p.prefix < ?6"),
                    &[root, &upper],
                )?,
                None => read(candidate_patterns!(""), &[])?,
            }
        }
    }
    Ok(working_sets::gather(found, skip))
}

/// A row of [`held_select!`]; its last column is a JSON array of patterns
/// (`json`) or one pattern.
fn held_row(row: &Row<'_>, json: bool) -> rusqlite::Result<HeldRow> {
    let paths = match row.get::<_, Option<String>>(6)? {
        None => Vec::new(),
        Some(text) if json => serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, e.into())
        })?,
        Some(pattern) => vec![pattern],
    };
    Ok(HeldRow {
        claim_id: row.get(0)?,
        holder: Holder {
            agent_id: row.get(1)?,
            agent_name: row.get(2)?,
            run_id: row.get(3)?,
            expires_at: rows::ts(row.get(4)?),
        },
        mode: row.get::<_, Option<Sql<WorkingSetMode>>>(5)?.map(|m| m.0),
        paths,
    })
}

/// Writes the patterns of claim `claim_id` for candidate lookups.
pub(super) fn remember(
    conn: &Connection,
    workspace_id: &str,
    resource: &str,
    claim_id: &str,
    mode: WorkingSetMode,
    paths: &[PathPattern],
) -> StoreResult<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO claim_paths (claim_id, workspace_id, resource, prefix, pattern, edit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?;
    for path in paths {
        insert.execute(params![
            claim_id,
            workspace_id,
            resource,
            path.literal_prefix(),
            path.as_str(),
            mode == WorkingSetMode::Edit,
        ])?;
    }
    Ok(())
}

/// Forgets the patterns of claim `claim_id` (`paths`, or all of them).
pub(super) fn forget(
    conn: &Connection,
    claim_id: &str,
    paths: Option<&[PathPattern]>,
) -> StoreResult<()> {
    match paths {
        None => {
            conn.prepare_cached("DELETE FROM claim_paths WHERE claim_id = ?1")?
                .execute([claim_id])?;
        }
        Some(paths) => {
            let mut delete = conn
                .prepare_cached("DELETE FROM claim_paths WHERE claim_id = ?1 AND pattern = ?2")?;
            for path in paths {
                delete.execute([claim_id, path.as_str()])?;
            }
        }
    }
    Ok(())
}
