//! Many agents race on a few resources while leases lapse: no two granted
//! claims on one resource ever overlap in server time, and fencing tokens are
//! unique and increase in grant order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use availsync_types::{Plan, Timestamp};
use rand::Rng;
use serde_json::json;

use crate::support::{Agent, TestServer};

/// One lease as the clients saw it: granted at `start`, held until `end`.
#[derive(Debug, Clone)]
struct Lease {
    token: u64,
    start: Timestamp,
    end: Timestamp,
}

fn ts(value: &serde_json::Value) -> Timestamp {
    value.as_str().unwrap().parse().unwrap()
}

async fn worker(
    agent: Agent<'_>,
    seed: u64,
    until: Instant,
    leases: Arc<Mutex<BTreeMap<String, Vec<Lease>>>>,
) -> (u32, u32) {
    let (mut granted, mut skipped) = (0, 0);
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let (resource, extends, finish, pause) = {
            let mut rng = rand::rng();
            (
                format!("repo:acme/r{}", rng.random_range(0..3)),
                rng.random_range(0..3),
                rng.random_bool(0.7),
                rng.random_range(0..15),
            )
        };
        let run_id = format!("w{seed}-{n}");
        let start = agent
            .start(json!({"resource": resource, "ttl_seconds": 10, "run_id": run_id}))
            .await;
        if start["decision"] != "proceed" {
            skipped += 1;
            continue;
        }
        granted += 1;
        let begin = ts(&start["server_time"]);
        let token = start["claim"]["fencing_token"].as_u64().unwrap();
        let mut expires = ts(&start["claim"]["expires_at"]);
        let mut lost = false;
        for _ in 0..extends {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let answer = agent.extend(&run_id).await;
            if answer.status == 200 {
                expires = ts(&answer.body["claim"]["expires_at"]);
            } else {
                answer.expect_error(409, "lease_lost");
                lost = true;
                break;
            }
        }
        let end = if finish && !lost {
            let done = agent.finish(&run_id, "succeeded").await.expect(200);
            if done["released"] == true {
                ts(&done["server_time"])
            } else {
                expires
            }
        } else {
            // Abandoned: the lease runs until it lapses.
            expires
        };
        leases
            .lock()
            .unwrap()
            .entry(resource)
            .or_default()
            .push(Lease {
                token,
                start: begin,
                end,
            });
    }
    (granted, skipped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_agents_never_hold_one_resource_at_once() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    server.set_plan(&human.workspace_id, Plan::Business).await;
    let mut agents = Vec::new();
    for i in 0..8 {
        agents.push(human.agent(&format!("agent-{i}")).await);
    }
    let until = Instant::now() + Duration::from_secs(3);
    // Server time runs 50x faster than wall time, so 10 s leases lapse
    // while the race goes on.
    let clock = server.clock.clone();
    let ticker = tokio::spawn(async move {
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
            clock.advance(Duration::from_secs(1));
        }
    });
    let leases = Arc::new(Mutex::new(BTreeMap::new()));
    let results = futures::future::join_all(
        agents
            .into_iter()
            .enumerate()
            .map(|(i, agent)| worker(agent, i as u64, until, Arc::clone(&leases))),
    )
    .await;
    ticker.await.unwrap();

    let granted: u32 = results.iter().map(|r| r.0).sum();
    let skipped: u32 = results.iter().map(|r| r.1).sum();
    assert!(
        granted >= 20 && skipped >= 20,
        "too little contention: {granted} granted, {skipped} skipped"
    );

    let leases = leases.lock().unwrap();
    for (resource, list) in leases.iter() {
        let mut list = list.clone();
        list.sort_by_key(|l| (l.start, l.token));
        for pair in list.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(
                b.start >= a.end,
                "{resource}: token {} granted at {} while token {} held until {}",
                b.token,
                b.start,
                a.token,
                a.end
            );
            assert!(
                b.token > a.token,
                "{resource}: token {} after {}",
                b.token,
                a.token
            );
        }
    }
}

/// A client that sends the same start several times at once (a retry that
/// overtakes the original, a proxy that repeats a request) gets one run and
/// one claim, the same answer every time, and never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_starts_with_one_run_id_all_answer_the_same_claim() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    server.set_plan(&human.workspace_id, Plan::Business).await;
    let agent = human.agent("retrier").await;
    for round in 0..5 {
        let body = json!({"resource": format!("project:retried-{round}"), "run_id": format!("retry-{round}")});
        let answers = futures::future::join_all(
            (0..8).map(|_| agent.post("/v1/work/run/start", body.clone())),
        )
        .await;
        let answers: Vec<_> = answers.into_iter().map(|a| a.expect(200)).collect();
        for answer in &answers {
            assert_eq!(answer["decision"], "proceed", "{answer}");
            assert_eq!(answer["claim"], answers[0]["claim"], "{answer}");
        }
        assert_eq!(
            answers.iter().filter(|a| a["replayed"] == false).count(),
            1,
            "exactly one start is the original: {answers:?}"
        );
    }
}
