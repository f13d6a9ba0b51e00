//! A lease lost while the model works is news: the next answer of any tool
//! starts with LEASE LOST, once, and `finish_run` of that run is an error
//! saying so.

use std::time::Duration;

use availsync_sdk::{ResourceKey, RunsQuery};
use serde_json::json;

use crate::support::{Launch, World};

#[tokio::test]
async fn a_lease_released_by_a_person_is_news_in_the_next_answer_of_any_tool_and_finish_run_says_so()
 {
    let world = World::new().await;
    let key = world.agent("claude-a").await;
    let mcp = Launch::agent(&world.url(), &key).start().await;

    let claimed = mcp
        .call(
            "start_run",
            json!({"resource": "repo:acme/web", "ttl_seconds": 10}),
        )
        .await;
    assert_eq!(claimed.verdict(), "PROCEED", "{}", claimed.text);
    let run_id = claimed.str("/run_id");
    let claim_id = claimed.str("/lease/claim_id");
    world.admin.release_claim(&claim_id).await.unwrap();

    // The background extend (about every 3.3 s) hears lease_lost; the
    // first answer after that, of whatever tool, starts with the news.
    let mut told = None;
    for _ in 0..80 {
        let answer = mcp.call("usage", json!({})).await;
        assert_eq!(answer.verdict(), "USAGE", "{}", answer.text);
        if !answer.news().is_empty() {
            told = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let told = told.expect("LEASE LOST within 8 s of the release");
    assert_eq!(
        told.news(),
        [format!(
            "LEASE LOST: you no longer hold repo:acme/web (run {run_id}); stop editing it and tell the user. Why: the server ended it (it lapsed, or a person released it). Call start_run again before continuing."
        )]
    );
    let again = mcp.call("list_runs", json!({})).await;
    assert!(again.news().is_empty(), "told once: {}", again.text);

    let finished = mcp
        .call(
            "finish_run",
            json!({"run_id": run_id, "outcome": "succeeded"}),
        )
        .await;
    assert!(finished.is_error, "{}", finished.text);
    assert!(
        finished.text.starts_with(&format!(
            "LEASE LOST: run {run_id} lost its lease on repo:acme/web before finish_run"
        )),
        "{}",
        finished.text
    );
    assert_eq!(finished.error["code"], "lease_lost");
    // The outcome is recorded all the same.
    let runs = world
        .admin
        .runs_page(
            &RunsQuery {
                active_only: false,
                resource: Some("repo:acme/web".parse::<ResourceKey>().unwrap()),
                limit: Some(10),
            },
            None,
        )
        .await
        .unwrap();
    let run = runs.items.iter().find(|r| r.run_id == run_id).unwrap();
    assert_eq!(run.outcome.map(|o| o.as_str()), Some("succeeded"));
    mcp.close().await;
}

#[tokio::test]
async fn a_lease_lost_during_a_call_is_news_in_that_calls_own_answer() {
    let world = World::new().await;
    let key = world.agent("claude-a").await;
    let mcp = Launch::agent(&world.url(), &key).start().await;
    let first = mcp
        .call(
            "start_run",
            json!({"resource": "project:one", "ttl_seconds": 10}),
        )
        .await;
    let second = mcp
        .call(
            "start_run",
            json!({"resource": "project:two", "ttl_seconds": 10}),
        )
        .await;
    for answer in [&first, &second] {
        world
            .admin
            .release_claim(&answer.str("/lease/claim_id"))
            .await
            .unwrap();
    }
    // Both are reported, each once, in whichever answers come next.
    let mut news = Vec::new();
    for _ in 0..80 {
        let answer = mcp.call("list_runs", json!({"status": "all"})).await;
        news.extend(answer.news().into_iter().map(str::to_owned));
        if news.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(news.len(), 2, "{news:?}");
    assert!(news.iter().any(|l| l.contains("project:one")), "{news:?}");
    assert!(news.iter().any(|l| l.contains("project:two")), "{news:?}");
    mcp.close().await;
}
