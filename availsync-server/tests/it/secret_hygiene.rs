//! No secret — password, API key (old or new), session token, or a wrong
//! password or key someone tried — reaches the logs or the database files.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use availsync_server::{RunningServer, ServerConfig};

use crate::storage::Storage;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::{Answer, session_cookie, unique_email};

/// Everything every thread of this test binary logs, at TRACE, from the
/// moment the first caller asks for it.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(FmtSpan::NEW | FmtSpan::CLOSE)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .try_init()
            .expect("no other global subscriber in this test binary");
        logs
    }))
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers: HeaderMap = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// The bytes of every file under `dir` (the database, its WAL and SHM).
/// While the server runs, its checkpointer may remove a file between the
/// listing and the read: such a file holds nothing any longer and is
/// skipped.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if gone(&e) => return files,
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) if gone(&e) => continue,
            Err(e) => panic!("cannot list {}: {e}", dir.display()),
        };
        if path.is_dir() {
            files.extend(files_under(&path));
            continue;
        }
        match std::fs::read(&path) {
            Ok(bytes) => files.push((path.display().to_string(), bytes)),
            Err(e) if gone(&e) => {}
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        }
    }
    files
}

/// What the store holds: the SQLite files, or every PostgreSQL table of the
/// test's schema as text (where a BYTEA shows as `\\x` and hex).
async fn stored(storage: &Storage, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Some(database) = &storage.database else {
        return files_under(dir);
    };
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let schema = database.schema.clone().unwrap();
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut dump = Vec::new();
    for table in tables {
        let text: Option<String> = client
            .query_one(
                &format!("SELECT string_agg(t::text, E'\\n') FROM {schema}.{table} t"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        dump.push((
            format!("table {table}"),
            text.unwrap_or_default().into_bytes(),
        ));
    }
    dump
}

/// A SHA-256 digest, raw (SQLite) or as BYTEA text (PostgreSQL).
fn contains_digest(haystack: &[u8], digest: &[u8]) -> bool {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    contains(haystack, digest) || contains(haystack, format!("\\x{hex}").as_bytes())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Names of the secrets found in `bytes`.
fn leaked<'s>(bytes: &[u8], secrets: &'s [(&'static str, String)]) -> Vec<&'s str> {
    secrets
        .iter()
        .filter(|(_, secret)| contains(bytes, secret.as_bytes()))
        .map(|(name, _)| *name)
        .collect()
}

#[tokio::test]
async fn secrets_never_reach_the_logs_or_the_database_files() {
    let logs = captured_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::for_test();
    let server = RunningServer::start(storage.apply(ServerConfig::ephemeral(dir.path())))
        .await
        .unwrap();
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        url: server.url(),
    };
    let email = unique_email();
    let password = "hygiene-password-7Qe2xV9".to_owned();
    let wrong_password = "hygiene-wrong-password-K4m8".to_owned();
    let wrong_key = "avs_live_hygieneWrongKeyZZ8rT2pL0qW3eX5cV7bN9mA1sD4fG6h".to_owned();

    // Sign up, fail to log in, log in.
    let signup = client
        .send(
            Method::POST,
            "/v1/auth/signup",
            &[],
            Some(json!({"email": email, "password": password, "workspace_name": "Hygiene"})),
        )
        .await;
    let signup_cookie = session_cookie(&signup.headers).unwrap();
    signup.expect(201);
    client
        .send(
            Method::POST,
            "/v1/auth/login",
            &[],
            Some(json!({"email": email, "password": wrong_password})),
        )
        .await
        .expect_error(401, "unauthenticated");
    let login = client
        .send(
            Method::POST,
            "/v1/auth/login",
            &[],
            Some(json!({"email": email, "password": password})),
        )
        .await;
    let cookie = session_cookie(&login.headers).unwrap();
    login.expect(200);
    let human: &[(&str, &str)] = &[("cookie", &cookie)];

    // An agent, its key, and work with it.
    let created = client
        .send(
            Method::POST,
            "/v1/agents",
            human,
            Some(json!({"name": "hygiene-agent"})),
        )
        .await
        .expect(201);
    let agent_id = created["agent"]["id"].as_str().unwrap().to_owned();
    let old_key = created["api_key"].as_str().unwrap().to_owned();
    work(&client, &old_key, "repo:hygiene/old-key").await;

    let rotated = client
        .send(
            Method::POST,
            &format!("/v1/agents/{agent_id}/rotate-key"),
            human,
            None,
        )
        .await
        .expect(200);
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    let old_bearer = format!("Bearer {old_key}");
    client
        .send(
            Method::GET,
            "/v1/activity",
            &[("authorization", &old_bearer)],
            None,
        )
        .await
        .expect_error(401, "unauthenticated");
    work(&client, &new_key, "repo:hygiene/new-key").await;
    // A key pasted where it does not belong: in a query string and a path.
    let bearer = format!("Bearer {new_key}");
    for path in [
        format!("/v1/work/runs?api_key={new_key}"),
        format!("/v1/agents/{new_key}"),
    ] {
        let answer = client
            .send(Method::GET, &path, &[("authorization", &bearer)], None)
            .await;
        assert!(answer.status.is_client_error(), "{path}: {}", answer.status);
    }

    // Failed authentications: a wrong key, a key without `Bearer `, a
    // session token that was never issued.
    let wrong_bearer = format!("Bearer {wrong_key}");
    let wrong_cookie = format!("availsync_session={wrong_key}");
    for headers in [
        [("authorization", wrong_bearer.as_str())],
        [("authorization", new_key.as_str())],
        [("cookie", wrong_cookie.as_str())],
    ] {
        client
            .send(
                Method::POST,
                "/v1/work/run/start",
                &headers,
                Some(json!({"resource": "repo:hygiene/refused"})),
            )
            .await
            .expect_error(401, "unauthenticated");
    }

    // The human's reads, then log out.
    for path in ["/v1/activity", "/v1/audit", "/v1/agents", "/v1/session"] {
        client
            .send(Method::GET, path, human, None)
            .await
            .expect(200);
    }
    client
        .send(Method::POST, "/v1/auth/logout", human, None)
        .await
        .expect(204);
    client
        .send(Method::GET, "/v1/session", human, None)
        .await
        .expect_error(401, "unauthenticated");

    let token = |cookie: &str| cookie.split_once('=').unwrap().1.to_owned();
    let secrets = [
        ("password", password),
        ("wrong password", wrong_password),
        ("old API key", old_key.clone()),
        ("new API key", new_key.clone()),
        ("wrong API key", wrong_key),
        ("sign-up session token", token(&signup_cookie)),
        ("log-in session token", token(&cookie)),
    ];

    // The database files, while the server runs (fresh writes sit in the
    // WAL) and after it has stopped (checkpointed into the main file).
    let running = stored(&storage, dir.path()).await;
    server.shutdown().await;
    let stopped = stored(&storage, dir.path()).await;
    let mut on_disk = Vec::new();
    for (name, bytes) in running.iter().chain(&stopped) {
        for secret in leaked(bytes, &secrets) {
            on_disk.push(format!("{secret} in {name}"));
        }
    }
    assert!(
        on_disk.is_empty(),
        "secrets stored in plain text:\n{}",
        on_disk.join("\n")
    );
    // What is stored instead: SHA-256 of the key and of the session token,
    // and an argon2id hash of the password.
    let all: Vec<u8> = stopped.iter().flat_map(|(_, b)| b.clone()).collect();
    assert!(
        stopped
            .iter()
            .any(|(name, _)| name.ends_with("availsync.db") || name == "table sessions"),
        "no database in {stopped:?}",
        stopped = stopped.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert!(contains_digest(&all, &Sha256::digest(new_key.as_bytes())));
    assert!(contains_digest(
        &all,
        &Sha256::digest(token(&cookie).as_bytes())
    ));
    assert!(contains(&all, b"$argon2id$v=19$m=19456,t=2,p=1$"));

    // The logs: not empty, and they saw this test's requests.
    let logs = logs
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let text = String::from_utf8_lossy(&logs);
    assert!(
        text.contains(&format!("path=/v1/agents/{agent_id}/rotate-key")),
        "the logs do not show this test's requests ({} bytes captured)",
        logs.len()
    );
    for expected in [
        "request{method=POST route=/v1/auth/login",
        "request{method=POST route=/v1/work/run/start",
        "path=/v1/agents/avs_live_[redacted]",
    ] {
        assert!(text.contains(expected), "the logs lack {expected:?}");
    }
    let in_logs = leaked(&logs, &secrets);
    assert!(in_logs.is_empty(), "secrets in the logs: {in_logs:?}");
}

/// Start, extend and finish a run, hold and release a window, and read
/// what an agent may read, with `key`.
async fn work(client: &Client, key: &str, resource: &str) {
    let bearer = format!("Bearer {key}");
    let agent: &[(&str, &str)] = &[("authorization", &bearer)];
    let started = client
        .send(
            Method::POST,
            "/v1/work/run/start",
            agent,
            Some(json!({"resource": resource, "purpose": "hygiene"})),
        )
        .await
        .expect(200);
    assert_eq!(started["decision"], "proceed");
    let run_id = started["run_id"].as_str().unwrap();
    client
        .send(
            Method::POST,
            "/v1/work/run/extend",
            agent,
            Some(json!({"run_id": run_id, "ttl_seconds": 120})),
        )
        .await
        .expect(200);
    client
        .send(
            Method::POST,
            "/v1/work/run/finish",
            agent,
            Some(json!({"run_id": run_id, "outcome": "succeeded"})),
        )
        .await
        .expect(200);
    let calendar = format!("calendar:{}", resource.replace(['/', ':'], "-"));
    let window = json!({"resource": calendar, "start": "2030-03-01T09:00:00Z", "end": "2030-03-01T10:00:00Z"});
    let hold = client
        .send(Method::POST, "/v1/holds", agent, Some(window.clone()))
        .await
        .expect(201);
    client
        .send(Method::POST, "/v1/conflicts/check", agent, Some(window))
        .await
        .expect(200);
    let hold_id = hold["hold"]["hold_id"].as_str().unwrap();
    client
        .send(Method::DELETE, &format!("/v1/holds/{hold_id}"), agent, None)
        .await
        .expect(204);
    for path in [
        "/v1/activity",
        "/v1/holds",
        "/v1/work/runs",
        "/v1/availability?resource=calendar:x&from=2030-03-01T00:00:00Z&to=2030-03-02T00:00:00Z",
    ] {
        client
            .send(Method::GET, path, agent, None)
            .await
            .expect(200);
    }
    client
        .send(Method::POST, "/v1/activity/usage", agent, Some(json!({})))
        .await
        .expect(200);
}
