//! Editing files the user owns: through symbolic links, keeping what the
//! user added to our entry, and keeping only the last few backups.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{Home, text};

fn parse_json(text: &str) -> Value {
    jsonc_parser::cst::CstRootNode::parse(text, &Default::default())
        .unwrap()
        .to_serde_value()
        .unwrap()
}

#[test]
fn a_symlinked_config_is_edited_through_the_link() {
    let home = Home::new();
    let real = home.home().join("dotfiles/cursor/mcp.json");
    home.write(&real, "{\n  \"mcpServers\": {}\n}\n");
    let link = home.home().join(".cursor/mcp.json");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("../dotfiles/cursor/mcp.json", &link).unwrap();

    let out = home.run(&["install", "--yes", "--client", "cursor"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file"
    );
    let written = std::fs::read_to_string(&real).unwrap();
    assert!(
        parse_json(&written)["mcpServers"]["availsync"].is_object(),
        "{written}"
    );
    assert!(text(&out).contains("through the link"), "{}", text(&out));

    // A link to nothing is refused and left as it is.
    let dangling = home.home().join(".gemini/settings.json");
    std::fs::create_dir_all(dangling.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/nonexistent/settings.json", &dangling).unwrap();
    let out = home.run(&["install", "--yes", "--client", "gemini"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("will not replace the symbolic link")
            && text(&out).contains("/nonexistent/settings.json"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_link(&dangling).unwrap(),
        Path::new("/nonexistent/settings.json")
    );
}

#[test]
fn an_existing_entry_is_updated_in_place_keeping_the_users_keys() {
    let home = Home::new();
    let codex = home.home().join(".codex/config.toml");
    home.write(
        &codex,
        "[mcp_servers.availsync]\ncommand = \"/old/availsync-mcp\"\nargs = []\nenv = { AVAILSYNC_URL = \"http://old:1\", RUST_LOG = \"debug\" }\nenv_vars = [\"AVAILSYNC_API_KEY\", \"MY_PROXY\"]\nstartup_timeout_sec = 30 # slow disk\n",
    );
    let cursor = home.home().join(".cursor/mcp.json");
    home.write(
        &cursor,
        "{\n  \"mcpServers\": {\n    \"availsync\": {\n      \"command\": \"/old/availsync-mcp\",\n      \"args\": [],\n      \"env\": {\n        \"AVAILSYNC_URL\": \"http://old:1\",\n        \"AVAILSYNC_API_KEY\": \"avs_live_old\",\n        \"HTTPS_PROXY\": \"http://proxy:3128\"\n      },\n      \"autoApprove\": [\"check_availability\"] // mine\n    }\n  }\n}\n",
    );
    let args = [
        "install",
        "--yes",
        "--client",
        "codex",
        "--client",
        "cursor",
        "--url",
        "http://new:2",
    ];
    let out = home.run(&args);
    assert!(out.status.success(), "{}", text(&out));

    let written = std::fs::read_to_string(&codex).unwrap();
    let doc: toml_edit::DocumentMut = written.parse().unwrap();
    let entry = &doc["mcp_servers"]["availsync"];
    assert_eq!(
        entry["command"].as_str(),
        Some(&*home.mcp().to_string_lossy())
    );
    assert_eq!(
        entry["startup_timeout_sec"].as_integer(),
        Some(30),
        "{written}"
    );
    assert!(written.contains("# slow disk"), "{written}");
    assert_eq!(entry["env"]["AVAILSYNC_URL"].as_str(), Some("http://new:2"));
    assert_eq!(
        entry["env"]["RUST_LOG"].as_str(),
        Some("debug"),
        "{written}"
    );
    let env_vars: Vec<&str> = entry["env_vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        env_vars,
        [
            "AVAILSYNC_API_KEY",
            "MY_PROXY",
            "AVAILSYNC_CREDENTIALS_FILE"
        ],
        "{written}"
    );

    let written = std::fs::read_to_string(&cursor).unwrap();
    assert!(written.contains("// mine"), "{written}");
    assert_eq!(
        parse_json(&written)["mcpServers"]["availsync"],
        json!({
            "command": home.mcp().display().to_string(),
            "args": [],
            // The key is no longer embedded: it is taken out; the user's
            // variable stays.
            "env": {"AVAILSYNC_URL": "http://new:2", "HTTPS_PROXY": "http://proxy:3128"},
            "autoApprove": ["check_availability"],
        }),
        "{written}"
    );

    // Nothing left to change.
    let out = home.run(&[&args[..], &["--json"]].concat());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for change in report["changes"].as_array().unwrap() {
        assert_eq!(change["status"], "unchanged", "{change}");
    }
}

fn backups_of(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut found: Vec<PathBuf> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.availsync-backup-"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn only_the_last_backups_are_kept() {
    let home = Home::new();
    let path = home.home().join(".gemini/settings.json");
    home.write(&path, "{}\n");
    let install = |url: &str, keep: Option<&str>, env: Option<&str>| {
        let mut args = vec!["install", "--yes", "--client", "gemini", "--url", url];
        if let Some(keep) = keep {
            args.extend(["--keep-backups", keep]);
        }
        let mut command = home.command(&args);
        if let Some(env) = env {
            command.env("AVAILSYNC_KEEP_BACKUPS", env);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        std::fs::read_to_string(&path).unwrap()
    };
    let mut contents = vec!["{}\n".to_owned()];
    for n in 1..=5 {
        contents.push(install(&format!("http://host:{n}"), None, None));
    }
    let kept = backups_of(&path);
    assert_eq!(kept.len(), 3, "{kept:?}");
    // The newest three: what the file held before the last three runs.
    let saved: Vec<String> = kept
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(saved, contents[2..5]);

    install("http://host:6", None, Some("2"));
    assert_eq!(backups_of(&path).len(), 2);
    install("http://host:7", Some("1"), Some("2"));
    assert_eq!(
        backups_of(&path).len(),
        1,
        "the flag wins over the variable"
    );
}
