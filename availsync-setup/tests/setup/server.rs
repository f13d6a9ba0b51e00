//! `login` and `test` against the real in-process server.

use std::os::unix::fs::PermissionsExt;

use availsync_sdk::{AdminClient, Mode};
use availsync_server::{RunningServer, ServerConfig};
use serde_json::Value;

use crate::support::{Home, text};

pub struct World {
    pub server: RunningServer,
    pub admin: AdminClient,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn new(email: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = RunningServer::start(ServerConfig::ephemeral(dir.path()))
            .await
            .unwrap();
        let admin = AdminClient::new(&server.url()).unwrap();
        admin
            .signup(email, "correct horse battery", "Setup")
            .await
            .unwrap();
        Self {
            server,
            admin,
            _dir: dir,
        }
    }

    pub async fn key(&self, mode: Mode) -> String {
        self.admin
            .create_agent("setup-test", Some(mode))
            .await
            .unwrap()
            .api_key
    }
}

async fn run_test(home: &Home, url: &str, key: &str) -> (std::process::Output, Value) {
    let mut command = home.command(&["test", "--json"]);
    command
        .env("AVAILSYNC_URL", url)
        .env("AVAILSYNC_API_KEY", key);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out, report)
}

fn steps(report: &Value) -> Vec<(String, bool)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["ok"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn owned(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(n, ok)| ((*n).to_owned(), *ok)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_setup_test_passes_and_fails_with_precise_hints() {
    let world = World::new("test@example.com").await;
    let home = Home::new();
    let url = world.server.url();

    let good = world.key(Mode::Enforce).await;
    let (out, report) = run_test(&home, &url, &good).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        steps(&report),
        owned(&[
            ("health", true),
            ("start run", true),
            ("extend", true),
            ("finish", true),
            ("activity", true)
        ])
    );
    assert!(report["steps"][0]["ms"].is_u64());

    let (out, report) = run_test(&home, &url, "avs_live_wrong").await;
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert_eq!(
        steps(&report),
        owned(&[("health", true), ("start run", false)])
    );
    assert!(
        report["steps"][1]["hint"]
            .as_str()
            .unwrap()
            .starts_with("key rejected"),
        "{report}"
    );

    let observe = world.key(Mode::Observe).await;
    let (out, report) = run_test(&home, &url, &observe).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        steps(&report),
        owned(&[("health", true), ("start run", false)])
    );
    assert!(
        report["steps"][1]["hint"]
            .as_str()
            .unwrap()
            .contains("observe mode"),
        "{report}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (out, report) = run_test(&home, &closed, &good).await;
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert_eq!(steps(&report), owned(&[("health", false)]));
    assert!(
        report["steps"][0]["hint"]
            .as_str()
            .unwrap()
            .starts_with("server unreachable"),
        "{report}"
    );

    // The human checklist.
    let mut command = home.command(&["test"]);
    command
        .env("AVAILSYNC_URL", &url)
        .env("AVAILSYNC_API_KEY", "avs_live_wrong");
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("✓ health")
            && stdout.contains("✗ start run")
            && stdout.contains("hint: key rejected"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn login_verifies_and_stores_private_credentials_then_test_uses_them() {
    let world = World::new("login@example.com").await;
    let home = Home::new();
    let url = world.server.url();
    let key = world.key(Mode::Enforce).await;

    let u = url.clone();
    let home_ref = &home;
    let out = {
        let args = ["login", "--url", u.as_str()];
        let mut command = home_ref.command(&args);
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = command.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{key}\n").as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    };
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&key), "the key is never printed");
    let path = home.credentials();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored = std::fs::read_to_string(&path).unwrap();
    assert!(stored.contains(&key) && stored.contains(&url));

    // `test` with no environment uses the stored credentials.
    let mut command = home.command(&["test", "--json"]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // A wrong key is refused and nothing is stored.
    std::fs::remove_file(&path).unwrap();
    let mut command = home.command(&["login", "--url", &url]);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"avs_live_wrong\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(!path.exists());

    // logout removes the file.
    crate::support::Home::write(&home, &path, "url = \"x\"\napi_key = \"y\"\n");
    let out = home.run(&["logout"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!path.exists());
}
