//! Where the key is, said and never shown: the credential state in
//! `detect` and `install`, entries that cannot start, masked dry runs, and
//! no key or backup left in a project by accident.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Home, text};

const KEY: &str = "avs_live_UDrfq8xKx3b0Lk_2-vYhTq0mZq4n8bS1aW7cQeR5uJo";
const MASKED: &str = "avs_live_UDrf…";

fn all_output(out: &std::process::Output) -> String {
    let all = text(out);
    assert!(!all.contains(KEY), "the key was printed:\n{all}");
    all
}

fn detect_json(home: &Home, key_in_env: bool) -> Value {
    let mut command = home.command(&["detect", "--json"]);
    if key_in_env {
        command.env("AVAILSYNC_API_KEY", KEY);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    all_output(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cursor(report: &Value) -> Value {
    report["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == "cursor")
        .unwrap()
        .clone()
}

#[test]
fn detect_and_install_say_where_the_key_is_and_what_an_entry_lacks() {
    let home = Home::new();
    std::fs::create_dir_all(home.home().join(".cursor")).unwrap();

    // Nothing stored: install warns, detect says the entry cannot start.
    let out = home.run(&["install", "--yes", "--client", "cursor"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no credentials stored; run `availsync-setup login`"),
        "{}",
        text(&out)
    );
    let out = home.run(&["detect"]);
    let all = all_output(&out);
    assert!(all.contains("credentials: no credentials stored"), "{all}");
    assert!(!all.contains("Cursor (cursor): configured"), "{all}");
    assert!(
        all.contains("Cursor (cursor): has an availsync entry that cannot start")
            && all.contains("no key reaches it"),
        "{all}"
    );
    let report = detect_json(&home, false);
    assert_eq!(report["credentials"]["source"], "none");
    let entry = cursor(&report);
    assert_eq!(entry["configured"], false, "{entry}");
    assert_eq!(entry["files"][0]["entry"], true, "{entry}");
    assert!(
        entry["files"][0]["missing"][0]
            .as_str()
            .unwrap()
            .contains("no key reaches it"),
        "{entry}"
    );

    // A key in the environment only: it is the source, and install says
    // that clients started elsewhere will not see it.
    let report = detect_json(&home, true);
    assert_eq!(report["credentials"]["source"], "env");
    assert_eq!(cursor(&report)["configured"], true);
    let out = home
        .command(&["install", "--yes", "--client", "cursor"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    let all = all_output(&out);
    assert!(
        all.contains("no credentials stored") && all.contains("reaches only clients started"),
        "{all}"
    );

    // Stored credentials: no warning; detect names the file.
    home.write(
        &home.credentials(),
        &format!("url = \"http://127.0.0.1:8787\"\napi_key = \"{KEY}\"\n"),
    );
    let out = home.run(&["install", "--yes", "--client", "cursor"]);
    assert!(
        !all_output(&out).contains("warning"),
        "{}",
        all_output(&out)
    );
    let out = home.run(&["detect"]);
    let all = all_output(&out);
    assert!(
        all.contains(&format!(
            "credentials: key stored in {}",
            home.credentials().display()
        )),
        "{all}"
    );
    assert!(all.contains("Cursor (cursor): configured"), "{all}");
    let report = detect_json(&home, false);
    assert_eq!(report["credentials"]["source"], "file");
    assert_eq!(cursor(&report)["configured"], true);

    // The program the entry runs is gone: not configured, and why.
    std::fs::remove_file(home.mcp()).unwrap();
    let out = home.run(&["detect"]);
    let all = all_output(&out);
    assert!(
        all.contains(&format!(
            "its program {} does not exist",
            home.mcp().display()
        )),
        "{all}"
    );
    assert!(!all.contains("Cursor (cursor): configured"), "{all}");
    assert_eq!(cursor(&detect_json(&home, false))["configured"], false);
}

#[test]
fn dry_run_diffs_mask_the_key() {
    let home = Home::new();
    let path = home.home().join(".codeium/windsurf/mcp_config.json");
    for args in [
        &[
            "install",
            "--dry-run",
            "--embed-key",
            "--client",
            "windsurf",
        ][..],
        &[
            "install",
            "--dry-run",
            "--embed-key",
            "--client",
            "windsurf",
            "--json",
        ],
    ] {
        let out = home
            .command(args)
            .env("AVAILSYNC_API_KEY", KEY)
            .output()
            .unwrap();
        let all = all_output(&out);
        assert!(out.status.success(), "{all}");
        assert!(all.contains(MASKED), "{all}");
    }
    assert!(!path.exists());

    // A key already in the file is masked where the diff removes it.
    let out = home
        .command(&["install", "--yes", "--embed-key", "--client", "windsurf"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let out = home
        .command(&["install", "--dry-run", "--client", "windsurf"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    let all = all_output(&out);
    assert!(
        all.lines().any(|line| line.starts_with('-')
            && line.ends_with(&format!("\"AVAILSYNC_API_KEY\": \"{MASKED}\","))),
        "{all}"
    );
}

fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".availsync-backup-"))
        .collect()
}

#[test]
fn a_project_gets_no_key_without_consent_and_no_backups() {
    let home = Home::new();
    let project_file = home.project().join(".cursor/mcp.json");
    let embed = [
        "install",
        "--yes",
        "--embed-key",
        "--scope",
        "project",
        "--client",
        "cursor",
    ];
    let out = home
        .command(&embed)
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(64), "{all}");
    assert!(all.contains("--allow-key-in-repo"), "{all}");
    assert!(!project_file.exists());

    let mut consented = embed.to_vec();
    consented.push("--allow-key-in-repo");
    let out = home
        .command(&consented)
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(
        std::fs::read_to_string(&project_file)
            .unwrap()
            .contains(KEY)
    );

    // Changing the project's file backs it up outside the project.
    let out = home
        .command(&[
            "install", "--yes", "--scope", "project", "--client", "cursor",
        ])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    let all = all_output(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        !std::fs::read_to_string(&project_file)
            .unwrap()
            .contains(KEY)
    );
    assert_eq!(
        backups_in(project_file.parent().unwrap()),
        Vec::<PathBuf>::new()
    );
    let root = home.home().join(".local/state/availsync/backups");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let saved = backups_in(&dirs[0]);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(
        all.contains(&format!("(backup: {})", saved[0].display())),
        "{all}"
    );
}
