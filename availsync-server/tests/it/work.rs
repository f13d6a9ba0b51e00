//! Work claims: decisions, replays, leases, fencing, observe mode.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::{TestServer, run_id};

#[tokio::test]
async fn two_agents_racing_for_one_repo_exactly_one_proceeds() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let b = human.agent("claude").await;
    for round in 0..10 {
        let resource = format!("repo:acme/web{round}");
        let body = json!({"resource": resource});
        let (first, second) = tokio::join!(a.start(body.clone()), b.start(body.clone()));
        let decisions = [first["decision"].as_str(), second["decision"].as_str()];
        assert!(
            decisions == [Some("proceed"), Some("skip_run")]
                || decisions == [Some("skip_run"), Some("proceed")],
            "round {round}: {decisions:?}"
        );
        let (winner, loser, winner_agent) = if decisions[0] == Some("proceed") {
            (&first, &second, &a)
        } else {
            (&second, &first, &b)
        };
        assert!(winner["claim"]["fencing_token"].as_u64().is_some());
        assert!(loser["claim"].is_null());
        let holder = &loser["reason"]["holder"];
        assert_eq!(loser["reason"]["code"], "resource_claimed");
        assert_eq!(holder["agent_id"], winner_agent.id.as_str());
        assert_eq!(holder["agent_name"], winner_agent.name.as_str());
        assert_eq!(holder["run_id"], winner["run_id"]);
        assert_eq!(holder["expires_at"], winner["claim"]["expires_at"]);
        let retry = loser["retry_after"].as_u64().unwrap();
        assert!((299..=300).contains(&retry), "retry_after {retry}");
        winner_agent
            .finish(&run_id(winner), "succeeded")
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn a_second_run_of_the_same_agent_skips() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let first = agent.start_on("project:homepage").await;
    assert_eq!(first["decision"], "proceed");
    let second = agent.start_on("project:homepage").await;
    assert_eq!(second["decision"], "skip_run");
    assert_eq!(second["reason"]["holder"]["run_id"], first["run_id"]);
    assert_ne!(second["run_id"], first["run_id"]);
}

#[tokio::test]
async fn repo_keys_are_one_resource_whatever_their_case() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let first = agent.start_on("repo:Acme/Web").await;
    assert_eq!(first["claim"]["resource"], "repo:acme/web");
    let second = agent.start_on("repo:acme/WEB").await;
    assert_eq!(second["decision"], "skip_run");
}

#[tokio::test]
async fn a_replayed_run_id_returns_the_same_claim_and_never_a_second_one() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let other = human.agent("claude").await;
    let body = json!({"resource": "repo:acme/web", "run_id": "deploy-42", "ttl_seconds": 60});
    let first = agent.start(body.clone()).await;
    assert_eq!(
        (first["replayed"].as_bool(), first["run_id"].as_str()),
        (Some(false), Some("deploy-42"))
    );
    assert_eq!(first["status"], "active");
    let again = agent.start(body.clone()).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(again["decision"], "proceed");
    assert_eq!(again["claim"], first["claim"]);

    // Another agent may use the same run_id: run ids are per agent, and its
    // run is a new one, told to skip.
    let theirs = other.start(body.clone()).await;
    assert_eq!(
        (theirs["replayed"].as_bool(), theirs["decision"].as_str()),
        (Some(false), Some("skip_run"))
    );
    // A replayed skip stays a skip, even once the resource is free.
    agent.finish("deploy-42", "succeeded").await.expect(200);
    let replayed_skip = other.start(body.clone()).await;
    assert_eq!(
        (
            replayed_skip["replayed"].as_bool(),
            replayed_skip["decision"].as_str()
        ),
        (Some(true), Some("skip_run"))
    );

    // The same run_id for another resource is refused.
    agent
        .post(
            "/v1/work/run/start",
            json!({"resource": "repo:acme/api", "run_id": "deploy-42"}),
        )
        .await
        .expect_error(409, "run_id_reused");
}

#[tokio::test]
async fn an_idempotency_key_header_acts_as_run_id() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let send = || {
        server
            .http
            .post(format!("{}/v1/work/run/start", server.url))
            .bearer_auth(&agent.key)
            .header("idempotency-key", "gha-123-1")
            .json(&json!({"resource": "repo:acme/web"}))
    };
    let first = server.raw(send()).await.expect(200);
    let second = server.raw(send()).await.expect(200);
    assert_eq!(first["run_id"], "gha-123-1");
    assert_eq!(second["replayed"], true);
    assert_eq!(second["claim"]["claim_id"], first["claim"]["claim_id"]);
}

#[tokio::test]
async fn after_expiry_extend_is_lease_lost_and_another_agent_can_claim() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let b = human.agent("claude").await;
    let first = a
        .start(json!({"resource": "repo:acme/web", "ttl_seconds": 10}))
        .await;
    let extended = a.extend(&run_id(&first)).await.expect(200);
    assert_eq!(extended["claim"]["ttl_seconds"], 10);
    assert!(extended["claim"]["expires_at"].as_str() >= first["claim"]["expires_at"].as_str());

    server.clock.advance(Duration::from_secs(11));
    a.extend(&run_id(&first))
        .await
        .expect_error(409, "lease_lost");
    // Expired even though nobody took it: still lost.
    a.extend(&run_id(&first))
        .await
        .expect_error(409, "lease_lost");
    let second = b.start_on("repo:acme/web").await;
    assert_eq!(second["decision"], "proceed");
    assert!(second["claim"]["fencing_token"].as_u64() > first["claim"]["fencing_token"].as_u64());
    // Replaying the lapsed run says so: same decision, lease no longer live.
    let replay = a
        .start(json!({"resource": "repo:acme/web", "run_id": run_id(&first)}))
        .await;
    assert_eq!(
        (
            replay["replayed"].as_bool(),
            replay["decision"].as_str(),
            replay["status"].as_str()
        ),
        (Some(true), Some("proceed"), Some("expired"))
    );
    // Finishing the lapsed run is allowed and releases nothing.
    let finished = a.finish(&run_id(&first), "failed").await.expect(200);
    assert_eq!(finished["released"], false);
}

#[tokio::test]
async fn extend_takes_a_new_ttl_and_keeps_the_lease_alive_past_the_first_one() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let b = human.agent("claude").await;
    let first = a
        .start(json!({"resource": "repo:acme/web", "ttl_seconds": 10}))
        .await;
    for _ in 0..5 {
        server.clock.advance(Duration::from_secs(6));
        a.extend(&run_id(&first)).await.expect(200);
        assert_eq!(b.start_on("repo:acme/web").await["decision"], "skip_run");
    }
    let longer = a
        .post(
            "/v1/work/run/extend",
            json!({"run_id": run_id(&first), "ttl_seconds": 600}),
        )
        .await
        .expect(200);
    assert_eq!(longer["claim"]["ttl_seconds"], 600);
    a.post(
        "/v1/work/run/extend",
        json!({"run_id": run_id(&first), "ttl_seconds": 5}),
    )
    .await
    .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn fencing_tokens_strictly_increase_per_resource() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let mut last = 0;
    for i in 0..8 {
        let run = a.start_on("repo:acme/web").await;
        let token = run["claim"]["fencing_token"].as_u64().unwrap();
        assert!(token > last, "token {token} after {last}");
        last = token;
        if i % 2 == 0 {
            a.finish(&run_id(&run), "succeeded").await.expect(200);
        } else {
            server.clock.advance(Duration::from_secs(301));
        }
    }
    // Claims on another resource never move this one's tokens backwards.
    // (How tokens are numbered is the store's choice: the SQLite store
    // uses run sequence numbers, the PostgreSQL store a per-resource count.)
    let other = a.start_on("repo:acme/api").await;
    assert!(other["claim"]["fencing_token"].as_u64().unwrap() >= 1);
    a.finish(&run_id(&other), "succeeded").await.expect(200);
    let again = a.start_on("repo:acme/web").await;
    let token = again["claim"]["fencing_token"].as_u64().unwrap();
    assert!(token > last, "token {token} after {last}");
}

#[tokio::test]
async fn finish_releases_the_claim_and_is_idempotent() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let b = human.agent("claude").await;
    let run = a.start_on("repo:acme/web").await;
    let done = a.finish(&run_id(&run), "succeeded").await.expect(200);
    assert_eq!(
        (done["status"].as_str(), done["released"].as_bool()),
        (Some("finished"), Some(true))
    );
    let again = a.finish(&run_id(&run), "failed").await.expect(200);
    assert_eq!(
        (again["released"].as_bool(), again["outcome"].as_str()),
        (Some(true), Some("succeeded"))
    );
    a.extend(&run_id(&run))
        .await
        .expect_error(409, "lease_lost");
    assert_eq!(b.start_on("repo:acme/web").await["decision"], "proceed");
    a.finish("no-such-run", "succeeded")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn skipped_and_observe_runs_can_be_finished() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let b = human.agent("claude").await;
    a.start_on("repo:acme/web").await;
    let skipped = b.start_on("repo:acme/web").await;
    b.extend(&run_id(&skipped))
        .await
        .expect_error(409, "lease_lost");
    let done = b.finish(&run_id(&skipped), "cancelled").await.expect(200);
    assert_eq!(done["released"], false);
    let observed = b
        .start(json!({"resource": "repo:acme/web", "mode": "observe"}))
        .await;
    assert_eq!(
        b.finish(&run_id(&observed), "succeeded").await.expect(200)["released"],
        false
    );
}

#[tokio::test]
async fn observe_runs_never_block_never_claim_and_report_would_block() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let enforcer = human.agent("ci-bot").await;
    let observer = human.agent_with_mode("watcher", "observe").await;

    let free = observer.start_on("repo:acme/web").await;
    assert_eq!(
        (
            free["decision"].as_str(),
            free["mode"].as_str(),
            free["would_block"].as_bool()
        ),
        (Some("proceed"), Some("observe"), Some(false))
    );
    assert!(free["claim"].is_null());
    // The observe run took no lease: an enforcing agent still proceeds.
    let held = enforcer.start_on("repo:acme/web").await;
    assert_eq!(held["decision"], "proceed");

    let blocked = observer.start_on("repo:acme/web").await;
    assert_eq!(
        (
            blocked["decision"].as_str(),
            blocked["would_block"].as_bool()
        ),
        (Some("proceed"), Some(true))
    );
    assert_eq!(blocked["reason"]["code"], "resource_claimed");
    assert_eq!(blocked["reason"]["holder"]["run_id"], held["run_id"]);

    // Asking for enforce cannot turn an observe agent into an enforcing one.
    let asked = observer
        .start(json!({"resource": "repo:acme/api", "mode": "enforce"}))
        .await;
    assert_eq!(
        (asked["mode"].as_str(), asked["claim"].is_null()),
        (Some("observe"), true)
    );
    // An enforcing agent may ask for a dry run.
    let dry = enforcer
        .start(json!({"resource": "repo:acme/web", "mode": "observe"}))
        .await;
    assert_eq!(
        (dry["mode"].as_str(), dry["would_block"].as_bool()),
        (Some("observe"), Some(true))
    );
    // Extending an observe run answers a null claim.
    let extended = observer.extend(&run_id(&free)).await.expect(200);
    assert!(extended["claim"].is_null());
}

#[tokio::test]
async fn check_previews_without_changing_anything() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let a = human.agent("ci-bot").await;
    let free = a
        .post("/v1/work/check", json!({"resource": "repo:Acme/Web"}))
        .await
        .expect(200);
    assert_eq!(
        (free["available"].as_bool(), free["resource"].as_str()),
        (Some(true), Some("repo:acme/web"))
    );
    assert!(free["server_time"].is_string());
    let run = a.start_on("repo:acme/web").await;
    let held = a
        .post("/v1/work/check", json!({"resource": "repo:acme/web"}))
        .await
        .expect(200);
    assert_eq!(held["available"], false);
    assert_eq!(held["holder"]["run_id"], run["run_id"]);
    assert!(held["retry_after"].as_u64().is_some());
    // Humans may check too.
    let by_human = human
        .call(
            Method::POST,
            "/v1/work/check",
            Some(json!({"resource": "repo:acme/web"})),
        )
        .await
        .expect(200);
    assert_eq!(by_human["available"], false);
}

#[tokio::test]
async fn runs_are_listed_newest_first_with_filters_and_pages() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    server
        .set_plan(&human.workspace_id, availsync_types::Plan::Team)
        .await;
    let a = human.agent("ci-bot").await;
    let mut started = Vec::new();
    for i in 0..5 {
        started.push(a.start_on(&format!("project:p{i}")).await);
    }
    a.finish(&run_id(&started[0]), "succeeded")
        .await
        .expect(200);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/work/runs?limit=2&cursor={c}"),
            None => "/v1/work/runs?limit=2".to_owned(),
        };
        let page = a.get(&path).await.expect(200);
        for item in page["items"].as_array().unwrap() {
            seen.push(item["run_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = started.iter().rev().map(run_id).collect();
    assert_eq!(seen, expected);

    let active = a.get("/v1/work/runs?status=active").await.expect(200);
    assert_eq!(active["items"].as_array().unwrap().len(), 4);
    let one = a.get("/v1/work/runs?resource=project:p0").await.expect(200);
    assert_eq!(one["items"][0]["status"], "finished");
    assert_eq!(one["items"][0]["outcome"], "succeeded");
    // Humans read the same list.
    let by_human = human
        .call(Method::GET, "/v1/work/runs", None)
        .await
        .expect(200);
    assert_eq!(by_human["items"].as_array().unwrap().len(), 5);

    a.get("/v1/work/runs?limit=0")
        .await
        .expect_error(400, "invalid_request");
    a.get("/v1/work/runs?limit=201")
        .await
        .expect_error(400, "invalid_request");
    a.get("/v1/work/runs?status=done")
        .await
        .expect_error(400, "invalid_request");
    a.get("/v1/work/runs?cursor=bogus")
        .await
        .expect_error(400, "invalid_request");
    a.get("/v1/work/runs?resource=nope")
        .await
        .expect_error(400, "invalid_resource");
}

#[tokio::test]
async fn every_work_answer_carries_server_time_and_a_request_id() {
    let server = TestServer::start().await;
    let a = server.signup().await.agent("ci-bot").await;
    let answer = a
        .post("/v1/work/run/start", json!({"resource": "repo:acme/web"}))
        .await;
    assert!(
        answer
            .headers
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let body = answer.expect(200);
    let time = body["server_time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    let echoed = server
        .raw(
            server
                .http
                .get(format!("{}/health", server.url))
                .header("x-request-id", "trace-abc.1"),
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "trace-abc.1");
    let replaced = server
        .raw(
            server
                .http
                .get(format!("{}/health", server.url))
                .header("x-request-id", "bad id with spaces"),
        )
        .await;
    assert!(
        replaced.headers["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}

#[tokio::test]
async fn health_is_exactly_status_version_storage() {
    let server = TestServer::start().await;
    let body = server
        .call(Method::GET, "/health", &crate::support::Auth::None, None)
        .await
        .expect(200);
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "storage": "ok"})
    );
}
