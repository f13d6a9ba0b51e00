//! Agents and keys: shown once, hashed, rotated, deleted; workspace isolation.

use reqwest::Method;
use serde_json::json;

use crate::support::{Auth, TestServer, run_id};

#[tokio::test]
async fn the_key_is_shown_once_and_never_listed() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let created = human
        .call(Method::POST, "/v1/agents", Some(json!({"name": "ci-bot"})))
        .await;
    assert_eq!(created.headers["cache-control"], "no-store");
    let body = created.expect(201);
    let key = body["api_key"].as_str().unwrap();
    assert!(key.starts_with("avs_live_") && key.len() >= 9 + 43, "{key}");
    assert_eq!(body["agent"]["mode"], "enforce");
    assert!(key.starts_with(body["agent"]["key_prefix"].as_str().unwrap()));

    let list = human
        .call(Method::GET, "/v1/agents", None)
        .await
        .expect(200);
    let listed = serde_json::to_string(&list).unwrap();
    assert!(!listed.contains(key), "the key leaked into the list");
    assert_eq!(list["items"][0]["id"], body["agent"]["id"]);
    assert_eq!(list["items"][0]["last_used_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn rotation_kills_the_old_key_at_once() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    agent.get("/v1/work/runs").await.expect(200);
    let rotated = human
        .call(
            Method::POST,
            &format!("/v1/agents/{}/rotate-key", agent.id),
            None,
        )
        .await;
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let body = rotated.expect(200);
    let new_key = body["api_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, agent.key);
    agent
        .get("/v1/work/runs")
        .await
        .expect_error(401, "unauthenticated");
    server
        .call(Method::GET, "/v1/work/runs", &Auth::Key(new_key), None)
        .await
        .expect(200);
}

#[tokio::test]
async fn deleting_an_agent_refuses_its_key_and_releases_its_claims() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let doomed = human.agent("doomed").await;
    let other = human.agent("claude").await;
    doomed.start_on("repo:acme/web").await;
    assert_eq!(
        other.start_on("repo:acme/web").await["decision"],
        "skip_run"
    );
    human
        .call(Method::DELETE, &format!("/v1/agents/{}", doomed.id), None)
        .await
        .expect(204);
    doomed
        .get("/v1/work/runs")
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(other.start_on("repo:acme/web").await["decision"], "proceed");
    let list = human
        .call(Method::GET, "/v1/agents", None)
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    human
        .call(Method::DELETE, &format!("/v1/agents/{}", doomed.id), None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn patch_renames_and_changes_mode_which_applies_at_once() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let updated = human
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", agent.id),
            Some(json!({"name": "nightly", "mode": "observe"})),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            updated["agent"]["name"].as_str(),
            updated["agent"]["mode"].as_str()
        ),
        (Some("nightly"), Some("observe"))
    );
    let run = agent.start_on("repo:acme/web").await;
    assert_eq!(
        (run["mode"].as_str(), run["claim"].is_null()),
        (Some("observe"), true)
    );
    human
        .call(
            Method::PATCH,
            &format!("/v1/agents/{}", agent.id),
            Some(json!({"mode": "sometimes"})),
        )
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn an_agent_key_on_a_human_endpoint_is_refused() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let key = agent.auth();
    for (method, path) in [
        (Method::GET, "/v1/agents".to_owned()),
        (Method::POST, "/v1/agents".to_owned()),
        (Method::DELETE, format!("/v1/agents/{}", agent.id)),
        (Method::POST, format!("/v1/agents/{}/rotate-key", agent.id)),
        (Method::GET, "/v1/session".to_owned()),
        (Method::POST, "/v1/auth/logout".to_owned()),
    ] {
        let body = (method == Method::POST && path == "/v1/agents").then(|| json!({"name": "x"}));
        server
            .call(method.clone(), &path, &key, body)
            .await
            .expect_error(403, "agent_key_not_allowed");
    }
    // And a human cannot start runs.
    human
        .call(
            Method::POST,
            "/v1/work/run/start",
            Some(json!({"resource": "repo:acme/web"})),
        )
        .await
        .expect_error(403, "agent_key_required");
}

#[tokio::test]
async fn objects_of_another_workspace_are_not_found() {
    let server = TestServer::start().await;
    let alice = server.signup().await;
    let bob = server.signup().await;
    let alices_agent = alice.agent("ci-bot").await;
    let bobs_agent = bob.agent("ci-bot").await;
    let run = alices_agent.start_on("repo:acme/web").await;

    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/v1/agents/{}", alices_agent.id),
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            format!("/v1/agents/{}", alices_agent.id),
            None,
        ),
        (
            Method::POST,
            format!("/v1/agents/{}/rotate-key", alices_agent.id),
            None,
        ),
    ] {
        bob.call(method, &path, body)
            .await
            .expect_error(404, "not_found");
    }
    bobs_agent
        .extend(&run_id(&run))
        .await
        .expect_error(404, "not_found");
    bobs_agent
        .finish(&run_id(&run), "cancelled")
        .await
        .expect_error(404, "not_found");
    // Workspaces do not share resources: the same key is free in Bob's.
    assert_eq!(
        bobs_agent.start_on("repo:acme/web").await["decision"],
        "proceed"
    );
    let bobs_runs = bobs_agent.get("/v1/work/runs").await.expect(200);
    assert_eq!(bobs_runs["items"].as_array().unwrap().len(), 1);
    // Alice's agent still works: nothing of Bob's touched it.
    alices_agent.extend(&run_id(&run)).await.expect(200);
}

#[tokio::test]
async fn unknown_keys_and_missing_auth_are_unauthenticated() {
    let server = TestServer::start().await;
    for auth in [
        Auth::None,
        Auth::Key("avs_live_not-a-real-key".into()),
        Auth::Key("something-else".into()),
        Auth::Cookie("availsync_session=forged".into()),
    ] {
        server
            .call(Method::GET, "/v1/work/runs", &auth, None)
            .await
            .expect_error(401, "unauthenticated");
    }
}

#[tokio::test]
async fn agents_are_listed_newest_first_in_pages() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let first = human.agent("first").await;
    let second = human.agent("second").await;
    let third = human.agent("third").await;
    let page = human
        .call(Method::GET, "/v1/agents?limit=2", None)
        .await
        .expect(200);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [third.id.as_str(), second.id.as_str()]);
    assert!(page["server_time"].is_string());
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = human
        .call(
            Method::GET,
            &format!("/v1/agents?limit=2&cursor={cursor}"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(rest["items"][0]["id"], first.id.as_str());
    assert!(rest["next_cursor"].is_null());
    human
        .call(Method::GET, "/v1/agents?limit=500", None)
        .await
        .expect_error(400, "invalid_request");
}
