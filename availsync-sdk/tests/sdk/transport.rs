//! How calls reach the server: the user's own reqwest client or
//! middleware stack, proxies from the environment, https:// with a private
//! CA, refused certificates, and what the calls' tracing spans carry.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use availsync_sdk::reqwest::header::{HeaderMap, HeaderValue};
use availsync_sdk::{
    AdminClient, Client, ClientBuilder, Outcome, RetryPolicy, RunsQuery, StartRun,
};

use crate::net::{TestCa, http_proxy, tls_proxy};
use crate::support::{World, claimed};

/// The header the tests set on their own clients: the server echoes an
/// incoming `X-Request-Id` as the answer's request id, so an error answer
/// shows that the header reached it.
const REQUEST_ID: &str = "x-request-id";

fn retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    }
}

/// A client for the server at `url` with `key`, from `builder`.
fn with_key(url: &str, key: &str, builder: ClientBuilder) -> Client {
    builder.base_url(url).api_key(key).build().unwrap()
}

/// A new agent's client for the world's server, from `builder`.
async fn agent(world: &World, name: &str, builder: ClientBuilder) -> Client {
    with_key(&world.server.url(), &world.key(name).await, builder)
}

/// Extends a run that does not exist: the server's 404 carries the
/// request id it was sent.
async fn echoed_request_id(client: &Client) -> String {
    let err = client.extend_run("run-unknown", None).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    err.api().unwrap().request_id.clone()
}

#[tokio::test]
async fn a_reqwest_client_of_the_users_own_carries_its_default_headers_to_the_server() {
    let world = World::new().await;
    let mut headers = HeaderMap::new();
    headers.insert(REQUEST_ID, HeaderValue::from_static("deploy-bot-42"));
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let client = agent(&world, "own-http", Client::builder().http_client(http)).await;
    assert_eq!(echoed_request_id(&client).await, "deploy-bot-42");
    // And the SDK's own calls work through it: claim, finish.
    let guard = claimed(&client, StartRun::new("repo:acme/web").unwrap()).await;
    guard.finish(Outcome::Succeeded).await.unwrap();
}

/// A human's client keeps its session cookie through the user's client,
/// which has no cookie store of its own.
#[tokio::test]
async fn an_admin_client_signs_in_through_the_users_own_client() {
    let world = World::new().await;
    let admin = AdminClient::with_builder(
        Client::builder()
            .base_url(world.server.url())
            .http_client(reqwest::Client::new()),
    )
    .unwrap();
    admin
        .login(&world.email, "correct horse battery")
        .await
        .unwrap();
    assert!(admin.is_signed_in());
    assert_eq!(admin.session().await.unwrap().user.email, world.email);
}

mod tagging {
    use availsync_sdk::reqwest;
    use availsync_sdk::reqwest::header::HeaderValue;
    use availsync_sdk::reqwest_middleware::{Next, Result};
    use futures::future::BoxFuture;

    /// A middleware that stamps every request with a request id.
    pub fn stamp<'a>(
        mut request: reqwest::Request,
        extensions: &'a mut http::Extensions,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<reqwest::Response>> {
        request.headers_mut().insert(
            super::REQUEST_ID,
            HeaderValue::from_static("via-middleware"),
        );
        Box::pin(next.run(request, extensions))
    }
}

#[tokio::test]
async fn calls_go_through_the_users_middleware() {
    let world = World::new().await;
    let http = availsync_sdk::reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tagging::stamp)
        .build();
    let client = agent(
        &world,
        "middleware",
        Client::builder().middleware_client(http),
    )
    .await;
    assert_eq!(echoed_request_id(&client).await, "via-middleware");
    assert_eq!(client.health().await.unwrap().status, "ok");
}

#[tokio::test]
async fn a_connection_refused_under_middleware_is_still_a_connect_error() {
    let http =
        availsync_sdk::reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let builder = Client::builder()
        .retry_policy(RetryPolicy::none())
        .middleware_client(http);
    let err = with_key("http://127.0.0.1:9", "avs_live_x", builder)
        .health()
        .await
        .unwrap_err();
    let availsync_sdk::Error::Transport { error, .. } = &err else {
        panic!("expected a transport error: {err:?}");
    };
    assert!(error.is_connect() && !error.is_tls_failure(), "{err:?}");
}

/// A certificate the client does not trust is refused at the first
/// attempt, as a TLS failure that no retry is spent on, and the message
/// names the URL and the certificate.
#[tokio::test]
async fn a_refused_certificate_is_a_tls_failure_and_is_not_retried() {
    let world = World::new().await;
    let ca = TestCa::new("Availsync test CA");
    let (port, connections) = tls_proxy(&world.server.url(), ca.server("localhost")).await;
    let url = format!("https://localhost:{port}");
    let retried = || Client::builder().retry_policy(retries(3));
    let err = with_key(&url, "avs_live_x", retried())
        .health()
        .await
        .unwrap_err();
    assert!(err.is_tls_failure(), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(connections.load(Ordering::SeqCst), 1, "it was tried again");
    let message = err.to_string();
    assert!(
        message.contains(&url) && message.to_lowercase().contains("certificate"),
        "{message}"
    );

    // The user's own client trusts the private CA, and gets through.
    let trusting = || {
        let ca = reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap()
    };
    let client = with_key(&url, "avs_live_x", retried().http_client(trusting()));
    assert_eq!(client.health().await.unwrap().status, "ok");

    // A certificate for another name is refused the same way.
    let before = connections.load(Ordering::SeqCst);
    let other_name = format!("https://127.0.0.1:{port}");
    let err = with_key(&other_name, "avs_live_x", retried().http_client(trusting()))
        .health()
        .await
        .unwrap_err();
    assert!(err.is_tls_failure(), "{err:?}");
    assert_eq!(connections.load(Ordering::SeqCst) - before, 1);
}

/// Set in a child process of this test binary (see [`in_child`]).
const CHILD: &str = "AVAILSYNC_SDK_TEST_CHILD";

/// Runs the ignored test `name` of this binary alone, in a child process
/// with `env` added: for what a process reads from its environment once,
/// or keeps in process-wide state, which the tests running side by side
/// in this process would race on. Asserts that it passed.
async fn in_child(name: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", name, "--ignored", "--nocapture"])
        .env(CHILD, "1");
    for name in [
        "AVAILSYNC_URL",
        "AVAILSYNC_API_URL",
        "AVAILSYNC_API_KEY",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        child.env_remove(name);
    }
    child.envs(env.iter().copied());
    let output = child.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `HTTPS_PROXY` and `SSL_CERT_FILE` are read from the environment when
/// the client is built, so the calls are made in a child process
/// ([`child_calls_the_server_from_the_environment`]).
#[tokio::test]
async fn the_environments_proxy_and_ca_are_used() {
    let world = World::new().await;
    let key = world.key("proxied").await;
    let ca = TestCa::new("Availsync test CA");
    let (port, connections) = tls_proxy(&world.server.url(), ca.server("localhost")).await;
    let (proxy, tunnels) = http_proxy().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let url = format!("https://localhost:{port}");
    let cert_dir = dir.path().join("none");
    in_child(
        "transport::child_calls_the_server_from_the_environment",
        &[
            ("AVAILSYNC_URL", url.as_ref()),
            ("AVAILSYNC_API_KEY", key.as_ref()),
            ("HTTPS_PROXY", proxy.as_ref()),
            ("SSL_CERT_FILE", ca_file.as_ref()),
            ("SSL_CERT_DIR", cert_dir.as_ref()),
        ],
    )
    .await;
    assert!(tunnels.load(Ordering::SeqCst) >= 1, "no CONNECT tunnel");
    assert!(connections.load(Ordering::SeqCst) >= 1, "no TLS connection");
    let page = world.admin.runs_page(&RunsQuery::default(), None).await;
    let resources: Vec<String> = page
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.resource)
        .collect();
    assert_eq!(resources, ["project:proxied"]);
}

#[tokio::test]
#[ignore = "run in a child process by the_environments_proxy_and_ca_are_used"]
async fn child_calls_the_server_from_the_environment() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let client = Client::builder()
        .from_env()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(client.base_url().starts_with("https://"));
    let guard = claimed(&client, StartRun::new("project:proxied").unwrap()).await;
    guard.finish(Outcome::Succeeded).await.unwrap();
}

/// Everything the subscriber was given, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every call has a span with its method, route, run id or resource,
/// attempt and status; the guard's extend loop has one too; and neither
/// they nor any event at any level (the SDK's, the HTTP stack's, the
/// server's, `log` records included) ever holds the key or a password.
///
/// Subscribers set for one thread share tracing's process-wide cache of
/// which call sites are enabled with the other tests' threads, so the
/// trace is taken in a child process
/// ([`child_traces_calls_without_the_key`]), alone.
#[tokio::test]
async fn spans_name_each_call_and_never_hold_a_key() {
    in_child("transport::child_traces_calls_without_the_key", &[]).await;
}

#[tokio::test]
#[ignore = "run in a child process by spans_name_each_call_and_never_hold_a_key"]
async fn child_traces_calls_without_the_key() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Records of the `log` crate (reqwest's) go to the same subscriber.
    tracing_log::LogTracer::init().unwrap();
    // The whole process: the server's blocking threads too.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let world = World::new().await;
    let key = world.key("traced").await;
    let client = Client::builder()
        .base_url(world.server.url())
        .api_key(&key)
        .build()
        .unwrap();
    let start = StartRun::new("repo:acme/traced")
        .unwrap()
        .ttl(Duration::from_secs(10));
    let run_id = start.run_id_value().to_owned();
    let guard = claimed(&client, start).await;
    // The guard extends about every ttl/3.
    tokio::time::sleep(Duration::from_millis(3_800)).await;
    guard.finish(Outcome::Succeeded).await.unwrap();
    let wrong = Client::builder()
        .base_url(world.server.url())
        .api_key(format!("{key}-wrong"))
        .build()
        .unwrap();
    assert!(wrong.health().await.is_ok());
    assert!(
        wrong
            .check("repo:acme/traced")
            .await
            .unwrap_err()
            .is_unauthenticated()
    );

    let text = captured.text();
    let secret = key.trim_start_matches("avs_live_");
    assert!(!text.contains(secret), "the key is in the trace:\n{text}");
    assert!(
        !text.contains("correct horse battery"),
        "a password is in the trace"
    );
    let calls: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("availsync.call{"))
        .collect();
    let start_span = calls
        .iter()
        .find(|l| l.contains(r#"route="/v1/work/run/start""#) && l.contains(" close "))
        .unwrap_or_else(|| panic!("no span for run/start:\n{text}"));
    for field in [
        "method=POST",
        &format!(r#"run_id="{run_id}""#),
        r#"resource="repo:acme/traced""#,
        "attempt=1",
        "status=200",
    ] {
        assert!(start_span.contains(field), "{field} missing: {start_span}");
    }
    assert!(
        calls.iter().any(|l| l.contains("availsync.guard{")
            && l.contains(r#"route="/v1/work/run/extend""#)
            && l.contains("status=200")),
        "no extend under the guard's span:\n{text}"
    );
    assert!(
        calls
            .iter()
            .any(|l| l.contains(r#"route="/v1/work/check""#) && l.contains("status=401")),
        "no span for the refused check:\n{text}"
    );
}
