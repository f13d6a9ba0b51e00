//! The edit hook in each client that has a hook API able to block a file
//! edit before it happens (docs/setup.md, "The edit hook", says which
//! clients were checked and why the others are not supported): which
//! user settings file holds it, and the entries written there.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::{ClientId, shell_quote};
use crate::hook::HookClient;
use crate::paths::BaseDirs;

/// Where a client's hooks are configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookTarget {
    /// The hook's client.
    pub client: HookClient,
    /// The user settings file, absolute.
    pub path: PathBuf,
}

/// The user-level hook file of `client`, when Availsync supports its hook
/// API.
pub fn target(client: ClientId, dirs: &BaseDirs) -> Option<HookTarget> {
    let (hook, path) = match client {
        // CC-docs/hooks.md: user hooks live in ~/.claude/settings.json
        // (never ~/.claude.json, which the CLI rewrites as it runs).
        ClientId::ClaudeCode => (
            HookClient::ClaudeCode,
            dirs.claude_config.join("settings.json"),
        ),
        // gemini-cli docs/hooks/index.md.
        ClientId::Gemini => (
            HookClient::Gemini,
            dirs.home.join(".gemini").join("settings.json"),
        ),
        // developers.openai.com/codex/hooks: ~/.codex/hooks.json.
        ClientId::Codex => (HookClient::Codex, dirs.codex_home.join("hooks.json")),
        _ => return None,
    };
    Some(HookTarget { client: hook, path })
}

/// Why `client` gets no edit hook (docs/setup.md, "The edit hook", has
/// the sources).
pub fn unsupported(client: ClientId) -> &'static str {
    match client {
        ClientId::Cursor => {
            "Cursor's preToolUse hook reference could not be confirmed from its own documentation (tool names, input fields and the denial format are known only second-hand)"
        }
        ClientId::Windsurf => {
            "Windsurf documents that pre_write_code can block, but not the fields of its input (the file path is known only second-hand)"
        }
        ClientId::Vscode => {
            "VS Code's agent hooks are in preview and ignore matchers; the input of each edit tool is not documented"
        }
        ClientId::Cline => {
            "Cline's file-based hooks are no longer in its documentation (it points to SDK plugins, not available in the VS Code extension)"
        }
        ClientId::Zed => "Zed has no command hooks, only static permission rules",
        ClientId::ClaudeDesktop => "Claude Desktop has no hooks and no file-editing tools",
        ClientId::ClaudeCode | ClientId::Gemini | ClientId::Codex => "",
    }
}

/// How the hook is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSpec {
    /// Absolute path of `availsync-setup`.
    pub program: PathBuf,
    /// The server URL, as the MCP entries get it.
    pub url: String,
    /// Let edits through when the server is down.
    pub fail_open: bool,
    /// The lease, when not the default.
    pub ttl: Option<String>,
}

/// Longest a client waits for the hook before going ahead without it (a
/// timed-out hook does not block): well past the hook's own limit of 10 s,
/// so that the hook, not the client, decides.
const TIMEOUT_SECONDS: u64 = 30;

impl HookSpec {
    /// The shell command line the client runs.
    pub fn command(&self, client: HookClient) -> String {
        let mut words = vec![
            shell_quote(&self.program.to_string_lossy()),
            "hook".to_owned(),
            "--client".to_owned(),
            client.id().to_owned(),
            "--url".to_owned(),
            shell_quote(&self.url),
        ];
        if self.fail_open {
            words.push("--fail-open".to_owned());
        }
        if let Some(ttl) = &self.ttl {
            words.push("--ttl".to_owned());
            words.push(shell_quote(ttl));
        }
        words.join(" ")
    }

    /// The `(event, matcher group)` entries for `client`'s settings.
    pub fn entries(&self, client: HookClient) -> Vec<(&'static str, Value)> {
        let command = self.command(client);
        match client {
            // CC-docs/hooks.md: `Edit|Write|MultiEdit|NotebookEdit` is a
            // list of exact names (MultiEdit is gone from current Claude
            // Code, still matched harmlessly). SessionEnd keeps the
            // default budget (1.5 s), which the hook stays within.
            HookClient::ClaudeCode => vec![
                (
                    "PreToolUse",
                    json!({"matcher": "Edit|Write|MultiEdit|NotebookEdit", "hooks": [
                        {"type": "command", "command": command, "timeout": TIMEOUT_SECONDS}
                    ]}),
                ),
                (
                    "SessionEnd",
                    json!({"hooks": [{"type": "command", "command": command}]}),
                ),
            ],
            // gemini-cli docs/hooks/reference.md: timeouts in milliseconds.
            HookClient::Gemini => vec![
                (
                    "BeforeTool",
                    json!({"matcher": "write_file|replace", "hooks": [
                        {"name": "availsync", "type": "command", "command": command,
                         "timeout": TIMEOUT_SECONDS * 1000}
                    ]}),
                ),
                (
                    "SessionEnd",
                    json!({"hooks": [
                        {"name": "availsync", "type": "command", "command": command, "timeout": 5000}
                    ]}),
                ),
            ],
            // Codex has no session-end event: its claims lapse at their
            // lease.
            HookClient::Codex => vec![(
                "PreToolUse",
                json!({"matcher": "^apply_patch$", "hooks": [
                    {"type": "command", "command": command, "timeout": TIMEOUT_SECONDS}
                ]}),
            )],
        }
    }
}

/// Whether a hook handler is Availsync's: its command runs a program
/// named `availsync-setup` with `hook` as the first argument (wherever
/// the program lives, so that a moved binary's entry is still found).
pub fn is_ours(handler: &Value) -> bool {
    handler["command"].as_str().is_some_and(is_our_command)
}

fn is_our_command(command: &str) -> bool {
    let Some(at) = command.rfind("availsync-setup") else {
        return false;
    };
    let before = &command[..at];
    if !(before.is_empty() || before.ends_with(['/', '\\', '\'', '"', ' '])) {
        return false;
    }
    let rest = &command[at + "availsync-setup".len()..];
    let rest = rest.strip_prefix(".exe").unwrap_or(rest);
    let rest = rest.trim_start_matches(['\'', '"']);
    rest.strip_prefix(" hook")
        .is_some_and(|after| after.is_empty() || after.starts_with(' '))
}

/// The hook's program: this executable.
pub fn program() -> Result<PathBuf, String> {
    std::env::current_exe()
        .map_err(|e| format!("cannot tell where availsync-setup is: {e}"))
        .and_then(|p| std::path::absolute(&p).map_err(|e| format!("{}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_commands_are_recognised_wherever_the_binary_is() {
        for command in [
            "/usr/local/bin/availsync-setup hook --client claude-code",
            "'/home/me/my tools/availsync-setup' hook --client gemini --fail-open",
            "availsync-setup hook",
            "C:\\tools\\availsync-setup.exe hook --client codex",
            "\"/opt/availsync-setup\" hook",
        ] {
            assert!(is_our_command(command), "{command}");
        }
        for command in [
            "availsync-setup guard --resource repo:a/b -- make",
            "/bin/not-availsync-setup hook",
            "availsync-setup hooks",
            "prettier --check",
            "echo availsync-setup",
        ] {
            assert!(!is_our_command(command), "{command}");
        }
    }

    #[test]
    fn the_command_carries_the_client_url_and_options() {
        let spec = HookSpec {
            program: PathBuf::from("/home/me/my tools/availsync-setup"),
            url: "http://127.0.0.1:8787".into(),
            fail_open: true,
            ttl: Some("30m".into()),
        };
        let command = spec.command(HookClient::Gemini);
        assert_eq!(
            command,
            "'/home/me/my tools/availsync-setup' hook --client gemini --url http://127.0.0.1:8787 --fail-open --ttl 30m"
        );
        assert!(is_our_command(&command));
        for client in [
            HookClient::ClaudeCode,
            HookClient::Gemini,
            HookClient::Codex,
        ] {
            for (_, group) in spec.entries(client) {
                assert!(group["hooks"].as_array().unwrap().iter().all(is_ours));
            }
        }
    }
}
