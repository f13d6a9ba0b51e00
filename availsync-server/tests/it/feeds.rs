//! Activity and audit feeds, usage, and the background sweep.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Human, TestServer, run_id};

fn column<'a>(page: &'a Value, field: &str) -> Vec<&'a str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].as_str().unwrap_or(""))
        .collect()
}

async fn audit_actions(human: &Human<'_>) -> Vec<String> {
    let page = human
        .call(Method::GET, "/v1/audit?limit=200", None)
        .await
        .expect(200);
    let mut actions: Vec<String> = column(&page, "action")
        .into_iter()
        .map(str::to_owned)
        .collect();
    actions.reverse();
    actions
}

#[tokio::test]
async fn a_scripted_scenario_is_recorded_event_by_event() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let b = human.agent("claude").await;
    let o = human.agent_with_mode("watcher", "observe").await;

    let granted = a.start_on("repo:acme/web").await;
    assert_eq!(b.start_on("repo:acme/web").await["decision"], "skip_run");
    assert_eq!(o.start_on("repo:acme/web").await["would_block"], true);
    let window = json!({"resource": "calendar:eng", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z"});
    let held = a.post("/v1/holds", window.clone()).await.expect(201);
    b.post("/v1/holds", window)
        .await
        .expect_error(409, "hold_conflict");
    let hold_path = format!("/v1/holds/{}", held["hold"]["hold_id"].as_str().unwrap());
    server
        .call(Method::DELETE, &hold_path, &a.auth(), None)
        .await
        .expect(204);
    a.finish(&run_id(&granted), "succeeded").await.expect(200);
    human
        .call(
            Method::POST,
            &format!("/v1/agents/{}/rotate-key", b.id),
            None,
        )
        .await
        .expect(200);

    let activity = a.get("/v1/activity?limit=200").await.expect(200);
    let mut kinds = column(&activity, "kind");
    let mut agents = column(&activity, "agent_name");
    kinds.reverse();
    agents.reverse();
    assert_eq!(
        kinds,
        [
            "run_started",
            "run_skipped",
            "run_observed",
            "hold_created",
            "hold_rejected",
            "hold_released",
            "run_finished"
        ]
    );
    assert_eq!(
        agents,
        [
            "ci-bot", "claude", "watcher", "ci-bot", "claude", "ci-bot", "ci-bot"
        ]
    );
    let started = activity["items"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (started["decision"].as_str(), started["resource"].as_str()),
        (Some("proceed"), Some("repo:acme/web"))
    );
    assert_eq!(started["run_id"], granted["run_id"]);

    assert_eq!(
        audit_actions(&human).await,
        [
            "signup",
            "agent_created",
            "agent_created",
            "agent_created",
            "claim_created",
            "run_blocked",
            "observe_would_block",
            "hold_created",
            "hold_conflict",
            "hold_released",
            "claim_released",
            "agent_key_rotated",
        ]
    );
    let audit = human
        .call(Method::GET, "/v1/audit?limit=200", None)
        .await
        .expect(200);
    let newest = &audit["items"][0];
    assert_eq!(
        newest["actor"],
        json!({"type": "user", "id": human_id(&human).await, "name": human.email})
    );
    let claim_created = human
        .call(Method::GET, "/v1/audit?action=claim_created", None)
        .await
        .expect(200);
    assert_eq!(
        claim_created["items"][0]["actor"],
        json!({"type": "agent", "id": a.id, "name": "ci-bot"})
    );
    assert_eq!(claim_created["items"][0]["resource"], "repo:acme/web");

    let usage = a.post("/v1/activity/usage", json!({})).await.expect(200);
    assert_eq!(usage["plan"], "free");
    assert_eq!(usage["limits"], json!({"agents": 3, "active_claims": 3}));
    assert_eq!(
        usage["usage"],
        json!({"agents": 3, "active_claims": 0, "protected_resources": 1, "rules": 0})
    );
    assert_eq!(
        usage["counts"],
        json!({"runs_started": 1, "runs_observed": 1, "runs_skipped": 1, "would_have_blocked": 1, "holds_created": 1})
    );
    // A period before anything happened counts nothing.
    let before = a
        .post(
            "/v1/activity/usage",
            json!({"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}),
        )
        .await
        .expect(200);
    assert_eq!(before["counts"]["runs_started"], 0);
    assert_eq!(before["usage"]["protected_resources"], 1);
}

async fn human_id(human: &Human<'_>) -> String {
    let session = human
        .call(Method::GET, "/v1/session", None)
        .await
        .expect(200);
    session["user"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn feeds_filter_by_agent_resource_and_kind() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("a").await;
    let b = human.agent("b").await;
    a.start_on("repo:acme/web").await;
    b.start_on("repo:acme/api").await;
    b.start_on("repo:acme/web").await;
    let by_agent = a
        .get(&format!("/v1/activity?agent_id={}", b.id))
        .await
        .expect(200);
    assert_eq!(
        column(&by_agent, "agent_id"),
        [b.id.as_str(), b.id.as_str()]
    );
    let by_resource = a
        .get("/v1/activity?resource=repo:Acme/Web")
        .await
        .expect(200);
    assert_eq!(column(&by_resource, "kind"), ["run_skipped", "run_started"]);
    let by_kind = a.get("/v1/activity?kind=run_skipped").await.expect(200);
    assert_eq!(column(&by_kind, "agent_id"), [b.id.as_str()]);
    a.get("/v1/activity?kind=nonsense")
        .await
        .expect_error(400, "invalid_request");
    human
        .call(Method::GET, "/v1/audit?action=nonsense", None)
        .await
        .expect_error(400, "invalid_request");
    let by_actor = human
        .call(Method::GET, &format!("/v1/audit?actor_id={}", a.id), None)
        .await
        .expect(200);
    assert_eq!(column(&by_actor, "action"), ["claim_created"]);
    // Agents read activity but not audit.
    a.get("/v1/audit")
        .await
        .expect_error(403, "agent_key_not_allowed");
}

#[tokio::test]
async fn walking_pages_while_events_arrive_returns_each_old_event_once() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    server
        .set_plan(&human.workspace_id, availsync_types::Plan::Business)
        .await;
    let agent = human.agent("busy").await;
    for i in 0..40 {
        agent.start_on(&format!("project:p{i}")).await;
    }
    let before = agent.get("/v1/activity?limit=200").await.expect(200);
    let old: Vec<String> = column(&before, "id")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(old.len(), 40);

    let writer = {
        let agent = agent.clone();
        async move {
            for i in 0..40 {
                agent.start_on(&format!("project:new{i}")).await;
            }
        }
    };
    let reader = async {
        let mut seen = Vec::new();
        let first = agent.get("/v1/activity?limit=7").await.expect(200);
        seen.extend(column(&first, "id").into_iter().map(str::to_owned));
        let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = cursor {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let page = agent
                .get(&format!("/v1/activity?limit=7&cursor={c}"))
                .await
                .expect(200);
            seen.extend(column(&page, "id").into_iter().map(str::to_owned));
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        seen
    };
    let ((), seen) = tokio::join!(writer, reader);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an event was returned twice");
    for id in &old {
        assert!(unique.contains(id), "old event {id} was skipped");
    }
}

#[tokio::test]
async fn the_sweep_records_each_lapsed_claim_once_and_prunes_old_activity() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let lapsing = agent
        .start(json!({"resource": "repo:acme/web", "ttl_seconds": 10}))
        .await;
    let finished = agent.start_on("repo:acme/api").await;
    agent
        .finish(&run_id(&finished), "succeeded")
        .await
        .expect(200);
    server.clock.advance(Duration::from_secs(11));
    let retention = Duration::from_secs(30 * 24 * 3600);
    let sweep = || server.server.sweep(retention);
    assert_eq!(sweep().await.unwrap().claims_expired, 1);
    assert_eq!(sweep().await.unwrap().claims_expired, 0);
    let expired = human
        .call(Method::GET, "/v1/audit?action=claim_expired", None)
        .await
        .expect(200);
    assert_eq!(expired["items"].as_array().unwrap().len(), 1);
    assert_eq!(expired["items"][0]["detail"]["run_id"], lapsing["run_id"]);
    assert_eq!(expired["items"][0]["actor"]["type"], "system");

    // Activity past retention is pruned; audit is kept.
    server.clock.advance(Duration::from_secs(31 * 24 * 3600));
    let report = sweep().await.unwrap();
    assert!(report.activity_pruned >= 3, "{report:?}");
    let activity = agent.get("/v1/activity").await.expect(200);
    assert_eq!(activity["items"].as_array().unwrap().len(), 0);
    // The session lapsed meanwhile (7 days): log in again to read audit.
    let login = server
        .call(
            Method::POST,
            "/v1/auth/login",
            &crate::support::Auth::None,
            Some(json!({"email": human.email, "password": "correct horse battery"})),
        )
        .await;
    let cookie = crate::support::session_cookie(&login.headers).unwrap();
    let audit = server
        .call(
            Method::GET,
            "/v1/audit?action=claim_created",
            &crate::support::Auth::Cookie(cookie),
            None,
        )
        .await
        .expect(200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn usage_rejects_a_backwards_period() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let answer = agent
        .post(
            "/v1/activity/usage",
            json!({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}),
        )
        .await;
    answer.expect_error(400, "invalid_window");
    agent
        .post("/v1/activity/usage", json!({"since": "yesterday"}))
        .await
        .expect_error(400, "invalid_window");
}
