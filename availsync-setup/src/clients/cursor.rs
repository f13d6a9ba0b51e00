//! Cursor: `~/.cursor/mcp.json` (every OS; `%USERPROFILE%\.cursor` on
//! Windows) and `.cursor/mcp.json` in a project; servers under `mcpServers`.

use std::path::Path;

use super::{Format, Shape, Target};
use crate::paths::BaseDirs;

const FORMAT: Format = Format::Json {
    servers_key: "mcpServers",
    shape: Shape::Plain,
};

/// The global file.
pub fn user(dirs: &BaseDirs) -> Target {
    Target {
        path: dirs.home.join(".cursor").join("mcp.json"),
        format: FORMAT,
    }
}

/// The project file.
pub fn project(project: &Path) -> Target {
    Target {
        path: project.join(".cursor").join("mcp.json"),
        format: FORMAT,
    }
}
