//! Windsurf: `~/.codeium/windsurf/mcp_config.json` on every OS
//! (`%USERPROFILE%\.codeium\windsurf` on Windows); servers under
//! `mcpServers`. There is no project-scoped file.

use super::{Format, Shape, Target};
use crate::paths::BaseDirs;

/// The global file.
pub fn user(dirs: &BaseDirs) -> Target {
    Target {
        path: dirs
            .home
            .join(".codeium")
            .join("windsurf")
            .join("mcp_config.json"),
        format: Format::Json {
            servers_key: "mcpServers",
            shape: Shape::Plain,
        },
    }
}
