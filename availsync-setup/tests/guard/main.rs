//! `availsync-setup guard` end to end: the built binary against the real
//! server.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use availsync_sdk::{AdminClient, Mode};
use availsync_server::{RunningServer, ServerConfig};
use tokio::process::Command;
use tokio::time::Instant;

// The SDK's network fixtures: a private CA, a TLS front, an HTTP proxy and
// a SOCKS5 proxy.
#[path = "../../../availsync-sdk/tests/sdk/net.rs"]
mod net;

use net::{TestCa, http_proxy, socks5_proxy, tls_proxy};

mod waiting;

struct World {
    server: Option<RunningServer>,
    url: String,
    admin: AdminClient,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = RunningServer::start(ServerConfig::ephemeral(dir.path().join("data")))
            .await
            .unwrap();
        let url = server.url();
        let admin = AdminClient::new(&url).unwrap();
        admin
            .signup("guard@example.com", "correct horse battery", "Guard")
            .await
            .unwrap();
        Self {
            server: Some(server),
            url,
            admin,
            dir,
        }
    }

    async fn key(&self, name: &str, mode: Mode) -> String {
        self.admin
            .create_agent(name, Some(mode))
            .await
            .unwrap()
            .api_key
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The guard command with a clean environment pointing at this server.
    fn guard(&self, key: &str, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_availsync-setup"));
        command
            .arg("guard")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AVAILSYNC_URL", &self.url)
            .env("AVAILSYNC_API_KEY", key)
            .env(
                "AVAILSYNC_CREDENTIALS_FILE",
                self.path("no-credentials.toml"),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn of_two_guards_on_one_resource_exactly_one_runs_its_command() {
    let world = World::new().await;
    let (a, b) = (
        world.key("ci-a", Mode::Enforce).await,
        world.key("ci-b", Mode::Enforce).await,
    );
    let script = |marker: &Path| format!("echo ran > '{}'; sleep 2", marker.display());
    let (ma, mb) = (world.path("a.ran"), world.path("b.ran"));
    let args_a = [
        "--resource",
        "repo:acme/web",
        "--skip-exit-code",
        "3",
        "--",
        "sh",
        "-c",
        &script(&ma),
    ];
    let args_b = [
        "--resource",
        "repo:acme/web",
        "--skip-exit-code",
        "3",
        "--",
        "sh",
        "-c",
        &script(&mb),
    ];
    let (first, second) = tokio::join!(
        world.guard(&a, &args_a).output(),
        world.guard(&b, &args_b).output()
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    let ran = [ma.exists(), mb.exists()];
    assert!(ran == [true, false] || ran == [false, true], "{ran:?}");
    let (winner, loser, winner_name) = if ran[0] {
        (&first, &second, "ci-a")
    } else {
        (&second, &first, "ci-b")
    };
    assert_eq!(code(winner), 0, "{}", stderr(winner));
    assert_eq!(code(loser), 3, "{}", stderr(loser));
    let message = stderr(loser);
    assert!(
        message.contains(&format!("held by agent '{winner_name}'")),
        "{message}"
    );
    assert!(
        message.contains("repo:acme/web") && message.contains("until"),
        "{message}"
    );
}

/// Guards with `--paths` share a repository: disjoint paths run at once
/// (even for one CI job with one key: the derived run id covers the
/// paths), an overlap is skipped naming the held path and its holder, and
/// a whole-repository guard meets the working sets.
#[tokio::test]
async fn guards_on_disjoint_paths_run_at_once_and_an_overlap_is_skipped_naming_the_path() {
    let world = World::new().await;
    let ci = [
        ("GITHUB_RUN_ID", "777"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_JOB", "migrate"),
    ];
    let (key, other) = (
        world.key("ci-a", Mode::Enforce).await,
        world.key("ci-b", Mode::Enforce).await,
    );
    let (started, release) = (world.path("api.started"), world.path("api.release"));
    let mut api = world.guard(
        &key,
        &[
            "--resource",
            "repo:acme/web",
            "--paths",
            "src/api/",
            "--",
            "sh",
            "-c",
            &format!(
                "touch '{}'; while [ ! -e '{}' ]; do sleep 0.1; done",
                started.display(),
                release.display()
            ),
        ],
    );
    api.envs(ci);
    let api = api.spawn().unwrap();
    wait_for_file(&started).await;

    // The same job, other paths (comma-separated and repeated): runs now.
    let mut db = world.guard(
        &key,
        &[
            "--resource",
            "repo:acme/web",
            "--paths",
            "src/db/**,docs/*.md",
            "--paths",
            "migrations/",
            "--",
            "sh",
            "-c",
            "echo $AVAILSYNC_RUN_ID",
        ],
    );
    db.envs(ci);
    let db = db.output().await.unwrap();
    assert_eq!(code(&db), 0, "{}", stderr(&db));
    assert!(
        stderr(&db).contains(
            "claimed src/db/**, docs/*.md, migrations/** in repo:acme/web as run gha-777-1-migrate-"
        ),
        "{}",
        stderr(&db)
    );

    // Overlapping paths, edit or read: skipped, naming path and holder.
    for mode in ["edit", "read"] {
        let overlap = world
            .guard(
                &other,
                &[
                    "--resource",
                    "repo:acme/web",
                    "--paths",
                    "src/api/users.rs",
                    "--paths",
                    "README.md",
                    "--paths-mode",
                    mode,
                    "--skip-exit-code",
                    "3",
                    "--",
                    "true",
                ],
            )
            .output()
            .await
            .unwrap();
        assert_eq!(code(&overlap), 3, "{mode}: {}", stderr(&overlap));
        let message = stderr(&overlap);
        assert!(
            message.contains(
                "skipped: src/api/users.rs in repo:acme/web is held by agent 'ci-a' (run gha-777-1-migrate-"
            ) && message.contains("holding src/api/**) until"),
            "{mode}: {message}"
        );
    }
    // The whole repository: skipped too, the working set named.
    let whole = world
        .guard(
            &other,
            &[
                "--resource",
                "repo:acme/web",
                "--skip-exit-code",
                "3",
                "--",
                "true",
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&whole), 3, "{}", stderr(&whole));
    assert!(
        stderr(&whole).contains("repo:acme/web is held by agent 'ci-a'")
            && stderr(&whole).contains("holding src/api/**"),
        "{}",
        stderr(&whole)
    );

    std::fs::write(&release, "").unwrap();
    let api = api.wait_with_output().await.unwrap();
    assert_eq!(code(&api), 0, "{}", stderr(&api));
    // Released: the overlapping paths are free now.
    let after = world
        .guard(
            &other,
            &[
                "--resource",
                "repo:acme/web",
                "--paths",
                "src/api/users.rs",
                "--",
                "true",
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&after), 0, "{}", stderr(&after));
}

#[tokio::test]
async fn exit_codes_and_signals_of_the_command_propagate() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let exited = world
        .guard(
            &key,
            &["--resource", "project:a", "--", "sh", "-c", "exit 7"],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&exited), 7);
    let killed = world
        .guard(
            &key,
            &["--resource", "project:b", "--", "sh", "-c", "kill -TERM $$"],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&killed), 143);
    let env = world
        .guard(
            &key,
            &[
                "--resource",
                "project:c",
                "--",
                "sh",
                "-c",
                "echo $AVAILSYNC_RUN_ID $AVAILSYNC_FENCING_TOKEN $AVAILSYNC_RESOURCE",
            ],
        )
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&env.stdout);
    let parts: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "{stdout}");
    assert_eq!(parts[2], "project:c");
    // The token in the environment is the one the server granted that run.
    let granted = world
        .admin
        .runs_page(
            &availsync_sdk::RunsQuery {
                resource: Some("project:c".parse().unwrap()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let run = granted
        .items
        .iter()
        .find(|run| run.run_id == parts[0])
        .unwrap_or_else(|| panic!("run {} not listed: {:?}", parts[0], granted.items));
    let token = run
        .claim
        .as_ref()
        .map(|claim| claim.fencing_token.to_string());
    assert_eq!(token.as_deref(), Some(parts[1]));
    let missing = world
        .guard(&key, &["--resource", "project:d", "--", "/no/such/program"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&missing), 127);
    // All of those runs finished: nothing is left claimed.
    let runs = world
        .admin
        .runs_page(
            &availsync_sdk::RunsQuery {
                active_only: true,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(runs.items.is_empty(), "{:?}", runs.items);
}

#[tokio::test]
async fn a_25_second_command_with_a_10_second_ttl_finishes_normally() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let other = world.key("other", Mode::Enforce).await;
    let long = world
        .guard(
            &key,
            &[
                "--resource",
                "repo:acme/web",
                "--ttl",
                "10",
                "--",
                "sleep",
                "25",
            ],
        )
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(18)).await;
    let during = world
        .guard(
            &other,
            &[
                "--resource",
                "repo:acme/web",
                "--skip-exit-code",
                "9",
                "--",
                "true",
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&during), 9, "the lease lapsed: {}", stderr(&during));
    let output = long.wait_with_output().await.unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let after = world
        .guard(&other, &["--resource", "repo:acme/web", "--", "true"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&after), 0);
}

#[tokio::test]
async fn when_the_server_dies_mid_run_the_command_is_stopped_and_the_guard_exits_75() {
    let mut world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let marker = world.path("stopped");
    let started = world.path("started");
    let script = format!(
        "trap 'echo stopped > \"{}\"; exit 0' TERM; touch '{}'; while true; do sleep 0.2; done",
        marker.display(),
        started.display()
    );
    let guard = world
        .guard(
            &key,
            &[
                "--resource",
                "repo:acme/web",
                "--ttl",
                "10",
                "--grace",
                "2s",
                "--",
                "sh",
                "-c",
                &script,
            ],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    let killed_at = Instant::now();
    world.server.take().unwrap().shutdown().await;
    let output = tokio::time::timeout(Duration::from_secs(30), guard.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code(&output), 75, "{}", stderr(&output));
    assert!(marker.exists(), "the command never got SIGTERM");
    // Stopped before the lease's expiry plus grace (10 s + 2 s).
    assert!(
        killed_at.elapsed() < Duration::from_secs(12),
        "{:?}",
        killed_at.elapsed()
    );
    assert!(stderr(&output).contains("lease"), "{}", stderr(&output));
}

#[tokio::test]
async fn a_retried_step_with_the_same_ci_environment_replays_its_claim() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let ci = [
        ("GITHUB_RUN_ID", "555"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_JOB", "deploy"),
    ];
    let token_file = world.path("token-1");
    let started = world.path("started");
    let mut first = world.guard(
        &key,
        &[
            "--resource",
            "repo:acme/web",
            "--",
            "sh",
            "-c",
            &format!(
                "echo $AVAILSYNC_RUN_ID $AVAILSYNC_FENCING_TOKEN > '{}'; touch '{}'; sleep 30",
                token_file.display(),
                started.display()
            ),
        ],
    );
    first.envs(ci);
    let mut first = first.spawn().unwrap();
    wait_for_file(&started).await;
    // The step dies without finishing (the runner lost the machine).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    first.wait().await.unwrap();

    let mut retry = world.guard(
        &key,
        &[
            "--resource",
            "repo:acme/web",
            "--",
            "sh",
            "-c",
            "echo $AVAILSYNC_RUN_ID $AVAILSYNC_FENCING_TOKEN",
        ],
    );
    retry.envs(ci);
    let output = retry.output().await.unwrap();
    assert_eq!(
        code(&output),
        0,
        "the retry was not let in: {}",
        stderr(&output)
    );
    let first_line = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        first_line.trim()
    );
    assert!(first_line.starts_with("gha-555-1-deploy-"), "{first_line}");
}

#[tokio::test]
async fn a_skip_under_github_actions_writes_the_step_output() {
    let world = World::new().await;
    let holder = world.key("holder", Mode::Enforce).await;
    let ci = world.key("ci", Mode::Enforce).await;
    let started = world.path("started");
    let long = world
        .guard(
            &holder,
            &[
                "--resource",
                "project:site",
                "--",
                "sh",
                "-c",
                &format!("touch '{}'; sleep 5", started.display()),
            ],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    let outputs = world.path("github_output");
    let mut skipped = world.guard(&ci, &["--resource", "project:site", "--", "true"]);
    skipped
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs);
    let output = skipped.output().await.unwrap();
    assert_eq!(code(&output), 0);
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.contains("skipped=true\n"), "{written}");
    assert!(
        written.contains("reason=skipped: project:site is held by agent 'holder'"),
        "{written}"
    );
    assert!(written.contains("\nrun_id="), "{written}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("::notice"));
    long.wait_with_output().await.unwrap();
}

#[tokio::test]
async fn sigterm_to_the_guard_reaches_the_command_and_releases_the_claim() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let other = world.key("other", Mode::Enforce).await;
    let marker = world.path("got-term");
    let started = world.path("started");
    let script = format!(
        "trap 'echo term > \"{}\"; exit 0' TERM; touch '{}'; while true; do sleep 0.2; done",
        marker.display(),
        started.display()
    );
    let guard = world
        .guard(
            &key,
            &["--resource", "repo:acme/web", "--", "sh", "-c", &script],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(guard.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = guard.wait_with_output().await.unwrap();
    assert_eq!(code(&output), 143, "{}", stderr(&output));
    assert!(marker.exists(), "the command never got SIGTERM");
    let next = world
        .guard(
            &other,
            &[
                "--resource",
                "repo:acme/web",
                "--skip-exit-code",
                "9",
                "--",
                "true",
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(
        code(&next),
        0,
        "the claim was not released: {}",
        stderr(&next)
    );
}

#[tokio::test]
async fn an_observe_agent_runs_the_command_and_says_it_would_have_been_blocked() {
    let world = World::new().await;
    let holder = world.key("holder", Mode::Enforce).await;
    let watcher = world.key("watcher", Mode::Observe).await;
    let started = world.path("started");
    let long = world
        .guard(
            &holder,
            &[
                "--resource",
                "repo:acme/web",
                "--",
                "sh",
                "-c",
                &format!("touch '{}'; sleep 4", started.display()),
            ],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    let observed = world
        .guard(
            &watcher,
            &["--resource", "repo:acme/web", "--", "sh", "-c", "exit 4"],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&observed), 4);
    assert!(
        stderr(&observed).contains("WOULD have been skipped"),
        "{}",
        stderr(&observed)
    );
    long.wait_with_output().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_exits_69_unless_told_to_fail_open() {
    let world = World::new().await;
    let mut closed = world.guard("avs_live_x", &["--resource", "repo:acme/web", "--", "true"]);
    closed.env("AVAILSYNC_URL", "http://127.0.0.1:9");
    let output = closed.output().await.unwrap();
    assert_eq!(code(&output), 69, "{}", stderr(&output));
    assert!(stderr(&output).contains("--fail-open"));
    let mut open = world.guard(
        "avs_live_x",
        &[
            "--resource",
            "repo:acme/web",
            "--fail-open",
            "--",
            "sh",
            "-c",
            "exit 5",
        ],
    );
    open.env("AVAILSYNC_URL", "http://127.0.0.1:9");
    let output = open.output().await.unwrap();
    assert_eq!(code(&output), 5);
    assert!(stderr(&output).contains("WITHOUT a claim"));
}

#[tokio::test]
async fn missing_or_wrong_configuration_is_a_clear_error() {
    let world = World::new().await;
    let mut no_key = world.guard("", &["--resource", "repo:acme/web", "--", "true"]);
    no_key.env_remove("AVAILSYNC_API_KEY");
    let output = no_key.output().await.unwrap();
    assert_eq!(code(&output), 78, "{}", stderr(&output));
    assert!(stderr(&output).contains("AVAILSYNC_API_KEY"));
    let wrong = world
        .guard(
            "avs_live_wrong",
            &["--resource", "repo:acme/web", "--", "true"],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&wrong), 78, "{}", stderr(&wrong));
    let key = world.key("ci", Mode::Enforce).await;
    let bad = world
        .guard(&key, &["--resource", "repo:nope", "--", "true"])
        .output()
        .await
        .unwrap();
    assert_eq!(code(&bad), 64, "{}", stderr(&bad));
}

/// A machine without CA certificates (a minimal container) can still guard
/// against a plain-HTTP server: TLS is set up only for an `https://` URL,
/// and there the missing certificates are a clear error, not a panic.
#[tokio::test]
async fn no_ca_certificates_matter_only_for_https() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let no_certs = world.path("no-certs");
    let args = ["--resource", "project:a", "--", "true"];
    let plain = world
        .guard(&key, &args)
        .env("SSL_CERT_FILE", &no_certs)
        .env("SSL_CERT_DIR", &no_certs)
        .output()
        .await
        .unwrap();
    assert_eq!(code(&plain), 0, "{}", stderr(&plain));

    let tls = world
        .guard(&key, &args)
        .env("AVAILSYNC_URL", world.url.replace("http://", "https://"))
        .env("SSL_CERT_FILE", &no_certs)
        .env("SSL_CERT_DIR", &no_certs)
        .output()
        .await
        .unwrap();
    assert_ne!(code(&tls), 0);
    let message = stderr(&tls);
    assert!(
        message.contains("TLS") && message.contains("CA certificates"),
        "{message}"
    );
    assert!(
        !message.contains("panicked") && !message.contains("login"),
        "{message}"
    );
}

/// `HTTP_PROXY` / `HTTPS_PROXY` carry the calls through the proxy they
/// name, `NO_PROXY` sends them straight to the server, and a `socks5://`
/// proxy in `ALL_PROXY` carries them too.
#[tokio::test]
async fn calls_go_through_the_proxy_the_environment_names() {
    use std::sync::atomic::Ordering;

    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let (proxy, tunnels) = http_proxy().await;
    let args = ["--resource", "project:a", "--", "true"];

    let proxied = world
        .guard(&key, &args)
        .env("HTTP_PROXY", &proxy)
        .env("HTTPS_PROXY", &proxy)
        .output()
        .await
        .unwrap();
    assert_eq!(code(&proxied), 0, "{}", stderr(&proxied));
    assert!(
        tunnels.load(Ordering::SeqCst) >= 1,
        "no call went through the proxy"
    );

    let before = tunnels.load(Ordering::SeqCst);
    let direct = world
        .guard(&key, &args)
        .env("HTTP_PROXY", &proxy)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .await
        .unwrap();
    assert_eq!(code(&direct), 0, "{}", stderr(&direct));
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        before,
        "NO_PROXY was ignored"
    );

    let (socks, relayed) = socks5_proxy().await;
    let through_socks = world
        .guard(&key, &args)
        .env("ALL_PROXY", &socks)
        .output()
        .await
        .unwrap();
    assert_eq!(code(&through_socks), 0, "{}", stderr(&through_socks));
    assert!(
        relayed.load(Ordering::SeqCst) >= 1,
        "no call went through the SOCKS proxy"
    );
}

/// `https://` end to end: through a TLS-terminating proxy whose certificate
/// a private CA signed, trusted through `SSL_CERT_FILE`, guard claims and
/// runs its command; a certificate from a CA it does not trust, or for
/// another name, is refused before any request, at the first attempt (no
/// retry can fix it), with a message naming the URL and no log noise, as a
/// configuration error: the command does not run, `--fail-open` or not.
#[tokio::test]
async fn https_works_with_a_trusted_ca_and_refuses_any_other_certificate() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let ca = TestCa::new("Availsync test CA");
    let (port, connections) = tls_proxy(&world.url, ca.server("localhost")).await;
    let trusted = world.path("ca.pem");
    std::fs::write(&trusted, ca.pem()).unwrap();
    let untrusted = world.path("other-ca.pem");
    std::fs::write(&untrusted, TestCa::new("Someone else").pem()).unwrap();
    let no_dir = world.path("no-certs");

    let marker = world.path("ran");
    let script = format!("echo ran > '{}'", marker.display());
    let args = [
        "--resource",
        "project:tls",
        "--fail-open",
        "--",
        "sh",
        "-c",
        &script,
    ];
    let run = |url: String, ca_file: &Path| {
        let mut command = world.guard(&key, &args);
        command
            .env("AVAILSYNC_URL", url)
            .env("SSL_CERT_FILE", ca_file)
            .env("SSL_CERT_DIR", &no_dir);
        command
    };

    let localhost = format!("https://localhost:{port}");
    let ok = run(localhost.clone(), &trusted).output().await.unwrap();
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert!(marker.exists(), "the command did not run");
    std::fs::remove_file(&marker).unwrap();
    let runs = world
        .admin
        .runs_page(&Default::default(), None)
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "{runs:?}");

    for (url, ca_file, why) in [
        (localhost, &untrusted, "a CA it does not trust"),
        (
            format!("https://127.0.0.1:{port}"),
            &trusted,
            "another name",
        ),
    ] {
        let before = connections.load(std::sync::atomic::Ordering::SeqCst);
        let refused = run(url.clone(), ca_file).output().await.unwrap();
        let message = stderr(&refused);
        assert_eq!(code(&refused), 78, "{why}: {message}");
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst) - before,
            1,
            "{why}: a refused certificate was tried again"
        );
        assert_eq!(message.lines().count(), 1, "{why}: {message}");
        assert!(!marker.exists(), "{why}: the command ran");
        assert!(
            message.contains(&url) && message.to_lowercase().contains("certificate"),
            "{why}: {message}"
        );
        assert!(!message.contains("panicked"), "{why}: {message}");
    }
    let runs = world
        .admin
        .runs_page(&Default::default(), None)
        .await
        .unwrap();
    assert_eq!(runs.items.len(), 1, "a refused connection started a run");
}

/// A second run under a `--run-id` whose run has finished is not told to
/// retry: the id is spent, the command does not start, and the guard says
/// run ids must be unique per run.
#[tokio::test]
async fn a_reused_run_id_whose_run_finished_exits_64_and_does_not_run() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let marker = world.path("ran");
    let script = format!("echo ran >> '{}'", marker.display());
    let args = [
        "--resource",
        "repo:acme/web",
        "--run-id",
        "deploy-42",
        "--",
        "sh",
        "-c",
        &script,
    ];
    let first = world.guard(&key, &args).output().await.unwrap();
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let again = world.guard(&key, &args).output().await.unwrap();
    let message = stderr(&again);
    assert_eq!(code(&again), 64, "{message}");
    assert!(
        message.contains("deploy-42") && message.contains("already finished"),
        "{message}"
    );
    assert!(
        message.contains("unique per run") && message.contains("$GITHUB_RUN_ID"),
        "{message}"
    );
    assert!(!message.contains("retry later"), "{message}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "the command ran again"
    );

    // The same id on another resource is refused by the server, and said
    // the same way.
    let other = world
        .guard(
            &key,
            &[
                "--resource",
                "repo:acme/api",
                "--run-id",
                "deploy-42",
                "--",
                "true",
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&other), 64, "{}", stderr(&other));
    assert!(
        stderr(&other).contains("unique per run"),
        "{}",
        stderr(&other)
    );
}

/// Every wrong command line exits 64 (EX_USAGE), before any call to the
/// server; `--help` is not an error.
#[tokio::test]
async fn usage_errors_exit_64() {
    let world = World::new().await;
    let cases: [&[&str]; 15] = [
        &["--resource"],
        &["--resource", "repo:acme/web"],
        &["--", "true"],
        &["--resource", "repo:acme/web", "--bogus", "--", "true"],
        &[
            "--resource",
            "repo:acme/web",
            "--grace",
            "soon",
            "--",
            "true",
        ],
        &[
            "--resource",
            "repo:acme/web",
            "--grace",
            "99999999999999999999m",
            "--",
            "true",
        ],
        &["--resource", "repo:acme/web", "--ttl", "5", "--", "true"],
        &[
            "--resource",
            "repo:acme/web",
            "--skip-exit-code",
            "300",
            "--",
            "true",
        ],
        &[
            "--resource",
            "repo:acme/web",
            "--run-id",
            "has space",
            "--",
            "true",
        ],
        &["--resource", "repo:nope", "--", "true"],
        &[
            "--resource",
            "repo:acme/web",
            "--paths",
            "../etc",
            "--",
            "true",
        ],
        &[
            "--resource",
            "repo:acme/web",
            "--paths",
            "a,,b",
            "--",
            "true",
        ],
        &[
            "--resource",
            "repo:acme/web",
            "--paths-mode",
            "read",
            "--",
            "true",
        ],
        &[
            "--resource",
            "repo:acme/web",
            "--paths",
            "a",
            "--paths-mode",
            "write",
            "--",
            "true",
        ],
        &[
            "--resource",
            "project:site",
            "--paths",
            "src/",
            "--",
            "true",
        ],
    ];
    for args in cases {
        // No key at all: a usage error is found before the configuration.
        let mut command = world.guard("", args);
        command.env_remove("AVAILSYNC_API_KEY");
        let output = command.output().await.unwrap();
        assert_eq!(code(&output), 64, "{args:?}: {}", stderr(&output));
        assert!(!stderr(&output).is_empty(), "{args:?}: says nothing");
    }
    let help = world.guard("", &["--help"]).output().await.unwrap();
    assert_eq!(code(&help), 0, "{}", stderr(&help));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--grace"));
}

/// Starts a guard whose command records which signal reached it, waits
/// until the command runs, and answers the guard's process.
async fn guard_with_signal_traps(
    world: &World,
    key: &str,
    extra: &[&str],
    ignore_sigint: bool,
) -> (tokio::process::Child, PathBuf) {
    let marker = world.path("signal");
    let started = world.path("started");
    let script = format!(
        "trap 'echo INT > \"{m}\"; exit 0' INT; trap 'echo TERM > \"{m}\"; exit 0' TERM; touch '{s}'; while true; do sleep 0.1; done",
        m = marker.display(),
        s = started.display()
    );
    let mut args = vec!["--resource", "repo:acme/web"];
    args.extend_from_slice(extra);
    args.extend(["--", "sh", "-c", &script]);
    let mut command = world.guard(key, &args);
    if ignore_sigint {
        // As a shell starts a background job (`guard … &`): SIGINT ignored.
        let std = command.as_std_mut();
        let program = std.get_program().to_owned();
        let argv: Vec<std::ffi::OsString> = std.get_args().map(ToOwned::to_owned).collect();
        let mut wrapped = Command::new("sh");
        wrapped
            .arg("-c")
            .arg("trap '' INT; exec \"$0\" \"$@\"")
            .arg(program)
            .args(argv)
            .env_clear()
            .envs(
                std.get_envs()
                    .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command = wrapped;
    }
    let child = command.spawn().unwrap();
    wait_for_file(&started).await;
    (child, marker)
}

fn send(child: &tokio::process::Child, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        signal,
    )
    .unwrap();
}

/// SIGINT to the guard reaches the command as SIGINT — also when the guard
/// was started with SIGINT ignored, as a shell starts a background job —
/// and SIGTERM stays SIGTERM.
#[tokio::test]
async fn sigint_reaches_the_command_as_sigint_and_sigterm_as_sigterm() {
    use nix::sys::signal::Signal;

    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    for (ignored, signal, expected, exit) in [
        (false, Signal::SIGINT, "INT", 130),
        (true, Signal::SIGINT, "INT", 130),
        (false, Signal::SIGTERM, "TERM", 143),
    ] {
        let (guard, marker) =
            guard_with_signal_traps(&world, &key, &["--grace", "5s"], ignored).await;
        send(&guard, signal);
        let output = guard.wait_with_output().await.unwrap();
        let what = format!("{signal} (SIGINT ignored at start: {ignored})");
        assert_eq!(code(&output), exit, "{what}: {}", stderr(&output));
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap_or_default().trim(),
            expected,
            "{what}: {}",
            stderr(&output)
        );
        std::fs::remove_file(&marker).unwrap();
        std::fs::remove_file(world.path("started")).unwrap();
    }
}

/// When a command outlives the grace period, the message names the grace
/// that was given.
#[tokio::test]
async fn grace_messages_name_the_grace_given() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let started = world.path("started");
    let script = format!(
        "trap '' TERM; touch '{}'; while true; do sleep 0.1; done",
        started.display()
    );
    let guard = world
        .guard(
            &key,
            &[
                "--resource",
                "repo:acme/web",
                "--grace",
                "1500ms",
                "--",
                "sh",
                "-c",
                &script,
            ],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    send(&guard, nix::sys::signal::Signal::SIGTERM);
    let output = guard.wait_with_output().await.unwrap();
    let message = stderr(&output);
    assert_eq!(code(&output), 143, "{message}");
    assert!(
        message.contains("did not stop within 1.5s of SIGTERM"),
        "{message}"
    );
    assert!(
        !message.contains("0ns") && !message.contains("10s"),
        "{message}"
    );
}

/// When the guard runs the command it says so, with the run id and the
/// fencing token, on stderr and in the GitHub Actions step outputs.
#[tokio::test]
async fn proceeding_reports_the_run_id_and_fencing_token() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let outputs = world.path("github_output");
    let mut guard = world.guard(
        &key,
        &[
            "--resource",
            "project:site",
            "--",
            "sh",
            "-c",
            "echo $AVAILSYNC_RUN_ID $AVAILSYNC_FENCING_TOKEN",
        ],
    );
    guard
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs);
    let output = guard.output().await.unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (run_id, token) = stdout.trim().split_once(' ').unwrap();
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "claimed project:site as run {run_id} (fencing token {token})"
        )),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&outputs).unwrap(),
        format!("skipped=false\nrun_id={run_id}\nfencing_token={token}\n")
    );
}

/// `--resource` repeated claims every resource in one grant: the command
/// gets each fencing token; a second guard needing one of them is skipped
/// naming that resource, and runs nothing.
#[tokio::test]
async fn repeated_resources_are_claimed_together_and_a_blocked_one_is_named() {
    let world = World::new().await;
    let (a, b) = (
        world.key("deploy", Mode::Enforce).await,
        world.key("migrate", Mode::Enforce).await,
    );
    let started = world.path("a.started");
    let release = world.path("a.release");
    let script = format!(
        "echo \"$AVAILSYNC_FENCING_TOKENS\" > '{}'; while [ ! -e '{}' ]; do sleep 0.05; done",
        started.display(),
        release.display()
    );
    let mut first = world
        .guard(
            &a,
            &[
                "--resource",
                "service:billing",
                "--resource",
                "repo:Acme/DB",
                "--",
                "sh",
                "-c",
                &script,
            ],
        )
        .spawn()
        .unwrap();
    wait_for_file(&started).await;
    let tokens = std::fs::read_to_string(&started).unwrap();
    let tokens: Vec<&str> = tokens.trim().split(',').collect();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    assert!(tokens[0].starts_with("service:billing="), "{tokens:?}");
    assert!(tokens[1].starts_with("repo:acme/db="), "{tokens:?}");

    let marker = world.path("b.ran");
    let second = world
        .guard(
            &b,
            &[
                "--resource",
                "queue:mail",
                "--resource",
                "repo:acme/db",
                "--skip-exit-code",
                "3",
                "--",
                "touch",
                marker.to_str().unwrap(),
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&second), 3, "{}", stderr(&second));
    assert!(!marker.exists());
    let message = stderr(&second);
    assert!(
        message.contains("repo:acme/db is held by agent 'deploy'")
            && !message.contains("queue:mail is held"),
        "{message}"
    );

    std::fs::write(&release, "").unwrap();
    let status = first.wait().await.unwrap();
    assert!(status.success());
    // Everything was released: both resources are free again.
    let again = world
        .guard(
            &b,
            &[
                "--resource",
                "queue:mail",
                "--resource",
                "repo:acme/db",
                "--",
                "true",
            ],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&again), 0, "{}", stderr(&again));

    let twice = world
        .guard(
            &b,
            &["--resource", "pool:x", "--resource", "pool:x", "--", "true"],
        )
        .output()
        .await
        .unwrap();
    assert_eq!(code(&twice), 64, "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("listed twice"),
        "{}",
        stderr(&twice)
    );
}

/// What the guard says names no Rust types, debug output or library error
/// chains: sentences, whatever went wrong.
#[tokio::test]
async fn messages_are_sentences_without_sdk_internals() {
    let world = World::new().await;
    let key = world.key("ci", Mode::Enforce).await;
    let args = ["--resource", "repo:acme/web", "--", "true"];
    let mut no_key = world.guard("", &args);
    no_key.env_remove("AVAILSYNC_API_KEY");
    let mut closed = world.guard(&key, &args);
    closed.env("AVAILSYNC_URL", "http://127.0.0.1:9");
    let mut bad_url = world.guard(&key, &args);
    bad_url.env("AVAILSYNC_URL", "ftp://example.com");
    let bad_file = world.path("bad-credentials.toml");
    std::fs::write(&bad_file, "api_key = 3\n").unwrap();
    let mut bad_credentials = world.guard("", &args);
    bad_credentials
        .env_remove("AVAILSYNC_API_KEY")
        .env("AVAILSYNC_CREDENTIALS_FILE", &bad_file);
    let wrong_key = world.guard("avs_live_wrong", &args);
    for (what, mut command) in [
        ("no key", no_key),
        ("closed port", closed),
        ("bad url", bad_url),
        ("bad credentials", bad_credentials),
        ("wrong key", wrong_key),
    ] {
        let output = command.output().await.unwrap();
        let message = stderr(&output);
        assert_ne!(code(&output), 0, "{what}: {message}");
        assert!(
            message.starts_with("availsync guard: "),
            "{what}: {message}"
        );
        for internal in [
            "ClientBuilder",
            "::",
            "Error {",
            "Api {",
            "status:",
            "Some(",
            "(os error",
            "client error (",
            "unauthenticated,",
        ] {
            assert!(
                !message.contains(internal),
                "{what}: {internal:?} in {message}"
            );
        }
    }
}
