//! The process: configuration, failing closed, signals, and stdout kept
//! for the protocol.

use std::time::Duration;

use availsync_sdk::credentials::{self, Credentials};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use crate::support::{Launch, World, dead_url, eventually};

#[tokio::test]
async fn without_a_key_it_exits_non_zero_with_the_reason_on_stderr_and_nothing_on_stdout() {
    let exited = Launch::new().url(&dead_url()).run_to_exit().await;
    assert_eq!(exited.status.code(), Some(2), "{exited:?}");
    assert!(
        exited.stdout.is_empty(),
        "stdout is the protocol: {exited:?}"
    );
    assert!(
        exited.stderr.contains("no Availsync agent API key"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("AVAILSYNC_API_KEY"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("availsync-setup login"),
        "{}",
        exited.stderr
    );
}

#[tokio::test]
async fn a_broken_credentials_file_is_named_on_stderr_with_a_non_zero_exit() {
    let launch = Launch::new().with_credentials_file();
    std::fs::write(launch.credentials_path(), "url = \n").unwrap();
    let path = launch.credentials_path();
    let exited = launch.run_to_exit().await;
    assert_eq!(exited.status.code(), Some(2), "{exited:?}");
    assert!(
        exited.stderr.contains(&*path.to_string_lossy()),
        "{}",
        exited.stderr
    );
}

#[tokio::test]
async fn the_credentials_file_from_availsync_setup_login_supplies_url_and_key() {
    let world = World::new().await;
    let key = world.agent("from-file").await;
    let launch = Launch::new().with_credentials_file();
    credentials::save(
        &launch.credentials_path(),
        &Credentials {
            url: world.url(),
            api_key: key.clone(),
        },
    )
    .unwrap();
    let mut launch = launch;
    launch.key = Some(key); // checked absent from stderr on close
    let mcp = launch.start().await;
    let claimed = mcp
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert_eq!(claimed.verdict(), "PROCEED", "{}", claimed.text);
    let (status, _, stderr) = mcp.close().await;
    assert!(status.success());
    assert!(
        stderr.contains("credentials.toml"),
        "says where the key came from: {stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_server_gives_tool_errors_that_say_stop_and_the_process_keeps_running() {
    let url = dead_url();
    let mcp = Launch::agent(&url, "avs_live_not_a_real_key").start().await;
    let answer = mcp
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert!(answer.is_error, "{answer:?}");
    assert_eq!(answer.verdict(), "STOP", "{}", answer.text);
    assert!(answer.text.contains(&url), "{}", answer.text);
    assert!(answer.text.contains("tell the user"), "{}", answer.text);
    assert_eq!(answer.error["code"], "unreachable");
    assert_eq!(answer.error["retryable"], json!(true));

    for (tool, args) in [
        ("list_runs", json!({})),
        ("check_availability", json!({"resource": "repo:acme/web"})),
        (
            "create_hold",
            json!({"resource": "calendar:x", "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"}),
        ),
        ("usage", json!({})),
    ] {
        let answer = mcp.call(tool, args).await;
        assert!(answer.is_error, "{tool}");
        assert_eq!(answer.verdict(), "STOP", "{tool}: {}", answer.text);
    }
    let tools = mcp.client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 11, "still serving");
    let (status, _, _) = mcp.close().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_refused_key_tells_the_model_to_have_the_user_fix_the_key() {
    let world = World::new().await;
    let mcp = Launch::agent(&world.url(), "avs_live_wrongwrongwrongwrongwrongwrongwrong")
        .start()
        .await;
    let answer = mcp
        .call("start_run", json!({"resource": "repo:acme/web"}))
        .await;
    assert!(answer.is_error);
    assert_eq!(answer.verdict(), "STOP", "{}", answer.text);
    assert!(
        answer.text.contains("refused this agent's API key"),
        "{}",
        answer.text
    );
    assert_eq!(answer.error["code"], "unauthenticated");
    mcp.close().await;
}

#[tokio::test]
async fn sigterm_finishes_held_leases_as_cancelled_and_exits_cleanly() {
    let world = World::new().await;
    let key_a = world.agent("claude-a").await;
    let key_b = world.agent("ci-bot").await;
    let a = Launch::agent(&world.url(), &key_a).start().await;
    let b = Launch::agent(&world.url(), &key_b).start().await;
    for resource in ["repo:acme/one", "repo:acme/two"] {
        let claimed = a.call("start_run", json!({"resource": resource})).await;
        assert_eq!(claimed.verdict(), "PROCEED");
    }

    kill(
        Pid::from_raw(i32::try_from(a.pid()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let (status, stderr) = a.wait_exit().await;
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(stderr.contains("finished=2"), "{stderr}");
    for resource in ["repo:acme/one", "repo:acme/two"] {
        let freed = eventually(Duration::from_secs(1), || async {
            b.call("check_availability", json!({"resource": resource}))
                .await
                .structured["available"]
                == json!(true)
        })
        .await;
        assert!(freed.is_some(), "{resource} released on SIGTERM");
    }
    b.close().await;
}
