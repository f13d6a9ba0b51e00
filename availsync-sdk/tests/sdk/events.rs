//! `Client::events` against the real server: it follows the workspace's
//! activity, resumes after falling behind without losing or repeating an
//! item, and ends with the server's error when the start id is unknown.

use std::time::Duration;

use availsync_sdk::{ActivityQuery, AdminClient, Client, EventFilter, RetryPolicy};
use availsync_server::{RunningServer, ServerConfig};
use futures::{StreamExt, TryStreamExt};

#[tokio::test]
async fn events_follow_every_item_once_in_order_even_after_falling_behind() {
    let dir = tempfile::tempdir().unwrap();
    // A broadcast of two events: bursts leave the stream behind, and it
    // must resume by itself.
    let server = RunningServer::start(ServerConfig {
        events_buffer: 2,
        ..ServerConfig::ephemeral(dir.path())
    })
    .await
    .unwrap();
    let admin = AdminClient::new(&server.url()).unwrap();
    admin
        .signup("events@example.com", "correct horse battery", "Events")
        .await
        .unwrap();
    let key = admin.create_agent("watcher", None).await.unwrap().api_key;
    let client = Client::builder()
        .base_url(server.url())
        .api_key(key)
        .retry_policy(RetryPolicy::default())
        .build()
        .unwrap();

    drop(
        client
            .claim(availsync_sdk::StartRun::new("repo:acme/marker").unwrap())
            .await
            .unwrap(),
    );
    let marker = client
        .activity_page(&ActivityQuery::default(), None)
        .await
        .unwrap()
        .items[0]
        .id
        .clone();
    let events = client.events(EventFilter::new().after(marker));

    let writers = futures::future::join_all((0..40).map(|n| {
        let client = client.clone();
        async move {
            let start = availsync_sdk::StartRun::new(&format!("repo:acme/r{n}")).unwrap();
            drop(client.claim(start).await.unwrap());
        }
    }));
    let (_, received) = tokio::join!(writers, async {
        events.take(40).try_collect::<Vec<_>>().await.unwrap()
    });
    // Dropped guards finish in the background; only starts are compared.
    let mut listed: Vec<String> = client
        .activity(ActivityQuery {
            kind: Some("run_started".into()),
            ..ActivityQuery::default()
        })
        .map_ok(|item| item.id)
        .try_collect()
        .await
        .unwrap();
    listed.reverse();
    let received_ids: Vec<String> = received
        .iter()
        .filter(|item| item.kind == "run_started")
        .map(|item| item.id.clone())
        .collect();
    let starts = received_ids.len();
    assert_eq!(received_ids, listed[1..=starts], "in order, once each");
    let mut unique = received.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), received.len(), "an item came twice");
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unknown_start_id_ends_the_stream_with_the_servers_error() {
    let world = crate::support::World::new().await;
    let client = world.agent("watcher").await;
    let events = client.events(EventFilter::new().after("evt_00000000000000000000000000000000"));
    futures::pin_mut!(events);
    let error = events.next().await.unwrap().unwrap_err();
    assert_eq!(error.code(), Some("invalid_request"), "{error}");
    assert!(events.next().await.is_none());
}
