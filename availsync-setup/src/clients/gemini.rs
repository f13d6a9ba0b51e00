//! Gemini CLI: `~/.gemini/settings.json` and `.gemini/settings.json` in a
//! project (JSON; comments tolerated); servers under `mcpServers`.

use std::path::Path;

use super::{Format, Shape, Target};
use crate::paths::BaseDirs;

const FORMAT: Format = Format::Json {
    servers_key: "mcpServers",
    shape: Shape::Plain,
};

/// The user file.
pub fn user(dirs: &BaseDirs) -> Target {
    Target {
        path: dirs.home.join(".gemini").join("settings.json"),
        format: FORMAT,
    }
}

/// The project file.
pub fn project(project: &Path) -> Target {
    Target {
        path: project.join(".gemini").join("settings.json"),
        format: FORMAT,
    }
}
