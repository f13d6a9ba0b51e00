//! Bounded waiting (SPEC §13) through the SDK, against the real server:
//! a waited start is granted when the holder finishes, and a wait that
//! runs out is the usual skip, each saying how long the server waited.

use std::time::Duration;

use availsync_sdk::{Guarded, Outcome, RunStart, StartRun};
use tokio::time::Instant;

use crate::support::{World, claimed};

#[tokio::test]
async fn a_second_agent_waiting_for_the_first_is_granted_when_it_finishes() {
    let world = World::new().await;
    let first = world.agent("first").await;
    let second = world.agent("second").await;
    let held = claimed(&first, StartRun::new("repo:acme/web").unwrap()).await;
    let finisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        held.finish(Outcome::Succeeded).await.unwrap();
    });

    let asked = Instant::now();
    let start = StartRun::new("repo:acme/web")
        .unwrap()
        .wait(Duration::from_secs(20));
    let answer = second.claim(start).await.unwrap();
    let took = asked.elapsed();
    finisher.await.unwrap();

    let waited = answer
        .waited()
        .expect("a waited start says how long it waited");
    let RunStart::Claimed(guard) = answer else {
        panic!("expected a grant once the holder finished: {answer:?}");
    };
    assert!(
        waited >= Duration::from_millis(1000) && waited <= took,
        "waited {waited:?} of {took:?}"
    );
    assert!(took < Duration::from_secs(15), "granted late: {took:?}");
    assert_eq!(guard.waited(), Some(waited));
    assert!(guard.is_held(), "{:?}", guard.state());
    let done = guard.finish(Outcome::Succeeded).await.unwrap();
    assert!(done.released);
}

#[tokio::test]
async fn a_wait_that_runs_out_is_a_skip_after_about_the_wait() {
    let world = World::new().await;
    let first = world.agent("first").await;
    let second = world.agent("second").await;
    let held = claimed(&first, StartRun::new("project:site").unwrap()).await;

    let asked = Instant::now();
    let start = StartRun::new("project:site")
        .unwrap()
        .wait(Duration::from_secs(2));
    let answer = second.claim(start).await.unwrap();
    let took = asked.elapsed();

    let RunStart::Skipped(skip) = answer else {
        panic!("expected a skip at the deadline: {answer:?}");
    };
    let waited = skip.waited.expect("a waited skip says how long it waited");
    assert!(
        waited >= Duration::from_millis(1900) && waited <= Duration::from_millis(3500),
        "waited {waited:?}"
    );
    assert!(
        took >= Duration::from_millis(1900),
        "answered after {took:?}"
    );
    assert_eq!(skip.holder().unwrap().run_id, held.run_id());
    held.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn a_waited_start_is_not_cut_off_by_the_client_timeout() {
    let world = World::new().await;
    let first = world.agent("first").await;
    let created = world.admin.create_agent("impatient", None).await.unwrap();
    // A 1 s timeout: a 3 s wait must still get its answer.
    let impatient = availsync_sdk::Client::builder()
        .base_url(world.server.url())
        .api_key(created.api_key)
        .timeout(Duration::from_secs(1))
        .retry_policy(availsync_sdk::RetryPolicy::none())
        .build()
        .unwrap();
    let held = claimed(&first, StartRun::new("project:slow").unwrap()).await;
    let start = StartRun::new("project:slow")
        .unwrap()
        .wait(Duration::from_secs(3));
    let answer = impatient.claim(start).await.unwrap();
    let RunStart::Skipped(skip) = answer else {
        panic!("expected a skip at the deadline: {answer:?}");
    };
    assert!(
        skip.waited
            .is_some_and(|w| w >= Duration::from_millis(2900)),
        "{skip:?}"
    );
    held.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn a_free_resource_is_granted_at_once_with_waited_zero() {
    let world = World::new().await;
    let agent = world.agent("solo").await;
    let start = StartRun::new("repo:acme/free")
        .unwrap()
        .wait(Duration::from_secs(10));
    let answer = agent.claim(start).await.unwrap();
    assert!(
        answer
            .waited()
            .is_some_and(|w| w < Duration::from_millis(500)),
        "{:?}",
        answer.waited()
    );
    let RunStart::Claimed(guard) = answer else {
        panic!("expected a grant: {answer:?}");
    };
    guard.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn guarded_work_runs_after_a_wait_with_a_lease_that_outlives_its_ttl() {
    let world = World::new().await;
    let first = world.agent("first").await;
    let second = world.agent("second").await;
    let held = claimed(&first, StartRun::new("repo:acme/api").unwrap()).await;
    let finisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        held.finish(Outcome::Succeeded).await.unwrap();
    });
    // A 10 s lease taken after a wait, and work longer than the lease:
    // the guard keeps it alive, counted from the grant.
    let start = StartRun::new("repo:acme/api")
        .unwrap()
        .ttl(Duration::from_secs(10))
        .wait(Duration::from_secs(20));
    let outcome = second
        .guarded(start, |lease| async move {
            tokio::time::sleep(Duration::from_secs(12)).await;
            assert!(!lease.lost.is_cancelled());
            Ok::<_, std::io::Error>(lease.fencing_token)
        })
        .await
        .unwrap();
    finisher.await.unwrap();
    assert!(
        matches!(outcome, Guarded::Completed(Ok(token)) if token > 0),
        "{outcome:?}"
    );
}
