//! Work calls: start, check, extend, finish, runs, health, usage, activity.

use std::time::Duration;

use availsync_sdk::types::{Decision, Plan, ReasonCode};
use availsync_sdk::{ActivityQuery, Client, Outcome, RunStart, RunsQuery, StartRun};
use futures::TryStreamExt;

use crate::support::World;

#[tokio::test]
async fn raw_calls_cover_the_work_endpoints() {
    let world = World::new().await;
    let a = world.agent("ci-bot").await;
    let b = world.agent("claude").await;
    assert_eq!(a.health().await.unwrap().status, "ok");

    let start = StartRun::new("repo:Acme/Web")
        .unwrap()
        .ttl(Duration::from_secs(60))
        .purpose("deploy");
    let granted = a.start_run(&start).await.unwrap();
    assert_eq!(granted.decision, Decision::Proceed);
    assert_eq!(granted.run_id, start.run_id_value());
    // The same StartRun again is a replay, never a second claim.
    let replay = a.start_run(&start).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.claim, granted.claim);

    let check = b.check("repo:acme/web").await.unwrap();
    assert!(!check.available);
    assert_eq!(check.holder.unwrap().run_id, granted.run_id);

    let skipped = b
        .start_run(&StartRun::new("repo:acme/web").unwrap())
        .await
        .unwrap();
    assert_eq!(skipped.decision, Decision::SkipRun);
    assert_eq!(skipped.reason.unwrap().code, ReasonCode::ResourceClaimed);

    let extended = a
        .extend_run(&granted.run_id, Some(Duration::from_secs(120)))
        .await
        .unwrap();
    assert_eq!(extended.claim.unwrap().ttl_seconds, 120);
    let finished = a
        .finish_run(&granted.run_id, Outcome::Succeeded, Some("shipped"))
        .await
        .unwrap();
    assert!(finished.released);
    let lost = a.extend_run(&granted.run_id, None).await.unwrap_err();
    assert!(lost.is_lease_lost(), "{lost}");
    assert!(!lost.is_retryable());
    let missing = a
        .finish_run("nope", Outcome::Failed, None)
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
    let api = missing.api().unwrap();
    assert!(!api.request_id.is_empty());
    assert_eq!(api.status, 404);
}

#[tokio::test]
async fn bad_input_is_refused_before_or_by_the_server_with_its_field() {
    let world = World::new().await;
    let a = world.agent("ci-bot").await;
    assert!(matches!(
        StartRun::new("repo:acme"),
        Err(availsync_sdk::Error::InvalidResource(_))
    ));
    let too_short = StartRun::new("repo:acme/web")
        .unwrap()
        .ttl(Duration::from_secs(5));
    let err = a.start_run(&too_short).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_request"));
    assert_eq!(err.api().unwrap().field.as_deref(), Some("ttl_seconds"));
    // Since SPEC §3 as amended by v1.1, any resource type is claimable.
    let calendar = a
        .start_run(&StartRun::new("calendar:eng").unwrap())
        .await
        .unwrap();
    assert!(calendar.claim.is_some());
}

#[tokio::test]
async fn a_wrong_key_and_a_missing_key_are_clear_errors() {
    let world = World::new().await;
    let wrong = Client::builder()
        .base_url(world.server.url())
        .api_key("avs_live_wrong")
        .build()
        .unwrap();
    let err = wrong.check("repo:acme/web").await.unwrap_err();
    assert!(err.is_unauthenticated(), "{err}");
    let missing = Client::builder()
        .base_url(world.server.url())
        .build()
        .unwrap_err();
    assert!(
        missing.to_string().contains("AVAILSYNC_API_KEY"),
        "{missing}"
    );
    let bad_url = Client::builder()
        .base_url("localhost:8787")
        .api_key("k")
        .build()
        .unwrap_err();
    assert!(bad_url.to_string().contains("http://"), "{bad_url}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_after_retries() {
    let dead = Client::builder()
        .base_url("http://127.0.0.1:9")
        .api_key("avs_live_x")
        .retry_policy(availsync_sdk::RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        })
        .build()
        .unwrap();
    let err = dead.health().await.unwrap_err();
    assert!(
        matches!(&err, availsync_sdk::Error::Transport { error, .. } if error.is_connect()),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(!err.is_tls_failure());
    // The message names the URL and the cause in the HTTP stack's own words.
    let message = err.to_string();
    assert!(
        message.contains("http://127.0.0.1:9/health") && message.contains("refused"),
        "{message}"
    );
}

/// `https://` goes through TLS: against the plain-HTTP server the
/// handshake fails, and the SDK says so as a transport error naming the
/// URL, one that no retry can fix. (A refused certificate is tested through
/// a TLS front with a private CA in `transport.rs`, and end to end in
/// availsync-setup's guard tests.)
#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_transport_error() {
    let world = World::new().await;
    let url = world.server.url().replace("http://", "https://");
    let client = Client::builder()
        .base_url(&url)
        .api_key("avs_live_x")
        .retry_policy(availsync_sdk::RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.health().await.unwrap_err();
    assert!(
        matches!(&err, availsync_sdk::Error::Transport { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&url), "{err}");
    assert!(err.is_tls_failure(), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn runs_and_activity_stream_across_pages() {
    let world = World::new().await;
    world.set_plan(Plan::Team).await;
    let a = world.agent("ci-bot").await;
    for i in 0..7 {
        let RunStart::Claimed(guard) = a
            .claim(StartRun::new(&format!("project:p{i}")).unwrap())
            .await
            .unwrap()
        else {
            panic!("expected a claim");
        };
        guard.finish(Outcome::Succeeded).await.unwrap();
    }
    let runs: Vec<_> = a
        .runs(RunsQuery {
            limit: Some(3),
            ..RunsQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(runs.len(), 7);
    assert_eq!(runs[0].resource, "project:p6");
    let page = a
        .runs_page(
            &RunsQuery {
                active_only: true,
                ..RunsQuery::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());

    let finished: Vec<_> = a
        .activity(ActivityQuery {
            kind: Some("run_finished".into()),
            limit: Some(2),
            ..ActivityQuery::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(finished.len(), 7);
    let first_page = a
        .activity_page(&ActivityQuery::default(), None)
        .await
        .unwrap();
    assert_eq!(first_page.items.len(), 14);

    let usage = a.usage(None, None).await.unwrap();
    assert_eq!(usage.counts.runs_started, 7);
    assert_eq!(usage.usage.protected_resources, 7);
    assert_eq!(usage.usage.active_claims, 0);
}

#[tokio::test]
async fn observe_agents_get_observed_runs() {
    let world = World::new().await;
    let enforcer = world.agent("ci-bot").await;
    let observer = world
        .agent_with_mode("watcher", availsync_sdk::Mode::Observe)
        .await;
    let RunStart::Claimed(guard) = enforcer
        .claim(StartRun::new("repo:acme/web").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    let RunStart::Observed(observed) = observer
        .claim(StartRun::new("repo:acme/web").unwrap())
        .await
        .unwrap()
    else {
        panic!("expected an observed run");
    };
    assert!(observed.would_block);
    assert_eq!(
        observed
            .reason
            .as_ref()
            .unwrap()
            .holder
            .as_ref()
            .unwrap()
            .run_id,
        guard.run_id()
    );
    let done = observed.finish(Outcome::Succeeded).await.unwrap();
    assert!(!done.released);
    // A dry run from an enforcing agent.
    let RunStart::Observed(dry) = enforcer
        .claim(StartRun::new("repo:acme/web").unwrap().observe())
        .await
        .unwrap()
    else {
        panic!("expected a dry run");
    };
    assert!(dry.would_block);
    guard.finish(Outcome::Succeeded).await.unwrap();
}
