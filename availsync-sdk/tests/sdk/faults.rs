//! Faults the real server cannot produce, faked with wiremock (or a raw
//! socket for a dropped connection).

use std::time::Duration;

use availsync_sdk::{Client, LossReason, RetryPolicy, RunStart, StartRun, Timestamp};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn claim_answer(ttl: u64) -> Value {
    let now = Timestamp::now();
    json!({
        "run_id": "run-mock",
        "decision": "proceed",
        "mode": "enforce",
        "replayed": false,
        "status": "active",
        "claim": {"claim_id": "clm_mock", "resource": "repo:acme/web",
                  "expires_at": now.add_millis(ttl as i64 * 1000), "ttl_seconds": ttl, "fencing_token": 7},
        "would_block": false,
        "reason": null,
        "server_time": now,
    })
}

fn extend_answer(ttl: u64) -> Value {
    let now = Timestamp::now();
    json!({
        "run_id": "run-mock",
        "claim": {"claim_id": "clm_mock", "resource": "repo:acme/web",
                  "expires_at": now.add_millis(ttl as i64 * 1000), "ttl_seconds": ttl, "fencing_token": 7},
        "server_time": now,
    })
}

fn error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"code": code, "message": format!("mocked {code}"), "request_id": "req_mock"}
    }))
}

/// A mock server that answers a request no test's mock expects with a
/// 500 (which the SDK does not retry), so that it fails loudly.
async fn mock_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": {"code": "internal", "message": "no mock expects this request", "request_id": "req_unexpected"}
        })))
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    server
}

async fn mock_server_granting(ttl: u64) -> MockServer {
    let server = mock_server().await;
    Mock::given(method("POST"))
        .and(path("/v1/work/run/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(claim_answer(ttl)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/work/run/finish"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "run_id": "run-mock", "status": "finished", "released": true,
            "outcome": "cancelled", "server_time": Timestamp::now()
        })))
        .mount(&server)
        .await;
    server
}

fn client(url: &str, timeout: Duration) -> Client {
    Client::builder()
        .base_url(url)
        .api_key("avs_live_mock")
        .timeout(timeout)
        .retry_policy(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        })
        .build()
        .unwrap()
}

async fn claimed(client: &Client) -> availsync_sdk::RunGuard {
    match client
        .claim(
            StartRun::new("repo:acme/web")
                .unwrap()
                .ttl(Duration::from_secs(10)),
        )
        .await
        .unwrap()
    {
        RunStart::Claimed(guard) => guard,
        other => panic!("expected a claim: {other:?}"),
    }
}

#[tokio::test]
async fn a_503_on_extend_is_retried_and_the_lease_is_kept() {
    let server = mock_server_granting(10).await;
    Mock::given(method("POST"))
        .and(path("/v1/work/run/extend"))
        .respond_with(error(503, "unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/work/run/extend"))
        .respond_with(ResponseTemplate::new(200).set_body_json(extend_answer(10)))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = client(&server.uri(), Duration::from_secs(2));
    let guard = claimed(&client).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(guard.is_held(), "{:?}", guard.state());
    assert!(matches!(
        guard.state(),
        availsync_sdk::LeaseState::Held { .. }
    ));
    let extends = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/work/run/extend")
        .count();
    assert!(extends >= 2, "the 503 was not retried ({extends} extends)");
    guard
        .finish(availsync_sdk::Outcome::Succeeded)
        .await
        .unwrap();
}

#[tokio::test]
async fn extends_that_time_out_until_expiry_report_the_loss_before_expires_at() {
    let server = mock_server_granting(10).await;
    Mock::given(method("POST"))
        .and(path("/v1/work/run/extend"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(extend_answer(10))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let client = client(&server.uri(), Duration::from_secs(1));
    let started = Instant::now();
    let guard = claimed(&client).await;
    let expires_at = guard.expires_at();
    let token = guard.cancellation_token();
    let reason = tokio::time::timeout(Duration::from_secs(15), guard.lost())
        .await
        .unwrap();
    assert_eq!(reason, LossReason::Expired);
    assert!(token.is_cancelled());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "lost fired after the lease lapsed"
    );
    assert!(Timestamp::now() < expires_at, "lost fired after expires_at");
}

#[tokio::test]
async fn a_409_lease_lost_fires_within_one_extend_interval() {
    let server = mock_server_granting(10).await;
    Mock::given(method("POST"))
        .and(path("/v1/work/run/extend"))
        .respond_with(error(409, "lease_lost"))
        .mount(&server)
        .await;
    let client = client(&server.uri(), Duration::from_secs(2));
    let started = Instant::now();
    let guard = claimed(&client).await;
    let reason = guard.lost().await;
    assert_eq!(reason, LossReason::Revoked);
    assert!(
        started.elapsed() < Duration::from_millis(10_000 / 3 + 1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let server = mock_server().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(error(429, "rate_limited").insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "ok", "version": "x", "storage": "ok"})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let client = client(&server.uri(), Duration::from_secs(2));
    let started = Instant::now();
    assert_eq!(client.health().await.unwrap().status, "ok");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not respected"
    );
}

/// Reads one HTTP request (headers and a Content-Length body) from a socket.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap();
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length: usize = text[..head_end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buffer.len() >= head_end + 4 + length {
                return text[head_end + 4..].to_owned();
            }
        }
        if n == 0 {
            return String::new();
        }
    }
}

#[tokio::test]
async fn a_start_retried_after_a_dropped_connection_sends_the_same_run_id() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut bodies = Vec::new();
        // First connection: read the start, then drop it unanswered.
        let (mut socket, _) = listener.accept().await.unwrap();
        bodies.push(read_request(&mut socket).await);
        drop(socket);
        // Second: answer it.
        let (mut socket, _) = listener.accept().await.unwrap();
        bodies.push(read_request(&mut socket).await);
        let body = claim_answer(60).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        bodies
    });
    let client = client(&url, Duration::from_secs(2));
    let start = StartRun::new("repo:acme/web").unwrap();
    let answer = client.start_run(&start).await.unwrap();
    assert_eq!(answer.claim.unwrap().fencing_token, 7);
    let bodies = server.await.unwrap();
    let run_ids: Vec<String> = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["run_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(run_ids.len(), 2);
    assert_eq!(run_ids[0], run_ids[1]);
    assert_eq!(run_ids[0], start.run_id_value());
}

#[tokio::test]
async fn an_undecodable_answer_keeps_the_raw_body() {
    let server = mock_server().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy error</html>"))
        .mount(&server)
        .await;
    let err = client(&server.uri(), Duration::from_secs(2))
        .health()
        .await
        .unwrap_err();
    let availsync_sdk::Error::Decode { body, status, .. } = err else {
        panic!("expected a decode error: {err:?}");
    };
    assert_eq!((status, body.as_str()), (200, "<html>proxy error</html>"));
}
