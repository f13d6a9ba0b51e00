//! `guard --wait` against the real server (SPEC §13): the guard waits for a
//! busy resource and runs the command once it is granted; at its deadline
//! it skips as without --wait.

use std::time::Duration;

use availsync_sdk::Mode;
use tokio::time::Instant;

use super::{World, code, send, stderr, wait_for_file};

/// A guard holding `resource` for about `seconds` (from when this returns).
async fn hold(world: &World, key: &str, resource: &str, seconds: u32) -> tokio::process::Child {
    let started = world.path("holder.started");
    let holder = world
        .guard(
            key,
            &[
                "--resource",
                resource,
                "--",
                "sh",
                "-c",
                &format!("touch '{}'; sleep {seconds}", started.display()),
            ],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    holder
}

#[tokio::test]
async fn a_guard_with_wait_runs_its_command_once_the_holder_finishes() {
    let world = World::new().await;
    let (holder_key, waiter_key) = (
        world.key("ci-bot", Mode::Enforce).await,
        world.key("deployer", Mode::Enforce).await,
    );
    let holder = hold(&world, &holder_key, "repo:acme/web", 2).await;

    let ran = world.path("waiter.ran");
    let asked = Instant::now();
    let output = world
        .guard(
            &waiter_key,
            &[
                "--resource",
                "repo:acme/web",
                "--wait",
                "30s",
                "--skip-exit-code",
                "3",
                "--",
                "sh",
                "-c",
                &format!("echo $AVAILSYNC_RUN_ID > '{}'", ran.display()),
            ],
        )
        .output()
        .await
        .unwrap();
    let took = asked.elapsed();
    let holder = holder.wait_with_output().await.unwrap();
    assert_eq!(code(&holder), 0, "{}", stderr(&holder));

    let text = stderr(&output);
    assert_eq!(code(&output), 0, "the waiter did not run: {text}");
    assert!(ran.exists(), "{text}");
    assert!(
        took < Duration::from_secs(20),
        "granted late: {took:?}; {text}"
    );
    // Not a terminal: a line when the wait begins and one when it ends.
    assert!(
        text.contains("repo:acme/web is held by ci-bot (run ")
            && text.contains("waiting up to 30s for it (--wait)"),
        "{text}"
    );
    assert!(
        text.contains("waited ") && text.contains(" for repo:acme/web; it is free"),
        "{text}"
    );
    assert!(
        !text.contains('\r'),
        "no status line outside a terminal: {text:?}"
    );
    // The grant is a later start of the chain, with its own run id.
    let run_id = std::fs::read_to_string(&ran).unwrap();
    assert!(run_id.trim().contains(".w"), "{run_id}");
}

#[tokio::test]
async fn a_guard_whose_wait_runs_out_skips_as_without_wait() {
    let world = World::new().await;
    let (holder_key, waiter_key) = (
        world.key("ci-bot", Mode::Enforce).await,
        world.key("deployer", Mode::Enforce).await,
    );
    let mut holder = hold(&world, &holder_key, "project:site", 30).await;

    let ran = world.path("waiter.ran");
    let asked = Instant::now();
    let output = world
        .guard(
            &waiter_key,
            &[
                "--resource",
                "project:site",
                "--wait",
                "3s",
                "--skip-exit-code",
                "3",
                "--",
                "touch",
                ran.to_str().unwrap(),
            ],
        )
        .output()
        .await
        .unwrap();
    let took = asked.elapsed();
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(!ran.exists(), "{text}");
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(12),
        "skipped after {took:?}: {text}"
    );
    assert!(
        text.contains("for project:site; still held by ci-bot (run "),
        "{text}"
    );
    assert!(
        text.contains("skipped: project:site is held by agent 'ci-bot'"),
        "{text}"
    );
    let _ = holder.kill().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_wait_is_one_status_line_redrawn_in_place() {
    use expectrl::{Eof, Expect, Session};

    let world = World::new().await;
    let (holder_key, waiter_key) = (
        world.key("ci-bot", Mode::Enforce).await,
        world.key("deployer", Mode::Enforce).await,
    );
    let holder = hold(&world, &holder_key, "repo:acme/tty", 3).await;

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_availsync-setup"));
    command
        .args([
            "guard",
            "--resource",
            "repo:acme/tty",
            "--wait",
            "30s",
            "--",
            "true",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .env("AVAILSYNC_URL", &world.url)
        .env("AVAILSYNC_API_KEY", &waiter_key)
        .env(
            "AVAILSYNC_CREDENTIALS_FILE",
            world.path("no-credentials.toml"),
        );
    let (before, after, status) = tokio::task::spawn_blocking(move || {
        let mut s = Session::spawn(command).unwrap();
        s.set_expect_timeout(Some(Duration::from_secs(20)));
        let before = s.expect("— held by ci-bot (run ").unwrap();
        let after = s.expect(Eof).unwrap();
        let status = s.get_process().wait().unwrap();
        (
            String::from_utf8_lossy(before.before()).into_owned(),
            String::from_utf8_lossy(after.as_bytes()).into_owned(),
            status,
        )
    })
    .await
    .unwrap();
    holder.wait_with_output().await.unwrap();
    assert!(
        before.ends_with("\r\x1b[2Kavailsync guard: waiting for repo:acme/tty "),
        "{before:?}"
    );
    // Redrawn in place (at least once a second while it waits), then
    // cleared for the closing line.
    assert!(
        after
            .matches("\r\x1b[2Kavailsync guard: waiting for repo:acme/tty")
            .count()
            >= 1,
        "{after:?}"
    );
    assert!(
        after.contains("\r\x1b[2Kavailsync guard: waited ")
            && after.contains(" for repo:acme/tty; it is free"),
        "{after:?}"
    );
    assert!(
        !before.contains("waiting up to"),
        "no log lines on a terminal"
    );
    assert!(
        matches!(status, expectrl::process::unix::WaitStatus::Exited(_, 0)),
        "{status:?}: {after:?}"
    );
}

#[tokio::test]
async fn sigterm_while_waiting_exits_143_without_running_and_leaves_no_claim() {
    let world = World::new().await;
    let (holder_key, waiter_key) = (
        world.key("ci-bot", Mode::Enforce).await,
        world.key("deployer", Mode::Enforce).await,
    );
    let holder = hold(&world, &holder_key, "project:stop", 30).await;
    let ran = world.path("waiter.ran");
    let waiter = world
        .guard(
            &waiter_key,
            &[
                "--resource",
                "project:stop",
                "--wait",
                "30s",
                "--",
                "touch",
                ran.to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap();
    // Well into its server-side wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = Instant::now();
    send(&waiter, nix::sys::signal::Signal::SIGTERM);
    let output = waiter.wait_with_output().await.unwrap();
    let text = stderr(&output);
    assert_eq!(code(&output), 143, "{text}");
    assert!(stopped.elapsed() < Duration::from_secs(8), "{text}");
    assert!(
        text.contains("received SIGTERM while waiting for project:stop; not running the command"),
        "{text}"
    );
    assert!(!ran.exists(), "{text}");

    // Once the holder is stopped, nothing of the waiter's holds the
    // resource: a guard without --wait runs at once.
    send(&holder, nix::sys::signal::Signal::SIGTERM);
    let holder = holder.wait_with_output().await.unwrap();
    assert_eq!(code(&holder), 143, "{}", stderr(&holder));
    let after = world
        .guard(&waiter_key, &["--resource", "project:stop", "--", "true"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&after), 0, "{}", stderr(&after));
}

/// A server older than SPEC §13 that ignores `wait_seconds`: every start is
/// told to skip at once, without `waited_ms`. Answers how many starts it
/// got.
async fn server_that_never_waits() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let starts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&starts);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // One request per connection: headers, then the body its
                // Content-Length announces.
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"run_id":"run-x","decision":"skip_run","mode":"enforce","replayed":false,"status":"skipped","claim":null,"would_block":false,"reason":{"code":"resource_claimed","message":"held","holder":{"agent_id":"agt_1","agent_name":"ci-bot","run_id":"run_1","expires_at":"2026-12-07T22:00:00.000Z"}},"retry_after":30,"server_time":"2026-12-07T21:00:00.000Z"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, starts)
}

#[tokio::test]
async fn a_server_that_does_not_wait_ends_the_wait_at_once_instead_of_polling() {
    let world = World::new().await;
    let (url, starts) = server_that_never_waits().await;
    let asked = Instant::now();
    let output = world
        .guard(
            "avs_live_anything",
            &[
                "--resource",
                "repo:acme/old",
                "--wait",
                "30s",
                "--skip-exit-code",
                "3",
                "--",
                "true",
            ],
        )
        .env("AVAILSYNC_URL", &url)
        .output()
        .await
        .unwrap();
    let text = stderr(&output);
    assert_eq!(code(&output), 3, "{text}");
    assert!(asked.elapsed() < Duration::from_secs(10), "{text}");
    assert!(text.contains("does not wait for busy resources"), "{text}");
    // The first start (no wait) and one waited start, whose answer came
    // without waited_ms: no polling.
    assert_eq!(
        starts.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "{text}"
    );
}
