//! Claude Code: user scope goes through its own CLI (`claude mcp add-json
//! --scope user`), never by editing `~/.claude.json`, which the CLI rewrites
//! as it runs; project scope is `.mcp.json` at the project root, servers
//! under `mcpServers`.

use std::path::Path;

use super::{Format, Shape, Target};
use crate::paths::BaseDirs;

const FORMAT: Format = Format::Json {
    servers_key: "mcpServers",
    shape: Shape::TypedStdio,
};

/// `~/.claude.json`: read only, to report whether user scope is configured.
pub fn user_file(dirs: &BaseDirs) -> Target {
    Target {
        path: dirs.home.join(".claude.json"),
        format: FORMAT,
    }
}

/// The project file.
pub fn project(project: &Path) -> Target {
    Target {
        path: project.join(".mcp.json"),
        format: FORMAT,
    }
}
