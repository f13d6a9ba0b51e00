//! `doctor` against the real in-process server: a good set-up passes; an
//! unreachable server, a refused key and an entry whose program is gone
//! fail with their fixes; `--json` is an array of {check, status, detail,
//! fix}.

use std::process::{Command, Output};

use availsync_sdk::Mode;
use serde_json::Value;

use crate::server::World;
use crate::support::{Home, text};

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Stores a URL and key as `login` does.
fn store(home: &Home, url: &str, key: &str) {
    home.write(
        &home.credentials(),
        &format!("url = \"{url}\"\napi_key = \"{key}\"\n"),
    );
}

/// Writes a Cursor entry by hand.
fn cursor_entry(home: &Home, command: &str, url: &str) {
    home.write(
        &home.home().join(".cursor").join("mcp.json"),
        &serde_json::json!({
            "mcpServers": {
                "availsync": {"command": command, "args": [], "env": {"AVAILSYNC_URL": url}}
            }
        })
        .to_string(),
    );
}

/// One check's line of the human output: its status, the rest of the
/// line, and the fix printed under it.
fn line(out: &Output, check: &str) -> (String, String, Option<String>) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no {check} line in\n{}", text(out)));
    let mut words = lines[at].split_whitespace();
    let status = words.next().unwrap().to_owned();
    let fix = lines
        .get(at + 1)
        .and_then(|l| l.trim().strip_prefix("fix: "))
        .map(str::to_owned);
    (status, lines[at].to_owned(), fix)
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_a_good_setup_against_the_real_server() {
    let world = World::new("doctor-ok@example.com").await;
    let home = Home::new();
    let url = world.server.url();
    let key = world.key(Mode::Enforce).await;
    store(&home, &url, &key);
    std::fs::create_dir_all(home.home().join(".cursor")).unwrap();
    let out = home.run(&["install", "--yes", "--client", "cursor"]);
    assert!(out.status.success(), "{}", text(&out));

    let out = output(home.command(&["doctor"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for check in ["server", "key", "clock", "client:cursor"] {
        let (status, whole, fix) = line(&out, check);
        assert_eq!(status, "ok", "{}", text(&out));
        assert_eq!(fix, None, "{whole}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (_, server, _) = line(&out, "server");
    assert!(
        server.contains(&format!("is up at {url}")) && server.contains("the stored credentials"),
        "{server}"
    );
    let (_, key_line, _) = line(&out, "key");
    assert!(
        key_line.contains("is accepted") && key_line.contains(&key[..13]),
        "{key_line}"
    );
    let (_, cursor, _) = line(&out, "client:cursor");
    assert!(
        cursor.contains(&home.mcp().display().to_string()) && cursor.contains("as checked above"),
        "{cursor}"
    );
    assert!(stdout.contains("Everything checks out."), "{stdout}");
    assert!(!text(&out).contains(&key), "the key is never printed");
}

#[test]
fn doctor_names_an_unreachable_url_and_fails() {
    let home = Home::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let out = home
        .command(&["doctor"])
        .env("AVAILSYNC_URL", &closed)
        .env("AVAILSYNC_API_KEY", "avs_live_doctordoctordoctordoctor")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (status, server, fix) = line(&out, "server");
    assert_eq!(status, "fail", "{}", text(&out));
    assert!(
        server.contains(&closed) && server.contains("$AVAILSYNC_URL"),
        "{server}"
    );
    let fix = fix.unwrap();
    assert!(
        fix.contains(&format!("start the Availsync server at {closed}"))
            && fix.contains("set $AVAILSYNC_URL"),
        "{fix}"
    );
    // What depends on the server says it was not checked.
    let (status, key, _) = line(&out, "key");
    assert_eq!(status, "warn");
    assert!(
        key.contains("not checked") && key.contains("avs_live_doct…"),
        "{key}"
    );
    assert_eq!(line(&out, "clock").0, "warn");
    assert!(!text(&out).contains("avs_live_doctordoctor"));

    // A wrong command line is a usage error.
    let out = home.run(&["doctor", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_fails_on_a_refused_key_with_the_login_fix() {
    let world = World::new("doctor-refused@example.com").await;
    let home = Home::new();
    let url = world.server.url();
    let agent = world
        .admin
        .create_agent("deleted-later", Some(Mode::Enforce))
        .await
        .unwrap();
    world.admin.delete_agent(&agent.agent.id).await.unwrap();
    store(&home, &url, &agent.api_key);

    let out = output(home.command(&["doctor"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(line(&out, "server").0, "ok", "{}", text(&out));
    let (status, key, fix) = line(&out, "key");
    assert_eq!(status, "fail", "{}", text(&out));
    assert!(
        key.contains("was refused") && key.contains("its agent was deleted"),
        "{key}"
    );
    assert!(fix.unwrap().contains("run `availsync-setup login`"));
    assert_eq!(line(&out, "clock").0, "warn");
    assert!(
        !text(&out).contains(&agent.api_key),
        "the key is never printed"
    );

    // The same key in the environment: the fix says where to change it.
    let mut command = home.command(&["doctor"]);
    command.env("AVAILSYNC_API_KEY", &agent.api_key);
    let out = output(command).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (_, key, fix) = line(&out, "key");
    assert!(key.contains("from $AVAILSYNC_API_KEY"), "{key}");
    assert!(fix.unwrap().contains("set $AVAILSYNC_API_KEY"));
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_reports_an_entry_whose_program_is_gone_with_its_fix() {
    let world = World::new("doctor-client@example.com").await;
    let home = Home::new();
    let url = world.server.url();
    store(&home, &url, &world.key(Mode::Enforce).await);
    let gone = home.root().join("uninstalled").join("availsync-mcp");
    cursor_entry(&home, &gone.display().to_string(), &url);

    let out = output(home.command(&["doctor"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for check in ["server", "key", "clock"] {
        assert_eq!(line(&out, check).0, "ok", "{}", text(&out));
    }
    let (status, cursor, fix) = line(&out, "client:cursor");
    assert_eq!(status, "fail", "{}", text(&out));
    assert!(
        cursor.contains(&format!("its program {} does not exist", gone.display())),
        "{cursor}"
    );
    assert_eq!(
        fix.as_deref(),
        Some("run `availsync-setup install --client cursor`")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_json_is_an_array_of_check_status_detail_fix() {
    let world = World::new("doctor-json@example.com").await;
    let home = Home::new();
    let url = world.server.url();
    store(&home, &url, &world.key(Mode::Enforce).await);
    // An entry that works but points at another server: a warning only.
    cursor_entry(
        &home,
        &home.mcp().display().to_string(),
        "http://127.0.0.1:9",
    );

    let out = output(home.command(&["doctor", "--json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let checks = report.as_array().unwrap();
    for check in checks {
        let mut keys: Vec<&str> = check
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["check", "detail", "fix", "status"], "{check}");
    }
    let summary: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("server", "ok"),
            ("key", "ok"),
            ("clock", "ok"),
            ("client:cursor", "warn")
        ],
        "{report}"
    );
    assert!(checks[0]["fix"].is_null());
    assert!(
        checks[3]["detail"]
            .as_str()
            .unwrap()
            .contains("points at http://127.0.0.1:9"),
        "{report}"
    );
    assert_eq!(
        checks[3]["fix"].as_str().unwrap(),
        format!("run `availsync-setup install --client cursor --url {url}`")
    );
}
