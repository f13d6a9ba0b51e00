//! Holding up when exposed: a client holding connections open cannot stop
//! the server from answering, nor from shutting down.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::child::{Launch, Storage, spawn_server_with};

/// The start of a request whose header never ends.
const HALF_HEADER: &[u8] = b"GET /health HTTP/1.1\r\nHost: slow\r\nX-Slow: ";

/// Lets this test process open more sockets than a soft limit of 1024.
fn raise_own_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

async fn half_header_connection(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(HALF_HEADER).await.unwrap();
    stream
}

#[tokio::test]
async fn a_thousand_half_sent_headers_under_a_1024_file_limit_leave_health_answering() {
    raise_own_open_file_limit();
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server_with(
        dir.path(),
        &Storage::for_test(),
        &Launch {
            soft_open_files: Some(1024),
            // No timeout comes to the rescue within the test.
            args: &["--header-read-timeout", "600"],
        },
    )
    .await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..1_100 {
        held.push(half_header_connection(&addr).await);
    }
    let http = reqwest::Client::new();
    let asked = Instant::now();
    let health = http
        .get(format!("{}/health", server.url))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("/health answers within 1 s while 1,100 headers hang");
    assert_eq!(health.status(), 200);
    assert!(asked.elapsed() < Duration::from_secs(1));
    drop(held);
}

#[tokio::test]
async fn sigterm_exits_within_the_shutdown_deadline_though_a_client_never_finishes_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = spawn_server_with(
        dir.path(),
        &Storage::for_test(),
        &Launch {
            args: &["--shutdown-timeout", "2"],
            ..Launch::default()
        },
    )
    .await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let _slow = half_header_connection(&addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = rustix::process::Pid::from_raw(i32::try_from(server.child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let asked = Instant::now();
    let mut exited = None;
    while asked.elapsed() < Duration::from_secs(10) {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = exited.expect("the server exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM with a 2 s deadline"
    );
}

#[tokio::test]
async fn a_header_over_16_kib_is_refused_with_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server_with(dir.path(), &Storage::for_test(), &Launch::default()).await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

/// The peak resident memory of a process, in MiB (Linux).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib / 1024
}

/// Each argon2 hash takes about 19 MiB: unbounded, 128 parallel logins took
/// 2.4 GB. Hashing runs a few at a time; the rest wait or get 503.
#[tokio::test]
async fn a_hundred_and_twenty_eight_parallel_logins_stay_under_150_mib() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server_with(dir.path(), &Storage::for_test(), &Launch::default()).await;
    let http = reqwest::Client::new();
    let logins = (0..128).map(|n| {
        let request = http
            .post(format!("{}/v1/auth/login", server.url))
            .json(&serde_json::json!({
                "email": format!("nobody-{n}@example.com"),
                "password": "a guess that is wrong",
            }))
            .send();
        async move { request.await.map(|r| r.status().as_u16()) }
    });
    let statuses = futures::future::join_all(logins).await;
    for status in &statuses {
        let status = status.as_ref().unwrap();
        assert!([401, 429, 503].contains(status), "{status}");
    }
    assert!(statuses.iter().any(|s| s.as_ref().ok() == Some(&401)));
    let peak = peak_rss_mib(server.child.id());
    assert!(peak < 150, "peak RSS {peak} MiB");
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts `size` of tmpfs, or says why it cannot (not root, no
    /// `mount`, a sandbox without CAP_SYS_ADMIN).
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if status.success() {
            Ok(Self { dir })
        } else {
            Err(format!("mount -t tmpfs failed ({status})"))
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system under `dir` until a write fails for lack of space.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if file
            .write_all(&block)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            break;
        }
    }
    // Whatever the last block left: a byte at a time.
    while file.write_all(&[0]).and_then(|()| file.sync_all()).is_ok() {}
    path
}

/// A full disk fails every write with `507 insufficient_storage`, and
/// `/readyz` and `/health` say so, instead of `500` and "ok"; once space is
/// freed, both recover without waiting for a client's write.
#[tokio::test]
async fn a_full_disk_answers_507_and_health_and_readiness_fail_then_recover() {
    let storage = Storage::for_test();
    if storage.database.is_some() {
        eprintln!("skipped: the full-disk test runs on the embedded SQLite store");
        return;
    }
    let tmpfs = match Tmpfs::mount("24m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs to fill ({why})");
            return;
        }
    };
    let server = spawn_server_with(tmpfs.path(), &storage, &Launch::default()).await;
    let http = reqwest::Client::new();
    let url = server.url.clone();
    let signup: serde_json::Value = http
        .post(format!("{url}/v1/auth/signup"))
        .json(&serde_json::json!({"email": "full@example.com", "password": "correct horse battery", "workspace_name": "Full"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(signup["user"]["id"].is_string(), "{signup}");
    let probe = |path: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let answer = http.get(format!("{url}{path}")).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(
        probe("/readyz").await,
        (200, serde_json::json!({"status": "ok"}))
    );

    let filler = fill(tmpfs.path());
    let mut refused = None;
    for n in 0..500 {
        let answer = http
            .post(format!("{url}/v1/auth/signup"))
            .json(&serde_json::json!({"email": format!("more{n}@example.com"), "password": "correct horse battery", "workspace_name": "Full"}))
            .send()
            .await
            .unwrap();
        match answer.status().as_u16() {
            201 => continue,
            status => {
                let retry = answer.headers().get("retry-after").cloned();
                refused = Some((
                    status,
                    retry,
                    answer.json::<serde_json::Value>().await.unwrap(),
                ));
                break;
            }
        }
    }
    let (status, retry, body) = refused.expect("a write fails once the disk is full");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_storage", "{body}");
    assert!(retry.is_some(), "507 carries Retry-After");
    let (status, ready) = probe("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["status"], "unavailable");
    assert!(
        ready["reason"].as_str().unwrap().contains("full"),
        "{ready}"
    );
    let (status, health) = probe("/health").await;
    assert_eq!(
        (status, health["storage"].clone()),
        (503, "error".into()),
        "{health}"
    );
    assert_eq!(probe("/livez").await.0, 200, "alive all the same");

    std::fs::remove_file(filler).unwrap();
    assert_eq!(probe("/readyz").await.0, 200, "ready once space is freed");
    assert_eq!(probe("/health").await.0, 200);
    let answer = http
        .post(format!("{url}/v1/auth/login"))
        .json(
            &serde_json::json!({"email": "full@example.com", "password": "correct horse battery"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "nothing acknowledged was lost");
    drop(server);
}
