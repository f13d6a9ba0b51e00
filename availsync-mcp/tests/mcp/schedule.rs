//! Availability, conflicts and holds through the MCP tools.

use availsync_sdk::Timestamp;
use serde_json::json;

use crate::support::{Launch, World};

const HOUR: i64 = 3_600_000;

/// Whole hours from a round hour tomorrow-ish, as RFC 3339.
fn at(base: Timestamp, hours: i64) -> String {
    base.add_millis(hours * HOUR).to_string()
}

#[tokio::test]
async fn holds_are_exclusive_per_window_and_availability_shows_busy_and_free_parts() {
    let world = World::new().await;
    let key_a = world.agent("claude-a").await;
    let key_b = world.agent("ci-bot").await;
    let a = Launch::agent(&world.url(), &key_a).start().await;
    let b = Launch::agent(&world.url(), &key_b).start().await;
    let now = Timestamp::now().unix_millis();
    let base = Timestamp::from_unix_millis((now / HOUR + 24) * HOUR);
    let calendar = "calendar:team-eng";

    let free = b
        .call(
            "check_conflicts",
            json!({"resource": calendar, "start": at(base, 1), "end": at(base, 2)}),
        )
        .await;
    assert_eq!(free.verdict(), "NO CONFLICT", "{}", free.text);
    assert_eq!(free.structured["conflict"], json!(false));

    let held = a
        .call(
            "create_hold",
            json!({"resource": calendar, "start": at(base, 1), "end": at(base, 2), "purpose": "release review"}),
        )
        .await;
    assert!(!held.is_error);
    assert_eq!(held.verdict(), "HELD", "{}", held.text);
    assert_eq!(held.structured["created"], json!(true));
    let hold_id = held.str("/hold/hold_id");
    assert!(held.text.contains(&hold_id) && held.text.contains("release_hold"));
    assert_eq!(held.str("/hold/holder/name"), "claude-a");

    let conflict = b
        .call(
            "check_conflicts",
            json!({"resource": calendar, "start": at(base, 0), "end": at(base, 3)}),
        )
        .await;
    assert_eq!(conflict.verdict(), "CONFLICT", "{}", conflict.text);
    assert!(conflict.text.contains("'claude-a'") && conflict.text.contains(&hold_id));
    assert_eq!(conflict.str("/conflicts/0/hold_id"), hold_id);

    let refused = b
        .call(
            "create_hold",
            json!({"resource": calendar, "start": at(base, 1), "end": at(base, 3)}),
        )
        .await;
    assert!(!refused.is_error, "a conflict is an answer, not an error");
    assert_eq!(refused.verdict(), "NOT HELD", "{}", refused.text);
    assert!(refused.text.contains("Do not book it"));
    assert_eq!(refused.structured["created"], json!(false));
    assert_eq!(refused.str("/conflicts/0/holder/name"), "claude-a");

    // Back to back does not conflict: [2, 3) after [1, 2).
    let next = b
        .call(
            "create_hold",
            json!({"resource": calendar, "start": at(base, 2), "end": at(base, 3), "ttl_seconds": 600}),
        )
        .await;
    assert_eq!(next.verdict(), "HELD", "{}", next.text);
    assert!(
        next.structured["hold"]["expires_at"].is_string(),
        "tentative"
    );

    let availability = b
        .call(
            "check_availability",
            json!({"resource": calendar, "from": at(base, 0), "to": at(base, 4)}),
        )
        .await;
    assert_eq!(
        availability.verdict(),
        "PARTLY FREE",
        "{}",
        availability.text
    );
    assert_eq!(availability.str("/kind"), "schedule");
    assert_eq!(availability.structured["busy"].as_array().unwrap().len(), 2);
    let free_windows = availability.structured["free"].as_array().unwrap();
    assert_eq!(free_windows.len(), 2);
    assert_eq!(free_windows[0]["end"], json!(at(base, 1)));
    assert_eq!(free_windows[1]["start"], json!(at(base, 3)));

    let forbidden = b.call("release_hold", json!({"hold_id": hold_id})).await;
    assert!(forbidden.is_error);
    assert_eq!(forbidden.verdict(), "FORBIDDEN", "{}", forbidden.text);

    let released = a.call("release_hold", json!({"hold_id": hold_id})).await;
    assert_eq!(released.verdict(), "RELEASED", "{}", released.text);
    let again = a.call("release_hold", json!({"hold_id": hold_id})).await;
    assert_eq!(again.verdict(), "RELEASED", "releasing twice is harmless");
    let unknown = a
        .call("release_hold", json!({"hold_id": "hold_doesnotexist"}))
        .await;
    assert_eq!(unknown.verdict(), "NOT FOUND", "{}", unknown.text);

    let now_free = b
        .call(
            "check_conflicts",
            json!({"resource": calendar, "start": at(base, 1), "end": at(base, 2)}),
        )
        .await;
    assert_eq!(now_free.verdict(), "NO CONFLICT", "{}", now_free.text);
    let window_free = b
        .call("check_availability", json!({"resource": "calendar:empty"}))
        .await;
    assert_eq!(window_free.verdict(), "FREE", "{}", window_free.text);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn check_availability_of_a_repo_says_whether_it_can_be_claimed_now() {
    let world = World::new().await;
    let key_a = world.agent("claude-a").await;
    let key_b = world.agent("ci-bot").await;
    let a = Launch::agent(&world.url(), &key_a).start().await;
    let b = Launch::agent(&world.url(), &key_b).start().await;

    let free = b
        .call("check_availability", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(free.verdict(), "AVAILABLE", "{}", free.text);
    assert_eq!(free.str("/kind"), "work");
    assert!(free.text.contains("start_run"));

    let claimed = a
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    let busy = b
        .call("check_availability", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(busy.verdict(), "BUSY", "{}", busy.text);
    assert_eq!(busy.str("/holder/run_id"), claimed.str("/run_id"));
    assert!(busy.text.contains("'claude-a'"));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn usage_reports_the_plan_its_limits_and_the_counts() {
    let world = World::new().await;
    let key = world.agent("claude-a").await;
    let mcp = Launch::agent(&world.url(), &key).start().await;
    let claimed = mcp
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(claimed.verdict(), "PROCEED");

    let usage = mcp.call("usage", json!({})).await;
    assert_eq!(usage.verdict(), "USAGE", "{}", usage.text);
    assert_eq!(usage.str("/plan"), "free");
    assert_eq!(usage.structured["limits"]["active_claims"], json!(3));
    assert_eq!(usage.structured["usage"]["active_claims"], json!(1));
    assert_eq!(usage.structured["counts"]["runs_started"], json!(1));
    assert!(
        usage.text.contains("1 of 3 active leases"),
        "{}",
        usage.text
    );

    let bad = mcp.call("usage", json!({"since": "yesterday"})).await;
    assert_eq!(bad.verdict(), "INVALID", "{}", bad.text);
    mcp.close().await;
}
