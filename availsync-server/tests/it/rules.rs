//! Rules (SPEC §11) and several resources in one claim (SPEC §12).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Agent, Human, TestServer, run_id};

async fn rule(human: &Human<'_>, body: Value) -> Value {
    human
        .call(Method::POST, "/v1/rules", Some(body))
        .await
        .expect(201)["rule"]
        .clone()
}

async fn start(agent: &Agent<'_>, body: Value) -> Value {
    agent.start(body).await
}

#[tokio::test]
async fn rules_are_written_by_humans_checked_for_cycles_and_read_by_agents() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("reader").await;
    let homepage = rule(
        &human,
        json!({"resource": "project:homepage", "depends_on": ["project:Catalog", "db:main"],
               "note": "the homepage reads the catalog"}),
    )
    .await;
    assert!(homepage["rule_id"].as_str().unwrap().starts_with("rul_"));
    assert_eq!(
        homepage["depends_on"],
        json!(["project:Catalog", "db:main"])
    );
    assert_eq!(
        (homepage["capacity"].as_u64(), homepage["mode"].is_null()),
        (Some(1), true)
    );
    rule(
        &human,
        json!({"resource": "project:catalog", "depends_on": ["db:main"]}),
    )
    .await;
    // A cycle is refused at write: db:main -> project:homepage -> db:main.
    let looped = human
        .call(
            Method::POST,
            "/v1/rules",
            Some(json!({"resource": "db:main", "depends_on": ["project:homepage"]})),
        )
        .await;
    looped.expect_error(400, "rule_cycle");
    assert!(
        looped.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("db:main")
    );
    // A second rule for one resource is refused.
    human
        .call(
            Method::POST,
            "/v1/rules",
            Some(json!({"resource": "project:homepage"})),
        )
        .await
        .expect_error(409, "rule_exists");
    let usage = agent
        .post("/v1/activity/usage", json!({}))
        .await
        .expect(200);
    assert_eq!(usage["usage"]["rules"], 2);
    // Agents read; they do not write.
    let listed = agent.get("/v1/rules").await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    agent
        .post("/v1/rules", json!({"resource": "project:x"}))
        .await
        .expect_error(403, "agent_key_not_allowed");
    // PATCH changes any field but the resource.
    let path = format!("/v1/rules/{}", homepage["rule_id"].as_str().unwrap());
    let patched = human
        .call(
            Method::PATCH,
            &path,
            Some(json!({"capacity": 2, "note": null})),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            patched["rule"]["capacity"].as_u64(),
            patched["rule"]["note"].is_null()
        ),
        (Some(2), true)
    );
    let renamed = human
        .call(
            Method::PATCH,
            &path,
            Some(json!({"resource": "project:other"})),
        )
        .await;
    renamed.expect_error(400, "invalid_request");
    assert_eq!(renamed.body["error"]["field"], "resource");
    // The audit log has every write.
    let audit = human
        .call(Method::GET, "/v1/audit?action=rule_updated", None)
        .await
        .expect(200);
    assert_eq!(audit["items"][0]["detail"]["capacity"]["to"], 2);
    human.call(Method::DELETE, &path, None).await.expect(204);
    human
        .call(Method::DELETE, &path, None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn claiming_a_resource_claims_its_dependencies_in_the_same_grant() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    rule(
        &human,
        json!({"resource": "project:homepage", "depends_on": ["project:catalog"]}),
    )
    .await;
    let run = start(&a, json!({"resource": "project:homepage"})).await;
    assert_eq!(run["decision"], "proceed");
    let resources = run["claim"]["resources"].as_array().unwrap();
    let names: Vec<&str> = resources
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["project:homepage", "project:catalog"]);
    // A run on the dependency skips, naming the run that holds it.
    let blocked = start(&b, json!({"resource": "project:catalog"})).await;
    assert_eq!(blocked["decision"], "skip_run");
    assert_eq!(blocked["reason"]["holder"]["run_id"], run["run_id"]);
    // Finishing frees both.
    a.finish(&run_id(&run), "succeeded").await.expect(200);
    let free = start(&b, json!({"resource": "project:catalog"})).await;
    assert_eq!(free["decision"], "proceed");
    // And a run on the dependent resource now skips for the dependency,
    // naming it in the conflicts.
    let held = start(&a, json!({"resource": "project:homepage"})).await;
    assert_eq!(held["decision"], "skip_run");
    assert_eq!(held["reason"]["code"], "resource_claimed");
    assert_eq!(held["reason"]["holder"]["run_id"], free["run_id"]);
    assert_eq!(
        held["reason"]["conflicts"],
        json!([{"resource": "project:catalog", "code": "resource_claimed",
                "holder": held["reason"]["holder"]}])
    );
}

#[tokio::test]
async fn a_capacity_admits_that_many_racing_starts_and_names_every_holder() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    server
        .set_plan(&human.workspace_id, availsync_types::Plan::Business)
        .await;
    rule(&human, json!({"resource": "pool:gpu", "capacity": 3})).await;
    let mut agents = Vec::new();
    for i in 0..10 {
        agents.push(human.agent(&format!("trainer-{i}")).await);
    }
    let answers = futures::future::join_all(
        agents
            .iter()
            .map(|agent| agent.start(json!({"resource": "pool:gpu"}))),
    )
    .await;
    let granted: Vec<&Value> = answers
        .iter()
        .filter(|a| a["decision"] == "proceed")
        .collect();
    assert_eq!(granted.len(), 3, "{answers:#?}");
    let skipped = answers
        .iter()
        .find(|a| a["decision"] == "skip_run")
        .unwrap();
    assert_eq!(skipped["reason"]["code"], "capacity_full");
    let holders: Vec<&Value> = skipped["reason"]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["run_id"])
        .collect();
    assert_eq!(holders.len(), 3);
    for grant in &granted {
        assert!(holders.contains(&&grant["run_id"]));
    }
    // Every grant takes the next token of the resource.
    let mut tokens: Vec<u64> = granted
        .iter()
        .map(|g| g["claim"]["fencing_token"].as_u64().unwrap())
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), 3);
}

#[tokio::test]
async fn a_rule_can_make_a_resource_observe_and_cap_the_lease() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    rule(
        &human,
        json!({"resource": "env:staging", "mode": "observe"}),
    )
    .await;
    rule(
        &human,
        json!({"resource": "project:short", "max_ttl_seconds": 30}),
    )
    .await;
    let first = start(&a, json!({"resource": "env:staging"})).await;
    assert_eq!(
        (first["mode"].as_str(), first["claim"].is_null()),
        (Some("observe"), true)
    );
    let whole = start(&b, json!({"resource": "project:short", "ttl_seconds": 600})).await;
    assert_eq!(whole["claim"]["ttl_seconds"], 30);
    let extended = b
        .post(
            "/v1/work/run/extend",
            json!({"run_id": run_id(&whole), "ttl_seconds": 900}),
        )
        .await
        .expect(200);
    assert_eq!(extended["claim"]["ttl_seconds"], 30);
    // A claim taken before the resource was set to observe: the next
    // enforcing run there is observed, and told it would have been blocked.
    let claimed = start(&b, json!({"resource": "project:watched"})).await;
    assert_eq!(claimed["decision"], "proceed");
    rule(
        &human,
        json!({"resource": "project:watched", "mode": "observe"}),
    )
    .await;
    let watched = start(&a, json!({"resource": "project:watched"})).await;
    assert_eq!(
        (
            watched["mode"].as_str(),
            watched["decision"].as_str(),
            watched["would_block"].as_bool()
        ),
        (Some("observe"), Some("proceed"), Some(true))
    );
    assert_eq!(watched["reason"]["holder"]["run_id"], claimed["run_id"]);
}

#[tokio::test]
async fn several_resources_are_claimed_all_or_nothing() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    let body = json!({"resources": ["project:web", "db:main", "env:staging"]});
    let all = start(&a, body.clone()).await;
    assert_eq!(all["decision"], "proceed");
    assert_eq!(all["claim"]["resource"], "project:web");
    let parts = all["claim"]["resources"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(all["claim"]["fencing_token"], parts[0]["fencing_token"]);
    // Each resource is held: a run on any one of them skips.
    let db = start(&b, json!({"resource": "db:main"})).await;
    assert_eq!(db["reason"]["holder"]["run_id"], all["run_id"]);
    a.finish(&run_id(&all), "succeeded").await.expect(200);
    // One blocked resource: nothing is granted, and it is named.
    let env = start(&b, json!({"resource": "env:staging"})).await;
    assert_eq!(env["decision"], "proceed");
    let none = start(&a, body).await;
    assert_eq!(none["decision"], "skip_run");
    assert_eq!(none["claim"], Value::Null);
    assert_eq!(
        none["reason"]["conflicts"],
        json!([{"resource": "env:staging", "code": "resource_claimed",
                "holder": none["reason"]["holder"]}])
    );
    // No partial lease was left behind: the free ones are still free.
    let web = start(&b, json!({"resource": "project:web"})).await;
    assert_eq!(web["decision"], "proceed");
    // It counts once against the plan (free: 3 live claims): two held now.
    let two = start(&a, json!({"resources": ["project:x", "project:y"]})).await;
    assert_eq!(two["decision"], "proceed");
    let fourth = start(&a, json!({"resource": "project:z"})).await;
    assert_eq!(fourth["reason"]["code"], "plan_limit_active_claims");
}

#[tokio::test]
async fn a_working_set_is_refused_on_a_shared_repository() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("a").await;
    rule(&human, json!({"resource": "repo:acme/mono", "capacity": 2})).await;
    let answer = agent
        .post(
            "/v1/work/run/start",
            json!({"resource": "repo:acme/mono", "working_set": {"paths": ["a.rs"]}}),
        )
        .await;
    answer.expect_error(400, "invalid_working_set");
    assert_eq!(answer.body["error"]["field"], "working_set");
}
