//! Finer claims through the MCP tools: paths of a repository shared by two
//! sessions (`start_run` with paths, `claim_paths`), several resources in
//! one grant (`with_resources`), and the rules that shape claims
//! (`list_rules`).

use availsync_sdk::types::CreateRuleRequest;
use serde_json::{Value, json};

use crate::support::{Launch, World};

const REPO: &str = "repo:acme/web";

fn paths(answer: &crate::support::Answer, pointer: &str) -> Vec<String> {
    serde_json::from_value(
        answer
            .structured
            .pointer(pointer)
            .cloned()
            .unwrap_or(Value::Null),
    )
    .unwrap_or_else(|e| panic!("{pointer} in {}: {e}", answer.structured))
}

#[tokio::test]
async fn two_sessions_share_a_repository_by_paths_and_claim_paths_grows_what_one_holds() {
    let world = World::team().await;
    let (ka, kb) = (world.agent("claude-a").await, world.agent("codex-b").await);
    let a = Launch::agent(&world.url(), &ka).start().await;
    let b = Launch::agent(&world.url(), &kb).start().await;

    let api = a
        .call(
            "start_run",
            json!({"resource": REPO, "paths": ["src/api/", "docs/api.md"], "purpose": "api"}),
        )
        .await;
    assert_eq!(api.verdict(), "PROCEED", "{}", api.text);
    assert_eq!(paths(&api, "/lease/paths"), ["src/api/**", "docs/api.md"]);
    assert!(
        api.line()
            .contains("src/api/**, docs/api.md of repo:acme/web")
            && api
                .line()
                .contains("call claim_paths before you edit any other file"),
        "{}",
        api.line()
    );

    // Disjoint paths: the second session proceeds too.
    let db = b
        .call("start_run", json!({"resource": REPO, "paths": ["src/db/"]}))
        .await;
    assert_eq!(db.verdict(), "PROCEED", "{}", db.text);

    // B reaching into A's paths: skipped, A named, nothing changed.
    let reach = b
        .call(
            "claim_paths",
            json!({"resource": REPO, "add": ["src/api/routes.rs"]}),
        )
        .await;
    assert!(!reach.is_error, "{}", reach.text);
    assert_eq!(reach.verdict(), "SKIP", "{}", reach.text);
    assert!(
        reach
            .line()
            .contains("src/api/routes.rs of repo:acme/web is held by agent 'claude-a'")
            && reach.line().contains("holding src/api/**"),
        "{}",
        reach.line()
    );
    assert_eq!(paths(&reach, "/paths"), ["src/db/**"]);

    // With partial: the free path is taken, the held one named.
    let some = b
        .call(
            "claim_paths",
            json!({"resource": REPO, "add": ["src/api/routes.rs", "migrations/"], "partial": true}),
        )
        .await;
    assert_eq!(some.verdict(), "PARTIAL", "{}", some.text);
    assert_eq!(paths(&some, "/paths"), ["src/db/**", "migrations/**"]);
    assert_eq!(some.str("/blocked_paths/0/path"), "src/api/routes.rs");

    // A third session asking for overlapping paths at the start is skipped
    // (or, with partial, gets the free part).
    let kc = world.agent("cursor-c").await;
    let c = Launch::agent(&world.url(), &kc).start().await;
    let overlap = c
        .call("start_run", json!({"resource": REPO, "paths": ["src/"]}))
        .await;
    assert_eq!(overlap.verdict(), "SKIP", "{}", overlap.text);
    assert!(
        overlap.line().contains("Do not edit those paths now"),
        "{}",
        overlap.line()
    );
    let part = c
        .call(
            "start_run",
            json!({"resource": REPO, "paths": ["src/api/", "src/ui/"], "partial": true}),
        )
        .await;
    assert_eq!(part.verdict(), "PARTIAL", "{}", part.text);
    assert_eq!(paths(&part, "/lease/paths"), ["src/ui/**"]);
    assert!(
        part.line()
            .contains("not yours: src/api/** of repo:acme/web is held by agent 'claude-a'"),
        "{}",
        part.line()
    );

    // Whole-repository claims meet working sets.
    let whole = c
        .call("start_run", json!({"resource": "repo:acme/other"}))
        .await;
    assert_eq!(whole.verdict(), "PROCEED", "{}", whole.text);
    let all_of_it = c
        .call(
            "claim_paths",
            json!({"resource": "repo:acme/other", "add": ["x"]}),
        )
        .await;
    assert!(
        all_of_it
            .line()
            .contains("already hold the whole of repo:acme/other"),
        "{}",
        all_of_it.line()
    );

    // Asking start_run again with other paths points at claim_paths.
    let again = a
        .call(
            "start_run",
            json!({"resource": REPO, "paths": ["README.md"]}),
        )
        .await;
    assert!(again.is_error, "{}", again.text);
    assert!(
        again.line().contains("call claim_paths"),
        "{}",
        again.line()
    );
    // The same paths again: the same run.
    let same = a
        .call(
            "start_run",
            json!({"resource": REPO, "paths": ["src/api/"]}),
        )
        .await;
    assert_eq!(same.str("/run_id"), api.str("/run_id"));

    // Giving paths back frees them for others.
    let grow = a
        .call(
            "claim_paths",
            json!({"resource": REPO, "add": ["README.md"], "remove": ["docs/api.md"]}),
        )
        .await;
    assert_eq!(grow.verdict(), "PROCEED", "{}", grow.text);
    assert_eq!(paths(&grow, "/paths"), ["src/api/**", "README.md"]);
    let docs = b
        .call("claim_paths", json!({"resource": REPO, "add": ["docs/"]}))
        .await;
    assert_eq!(docs.verdict(), "PROCEED", "{}", docs.text);

    // list_runs shows each run's paths.
    let runs = a.call("list_runs", json!({"resource": REPO})).await;
    assert!(
        runs.line()
            .contains("src/api/**, README.md of repo:acme/web by 'claude-a'"),
        "{}",
        runs.line()
    );

    // No run on a repository: claim_paths says to start one.
    let none = a
        .call(
            "claim_paths",
            json!({"resource": "repo:acme/none", "add": ["a"]}),
        )
        .await;
    assert!(
        none.is_error && none.line().contains("call start_run"),
        "{}",
        none.text
    );
    // Bad paths are refused before the server is asked.
    let bad = a
        .call("claim_paths", json!({"resource": REPO, "add": ["../etc"]}))
        .await;
    assert!(bad.is_error && bad.verdict() == "INVALID", "{}", bad.text);

    for session in [a, b, c] {
        let (status, _, _) = session.close().await;
        assert!(status.success());
    }
}

#[tokio::test]
async fn several_resources_are_claimed_together_and_rules_explain_what_a_claim_holds() {
    let world = World::team().await;
    world
        .admin
        .create_rule(&CreateRuleRequest {
            resource: "project:homepage".into(),
            depends_on: Some(vec!["project:catalog".into()]),
            capacity: None,
            mode: None,
            max_ttl_seconds: Some(600),
            note: Some("the homepage renders the catalog".into()),
        })
        .await
        .unwrap();
    world
        .admin
        .create_rule(&CreateRuleRequest {
            resource: "pool:gpu".into(),
            depends_on: None,
            capacity: Some(2),
            mode: None,
            max_ttl_seconds: None,
            note: None,
        })
        .await
        .unwrap();
    let (ka, kb) = (world.agent("deployer").await, world.agent("migrator").await);
    let a = Launch::agent(&world.url(), &ka).start().await;
    let b = Launch::agent(&world.url(), &kb).start().await;

    let both = a
        .call(
            "start_run",
            json!({"resource": "service:billing", "with_resources": ["db:billing"]}),
        )
        .await;
    assert_eq!(both.verdict(), "PROCEED", "{}", both.text);
    let held: Vec<String> = both.structured["lease"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(held, ["service:billing", "db:billing"]);
    assert!(
        both.line().contains("db:billing (fencing token"),
        "{}",
        both.line()
    );

    // One of them held: nothing is claimed, the blocker named.
    let blocked = b
        .call(
            "start_run",
            json!({"resource": "queue:mail", "with_resources": ["db:billing"]}),
        )
        .await;
    assert_eq!(blocked.verdict(), "SKIP", "{}", blocked.text);
    assert!(
        blocked.line().starts_with(&format!(
            "SKIP: nothing was claimed, because db:billing is held by agent 'deployer' (run {}) until ",
            both.str("/run_id")
        )) && blocked.line().ends_with("Do not do the work now; tell the user."),
        "{}",
        blocked.line()
    );
    assert_eq!(blocked.str("/blocked_resources/0/resource"), "db:billing");
    let mail = b.call("start_run", json!({"resource": "queue:mail"})).await;
    assert_eq!(
        mail.verdict(),
        "PROCEED",
        "nothing of the refused start is held: {}",
        mail.text
    );

    // A session asking for what it holds gets its run again.
    let again = a.call("start_run", json!({"resource": "db:billing"})).await;
    assert_eq!(again.str("/run_id"), both.str("/run_id"));

    // depends_on: the homepage holds the catalog too; the skip on the
    // catalog names the homepage's run, and list_rules says why.
    let home = a
        .call("start_run", json!({"resource": "project:homepage"}))
        .await;
    assert_eq!(home.verdict(), "PROCEED", "{}", home.text);
    let catalog = b
        .call("start_run", json!({"resource": "project:catalog"}))
        .await;
    assert_eq!(catalog.verdict(), "SKIP", "{}", catalog.text);
    assert!(
        catalog.line().contains(&home.str("/run_id")),
        "{}",
        catalog.line()
    );
    let rules = b.call("list_rules", json!({})).await;
    assert_eq!(rules.verdict(), "RULES", "{}", rules.text);
    assert!(
        rules.line().contains(
            "project:homepage: a claim also holds project:catalog, leases of at most 600 s"
        ) && rules.line().contains("pool:gpu: admits 2 runs at once"),
        "{}",
        rules.line()
    );
    assert_eq!(rules.structured["rules"].as_array().unwrap().len(), 2);

    // Capacity: two places; the third run is told who holds both.
    let kc = world.agent("trainer").await;
    let c = Launch::agent(&world.url(), &kc).start().await;
    for session in [&a, &b] {
        let gpu = session
            .call("start_run", json!({"resource": "pool:gpu"}))
            .await;
        assert_eq!(gpu.verdict(), "PROCEED", "{}", gpu.text);
    }
    let full = c.call("start_run", json!({"resource": "pool:gpu"})).await;
    assert_eq!(full.verdict(), "SKIP", "{}", full.text);
    assert!(
        full.line()
            .starts_with("SKIP: pool:gpu admits 2 runs at once and all places are taken: agent '")
            && full.line().contains("'deployer'")
            && full.line().contains("'migrator'"),
        "{}",
        full.line()
    );

    let bad = c
        .call(
            "start_run",
            json!({"resource": "pool:x", "with_resources": ["pool:x"]}),
        )
        .await;
    assert!(
        bad.is_error && bad.line().contains("listed twice"),
        "{}",
        bad.text
    );
    let both_ways = c
        .call(
            "start_run",
            json!({"resource": REPO, "with_resources": ["pool:x"], "paths": ["a"]}),
        )
        .await;
    assert!(both_ways.is_error, "{}", both_ways.text);

    for session in [a, b, c] {
        let (status, _, _) = session.close().await;
        assert!(status.success());
    }
}
