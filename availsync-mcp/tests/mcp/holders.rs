//! A SKIP says who holds the resource and how: another session of this same
//! agent, or a holder that keeps renewing its lease while it works.

use std::time::Duration;

use serde_json::json;

use crate::support::{Launch, World};

#[tokio::test]
async fn skip_names_another_session_of_the_same_agent_and_a_holder_that_keeps_renewing() {
    let world = World::new().await;
    let key = world.agent("alice-claude").await;
    let other_key = world.agent("ci-bot").await;
    let first = Launch::agent(&world.url(), &key).start().await;
    let second_window = Launch::agent(&world.url(), &key).start().await;
    let other = Launch::agent(&world.url(), &other_key).start().await;

    let claimed = first
        .call(
            "start_run",
            json!({"resource": "repo:acme/web", "ttl_seconds": 10}),
        )
        .await;
    assert_eq!(claimed.verdict(), "PROCEED", "{}", claimed.text);
    let run_id = claimed.str("/run_id");

    let mine = second_window
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(mine.verdict(), "SKIP", "{}", mine.text);
    assert!(
        mine.text.contains(&format!(
            "another session of your agent 'alice-claude' (run {run_id})"
        )),
        "{}",
        mine.text
    );
    assert_eq!(mine.structured["holder"]["same_agent"], json!(true));
    assert_eq!(mine.structured["holder"]["renewed"], json!(false));

    let theirs = other
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(theirs.verdict(), "SKIP", "{}", theirs.text);
    assert!(
        theirs.text.contains("agent 'alice-claude'") && !theirs.text.contains("your agent"),
        "{}",
        theirs.text
    );
    assert_eq!(theirs.structured["holder"]["same_agent"], json!(false));

    // The holder's process extends its 10 s lease about every 3.3 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let renewed = other
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(renewed.verdict(), "SKIP", "{}", renewed.text);
    assert!(
        renewed
            .text
            .contains("held while they work (lease renewed), currently until"),
        "{}",
        renewed.text
    );
    assert_eq!(renewed.structured["holder"]["renewed"], json!(true));
    let busy = other
        .call("check_availability", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(busy.verdict(), "BUSY", "{}", busy.text);
    assert!(busy.text.contains("lease renewed"), "{}", busy.text);

    first.close().await;
    second_window.close().await;
    other.close().await;
}
