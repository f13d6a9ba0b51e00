//! SDK costs against the in-process reference server:
//! - a guard's start + finish (claim, spawn the keep-alive task, release);
//! - the SDK's per-call overhead: `Client::check` against the same request
//!   made with a bare reqwest client (the SDK sends its calls through
//!   reqwest; this shows what its own layer, the span, retries and error
//!   mapping, costs on top).
//!
//! Run with `cargo bench -p availsync-sdk`.

#![allow(missing_docs, clippy::unwrap_used)]

use availsync_sdk::{AdminClient, Client, Outcome, RunStart, StartRun};
use availsync_server::{RunningServer, ServerConfig};
use criterion::{Criterion, criterion_group, criterion_main};

struct Setup {
    _server: RunningServer,
    _dir: tempfile::TempDir,
    url: String,
    key: String,
    client: Client,
}

fn setup(runtime: &tokio::runtime::Runtime) -> Setup {
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = RunningServer::start(ServerConfig::ephemeral(dir.path()))
            .await
            .unwrap();
        let url = server.url();
        let admin = AdminClient::new(&url).unwrap();
        let auth = admin
            .signup("bench@example.com", "correct horse battery", "Bench")
            .await
            .unwrap();
        server
            .set_plan(&auth.workspace.id, availsync_sdk::types::Plan::Business)
            .await
            .unwrap();
        let key = admin.create_agent("bench", None).await.unwrap().api_key;
        let client = Client::builder()
            .base_url(&url)
            .api_key(&key)
            .build()
            .unwrap();
        Setup {
            _server: server,
            _dir: dir,
            url,
            key,
            client,
        }
    })
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = setup(&runtime);

    c.bench_function("guard start + finish", |b| {
        b.to_async(&runtime).iter(|| async {
            let start = StartRun::new("repo:bench/guard").unwrap();
            match setup.client.claim(start).await.unwrap() {
                RunStart::Claimed(guard) => {
                    guard.finish(Outcome::Succeeded).await.unwrap();
                }
                other => panic!("expected a claim: {other:?}"),
            }
        });
    });

    let mut group = c.benchmark_group("work/check");
    group.bench_function("sdk Client::check", |b| {
        b.to_async(&runtime)
            .iter(|| async { setup.client.check("repo:bench/check").await.unwrap() });
    });
    let bare = reqwest::Client::new();
    let url = format!("{}/v1/work/check", setup.url);
    group.bench_function("bare reqwest", |b| {
        b.to_async(&runtime).iter(|| async {
            let answer: serde_json::Value = bare
                .post(&url)
                .bearer_auth(&setup.key)
                .json(&serde_json::json!({"resource": "repo:bench/check"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer
        });
    });
    group.finish();
}

criterion_group! {
    name = sdk;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = benches
}
criterion_main!(sdk);
