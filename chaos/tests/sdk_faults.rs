//! The SDK behind the fault proxy, one fault at a time: a guard whose
//! extends vanish lets go before the server hands the resource on, and a
//! start whose answer is lost and retried is one claim, not two.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use availsync_chaos::proxy::{Fault, FaultProxy, FaultSettings};
use availsync_sdk::types::RunStatus;
use availsync_sdk::{AdminClient, Client, RetryPolicy, RunStart, RunsQuery, StartRun};
use availsync_server::{RunningServer, ServerConfig};

const NO_FAULTS: FaultSettings = FaultSettings {
    rate: 0.0,
    max_latency: Duration::ZERO,
    max_stall: Duration::ZERO,
};

struct Setup {
    _dir: tempfile::TempDir,
    _server: RunningServer,
    proxy: FaultProxy,
    admin: AdminClient,
    through_proxy: Client,
    direct: Client,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let server = RunningServer::start(ServerConfig::ephemeral(dir.path()))
        .await
        .unwrap();
    let admin = AdminClient::new(&server.url()).unwrap();
    admin
        .signup("faults@example.com", "correct horse battery", "Faults")
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.addr(), NO_FAULTS, 1)
        .await
        .unwrap();
    let first = admin.create_agent("behind-the-proxy", None).await.unwrap();
    let through_proxy = Client::builder()
        .base_url(format!("http://{}", proxy.addr()))
        .api_key(first.api_key)
        .timeout(Duration::from_millis(800))
        .retry_policy(RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        })
        .build()
        .unwrap();
    let second = admin.create_agent("direct", None).await.unwrap();
    let direct = Client::builder()
        .base_url(server.url())
        .api_key(second.api_key)
        .build()
        .unwrap();
    Setup {
        _dir: dir,
        _server: server,
        proxy,
        admin,
        through_proxy,
        direct,
    }
}

#[tokio::test]
async fn a_guard_whose_extends_vanish_lets_go_before_the_resource_is_regranted() {
    let s = setup().await;
    let start = StartRun::new("project:blackhole")
        .unwrap()
        .ttl(Duration::from_secs(10));
    let RunStart::Claimed(guard) = s.through_proxy.claim(start).await.unwrap() else {
        panic!("expected a claim");
    };
    // From now on every answer is swallowed: extends time out, the server
    // never hears that the holder is alive... but it does receive them.
    s.proxy
        .force_next(10_000, Fault::HalfOpen { after_bytes: 0 });
    let lost = tokio::spawn({
        let watch = guard.watch();
        async move {
            let mut watch = watch;
            while !matches!(
                *watch.borrow_and_update(),
                availsync_sdk::LeaseState::Lost(_)
            ) {
                if watch.changed().await.is_err() {
                    break;
                }
            }
            Instant::now()
        }
    });
    // The other agent polls until the server grants it the resource.
    let granted_at = loop {
        let start = StartRun::new("project:blackhole").unwrap();
        if let RunStart::Claimed(other) = s.direct.claim(start).await.unwrap() {
            let at = Instant::now();
            assert!(other.fencing_token() > guard.fencing_token());
            break at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !guard.is_held(),
        "the guard still says held after the regrant"
    );
    let lost_at = lost.await.unwrap();
    assert!(
        lost_at < granted_at,
        "the guard reported the loss {:?} after the resource was regranted",
        lost_at - granted_at
    );
    assert!(matches!(guard.state(), availsync_sdk::LeaseState::Lost(_)));
}

#[tokio::test]
async fn a_start_whose_answer_is_reset_is_retried_into_one_claim() {
    let s = setup().await;
    // The first two answers are cut off by a reset after the server has
    // granted the claim; the third gets through.
    s.proxy.force_next(2, Fault::Reset { after_bytes: 0 });
    let start = StartRun::new("project:retried")
        .unwrap()
        .run_id("retried-start");
    let RunStart::Claimed(guard) = s.through_proxy.claim(start).await.unwrap() else {
        panic!("expected the retry to replay the claim");
    };
    assert_eq!(guard.run_id(), "retried-start");

    let runs = s
        .admin
        .runs_page(
            &RunsQuery {
                resource: Some("project:retried".parse().unwrap()),
                ..RunsQuery::default()
            },
            None,
        )
        .await
        .unwrap()
        .items;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Active);
    assert_eq!(
        runs[0].claim.as_ref().unwrap().fencing_token,
        guard.fencing_token()
    );
    // And the resource is taken: another agent is told to skip.
    let other = s
        .direct
        .claim(StartRun::new("project:retried").unwrap())
        .await
        .unwrap();
    assert!(matches!(other, RunStart::Skipped(_)), "{other:?}");
    guard
        .finish(availsync_sdk::Outcome::Succeeded)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_stalled_finish_still_releases_once() {
    let s = setup().await;
    let RunStart::Claimed(guard) = s
        .through_proxy
        .claim(StartRun::new("project:stalled").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    // The finish arrives after the client has given up on it once.
    s.proxy.force_next(
        1,
        Fault::Stall {
            after_bytes: 10,
            pause: Duration::from_millis(1200),
        },
    );
    let finished = guard
        .finish(availsync_sdk::Outcome::Succeeded)
        .await
        .unwrap();
    assert_eq!(finished.status, RunStatus::Finished);
    let next = s
        .direct
        .claim(StartRun::new("project:stalled").unwrap())
        .await
        .unwrap();
    assert!(matches!(next, RunStart::Claimed(_)), "{next:?}");
}
