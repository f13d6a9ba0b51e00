//! The run guard against the real server.

use std::time::Duration;

use availsync_sdk::{Guarded, LeaseState, LossReason, Outcome, RunStart, RunsQuery, StartRun};
use tokio::time::Instant;

use crate::support::World;

fn ttl10(resource: &str) -> StartRun {
    StartRun::new(resource)
        .unwrap()
        .ttl(Duration::from_secs(10))
}

#[tokio::test]
async fn a_guard_outlives_its_ttl_while_others_are_told_to_skip() {
    let world = World::new().await;
    let holder = world.agent("long-job").await;
    let other = world.agent("other").await;
    let RunStart::Claimed(guard) = holder.claim(ttl10("repo:acme/web")).await.unwrap() else {
        panic!("expected a claim");
    };
    let first_expiry = guard.expires_at();
    let until = Instant::now() + Duration::from_secs(35);
    while Instant::now() < until {
        match other
            .claim(StartRun::new("repo:acme/web").unwrap())
            .await
            .unwrap()
        {
            RunStart::Skipped(skip) => {
                assert_eq!(skip.holder().unwrap().run_id, guard.run_id());
            }
            other => panic!("the lease lapsed: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    assert!(guard.is_held());
    assert!(guard.expires_at() > first_expiry.add_millis(20_000));
    let done = guard.finish(Outcome::Succeeded).await.unwrap();
    assert!(done.released);
    assert!(matches!(
        other
            .claim(StartRun::new("repo:acme/web").unwrap())
            .await
            .unwrap(),
        RunStart::Claimed(_)
    ));
}

#[tokio::test]
async fn a_skip_names_the_holder_and_when_to_retry() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let b = world.agent("b").await;
    let RunStart::Claimed(guard) = a
        .claim(StartRun::new("project:site").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    let RunStart::Skipped(skip) = b
        .claim(StartRun::new("project:site").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a skip");
    };
    let holder = skip.holder().unwrap();
    assert_eq!(
        (holder.agent_name.as_str(), holder.run_id.as_str()),
        ("a", guard.run_id())
    );
    assert!(skip.retry_after.unwrap() > Duration::from_secs(200));
    guard.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn dropping_an_unfinished_guard_finishes_it_as_cancelled() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let b = world.agent("b").await;
    let RunStart::Claimed(guard) = a
        .claim(StartRun::new("repo:acme/web").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    let run_id = guard.run_id().to_owned();
    drop(guard);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let RunStart::Claimed(next) = b
            .claim(StartRun::new("repo:acme/web").unwrap())
            .await
            .unwrap()
        {
            next.finish(Outcome::Succeeded).await.unwrap();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dropped guard never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = a.runs_page(&RunsQuery::default(), None).await.unwrap();
    let dropped = runs.items.iter().find(|r| r.run_id == run_id).unwrap();
    assert_eq!(dropped.outcome, Some(Outcome::Cancelled));
}

#[tokio::test]
async fn a_lease_finished_elsewhere_is_reported_lost_within_one_extend_interval() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let RunStart::Claimed(guard) = a.claim(ttl10("repo:acme/web")).await.unwrap() else {
        panic!("expected a claim");
    };
    let token = guard.cancellation_token();
    let mut watch = guard.watch();
    // Another process of the same agent finishes the run.
    a.finish_run(guard.run_id(), Outcome::Cancelled, None)
        .await
        .unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(10 / 3 + 2), guard.lost())
        .await
        .expect("lost did not fire within one extend interval");
    assert_eq!(reason, LossReason::Revoked);
    assert!(token.is_cancelled());
    assert!(!guard.is_held());
    watch.changed().await.ok();
    assert_eq!(*watch.borrow(), LeaseState::Lost(LossReason::Revoked));
}

#[tokio::test]
async fn guarded_runs_work_only_when_claimed_and_records_its_result() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let b = world.agent("b").await;
    let ran = a
        .guarded(
            StartRun::new("repo:acme/web").unwrap(),
            |lease| async move {
                assert!(lease.fencing_token >= 1);
                Ok::<_, String>(lease.run_id)
            },
        )
        .await
        .unwrap();
    let Guarded::Completed(Ok(run_id)) = ran else {
        panic!("expected completion: {ran:?}");
    };
    let failed = a
        .guarded(StartRun::new("repo:acme/web").unwrap(), |_| async {
            Err::<(), _>("tests failed")
        })
        .await
        .unwrap();
    assert!(matches!(failed, Guarded::Completed(Err("tests failed"))));
    let runs = a.runs_page(&RunsQuery::default(), None).await.unwrap();
    assert_eq!(runs.items[0].outcome, Some(Outcome::Failed));
    assert_eq!(runs.items[1].run_id, run_id);
    assert_eq!(runs.items[1].outcome, Some(Outcome::Succeeded));

    let RunStart::Claimed(held) = b
        .claim(StartRun::new("repo:acme/web").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    let mut called = false;
    let skipped = a
        .guarded(StartRun::new("repo:acme/web").unwrap(), |_| {
            called = true;
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    assert!(matches!(skipped, Guarded::Skipped(_)));
    assert!(!called, "the work ran without the claim");
    held.finish(Outcome::Succeeded).await.unwrap();
}

#[tokio::test]
async fn guarded_stops_the_work_when_the_lease_is_lost() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let killer = a.clone();
    let outcome = a
        .guarded(ttl10("repo:acme/web"), |lease| async move {
            killer
                .finish_run(
                    &lease.run_id,
                    Outcome::Cancelled,
                    Some("revoked by the test"),
                )
                .await
                .unwrap();
            // Work that would run far past the lease.
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, String>(())
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, Guarded::LeaseLost(LossReason::Revoked)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn replaying_a_finished_run_gives_a_guard_that_is_already_lost() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let start = StartRun::new("repo:acme/web").unwrap();
    let RunStart::Claimed(guard) = a.claim(start.clone()).await.unwrap() else {
        panic!("expected a claim");
    };
    guard.finish(Outcome::Succeeded).await.unwrap();
    let RunStart::Claimed(replayed) = a.claim(start).await.unwrap() else {
        panic!("a replay keeps its decision");
    };
    assert!(!replayed.is_held());
    assert!(replayed.cancellation_token().is_cancelled());
    assert_eq!(replayed.lost().await, LossReason::Revoked);
}

#[tokio::test]
async fn guarded_never_starts_work_on_a_replayed_lost_lease() {
    let world = World::new().await;
    let a = world.agent("a").await;
    let start = StartRun::new("repo:acme/web").unwrap();
    let first = a
        .guarded(start.clone(), |_| async { Ok::<_, String>(()) })
        .await
        .unwrap();
    assert!(matches!(first, Guarded::Completed(Ok(()))));
    for _ in 0..10 {
        let mut called = false;
        let again = a
            .guarded(start.clone(), |_| {
                called = true;
                async { Ok::<_, String>(()) }
            })
            .await
            .unwrap();
        assert!(
            matches!(again, Guarded::LeaseLost(LossReason::Revoked)),
            "{again:?}"
        );
        assert!(!called, "the work started on a lost lease");
    }
}

#[tokio::test]
async fn a_detached_guard_stops_extending_and_the_run_can_be_finished_by_id() {
    let world = World::new().await;
    let agent = world.agent("hand-over").await;
    let other = world.agent("other").await;
    let RunStart::Claimed(guard) = agent.claim(ttl10("project:handover")).await.unwrap() else {
        panic!("expected a claim");
    };
    let expires_at = guard.expires_at();
    let run_id = guard.detach();
    // Still held by the run: nothing was finished.
    assert!(matches!(
        other
            .claim(StartRun::new("project:handover").unwrap())
            .await
            .unwrap(),
        RunStart::Skipped(_)
    ));
    // Past the first extend (ttl/3), the expiry has not moved.
    tokio::time::sleep(Duration::from_millis(3800)).await;
    let runs = agent
        .runs_page(
            &RunsQuery {
                resource: Some("project:handover".parse().unwrap()),
                ..RunsQuery::default()
            },
            None,
        )
        .await
        .unwrap()
        .items;
    let run = runs.iter().find(|run| run.run_id == run_id).unwrap();
    assert_eq!(run.claim.as_ref().unwrap().expires_at, expires_at);
    // Whoever took it over finishes it by id.
    let done = agent
        .finish_run(&run_id, Outcome::Succeeded, None)
        .await
        .unwrap();
    assert!(done.released);
}

#[tokio::test]
async fn a_human_release_is_reported_by_the_guard_at_its_next_extend() {
    let world = World::new().await;
    let holder = world.agent("long-job").await;
    let RunStart::Claimed(guard) = holder.claim(ttl10("repo:acme/release")).await.unwrap() else {
        panic!("expected a claim");
    };
    let released = world
        .admin
        .release_claim(&guard.claim().claim_id)
        .await
        .unwrap();
    assert!(released.released);
    assert_eq!(released.run_id, guard.run_id());
    // The guard extends about every ttl/3 (~3.3 s) and learns then.
    let reason = tokio::time::timeout(Duration::from_secs(8), guard.lost())
        .await
        .expect("the guard did not report the release");
    assert_eq!(reason, LossReason::Revoked);
    assert!(!guard.is_held());
    let again = world
        .admin
        .release_claim(&guard.claim().claim_id)
        .await
        .unwrap();
    assert!(!again.released);
}
