//! Claude Code's user scope through its `claude` CLI: said plainly when
//! `claude` is missing, and left alone when it already has our entry.

use serde_json::Value;

use crate::support::{Home, text};

#[test]
fn without_claude_on_path_nothing_is_configured_and_the_command_is_shown() {
    let home = Home::new();
    let out = home.run(&["install", "--yes", "--client", "claude-code"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("claude-code: nothing was configured: `claude` is not on PATH"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "claude mcp add --scope user --env AVAILSYNC_URL=http://127.0.0.1:8787 availsync -- {}",
            home.mcp().display()
        )),
        "{stdout}"
    );
    let out = home.run(&["install", "--yes", "--client", "claude-code", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["commands"][0]["status"], "claude-missing",
        "{report}"
    );
}

/// A fake `claude` that logs its calls and keeps one server the way
/// `claude mcp add-json`, `get` and `remove` do; `get` describes what was
/// added as `answer` says.
fn fake_claude(home: &Home, answer: &str) -> std::path::PathBuf {
    let log = home.root().join("claude.log");
    let state = home.root().join("claude-state");
    std::fs::write(home.root().join("claude-answer"), answer).unwrap();
    home.script(
        "claude",
        &format!(
            r#"#!/bin/sh
# Shell built-ins only: PATH holds nothing else.
copy() {{ while IFS= read -r line; do printf '%s\n' "$line"; done < "$1"; }}
echo "$*" >> '{log}'
case "$1 $2" in
  "mcp get")
    if [ -s '{state}' ]; then copy '{state}'; else echo 'No MCP server named "availsync".' >&2; exit 1; fi ;;
  "mcp add-json")
    copy '{answer}' > '{state}'; echo 'Added stdio MCP server availsync to user config' ;;
  "mcp remove")
    if [ -s '{state}' ]; then : > '{state}'; else echo 'No user-scoped MCP server found with name: availsync' >&2; exit 1; fi ;;
esac
"#,
            log = log.display(),
            state = state.display(),
            answer = home.root().join("claude-answer").display(),
        ),
    );
    log
}

fn calls(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn a_rerun_that_changes_nothing_reports_unchanged() {
    let home = Home::new();
    let answer = format!(
        "availsync:\n  Scope: User config (available in all your projects)\n  Status: ✓ Connected\n  Type: stdio\n  Command: {}\n  Args: \n  Environment:\n    AVAILSYNC_URL=http://127.0.0.1:8787\n\nTo remove this server, run: claude mcp remove \"availsync\" -s user\n",
        home.mcp().display()
    );
    let log = fake_claude(&home, &answer);
    let args = ["install", "--yes", "--client", "claude-code"];

    let out = home.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("claude-code: configured"),
        "{}",
        text(&out)
    );
    assert_eq!(calls(&log), ["mcp get", "mcp remove", "mcp add-json"]);

    let out = home.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("claude-code: unchanged"),
        "{}",
        text(&out)
    );
    assert_eq!(calls(&log)[3..], ["mcp get"], "only asked, nothing run");
    let out = home.run(&[&args[..], &["--json"]].concat());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["commands"][0]["status"], "unchanged", "{report}");

    // Another URL is a change: the entry is replaced.
    let out = home.run(&[&args[..], &["--url", "http://elsewhere:1"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("claude-code: configured"),
        "{}",
        text(&out)
    );
    assert_eq!(calls(&log)[5..], ["mcp get", "mcp remove", "mcp add-json"]);
}
