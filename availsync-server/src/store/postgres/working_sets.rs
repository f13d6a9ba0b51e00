//! Working sets on PostgreSQL: the live claims a decision meets, the
//! patterns a grant writes and a claim's end forgets (migration 005). Every
//! caller holds the resource's lock, so the patterns read are the patterns
//! live.

use availsync_types::{Holder, PathPattern, Timestamp, WorkingSetMode};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::sql::{execute, get, rows, ts};
use crate::domain::working_sets::{self, Held, HeldRow, Want, below_upper_bound};
use crate::store::text_enum::TextEnum;
use crate::store::{StoreError, StoreResult, live_claim};

/// Live claims a decision reads per resource: the holder and the 50
/// overlaps an answer names.
pub(super) const HELD_LIMIT: usize = 51;

/// A live claim's holder, working-set mode and patterns (`$1` workspace,
/// `$2` resource, `$3` now); `$paths` is the column holding its patterns.
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
             WHERE c.workspace_id = $1 AND ",
            $resource,
            " = $2 AND ",
            live_claim!(postgres, "c.", "$3")
        )
    };
}

/// The live claims on `resource` that `want` may meet, the first `limit`
/// to lapse (see the SQLite store's `held`); `skip` leaves out a claim
/// changing its own paths.
pub(super) async fn held<C: GenericClient>(
    client: &C,
    now: Timestamp,
    workspace_id: &str,
    resource: &str,
    want: &Want,
    skip: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Held>> {
    let whole_only = matches!(want, Want::Paths(_));
    let at = now.unix_millis();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut found = Vec::new();
    for row in rows(
        client,
        concat!(
            "SELECT * FROM (",
            held_select!("c.ws_paths", "claims c"),
            " AND (NOT $4 OR c.ws_mode IS NULL) UNION ALL ",
            held_select!(
                "NULL::jsonb",
                "claim_parts p JOIN claims c ON c.run_seq = p.run_seq",
                "p.resource"
            ),
            ") AS held ORDER BY 5 LIMIT $5"
        ),
        &[&workspace_id, &resource, &at, &whole_only, &limit],
    )
    .await?
    {
        let paths = get::<Option<serde_json::Value>>(&row, 6)?
            .map(serde_json::from_value::<Vec<String>>)
            .transpose()?
            .unwrap_or_default();
        found.push(held_row(&row, paths)?);
    }
    if let Want::Paths(requested) = want {
        let candidates = working_sets::candidates(&requested.paths);
        let edit = requested.mode == WorkingSetMode::Edit;
        // Live patterns of the repository, `p.prefix` narrowed by `$range`.
        macro_rules! candidate_patterns {
            ($range:literal) => {
                concat!(
                    held_select!(
                        "p.pattern",
                        "claim_paths p JOIN claims c ON c.id = p.claim_id"
                    ),
                    " AND ($4 OR p.edit) AND p.workspace_id = $1 AND p.resource = $2",
                    $range
                )
            };
        }
        let base: [&(dyn ToSql + Sync); 4] = [&workspace_id, &resource, &at, &edit];
        let mut reads = vec![
            rows(
                client,
                candidate_patterns!(" AND p.prefix = ANY($5::text[])"),
                &[base.as_slice(), &[&candidates.exact]].concat(),
            )
            .await?,
        ];
        for root in &candidates.below {
            // Bounded on both ends, or not at all: a prepared statement's
            // generic plan bounds the index range only by plain
            // comparisons, not by `($6 IS NULL OR p.prefix < $6)`.
            reads.push(match below_upper_bound(root) {
                Some(upper) => {
                    rows(
                        client,
                        candidate_patterns!(" AND p.prefix >= $5 AND p.prefix < $6"),
                        &[base.as_slice(), &[root, &upper]].concat(),
                    )
                    .await?
                }
                None => rows(client, candidate_patterns!(""), &base).await?,
            });
        }
        for row in reads.iter().flatten() {
            found.push(held_row(row, vec![get(row, 6)?])?);
        }
    }
    Ok(working_sets::gather(found, skip))
}

fn held_row(row: &Row, paths: Vec<String>) -> StoreResult<HeldRow> {
    let mode = get::<Option<String>>(row, 5)?
        .map(|text| {
            WorkingSetMode::from_text(&text)
                .ok_or_else(|| StoreError::Backend(format!("unexpected working-set mode '{text}'")))
        })
        .transpose()?;
    Ok(HeldRow {
        claim_id: get(row, 0)?,
        holder: Holder {
            agent_id: get(row, 1)?,
            agent_name: get(row, 2)?,
            run_id: get(row, 3)?,
            expires_at: ts(row, 4)?,
        },
        mode,
        paths,
    })
}

/// Writes the patterns of claim `claim_id` for candidate lookups, in one
/// statement.
pub(super) async fn remember<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    resource: &str,
    claim_id: &str,
    mode: WorkingSetMode,
    paths: &[PathPattern],
) -> StoreResult<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let prefixes: Vec<String> = paths.iter().map(PathPattern::literal_prefix).collect();
    let patterns: Vec<&str> = paths.iter().map(PathPattern::as_str).collect();
    execute(
        client,
        "INSERT INTO claim_paths (claim_id, workspace_id, resource, prefix, pattern, edit)
         SELECT $1, $2, $3, prefix, pattern, $6
         FROM unnest($4::text[], $5::text[]) AS p (prefix, pattern)
         ON CONFLICT DO NOTHING",
        &[
            &claim_id,
            &workspace_id,
            &resource,
            &prefixes,
            &patterns,
            &(mode == WorkingSetMode::Edit),
        ],
    )
    .await?;
    Ok(())
}

/// Forgets the patterns of claim `claim_id` (`paths`, or all of them).
pub(super) async fn forget<C: GenericClient>(
    client: &C,
    claim_id: &str,
    paths: Option<&[PathPattern]>,
) -> StoreResult<()> {
    match paths {
        None => {
            execute(
                client,
                "DELETE FROM claim_paths WHERE claim_id = $1",
                &[&claim_id],
            )
            .await?;
        }
        Some([]) => {}
        Some(paths) => {
            let patterns: Vec<&str> = paths.iter().map(PathPattern::as_str).collect();
            execute(
                client,
                "DELETE FROM claim_paths WHERE claim_id = $1 AND pattern = ANY($2::text[])",
                &[&claim_id, &patterns],
            )
            .await?;
        }
    }
    Ok(())
}
