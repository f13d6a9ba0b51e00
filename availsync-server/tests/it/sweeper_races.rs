//! A lease that lapses while its run is finishing or a human releases it,
//! on PostgreSQL, where another replica's sweeper records the expiry
//! without taking the resource's lock. Whichever commits first decides:
//! the audit says the claim expired or that it was released, never both.
//!
//! The sweeper is played by a direct connection that records the expiry
//! and holds the claim's row until the finish or release is waiting on it.
//! Needs `AVAILSYNC_TEST_DATABASE_URL`; on the embedded SQLite store (one
//! writer, so no such race) it says so and checks nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::storage::Storage;
use crate::support::{Answer, Human, TestServer, run_id};

/// Runs `ending` (a finish or a release of `run`'s claim) while a sweeper
/// records the claim's expiry: the sweeper's write holds the row first and
/// commits once the lease has lapsed.
async fn race_the_sweeper(
    server: &TestServer,
    storage: &Storage,
    run: &Value,
    ending: impl Future<Output = Answer>,
) -> Answer {
    let sweeper = storage.connect().await;
    sweeper.batch_execute("BEGIN").await.unwrap();
    let recorded = sweeper
        .execute(
            "UPDATE claims SET expiry_recorded = true
             WHERE run_seq = (SELECT seq FROM runs WHERE run_id = $1)",
            &[&run_id(run)],
        )
        .await
        .unwrap();
    assert_eq!(recorded, 1);
    let sweeper_pid: i32 = sweeper
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let observer = storage.connect().await;
    let sweep = async {
        // Once the request has read the claim as live and waits on its row,
        // the lease lapses and the sweeper commits.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let waiting: i64 = observer
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                    &[&sweeper_pid],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the request never waited on the claim's row"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.clock.advance(Duration::from_secs(61));
        sweeper.batch_execute("COMMIT").await.unwrap();
    };
    let (answer, ()) = tokio::join!(ending, sweep);
    answer
}

async fn released_claims(human: &Human<'_>) -> usize {
    human
        .call(Method::GET, "/v1/audit?action=claim_released", None)
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

fn postgres_only() -> Option<Storage> {
    let storage = Storage::for_test();
    if storage.is_postgres() {
        return Some(storage);
    }
    eprintln!(
        "the sweeper races only on PostgreSQL: set {} to run this test",
        crate::storage::DATABASE_URL_ENV
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_that_loses_to_the_sweeper_releases_nothing() {
    let Some(storage) = postgres_only() else {
        return;
    };
    let server = TestServer::start_with(&storage).await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let run = agent
        .start(json!({"resource": "project:race", "ttl_seconds": 60}))
        .await;
    assert_eq!(run["decision"], "proceed", "{run}");

    let finished = race_the_sweeper(
        &server,
        &storage,
        &run,
        agent.finish(&run_id(&run), "succeeded"),
    )
    .await
    .expect(200);
    assert_eq!(finished["released"], false, "{finished}");
    assert_eq!(finished["status"], "finished");
    assert_eq!(released_claims(&human).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_release_that_loses_to_the_sweeper_releases_nothing() {
    let Some(storage) = postgres_only() else {
        return;
    };
    let server = TestServer::start_with(&storage).await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let run = agent
        .start(json!({"resource": "project:race", "ttl_seconds": 60}))
        .await;
    let claim_id = run["claim"]["claim_id"].as_str().unwrap().to_owned();

    let path = format!("/v1/work/claims/{claim_id}/release");
    let answer = race_the_sweeper(
        &server,
        &storage,
        &run,
        human.call(Method::POST, &path, None),
    )
    .await
    .expect(200);
    assert_eq!(answer["released"], false, "{answer}");
    assert_eq!(released_claims(&human).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extend_that_loses_to_the_sweeper_extends_nothing() {
    let Some(storage) = postgres_only() else {
        return;
    };
    let server = TestServer::start_with(&storage).await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let run = agent
        .start(json!({"resource": "project:race", "ttl_seconds": 60}))
        .await;
    assert_eq!(run["decision"], "proceed", "{run}");

    let lost = race_the_sweeper(&server, &storage, &run, agent.extend(&run_id(&run))).await;
    lost.expect_error(409, "lease_lost");
    let message = lost.body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("(expired at"), "{message}");
    let activity = human
        .call(Method::GET, "/v1/activity?limit=200", None)
        .await
        .expect(200);
    let kinds: Vec<&str> = activity["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|item| item["kind"].as_str())
        .collect();
    assert!(!kinds.contains(&"run_extended"), "{kinds:?}");
    assert!(kinds.contains(&"lease_lost"), "{kinds:?}");
}
