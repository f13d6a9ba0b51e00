//! `GET /v1/events` (SPEC §14): live delivery, filters, keep-alive,
//! resuming by `Last-Event-ID` and `?after=`, unknown ids, slow readers,
//! shutdown; and, on PostgreSQL, commit-ordered cursors across two
//! replicas for the stream and for `GET /v1/activity` paging.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::storage::Storage;
use crate::support::{Auth, TestServer, run_id};

/// One frame of a stream: an event, or a comment line.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
}

/// An open event stream, read frame by frame.
pub struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// Opens `/v1/events{query}` and asserts a `200 text/event-stream`.
    pub async fn open(url: &str, auth: &Auth, query: &str, last_event_id: Option<&str>) -> Self {
        let response = request(url, auth, query, last_event_id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "{:?}",
            response.text().await
        );
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the stream ended or nothing came
    /// within `wait`.
    pub async fn frame(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                for line in block.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        frame.comment = Some(comment.trim().to_owned());
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match field {
                            "id" => frame.id = Some(value.to_owned()),
                            "event" => frame.event = Some(value.to_owned()),
                            "data" => {
                                if !frame.data.is_empty() {
                                    frame.data.push('\n');
                                }
                                frame.data.push_str(value);
                            }
                            _ => {}
                        }
                    }
                }
                return Some(frame);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event (comments skipped); panics after `wait` without one.
    pub async fn event(&mut self, wait: Duration) -> Frame {
        loop {
            let frame = self.frame(wait).await.expect("an event");
            if frame.comment.is_none() {
                return frame;
            }
        }
    }

    /// The next event, or `None` when the stream ends or is silent for
    /// `wait`.
    pub async fn try_event(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            let frame = self.frame(wait).await?;
            if frame.comment.is_none() {
                return Some(frame);
            }
        }
    }
}

fn request(
    url: &str,
    auth: &Auth,
    query: &str,
    last_event_id: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new().get(format!("{url}/v1/events{query}"));
    request = match auth {
        Auth::None => request,
        Auth::Cookie(cookie) => request.header("cookie", cookie),
        Auth::Key(key) => request.bearer_auth(key),
    };
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request
}

const WAIT: Duration = Duration::from_secs(10);

/// The workspace's activity, oldest first.
async fn activity_oldest_first(server: &TestServer, auth: &Auth) -> Vec<Value> {
    let mut items = server
        .call(Method::GET, "/v1/activity?limit=200", auth, None)
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    items.reverse();
    items
}

#[tokio::test]
async fn a_stream_delivers_what_commits_after_it_opened_exactly_as_activity_lists_it() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    agent.start_on("repo:acme/before").await;

    let mut by_key = Stream::open(&server.url, &agent.auth(), "", None).await;
    let mut by_cookie = Stream::open(&server.url, &human.auth, "", None).await;
    let started = agent.start_on("repo:acme/web").await;
    agent
        .finish(&run_id(&started), "succeeded")
        .await
        .expect(200);

    let listed = activity_oldest_first(&server, &agent.auth()).await;
    let expected = &listed[1..];
    let before = listed[0]["id"].as_str().unwrap();
    for stream in [&mut by_key, &mut by_cookie] {
        for item in expected {
            let mut frame = stream.event(WAIT).await;
            // On PostgreSQL, an event committed before the connection but
            // held back longer than a stream's start waits (a transaction
            // open over 5 s on the shared cluster) comes first.
            if frame.id.as_deref() == Some(before) {
                frame = stream.event(WAIT).await;
            }
            assert_eq!(frame.id.as_deref(), item["id"].as_str());
            assert_eq!(frame.event.as_deref(), item["kind"].as_str());
            let data: Value = serde_json::from_str(&frame.data).unwrap();
            assert_eq!(&data, item);
        }
    }
    assert_eq!(expected[0]["resource"], "repo:acme/web");
    assert_eq!(expected.len(), 2);
}

#[tokio::test]
async fn a_stream_sees_only_its_workspace_and_its_filters() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let other = server.signup().await.agent("stranger").await;

    let mut stream = Stream::open(
        &server.url,
        &agent.auth(),
        "?resource=repo:acme/web&kind=run_finished",
        None,
    )
    .await;
    other.start_on("repo:acme/web").await;
    let elsewhere = agent.start_on("repo:acme/api").await;
    agent
        .finish(&run_id(&elsewhere), "succeeded")
        .await
        .expect(200);
    let here = agent.start_on("repo:acme/web").await;
    agent.finish(&run_id(&here), "failed").await.expect(200);

    let frame = stream.event(WAIT).await;
    let data: Value = serde_json::from_str(&frame.data).unwrap();
    assert_eq!(frame.event.as_deref(), Some("run_finished"));
    assert_eq!(data["resource"], "repo:acme/web");
    assert_eq!(data["run_id"], here["run_id"]);

    // The same validation as GET /v1/activity.
    for (query, field) in [
        ("?kind=run_exploded", "kind"),
        ("?resource=nope", "resource"),
    ] {
        let answer = server
            .raw(request(&server.url, &agent.auth(), query, None))
            .await;
        answer.expect_error(
            400,
            if field == "kind" {
                "invalid_request"
            } else {
                "invalid_resource"
            },
        );
        assert_eq!(answer.body["error"]["field"], field);
    }
    server
        .raw(request(&server.url, &Auth::None, "", None))
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn a_quiet_stream_sends_keep_alive_comments() {
    let storage = Storage::for_test();
    let server = TestServer::start_configured(&storage, |config| availsync_server::ServerConfig {
        events_keep_alive: Duration::from_millis(200),
        ..config
    })
    .await;
    let agent = server.signup().await.agent("ci-bot").await;
    let mut stream = Stream::open(&server.url, &agent.auth(), "", None).await;
    for _ in 0..2 {
        let frame = stream.frame(Duration::from_secs(5)).await.expect("a frame");
        assert_eq!(frame.comment.as_deref(), Some("keep-alive"), "{frame:?}");
    }
}

#[tokio::test]
async fn a_stream_outlives_the_header_read_timeout() {
    let storage = Storage::for_test();
    let server = TestServer::start_configured(&storage, |config| availsync_server::ServerConfig {
        events_keep_alive: Duration::from_millis(300),
        limits: availsync_server::ConnectionLimits {
            header_read_timeout: Duration::from_millis(500),
            ..config.limits
        },
        ..config
    })
    .await;
    let agent = server.signup().await.agent("ci-bot").await;
    let mut stream = Stream::open(&server.url, &agent.auth(), "", None).await;
    let open = std::time::Instant::now();
    while open.elapsed() < Duration::from_secs(2) {
        let frame = stream
            .frame(Duration::from_secs(2))
            .await
            .expect("still open");
        assert_eq!(frame.comment.as_deref(), Some("keep-alive"));
    }
    agent.start_on("repo:acme/late").await;
    let frame = stream.event(WAIT).await;
    assert_eq!(frame.event.as_deref(), Some("run_started"));
}

#[tokio::test]
async fn a_stream_resumes_after_last_event_id_or_after_without_loss_or_repeat() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    for n in 0..4 {
        agent.start_on(&format!("repo:acme/r{n}")).await;
    }
    let listed = activity_oldest_first(&server, &agent.auth()).await;
    let ids: Vec<&str> = listed.iter().map(|i| i["id"].as_str().unwrap()).collect();

    let mut by_header = Stream::open(&server.url, &agent.auth(), "", Some(ids[1])).await;
    let after = format!("?after={}", ids[0]);
    let mut by_query = Stream::open(&server.url, &agent.auth(), &after, None).await;
    // The header wins, as a browser reconnecting keeps the first URL.
    let mut both = Stream::open(&server.url, &agent.auth(), &after, Some(ids[2])).await;
    for (stream, from) in [(&mut by_header, 2), (&mut by_query, 1), (&mut both, 3)] {
        for expected in &ids[from..] {
            assert_eq!(stream.event(WAIT).await.id.as_deref(), Some(*expected));
        }
    }
    agent.start_on("repo:acme/later").await;
    for stream in [&mut by_header, &mut by_query, &mut both] {
        let frame = stream.event(WAIT).await;
        let data: Value = serde_json::from_str(&frame.data).unwrap();
        assert_eq!(data["resource"], "repo:acme/later");
    }
}

#[tokio::test]
async fn an_unknown_or_foreign_event_id_is_refused_naming_its_field() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let other = server.signup().await.agent("stranger").await;
    other.start_on("repo:acme/web").await;
    let foreign = activity_oldest_first(&server, &other.auth()).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in ["evt_00000000000000000000000000000000", foreign.as_str()] {
        let by_header = server
            .raw(request(&server.url, &agent.auth(), "", Some(id)))
            .await;
        by_header.expect_error(400, "invalid_request");
        assert_eq!(by_header.body["error"]["field"], "Last-Event-ID");
        let by_query = server
            .raw(request(
                &server.url,
                &agent.auth(),
                &format!("?after={id}"),
                None,
            ))
            .await;
        by_query.expect_error(400, "invalid_request");
        assert_eq!(by_query.body["error"]["field"], "after");
    }
}

/// Now, as stored: a row at time 0 would be pruned by the next sweep.
fn now_millis() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Commits `count` activity rows in one transaction behind the server's
/// back, so that the server's one reader hands them out all at once.
async fn insert_activity_directly(
    server: &TestServer,
    storage: &Storage,
    workspace_id: &str,
    count: usize,
) {
    let ids: Vec<String> = (0..count)
        .map(|n| format!("evt_direct{n:08}{:016x}", rand::random::<u64>()))
        .collect();
    if storage.is_postgres() {
        let client = storage.connect().await;
        client
            .execute(
                "INSERT INTO activity (id, workspace_id, at, kind, detail)
                 SELECT unnest($1::text[]), $2,
                        (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                        'availability_checked', '{}'::jsonb",
                &[&ids, &workspace_id],
            )
            .await
            .unwrap();
    } else {
        let path = server.data_dir().join("availsync.db");
        let workspace_id = workspace_id.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut conn = rusqlite::Connection::open(path).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            let tx = conn.transaction().unwrap();
            for id in &ids {
                tx.execute(
                    "INSERT INTO activity (id, workspace_id, at, kind, detail)
                     VALUES (?1, ?2, ?3, 'availability_checked', '{}')",
                    rusqlite::params![id, workspace_id, now_millis()],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn a_reader_that_falls_behind_gets_a_last_lagged_event_and_the_stream_ends() {
    let storage = Storage::for_test();
    let server = TestServer::start_configured(&storage, |config| availsync_server::ServerConfig {
        events_buffer: 4,
        ..config
    })
    .await;
    let human = server.signup().await;
    let agent = human.agent("ci-bot").await;
    let mut stream = Stream::open(&server.url, &agent.auth(), "", None).await;
    agent.start_on("repo:acme/first").await;
    let first = stream.event(WAIT).await;

    insert_activity_directly(&server, &storage, &human.workspace_id, 200).await;
    let mut delivered = Vec::new();
    let lagged = loop {
        let frame = stream.event(WAIT).await;
        if frame.event.as_deref() == Some("lagged") {
            break frame;
        }
        delivered.push(frame.id.unwrap());
    };
    assert!(delivered.len() < 200, "the reader never fell behind");
    assert_eq!(lagged.id, None);
    let data: Value = serde_json::from_str(&lagged.data).unwrap();
    let last = delivered.last().cloned().or(first.id).unwrap();
    assert_eq!(data["last_event_id"], last.as_str());
    assert!(data["message"].as_str().unwrap().contains("Last-Event-ID"));
    assert!(stream.frame(WAIT).await.is_none(), "the stream goes on");

    // Resuming from there misses nothing.
    let mut resumed = Stream::open(&server.url, &agent.auth(), "", Some(&last)).await;
    let mut rest = 0;
    while resumed.try_event(Duration::from_secs(2)).await.is_some() {
        rest += 1;
    }
    assert_eq!(delivered.len() + rest, 200);
}

#[tokio::test]
async fn shutting_the_server_down_ends_open_streams() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let mut stream = Stream::open(&server.url, &agent.auth(), "", None).await;
    let started = std::time::Instant::now();
    server.server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(stream.frame(WAIT).await.is_none());
}

/// Writers on two replicas and, beside them, transactions that insert an
/// event and commit it late: what a seq-ordered cursor would miss. Answers
/// when all of them have committed.
async fn concurrent_writes(urls: [String; 2], key: String, storage: Storage, workspace_id: String) {
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let (url, key) = (urls[writer % 2].clone(), key.clone());
        tasks.spawn(async move {
            let http = reqwest::Client::new();
            for n in 0..25 {
                let started: Value = http
                    .post(format!("{url}/v1/work/run/start"))
                    .bearer_auth(&key)
                    .json(&json!({"resource": format!("repo:acme/w{writer}-{n}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                http.post(format!("{url}/v1/work/run/finish"))
                    .bearer_auth(&key)
                    .json(&json!({"run_id": started["run_id"], "outcome": "succeeded"}))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }
    tasks.spawn(async move {
        let mut client = storage.connect().await;
        for n in 0..12 {
            let tx = client.transaction().await.unwrap();
            tx.execute(
                "INSERT INTO activity (id, workspace_id, at, kind, detail)
                 VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                         'availability_checked', '{}'::jsonb)",
                &[
                    &format!("evt_late{n:04}{:020x}", rand::random::<u64>()),
                    &workspace_id,
                ],
            )
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            tx.commit().await.unwrap();
        }
    });
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// [`concurrent_writes`] in the background: a flag set when they are done,
/// and their task.
fn spawn_concurrent_writes(
    urls: [String; 2],
    key: String,
    storage: &Storage,
    workspace_id: &str,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let done = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn({
        let (storage, workspace_id, done) =
            (storage.clone(), workspace_id.to_owned(), Arc::clone(&done));
        async move {
            concurrent_writes(urls, key, storage, workspace_id).await;
            done.store(true, Ordering::SeqCst);
        }
    });
    (done, task)
}

/// The workspace's activity ids in cursor order, oldest first.
async fn table_order(storage: &Storage, workspace_id: &str) -> Vec<String> {
    storage
        .connect()
        .await
        .query(
            "SELECT id FROM activity WHERE workspace_id = $1 ORDER BY tx, seq",
            &[&workspace_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_two_replicas_a_reader_that_keeps_reconnecting_gets_every_committed_event_once_in_order()
{
    let storage = Storage::for_test();
    if !storage.is_postgres() {
        eprintln!("needs AVAILSYNC_TEST_DATABASE_URL (two replicas share a database); skipped");
        return;
    }
    let a = TestServer::start_with(&storage).await;
    let b = TestServer::start_with(&storage).await;
    let human = a.signup().await;
    let agent = human.agent("writer").await;
    agent.start_on("repo:acme/marker").await;
    let marker = activity_oldest_first(&a, &agent.auth()).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (done, writes) = spawn_concurrent_writes(
        [a.url.clone(), b.url.clone()],
        agent.key.clone(),
        &storage,
        &human.workspace_id,
    );

    let mut received: Vec<String> = Vec::new();
    let mut connections = 0;
    let mut quiet_since_done = 0;
    loop {
        let last = received.last().cloned().unwrap_or_else(|| marker.clone());
        let url = if connections % 2 == 0 { &a.url } else { &b.url };
        let mut stream = Stream::open(url, &agent.auth(), "", Some(&last)).await;
        connections += 1;
        let mut got = 0;
        let wanted = 1 + connections % 4;
        while got < wanted {
            match stream.try_event(Duration::from_millis(500)).await {
                Some(frame) => {
                    assert_ne!(frame.event.as_deref(), Some("lagged"));
                    received.push(frame.id.unwrap());
                    got += 1;
                }
                None => break,
            }
        }
        drop(stream);
        if got == 0 && done.load(Ordering::SeqCst) {
            quiet_since_done += 1;
            if quiet_since_done >= 3 {
                break;
            }
        }
    }
    writes.await.unwrap();

    let table = table_order(&storage, &human.workspace_id).await;
    let from = table.iter().position(|id| *id == marker).unwrap() + 1;
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "an event came twice");
    assert_eq!(received, table[from..], "over {connections} connections");
    assert_eq!(received.len(), 4 * 25 * 2 + 12);
    assert!(connections > 20, "{connections}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_two_replicas_activity_pages_hold_every_committed_event_once_in_order() {
    let storage = Storage::for_test();
    if !storage.is_postgres() {
        eprintln!("needs AVAILSYNC_TEST_DATABASE_URL (two replicas share a database); skipped");
        return;
    }
    let a = TestServer::start_with(&storage).await;
    let b = TestServer::start_with(&storage).await;
    let human = a.signup().await;
    let agent = human.agent("writer").await;
    agent.start_on("repo:acme/first").await;

    let (done, writes) = spawn_concurrent_writes(
        [a.url.clone(), b.url.clone()],
        agent.key.clone(),
        &storage,
        &human.workspace_id,
    );

    // Each walk pages from the newest event down to the oldest.
    let mut walks: Vec<Vec<String>> = Vec::new();
    while !done.load(Ordering::SeqCst) || walks.len() < 3 {
        let mut walk = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let server = if walk.len() % 2 == 0 { &a } else { &b };
            let path = match &cursor {
                Some(cursor) => format!("/v1/activity?limit=7&cursor={cursor}"),
                None => "/v1/activity?limit=7".to_owned(),
            };
            let page = server
                .call(Method::GET, &path, &agent.auth(), None)
                .await
                .expect(200);
            walk.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| item["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        walks.push(walk);
    }
    writes.await.unwrap();

    let mut table = table_order(&storage, &human.workspace_id).await;
    table.reverse();
    for walk in &walks {
        let top = table.iter().position(|id| *id == walk[0]).unwrap();
        assert_eq!(walk, &table[top..], "a walk of {} events", walk.len());
    }
    assert!(walks.len() >= 3);
}
