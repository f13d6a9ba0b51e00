//! Editing files the user owns: keeping what the user added to our entry.

use serde_json::{Value, json};

use crate::support::{Home, text};

fn parse_json(text: &str) -> Value {
    jsonc_parser::cst::CstRootNode::parse(text, &Default::default())
        .unwrap()
        .to_serde_value()
        .unwrap()
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
