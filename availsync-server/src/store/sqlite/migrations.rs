//! The schema, embedded in the binary and applied at start.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// Every migration, in order. Never edit a released one: add another.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/001_initial.sql")),
    M::up(include_str!("migrations/002_holds.sql")),
    M::up(include_str!("migrations/003_lean_hot_path.sql")),
    M::up(include_str!("migrations/004_runs_by_run_id.sql")).foreign_key_check(),
    M::up(include_str!("migrations/005_fencing_by_run.sql")),
    M::up(include_str!("migrations/006_login_failures_by_client.sql")),
    M::up(include_str!("migrations/007_health_probe.sql")),
    M::up(include_str!("migrations/008_working_sets.sql")),
    M::up(include_str!("migrations/009_rules_and_claim_parts.sql")),
    M::up(include_str!("migrations/010_waiters.sql")),
    M::up(include_str!("migrations/011_activity_by_id.sql")),
];

/// Brings the database's schema up to date.
///
/// Foreign keys are off while migrations run, as SQLite's procedure for
/// rebuilding a table that others reference requires; a migration that
/// rebuilds one checks them (`foreign_key_check`) before it commits.
pub(super) fn apply(conn: &mut Connection) -> Result<(), String> {
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(|e| e.to_string())?;
    let migrated = Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .map_err(|e| e.to_string());
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| e.to_string())?;
    migrated
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use rusqlite_migration::Migrations;

    /// A database with data at schema 2, then brought up to date: every row
    /// survives, new fencing tokens (run sequence numbers) stay above old
    /// ones, claims are still found by id and by run, and event sequences go
    /// on from where they were (even past pruned events).
    #[test]
    fn rebuilding_tables_keeps_rows_and_sequences() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        Migrations::from_slice(&super::MIGRATIONS[..2])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO workspaces (id, name, created_at) VALUES ('ws_1', 'w', 1);
             INSERT INTO agents (id, workspace_id, name, mode, key_hash, key_prefix, created_at)
                 VALUES ('agt_1', 'ws_1', 'a', 'enforce', x'01', 'p', 1);
             INSERT INTO resources VALUES ('ws_1', 'repo:a/b', 7, 1);
             INSERT INTO runs (workspace_id, agent_id, run_id, resource, mode, decision,
                               ttl_seconds, would_block, created_at)
                 VALUES ('ws_1', 'agt_1', 'run-1', 'repo:a/b', 'enforce', 'proceed', 60, 0, 1);
             INSERT INTO claims (id, workspace_id, resource, run_seq, agent_id, fencing_token,
                                 ttl_seconds, created_at, expires_at)
                 VALUES ('clm_1', 'ws_1', 'repo:a/b', 1, 'agt_1', 7, 60, 1, 60001);
             INSERT INTO activity (id, workspace_id, at, kind, detail)
                 VALUES ('evt_1', 'ws_1', 1, 'run_started', '{}'),
                        ('evt_2', 'ws_1', 2, 'run_finished', '{}');
             DELETE FROM activity WHERE id = 'evt_2';
             INSERT INTO audit (id, workspace_id, at, actor_type, action, detail)
                 VALUES ('evt_3', 'ws_1', 1, 'system', 'claim_expired', '{}');",
        )
        .unwrap();
        super::apply(&mut conn).unwrap();

        let claim: (String, i64) = conn
            .query_row(
                "SELECT id, fencing_token FROM claims WHERE run_seq = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(claim, ("clm_1".to_owned(), 7));
        let resources: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM resources WHERE resource = 'repo:a/b'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(resources, 1);
        let run: (i64, String) = conn
            .query_row(
                "SELECT seq, resource FROM runs WHERE agent_id = 'agt_1' AND run_id = 'run-1'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(run, (1, "repo:a/b".to_owned()));
        // Tokens are run sequence numbers from schema 5 on: the next run's
        // is above the resource's last token (7), not 2.
        conn.execute(
            "INSERT INTO runs (workspace_id, agent_id, run_id, resource, mode, decision,
                               ttl_seconds, would_block, created_at)
             VALUES ('ws_1', 'agt_1', 'run-2', 'repo:a/b', 'enforce', 'proceed', 60, 0, 2)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 8);
        conn.execute(
            "INSERT INTO activity (id, workspace_id, at, kind, detail)
             VALUES ('evt_4', 'ws_1', 3, 'run_started', '{}')",
            [],
        )
        .unwrap();
        let seqs: Vec<i64> = conn
            .prepare("SELECT seq FROM activity ORDER BY seq")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seqs, [1, 3], "the pruned event's seq was handed out again");
        let audit: i64 = conn
            .query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))
            .unwrap();
        assert_eq!(audit, 1);
        let fk_violations: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(fk_violations, 0);
    }

    #[test]
    fn migrations_are_valid() {
        assert!(
            rusqlite_migration::Migrations::from_slice(super::MIGRATIONS)
                .validate()
                .is_ok()
        );
    }
}
