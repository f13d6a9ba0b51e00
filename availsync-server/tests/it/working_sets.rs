//! Working sets (SPEC §10): agents sharing a repository by paths.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Agent, TestServer, run_id};

fn set(paths: &[&str]) -> Value {
    json!({"paths": paths})
}

async fn start_paths(agent: &Agent<'_>, paths: &[&str]) -> Value {
    agent
        .start(json!({"resource": "repo:acme/web", "working_set": set(paths)}))
        .await
}

async fn change(agent: &Agent<'_>, body: Value) -> crate::support::Answer {
    agent.post("/v1/work/run/working-set", body).await
}

#[tokio::test]
async fn disjoint_working_sets_both_proceed_and_overlapping_edits_skip_naming_both_sides() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b, c) = (
        human.agent("api-bot").await,
        human.agent("db-bot").await,
        human.agent("late").await,
    );
    let api = start_paths(&a, &["./src/api/", "README.md"]).await;
    assert_eq!(api["decision"], "proceed");
    assert_eq!(
        api["claim"]["working_set"],
        json!({"paths": ["src/api/**", "README.md"], "mode": "edit"})
    );
    let db = start_paths(&b, &["src/db/**"]).await;
    assert_eq!(db["decision"], "proceed");
    let late = start_paths(&c, &["src/db/schema.rs", "docs/x.md"]).await;
    assert_eq!(late["decision"], "skip_run");
    let reason = &late["reason"];
    assert_eq!(reason["code"], "paths_claimed");
    assert_eq!(reason["holder"]["run_id"], db["run_id"]);
    assert_eq!(
        reason["conflicts"],
        json!([{
            "path": "src/db/schema.rs",
            "holder": reason["holder"],
            "held_paths": ["src/db/**"],
        }])
    );
    let retry = late["retry_after"].as_u64().unwrap();
    assert!((299..=300).contains(&retry), "retry_after {retry}");
    // Fencing tokens stay per repository: every grant takes the next.
    let (first, second) = (
        api["claim"]["fencing_token"].as_u64().unwrap(),
        db["claim"]["fencing_token"].as_u64().unwrap(),
    );
    assert!(second > first);
    b.finish(&run_id(&db), "succeeded").await.expect(200);
    let retried = start_paths(&c, &["src/db/schema.rs", "docs/x.md"]).await;
    assert_eq!(retried["decision"], "proceed");
    assert!(retried["claim"]["fencing_token"].as_u64().unwrap() > second);
}

#[tokio::test]
async fn reads_share_and_a_read_meets_an_edit() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b, c) = (
        human.agent("a").await,
        human.agent("b").await,
        human.agent("c").await,
    );
    let read = json!({"paths": ["src/**"], "mode": "read"});
    let first = a
        .start(json!({"resource": "repo:acme/web", "working_set": read}))
        .await;
    let second = b
        .start(json!({"resource": "repo:acme/web", "working_set": read}))
        .await;
    assert_eq!(
        (first["decision"].as_str(), second["decision"].as_str()),
        (Some("proceed"), Some("proceed"))
    );
    assert_eq!(second["claim"]["working_set"]["mode"], "read");
    let edit = start_paths(&c, &["src/main.rs"]).await;
    assert_eq!(edit["decision"], "skip_run");
    assert_eq!(edit["reason"]["code"], "paths_claimed");
    assert_eq!(edit["reason"]["conflicts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_whole_repo_claim_and_a_working_set_block_each_other_both_ways() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    let whole = a.start_on("repo:acme/web").await;
    let paths = start_paths(&b, &["src/a.rs"]).await;
    assert_eq!(paths["decision"], "skip_run");
    assert_eq!(paths["reason"]["code"], "resource_claimed");
    assert_eq!(paths["reason"]["holder"]["run_id"], whole["run_id"]);
    assert_eq!(
        paths["reason"]["conflicts"][0],
        json!({"path": "src/a.rs", "holder": paths["reason"]["holder"], "held_paths": null})
    );
    a.finish(&run_id(&whole), "succeeded").await.expect(200);
    let held = start_paths(&b, &["src/a.rs"]).await;
    assert_eq!(held["decision"], "proceed");
    let whole = a.start_on("repo:acme/web").await;
    assert_eq!(whole["decision"], "skip_run");
    assert_eq!(whole["reason"]["code"], "resource_claimed");
    assert_eq!(
        whole["reason"]["conflicts"],
        json!([{"path": null, "holder": whole["reason"]["holder"], "held_paths": ["src/a.rs"]}])
    );
    // A v1 whole-vs-whole skip carries no conflicts list.
    let other = a.start_on("project:homepage").await;
    let skipped = b.start_on("project:homepage").await;
    assert_eq!(skipped["reason"]["holder"]["run_id"], other["run_id"]);
    assert!(skipped["reason"].get("conflicts").is_none());
}

#[tokio::test]
async fn a_partial_start_takes_exactly_the_free_paths_and_replays_the_same() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    let api = start_paths(&a, &["src/api/**"]).await;
    let body = json!({
        "resource": "repo:acme/web",
        "run_id": "partial-1",
        "working_set": set(&["src/api/users.rs", "src/db/", "docs/*.md"]),
        "partial": true,
    });
    let partial = b.start(body.clone()).await;
    assert_eq!(partial["decision"], "partial_proceed");
    assert_eq!(partial["status"], "active");
    assert_eq!(
        partial["claim"]["working_set"]["paths"],
        json!(["src/db/**", "docs/*.md"])
    );
    assert_eq!(
        partial["blocked"],
        json!([{"path": "src/api/users.rs", "holder": partial["reason"]["holder"]}])
    );
    assert_eq!(partial["reason"]["holder"]["run_id"], api["run_id"]);
    let replayed = b.start(body).await;
    assert_eq!(replayed["replayed"], true);
    assert_eq!(replayed["blocked"], partial["blocked"]);
    assert_eq!(replayed["claim"], partial["claim"]);
    // Nothing free: a skip even with partial.
    let none = b
        .start(json!({"resource": "repo:acme/web", "working_set": set(&["src/api/**"]), "partial": true}))
        .await;
    assert_eq!(none["decision"], "skip_run");
    // The runs list shows each claim's paths.
    let runs = b.get("/v1/work/runs?status=active").await.expect(200);
    let listed: Vec<&Value> = runs["items"].as_array().unwrap().iter().collect();
    assert!(
        listed
            .iter()
            .any(|r| r["claim"]["working_set"]["paths"] == json!(["src/db/**", "docs/*.md"]))
    );
}

#[tokio::test]
async fn paths_are_added_and_removed_atomically_with_the_same_fencing_token() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    let mine = start_paths(&a, &["src/a.rs"]).await;
    let theirs = start_paths(&b, &["src/b.rs"]).await;
    let token = mine["claim"]["fencing_token"].clone();
    let grown = change(&a, json!({"run_id": run_id(&mine), "add": ["src/c/"]}))
        .await
        .expect(200);
    assert_eq!(
        grown["claim"]["working_set"]["paths"],
        json!(["src/a.rs", "src/c/**"])
    );
    assert_eq!(grown["claim"]["fencing_token"], token);
    // An overlapping add changes nothing and names the holder.
    let refused = change(
        &a,
        json!({"run_id": run_id(&mine), "add": ["src/d.rs", "src/*.rs"]}),
    )
    .await;
    refused.expect_error(409, "paths_claimed");
    let conflicts = &refused.body["error"]["conflicts"];
    assert_eq!(conflicts[0]["path"], "src/*.rs");
    assert_eq!(conflicts[0]["holder"]["run_id"], theirs["run_id"]);
    let now = b.get("/v1/work/runs?status=active").await.expect(200);
    let a_run = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == mine["run_id"])
        .unwrap()
        .clone();
    assert_eq!(
        a_run["claim"]["working_set"]["paths"],
        json!(["src/a.rs", "src/c/**"])
    );
    // With partial, the free paths are added and the rest listed.
    let partial = change(
        &a,
        json!({"run_id": run_id(&mine), "add": ["src/d.rs", "src/*.rs"], "partial": true}),
    )
    .await
    .expect(200);
    assert_eq!(
        partial["claim"]["working_set"]["paths"],
        json!(["src/a.rs", "src/c/**", "src/d.rs"])
    );
    assert_eq!(partial["blocked"][0]["path"], "src/*.rs");
    // Removing frees the path for the other agent.
    change(&a, json!({"run_id": run_id(&mine), "remove": ["src/c/"]}))
        .await
        .expect(200);
    let c_file = start_paths(&b, &["src/c/x.rs"]).await;
    assert_eq!(c_file["decision"], "proceed");
    // Removing every path is refused: finish the run instead.
    change(
        &a,
        json!({"run_id": run_id(&mine), "remove": ["src/a.rs", "src/d.rs"]}),
    )
    .await
    .expect_error(400, "invalid_working_set");
    // The activity feed records the change.
    let activity = human
        .call(Method::GET, "/v1/activity?kind=working_set_updated", None)
        .await
        .expect(200);
    let items = activity["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "add, partial add, remove");
    // After the finish, the claim's paths are no longer held.
    a.finish(&run_id(&mine), "succeeded").await.expect(200);
    change(&a, json!({"run_id": run_id(&mine), "add": ["x"]}))
        .await
        .expect_error(409, "lease_lost");
    let d = start_paths(&b, &["src/d.rs"]).await;
    assert_eq!(d["decision"], "proceed");
}

#[tokio::test]
async fn of_two_racing_overlapping_adds_exactly_one_wins() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    for round in 0..8 {
        let resource = format!("repo:acme/race{round}");
        let body = |path: &str| json!({"resource": resource, "working_set": set(&[path])});
        let (ra, rb) = tokio::join!(a.start(body("one.rs")), b.start(body("two.rs")));
        let add = |run: &Value| json!({"run_id": run_id(run), "add": ["shared/**"]});
        let (xa, xb) = tokio::join!(change(&a, add(&ra)), change(&b, add(&rb)));
        let statuses = [xa.status.as_u16(), xb.status.as_u16()];
        assert!(
            statuses == [200, 409] || statuses == [409, 200],
            "round {round}: {statuses:?} {} {}",
            xa.body,
            xb.body
        );
        a.finish(&run_id(&ra), "succeeded").await.expect(200);
        b.finish(&run_id(&rb), "succeeded").await.expect(200);
    }
}

#[tokio::test]
async fn a_working_set_claim_counts_once_against_the_plan() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("a").await;
    // The free plan allows three live claims: three working sets of two
    // paths each fit, a fourth does not.
    for (i, path) in ["a.rs", "b.rs", "c.rs"].into_iter().enumerate() {
        let dir = format!("dir{i}/");
        let answer = agent
            .start(json!({"resource": "repo:acme/web", "working_set": set(&[path, &dir])}))
            .await;
        assert_eq!(answer["decision"], "proceed", "claim {i}");
    }
    let fourth = start_paths(&agent, &["d.rs"]).await;
    assert_eq!(fourth["decision"], "skip_run");
    assert_eq!(fourth["reason"]["code"], "plan_limit_active_claims");
}

#[tokio::test]
async fn bad_working_sets_are_refused_naming_the_field() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("a").await;
    let start = |body: Value| {
        let agent = agent.clone();
        async move { agent.post("/v1/work/run/start", body).await }
    };
    for (paths, field) in [
        (json!(["ok.rs", "../etc"]), "working_set.paths[1]"),
        (json!(["/abs"]), "working_set.paths[0]"),
        (json!(["a\\b"]), "working_set.paths[0]"),
        (json!(["a/**b"]), "working_set.paths[0]"),
        (json!([]), "working_set.paths"),
    ] {
        let answer =
            start(json!({"resource": "repo:acme/web", "working_set": {"paths": paths}})).await;
        answer.expect_error(400, "invalid_working_set");
        assert_eq!(answer.body["error"]["field"], field);
    }
    let project = start(json!({"resource": "project:x", "working_set": set(&["a"])})).await;
    project.expect_error(400, "invalid_working_set");
    assert_eq!(project.body["error"]["field"], "working_set");
    let mode = start(
        json!({"resource": "repo:acme/web", "working_set": {"paths": ["a"], "mode": "write"}}),
    )
    .await;
    assert_eq!(mode.status.as_u16(), 400);
}

#[tokio::test]
async fn a_check_answers_for_paths_with_the_conflicts() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (a, b) = (human.agent("a").await, human.agent("b").await);
    let api = start_paths(&a, &["src/api/**"]).await;
    let check = |paths: &[&str]| {
        let body = json!({"resource": "repo:acme/web", "working_set": set(paths)});
        let b = b.clone();
        async move { b.post("/v1/work/check", body).await.expect(200) }
    };
    let free = check(&["src/db/**"]).await;
    assert_eq!(free["available"], true);
    let held = check(&["src/api/x.rs"]).await;
    assert_eq!(held["available"], false);
    assert_eq!(held["holder"]["run_id"], api["run_id"]);
    assert_eq!(held["conflicts"][0]["held_paths"], json!(["src/api/**"]));
    let whole = b
        .post("/v1/work/check", json!({"resource": "repo:acme/web"}))
        .await
        .expect(200);
    assert_eq!(whole["available"], false);
    assert_eq!(whole["conflicts"][0]["path"], Value::Null);
}
