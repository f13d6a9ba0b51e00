//! Three server processes sharing one PostgreSQL database, with clients
//! spread across them racing on the same resources and calendar: exactly
//! one grant per resource at a time, unique increasing fencing tokens, the
//! plan's claim limit held, and no overlapping holds.
//!
//! Needs `AVAILSYNC_TEST_DATABASE_URL` (replicas need a shared database);
//! on the embedded SQLite store it says so and checks nothing. `.ci/run`
//! runs it against PostgreSQL.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::child::{ServerProcess, Storage, spawn_server};

const REPLICAS: usize = 3;

struct Replicas {
    servers: Vec<ServerProcess>,
    http: reqwest::Client,
    storage: Storage,
    _dir: tempfile::TempDir,
}

impl Replicas {
    async fn start(storage: Storage) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut servers = Vec::new();
        for _ in 0..REPLICAS {
            servers.push(spawn_server(dir.path(), &storage).await);
        }
        Self {
            servers,
            http: reqwest::Client::new(),
            storage,
            _dir: dir,
        }
    }

    fn url(&self, i: usize) -> &str {
        &self.servers[i % REPLICAS].url
    }

    async fn post(&self, replica: usize, path: &str, auth: &str, body: Value) -> (u16, Value) {
        let request = self
            .http
            .post(format!("{}{path}", self.url(replica)))
            .json(&body);
        let request = if auth.starts_with("avs_") {
            request.bearer_auth(auth)
        } else {
            request.header("cookie", auth)
        };
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, replica: usize, path: &str, cookie: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(format!("{}{path}", self.url(replica)))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// Signs up on replica 0 and answers the session cookie and workspace id.
    async fn signup(&self) -> (String, String) {
        let answer = self
            .http
            .post(format!("{}/v1/auth/signup", self.url(0)))
            .json(&json!({"email": crate::support::unique_email(), "password": "correct horse battery", "workspace_name": "Replicas"}))
            .send()
            .await
            .unwrap();
        let cookie = crate::support::session_cookie(answer.headers()).unwrap();
        let body: Value = answer.json().await.unwrap();
        (cookie, body["workspace"]["id"].as_str().unwrap().to_owned())
    }

    async fn set_plan(&self, workspace_id: &str, plan: &str) {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_availsync-server"))
            .args(["set-plan", "--plan", plan, "--workspace", workspace_id])
            .args(self.storage.cli_args(self._dir.path()))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Creates `n` agents (through different replicas) and answers their keys.
    async fn agents(&self, cookie: &str, n: usize) -> Vec<String> {
        let mut keys = Vec::new();
        for i in 0..n {
            let (status, body) = self
                .post(
                    i,
                    "/v1/agents",
                    cookie,
                    json!({"name": format!("agent-{i}")}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
            keys.push(body["api_key"].as_str().unwrap().to_owned());
        }
        keys
    }
}

fn postgres_or_skip() -> Option<Storage> {
    let storage = Storage::for_test();
    if storage.is_postgres() {
        Some(storage)
    } else {
        eprintln!(
            "replicas need a shared database: set {} to run this test",
            crate::storage::DATABASE_URL_ENV
        );
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_grant_one_claim_at_a_time_with_increasing_tokens() {
    let Some(storage) = postgres_or_skip() else {
        return;
    };
    let replicas = Arc::new(Replicas::start(storage).await);
    let (cookie, workspace_id) = replicas.signup().await;
    replicas.set_plan(&workspace_id, "business").await;
    let keys = replicas.agents(&cookie, 9).await;

    // (resource, token, granted at, finished at), all in server time.
    let grants = Arc::new(Mutex::new(Vec::<(String, u64, i64, i64)>::new()));
    let mut tasks = Vec::new();
    for (a, key) in keys.iter().enumerate() {
        let (replicas, grants, key) = (Arc::clone(&replicas), Arc::clone(&grants), key.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..40 {
                let resource = format!("project:shared-{}", (a + n) % 3);
                let run_id = format!("a{a}-{n}");
                let (status, start) = replicas
                    .post(
                        a + n,
                        "/v1/work/run/start",
                        &key,
                        json!({"resource": resource, "run_id": run_id, "ttl_seconds": 30}),
                    )
                    .await;
                assert_eq!(status, 200, "{start}");
                if start["decision"] != "proceed" {
                    continue;
                }
                let token = start["claim"]["fencing_token"].as_u64().unwrap();
                let granted = start["server_time"].as_str().unwrap().to_owned();
                // Finish through another replica than the one that granted.
                let (status, finish) = replicas
                    .post(
                        a + n + 1,
                        "/v1/work/run/finish",
                        &key,
                        json!({"run_id": run_id, "outcome": "succeeded"}),
                    )
                    .await;
                assert_eq!(status, 200, "{finish}");
                assert_eq!(finish["released"], true, "{finish}");
                let millis = |s: &str| {
                    s.parse::<availsync_types::Timestamp>()
                        .unwrap()
                        .unix_millis()
                };
                grants.lock().unwrap().push((
                    resource,
                    token,
                    millis(&granted),
                    millis(finish["server_time"].as_str().unwrap()),
                ));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let grants = grants.lock().unwrap().clone();
    let mut by_resource: BTreeMap<String, Vec<(u64, i64, i64)>> = BTreeMap::new();
    for (resource, token, granted, finished) in grants {
        by_resource
            .entry(resource)
            .or_default()
            .push((token, granted, finished));
    }
    let mut total = 0;
    for (resource, mut claims) in by_resource {
        claims.sort();
        total += claims.len();
        for pair in claims.windows(2) {
            let ((t1, g1, f1), (t2, g2, _)) = (pair[0], pair[1]);
            assert!(t2 > t1, "{resource}: token {t2} repeats {t1}");
            assert!(g2 >= g1, "{resource}: token {t2} granted before token {t1}");
            assert!(
                g2 >= f1,
                "{resource}: token {t2} granted at {g2} while token {t1} was held until {f1}"
            );
        }
    }
    assert!(total >= 20, "only {total} grants: the race did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_hold_the_plan_limit_and_never_overlap_holds() {
    let Some(storage) = postgres_or_skip() else {
        return;
    };
    let replicas = Arc::new(Replicas::start(storage).await);
    let (cookie, _) = replicas.signup().await;
    // The free plan: 3 agents, 3 live claims.
    let keys = replicas.agents(&cookie, 3).await;

    // Twelve claims on twelve resources at once, spread over the replicas:
    // exactly three are granted, the rest told the plan is full.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (replicas, key) = (Arc::clone(&replicas), keys[i % 3].clone());
        tasks.push(tokio::spawn(async move {
            let (status, start) = replicas
                .post(
                    i,
                    "/v1/work/run/start",
                    &key,
                    json!({"resource": format!("project:limit-{i}"), "ttl_seconds": 60}),
                )
                .await;
            assert_eq!(status, 200, "{start}");
            start
        }));
    }
    let mut granted = 0;
    for task in tasks {
        let start = task.await.unwrap();
        if start["decision"] == "proceed" {
            granted += 1;
        } else {
            assert_eq!(
                start["reason"]["code"], "plan_limit_active_claims",
                "{start}"
            );
        }
    }
    assert_eq!(granted, 3, "the free plan allows 3 live claims");

    // Forty overlapping holds on one calendar at once.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (replicas, key) = (Arc::clone(&replicas), keys[i % 3].clone());
        tasks.push(tokio::spawn(async move {
            let start = 9 + (i % 8);
            let body = json!({
                "resource": "calendar:room",
                "start": format!("2031-03-01T{start:02}:00:00Z"),
                "end": format!("2031-03-01T{:02}:30:00Z", start + (i % 3)),
            });
            replicas.post(i, "/v1/holds", &key, body).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            409 => assert_eq!(body["error"]["code"], "hold_conflict", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let listed: Value = replicas
        .http
        .get(format!(
            "{}/v1/holds?status=active&limit=200",
            replicas.url(1)
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut windows: Vec<(String, String)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["start"].as_str().unwrap().to_owned(),
                h["end"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(windows.len(), created);
    assert!(
        created >= 2,
        "only {created} holds: the race did not happen"
    );
    windows.sort();
    for pair in windows.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "overlapping holds: {pair:?}");
    }
}

/// Agents on every replica grow their working sets on one repository with
/// overlapping paths at once: however the adds interleave, no two live
/// edit claims ever end up overlapping, and each claim keeps its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_working_set_adds_across_replicas_never_leave_two_overlapping_claims() {
    let Some(storage) = postgres_or_skip() else {
        return;
    };
    let replicas = Arc::new(Replicas::start(storage).await);
    let (cookie, workspace_id) = replicas.signup().await;
    replicas.set_plan(&workspace_id, "business").await;
    let keys = replicas.agents(&cookie, 8).await;
    const POOL: [&str; 6] = [
        "shared/a.rs",
        "shared/b.rs",
        "shared/*.rs",
        "shared/**",
        "docs/",
        "shared/a.rs",
    ];
    let mut tasks = Vec::new();
    for (a, key) in keys.iter().enumerate() {
        let (replicas, key) = (Arc::clone(&replicas), key.clone());
        tasks.push(tokio::spawn(async move {
            let run_id = format!("ws-{a}");
            let (status, start) = replicas
                .post(
                    a,
                    "/v1/work/run/start",
                    &key,
                    json!({"resource": "repo:acme/shared", "run_id": run_id,
                           "working_set": {"paths": [format!("own/{a}.rs")]}}),
                )
                .await;
            assert_eq!(
                (status, &start["decision"]),
                (200, &json!("proceed")),
                "{start}"
            );
            let token = start["claim"]["fencing_token"].clone();
            let mut added = 0;
            for n in 0..12 {
                let path = POOL[(a * 7 + n * 5) % POOL.len()];
                let (status, body) = replicas
                    .post(
                        a + n,
                        "/v1/work/run/working-set",
                        &key,
                        json!({"run_id": run_id, "add": [path]}),
                    )
                    .await;
                match status {
                    200 => {
                        assert_eq!(body["claim"]["fencing_token"], token, "{body}");
                        added += 1;
                    }
                    409 => assert_eq!(body["error"]["code"], "paths_claimed", "{body}"),
                    other => panic!("unexpected {other}: {body}"),
                }
            }
            added
        }));
    }
    let mut added = 0;
    for task in tasks {
        added += task.await.unwrap();
    }
    assert!(added >= 1, "no add succeeded: the race did not happen");

    let (_, runs) = replicas
        .get(0, "/v1/work/runs?status=active&limit=200", &cookie)
        .await;
    let sets: Vec<Vec<availsync_types::PathPattern>> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            run["claim"]["working_set"]["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(sets.len(), 8, "every run still holds its claim");
    for (i, a) in sets.iter().enumerate() {
        for b in &sets[i + 1..] {
            assert!(
                !availsync_types::any_overlap(a, b),
                "two live edit claims overlap: {a:?} and {b:?}"
            );
        }
    }
}

/// Clients on every replica start random overlapping sets of resources
/// (two or three of six, one of them shared by a rule of capacity 2) for a
/// few seconds: every request is answered (no deadlock between replicas
/// locking in opposite orders), no resource ever has more live claims than
/// its capacity, and fencing tokens strictly increase per resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_multi_resource_starts_across_replicas_respect_capacity_and_tokens() {
    use rand::seq::IndexedRandom;
    let Some(storage) = postgres_or_skip() else {
        return;
    };
    let replicas = Arc::new(Replicas::start(storage).await);
    let (cookie, workspace_id) = replicas.signup().await;
    replicas.set_plan(&workspace_id, "business").await;
    let (status, body) = replicas
        .post(
            0,
            "/v1/rules",
            &cookie,
            json!({"resource": "pool:r0", "capacity": 2}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let keys = replicas.agents(&cookie, 8).await;
    const RESOURCES: [&str; 6] = [
        "pool:r0",
        "project:r1",
        "project:r2",
        "db:r3",
        "env:r4",
        "project:r5",
    ];
    let capacity = |resource: &str| if resource == "pool:r0" { 2 } else { 1 };
    // (resource, token, granted at, finished at), in server time.
    let grants = Arc::new(Mutex::new(Vec::<(String, u64, i64, i64)>::new()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(6);
    let mut tasks = Vec::new();
    for (a, key) in keys.iter().enumerate() {
        let (replicas, grants, key) = (Arc::clone(&replicas), Arc::clone(&grants), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0usize;
            while std::time::Instant::now() < deadline {
                n += 1;
                let size = 2 + n % 2;
                let picked: Vec<&str> = RESOURCES
                    .choose_multiple(&mut rand::rng(), size)
                    .copied()
                    .collect();
                let run_id = format!("m{a}-{n}");
                let (status, start) = replicas
                    .post(
                        a + n,
                        "/v1/work/run/start",
                        &key,
                        json!({"resources": picked, "run_id": run_id, "ttl_seconds": 30}),
                    )
                    .await;
                assert_eq!(status, 200, "{start}");
                if start["decision"] != "proceed" {
                    continue;
                }
                let granted = start["server_time"].as_str().unwrap().to_owned();
                let parts = start["claim"]["resources"].as_array().unwrap().clone();
                let (status, finish) = replicas
                    .post(
                        a + n + 1,
                        "/v1/work/run/finish",
                        &key,
                        json!({"run_id": run_id, "outcome": "succeeded"}),
                    )
                    .await;
                assert_eq!(status, 200, "{finish}");
                let millis = |s: &str| {
                    s.parse::<availsync_types::Timestamp>()
                        .unwrap()
                        .unix_millis()
                };
                let finished = millis(finish["server_time"].as_str().unwrap());
                let mut grants = grants.lock().unwrap();
                for part in parts {
                    grants.push((
                        part["resource"].as_str().unwrap().to_owned(),
                        part["fencing_token"].as_u64().unwrap(),
                        millis(&granted),
                        finished,
                    ));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let grants = grants.lock().unwrap().clone();
    let mut by_resource: BTreeMap<String, Vec<(u64, i64, i64)>> = BTreeMap::new();
    for (resource, token, granted, finished) in grants {
        by_resource
            .entry(resource)
            .or_default()
            .push((token, granted, finished));
    }
    let mut total = 0;
    for (resource, mut claims) in by_resource {
        claims.sort();
        total += claims.len();
        let tokens: Vec<u64> = claims.iter().map(|c| c.0).collect();
        let mut unique = tokens.clone();
        unique.dedup();
        assert_eq!(unique, tokens, "{resource}: a token repeats");
        // In token order, grants never go back in time.
        for pair in claims.windows(2) {
            assert!(
                pair[1].1 >= pair[0].1,
                "{resource}: token order against grant order"
            );
        }
        // At no grant were more claims live than the capacity allows.
        for &(token, granted, _) in &claims {
            let live = claims
                .iter()
                .filter(|&&(other, g, f)| other != token && g <= granted && granted < f)
                .count();
            assert!(
                live < capacity(&resource),
                "{resource}: token {token} granted while {live} others were live"
            );
        }
    }
    assert!(total >= 20, "only {total} grants: the race did not happen");
}
