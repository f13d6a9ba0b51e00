//! A server that does not answer costs a tool call at most the call
//! deadline, and a start whose answer never arrived leaves no claim behind.

use std::time::{Duration, Instant};

use availsync_chaos::proxy::{Fault, FaultProxy, FaultSettings};
use availsync_sdk::types::RunStatus;
use availsync_sdk::{ResourceKey, RunsQuery};
use serde_json::json;

use crate::support::{Launch, World, eventually};

const NO_FAULTS: FaultSettings = FaultSettings {
    rate: 0.0,
    max_latency: Duration::from_millis(1),
    max_stall: Duration::from_millis(1),
};

#[tokio::test]
async fn a_start_whose_answer_never_arrived_is_finished_as_cancelled_once_the_server_answers() {
    let world = World::new().await;
    let key = world.agent("claude-a").await;
    let upstream = world.url().trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(upstream, NO_FAULTS, 7).await.unwrap();
    let mcp = Launch::agent(&format!("http://{}", proxy.addr()), &key)
        .arg("--call-timeout")
        .arg("2s")
        .start()
        .await;
    assert_eq!(mcp.call("usage", json!({})).await.verdict(), "USAGE");

    // The start's request reaches the server 6 s late: long after the
    // tool's 2 s deadline.
    proxy.force_next(
        1,
        Fault::Stall {
            after_bytes: 0,
            pause: Duration::from_secs(6),
        },
    );
    let asked = Instant::now();
    let stop = mcp
        .call("start_run", json!({"resource": "repo:acme/slow"}))
        .await;
    let took = asked.elapsed();
    assert!(stop.is_error, "{}", stop.text);
    assert_eq!(stop.verdict(), "STOP", "{}", stop.text);
    assert!(
        stop.text.contains("did not answer within 2s"),
        "{}",
        stop.text
    );
    assert_eq!(stop.error["code"], "timeout");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    let run_id = stop
        .text
        .split("run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the STOP names the run")
        .to_owned();

    // Once the server answers, the run exists exactly once, finished as
    // cancelled, and holds nothing.
    let query = RunsQuery {
        active_only: false,
        resource: Some("repo:acme/slow".parse::<ResourceKey>().unwrap()),
        limit: Some(50),
    };
    let settled = eventually(Duration::from_secs(20), || async {
        let runs = world.admin.runs_page(&query, None).await.unwrap();
        runs.items
            .iter()
            .any(|r| r.run_id == run_id && r.status == RunStatus::Finished)
    })
    .await;
    assert!(settled.is_some(), "run {run_id} was not finished");
    // The late original arrives after the settling: a replay, no claim.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let runs = world.admin.runs_page(&query, None).await.unwrap();
    let copies: Vec<_> = runs.items.iter().filter(|r| r.run_id == run_id).collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0].outcome.map(|o| o.as_str()), Some("cancelled"));
    let usage = world.admin.usage(None, None).await.unwrap();
    assert_eq!(usage.usage.active_claims, 0);

    // The resource is free for the next start.
    let next = mcp
        .call("start_run", json!({"resource": "repo:acme/slow"}))
        .await;
    assert_eq!(next.verdict(), "PROCEED", "{}", next.text);
    mcp.close().await;
}
