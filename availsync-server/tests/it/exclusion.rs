//! The PostgreSQL store's last line of defence: the database itself refuses
//! a second live claim on a resource, even from a write that bypasses the
//! resource locks, while claims that were released no longer take part.
//!
//! Needs `AVAILSYNC_TEST_DATABASE_URL`; on the embedded SQLite store it says
//! so and checks nothing. `.ci/run` runs it against PostgreSQL.

use serde_json::json;
use tokio_postgres::error::SqlState;

use crate::storage::Storage;
use crate::support::{TestServer, run_id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_a_second_live_claim_but_not_one_after_a_release() {
    let storage = Storage::for_test();
    if !storage.is_postgres() {
        eprintln!(
            "the exclusion constraint is PostgreSQL's: set {} to run this test",
            crate::storage::DATABASE_URL_ENV
        );
        return;
    }
    let server = TestServer::start_with(&storage).await;
    let human = server.signup().await;
    let agent = human.agent("builder").await;
    let first = agent
        .start(json!({"resource": "project:one", "ttl_seconds": 600}))
        .await;
    let second = agent
        .start(json!({"resource": "project:two", "ttl_seconds": 600}))
        .await;
    assert_eq!(first["decision"], "proceed", "{first}");
    assert_eq!(second["decision"], "proceed", "{second}");

    // A write that skips the locks and moves the second live claim onto
    // the first's resource, as a bug would.
    let db = storage.connect().await;
    let move_second = "UPDATE claims SET resource = 'project:one', fencing_token = 1000
         WHERE run_seq = (SELECT seq FROM runs WHERE run_id = $1)";
    let second_run = run_id(&second);
    let refused = db.execute(move_second, &[&second_run]).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&SqlState::EXCLUSION_VIOLATION),
        "{refused}"
    );

    // Once the first run has finished, its claim is out of the constraint:
    // the same write goes through.
    agent.finish(&run_id(&first), "succeeded").await.expect(200);
    assert_eq!(db.execute(move_second, &[&second_run]).await.unwrap(), 1);
}
