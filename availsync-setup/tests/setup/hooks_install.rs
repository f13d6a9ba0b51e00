//! `install --hooks` and `remove`: the edit hook written into each
//! supporting client's user settings next to what is already there,
//! once, and taken out again.

use serde_json::{Value, json};

use crate::support::{Home, text};

/// A Claude Code user settings file as people have them: other settings,
/// and hooks of their own, among them one on the same edit tools.
const CLAUDE_SETTINGS: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "model": "opus",
  "permissions": {
    "allow": ["Bash(npm run lint)", "Read(~/.zshrc)"],
    "deny": ["Read(./.env)"]
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [{ "type": "command", "command": "~/.claude/hooks/check-bash.sh" }]
      },
      {
        "matcher": "Edit|Write",
        "hooks": [{ "type": "command", "command": "npx prettier --check \"$CLAUDE_PROJECT_DIR\"", "timeout": 20 }]
      }
    ],
    "Stop": [{ "hooks": [{ "type": "command", "command": "say done" }] }]
  }
}
"#;

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    // Claude Code's settings are strict JSON: serde_json must read them.
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// Our handlers, as `(event, command)`.
fn ours(settings: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (event, groups) in settings["hooks"].as_object().into_iter().flatten() {
        for group in groups.as_array().unwrap() {
            for handler in group["hooks"].as_array().unwrap() {
                let command = handler["command"].as_str().unwrap();
                if command.contains("availsync-setup") {
                    found.push((event.clone(), command.to_owned()));
                }
            }
        }
    }
    found
}

#[test]
fn claude_code_settings_get_the_hook_once_beside_the_users_own() {
    let home = Home::new();
    let settings = home.home().join(".claude/settings.json");
    home.write(&settings, CLAUDE_SETTINGS);
    let original: Value = serde_json::from_str(CLAUDE_SETTINGS).unwrap();

    let out = home.run(&["install", "--yes", "--client", "claude-code", "--hooks"]);
    assert!(out.status.success(), "{}", text(&out));
    let after = read_json(&settings);
    for key in ["$schema", "model", "permissions"] {
        assert_eq!(after[key], original[key], "{key}");
    }
    assert_eq!(after["hooks"]["Stop"], original["hooks"]["Stop"]);
    let pre = after["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(
        pre[..2].to_vec(),
        *original["hooks"]["PreToolUse"].as_array().unwrap()
    );
    assert_eq!(pre[2]["matcher"], "Edit|Write|MultiEdit|NotebookEdit");
    assert_eq!(pre[2]["hooks"][0]["type"], "command");
    assert_eq!(pre[2]["hooks"][0]["timeout"], 30);
    let command = pre[2]["hooks"][0]["command"].as_str().unwrap();
    let program = env!("CARGO_BIN_EXE_availsync-setup");
    assert_eq!(
        command,
        format!("{program} hook --client claude-code --url http://127.0.0.1:8787")
    );
    assert_eq!(
        ours(&after),
        [
            ("PreToolUse".to_owned(), command.to_owned()),
            ("SessionEnd".to_owned(), command.to_owned())
        ]
    );
    // ~/.claude.json belongs to Claude Code's CLI: never touched.
    assert!(!home.home().join(".claude.json").exists());
    let backups: Vec<_> = std::fs::read_dir(home.home().join(".claude"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with("settings.json.availsync-backup-")
                .then_some(name)
        })
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");

    // Twice: unchanged, byte for byte.
    let written = std::fs::read_to_string(&settings).unwrap();
    let again = home.run(&[
        "install",
        "--yes",
        "--client",
        "claude-code",
        "--hooks",
        "--json",
    ]);
    assert!(again.status.success(), "{}", text(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["changes"][0]["status"], "unchanged", "{report}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), written);

    // New options replace our entry; still one of each.
    let out = home.run(&[
        "install",
        "--yes",
        "--client",
        "claude-code",
        "--hooks",
        "--fail-open",
        "--hook-ttl",
        "30m",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let after = read_json(&settings);
    let found = ours(&after);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].1.ends_with(" --fail-open --ttl 30m"), "{found:?}");

    // Out again, only ours; the user's hooks and settings stay.
    let out = home.run(&["remove", "--client", "claude-code", "--hooks-only"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_json(&settings), original);
}

/// Claude Code settings with comments (JSONC, which its parser accepts
/// and people write): every comment survives install and remove.
const CLAUDE_SETTINGS_COMMENTED: &str = r#"{
  // my model
  "model": "opus",
  "hooks": {
    /* format on write */
    "PostToolUse": [
      { "matcher": "Write", "hooks": [{ "type": "command", "command": "fmt.sh" }] } // keep
    ]
  }
}
"#;

#[test]
fn comments_and_other_hooks_in_claude_code_settings_survive_install_and_remove() {
    let home = Home::new();
    let settings = home.home().join(".claude/settings.json");
    home.write(&settings, CLAUDE_SETTINGS_COMMENTED);

    let out = home.run(&["install", "--yes", "--client", "claude-code", "--hooks"]);
    assert!(out.status.success(), "{}", text(&out));
    let written = std::fs::read_to_string(&settings).unwrap();
    for comment in ["// my model", "/* format on write */", "// keep"] {
        assert!(written.contains(comment), "{comment}:\n{written}");
    }
    let value = jsonc(
        &written
            .replace("/* format on write */", "")
            .replace("// keep", ""),
    );
    assert_eq!(
        value["hooks"]["PostToolUse"][0]["hooks"][0]["command"],
        "fmt.sh"
    );
    assert_eq!(ours(&value).len(), 2, "{written}");

    // Again: nothing written.
    let out = home.run(&["install", "--yes", "--client", "claude-code", "--hooks"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), written);

    let out = home.run(&["remove", "--client", "claude-code", "--hooks-only"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&settings).unwrap(),
        CLAUDE_SETTINGS_COMMENTED
    );
}

#[test]
fn gemini_gets_its_mcp_entry_and_its_hook_in_one_write() {
    let home = Home::new();
    let settings = home.home().join(".gemini/settings.json");
    home.write(
        &settings,
        "{\n  \"theme\": \"GitHub\",\n  // trusted servers only\n  \"mcpServers\": {}\n}\n",
    );
    let out = home.run(&[
        "install", "--yes", "--client", "gemini", "--hooks", "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report}");
    assert_eq!(changes[0]["status"], "update");

    let after = std::fs::read_to_string(&settings).unwrap();
    assert!(after.contains("// trusted servers only"), "{after}");
    let value: Value = jsonc(&after);
    assert!(value["mcpServers"]["availsync"].is_object(), "{after}");
    assert_eq!(
        value["hooks"]["BeforeTool"][0]["matcher"],
        "write_file|replace"
    );
    assert_eq!(
        value["hooks"]["BeforeTool"][0]["hooks"][0]["timeout"],
        30000
    );
    assert!(
        value["hooks"]["SessionEnd"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains(" hook --client gemini ")
    );

    let out = home.run(&["remove", "--client", "gemini"]);
    assert!(out.status.success(), "{}", text(&out));
    let value = jsonc(&std::fs::read_to_string(&settings).unwrap());
    assert_eq!(value, json!({"theme": "GitHub", "mcpServers": {}}));
}

/// JSON with comments, read by taking the comment lines out.
fn jsonc(text: &str) -> Value {
    let strict: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&strict).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

#[test]
fn codex_gets_a_hooks_file_for_apply_patch() {
    let home = Home::new();
    let out = home.run(&["install", "--yes", "--client", "codex", "--hooks"]);
    assert!(out.status.success(), "{}", text(&out));
    let hooks = read_json(&home.home().join(".codex/hooks.json"));
    assert_eq!(hooks["hooks"]["PreToolUse"][0]["matcher"], "^apply_patch$");
    assert!(
        hooks["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains(" hook --client codex ")
    );
    assert!(
        std::fs::read_to_string(home.home().join(".codex/config.toml"))
            .unwrap()
            .contains("[mcp_servers.availsync]")
    );
}

#[test]
fn hooks_are_user_settings_and_clients_without_a_hook_api_are_named() {
    let home = Home::new();
    let out = home.run(&[
        "install", "--yes", "--client", "cursor", "--scope", "project", "--hooks",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("leave out --scope project"),
        "{}",
        text(&out)
    );
    let out = home.run(&["install", "--yes", "--client", "cursor", "--fail-open"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));

    let out = home.run(&["install", "--yes", "--client", "cursor", "--hooks"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cursor: no edit hook installed: Cursor's preToolUse"),
        "{stderr}"
    );
    assert!(!home.home().join(".cursor/hooks.json").exists());
}
