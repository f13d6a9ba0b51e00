//! A human releases a run's claim: `POST /v1/work/claims/{claim_id}/release`.

use reqwest::Method;
use serde_json::Value;

use crate::support::{Human, TestServer, run_id};

fn claim_id(start: &Value) -> String {
    start["claim"]["claim_id"].as_str().unwrap().to_owned()
}

async fn release(human: &Human<'_>, claim_id: &str) -> crate::support::Answer {
    human
        .call(
            Method::POST,
            &format!("/v1/work/claims/{claim_id}/release"),
            None,
        )
        .await
}

#[tokio::test]
async fn a_human_release_ends_the_lease_and_frees_the_resource_at_once() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let holder = human.agent("ci-bot").await;
    let waiter = human.agent("claude").await;
    let run = holder.start_on("repo:acme/web").await;
    assert_eq!(
        waiter.start_on("repo:acme/web").await["decision"],
        "skip_run"
    );

    let answer = release(&human, &claim_id(&run)).await.expect(200);
    assert_eq!(answer["released"], true);
    assert_eq!(answer["status"], "released");
    assert_eq!(answer["run_id"], run["run_id"]);
    assert_eq!(answer["agent_name"], "ci-bot");
    assert_eq!(answer["resource"], "repo:acme/web");
    assert!(answer["server_time"].is_string());

    // The holder learns at its next extend; the other agent proceeds now.
    holder
        .extend(&run_id(&run))
        .await
        .expect_error(409, "lease_lost");
    assert_eq!(
        waiter.start_on("repo:acme/web").await["decision"],
        "proceed"
    );
    let runs = human
        .call(Method::GET, "/v1/work/runs?resource=repo:acme/web", None)
        .await
        .expect(200);
    let released = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == run["run_id"])
        .unwrap();
    assert_eq!(released["status"], "released");
    // Finishing it afterwards is still allowed and releases nothing.
    let done = holder.finish(&run_id(&run), "cancelled").await.expect(200);
    assert_eq!(done["released"], false);
}

#[tokio::test]
async fn releasing_again_is_idempotent_and_records_one_audit_event() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let run = agent.start_on("project:homepage").await;
    let claim = claim_id(&run);
    assert_eq!(release(&human, &claim).await.expect(200)["released"], true);
    let again = release(&human, &claim).await.expect(200);
    assert_eq!(
        (again["released"].as_bool(), again["status"].as_str()),
        (Some(false), Some("released"))
    );

    let audit = human
        .call(
            Method::GET,
            "/v1/audit?action=claim_released&resource=project:homepage",
            None,
        )
        .await
        .expect(200);
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit:#}");
    assert_eq!(items[0]["actor"]["type"], "user");
    assert_eq!(items[0]["actor"]["name"], human.email.as_str());
    assert_eq!(items[0]["detail"]["reason"], "released_by_user");
    assert_eq!(items[0]["detail"]["claim_id"], claim.as_str());
    assert_eq!(items[0]["detail"]["run_id"], run["run_id"]);

    let activity = human
        .call(Method::GET, "/v1/activity?kind=run_released", None)
        .await
        .expect(200);
    let items = activity["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{activity:#}");
    assert_eq!(items[0]["agent_id"], agent.id.as_str());
    assert_eq!(items[0]["run_id"], run["run_id"]);
    assert_eq!(items[0]["detail"]["released_by"]["type"], "user");
}

#[tokio::test]
async fn a_finished_or_expired_claim_is_not_released_again() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let finished = agent.start_on("repo:acme/api").await;
    agent
        .finish(&run_id(&finished), "succeeded")
        .await
        .expect(200);
    let answer = release(&human, &claim_id(&finished)).await.expect(200);
    assert_eq!(
        (answer["released"].as_bool(), answer["status"].as_str()),
        (Some(false), Some("finished"))
    );

    let expiring = agent
        .start(serde_json::json!({"resource": "repo:acme/docs", "ttl_seconds": 10}))
        .await;
    server.clock.advance(std::time::Duration::from_secs(11));
    let answer = release(&human, &claim_id(&expiring)).await.expect(200);
    assert_eq!(
        (answer["released"].as_bool(), answer["status"].as_str()),
        (Some(false), Some("expired"))
    );
    let audit = human
        .call(Method::GET, "/v1/audit?action=claim_released", None)
        .await
        .expect(200);
    // Only the finish recorded a release (by the agent).
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit:#}");
    assert_eq!(items[0]["actor"]["type"], "agent");
}

#[tokio::test]
async fn unknown_claims_and_other_workspaces_claims_are_not_found() {
    let server = TestServer::start().await;
    let a = server.signup().await;
    let b = server.signup().await;
    let agent = a.agent("ci-bot").await;
    let run = agent.start_on("repo:acme/web").await;
    release(&b, &claim_id(&run))
        .await
        .expect_error(404, "not_found");
    release(&a, "clm_00000000000000000000000000000000")
        .await
        .expect_error(404, "not_found");
    // The claim is untouched.
    agent.extend(&run_id(&run)).await.expect(200);
}

#[tokio::test]
async fn an_agent_key_may_not_release_claims() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let run = agent.start_on("repo:acme/web").await;
    agent
        .post(
            &format!("/v1/work/claims/{}/release", claim_id(&run)),
            serde_json::json!({}),
        )
        .await
        .expect_error(403, "agent_key_not_allowed");
    agent.extend(&run_id(&run)).await.expect(200);
}
