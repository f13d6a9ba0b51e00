//! The SDK's run guard against a reference server that restarts or goes away.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use availsync_e2e::{RestartableServer, agent_client, signed_up_admin};
use availsync_sdk::{LeaseState, LossReason, Outcome, RunStart, StartRun, Timestamp};
use tokio::time::Instant;

fn ttl(resource: &str, seconds: u64) -> StartRun {
    StartRun::new(resource)
        .unwrap()
        .ttl(Duration::from_secs(seconds))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_rides_out_a_short_server_restart_and_keeps_its_lease() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RestartableServer::start(dir.path()).await.unwrap();
    let url = server.url();
    let admin = signed_up_admin(&url, "restart@example.com").await.unwrap();
    let holder = agent_client(&admin, &url, "holder").await.unwrap();
    let other = agent_client(&admin, &url, "other").await.unwrap();

    let RunStart::Claimed(guard) = holder.claim(ttl("repo:acme/web", 30)).await.unwrap() else {
        panic!("expected a claim");
    };
    let token = guard.fencing_token();
    server.stop().await;
    // Long enough for at least one extend (every 10 s) to fail.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        matches!(guard.state(), LeaseState::Uncertain { .. }),
        "{:?}",
        guard.state()
    );
    server.restart().await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(guard.state(), LeaseState::Held { .. }) {
        assert!(
            Instant::now() < deadline,
            "the guard never recovered: {:?}",
            guard.state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The grant survived the restart: the other agent is still refused.
    match other
        .claim(StartRun::new("repo:acme/web").unwrap())
        .await
        .unwrap()
    {
        RunStart::Skipped(skip) => assert_eq!(skip.holder().unwrap().run_id, guard.run_id()),
        unexpected => panic!("the lease was lost across the restart: {unexpected:?}"),
    }
    assert_eq!(guard.fencing_token(), token);
    assert!(guard.finish(Outcome::Succeeded).await.unwrap().released);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_reports_the_loss_before_expiry_when_the_server_stays_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RestartableServer::start(dir.path()).await.unwrap();
    let url = server.url();
    let admin = signed_up_admin(&url, "gone@example.com").await.unwrap();
    let holder = agent_client(&admin, &url, "holder").await.unwrap();
    let RunStart::Claimed(guard) = holder.claim(ttl("repo:acme/web", 10)).await.unwrap() else {
        panic!("expected a claim");
    };
    let expires_at = guard.expires_at();
    let token = guard.cancellation_token();
    server.stop().await;
    let reason = tokio::time::timeout(Duration::from_secs(15), guard.lost())
        .await
        .unwrap();
    assert_eq!(reason, LossReason::Expired);
    assert!(token.is_cancelled());
    // Told before the server would have let anyone else in.
    assert!(Timestamp::now() < expires_at, "lost fired after expires_at");

    // Once the server is back, the lapsed lease is not held by anyone.
    server.restart().await.unwrap();
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(expires_at.unix_millis() - Timestamp::now().unix_millis()).unwrap_or(0) + 50,
    ))
    .await;
    let other = agent_client(&admin, &url, "other").await.unwrap();
    assert!(matches!(
        other
            .claim(StartRun::new("repo:acme/web").unwrap())
            .await
            .unwrap(),
        RunStart::Claimed(_)
    ));
}
