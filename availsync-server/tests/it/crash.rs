//! `kill -9` of a child-process server while 16 clients claim and finish:
//! after a restart every claim acknowledged as granted (and not finished) is
//! still live, and no resource has two live claims.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::child::{Storage, spawn_server};

#[derive(Default)]
struct Ledger {
    /// run_id → (agent index, resource, fencing token), acknowledged grants.
    granted: BTreeMap<String, (usize, String, u64)>,
    /// Runs whose finish was acknowledged.
    finished: BTreeSet<String>,
    /// Runs whose finish was sent but not answered (may or may not be done).
    uncertain: BTreeSet<String>,
}

async fn client(
    index: usize,
    round: usize,
    url: String,
    key: String,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let run_id = format!("c{index}-r{round}-{n}");
        let resource = format!("project:r{}", (index * 7 + n) % 12);
        let sent = http
            .post(format!("{url}/v1/work/run/start"))
            .bearer_auth(&key)
            .json(&json!({"resource": resource, "run_id": run_id, "ttl_seconds": 600}))
            .send()
            .await;
        let Ok(response) = sent else { return };
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        if body["decision"] != "proceed" {
            continue;
        }
        let token = body["claim"]["fencing_token"].as_u64().unwrap();
        ledger
            .lock()
            .unwrap()
            .granted
            .insert(run_id.clone(), (index, resource, token));
        if n % 2 == 0 {
            ledger.lock().unwrap().uncertain.insert(run_id.clone());
            let finished = http
                .post(format!("{url}/v1/work/run/finish"))
                .bearer_auth(&key)
                .json(&json!({"run_id": run_id, "outcome": "succeeded"}))
                .send()
                .await;
            let Ok(response) = finished else { return };
            if response.status() == 200 && response.json::<Value>().await.is_ok() {
                let mut ledger = ledger.lock().unwrap();
                ledger.uncertain.remove(&run_id);
                ledger.finished.insert(run_id);
            } else {
                return;
            }
        }
    }
}

/// Every active run in the workspace, as (agent id, run id, resource).
async fn active_runs(url: &str, key: &str) -> Vec<(String, String, String)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{url}/v1/work/runs?status=active&limit=200");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(path)
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            out.push((
                item["agent_id"].as_str().unwrap().to_owned(),
                item["run_id"].as_str().unwrap().to_owned(),
                item["resource"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_claim_and_never_doubles_one() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::for_test();
    let mut server = spawn_server(dir.path(), &storage).await;
    let http = reqwest::Client::new();
    let signup = http
        .post(format!("{}/v1/auth/signup", server.url))
        .json(&json!({"email": "crash@example.com", "password": "correct horse battery", "workspace_name": "Crash"}))
        .send()
        .await
        .unwrap();
    let cookie = crate::support::session_cookie(signup.headers()).unwrap();
    let workspace: Value = signup.json().await.unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_availsync-server"))
        .args(["set-plan", "--plan", "business", "--workspace"])
        .arg(workspace["workspace"]["id"].as_str().unwrap())
        .args(storage.cli_args(dir.path()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut agents = Vec::new();
    for i in 0..16 {
        let created: Value = http
            .post(format!("{}/v1/agents", server.url))
            .header("cookie", &cookie)
            .json(&json!({"name": format!("agent-{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        agents.push((
            created["agent"]["id"].as_str().unwrap().to_owned(),
            created["api_key"].as_str().unwrap().to_owned(),
        ));
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = agents
            .iter()
            .enumerate()
            .map(|(i, (_, key))| {
                tokio::spawn(client(
                    i,
                    round,
                    server.url.clone(),
                    key.clone(),
                    Arc::clone(&stop),
                    Arc::clone(&ledger),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700 + 300 * round as u64)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.unwrap();
        }
        server = spawn_server(dir.path(), &storage).await;

        let active = active_runs(&server.url, &agents[0].1).await;
        let mut per_resource: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, _, resource) in &active {
            *per_resource.entry(resource).or_default() += 1;
        }
        for (resource, count) in &per_resource {
            assert_eq!(
                *count, 1,
                "round {round}: {resource} has {count} live claims"
            );
        }
        let live: BTreeSet<(String, String)> = active
            .iter()
            .map(|(a, r, _)| (a.clone(), r.clone()))
            .collect();
        let ledger = ledger.lock().unwrap();
        assert!(
            ledger.granted.len() > 10,
            "round {round}: too few grants to mean anything"
        );
        let mut tokens: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
        for (run_id, (agent, resource, token)) in &ledger.granted {
            assert!(
                tokens.entry(resource).or_default().insert(*token),
                "fencing token {token} of {resource} granted twice"
            );
            let is_live = live.contains(&(agents[*agent].0.clone(), run_id.clone()));
            if ledger.finished.contains(run_id) {
                assert!(!is_live, "finished run {run_id} is live again");
            } else if !ledger.uncertain.contains(run_id) {
                assert!(
                    is_live,
                    "round {round}: acknowledged grant {run_id} was lost"
                );
            }
        }
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
