//! Plan limits, checked in the granting transaction.

use std::time::Duration;

use availsync_types::Plan;
use reqwest::Method;
use serde_json::json;

use crate::storage::Storage;
use crate::support::{TestServer, run_id};

#[tokio::test]
async fn the_fourth_agent_on_the_free_plan_is_refused_with_402() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    for i in 0..3 {
        human.agent(&format!("agent-{i}")).await;
    }
    human
        .call(Method::POST, "/v1/agents", Some(json!({"name": "fourth"})))
        .await
        .expect_error(402, "plan_limit_agents");
    // Deleting one frees a place.
    let list = human
        .call(Method::GET, "/v1/agents", None)
        .await
        .expect(200);
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    human
        .call(Method::DELETE, &format!("/v1/agents/{id}"), None)
        .await
        .expect(204);
    human.agent("fourth").await;
    // A bigger plan allows more.
    server.set_plan(&human.workspace_id, Plan::Team).await;
    human.agent("fifth").await;
}

#[tokio::test]
async fn the_fourth_concurrent_claim_on_free_is_skipped_with_plan_limit() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let mut runs = Vec::new();
    for (i, ttl) in [(0, 100), (1, 50), (2, 200)] {
        let run = agent
            .start(json!({"resource": format!("project:p{i}"), "ttl_seconds": ttl}))
            .await;
        assert_eq!(run["decision"], "proceed");
        runs.push(run);
    }
    let fourth = agent.start_on("project:p3").await;
    assert_eq!(fourth["decision"], "skip_run");
    assert_eq!(fourth["reason"]["code"], "plan_limit_active_claims");
    // retry_after points at the earliest lapse: the 50 s claim.
    assert_eq!(fourth["retry_after"], 50);

    // Observe runs count against nothing and are not blocked.
    let observed = agent
        .start(json!({"resource": "project:p3", "mode": "observe"}))
        .await;
    assert_eq!(
        (
            observed["decision"].as_str(),
            observed["would_block"].as_bool()
        ),
        (Some("proceed"), Some(true))
    );
    assert_eq!(observed["reason"]["code"], "plan_limit_active_claims");

    // An expired claim no longer counts.
    server.clock.advance(Duration::from_secs(51));
    assert_eq!(agent.start_on("project:p3").await["decision"], "proceed");
    // Nor does a finished one.
    agent
        .finish(&run_id(&runs[0]), "succeeded")
        .await
        .expect(200);
    assert_eq!(agent.start_on("project:p4").await["decision"], "proceed");
    assert_eq!(agent.start_on("project:p5").await["decision"], "skip_run");
}

/// `set-plan` runs in a process of its own, next to the running server;
/// the server's next start follows the new plan at once (its writer keeps
/// plans between starts, and must see that another process changed one).
#[tokio::test]
async fn a_plan_the_operator_changes_applies_to_the_next_start() {
    let storage = Storage::for_test();
    let server = TestServer::start_with(&storage).await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    for i in 0..3 {
        let run = agent.start_on(&format!("project:p{i}")).await;
        assert_eq!(run["decision"], "proceed");
    }
    let refused = agent.start_on("project:p3").await;
    assert_eq!(refused["reason"]["code"], "plan_limit_active_claims");

    let output = set_plan_command(
        &human.workspace_id,
        "team",
        storage.cli_args(server.data_dir()),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(agent.start_on("project:p4").await["decision"], "proceed");
}

#[tokio::test]
async fn concurrent_claims_never_exceed_the_plan_limit() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agents = [
        human.agent("a").await,
        human.agent("b").await,
        human.agent("c").await,
    ];
    let mut tasks = Vec::new();
    for i in 0..30 {
        let agent = agents[i % 3].clone();
        tasks.push(async move { agent.start_on(&format!("project:p{i}")).await });
    }
    let answers = futures::future::join_all(tasks).await;
    let granted = answers
        .iter()
        .filter(|a| a["decision"] == "proceed")
        .count();
    assert_eq!(granted, 3);
}

#[tokio::test]
async fn the_set_plan_command_changes_a_workspace_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = availsync_server::RunningServer::start(availsync_server::ServerConfig::ephemeral(
        dir.path(),
    ))
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let signup = http
        .post(format!("{}/v1/auth/signup", server.url()))
        .json(&json!({"email": "ops@example.com", "password": "correct horse battery", "workspace_name": "Ops Team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let data_dir = ["--data-dir".to_owned(), dir.path().display().to_string()];
    let output = set_plan_command("Ops Team", "business", data_dir.clone());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("business"));
    let bad = set_plan_command("No Such", "team", data_dir);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not found"));
    server.shutdown().await;
}

/// Runs the operator's `availsync-server set-plan` on the storage that
/// `storage_args` name.
fn set_plan_command(
    workspace: &str,
    plan: &str,
    storage_args: impl IntoIterator<Item = String>,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_availsync-server"))
        .args(["set-plan", "--workspace", workspace, "--plan", plan])
        .args(storage_args)
        .output()
        .unwrap()
}
