//! Bounded waiting (SPEC §13): arrival order, deadlines, clients that go
//! away, capacity, several resources, and replicas, on both stores.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::storage::Storage;
use crate::support::{Agent, Human, TestServer, run_id};

/// How long a test lets a waiter settle into the queue before the next
/// one arrives, so that arrival order is the order of the calls.
const ARRIVAL_GAP: Duration = Duration::from_millis(60);

/// A `run/start` sent from a task of its own: answers when the server
/// does, with the time it answered.
fn start_in_background(agent: &Agent<'_>, body: Value) -> JoinHandle<(Instant, Value)> {
    let url = format!("{}/v1/work/run/start", agent.server.url);
    let key = agent.key.clone();
    tokio::spawn(async move {
        let answer = reqwest::Client::new()
            .post(url)
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        (Instant::now(), body)
    })
}

async fn agents<'a>(human: &Human<'a>, count: usize) -> Vec<Agent<'a>> {
    let mut agents = Vec::new();
    for i in 0..count {
        agents.push(human.agent(&format!("waiter-{i}")).await);
    }
    agents
}

#[tokio::test]
async fn waiters_are_granted_in_arrival_order_as_the_resource_frees() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let holder = human.agent("holder").await;
    let waiters = agents(&human, 2).await;
    let first = holder.start_on("deploy:web").await;
    assert_eq!(first["decision"], "proceed");
    let mut queued = Vec::new();
    for i in 0..20 {
        let agent = &waiters[i % waiters.len()];
        let body = json!({"resource": "deploy:web", "wait_seconds": 30, "run_id": format!("w{i:02}"),
                          "ttl_seconds": 60});
        queued.push(start_in_background(agent, body));
        tokio::time::sleep(ARRIVAL_GAP).await;
    }
    holder
        .finish(&run_id(&first), "succeeded")
        .await
        .expect(200);
    // Each grant is finished as soon as it is read, freeing the next.
    let mut granted = Vec::new();
    for (i, handle) in queued.into_iter().enumerate() {
        let (_, answer) = handle.await.unwrap();
        assert_eq!(answer["decision"], "proceed", "waiter {i}: {answer}");
        assert_eq!(answer["replayed"], false);
        assert!(answer["waited_ms"].as_u64().unwrap() > 0, "{answer}");
        granted.push(run_id(&answer));
        waiters[i % waiters.len()]
            .finish(&run_id(&answer), "succeeded")
            .await
            .expect(200);
    }
    let expected: Vec<String> = (0..20).map(|i| format!("w{i:02}")).collect();
    assert_eq!(granted, expected);
}

#[tokio::test]
async fn a_waiter_skips_at_its_deadline_and_says_how_long_it_waited() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let holder = human.agent("holder").await;
    let waiter = human.agent("waiter").await;
    holder.start_on("deploy:api").await;
    let asked = Instant::now();
    let answer = waiter
        .start(json!({"resource": "deploy:api", "wait_seconds": 1}))
        .await;
    let took = asked.elapsed();
    assert_eq!(answer["decision"], "skip_run");
    assert_eq!(answer["reason"]["holder"]["agent_name"], "holder");
    let waited = answer["waited_ms"].as_u64().unwrap();
    assert!((900..=3_000).contains(&waited), "waited {waited} ms");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    // The skip is recorded once, as any skip is.
    let runs = waiter.get("/v1/work/runs?limit=10").await.expect(200);
    let skips: Vec<&Value> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["agent_name"] == "waiter")
        .collect();
    assert_eq!(skips.len(), 1, "{runs}");
    // A free resource answers at once, with waited_ms 0; without
    // wait_seconds no waited_ms at all; out of range is refused.
    let free = waiter
        .start(json!({"resource": "deploy:free", "wait_seconds": 5}))
        .await;
    assert_eq!(
        (free["decision"].as_str(), free["waited_ms"].as_u64()),
        (Some("proceed"), Some(0))
    );
    let plain = waiter.start_on("deploy:other").await;
    assert!(plain.get("waited_ms").is_none(), "{plain}");
    waiter
        .post(
            "/v1/work/run/start",
            json!({"resource": "deploy:x", "wait_seconds": 61}),
        )
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn a_waiter_whose_client_went_away_is_passed_over() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let holder = human.agent("holder").await;
    let quitter = human.agent("quitter").await;
    let patient = human.agent("patient").await;
    let held = holder.start_on("deploy:db").await;
    // The quitter's client gives up after 300 ms, long before its wait.
    let gone = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/v1/work/run/start", server.url))
        .bearer_auth(&quitter.key)
        .json(&json!({"resource": "deploy:db", "wait_seconds": 30, "run_id": "quit-1"}))
        .send()
        .await;
    assert!(gone.is_err(), "the quitter's request should time out");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = start_in_background(
        &patient,
        json!({"resource": "deploy:db", "wait_seconds": 30}),
    );
    tokio::time::sleep(ARRIVAL_GAP).await;
    holder.finish(&run_id(&held), "succeeded").await.expect(200);
    let (_, answer) = waiting.await.unwrap();
    assert_eq!(answer["decision"], "proceed", "{answer}");
    // The quitter was never granted: its run id was never used.
    let runs = quitter.get("/v1/work/runs?limit=20").await.expect(200);
    assert!(
        runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["run_id"] != "quit-1"),
        "{runs}"
    );
}

#[tokio::test]
async fn capacity_two_serves_five_waiters_two_at_a_time_in_order() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    human
        .call(
            reqwest::Method::POST,
            "/v1/rules",
            Some(json!({"resource": "pool:gpu", "capacity": 2})),
        )
        .await
        .expect(201);
    let holders = agents(&human, 2).await;
    let mut held = Vec::new();
    for holder in &holders {
        let answer = holder.start_on("pool:gpu").await;
        assert_eq!(answer["decision"], "proceed");
        held.push(run_id(&answer));
    }
    let waiter = human.agent("queue").await;
    let mut queued = Vec::new();
    for i in 0..5 {
        let body = json!({"resource": "pool:gpu", "wait_seconds": 30, "run_id": format!("g{i}")});
        queued.push(start_in_background(&waiter, body));
        tokio::time::sleep(ARRIVAL_GAP).await;
    }
    // Freeing one place grants exactly the first waiter.
    holders[0].finish(&held[0], "succeeded").await.expect(200);
    let mut queued = queued.into_iter();
    let (_, g0) = queued.next().unwrap().await.unwrap();
    assert_eq!(
        (g0["decision"].as_str(), g0["run_id"].as_str()),
        (Some("proceed"), Some("g0"))
    );
    let live = |runs: &Value| {
        runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "active")
            .count()
    };
    let runs = waiter.get("/v1/work/runs?limit=50").await.expect(200);
    assert_eq!(live(&runs), 2, "{runs}");
    holders[1].finish(&held[1], "succeeded").await.expect(200);
    let mut order = vec![run_id(&g0)];
    for handle in queued {
        let (_, answer) = handle.await.unwrap();
        assert_eq!(answer["decision"], "proceed", "{answer}");
        order.push(run_id(&answer));
        // Two at a time: finishing the oldest grant makes the next room.
        let oldest = order[order.len() - 2].clone();
        waiter.finish(&oldest, "succeeded").await.expect(200);
    }
    assert_eq!(order, ["g0", "g1", "g2", "g3", "g4"]);
}

#[tokio::test]
async fn a_waiter_for_several_resources_holds_none_until_all_are_free() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (x, y) = (human.agent("x").await, human.agent("y").await);
    let both = x.clone();
    let on_a = x.start_on("db:a").await;
    let on_b = y.start_on("db:b").await;
    let waiting = start_in_background(
        &both,
        json!({"resources": ["db:a", "db:b"], "wait_seconds": 30}),
    );
    tokio::time::sleep(ARRIVAL_GAP).await;
    x.finish(&run_id(&on_a), "succeeded").await.expect(200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // db:a is free and the waiter holds none of it meanwhile.
    let check = x
        .post("/v1/work/check", json!({"resource": "db:a"}))
        .await
        .expect(200);
    assert_eq!(check["available"], true, "{check}");
    y.finish(&run_id(&on_b), "succeeded").await.expect(200);
    let (_, answer) = waiting.await.unwrap();
    assert_eq!(answer["decision"], "proceed", "{answer}");
    let resources: Vec<&str> = answer["claim"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["db:a", "db:b"]);
}

#[tokio::test]
async fn a_fresh_start_does_not_overtake_a_waiter_the_freed_resource_can_serve() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let holder = human.agent("holder").await;
    let waiter = human.agent("waiter").await;
    let latecomer = human.agent("latecomer").await;
    // A short lease that lapses on its own: no release wakes anyone.
    let held = holder
        .start(json!({"resource": "deploy:cron", "ttl_seconds": 10}))
        .await;
    assert_eq!(held["decision"], "proceed");
    let waiting = start_in_background(
        &waiter,
        json!({"resource": "deploy:cron", "wait_seconds": 30}),
    );
    let (granted_at, answer) = waiting.await.unwrap();
    assert_eq!(answer["decision"], "proceed", "{answer}");
    // Granted at the lapse, not at its deadline.
    assert!(answer["waited_ms"].as_u64().unwrap() < 20_000, "{answer}");
    let _ = granted_at;
    let late = latecomer.start_on("deploy:cron").await;
    assert_eq!(late["decision"], "skip_run");
    assert_eq!(late["reason"]["holder"]["agent_name"], "waiter");
}

#[tokio::test]
async fn a_release_on_one_replica_wakes_a_waiter_on_another() {
    let storage = Storage::for_test();
    if storage.database.is_none() {
        eprintln!("replicas need PostgreSQL: set AVAILSYNC_TEST_DATABASE_URL");
        return;
    }
    let a = TestServer::start_with(&storage).await;
    let b = TestServer::start_with(&storage).await;
    let human = a.signup().await;
    let holder = human.agent("holder").await;
    let waiter_on_a = human.agent("waiter").await;
    let waiter_on_b = Agent {
        server: &b,
        ..waiter_on_a.clone()
    };
    let mut latencies = Vec::new();
    for round in 0..5 {
        let resource = format!("deploy:replicated-{round}");
        let held = holder.start_on(&resource).await;
        assert_eq!(held["decision"], "proceed");
        let waiting = start_in_background(
            &waiter_on_b,
            json!({"resource": resource, "wait_seconds": 30}),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        holder.finish(&run_id(&held), "succeeded").await.expect(200);
        let freed = Instant::now();
        let (granted, answer) = waiting.await.unwrap();
        assert_eq!(answer["decision"], "proceed", "{answer}");
        latencies.push(granted.duration_since(freed));
        waiter_on_a
            .finish(&run_id(&answer), "succeeded")
            .await
            .expect(200);
    }
    latencies.sort();
    eprintln!("finish on A → grant on B: {latencies:?}");
    // Far below any timer: the release's notification woke it.
    assert!(latencies[2] < Duration::from_secs(2), "{latencies:?}");
}

#[tokio::test]
async fn a_start_blocked_by_the_plan_limit_waits_in_its_workspace_queue() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let holder = human.agent("holder").await;
    let waiter = human.agent("waiter").await;
    // The free plan allows three live claims.
    let mut held = Vec::new();
    for resource in ["deploy:a", "deploy:b", "deploy:c"] {
        let answer = holder.start_on(resource).await;
        assert_eq!(answer["decision"], "proceed");
        held.push(run_id(&answer));
    }
    let waiting = start_in_background(&waiter, json!({"resource": "deploy:d", "wait_seconds": 30}));
    tokio::time::sleep(ARRIVAL_GAP).await;
    // Not a release on deploy:d: any claim ending in the workspace serves it.
    holder.finish(&held[1], "succeeded").await.expect(200);
    let (_, answer) = waiting.await.unwrap();
    assert_eq!(answer["decision"], "proceed", "{answer}");
    assert!(answer["waited_ms"].as_u64().unwrap() > 0);
    // The place is taken again: a newcomer is at the limit.
    let late = holder.start_on("deploy:e").await;
    assert_eq!(late["decision"], "skip_run");
    assert_eq!(late["reason"]["code"], "plan_limit_active_claims");
}

#[tokio::test]
async fn working_sets_wait_for_their_paths_and_disjoint_paths_do_not_queue() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let (editor, waiter) = (human.agent("editor").await, human.agent("waiter").await);
    let paths = |p: &str| json!({"resource": "repo:acme/web", "working_set": {"paths": [p]}});
    let held = editor.start(paths("src/api/**")).await;
    assert_eq!(held["decision"], "proceed");
    let mut wants_api = paths("src/api/routes.rs");
    wants_api["wait_seconds"] = json!(30);
    let waiting = start_in_background(&waiter, wants_api);
    tokio::time::sleep(ARRIVAL_GAP).await;
    // Other paths of the repository are not held up by the waiter.
    let mut docs = paths("docs/**");
    docs["wait_seconds"] = json!(30);
    let docs = editor.start(docs).await;
    assert_eq!(
        (docs["decision"].as_str(), docs["waited_ms"].as_u64()),
        (Some("proceed"), Some(0))
    );
    editor.finish(&run_id(&held), "succeeded").await.expect(200);
    let (_, answer) = waiting.await.unwrap();
    assert_eq!(answer["decision"], "proceed", "{answer}");
    assert_eq!(
        answer["claim"]["working_set"]["paths"],
        json!(["src/api/routes.rs"])
    );
}
