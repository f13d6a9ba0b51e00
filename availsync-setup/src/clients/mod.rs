//! The catalogue of agent clients: where each keeps its MCP configuration on
//! Linux, macOS and Windows, in which format, and what the `availsync` entry
//! looks like in it. One module per client.

mod claude_code;
mod claude_desktop;
mod cline;
mod codex;
mod cursor;
mod gemini;
pub mod hooks;
mod vscode;
mod windsurf;
mod zed;

#[cfg(test)]
mod snippets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::paths::BaseDirs;

/// The name of our entry in every client's server list.
pub const ENTRY_NAME: &str = "availsync";

/// A supported client.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ClientId {
    /// Cursor.
    Cursor,
    /// Windsurf.
    Windsurf,
    /// OpenAI Codex CLI.
    Codex,
    /// Claude Code (the `claude` CLI).
    ClaudeCode,
    /// Claude Desktop.
    ClaudeDesktop,
    /// Visual Studio Code.
    Vscode,
    /// Zed.
    Zed,
    /// Gemini CLI.
    Gemini,
    /// Cline (a VS Code-family extension).
    Cline,
}

impl ClientId {
    /// Every client, in display order.
    pub const ALL: [ClientId; 9] = [
        Self::Cursor,
        Self::Windsurf,
        Self::Codex,
        Self::ClaudeCode,
        Self::ClaudeDesktop,
        Self::Vscode,
        Self::Zed,
        Self::Gemini,
        Self::Cline,
    ];

    /// The id used on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Self::Cursor => "cursor",
            Self::Windsurf => "windsurf",
            Self::Codex => "codex",
            Self::ClaudeCode => "claude-code",
            Self::ClaudeDesktop => "claude-desktop",
            Self::Vscode => "vscode",
            Self::Zed => "zed",
            Self::Gemini => "gemini",
            Self::Cline => "cline",
        }
    }

    /// The product's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cursor => "Cursor",
            Self::Windsurf => "Windsurf",
            Self::Codex => "Codex CLI",
            Self::ClaudeCode => "Claude Code",
            Self::ClaudeDesktop => "Claude Desktop",
            Self::Vscode => "VS Code",
            Self::Zed => "Zed",
            Self::Gemini => "Gemini CLI",
            Self::Cline => "Cline",
        }
    }
}

/// User-wide or one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The user's own configuration, for every project.
    #[default]
    User,
    /// A project's configuration file (shared with the team when committed).
    Project,
}

/// How the `availsync` entry is shaped in a JSON file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{command, args, env}`.
    Plain,
    /// `{type: "stdio", command, args, env}` (VS Code, Claude Code).
    TypedStdio,
    /// `{source: "custom", command, args, env}` (Zed).
    ZedCustom,
    /// `{command, args, env, disabled: false}` (Cline).
    Cline,
}

/// A configuration file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON or JSON with comments; servers under `servers_key`.
    Json {
        /// `mcpServers`, `servers`, `context_servers`.
        servers_key: &'static str,
        /// The entry's shape.
        shape: Shape,
    },
    /// TOML with servers under `[mcp_servers.NAME]` (Codex).
    Toml,
}

/// One configuration file to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Absolute path.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
}

/// How a client is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// By editing these files.
    Files(Vec<Target>),
    /// By the client's own CLI (`claude mcp add-json`); the file it keeps is
    /// never edited by us.
    ClaudeCli,
}

/// A client's scope was not supported.
#[derive(Debug, thiserror::Error)]
#[error("{client} has no project-scoped MCP configuration; use --scope user")]
pub struct NoProjectScope {
    /// The client's name.
    pub client: &'static str,
}

/// Where `client` is configured for `scope`.
pub fn method(
    client: ClientId,
    dirs: &BaseDirs,
    scope: Scope,
    project: &Path,
) -> Result<Method, NoProjectScope> {
    let project_only = |target: Option<Target>| {
        target
            .map(|t| Method::Files(vec![t]))
            .ok_or(NoProjectScope {
                client: client.name(),
            })
    };
    match (client, scope) {
        (ClientId::ClaudeCode, Scope::User) => Ok(Method::ClaudeCli),
        (ClientId::ClaudeCode, Scope::Project) => project_only(Some(claude_code::project(project))),
        (_, Scope::User) => Ok(Method::Files(user_targets(client, dirs))),
        (ClientId::Cursor, Scope::Project) => project_only(Some(cursor::project(project))),
        (ClientId::Codex, Scope::Project) => project_only(Some(codex::project(project))),
        (ClientId::Vscode, Scope::Project) => project_only(Some(vscode::project(project))),
        (ClientId::Zed, Scope::Project) => project_only(Some(zed::project(project))),
        (ClientId::Gemini, Scope::Project) => project_only(Some(gemini::project(project))),
        (_, Scope::Project) => project_only(None),
    }
}

/// The user-scope files of a file-configured client (for Claude Code: the
/// file its CLI keeps, read only to report whether it is configured).
pub fn user_targets(client: ClientId, dirs: &BaseDirs) -> Vec<Target> {
    match client {
        ClientId::Cursor => vec![cursor::user(dirs)],
        ClientId::Windsurf => vec![windsurf::user(dirs)],
        ClientId::Codex => vec![codex::user(dirs)],
        ClientId::ClaudeCode => vec![claude_code::user_file(dirs)],
        ClientId::ClaudeDesktop => claude_desktop::user(dirs),
        ClientId::Vscode => vec![vscode::user(dirs)],
        ClientId::Zed => vec![zed::user(dirs)],
        ClientId::Gemini => vec![gemini::user(dirs)],
        ClientId::Cline => cline::user(dirs),
    }
}

/// Signs that the client is installed: directories it made, binaries on
/// `PATH`.
pub fn evidence(client: ClientId, dirs: &BaseDirs) -> Vec<String> {
    let (paths, binaries): (Vec<PathBuf>, &[&str]) = match client {
        ClientId::Cursor => (vec![dirs.home.join(".cursor")], &["cursor"]),
        ClientId::Windsurf => (
            vec![dirs.home.join(".codeium").join("windsurf")],
            &["windsurf"],
        ),
        ClientId::Codex => (vec![dirs.codex_home.clone()], &["codex"]),
        ClientId::ClaudeCode => (vec![dirs.home.join(".claude")], &["claude"]),
        ClientId::ClaudeDesktop => (claude_desktop::app_dirs(dirs), &[]),
        ClientId::Vscode => (vec![vscode::editor_dir(dirs)], &["code"]),
        ClientId::Zed => (vec![zed::dir(dirs)], &["zed", "zeditor"]),
        ClientId::Gemini => (vec![dirs.home.join(".gemini")], &["gemini"]),
        ClientId::Cline => (cline::extension_dirs(dirs), &[]),
    };
    let mut found: Vec<String> = paths
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| format!("directory {}", p.display()))
        .collect();
    found.extend(
        binaries
            .iter()
            .filter_map(|b| dirs.which(b))
            .map(|p| format!("binary {}", p.display())),
    );
    found
}

/// What the `availsync` entry runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Absolute path of `availsync-mcp`.
    pub command: PathBuf,
    /// Its environment: `AVAILSYNC_URL`, and the key only with `--embed-key`.
    pub env: BTreeMap<String, String>,
}

impl ServerSpec {
    /// The entry for a JSON file, keys in the order they are written.
    pub fn json_entry(&self, shape: Shape) -> Vec<(String, Value)> {
        let mut entry = Vec::new();
        match shape {
            Shape::TypedStdio => entry.push(("type".to_owned(), json!("stdio"))),
            Shape::ZedCustom => entry.push(("source".to_owned(), json!("custom"))),
            Shape::Plain | Shape::Cline => {}
        }
        entry.push(("command".to_owned(), json!(self.command.to_string_lossy())));
        entry.push(("args".to_owned(), json!([])));
        entry.push(("env".to_owned(), json!(self.env)));
        if shape == Shape::Cline {
            entry.push(("disabled".to_owned(), json!(false)));
        }
        entry
    }

    /// The entry for Codex's TOML.
    pub fn toml_entry(&self) -> crate::edit::toml::TomlEntry {
        crate::edit::toml::TomlEntry {
            command: self.command.to_string_lossy().into_owned(),
            args: Vec::new(),
            env: self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            // Forwarded from Codex's own environment when set there, so an
            // exported key or credentials file still reaches the server.
            env_vars: vec![
                availsync_sdk::API_KEY_ENV.to_owned(),
                availsync_sdk::credentials::CREDENTIALS_FILE_ENV.to_owned(),
            ]
            .into_iter()
            .filter(|v| !self.env.contains_key(v))
            .collect(),
        }
    }

    /// The JSON given to `claude mcp add-json`.
    pub fn claude_json(&self) -> String {
        let entry: serde_json::Map<String, Value> =
            self.json_entry(Shape::TypedStdio).into_iter().collect();
        Value::Object(entry).to_string()
    }

    /// The native `claude mcp add` command, with the key masked.
    pub fn claude_add_command(&self, scope: Scope) -> String {
        let mut parts = vec![
            "claude mcp add".to_owned(),
            format!(
                "--scope {}",
                match scope {
                    Scope::User => "user",
                    Scope::Project => "project",
                }
            ),
        ];
        for (k, v) in &self.env {
            let shown = if k == availsync_sdk::API_KEY_ENV {
                "<your key>"
            } else {
                v
            };
            parts.push(format!("--env {}", shell_quote(&format!("{k}={shown}"))));
        }
        parts.push(ENTRY_NAME.to_owned());
        parts.push("--".to_owned());
        parts.push(shell_quote(&self.command.to_string_lossy()));
        parts.join(" ")
    }
}

/// Quotes a word for a POSIX shell when needed.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
