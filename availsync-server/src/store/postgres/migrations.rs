//! The schema, embedded in the binary and applied at start. Replicas that
//! start together take turns: the first applies, the others find it done.

use deadpool_postgres::Object;

/// Every migration, in order. Never edit a released one: add another.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/001_initial.sql")),
    (2, include_str!("migrations/002_live_claims_constraint.sql")),
    (
        3,
        include_str!("migrations/003_login_failures_by_client.sql"),
    ),
    (4, include_str!("migrations/004_health_probe.sql")),
    (5, include_str!("migrations/005_working_sets.sql")),
    (6, include_str!("migrations/006_rules_and_claim_parts.sql")),
    (7, include_str!("migrations/007_waiters.sql")),
    (8, include_str!("migrations/008_commit_ordered_feeds.sql")),
    (
        9,
        include_str!("migrations/009_claim_paths_deferred_check.sql"),
    ),
];

/// Any constant both replicas agree on; "avs-migr" in ASCII.
const MIGRATION_LOCK: i64 = 0x6176_732d_6d69_6772;

/// Brings the schema up to date.
pub(super) async fn apply(client: &mut Object) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     INTEGER PRIMARY KEY,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Option<i32> = tx
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await?
        .get(0);
    let applied = applied.unwrap_or(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_increase_from_one() {
        for (i, (version, _)) in super::MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i32::try_from(i).unwrap() + 1);
        }
    }
}
