//! Rules and several resources in one claim (SPEC §11–12) through the SDK,
//! against the real server.

use std::time::Duration;

use availsync_sdk::types::{CreateRuleRequest, ReasonCode, UpdateRuleRequest};
use availsync_sdk::{Error, Outcome, RunStart, StartRun};

use crate::support::{World, claimed};

fn rule(resource: &str) -> CreateRuleRequest {
    CreateRuleRequest {
        resource: resource.into(),
        depends_on: None,
        capacity: None,
        mode: None,
        max_ttl_seconds: None,
        note: None,
    }
}

#[tokio::test]
async fn several_resources_are_claimed_at_once_with_a_token_each_or_not_at_all() {
    let world = World::new().await;
    let (a, b) = (world.agent("a").await, world.agent("b").await);

    let both = StartRun::resources(["service:billing", "repo:Acme/DB"])
        .unwrap()
        .ttl(Duration::from_secs(30));
    let guard = claimed(&a, both).await;
    let tokens = guard.fencing_tokens();
    let names: Vec<&str> = tokens.iter().map(|t| t.resource.as_str()).collect();
    assert_eq!(names, ["service:billing", "repo:acme/db"]);
    assert_eq!(
        guard.fencing_token_for("repo:ACME/db"),
        Some(tokens[1].fencing_token)
    );
    assert_eq!(guard.fencing_token_for("db:other"), None);

    // One of three blocked: nothing is granted, and the skip names it.
    let three = StartRun::resources(["queue:mail", "repo:acme/db", "cache:eu"]).unwrap();
    let RunStart::Skipped(skip) = b.claim(three).await.unwrap() else {
        panic!("repo:acme/db is held");
    };
    let blocked: Vec<&str> = skip
        .conflicts()
        .iter()
        .filter_map(|c| c.as_resource())
        .map(|c| c.resource.as_str())
        .collect();
    assert_eq!(blocked, ["repo:acme/db"]);
    assert_eq!(skip.conflicts()[0].holder().run_id, guard.run_id());
    let free = claimed(&b, StartRun::new("queue:mail").unwrap()).await;
    free.finish(Outcome::Succeeded).await.unwrap();

    // Finishing ends the whole claim.
    guard.finish(Outcome::Succeeded).await.unwrap();
    let again = claimed(&b, StartRun::new("repo:acme/db").unwrap()).await;
    assert!(again.fencing_token() > tokens[1].fencing_token);
    again.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn a_bad_resources_list_is_refused_before_sending() {
    for list in [
        vec!["pool:gpu"],
        vec!["repo:acme/web", "repo:Acme/Web"],
        vec!["pool:gpu", "no-separator"],
    ] {
        let error = StartRun::resources(&list).unwrap_err();
        assert!(
            matches!(error, Error::InvalidResources(_)),
            "{list:?}: {error}"
        );
    }
    let seventeen: Vec<String> = (0..17).map(|i| format!("pool:p{i}")).collect();
    let error = StartRun::resources(&seventeen).unwrap_err();
    assert!(error.to_string().contains("not 17"), "{error}");
}

#[tokio::test]
async fn humans_write_rules_agents_read_them_and_every_claim_follows_them() {
    let world = World::new().await;
    let (a, b) = (world.agent("a").await, world.agent("b").await);

    let mut homepage = rule("project:homepage");
    homepage.depends_on = Some(vec!["project:catalog".into()]);
    homepage.max_ttl_seconds = Some(60);
    let created = world.admin.create_rule(&homepage).await.unwrap();
    assert_eq!(created.depends_on, ["project:catalog"]);

    // A cycle and a duplicate are refused, naming the field.
    let mut cycle = rule("project:catalog");
    cycle.depends_on = Some(vec!["project:homepage".into()]);
    let error = world.admin.create_rule(&cycle).await.unwrap_err();
    assert_eq!(error.code(), Some("rule_cycle"), "{error}");
    let error = world.admin.create_rule(&homepage).await.unwrap_err();
    assert_eq!(error.code(), Some("rule_exists"), "{error}");

    // Agents read rules; they cannot write them.
    let seen = b.rules().await.unwrap();
    assert_eq!(seen, std::slice::from_ref(&created));
    assert_eq!(world.admin.rules().await.unwrap(), seen);

    // Claiming the homepage holds the catalog too, under the ttl cap.
    let start = StartRun::new("project:homepage")
        .unwrap()
        .ttl(Duration::from_secs(600));
    let guard = claimed(&a, start).await;
    assert_eq!(guard.claim().ttl_seconds, 60);
    assert!(guard.fencing_token_for("project:catalog").is_some());
    let RunStart::Skipped(skip) = b
        .claim(StartRun::new("project:catalog").unwrap())
        .await
        .unwrap()
    else {
        panic!("the catalog is held through the homepage's rule");
    };
    assert_eq!(skip.holder().unwrap().run_id, guard.run_id());
    guard.finish(Outcome::Succeeded).await.unwrap();

    // Capacity 2: two runs share the pool, the third is told both holders.
    let mut pool = rule("pool:gpu");
    pool.capacity = Some(2);
    let pool = world.admin.create_rule(&pool).await.unwrap();
    let one = claimed(&a, StartRun::new("pool:gpu").unwrap()).await;
    let two = claimed(&b, StartRun::new("pool:gpu").unwrap()).await;
    let third = world.agent("c").await;
    let RunStart::Skipped(full) = third
        .claim(StartRun::new("pool:gpu").unwrap())
        .await
        .unwrap()
    else {
        panic!("the pool is full");
    };
    assert_eq!(full.reason.code, ReasonCode::CapacityFull);
    let mut holders: Vec<String> = full
        .reason
        .holders
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|h| h.run_id)
        .collect();
    holders.sort();
    let mut expected = vec![one.run_id().to_owned(), two.run_id().to_owned()];
    expected.sort();
    assert_eq!(holders, expected);

    // Raising the capacity admits the third; deleting the rule is audited
    // and later starts no longer follow it.
    let raised = world
        .admin
        .update_rule(
            &pool.rule_id,
            &UpdateRuleRequest {
                capacity: Some(3),
                ..UpdateRuleRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(raised.capacity, 3);
    let three = claimed(&third, StartRun::new("pool:gpu").unwrap()).await;
    for guard in [one, two, three] {
        guard.finish(Outcome::Succeeded).await.unwrap();
    }
    world.admin.delete_rule(&pool.rule_id).await.unwrap();
    world.admin.delete_rule(&created.rule_id).await.unwrap();
    assert!(world.admin.rules().await.unwrap().is_empty());
    let error = world.admin.delete_rule(&pool.rule_id).await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
}
