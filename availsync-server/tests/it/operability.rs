//! What an operator sees (SPEC §16): metrics that move with traffic, one
//! JSON object per log line with an access line per request, and no key in
//! any of it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use availsync_server::ServerConfig;
use serde_json::json;

use crate::child::free_port;
use crate::storage::Storage;
use crate::support::{TestServer, run_id};

/// One sample's value from Prometheus text: the line starting `name{labels`
/// (labels given as they appear, in order) or `name ` when none are given.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{name}{{{}", labels.join(","))
    };
    text.lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(metrics: SocketAddr) -> String {
    let answer = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    answer.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_decisions_extends_requests_and_writes_after_traffic() {
    let server = TestServer::start_configured(&Storage::for_test(), |config| ServerConfig {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..config
    })
    .await;
    let metrics = server.server.metrics_addr().expect("a metrics listener");
    // The API's listener does not serve metrics.
    let public = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);

    let before = scrape(metrics).await;
    let agent = server.signup().await.agent("metered").await;
    let granted = agent.start_on("repo:metrics/one").await;
    let other = server.signup().await.agent("other").await;
    let _ = other.start_on("repo:metrics/two").await;
    let skipped = agent
        .start(json!({"resource": "repo:metrics/one", "run_id": "second"}))
        .await;
    assert_eq!(skipped["decision"], "skip_run");
    agent.extend(&run_id(&granted)).await.expect(200);
    agent
        .finish(&run_id(&granted), "succeeded")
        .await
        .expect(200);
    agent
        .extend(&run_id(&granted))
        .await
        .expect_error(409, "lease_lost");
    let after = scrape(metrics).await;

    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    let proceed = [("decision", "proceed"), ("mode", "enforce")];
    let skip = [("decision", "skip_run"), ("mode", "enforce")];
    assert!(
        delta("availsync_decisions_total", &proceed) >= 2.0,
        "{after}"
    );
    assert!(delta("availsync_decisions_total", &skip) >= 1.0, "{after}");
    assert!(delta("availsync_extends_total", &[("outcome", "extended")]) >= 1.0);
    assert!(delta("availsync_extends_total", &[("outcome", "lease_lost")]) >= 1.0);
    assert!(delta("availsync_leases_lost_total", &[]) >= 1.0);
    let start = [
        ("method", "POST"),
        ("route", "/v1/work/run/start"),
        ("status", "200"),
    ];
    assert!(
        delta("availsync_http_requests_total", &start) >= 3.0,
        "{after}"
    );
    let timed = [("method", "POST"), ("route", "/v1/work/run/start")];
    assert!(delta("availsync_http_request_duration_seconds_count", &timed) >= 3.0);
    assert!(
        delta(
            "availsync_storage_write_duration_seconds_count",
            &[("outcome", "ok")]
        ) >= 5.0,
        "{after}"
    );
    assert!(
        sample(&after, "availsync_live_claims", &[]) >= 1.0,
        "the other agent's claim is live: {after}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_an_access_line_and_no_key() {
    let storage = Storage::for_test();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_availsync-server"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--insecure-http",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(storage.cli_args(dir.path()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..400 {
        if http.get(format!("{url}/livez")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key = format!("avs_live_{}", "K".repeat(43));
    let answer = http
        .get(format!("{url}/v1/work/runs?api_key={key}"))
        .header("x-request-id", "trace-me-1")
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let _ = http
        .get(format!("{url}/v1/agents/{key}"))
        .send()
        .await
        .unwrap();
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines: Vec<String> = BufReader::new(stderr).lines().map(Result::unwrap).collect();
    child.wait().unwrap();

    assert!(!lines.is_empty());
    let mut access = None;
    for line in &lines {
        assert!(!line.contains(&key), "a key reached the logs: {line}");
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if object["request_id"] == "trace-me-1" && object["message"] == "request" {
            access = Some(object);
        }
    }
    let access = access.expect("an access line for the request");
    assert_eq!(access["route"], "/v1/work/runs");
    assert_eq!(access["status"], 401);
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/v1/work/runs");
    assert!(access["latency_ms"].is_number(), "{access}");
    assert_eq!(access["level"], "INFO");
}
