//! Claude Code's user scope, configured through its own CLI (`claude mcp
//! get`, `add-json`, `remove`), never by editing the file it keeps.
//!
//! Before adding, `claude mcp get availsync` is asked what is registered;
//! when it is already exactly our entry (user scope, same command, no
//! arguments, the same environment) nothing is run and the action is
//! `unchanged`. An answer this module cannot read counts as different, so
//! the entry is replaced (remove, then add), as a first install does.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::clients::{ClientId, ENTRY_NAME, ServerSpec};
use crate::paths::BaseDirs;

/// What became of a `claude mcp` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CliStatus {
    /// The command ran and succeeded.
    Ran,
    /// Claude Code already has exactly this entry: nothing was run.
    Unchanged,
    /// The command failed (its error output is in `error`).
    Failed,
    /// A dry run: nothing was run.
    NotRun,
    /// `claude` is not on `PATH`: nothing was configured; the user has to
    /// run `command` themselves.
    ClaudeMissing,
}

/// What `claude` did or should do.
#[derive(Debug, Clone, Serialize)]
pub struct CliAction {
    /// The client.
    pub client: ClientId,
    /// The native command to run by hand (the key masked).
    pub command: String,
    /// What happened.
    pub status: CliStatus,
    /// The CLI's error output on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CliAction {
    fn new(command: String, status: CliStatus, error: Option<String>) -> Self {
        Self {
            client: ClientId::ClaudeCode,
            command,
            status,
            error,
        }
    }
}

/// Adds (or replaces) our entry in Claude Code's user scope, unless it is
/// already there as wanted.
pub fn add(dirs: &BaseDirs, spec: &ServerSpec, dry_run: bool) -> CliAction {
    let command = spec.claude_add_command(crate::clients::Scope::User);
    let Some(claude) = dirs.which("claude") else {
        return CliAction::new(command, CliStatus::ClaudeMissing, None);
    };
    if dry_run {
        return CliAction::new(command, CliStatus::NotRun, None);
    }
    if registered(&claude).is_some_and(|entry| entry.matches(spec)) {
        return CliAction::new(command, CliStatus::Unchanged, None);
    }
    // Replace an older entry: remove (ignoring "not found"), then add.
    let _ = Command::new(&claude)
        .args(["mcp", "remove", "--scope", "user", ENTRY_NAME])
        .output();
    let (status, error) = run(
        &claude,
        &[
            "mcp",
            "add-json",
            "--scope",
            "user",
            ENTRY_NAME,
            &spec.claude_json(),
        ],
    );
    CliAction::new(command, status, error)
}

/// Takes our entry out of Claude Code's user scope.
pub fn remove(dirs: &BaseDirs, dry_run: bool) -> CliAction {
    let command = format!("claude mcp remove --scope user {ENTRY_NAME}");
    let Some(claude) = dirs.which("claude") else {
        return CliAction::new(command, CliStatus::ClaudeMissing, None);
    };
    if dry_run {
        return CliAction::new(command, CliStatus::NotRun, None);
    }
    let (status, error) = run(&claude, &["mcp", "remove", "--scope", "user", ENTRY_NAME]);
    CliAction::new(command, status, error)
}

fn run(claude: &Path, args: &[&str]) -> (CliStatus, Option<String>) {
    match Command::new(claude).args(args).output() {
        Ok(out) if out.status.success() => (CliStatus::Ran, None),
        Ok(out) => (
            CliStatus::Failed,
            Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        ),
        Err(e) => (
            CliStatus::Failed,
            Some(format!("cannot run {}: {e}", claude.display())),
        ),
    }
}

/// Our entry as `claude mcp get` describes it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Registered {
    user_scope: bool,
    kind: Option<String>,
    command: Option<String>,
    args: String,
    env: BTreeMap<String, String>,
}

impl Registered {
    fn matches(&self, spec: &ServerSpec) -> bool {
        self.user_scope
            && self.kind.as_deref().is_none_or(|k| k == "stdio")
            && self.command.as_deref() == Some(&*spec.command.to_string_lossy())
            && self.args.is_empty()
            && self.env == spec.env
    }
}

/// What `claude mcp get availsync` says is registered; `None` when it has
/// no such server or its answer cannot be read.
fn registered(claude: &Path) -> Option<Registered> {
    let out = Command::new(claude)
        .args(["mcp", "get", ENTRY_NAME])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    parse_get(&String::from_utf8_lossy(&out.stdout))
}

/// Reads `claude mcp get`'s description of a server:
///
/// ```text
/// availsync:
///   Scope: User config (available in all your projects)
///   Type: stdio
///   Command: /usr/local/bin/availsync-mcp
///   Args:
///   Environment:
///     AVAILSYNC_URL=http://127.0.0.1:8787
/// ```
fn parse_get(text: &str) -> Option<Registered> {
    let mut entry = Registered::default();
    let mut in_env = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if in_env {
            if let Some((k, v)) = trimmed.split_once('=')
                && line.starts_with("    ")
            {
                entry.env.insert(k.to_owned(), v.to_owned());
                continue;
            }
            in_env = false;
        }
        let Some((field, value)) = trimmed.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match field {
            "Scope" => entry.user_scope = value.to_ascii_lowercase().starts_with("user"),
            "Type" => entry.kind = Some(value.to_owned()),
            "Command" => entry.command = Some(value.to_owned()),
            "Args" => entry.args = value.to_owned(),
            "Environment" => in_env = true,
            _ => {}
        }
    }
    entry.command.is_some().then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServerSpec {
        ServerSpec {
            command: "/opt/bin/availsync-mcp".into(),
            env: BTreeMap::from([("AVAILSYNC_URL".to_owned(), "http://x:1".to_owned())]),
        }
    }

    #[test]
    fn an_identical_entry_is_recognised() {
        let text = "availsync:\n  Scope: User config (available in all your projects)\n  Status: ✓ Connected\n  Type: stdio\n  Command: /opt/bin/availsync-mcp\n  Args: \n  Environment:\n    AVAILSYNC_URL=http://x:1\n\nTo remove this server, run: claude mcp remove \"availsync\" -s user\n";
        let entry = parse_get(text).unwrap();
        assert!(entry.matches(&spec()), "{entry:?}");
    }

    #[test]
    fn any_difference_counts() {
        let base = "availsync:\n  Scope: User config\n  Type: stdio\n  Command: /opt/bin/availsync-mcp\n  Args: \n  Environment:\n    AVAILSYNC_URL=http://x:1\n";
        for changed in [
            base.replace(
                "User config",
                "Local config (private to you in this project)",
            ),
            base.replace("/opt/bin", "/usr/bin"),
            base.replace("Args: ", "Args: --verbose"),
            base.replace("x:1", "x:2"),
            base.replace("    AVAILSYNC_URL=http://x:1\n", ""),
            base.replace("Type: stdio", "Type: http"),
        ] {
            assert!(!parse_get(&changed).unwrap().matches(&spec()), "{changed}");
        }
        assert_eq!(parse_get("No MCP server named \"availsync\".\n"), None);
    }
}
