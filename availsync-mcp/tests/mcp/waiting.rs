//! `start_run` with `wait_seconds` (SPEC §13) against the real server: a
//! wait granted when the holder finishes, a wait that runs out, and a wait
//! shortened to fit the tool call's deadline.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Launch, World};

#[tokio::test]
async fn wait_seconds_is_a_plain_integer_from_0_to_60() {
    let world = World::new().await;
    let key = world.agent("lister").await;
    let mcp = Launch::agent(&world.url(), &key).start().await;
    let tools = mcp.client.list_all_tools().await.unwrap();
    let start = tools.iter().find(|t| t.name == "start_run").unwrap();
    let wait = &start.input_schema["properties"]["wait_seconds"];
    assert_eq!(
        (
            wait["type"].clone(),
            wait["minimum"].clone(),
            wait["maximum"].clone()
        ),
        (json!("integer"), json!(0), json!(60))
    );
    assert!(wait.get("format").is_none(), "{wait}");
    let description = start.description.as_deref().unwrap_or_default();
    assert!(description.contains("wait_seconds"), "{description}");

    let too_long = mcp
        .call(
            "start_run",
            json!({"resource": "repo:w/x", "wait_seconds": 61}),
        )
        .await;
    assert!(too_long.is_error, "{too_long:?}");
    assert_eq!(too_long.verdict(), "INVALID", "{}", too_long.text);
    assert!(too_long.text.contains("wait_seconds"), "{}", too_long.text);
    mcp.close().await;
}

#[tokio::test]
async fn a_wait_is_granted_when_the_holder_finishes_and_says_how_long_it_waited() {
    let world = World::new().await;
    let (a, b) = (world.agent("claude-a").await, world.agent("claude-b").await);
    let first = Launch::agent(&world.url(), &a).start().await;
    let second = Launch::agent(&world.url(), &b).start().await;
    let repo = "repo:wait/granted";

    let held = first.call("start_run", json!({"resource": repo})).await;
    assert_eq!(held.verdict(), "PROCEED", "{}", held.text);
    let run_id = held.str("/run_id");

    let asked = Instant::now();
    let (waited, _) = tokio::join!(
        second.call("start_run", json!({"resource": repo, "wait_seconds": 8})),
        async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let done = first
                .call(
                    "finish_run",
                    json!({"run_id": run_id, "outcome": "succeeded"}),
                )
                .await;
            assert_eq!(done.verdict(), "FINISHED", "{}", done.text);
        }
    );
    let took = asked.elapsed();
    assert_eq!(waited.verdict(), "PROCEED", "{}", waited.text);
    let ms = waited.structured["waited_ms"].as_u64().unwrap_or_else(|| {
        panic!("waited_ms in {}", waited.structured);
    });
    assert!(
        (1000..=u64::try_from(took.as_millis()).unwrap()).contains(&ms),
        "waited {ms} ms of {took:?}"
    );
    assert_eq!(waited.structured["wait_seconds"], json!(8));
    assert_eq!(waited.structured["wait_shortened_from"], Value::Null);
    assert!(
        waited
            .line()
            .starts_with(&format!("PROCEED: waited {}", seconds_text(ms))),
        "{}",
        waited.text
    );
    assert!(
        waited.line().contains(&format!("for {repo}; you hold")),
        "{}",
        waited.text
    );
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn a_wait_that_runs_out_is_a_skip_naming_who_still_holds_it() {
    let world = World::new().await;
    let (a, b) = (world.agent("claude-a").await, world.agent("ci-bot").await);
    let first = Launch::agent(&world.url(), &b).start().await;
    let second = Launch::agent(&world.url(), &a).start().await;
    let repo = "repo:wait/timeout";
    let held = first.call("start_run", json!({"resource": repo})).await;
    assert_eq!(held.verdict(), "PROCEED", "{}", held.text);

    let asked = Instant::now();
    let skipped = second
        .call("start_run", json!({"resource": repo, "wait_seconds": 3}))
        .await;
    assert!(
        asked.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(skipped.verdict(), "SKIP", "{}", skipped.text);
    let ms = skipped.structured["waited_ms"].as_u64().unwrap_or_else(|| {
        panic!("waited_ms in {}", skipped.structured);
    });
    assert!((2900..=4500).contains(&ms), "waited {ms} ms");
    assert!(
        skipped.line().starts_with(&format!(
            "SKIP: waited {}; {repo} is still being worked on by agent 'ci-bot'",
            seconds_text(ms)
        )),
        "{}",
        skipped.text
    );
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn a_wait_longer_than_the_call_deadline_is_shortened_and_says_so() {
    let world = World::new().await;
    let (a, b) = (world.agent("claude-a").await, world.agent("ci-bot").await);
    let first = Launch::agent(&world.url(), &b).start().await;
    let second = Launch::agent(&world.url(), &a)
        .arg("--call-timeout")
        .arg("5s")
        .start()
        .await;
    let repo = "repo:wait/short";
    let held = first.call("start_run", json!({"resource": repo})).await;
    assert_eq!(held.verdict(), "PROCEED", "{}", held.text);

    let asked = Instant::now();
    let skipped = second
        .call("start_run", json!({"resource": repo, "wait_seconds": 30}))
        .await;
    let took = asked.elapsed();
    assert_eq!(skipped.verdict(), "SKIP", "{}", skipped.text);
    assert!(
        took < Duration::from_secs(7),
        "answered within the deadline: {took:?}"
    );
    // 5 s less the 2 s kept for the answer.
    assert_eq!(skipped.structured["wait_seconds"], json!(3));
    assert_eq!(skipped.structured["wait_shortened_from"], json!(30));
    let ms = skipped.structured["waited_ms"].as_u64().unwrap_or_else(|| {
        panic!("waited_ms in {}", skipped.structured);
    });
    assert!(ms >= 2900, "waited {ms} ms");
    assert!(
        skipped
            .line()
            .contains("The wait was shortened from 30 s to 3 s"),
        "{}",
        skipped.text
    );
    first.close().await;
    second.close().await;
}

/// The text's rendering of a wait: tenths of a second, `.0` dropped.
fn seconds_text(ms: u64) -> String {
    let tenths = (ms + 50) / 100;
    match tenths % 10 {
        0 => format!("{} s", tenths / 10),
        tenth => format!("{}.{tenth} s", tenths / 10),
    }
}
